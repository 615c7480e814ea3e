//! Fetch: every customer managed policy (its default version) and every inline policy of the
//! users, groups and roles of one account, from the pages of `GetAccountAuthorizationDetails`.

use std::collections::BTreeMap;

use super::details::{AccountDetails, EntityRecord, ManagedPolicy};
use super::errors::StoreError;
use super::iam::VersionInfo;
use super::store::AwsStore;
use super::tags::iac_reason;
use crate::engine::policy;
use crate::engine::target::{Target, TargetKind};

/// One policy as fetched from the account.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub target: Target,
    /// The decoded JSON document (managed: of the default version).
    pub text: String,
    /// Managed policies: the default version id.
    pub version_id: Option<String>,
    /// Managed policies: every version.
    pub versions: Vec<VersionInfo>,
    /// Who uses it: `user/alice`, `group/devs`, `role/ci`. For inline policies, the owner.
    pub attachments: Vec<String>,
    /// Why the policy looks managed by infrastructure as code (from the owner's tags for inline
    /// policies; managed policies: see [`AwsStore::managed_policy_tags`] and [`iac_reason`]).
    pub iac_managed: Option<String>,
    /// Inline policies: non-whitespace size of the owner's other inline policies, which count
    /// toward the same aggregate limit.
    pub entity_inline_sizes: usize,
}

impl AwsStore {
    /// Every customer managed policy (default version) and every inline policy of users, groups
    /// and roles, with what the account said about them: who the policies reach (group
    /// memberships, attachments, trust policies) is in it, for the impact of each change
    /// ([`crate::sources::principals`]) at no extra request.
    pub async fn fetch_with_details(&self) -> Result<(Vec<Fetched>, AccountDetails), StoreError> {
        let pages = self.iam.authorization_details().await?;
        let details = AccountDetails::from_pages(&pages);
        let attachments = details.attachments();
        let mut out: Vec<Fetched> = details
            .managed
            .iter()
            .filter_map(|p| self.managed_fetched(p, &attachments))
            .collect();
        for owner in &details.entities {
            out.extend(self.inline_fetched(owner));
        }
        Ok((out, details))
    }

    /// The tags of a managed policy (`GetAccountAuthorizationDetails` does not return them).
    pub async fn managed_policy_tags(
        &self,
        arn: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let target = self.target_of(TargetKind::Managed {
            arn: arn.to_string(),
            name: arn.rsplit('/').next().unwrap_or(arn).to_string(),
        });
        self.iam.policy_tags(&target, arn).await
    }

    /// The tags of several managed policies, asked for all at once; in the order of `arns`.
    pub async fn managed_policies_tags(
        &self,
        arns: &[&str],
    ) -> Vec<Result<Vec<(String, String)>, StoreError>> {
        futures::future::join_all(arns.iter().map(|arn| self.managed_policy_tags(arn))).await
    }

    /// A managed policy's default version, or `None` when IAM sent no document for it.
    fn managed_fetched(
        &self,
        p: &ManagedPolicy,
        attachments: &BTreeMap<String, Vec<String>>,
    ) -> Option<Fetched> {
        Some(Fetched {
            target: self.target_of(TargetKind::Managed {
                arn: p.arn.clone(),
                name: p.name.clone(),
            }),
            text: p.document.clone()?,
            version_id: p.default_version_id.clone(),
            versions: p.versions.clone(),
            attachments: attachments.get(&p.arn).cloned().unwrap_or_default(),
            iac_managed: None,
            entity_inline_sizes: 0,
        })
    }

    /// The inline policies of one user, group or role, each with the size of the others (IAM's
    /// limit is on their sum).
    fn inline_fetched(&self, owner: &EntityRecord) -> Vec<Fetched> {
        let total: usize = owner.inline.iter().map(|(_, d)| policy::iam_size(d)).sum();
        let iac = iac_reason(&owner.tags);
        owner
            .inline
            .iter()
            .map(|(policy_name, text)| Fetched {
                target: self.target_of(TargetKind::Inline {
                    entity: owner.kind,
                    entity_name: owner.name.clone(),
                    policy_name: policy_name.clone(),
                }),
                text: text.clone(),
                version_id: None,
                versions: Vec::new(),
                attachments: vec![owner.label()],
                iac_managed: iac.clone(),
                entity_inline_sizes: total - policy::iam_size(text),
            })
            .collect()
    }

    fn target_of(&self, kind: TargetKind) -> Target {
        Target {
            account: Some(self.account_id().to_string()),
            kind,
        }
    }
}
