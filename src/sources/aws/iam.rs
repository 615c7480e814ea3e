//! Every IAM request forcemfa makes, and nothing else: one method per IAM action, all pages read,
//! each error read once ([`AwsError`]) and, for the store's requests, turned into a [`StoreError`]
//! naming the account, the target and the action. Users, groups and roles differ in IAM only by
//! the names of their actions, so their inline-policy requests take an [`Entity`].

use std::collections::BTreeMap;

use aws_sdk_iam::operation::get_credential_report::GetCredentialReportOutput;
use aws_sdk_iam::types::{AssignmentStatusType, EntityType, ReportStateType};
use aws_sdk_iam::Client;
use aws_smithy_types::retry::RetryConfig;

use super::errors::{At, AwsError, StoreError};
use crate::engine::policy;
use crate::engine::target::{EntityKind, Target};

/// One page of `GetAccountAuthorizationDetails`, as IAM answered it.
pub type AuthDetails =
    aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsOutput;

/// One version of a managed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub id: String,
    pub is_default: bool,
    /// RFC 3339.
    pub create_date: Option<String>,
}

impl VersionInfo {
    pub fn from_sdk(v: &aws_sdk_iam::types::PolicyVersion) -> VersionInfo {
        VersionInfo {
            id: v.version_id().unwrap_or_default().to_string(),
            is_default: v.is_default_version(),
            create_date: v
                .create_date()
                .and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
        }
    }
}

/// A user, group or role, by name: the owner of inline policies.
#[derive(Debug, Clone, Copy)]
pub struct Entity<'a> {
    pub kind: EntityKind,
    pub name: &'a str,
}

impl Entity<'_> {
    /// The IAM action that writes one of its inline policies.
    pub fn put_operation(self) -> &'static str {
        match self.kind {
            EntityKind::User => "iam:PutUserPolicy",
            EntityKind::Group => "iam:PutGroupPolicy",
            EntityKind::Role => "iam:PutRolePolicy",
        }
    }

    fn get_operation(self) -> &'static str {
        match self.kind {
            EntityKind::User => "iam:GetUserPolicy",
            EntityKind::Group => "iam:GetGroupPolicy",
            EntityKind::Role => "iam:GetRolePolicy",
        }
    }

    fn list_operation(self) -> &'static str {
        match self.kind {
            EntityKind::User => "iam:ListUserPolicies",
            EntityKind::Group => "iam:ListGroupPolicies",
            EntityKind::Role => "iam:ListRolePolicies",
        }
    }
}

/// IAM of one account.
#[derive(Debug, Clone)]
pub struct Iam {
    client: Client,
    account: String,
}

impl Iam {
    pub fn new(client: Client, account: String) -> Iam {
        Iam { client, account }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// Where a request about `target` failed: the target without its account, which `At`
    /// already names.
    pub fn at(&self, target: &Target, operation: &'static str) -> At {
        let bare = Target {
            account: None,
            kind: target.kind.clone(),
        };
        At {
            account: self.account.clone(),
            target: bare.to_string(),
            operation,
        }
    }

    fn at_account(&self, operation: &'static str) -> At {
        At {
            account: self.account.clone(),
            target: "account authorization details".to_string(),
            operation,
        }
    }

    /// All pages of `GetAccountAuthorizationDetails` for customer managed policies, users,
    /// groups and roles.
    pub async fn authorization_details(&self) -> Result<Vec<AuthDetails>, StoreError> {
        let mut marker: Option<String> = None;
        let mut pages = Vec::new();
        loop {
            let page = self
                .client
                .get_account_authorization_details()
                .filter(EntityType::LocalManagedPolicy)
                .filter(EntityType::User)
                .filter(EntityType::Group)
                .filter(EntityType::Role)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| {
                    AwsError::new(e).at(self.at_account("iam:GetAccountAuthorizationDetails"))
                })?;
            let next = next_marker(page.is_truncated(), page.marker(), &marker);
            pages.push(page);
            match next {
                Some(m) => marker = Some(m),
                None => return Ok(pages),
            }
        }
    }

