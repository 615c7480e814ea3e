//! Assumed-role credentials that refresh themselves: a batch may run longer than the role
//! session (`duration_seconds`, 15 minutes at the least). aws-config's `AssumeRoleProvider`
//! assumes the role again whenever the SDK's identity cache finds the credentials close to
//! expiry; the first credentials, fetched up front so that a role that cannot be assumed fails
//! before any IAM request, are handed to the cache first instead of being thrown away.

use std::sync::Mutex;
use std::time::Duration;

use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::{self, future, ProvideCredentials};
use aws_credential_types::Credentials;

/// A role to assume in another account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: String,
    pub external_id: Option<String>,
    pub duration_seconds: Option<i32>,
}

/// A provider that yields credentials fetched in advance once, then asks `inner`.
#[derive(Debug)]
pub struct Prefetched {
    first: Mutex<Option<Credentials>>,
    inner: AssumeRoleProvider,
}

impl ProvideCredentials for Prefetched {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let first = self.first.lock().ok().and_then(|mut f| f.take());
        match first {
            Some(c) => future::ProvideCredentials::ready(Ok(c)),
            None => self.inner.provide_credentials(),
        }
    }
}

/// Assume `role` from `base` now, and return a provider that assumes it again whenever asked.
pub async fn assumed_role_provider(
    base: &aws_types::SdkConfig,
    role: &AssumeRole,
) -> Result<Prefetched, provider::error::CredentialsError> {
    let mut builder = AssumeRoleProvider::builder(role.role_arn.clone())
        .configure(base)
        .session_name(role.session_name.clone());
    if let Some(id) = &role.external_id {
        builder = builder.external_id(id.clone());
    }
    if let Some(seconds) = role.duration_seconds {
        builder = builder.session_length(Duration::from_secs(u64::from(seconds.unsigned_abs())));
    }
    let inner = builder.build().await;
    let first: provider::Result = inner.provide_credentials().await;
    let first = first?;
    Ok(Prefetched {
        first: Mutex::new(Some(first)),
        inner,
    })
}
