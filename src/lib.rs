//! forcemfa: find legacy force-MFA IAM policies and upgrade them safely.
//!
//! ```text
//! source ──fetch──▶ policy text ──detect──▶ guard, generation, findings
//!        ──migrate──▶ new document + applied migrations + declared effect
//!        ──verify──▶ structural checks, idempotence, effect diff == declared
//!        ──diff──▶ unified text diff ──confirm──▶ ──publish──▶ journal, write, read back
//! ```
//! Every stage between fetch and publish is a pure function of its inputs.

pub mod accounts;
pub mod app;
pub mod app_aws;
pub mod apply;
pub mod batch;
pub mod cli;
pub mod detect;
pub mod diff;
pub mod effect;
pub mod error;
pub mod files;
pub mod journal;
pub mod migration;
pub mod pattern;
pub mod plan;
pub mod policy;
pub mod report;
pub mod store;
pub mod target;
pub mod ui;
