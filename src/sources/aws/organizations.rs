//! AWS Organizations: the accounts of the Organization and their tags, for `--org`. Errors are
//! text, with what to do: they end the batch before any account is read.

use std::collections::BTreeMap;

use aws_sdk_organizations::types::{AccountState, AccountStatus};

use super::errors::AwsError;

/// An ACTIVE account of the Organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    pub id: String,
    pub name: Option<String>,
}

/// Every ACTIVE account of the Organization (all pages).
pub async fn active_accounts(sdk: &aws_types::SdkConfig) -> Result<Vec<OrgAccount>, String> {
    let org = aws_sdk_organizations::Client::new(sdk);
    let mut pages = org.list_accounts().into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| org_error("ListAccounts", AwsError::new(e)))?;
        for a in page.accounts() {
            // AWS retired `Status` for `State` in September 2026; older endpoints (and
            // test servers) send only `Status`.
            let active = match (a.state(), a.status()) {
                (Some(state), _) => *state == AccountState::Active,
                (None, Some(status)) => *status == AccountStatus::Active,
                (None, None) => false,
            };
            if let Some(id) = a.id().filter(|_| active) {
                out.push(OrgAccount {
                    id: id.to_string(),
                    name: a.name().map(str::to_string),
                });
            }
        }
    }
    Ok(out)
}

/// The tags of one account: one more request per account, only when tags are asked for.
pub async fn account_tags(
    sdk: &aws_types::SdkConfig,
    id: &str,
) -> Result<BTreeMap<String, String>, String> {
    let org = aws_sdk_organizations::Client::new(sdk);
    let mut tags = BTreeMap::new();
    let mut pages = org
        .list_tags_for_resource()
        .resource_id(id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| org_error("ListTagsForResource", AwsError::new(e)))?;
        for t in page.tags() {
            tags.insert(t.key().to_string(), t.value().to_string());
        }
    }
    Ok(tags)
}

/// Why an Organizations request failed, and what to do.
fn org_error(operation: &str, e: AwsError) -> String {
    let hint = match e.code().unwrap_or_default() {
        "AWSOrganizationsNotInUseException" => {
            "the account of these credentials is not in an AWS Organization: use --accounts FILE instead"
        }
        "AccessDeniedException" | "AccessDenied" => {
            "run from the management account or a delegated administrator, with organizations:ListAccounts (and organizations:ListTagsForResource for --tag)"
        }
        _ => "check the credentials and retry; or list the accounts in a file and use --accounts FILE",
    };
    format!("organizations:{operation} failed ({}); {hint}", e.chain())
}
