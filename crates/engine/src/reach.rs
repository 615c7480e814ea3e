//! How each account of a plan is reached: recorded in saved plans so that `apply --plan FILE`
//! and `rollback --journal FILE` need nothing else. Pure data: names and ARNs, never secrets
//! (no keys, no tokens, no MFA codes).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How to reach one account from the operator's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "kebab-case")]
pub enum Access {
    /// Assume this role from the operator's credentials.
    AssumeRole {
        role_arn: String,
        /// Required by some trust policies. Recorded as given: AWS does not treat an external id
        /// as a secret (it names the relationship, it does not authenticate anyone).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        external_id: Option<String>,
        session_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_seconds: Option<i32>,
    },
    /// A named profile of the AWS config (its account must be the entry's id).
    Profile { profile: String },
    /// The operator's own credentials: the account they belong to (in `--org`, the management
    /// account, where `OrganizationAccountAccessRole` does not exist unless made by hand).
    Current,
}

/// One account of a plan, with how it was reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAccount {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub access: Access,
    /// Tags (from the accounts file or the Organization), so that `--tag` can pick among the
    /// plan's accounts without asking anyone.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// How the operator's own credentials were found, and how the accounts were chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reach {
    /// `--profile` (else the standard chain: environment, `AWS_PROFILE`, SSO, instance role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// `--mfa-serial`: the device whose code `apply` asks for again (the code is never saved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_serial: Option<String>,
    /// Role session name used for every request.
    pub session_name: String,
    /// `current`, `org`, or `accounts-file PATH`.
    pub selected_by: String,
    /// Every account the plan covers, in account order.
    pub accounts: Vec<PlannedAccount>,
}

/// How one account was reached: recorded with each journal record, for `rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_serial: Option<String>,
    pub session_name: String,
    pub access: Access,
}
