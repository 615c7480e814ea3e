//! Where policies come from and go to. `aws` reads and writes IAM in one account.
pub mod aws;
