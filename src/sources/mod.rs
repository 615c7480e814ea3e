//! Sources: where policy documents come from and where changes are written back.
//!
//! `files` (policy JSON on disk), `aws` (IAM in one account), `accounts` (which accounts a batch
//! reaches), `journal` (the write-ahead record of what was published, for rollback), `principals` (who a
//! policy reaches and their credentials, for the impact of each change).
pub mod accounts;
pub mod aws;
pub mod files;
pub mod journal;
pub mod principals;
