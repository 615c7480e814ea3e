//! AWS accounts as a source: read customer managed and inline policies of one account from IAM,
//! and publish new documents safely (design §4).
//!
//! One file per step, and one per AWS service below them; each calls only down this list:
//!
//! | file | what |
//! |---|---|
//! | `store.rs` | `AwsStore`: IAM of one account; the steps below are its methods |
//! | `connect.rs` | SDK set-up: the operator's credentials, a store per account (`refresh.rs`: assumed roles that renew themselves) |
//! | `fetch.rs` | every policy of the account, read from `details.rs` (`GetAccountAuthorizationDetails`, parsed once) |
//! | `publish.rs` | one planned change written: limits, stale checks, journal, write, read back |
//! | `rollback.rs` | a journalled publish undone |
//! | `write.rs`, `live.rs` | the steps publish and rollback share; the live state of one policy |
//! | `tags.rs`, `permissions.rs` | IaC tag rules; the IAM actions forcemfa needs |
//! | `iam.rs`, `sts.rs`, `organizations.rs` | the requests, one file per AWS service, each error read once (`errors.rs`) |
//! | `cloudtrail.rs` | event history (`LookupEvents`) of the affected principals, paced below the documented rate (evidence) |
//!
//! Documents are compared as parsed JSON (key order and whitespace do not matter), and
//! URL-decoded with [`crate::engine::policy::decode_document`] since IAM returns them
//! percent-encoded.

pub mod cloudtrail;
mod connect;
pub mod details;
mod errors;
mod fetch;
mod iam;
mod live;
pub mod organizations;
mod permissions;
mod publish;
mod refresh;
mod rollback;
mod store;
mod sts;
mod tags;
mod write;

pub use connect::{base_config, AwsOptions};
pub use details::AccountDetails;
pub use errors::{display_chain, At, AwsError, StoreError, MAX_POLICY_VERSIONS};
pub use fetch::Fetched;
pub use iam::VersionInfo;
pub use iam::{AuthDetails, Iam, MfaDevices};
pub use live::Current;
pub use permissions::{APPLY_ACTIONS, PLAN_ACTIONS};
pub use publish::Published;
pub use refresh::AssumeRole;
pub use rollback::RolledBack;
pub use store::AwsStore;
pub use tags::iac_reason;

/// The account field of an ARN, when it is a 12-digit account id (pure; lives with the
/// accounts file format).
pub use forcemfa_formats::accounts::account_of_arn;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_of_arn_reads_the_account_field() {
        assert_eq!(
            account_of_arn("arn:aws:iam::123456789012:role/OrganizationAccountAccessRole")
                .as_deref(),
            Some("123456789012")
        );
        assert_eq!(
            account_of_arn("arn:aws-cn:iam::210987654321:role/path/r").as_deref(),
            Some("210987654321")
        );
        assert_eq!(account_of_arn("arn:aws:iam::12345:role/x"), None);
        assert_eq!(account_of_arn("OrganizationAccountAccessRole"), None);
    }
}
