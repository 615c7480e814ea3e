//! forcemfa-formats: the files forcemfa reads besides policy documents, parsed purely.
//!
//! [`accounts`] (the `--accounts FILE` format and the account filters) and [`journal`] (the
//! write-ahead journal's record format: sealing, reading, what to roll back). Reading and writing
//! the files themselves stays in the `forcemfa` crate; keeping the parsing here lets it be fuzzed
//! and tested without the AWS SDK.

pub mod accounts;
pub mod journal;
pub mod rollout;
