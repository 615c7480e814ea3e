//! All integration tests link into one binary (faster to build; see ripgrep's tests/tests.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aws;
mod aws_cli;
mod batch;
mod cli;
mod cloudformation;
mod effect;
mod evidence;
mod fail_closed;
mod fixtures;
mod hardening;
mod iac;
mod impact;
mod least_privilege;
mod moto;
mod props;
mod risky;
mod rollback_trust;
mod rollout;
mod terraform;
mod tools;
mod unread;
mod util;
mod watch;
