//! `AwsStore`: IAM of one account, and how it was reached. Its steps (connect, fetch, publish,
//! rollback) are `impl AwsStore` blocks in their own files.

use std::time::Duration;

use super::iam::Iam;
use crate::engine::reach::Route;

/// IAM of one account.
#[derive(Debug, Clone)]
pub struct AwsStore {
    pub(super) iam: Iam,
    pub(super) read_back_attempts: u32,
    pub(super) read_back_delay: Duration,
    /// How the account was reached; recorded with every journal record, for rollback.
    pub(super) route: Option<Route>,
    /// The SDK configuration of the account's credentials: the same credentials, Region and
    /// endpoint reach its other services (CloudTrail, S3) for evidence.
    pub(super) sdk: Option<aws_types::SdkConfig>,
}

impl AwsStore {
    /// A store over an existing client (tests, or callers that built their own config).
    pub fn from_client(client: aws_sdk_iam::Client, account: impl Into<String>) -> AwsStore {
        AwsStore {
            iam: Iam::new(client, account.into()),
            read_back_attempts: 5,
            read_back_delay: Duration::from_millis(1_000),
            route: None,
            sdk: None,
        }
    }

    /// A store over the SDK configuration of the account's credentials.
    pub fn from_sdk(sdk: &aws_types::SdkConfig, account: impl Into<String>) -> AwsStore {
        let mut store = AwsStore::from_client(aws_sdk_iam::Client::new(sdk), account);
        store.sdk = Some(sdk.clone());
        store
    }

    /// The SDK configuration of the account's credentials, when the store was made from one.
    pub fn sdk(&self) -> Option<&aws_types::SdkConfig> {
        self.sdk.as_ref()
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
