//! Sources: where policy documents come from and where changes are written back.
//!
//! `files` (policy JSON on disk), `iac` (policies inside CloudFormation and Terraform files), `aws`
//! (IAM in one account), `accounts` (which accounts a batch
//! covers: accounts file, filters), `reach` (the operator's credentials, the Organization, one
//! store per account), `refresh` (assumed-role credentials that outlive their session),
//! `writer` (one writer per part of a run: files, templates or an account), `journal` (the
//! write-ahead record of what was published, for rollback), `principals` (who a policy reaches
//! and their credentials, for the impact of each change).
pub mod accounts;
pub mod aws;
pub mod cloudtrail;
pub mod evidence;
pub mod files;
pub mod iac;
pub mod journal;
pub mod parallel;
pub mod principals;
pub mod reach;
pub mod refresh;
pub mod trail;
pub mod writer;