    /// The tags of a managed policy (`GetAccountAuthorizationDetails` does not return them).
    pub async fn policy_tags(
        &self,
        target: &Target,
        arn: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut tags = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_policy_tags()
                .policy_arn(arn)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| AwsError::new(e).at(self.at(target, "iam:ListPolicyTags")))?;
            tags.extend(page.tags().iter().map(tag_pair));
            match next_marker(page.is_truncated(), page.marker(), &marker) {
                Some(m) => marker = Some(m),
                None => return Ok(tags),
            }
        }
    }

    /// A managed policy's `DefaultVersionId` (`GetPolicy`).
    pub async fn default_version_id(
        &self,
        target: &Target,
        arn: &str,
    ) -> Result<String, StoreError> {
        let at = || self.at(target, "iam:GetPolicy");
        let out = self
            .client
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::new(e).at(at()))?;
        out.policy()
            .and_then(|p| p.default_version_id())
            .map(str::to_string)
            .ok_or_else(|| StoreError::Invalid {
                at: at(),
                detail:
                    "IAM returned no default version id; retry, or check the policy in the console"
                        .into(),
            })
    }

    /// The decoded document of one version of a managed policy.
    pub async fn version_document(
        &self,
        target: &Target,
        arn: &str,
        version: &str,
    ) -> Result<String, StoreError> {
        let at = || self.at(target, "iam:GetPolicyVersion");
        let out = self
            .client
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map_err(|e| AwsError::new(e).at(at()))?;
        out.policy_version()
            .and_then(|v| v.document())
            .map(|d| policy::decode_document(d).0)
            .ok_or_else(|| StoreError::Invalid {
                at: at(),
                detail: format!("IAM returned no document for version {version}; retry"),
            })
    }

    /// Every version of a managed policy.
    pub async fn versions(
        &self,
        target: &Target,
        arn: &str,
    ) -> Result<Vec<VersionInfo>, StoreError> {
        let mut versions = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_policy_versions()
                .policy_arn(arn)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| AwsError::new(e).at(self.at(target, "iam:ListPolicyVersions")))?;
            versions.extend(page.versions().iter().map(VersionInfo::from_sdk));
            match next_marker(page.is_truncated(), page.marker(), &marker) {
                Some(m) => marker = Some(m),
                None => return Ok(versions),
            }
        }
    }

    /// A new default version; its id. Sent once: see [`no_retry`].
    pub async fn create_default_version(
        &self,
        target: &Target,
        arn: &str,
        document: &str,
    ) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .create_policy_version()
            .policy_arn(arn)
            .policy_document(document)
            .set_as_default(true)
            .customize()
            .config_override(no_retry())
            .send()
            .await
            .map_err(|e| AwsError::new(e).at(self.at(target, "iam:CreatePolicyVersion")))?;
        Ok(out
            .policy_version()
            .and_then(|v| v.version_id())
            .map(str::to_string))
    }

    pub async fn delete_version(
        &self,
        target: &Target,
        arn: &str,
        version: &str,
    ) -> Result<(), StoreError> {
        self.client
            .delete_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::new(e).at(self.at(target, "iam:DeletePolicyVersion")))
    }

    pub async fn set_default_version(
        &self,
        target: &Target,
        arn: &str,
        version: &str,
    ) -> Result<(), StoreError> {
        self.client
            .set_default_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::new(e).at(self.at(target, "iam:SetDefaultPolicyVersion")))
    }

    /// The decoded document of one inline policy.
    pub async fn inline_document(
        &self,
        target: &Target,
        owner: Entity<'_>,
        policy_name: &str,
    ) -> Result<String, StoreError> {
        let c = &self.client;
        let name = owner.name;
        let sent = match owner.kind {
            EntityKind::User => c
                .get_user_policy()
                .user_name(name)
                .policy_name(policy_name)
                .send()
                .await
                .map(|o| o.policy_document().to_string())
                .map_err(AwsError::new),
            EntityKind::Group => c
                .get_group_policy()
                .group_name(name)
                .policy_name(policy_name)
                .send()
                .await
                .map(|o| o.policy_document().to_string())
                .map_err(AwsError::new),
            EntityKind::Role => c
                .get_role_policy()
                .role_name(name)
                .policy_name(policy_name)
                .send()
                .await
                .map(|o| o.policy_document().to_string())
                .map_err(AwsError::new),
        };
        let doc = sent.map_err(|e| e.at(self.at(target, owner.get_operation())))?;
        Ok(policy::decode_document(&doc).0)
    }

    /// The names of an entity's inline policies.
    pub async fn inline_names(
        &self,
        target: &Target,
        owner: Entity<'_>,
    ) -> Result<Vec<String>, StoreError> {
        let c = &self.client;
        let name = owner.name;
        let mut names = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let m = marker.clone();
            let sent = match owner.kind {
                EntityKind::User => c
                    .list_user_policies()
                    .user_name(name)
                    .set_marker(m)
                    .send()
                    .await
                    .map(|o| (o.policy_names, o.is_truncated, o.marker))
                    .map_err(AwsError::new),
                EntityKind::Group => c
                    .list_group_policies()
                    .group_name(name)
                    .set_marker(m)
                    .send()
                    .await
                    .map(|o| (o.policy_names, o.is_truncated, o.marker))
                    .map_err(AwsError::new),
                EntityKind::Role => c
                    .list_role_policies()
                    .role_name(name)
                    .set_marker(m)
                    .send()
                    .await
                    .map(|o| (o.policy_names, o.is_truncated, o.marker))
                    .map_err(AwsError::new),
            };
            let (page, truncated, next) =
                sent.map_err(|e| e.at(self.at(target, owner.list_operation())))?;
            names.extend(page);
            match next_marker(truncated, next.as_deref(), &marker) {
                Some(m) => marker = Some(m),
                None => return Ok(names),
            }
        }
    }

    /// Writes one inline policy. Sent once: see [`no_retry`].
    pub async fn put_inline(
        &self,
        target: &Target,
        owner: Entity<'_>,
        policy_name: &str,
        document: &str,
    ) -> Result<(), StoreError> {
        let c = &self.client;
        let name = owner.name;
        let sent = match owner.kind {
            EntityKind::User => c
                .put_user_policy()
                .user_name(name)
                .policy_name(policy_name)
                .policy_document(document)
                .customize()
                .config_override(no_retry())
                .send()
                .await
                .map(|_| ())
                .map_err(AwsError::new),
            EntityKind::Group => c
                .put_group_policy()
                .group_name(name)
                .policy_name(policy_name)
                .policy_document(document)
                .customize()
                .config_override(no_retry())
                .send()
                .await
                .map(|_| ())
                .map_err(AwsError::new),
            EntityKind::Role => c
                .put_role_policy()
                .role_name(name)
                .policy_name(policy_name)
                .policy_document(document)
                .customize()
                .config_override(no_retry())
                .send()
                .await
                .map(|_| ())
                .map_err(AwsError::new),
        };
        sent.map_err(|e| e.at(self.at(target, owner.put_operation())))
    }

    /// The ids of a user's active access keys, all pages (evidence looks up their calls).
    pub async fn active_access_keys(&self, user: &str) -> Result<Vec<String>, AwsError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_access_keys()
                .user_name(user)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(AwsError::new)?;
            for k in page.access_key_metadata() {
                let active = k.status().is_some_and(|s| s.as_str() == "Active");
                if let (true, Some(id)) = (active, k.access_key_id()) {
                    out.push(id.to_string());
                }
            }
            match page.marker() {
                Some(m) if page.is_truncated() && Some(m) != marker.as_deref() => {
                    marker = Some(m.to_string())
                }
                _ => break,
            }
        }
        Ok(out)
    }

    /// Asks IAM for a credential report; its state (`COMPLETE` when a recent one exists).
    pub async fn generate_credential_report(&self) -> Result<Option<ReportStateType>, AwsError> {
        self.client
            .generate_credential_report()
            .send()
            .await
            .map(|out| out.state().cloned())
            .map_err(AwsError::new)
    }

    pub async fn credential_report(&self) -> Result<GetCredentialReportOutput, AwsError> {
        self.client
            .get_credential_report()
            .send()
            .await
            .map_err(AwsError::new)
    }

    /// The assigned virtual MFA devices, all pages: user name → serials.
    pub async fn virtual_mfa_devices(&self) -> Result<MfaDevices, AwsError> {
        let mut devices = MfaDevices::default();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_virtual_mfa_devices()
                .assignment_status(AssignmentStatusType::Assigned)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(AwsError::new)?;
            devices.requests += 1;
            for d in page.virtual_mfa_devices() {
                if let Some(user) = d.user().map(|u| u.user_name().to_string()) {
                    devices
                        .serials
                        .entry(user)
                        .or_default()
                        .push(d.serial_number().to_string());
                }
            }
            match next_marker(page.is_truncated(), page.marker(), &marker) {
                Some(m) => marker = Some(m),
                None => return Ok(devices),
            }
        }
    }
}

/// Virtual MFA devices by user, and how many requests reading them took.
#[derive(Debug, Clone, Default)]
pub struct MfaDevices {
    pub serials: BTreeMap<String, Vec<String>>,
    pub requests: usize,
}

/// The SDK's own retries off, for writes: a retried `CreatePolicyVersion` whose first attempt
/// landed would add a second version (and use up the 5-version limit). A write whose answer was
/// lost is re-read before it is repeated instead.
fn no_retry() -> aws_sdk_iam::config::Builder {
    aws_sdk_iam::config::Builder::default().retry_config(RetryConfig::disabled())
}

/// The marker of the next page, if there is one. A marker equal to the one just sent ends the
/// loop too: a server that repeats itself must not keep the run busy forever.
fn next_marker(truncated: bool, marker: Option<&str>, sent: &Option<String>) -> Option<String> {
    marker
        .filter(|m| truncated && Some(*m) != sent.as_deref())
        .map(str::to_string)
}

pub fn tag_pair(t: &aws_sdk_iam::types::Tag) -> (String, String) {
    (t.key().to_string(), t.value().to_string())
}
