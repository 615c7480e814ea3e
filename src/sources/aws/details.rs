//! What `GetAccountAuthorizationDetails` says about an account, read once from its pages: the
//! customer managed policies and every user, group and role with its policies. The policies to
//! plan ([`super::fetch`]) and who they reach ([`crate::sources::principals`]) are both read from
//! it, so a user, a group and a role are told apart in one place only.

use std::collections::BTreeMap;

use super::iam::{tag_pair, AuthDetails, VersionInfo};
use crate::engine::policy;
use crate::engine::target::EntityKind;

/// The account's customer managed policies, users, groups and roles.
#[derive(Debug, Clone, Default)]
pub struct AccountDetails {
    pub managed: Vec<ManagedPolicy>,
    /// Users, groups and roles, in the order IAM listed them (per page: users, groups, roles).
    pub entities: Vec<EntityRecord>,
}

/// A customer managed policy.
#[derive(Debug, Clone)]
pub struct ManagedPolicy {
    pub arn: String,
    /// Moto leaves `PolicyName` out of this response; the ARN's last segment is the name then.
    pub name: String,
    pub default_version_id: Option<String>,
    pub versions: Vec<VersionInfo>,
    /// The default version's decoded document, when IAM sent it.
    pub document: Option<String>,
}

/// A user, group or role and what is attached to or embedded in it.
#[derive(Debug, Clone)]
pub struct EntityRecord {
    pub kind: EntityKind,
    pub name: String,
    pub arn: String,
    /// Users and roles (IAM returns no tags for groups here).
    pub tags: Vec<(String, String)>,
    /// Managed policy ARNs.
    pub attached: Vec<String>,
    /// (policy name, decoded document).
    pub inline: Vec<(String, String)>,
    /// Users: the groups they belong to.
    pub groups: Vec<String>,
    /// Roles: the decoded trust policy.
    pub trust: Option<String>,
    /// Roles: when a session last used the role (RFC 3339).
    pub last_used: Option<String>,
    /// Users and roles: the ARN of the managed policy set as permissions boundary.
    pub boundary: Option<String>,
}

impl EntityRecord {
    fn new(kind: EntityKind, name: Option<&str>, arn: Option<&str>) -> EntityRecord {
        EntityRecord {
            kind,
            name: name.unwrap_or_default().to_string(),
            arn: arn.unwrap_or_default().to_string(),
            tags: Vec::new(),
            attached: Vec::new(),
            inline: Vec::new(),
            groups: Vec::new(),
            trust: None,
            last_used: None,
            boundary: None,
        }
    }

    fn policies(
        mut self,
        attached: &[aws_sdk_iam::types::AttachedPolicy],
        inline: &[aws_sdk_iam::types::PolicyDetail],
    ) -> EntityRecord {
        self.attached = attached
            .iter()
            .filter_map(|a| a.policy_arn().map(str::to_string))
            .collect();
        self.inline = inline
            .iter()
            .filter_map(|p| {
                Some((
                    p.policy_name()?.to_string(),
                    policy::decode_document(p.policy_document()?).0,
                ))
            })
            .collect();
        self
    }

    /// `user/NAME`, `group/NAME`, `role/NAME`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.kind.as_str(), self.name)
    }
}

impl AccountDetails {
    /// Reads the pages of `GetAccountAuthorizationDetails`.
    pub fn from_pages(pages: &[AuthDetails]) -> AccountDetails {
        let mut d = AccountDetails::default();
        for page in pages {
            for u in page.user_detail_list() {
                let mut e = EntityRecord::new(EntityKind::User, u.user_name(), u.arn())
                    .policies(u.attached_managed_policies(), u.user_policy_list());
                e.tags = u.tags().iter().map(tag_pair).collect();
                e.groups = u.group_list().to_vec();
                e.boundary = boundary_arn(u.permissions_boundary());
                d.entities.push(e);
            }
            for g in page.group_detail_list() {
                d.entities.push(
                    EntityRecord::new(EntityKind::Group, g.group_name(), g.arn())
                        .policies(g.attached_managed_policies(), g.group_policy_list()),
                );
            }
            for r in page.role_detail_list() {
                let mut e = EntityRecord::new(EntityKind::Role, r.role_name(), r.arn())
                    .policies(r.attached_managed_policies(), r.role_policy_list());
                e.tags = r.tags().iter().map(tag_pair).collect();
                e.trust = r
                    .assume_role_policy_document()
                    .map(|t| policy::decode_document(t).0);
                e.last_used = r
                    .role_last_used()
                    .and_then(|l| l.last_used_date())
                    .and_then(rfc3339);
                e.boundary = boundary_arn(r.permissions_boundary());
                d.entities.push(e);
            }
            d.managed
                .extend(page.policies().iter().filter_map(managed_policy));
        }
        d
    }

    /// Managed policy ARN → who it is attached to (`user/NAME`, `group/NAME`, `role/NAME`).
    pub fn attachments(&self) -> BTreeMap<String, Vec<String>> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in &self.entities {
            for arn in &e.attached {
                map.entry(arn.clone()).or_default().push(e.label());
            }
        }
        map
    }
}

fn managed_policy(p: &aws_sdk_iam::types::ManagedPolicyDetail) -> Option<ManagedPolicy> {
    let arn = p.arn()?;
    let name = p
        .policy_name()
        .unwrap_or_else(|| arn.rsplit('/').next().unwrap_or(arn));
    let default_id = p.default_version_id().map(str::to_string);
    let list = p.policy_version_list();
    // The policy's DefaultVersionId wins over the versions' flags, which can disagree with it
    // for a while (eventual consistency).
    let default = list
        .iter()
        .find(|v| default_id.is_some() && v.version_id() == default_id.as_deref())
        .or_else(|| list.iter().find(|v| v.is_default_version()));
    Some(ManagedPolicy {
        arn: arn.to_string(),
        name: name.to_string(),
        document: default
            .and_then(|v| v.document())
            .map(|d| policy::decode_document(d).0),
        default_version_id: default_id,
        versions: list.iter().map(VersionInfo::from_sdk).collect(),
    })
}

fn boundary_arn(b: Option<&aws_sdk_iam::types::AttachedPermissionsBoundary>) -> Option<String> {
    b.and_then(|b| b.permissions_boundary_arn())
        .map(str::to_string)
}

/// An SDK time as RFC 3339.
pub fn rfc3339(d: &aws_smithy_types::DateTime) -> Option<String> {
    d.fmt(aws_smithy_types::date_time::Format::DateTime).ok()
}
