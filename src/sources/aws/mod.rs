//! AWS accounts as a source: read customer managed and inline policies of one account from IAM,
//! and publish new documents safely (design §4).
//!
//! One file per step, and one per AWS service below them; each calls only down this list:
//!
//! | file | what |
//! |---|---|
//! | `connect.rs` | SDK set-up: the operator's credentials, a store per account (`refresh.rs`: assumed roles that renew themselves) |
//! | `fetch.rs` | every policy of the account, read from `details.rs` (`GetAccountAuthorizationDetails`, parsed once) |
//! | `publish.rs` | one planned change written: limits, stale checks, journal, write, read back |
//! | `rollback.rs` | a journalled publish undone |
//! | `write.rs`, `live.rs` | the steps publish and rollback share; the live state of one policy |
//! | `tags.rs`, `permissions.rs` | IaC tag rules; the IAM actions forcemfa needs |
//! | `iam.rs`, `sts.rs`, `organizations.rs` | the requests, one file per AWS service, each error read once (`errors.rs`) |
//!
//! Documents are compared as parsed JSON (key order and whitespace do not matter), and
//! URL-decoded with [`crate::engine::policy::decode_document`] since IAM returns them
//! percent-encoded.

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
pub mod sts;
mod tags;
mod write;

use std::time::Duration;

use crate::engine::reach::Route;

pub use connect::{base_config, AwsOptions};
pub use details::AccountDetails;
pub use errors::{display_chain, At, AwsError, StoreError, MAX_POLICY_VERSIONS};
pub use fetch::Fetched;
pub use iam::{AuthDetails, Iam, MfaDevices};
pub use live::{Current, VersionInfo};
pub use permissions::{APPLY_ACTIONS, PLAN_ACTIONS};
pub use publish::Published;
pub use refresh::AssumeRole;
pub use rollback::RolledBack;
pub use tags::iac_reason;

/// The account field of an ARN, when it is a 12-digit account id (pure; lives with the
/// accounts file format).
pub use forcemfa_formats::accounts::account_of_arn;

/// IAM of one account.
#[derive(Debug, Clone)]
pub struct AwsStore {
    iam: Iam,
    read_back_attempts: u32,
    read_back_delay: Duration,
    /// How the account was reached; recorded with every journal record, for rollback.
    route: Option<Route>,
}

impl AwsStore {
    /// A store over an existing client (tests, or callers that built their own config).
    pub fn from_client(client: aws_sdk_iam::Client, account: impl Into<String>) -> AwsStore {
        AwsStore {
            iam: Iam::new(client, account.into()),
            read_back_attempts: 5,
            read_back_delay: Duration::from_millis(1_000),
            route: None,
        }
    }

    /// Record `route` (how the account was reached) with every journal record.
    pub fn with_route(mut self, route: Route) -> AwsStore {
        self.route = Some(route);
        self
    }

    /// How often and how patiently to read a write back before calling it a mismatch.
    pub fn with_read_back(mut self, attempts: u32, delay: Duration) -> AwsStore {
        self.read_back_attempts = attempts.max(1);
        self.read_back_delay = delay;
        self
    }

    pub fn account_id(&self) -> &str {
        self.iam.account()
    }

    /// The IAM requests of this account.
    pub fn iam(&self) -> &Iam {
        &self.iam
    }
}

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
