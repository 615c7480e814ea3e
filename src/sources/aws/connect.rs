//! Connecting: the SDK configuration of the operator's credentials (standard chain, `--profile`,
//! an MFA session when asked), and a store for an account, with those credentials or through a
//! role assumed from them.

use aws_config::BehaviorVersion;
use aws_sdk_iam::config::SharedCredentialsProvider;
use aws_smithy_types::retry::RetryConfig;

use super::errors::{display_chain, StoreError};
use super::refresh::{assumed_role_provider, AssumeRole};
use super::store::AwsStore;
use super::sts;
use forcemfa_formats::accounts::account_of_arn;

/// How to reach an account. Empty options mean the SDK's standard chain (environment, profile,
/// SSO, container and instance credentials).
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// With `mfa_code`: call STS `GetSessionToken` and use its credentials, since the operator
    /// may be under a force-MFA policy too.
    pub mfa_serial: Option<String>,
    pub mfa_code: Option<String>,
    /// Sent as the SDK app name (it shows in CloudTrail's user agent), and the session name for
    /// assumed roles.
    pub session_name: String,
}

impl AwsStore {
    /// Load credentials the standard way (plus MFA when asked) and find the account id with
    /// STS `GetCallerIdentity`.
    pub async fn connect(opts: &AwsOptions) -> Result<AwsStore, StoreError> {
        let (sdk, account) = base_config(opts).await?;
        Ok(AwsStore::from_sdk(&sdk, account))
    }

    /// A store for another account, through a role assumed from `base` (batches: `--org`,
    /// `--accounts`, saved plans). The role is assumed once here, so that an account whose
    /// role cannot be assumed fails now, with a message naming the role, rather than on its
    /// first IAM request; after that aws-config's assume-role provider and the SDK's identity
    /// cache assume it again shortly before the session expires, so a long batch outlives
    /// `duration_seconds`.
    pub async fn connect_assumed(
        base: &aws_types::SdkConfig,
        role: &AssumeRole,
    ) -> Result<AwsStore, StoreError> {
        let expected = account_of_arn(&role.role_arn).ok_or_else(|| StoreError::Credentials {
            detail: format!(
                "{:?} is not a role ARN (arn:PARTITION:iam::ACCOUNT:role/NAME); fix role_arn in the accounts file",
                role.role_arn
            ),
        })?;
        let provider = assumed_role_provider(base, role)
            .await
            .map_err(|e| StoreError::Credentials {
                detail: format!(
                    "account {expected}: sts:AssumeRole into {} failed ({}); check that the role exists in the account, that its trust policy lets your credentials assume it (and the external id matches), and that you may call sts:AssumeRole on it (docs/multi-account.md)",
                    role.role_arn,
                    display_chain(&e)
                ),
            })?;
        // Everything else (region, endpoint, retries, app name) stays as the operator set it.
        let sdk = base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
        Ok(AwsStore::from_sdk(&sdk, expected))
    }
}

/// The SDK configuration of the operator's own credentials (standard chain, plus an MFA
/// session when asked) and the account they belong to. Batches assume roles from it.
pub async fn base_config(opts: &AwsOptions) -> Result<(aws_types::SdkConfig, String), StoreError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(5));
    if let Some(profile) = &opts.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &opts.region {
        loader = loader.region(aws_types::region::Region::new(region.clone()));
    }
    if let Some(endpoint) = &opts.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if let Ok(app) = aws_types::app_name::AppName::new(app_name(&opts.session_name)) {
        loader = loader.app_name(app);
    }
    let mut sdk = loader.load().await;
    // IAM is global but requests are signed for a region; us-east-1 serves the `aws`
    // partition. Other partitions need --region.
    if sdk.region().is_none() {
        sdk = sdk
            .into_builder()
            .region(aws_types::region::Region::new("us-east-1"))
            .build();
    }
    let tried = describe_sources(opts);
    if let (Some(serial), Some(code)) = (&opts.mfa_serial, &opts.mfa_code) {
        sdk = sts::with_mfa_session(sdk, serial, code, &tried).await?;
    }
    let account = sts::caller_account(&sdk, &tried).await?;
    Ok((sdk, account))
}

/// The SDK app name allows only a restricted character set.
fn app_name(session_name: &str) -> String {
    let cleaned: String = session_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(*c))
        .collect();
    if cleaned.is_empty() {
        "forcemfa".into()
    } else {
        cleaned
    }
}

/// Where credentials were looked for, for error messages.
fn describe_sources(opts: &AwsOptions) -> String {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let profile = match (&opts.profile, env("AWS_PROFILE")) {
        (Some(p), _) => format!("profile {p:?} (from --profile)"),
        (None, Some(p)) => format!("profile {p:?} (from AWS_PROFILE)"),
        (None, None) => "profile \"default\"".to_string(),
    };
    let keys = if env("AWS_ACCESS_KEY_ID").is_some() {
        "AWS_ACCESS_KEY_ID is set"
    } else {
        "AWS_ACCESS_KEY_ID is not set"
    };
    let endpoint = match (&opts.endpoint_url, env("AWS_ENDPOINT_URL")) {
        (Some(e), _) => format!("endpoint {e} (from --endpoint-url)"),
        (None, Some(e)) => format!("endpoint {e} (from AWS_ENDPOINT_URL)"),
        (None, None) => "the default AWS endpoints".to_string(),
    };
    format!("{profile}, environment credentials ({keys}), {endpoint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_keep_only_allowed_characters() {
        assert_eq!(app_name("forcemfa-alice@example"), "forcemfa-aliceexample");
        assert_eq!(app_name("()"), "forcemfa");
    }
}
