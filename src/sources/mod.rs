//! Sources: where policy documents come from and where changes are written back.
//!
//! `files` (policy JSON on disk), `iac` (policies inside CloudFormation and Terraform files), `aws` (IAM in one account), `accounts` (which accounts a batch
//! reaches), `journal` (the write-ahead record of what was published, for rollback).
pub mod accounts;
pub mod aws;
pub mod files;
pub mod iac;
pub mod journal;
