//! Sources: where policy documents come from and where changes are written back.
//!
//! `files` (policy JSON on disk), `iac` (policies inside CloudFormation and Terraform files), `aws`
//! (AWS accounts: connect, fetch, publish, rollback, and one file per AWS service it calls),
//! `accounts` (which accounts a batch covers: accounts file, filters), `reach` (the operator's
//! credentials, the Organization, one store per account), `writer` (one writer per part of a
//! run: files, templates or an account), `journal` (the write-ahead record of what was
//! published, for rollback), `principals` (who a policy reaches and their credentials, for the
//! impact of each change), `evidence` (what the affected principals did, from CloudTrail event
//! history or `trail`, a trail's log files), for the verdicts.
pub mod accounts;
pub mod aws;
pub mod evidence;
pub mod files;
pub mod iac;
pub mod journal;
pub mod parallel;
pub mod principals;
pub mod reach;
pub mod trail;
pub mod unread;
pub mod watch;
pub mod writer;
