//! Reaching AWS accounts: the operator's own credentials (loaded once), the accounts of an
//! Organization, and one IAM store per account (current credentials, a profile, or an assumed
//! role whose credentials refresh themselves). Every store records its [`Route`] in the
//! journal, so that `rollback` reaches the account the same way.

use std::collections::BTreeMap;

use aws_sdk_organizations::error::ProvideErrorMetadata;

use crate::engine::reach::Route;
use crate::sources::accounts::{Access, Account, RoleSettings};
use crate::sources::aws::{self, AssumeRole, AwsOptions, AwsStore, StoreError};

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
            AwsStore::from_client(aws_sdk_iam::Client::new(&base.sdk), a.id.clone())
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

/// Why an Organizations request failed, and what to do.
fn org_error(operation: &str, e: &dyn ProvideErrorMetadata, chain: String) -> String {
    let hint = match e.code().unwrap_or_default() {
        "AWSOrganizationsNotInUseException" => {
            "the account of these credentials is not in an AWS Organization: use --accounts FILE instead"
        }
        "AccessDeniedException" | "AccessDenied" => {
            "run from the management account or a delegated administrator, with organizations:ListAccounts (and organizations:ListTagsForResource for --tag)"
        }
        _ => "check the credentials and retry; or list the accounts in a file and use --accounts FILE",
    };
    format!("organizations:{operation} failed ({chain}); {hint}")
}

/// Every ACTIVE account of the Organization (all pages), reached through `role`, with its tags
/// when `with_tags`.
pub async fn org_accounts(
    base: &Base,
    role: &RoleSettings,
    with_tags: bool,
) -> Result<Vec<Account>, String> {
    use aws_sdk_organizations::types::{AccountState, AccountStatus};
    let org = aws_sdk_organizations::Client::new(&base.sdk);
    let mut pages = org.list_accounts().into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| org_error("ListAccounts", &e, aws::display_chain(&e)))?;
        for a in page.accounts() {
            // AWS retired `Status` for `State` in September 2026; older endpoints (and
            // test servers) send only `Status`.
            let active = match (a.state(), a.status()) {
                (Some(state), _) => *state == AccountState::Active,
                (None, Some(status)) => *status == AccountStatus::Active,
                (None, None) => false,
            };
            let Some(id) = a.id().filter(|_| active) else {
                continue;
            };
            out.push(Account {
                id: id.to_string(),
                name: a.name().map(str::to_string),
                access: role.assume(base.partition(), id),
                tags: BTreeMap::new(),
            });
        }
    }
    if with_tags {
        for a in &mut out {
            a.tags = org_tags(&org, &a.id).await?;
        }
    }
    Ok(out)
}

/// One more request per account, only when tags are asked for.
async fn org_tags(
    org: &aws_sdk_organizations::Client,
    id: &str,
) -> Result<BTreeMap<String, String>, String> {
    let mut tags = BTreeMap::new();
    let mut pages = org
        .list_tags_for_resource()
        .resource_id(id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| org_error("ListTagsForResource", &e, aws::display_chain(&e)))?;
        for t in page.tags() {
            tags.insert(t.key().to_string(), t.value().to_string());
        }
    }
    Ok(tags)
}
