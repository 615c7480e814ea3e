//! forcemfa: find legacy force-MFA IAM policies and upgrade them safely.
pub mod effect;
