//! forcemfa: find legacy force-MFA IAM policies and upgrade them safely.
//!
//! ```text
//! source ──fetch──▶ policy text ──detect──▶ guard, generation, findings
//!        ──migrate──▶ new document + applied migrations + declared effect
//!        ──verify──▶ structural checks, idempotence, effect diff == declared, never less safe
//!        ──diff──▶ unified text diff ──confirm──▶ ──publish──▶ journal, write, read back
//! ```
//! Three parts, imported one way: [`engine`] (the pure crate `forcemfa-engine`: no AWS, no disk, no
//! clock, no terminal), [`sources`] (files and AWS accounts: fetch and publish) and the command line
//! ([`cli`] definitions, [`commands`], [`report`] renderers, [`ui`] terminal).

pub use forcemfa_engine as engine;

pub mod cli;
pub mod commands;
pub mod error;
pub mod report;
pub mod sources;
pub mod ui;
