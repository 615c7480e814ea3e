//! Reaching AWS accounts: the operator's own credentials (loaded once), the accounts of an
//! Organization, and one IAM store per account (current credentials, a profile, or an assumed
//! role whose credentials refresh themselves). Every store records its [`Route`] in the
//! journal, so that `rollback` reaches the account the same way.

use std::collections::BTreeMap;

use crate::engine::reach::Route;
use crate::sources::accounts::{Access, Account, RoleSettings};
use crate::sources::aws::{self, organizations, AssumeRole, AwsOptions, AwsStore, StoreError};

/// The operator's credentials and the account they belong to.
#[derive(Clone)]
pub struct Base {
    pub sdk: aws_types::SdkConfig,
    pub account: String,
    pub options: AwsOptions,
}

impl Base {
    /// Load the operator's credentials (standard chain, `--profile`, MFA session when asked)
    /// and find their account.
    pub async fn load(options: AwsOptions) -> Result<Base, StoreError> {
        let (sdk, account) = aws::base_config(&options).await?;
        Ok(Base {
            sdk,
            account,
            options,
        })
    }

    /// `aws`, `aws-cn` or `aws-us-gov`, by region.
    pub fn partition(&self) -> &'static str {
        match self.sdk.region().map(|r| r.as_ref()) {
            Some(r) if r.starts_with("cn-") => "aws-cn",
            Some(r) if r.starts_with("us-gov-") => "aws-us-gov",
            _ => "aws",
        }
    }

    /// How `a` is reached from these credentials, for the journal.
    pub fn route(&self, a: &Account) -> Route {
        Route {
            profile: self.options.profile.clone(),
            mfa_serial: self.options.mfa_serial.clone(),
            session_name: self.options.session_name.clone(),
            access: a.access.clone(),
        }
    }
}

/// A store for one account. Errors are text: they end up in that account's row of the report.
pub async fn connect(base: &Base, a: &Account) -> Result<AwsStore, String> {
    let store = match &a.access {
        Access::Current => {
            if base.account != a.id {
                return Err(format!(
                    "the current credentials are for account {}, not {}; use the credentials (or --profile) that reach {}",
                    base.account, a.id, a.id
                ));
            }
            AwsStore::from_sdk(&base.sdk, a.id.clone())
        }
        Access::AssumeRole {
            role_arn,
            external_id,
            session_name,
            duration_seconds,
        } => AwsStore::connect_assumed(
            &base.sdk,
            &AssumeRole {
                role_arn: role_arn.clone(),
                external_id: external_id.clone(),
                session_name: session_name.clone(),
                duration_seconds: *duration_seconds,
            },
        )
        .await
        .map_err(|e| e.to_string())?,
        Access::Profile { profile } => {
            // An MFA code works once; a profile brings its own credentials.
            let opts = AwsOptions {
                profile: Some(profile.clone()),
                mfa_serial: None,
                mfa_code: None,
                ..base.options.clone()
            };
            let store = AwsStore::connect(&opts).await.map_err(|e| e.to_string())?;
            if store.account_id() != a.id {
                return Err(format!(
                    "profile {profile:?} is for account {}, not {}; fix the accounts file",
                    store.account_id(),
                    a.id
                ));
            }
            store
        }
    };
    Ok(store.with_route(base.route(a)))
}

/// Every ACTIVE account of the Organization, reached through `role`, with its tags when
/// `with_tags`.
pub async fn org_accounts(
    base: &Base,
    role: &RoleSettings,
    with_tags: bool,
) -> Result<Vec<Account>, String> {
    let mut out = Vec::new();
    for a in organizations::active_accounts(&base.sdk).await? {
        out.push(Account {
            access: role.assume(base.partition(), &a.id),
            id: a.id,
            name: a.name,
            tags: BTreeMap::new(),
        });
    }
    if with_tags {
        for a in &mut out {
            a.tags = organizations::account_tags(&base.sdk, &a.id).await?;
        }
    }
    Ok(out)
}
