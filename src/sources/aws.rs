//! The AWS adapter: reads customer managed and inline policies of one account from IAM, and
//! publishes new documents safely (design §4).
//!
//! Safety rules implemented here, in order, for every publish:
//! 1. limits (size, aggregate inline size, characters) are checked before any write;
//! 2. the live document is re-read: equal to the new one → nothing to do; different from the
//!    plan's `before`, or (managed policies) another default version than the plan's → refused as
//!    stale;
//! 3. every write is journalled (`pending`) and fsync'd before it is sent, and its outcome is
//!    journalled after; a pruned version's document is journalled before it is deleted;
//! 4. a write whose answer was lost is not repeated blindly: the live document is re-read first;
//! 5. the result is read back (IAM is eventually consistent) and compared with the intent.
//!
//! Documents are compared as parsed JSON (key order and whitespace do not matter), and
//! URL-decoded with [`policy::decode_document`] since IAM returns them percent-encoded.

use crate::engine::policy;
use crate::engine::reach::Route;
use crate::engine::target::{EntityKind, Target, TargetKind, MANAGED_LIMIT};
use crate::sources::journal::{self, Action, Journal, JournalEntry, Outcome};
use aws_config::BehaviorVersion;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::EntityType;
use aws_sdk_iam::Client;

/// One page of `GetAccountAuthorizationDetails`, as IAM answered it.
pub type AuthDetails =
    aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsOutput;
use aws_smithy_types::retry::RetryConfig;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// IAM keeps at most this many versions of a managed policy.
pub const MAX_POLICY_VERSIONS: usize = 5;

/// Every action `plan` needs (reads only). `docs/permissions/plan-policy.json` must grant them;
/// a test checks it.
pub const PLAN_ACTIONS: &[&str] = &[
    "sts:GetCallerIdentity",
    "iam:GetAccountAuthorizationDetails",
    "iam:ListPolicyTags",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:ListPolicyVersions",
    "iam:GetUserPolicy",
    "iam:GetGroupPolicy",
    "iam:GetRolePolicy",
    // Who is affected (sources/principals.rs): the credential report and virtual MFA devices.
    "iam:GenerateCredentialReport",
    "iam:GetCredentialReport",
    "iam:ListVirtualMFADevices",
];

/// Every action `apply` and `rollback` need beyond [`PLAN_ACTIONS`].
/// `docs/permissions/apply-policy.json` must grant these and the plan actions.
pub const APPLY_ACTIONS: &[&str] = &[
    "iam:ListUserPolicies",
    "iam:ListGroupPolicies",
    "iam:ListRolePolicies",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:PutUserPolicy",
    "iam:PutGroupPolicy",
    "iam:PutRolePolicy",
];

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

/// Where an error happened: account, target and the IAM action that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    pub account: String,
    pub target: String,
    pub operation: &'static str,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "account {}: {}: {}",
            self.account, self.target, self.operation
        )
    }
}

/// Everything that can go wrong talking to IAM. Each message names the account, the target and
/// the operation, and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no usable AWS credentials: {detail}")]
    Credentials { detail: String },
    #[error("{at}: access denied ({message}); grant {} to the credentials in use: attach the least-privilege policy docs/permissions/plan-policy.json (plan, scan) or docs/permissions/apply-policy.json (apply, rollback), explained in docs/permissions.md", at.operation)]
    AccessDenied { at: At, message: String },
    #[error("{at}: IAM limit exceeded ({message}); delete an unused non-default policy version or check the account's IAM quotas, then rerun")]
    LimitExceeded { at: At, message: String },
    #[error("{at}: IAM rejected the document as malformed ({message}); nothing was changed; please report this with the plan")]
    MalformedPolicyDocument { at: At, message: String },
    #[error(
        "{at}: not found ({message}); it was deleted or renamed since it was read: run plan again"
    )]
    NoSuchEntity { at: At, message: String },
    #[error("{at}: throttled by IAM even after retries ({message}); lower --concurrency or retry in a few minutes")]
    Throttling { at: At, message: String },
    #[error("{at}: no answer from IAM ({message}); check the network and endpoint, then rerun (a write is re-read before it is repeated)")]
    Transport { at: At, message: String },
    #[error("{at}: IAM error {code}: {message}")]
    Service {
        at: At,
        code: String,
        message: String,
    },
    #[error("{at}: the live document changed since the plan was made ({detail}); nothing was written: run plan again")]
    Stale { at: At, detail: String },
    #[error("{at}: the new document has {size} non-whitespace characters, over IAM's {what} limit of {limit}; nothing was written: shorten the policy or split it")]
    TooLarge {
        at: At,
        size: usize,
        limit: usize,
        what: String,
    },
    #[error("{at}: the new document contains characters IAM does not accept ({chars:?}); nothing was written: IAM allows tab, newline and U+0020 to U+00FF")]
    DisallowedCharacters { at: At, chars: Vec<char> },
    #[error("{at}: the policy already has {MAX_POLICY_VERSIONS} versions and pruning is disabled; delete an unused non-default version yourself or apply without --no-prune")]
    VersionLimit { at: At },
    #[error("{at}: the write was sent but reading it back shows another document ({detail}); check the policy in IAM: the journal holds the before and after documents")]
    ReadBack { at: At, detail: String },
    #[error("{at}: {detail}")]
    Invalid { at: At, detail: String },
    #[error("{at}: {source}")]
    Journal {
        at: At,
        #[source]
        source: journal::JournalError,
    },
}

impl StoreError {
    /// The write may have reached IAM even though no success came back: re-read before
    /// repeating it.
    pub fn may_have_landed(&self) -> bool {
        matches!(
            self,
            StoreError::Transport { .. }
                | StoreError::Service { .. }
                | StoreError::Throttling { .. }
        )
    }
}

/// One version of a managed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub id: String,
    pub is_default: bool,
    /// RFC 3339.
    pub create_date: Option<String>,
}

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

/// The live state of one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub text: String,
    pub version_id: Option<String>,
    pub versions: Vec<VersionInfo>,
}

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Written and read back.
    Applied {
        change_id: String,
        /// Managed: the new default version.
        version_id: Option<String>,
        /// Managed: the version deleted to make room (its document is in the journal).
        pruned_version_id: Option<String>,
        /// The write's answer was lost, but re-reading showed it had landed: not repeated.
        after_lost_response: bool,
    },
    /// The live document already was the new one: nothing written.
    AlreadyApplied {
        change_id: String,
        version_id: Option<String>,
    },
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolledBack {
    /// Managed: the previous default version is default again.
    DefaultVersionRestored { version_id: String },
    /// Managed: the previous default was gone, so the old document is a new default version.
    NewVersion { version_id: Option<String> },
    /// Inline: the old document was put back.
    InlineRestored,
    /// The live document already was the original: nothing written.
    AlreadyRolledBack,
}

/// IAM of one account.
#[derive(Debug, Clone)]
pub struct AwsStore {
    iam: Client,
    account: String,
    read_back_attempts: u32,
    read_back_delay: Duration,
    /// How the account was reached; recorded with every journal record, for rollback.
    route: Option<Route>,
    /// The SDK configuration the store was made with (the same credentials, Region and
    /// endpoint reach the account's other services: CloudTrail, S3).
    sdk: Option<aws_types::SdkConfig>,
}

impl AwsStore {
    /// Load credentials the standard way (plus MFA when asked) and find the account id with
    /// STS `GetCallerIdentity`.
    pub async fn connect(opts: &AwsOptions) -> Result<AwsStore, StoreError> {
        let (sdk, account) = base_config(opts).await?;
        Ok(AwsStore::from_client(Client::new(&sdk), account).with_sdk(sdk))
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
        let provider = crate::sources::refresh::assumed_role_provider(base, role)
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
            .credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(
                provider,
            ))
            .build();
        Ok(AwsStore::from_client(Client::new(&sdk), expected).with_sdk(sdk))
    }

    /// Record `route` (how the account was reached) with every journal record.
    pub fn with_route(mut self, route: Route) -> AwsStore {
        self.route = Some(route);
        self
    }

    /// A store over an existing client (tests, or callers that built their own config).
    pub fn from_client(iam: Client, account: impl Into<String>) -> AwsStore {
        AwsStore {
            iam,
            account: account.into(),
            read_back_attempts: 5,
            read_back_delay: Duration::from_millis(1_000),
            route: None,
            sdk: None,
        }
    }

    /// Keep the SDK configuration, for the account's other services.
    pub fn with_sdk(mut self, sdk: aws_types::SdkConfig) -> AwsStore {
        self.sdk = Some(sdk);
        self
    }

    /// The SDK configuration of the account's credentials, when the store was connected.
    pub fn sdk(&self) -> Option<&aws_types::SdkConfig> {
        self.sdk.as_ref()
    }

    /// How often and how patiently to read a write back before calling it a mismatch.
    pub fn with_read_back(mut self, attempts: u32, delay: Duration) -> AwsStore {
        self.read_back_attempts = attempts.max(1);
        self.read_back_delay = delay;
        self
    }

    pub fn account_id(&self) -> &str {
        &self.account
    }

    pub fn client(&self) -> &Client {
        &self.iam
    }

    fn at(&self, target: &Target, operation: &'static str) -> At {
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

    fn target_of(&self, kind: TargetKind) -> Target {
        Target {
            account: Some(self.account.clone()),
            kind,
        }
    }

    /// Every customer managed policy (default version) and every inline policy of users,
    /// groups and roles, from all pages of `GetAccountAuthorizationDetails`.
    pub async fn fetch(&self) -> Result<Vec<Fetched>, StoreError> {
        Ok(self.fetch_with_details().await?.0)
    }

    /// [`AwsStore::fetch`], plus the pages it read: who the policies reach (group memberships,
    /// attachments, trust policies) is in them, for the impact of each change
    /// ([`crate::sources::principals`]) at no extra request.
    pub async fn fetch_with_details(&self) -> Result<(Vec<Fetched>, Vec<AuthDetails>), StoreError> {
        let mut details = self.authorization_details().await?;
        let pages = std::mem::take(&mut details.pages);
        let mut out: Vec<Fetched> = details
            .managed
            .iter()
            .filter_map(|p| self.managed_fetched(p, &details.attachments))
            .collect();
        for owner in &details.owners {
            out.extend(self.inline_fetched(owner));
        }
        Ok((out, pages))
    }

    /// All pages of `GetAccountAuthorizationDetails`: managed policies, the users, groups and
    /// roles with their inline policies, and who each managed policy is attached to.
    async fn authorization_details(&self) -> Result<Details, StoreError> {
        let op = "iam:GetAccountAuthorizationDetails";
        let mut marker: Option<String> = None;
        let mut d = Details::default();
        loop {
            let page = self
                .iam
                .get_account_authorization_details()
                .filter(EntityType::LocalManagedPolicy)
                .filter(EntityType::User)
                .filter(EntityType::Group)
                .filter(EntityType::Role)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| classify(e, self.at_account(op)))?;
            for u in page.user_detail_list() {
                let name = u.user_name().unwrap_or_default().to_string();
                d.owner(EntityKind::User, &name, u.attached_managed_policies());
                d.owners.push(Owner {
                    entity: EntityKind::User,
                    name,
                    tags: u.tags().iter().map(tag_pair).collect(),
                    policies: inline_list(u.user_policy_list()),
                });
            }
            for g in page.group_detail_list() {
                let name = g.group_name().unwrap_or_default().to_string();
                d.owner(EntityKind::Group, &name, g.attached_managed_policies());
                d.owners.push(Owner {
                    entity: EntityKind::Group,
                    name,
                    tags: Vec::new(),
                    policies: inline_list(g.group_policy_list()),
                });
            }
            for r in page.role_detail_list() {
                let name = r.role_name().unwrap_or_default().to_string();
                d.owner(EntityKind::Role, &name, r.attached_managed_policies());
                d.owners.push(Owner {
                    entity: EntityKind::Role,
                    name,
                    tags: r.tags().iter().map(tag_pair).collect(),
                    policies: inline_list(r.role_policy_list()),
                });
            }
            d.managed.extend(page.policies().iter().cloned());
            d.pages.push(page.clone());
            match page.marker() {
                Some(m) if page.is_truncated() && Some(m) != marker.as_deref() => {
                    marker = Some(m.to_string());
                }
                _ => return Ok(d),
            }
        }
    }

    /// A managed policy's default version, or `None` when IAM sent no document for it.
    fn managed_fetched(
        &self,
        p: &aws_sdk_iam::types::ManagedPolicyDetail,
        attachments: &BTreeMap<String, Vec<String>>,
    ) -> Option<Fetched> {
        let arn = p.arn()?;
        // Moto leaves PolicyName out of this response; the ARN's last segment is the name.
        let name = p
            .policy_name()
            .unwrap_or_else(|| arn.rsplit('/').next().unwrap_or(arn));
        let default_id = p.default_version_id().map(str::to_string);
        let versions: Vec<VersionInfo> = p.policy_version_list().iter().map(version_info).collect();
        // The policy's DefaultVersionId wins over the versions' flags, which can disagree
        // with it for a while (eventual consistency).
        let list = p.policy_version_list();
        let default = list
            .iter()
            .find(|v| default_id.is_some() && v.version_id() == default_id.as_deref())
            .or_else(|| list.iter().find(|v| v.is_default_version()));
        let document = default.and_then(|v| v.document())?;
        Some(Fetched {
            target: self.target_of(TargetKind::Managed {
                arn: arn.to_string(),
                name: name.to_string(),
            }),
            text: policy::decode_document(document).0,
            version_id: default_id,
            versions,
            attachments: attachments.get(arn).cloned().unwrap_or_default(),
            iac_managed: None,
            entity_inline_sizes: 0,
        })
    }

    /// The inline policies of one user, group or role, each with the size of the others (IAM's
    /// limit is on their sum).
    fn inline_fetched(&self, owner: &Owner) -> Vec<Fetched> {
        let total: usize = owner
            .policies
            .iter()
            .map(|(_, d)| policy::iam_size(d))
            .sum();
        let iac = iac_reason(&owner.tags);
        owner
            .policies
            .iter()
            .map(|(policy_name, text)| Fetched {
                target: self.target_of(TargetKind::Inline {
                    entity: owner.entity,
                    entity_name: owner.name.clone(),
                    policy_name: policy_name.clone(),
                }),
                text: text.clone(),
                version_id: None,
                versions: Vec::new(),
                attachments: vec![format!("{}/{}", owner.entity.as_str(), owner.name)],
                iac_managed: iac.clone(),
                entity_inline_sizes: total - policy::iam_size(text),
            })
            .collect()
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
        let mut tags = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .iam
                .list_policy_tags()
                .policy_arn(arn)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| classify(e, self.at(&target, "iam:ListPolicyTags")))?;
            tags.extend(page.tags().iter().map(tag_pair));
            match page.marker() {
                Some(m) if page.is_truncated() && Some(m) != marker.as_deref() => {
                    marker = Some(m.to_string());
                }
                _ => break,
            }
        }
        Ok(tags)
    }

    /// The live document of a target (managed: its default version, with the version list).
    pub async fn current(&self, target: &Target) -> Result<Current, StoreError> {
        let (text, version_id) = self.live(target).await?;
        let versions = match &target.kind {
            TargetKind::Managed { arn, .. } => self.list_versions(target, arn).await?,
            _ => Vec::new(),
        };
        Ok(Current {
            text,
            version_id,
            versions,
        })
    }

    /// The live document and (managed) default version id, without the version list.
    async fn live(&self, target: &Target) -> Result<(String, Option<String>), StoreError> {
        match &target.kind {
            TargetKind::Managed { arn, .. } => {
                let out = self
                    .iam
                    .get_policy()
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| classify(e, self.at(target, "iam:GetPolicy")))?;
                let version = out
                    .policy()
                    .and_then(|p| p.default_version_id())
                    .ok_or_else(|| StoreError::Invalid {
                        at: self.at(target, "iam:GetPolicy"),
                        detail: "IAM returned no default version id; retry, or check the policy in the console".into(),
                    })?
                    .to_string();
                let text = self.version_document(target, arn, &version).await?;
                Ok((text, Some(version)))
            }
            TargetKind::Inline {
                entity,
                entity_name,
                policy_name,
            } => Ok((
                self.get_inline(target, *entity, entity_name, policy_name)
                    .await?,
                None,
            )),
            TargetKind::File { .. } | TargetKind::Embedded { .. } => {
                Err(not_aws(self.at(target, "read")))
            }
        }
    }

    async fn version_document(
        &self,
        target: &Target,
        arn: &str,
        version: &str,
    ) -> Result<String, StoreError> {
        let at = || self.at(target, "iam:GetPolicyVersion");
        let out = self
            .iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map_err(|e| classify(e, at()))?;
        out.policy_version()
            .and_then(|v| v.document())
            .map(|d| policy::decode_document(d).0)
            .ok_or_else(|| StoreError::Invalid {
                at: at(),
                detail: format!("IAM returned no document for version {version}; retry"),
            })
    }

    async fn list_versions(
        &self,
        target: &Target,
        arn: &str,
    ) -> Result<Vec<VersionInfo>, StoreError> {
        let mut versions = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .iam
                .list_policy_versions()
                .policy_arn(arn)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| classify(e, self.at(target, "iam:ListPolicyVersions")))?;
            versions.extend(page.versions().iter().map(version_info));
            match page.marker() {
                Some(m) if page.is_truncated() && Some(m) != marker.as_deref() => {
                    marker = Some(m.to_string());
                }
                _ => break,
            }
        }
        Ok(versions)
    }

    async fn get_inline(
        &self,
        target: &Target,
        entity: EntityKind,
        entity_name: &str,
        policy_name: &str,
    ) -> Result<String, StoreError> {
        let doc = match entity {
            EntityKind::User => self
                .iam
                .get_user_policy()
                .user_name(entity_name)
                .policy_name(policy_name)
                .send()
                .await
                .map(|o| o.policy_document().to_string())
                .map_err(|e| classify(e, self.at(target, "iam:GetUserPolicy")))?,
            EntityKind::Group => self
                .iam
                .get_group_policy()
                .group_name(entity_name)
                .policy_name(policy_name)
                .send()
                .await
                .map(|o| o.policy_document().to_string())
                .map_err(|e| classify(e, self.at(target, "iam:GetGroupPolicy")))?,
            EntityKind::Role => self
                .iam
                .get_role_policy()
                .role_name(entity_name)
                .policy_name(policy_name)
                .send()
                .await
                .map(|o| o.policy_document().to_string())
                .map_err(|e| classify(e, self.at(target, "iam:GetRolePolicy")))?,
        };
        Ok(policy::decode_document(&doc).0)
    }

    async fn list_inline(
        &self,
        target: &Target,
        entity: EntityKind,
        entity_name: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let (page, next) = match entity {
                EntityKind::User => self
                    .iam
                    .list_user_policies()
                    .user_name(entity_name)
                    .set_marker(marker.clone())
                    .send()
                    .await
                    .map(|o| {
                        (
                            o.policy_names().to_vec(),
                            next_marker(o.is_truncated(), o.marker()),
                        )
                    })
                    .map_err(|e| classify(e, self.at(target, "iam:ListUserPolicies")))?,
                EntityKind::Group => self
                    .iam
                    .list_group_policies()
                    .group_name(entity_name)
                    .set_marker(marker.clone())
                    .send()
                    .await
                    .map(|o| {
                        (
                            o.policy_names().to_vec(),
                            next_marker(o.is_truncated(), o.marker()),
                        )
                    })
                    .map_err(|e| classify(e, self.at(target, "iam:ListGroupPolicies")))?,
                EntityKind::Role => self
                    .iam
                    .list_role_policies()
                    .role_name(entity_name)
                    .set_marker(marker.clone())
                    .send()
                    .await
                    .map(|o| {
                        (
                            o.policy_names().to_vec(),
                            next_marker(o.is_truncated(), o.marker()),
                        )
                    })
                    .map_err(|e| classify(e, self.at(target, "iam:ListRolePolicies")))?,
            };
            names.extend(page);
            match next {
                Some(m) if Some(&m) != marker.as_ref() => marker = Some(m),
                _ => break,
            }
        }
        Ok(names)
    }

    /// Size, characters and aggregate inline size, checked before anything is written.
    async fn check_limits(&self, target: &Target, document: &str) -> Result<(), StoreError> {
        let at = |op| self.at(target, op);
        if let Err(e) = policy::parse(document) {
            return Err(StoreError::Invalid {
                at: at("check"),
                detail: format!("the new document is not JSON ({e}); nothing was written"),
            });
        }
        let chars = policy::disallowed_characters(document);
        if !chars.is_empty() {
            return Err(StoreError::DisallowedCharacters {
                at: at("check"),
                chars,
            });
        }
        let size = policy::iam_size(document);
        match &target.kind {
            TargetKind::Managed { .. } if size > MANAGED_LIMIT => Err(StoreError::TooLarge {
                at: at("iam:CreatePolicyVersion"),
                size,
                limit: MANAGED_LIMIT,
                what: "managed policy".into(),
            }),
            TargetKind::Managed { .. } => Ok(()),
            TargetKind::Inline {
                entity,
                entity_name,
                policy_name,
            } => {
                let limit = entity.inline_limit();
                let op = put_operation(*entity);
                if size > limit {
                    return Err(StoreError::TooLarge {
                        at: at(op),
                        size,
                        limit,
                        what: format!("{} inline policy aggregate", entity.as_str()),
                    });
                }
                // The limit is on the sum of the entity's inline policies: read the others live.
                let mut others = 0;
                for name in self.list_inline(target, *entity, entity_name).await? {
                    if &name != policy_name {
                        others += policy::iam_size(
                            &self.get_inline(target, *entity, entity_name, &name).await?,
                        );
                    }
                }
                if size + others > limit {
                    return Err(StoreError::TooLarge {
                        at: at(op),
                        size: size + others,
                        limit,
                        what: format!(
                            "{} inline policy aggregate (the {}'s other inline policies use {others})",
                            entity.as_str(),
                            entity.as_str()
                        ),
                    });
                }
                Ok(())
            }
            TargetKind::File { .. } | TargetKind::Embedded { .. } => Err(not_aws(at("publish"))),
        }
    }

    /// Publish `new_document` to `target`, if the live document still is `expected_before`.
    /// See the module documentation for the safety rules.
    pub async fn publish(
        &self,
        target: &Target,
        expected_before: &str,
        new_document: &str,
        journal: &mut Journal,
        run_id: &str,
        no_prune: bool,
    ) -> Result<Published, StoreError> {
        self.publish_planned(
            target,
            None,
            expected_before,
            new_document,
            journal,
            run_id,
            no_prune,
        )
        .await
    }

    // issue 13 (stale means "changed under you") begin
    /// [`AwsStore::publish`], also refusing as stale a managed policy whose default version is no
    /// longer `expected_version_id`, the version the plan was made against: a new version with the
    /// same content is still a change nobody reviewed this plan against.
    #[allow(clippy::too_many_arguments)]
    pub async fn publish_planned(
        &self,
        target: &Target,
        expected_version_id: Option<&str>,
        expected_before: &str,
        new_document: &str,
        journal: &mut Journal,
        run_id: &str,
        no_prune: bool,
    ) -> Result<Published, StoreError> {
        // issue 13 end
        self.check_limits(target, new_document).await?;
        let live = self.current(target).await?;
        let change_id = journal::new_change_id(run_id);
        let base = JournalEntry {
            before: Some(live.text.clone()),
            after: Some(new_document.to_string()),
            before_version_id: live.version_id.clone(),
            previous_default_version_id: live.version_id.clone(),
            ..JournalEntry::new(
                run_id,
                &change_id,
                target,
                Action::Publish,
                Outcome::Pending,
            )
        };
        if same_document(&live.text, new_document) {
            self.append(journal, target, &base.with_outcome(Outcome::AlreadyApplied))?;
            return Ok(Published::AlreadyApplied {
                change_id,
                version_id: live.version_id,
            });
        }
        // issue 13: the version id too, not only the content
        if let (Some(planned), Some(now)) = (expected_version_id, live.version_id.as_deref()) {
            if planned != now {
                return Err(StoreError::Stale {
                    at: self.at(target, "publish"),
                    detail: format!(
                        "the plan was made against version {planned}, the default version is now {now}{}",
                        if same_document(&live.text, expected_before) {
                            " (with the same document: still a change made since the plan)"
                        } else {
                            ""
                        }
                    ),
                });
            }
        }
        if !same_document(&live.text, expected_before) {
            return Err(StoreError::Stale {
                at: self.at(target, "publish"),
                detail: match &live.version_id {
                    Some(v) => format!("default version is now {v} and its document differs from the plan's before"),
                    None => "the inline document differs from the plan's before".into(),
                },
            });
        }
        let mut pruned_version_id = None;
        if let TargetKind::Managed { arn, .. } = &target.kind {
            if live.versions.len() >= MAX_POLICY_VERSIONS {
                if no_prune {
                    return Err(StoreError::VersionLimit {
                        at: self.at(target, "iam:CreatePolicyVersion"),
                    });
                }
                let room = Room {
                    versions: &live.versions,
                    default_id: live.version_id.as_deref(),
                };
                pruned_version_id = Some(
                    self.prune(target, arn, room, journal, run_id, &change_id)
                        .await?,
                );
            }
        }
        self.append(journal, target, &base)?;
        let (version_id, after_lost_response) =
            match self.write_once_confirmed(target, new_document).await {
                Ok(ok) => ok,
                Err(e) => {
                    let failed = JournalEntry {
                        error: Some(e.to_string()),
                        ..base.with_outcome(Outcome::Failed)
                    };
                    self.append(journal, target, &failed)?;
                    return Err(e);
                }
            };
        let applied = JournalEntry {
            after_version_id: version_id.clone(),
            ..base.with_outcome(Outcome::Applied)
        };
        self.append(journal, target, &applied)?;
        self.read_back(target, new_document).await?;
        Ok(Published::Applied {
            change_id,
            version_id,
            pruned_version_id,
            after_lost_response,
        })
    }

    /// Undo a journalled publish. Refuses (as stale) when the live document is neither the
    /// published one nor the original: someone changed it since, and rolling back would lose
    /// their change. Steps: check the record; re-read the live document; already the
    /// original → nothing to do; make the previous default version default again when it
    /// still holds the original; else write the original as a new version (or inline).
    pub async fn rollback(
        &self,
        entry: &JournalEntry,
        journal: &mut Journal,
        run_id: &str,
    ) -> Result<RolledBack, StoreError> {
        let target = &entry.target;
        let (original, published) = self.rollback_documents(entry)?;
        let live = self.current(target).await?;
        let change_id = journal::new_change_id(run_id);
        let base = JournalEntry {
            before: Some(live.text.clone()),
            after: Some(original.to_string()),
            before_version_id: live.version_id.clone(),
            previous_default_version_id: live.version_id.clone(),
            rolls_back: Some(entry.change_id.clone()),
            ..JournalEntry::new(
                run_id,
                &change_id,
                target,
                Action::Rollback,
                Outcome::Pending,
            )
        };
        if same_document(&live.text, original) {
            self.append(journal, target, &base.with_outcome(Outcome::AlreadyApplied))?;
            return Ok(RolledBack::AlreadyRolledBack);
        }
        if !same_document(&live.text, published) {
            return Err(StoreError::Stale {
                at: self.at(target, "rollback"),
                detail: format!(
                    "it is neither the document change {} published nor the original, so someone changed it since; nothing was written: restore it by hand from the journal if still wanted",
                    entry.change_id
                ),
            });
        }
        // The journal is a file: what it asks to publish is checked like a new document.
        self.check_limits(target, original).await?;
        if let TargetKind::Managed { arn, .. } = &target.kind {
            if let Some(done) = self
                .restore_previous_default(entry, arn, &live, &base, journal)
                .await?
            {
                return Ok(done);
            }
            if live.versions.len() >= MAX_POLICY_VERSIONS {
                let room = Room {
                    versions: &live.versions,
                    default_id: live.version_id.as_deref(),
                };
                self.prune(target, arn, room, journal, run_id, &change_id)
                    .await?;
            }
        }
        self.write_original(target, original, &base, journal).await
    }

    /// The original and the published documents of a publish record.
    fn rollback_documents<'e>(
        &self,
        entry: &'e JournalEntry,
    ) -> Result<(&'e str, &'e str), StoreError> {
        let at = || self.at(&entry.target, "rollback");
        if entry.action != Action::Publish {
            return Err(StoreError::Invalid {
                at: at(),
                detail: format!(
                    "change {} is not a publish; only publishes are rolled back",
                    entry.change_id
                ),
            });
        }
        match (&entry.before, &entry.after) {
            (Some(original), Some(published)) => Ok((original, published)),
            _ => Err(StoreError::Invalid {
                at: at(),
                detail: format!(
                    "journal record of change {} has no before/after documents; pick a publish record (rollback_plan lists them)",
                    entry.change_id
                ),
            }),
        }
    }

    /// Make the previous default version default again, when it still exists and holds the
    /// original: no new version, and the policy's history stays as it was. `None` when that
    /// is not possible.
    async fn restore_previous_default(
        &self,
        entry: &JournalEntry,
        arn: &str,
        live: &Current,
        base: &JournalEntry,
        journal: &mut Journal,
    ) -> Result<Option<RolledBack>, StoreError> {
        let target = &entry.target;
        let Some(prev) = entry
            .previous_default_version_id
            .as_deref()
            .filter(|p| live.versions.iter().any(|v| v.id == *p))
        else {
            return Ok(None);
        };
        let original = base.after.as_deref().unwrap_or_default();
        let doc = self.version_document(target, arn, prev).await?;
        if !same_document(&doc, original) {
            return Ok(None);
        }
        let pending = JournalEntry {
            after_version_id: Some(prev.to_string()),
            ..base.clone()
        };
        self.append(journal, target, &pending)?;
        let result = self
            .iam
            .set_default_policy_version()
            .policy_arn(arn)
            .version_id(prev)
            .send()
            .await
            .map_err(|e| classify(e, self.at(target, "iam:SetDefaultPolicyVersion")));
        match result {
            Ok(_) => {
                self.append(journal, target, &pending.with_outcome(Outcome::Applied))?;
                self.read_back(target, original).await?;
                Ok(Some(RolledBack::DefaultVersionRestored {
                    version_id: prev.to_string(),
                }))
            }
            Err(e) => {
                let failed = JournalEntry {
                    error: Some(e.to_string()),
                    ..pending.with_outcome(Outcome::Failed)
                };
                self.append(journal, target, &failed)?;
                Err(e)
            }
        }
    }

    /// Write the original document back (a new default version, or the inline document),
    /// journalled before and after, then read back.
    async fn write_original(
        &self,
        target: &Target,
        original: &str,
        base: &JournalEntry,
        journal: &mut Journal,
    ) -> Result<RolledBack, StoreError> {
        self.append(journal, target, base)?;
        let version_id = match self.write_once_confirmed(target, original).await {
            Ok((v, _)) => v,
            Err(e) => {
                let failed = JournalEntry {
                    error: Some(e.to_string()),
                    ..base.with_outcome(Outcome::Failed)
                };
                self.append(journal, target, &failed)?;
                return Err(e);
            }
        };
        let applied = JournalEntry {
            after_version_id: version_id.clone(),
            ..base.with_outcome(Outcome::Applied)
        };
        self.append(journal, target, &applied)?;
        self.read_back(target, original).await?;
        Ok(match target.kind {
            TargetKind::Managed { .. } => RolledBack::NewVersion { version_id },
            _ => RolledBack::InlineRestored,
        })
    }

    /// Delete the oldest non-default version, after journalling its document. Returns its id.
    async fn prune(
        &self,
        target: &Target,
        arn: &str,
        room: Room<'_>,
        journal: &mut Journal,
        run_id: &str,
        change_id: &str,
    ) -> Result<String, StoreError> {
        let at = || self.at(target, "iam:DeletePolicyVersion");
        let victim = self.prune_victim(target, arn, room).await?;
        let document = self.version_document(target, arn, &victim).await?;
        let pending = JournalEntry {
            before: Some(document),
            before_version_id: Some(victim.clone()),
            ..JournalEntry::new(run_id, change_id, target, Action::Prune, Outcome::Pending)
        };
        self.append(journal, target, &pending)?;
        let result = self
            .iam
            .delete_policy_version()
            .policy_arn(arn)
            .version_id(&victim)
            .send()
            .await
            .map_err(|e| classify(e, at()));
        match result {
            // Already gone (a lost answer to an earlier attempt): the goal is reached.
            Ok(_) | Err(StoreError::NoSuchEntity { .. }) => {
                self.append(journal, target, &pending.with_outcome(Outcome::Applied))?;
                Ok(victim)
            }
            Err(e) => {
                let failed = JournalEntry {
                    error: Some(e.to_string()),
                    ..pending.with_outcome(Outcome::Failed)
                };
                self.append(journal, target, &failed)?;
                Err(e)
            }
        }
    }

    /// The version to delete: never the policy's `DefaultVersionId`, whatever the versions'
    /// `IsDefaultVersion` flags say. When the flags disagree with it (IAM is eventually
    /// consistent; a retried `SetDefaultPolicyVersion` can leave them so), the versions are
    /// read again, a few times, before choosing.
    async fn prune_victim(
        &self,
        target: &Target,
        arn: &str,
        room: Room<'_>,
    ) -> Result<String, StoreError> {
        let mut versions = room.versions.to_vec();
        for _ in 0..2 {
            if flags_agree(&versions, room.default_id) {
                break;
            }
            tokio::time::sleep(self.read_back_delay).await;
            versions = self.list_versions(target, arn).await?;
        }
        prune_candidate(&versions, room.default_id).ok_or_else(|| StoreError::Invalid {
            at: self.at(target, "iam:DeletePolicyVersion"),
            detail: "no non-default version to delete to make room; delete one by hand".into(),
        })
    }

    /// Write once; if the answer is lost (transport error, 5xx, throttling), re-read and
    /// repeat only if the write did not land. Returns the new version id (managed) and
    /// whether the first answer was lost but the write had landed.
    async fn write_once_confirmed(
        &self,
        target: &Target,
        document: &str,
    ) -> Result<(Option<String>, bool), StoreError> {
        match self.write(target, document).await {
            Ok(v) => Ok((v, false)),
            Err(first) if first.may_have_landed() => {
                // Give IAM's eventual consistency a moment before deciding it did not land.
                tokio::time::sleep(self.read_back_delay).await;
                match self.live(target).await {
                    Ok((text, version)) if same_document(&text, document) => Ok((version, true)),
                    Ok(_) => self.write(target, document).await.map(|v| (v, false)),
                    Err(_) => Err(first),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// One write, with the SDK's own retries off: a retried `CreatePolicyVersion` whose first
    /// attempt landed would add a second version (and use up the 5-version limit).
    async fn write(&self, target: &Target, document: &str) -> Result<Option<String>, StoreError> {
        let no_retry =
            aws_sdk_iam::config::Builder::default().retry_config(RetryConfig::disabled());
        match &target.kind {
            TargetKind::Managed { arn, .. } => {
                let out = self
                    .iam
                    .create_policy_version()
                    .policy_arn(arn)
                    .policy_document(document)
                    .set_as_default(true)
                    .customize()
                    .config_override(no_retry)
                    .send()
                    .await
                    .map_err(|e| classify(e, self.at(target, "iam:CreatePolicyVersion")))?;
                Ok(out
                    .policy_version()
                    .and_then(|v| v.version_id())
                    .map(str::to_string))
            }
            TargetKind::Inline {
                entity,
                entity_name,
                policy_name,
            } => {
                let at = self.at(target, put_operation(*entity));
                let result = match entity {
                    EntityKind::User => self
                        .iam
                        .put_user_policy()
                        .user_name(entity_name)
                        .policy_name(policy_name)
                        .policy_document(document)
                        .customize()
                        .config_override(no_retry)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| classify(e, at)),
                    EntityKind::Group => self
                        .iam
                        .put_group_policy()
                        .group_name(entity_name)
                        .policy_name(policy_name)
                        .policy_document(document)
                        .customize()
                        .config_override(no_retry)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| classify(e, at)),
                    EntityKind::Role => self
                        .iam
                        .put_role_policy()
                        .role_name(entity_name)
                        .policy_name(policy_name)
                        .policy_document(document)
                        .customize()
                        .config_override(no_retry)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| classify(e, at)),
                };
                result.map(|_| None)
            }
            TargetKind::File { .. } | TargetKind::Embedded { .. } => {
                Err(not_aws(self.at(target, "publish")))
            }
        }
    }

    /// Read the live document until it equals `intended` (IAM is eventually consistent).
    async fn read_back(&self, target: &Target, intended: &str) -> Result<(), StoreError> {
        let mut last = String::new();
        for attempt in 0..self.read_back_attempts {
            if attempt > 0 {
                tokio::time::sleep(self.read_back_delay).await;
            }
            let (text, version) = self.live(target).await?;
            if same_document(&text, intended) {
                return Ok(());
            }
            last = match version {
                Some(v) => format!("default version {v}"),
                None => "the inline document".into(),
            };
        }
        Err(StoreError::ReadBack {
            at: self.at(target, "read back"),
            detail: format!(
                "{last} still differs after {} reads",
                self.read_back_attempts
            ),
        })
    }

    fn append(
        &self,
        journal: &mut Journal,
        target: &Target,
        entry: &JournalEntry,
    ) -> Result<(), StoreError> {
        let routed;
        let entry = match (&entry.reached, &self.route) {
            (None, Some(route)) => {
                routed = JournalEntry {
                    reached: Some(route.clone()),
                    ..entry.clone()
                };
                &routed
            }
            _ => entry,
        };
        journal.append(entry).map_err(|source| StoreError::Journal {
            at: self.at(target, "journal"),
            source,
        })
    }
}

/// Why tags suggest the policy is managed by infrastructure as code (so a change made here
/// would be reverted or cause drift), or `None`.
pub fn iac_reason(tags: &[(String, String)]) -> Option<String> {
    const TOOLS: &[&str] = &[
        "terraform",
        "opentofu",
        "tofu",
        "terragrunt",
        "cloudformation",
        "cfn",
        "cdk",
        "pulumi",
        "crossplane",
        "ansible",
        "serverless",
        "sam",
    ];
    const MANAGER_KEYS: &[&str] = &[
        "managedby",
        "managed-by",
        "managed_by",
        "managed by",
        "provisionedby",
        "provisioned-by",
        "provisioned_by",
        "createdby",
        "created-by",
        "created_by",
        "iac",
        "tool",
    ];
    // Stack or Terraform source named, with the command that fixes it there.
    if let Some(owner) = crate::sources::iac::owner(tags) {
        return Some(owner);
    }
    for (key, value) in tags {
        let k = key.to_ascii_lowercase();
        if k.starts_with("aws:cloudformation:") {
            return Some(format!("tag {key}={value} (CloudFormation stack)"));
        }
        if MANAGER_KEYS.contains(&k.as_str()) {
            let v = value.to_ascii_lowercase();
            if v.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|word| TOOLS.contains(&word))
            {
                return Some(format!("tag {key}={value}"));
            }
        }
        if k.starts_with("terraform")
            || k.starts_with("tf_")
            || k.starts_with("tf:")
            || k.starts_with("pulumi")
            || k.starts_with("aws-cdk:")
        {
            return Some(format!("tag {key}={value}"));
        }
    }
    None
}

/// Two documents mean the same (parsed JSON equality: key order and whitespace do not count).
fn same_document(a: &str, b: &str) -> bool {
    match (policy::parse(a), policy::parse(b)) {
        (Ok(x), Ok(y)) => x.value == y.value,
        _ => a.trim() == b.trim(),
    }
}

/// A managed policy's versions and its `DefaultVersionId` (from `GetPolicy`), for pruning.
#[derive(Clone, Copy)]
struct Room<'a> {
    versions: &'a [VersionInfo],
    default_id: Option<&'a str>,
}

/// Exactly one version is flagged default, and it is the policy's `DefaultVersionId`.
fn flags_agree(versions: &[VersionInfo], default_id: Option<&str>) -> bool {
    let flagged: Vec<&str> = versions
        .iter()
        .filter(|v| v.is_default)
        .map(|v| v.id.as_str())
        .collect();
    match default_id {
        Some(d) => flagged == [d],
        None => flagged.len() == 1,
    }
}

/// The version to prune: the oldest that is neither the policy's `DefaultVersionId` nor
/// flagged default.
fn prune_candidate(versions: &[VersionInfo], default_id: Option<&str>) -> Option<String> {
    let eligible: Vec<VersionInfo> = versions
        .iter()
        .filter(|v| Some(v.id.as_str()) != default_id)
        .cloned()
        .collect();
    oldest_non_default(&eligible)
}

/// The oldest non-default version by creation date (version number breaks ties: moto and
/// fast scripts create several versions within one second).
fn oldest_non_default(versions: &[VersionInfo]) -> Option<String> {
    versions
        .iter()
        .filter(|v| !v.is_default)
        .min_by_key(|v| {
            let date = v.create_date.as_deref().and_then(|d| {
                time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339).ok()
            });
            let number: u64 =
                v.id.trim_start_matches(['v', 'V'])
                    .parse()
                    .unwrap_or(u64::MAX);
            (date, number)
        })
        .map(|v| v.id.clone())
}

/// What `GetAccountAuthorizationDetails` says about an account.
#[derive(Default)]
struct Details {
    managed: Vec<aws_sdk_iam::types::ManagedPolicyDetail>,
    owners: Vec<Owner>,
    /// Managed policy ARN -> `user/NAME`, `group/NAME`, `role/NAME`.
    attachments: BTreeMap<String, Vec<String>>,
    /// The pages as IAM answered them (who is affected reads principals from them).
    pages: Vec<AuthDetails>,
}

impl Details {
    fn owner(
        &mut self,
        entity: EntityKind,
        name: &str,
        attached: &[aws_sdk_iam::types::AttachedPolicy],
    ) {
        for a in attached {
            attach(
                &mut self.attachments,
                a.policy_arn(),
                format!("{}/{name}", entity.as_str()),
            );
        }
    }
}

struct Owner {
    entity: EntityKind,
    name: String,
    tags: Vec<(String, String)>,
    /// (policy name, decoded document)
    policies: Vec<(String, String)>,
}

fn inline_list(list: &[aws_sdk_iam::types::PolicyDetail]) -> Vec<(String, String)> {
    list.iter()
        .filter_map(|p| {
            Some((
                p.policy_name()?.to_string(),
                policy::decode_document(p.policy_document()?).0,
            ))
        })
        .collect()
}

fn attach(map: &mut BTreeMap<String, Vec<String>>, arn: Option<&str>, who: String) {
    if let Some(arn) = arn {
        map.entry(arn.to_string()).or_default().push(who);
    }
}

fn tag_pair(t: &aws_sdk_iam::types::Tag) -> (String, String) {
    (t.key().to_string(), t.value().to_string())
}

fn version_info(v: &aws_sdk_iam::types::PolicyVersion) -> VersionInfo {
    VersionInfo {
        id: v.version_id().unwrap_or_default().to_string(),
        is_default: v.is_default_version(),
        create_date: v
            .create_date()
            .and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
    }
}

fn next_marker(truncated: bool, marker: Option<&str>) -> Option<String> {
    marker.filter(|_| truncated).map(str::to_string)
}

fn put_operation(entity: EntityKind) -> &'static str {
    match entity {
        EntityKind::User => "iam:PutUserPolicy",
        EntityKind::Group => "iam:PutGroupPolicy",
        EntityKind::Role => "iam:PutRolePolicy",
    }
}

fn not_aws(at: At) -> StoreError {
    StoreError::Invalid {
        at,
        detail: "this target is a file, not an IAM policy; use the files store".into(),
    }
}

/// The SDK app name allows only a restricted character set.
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
        let sts = aws_sdk_sts::Client::new(&sdk);
        let out = sts
            .get_session_token()
            .serial_number(serial)
            .token_code(code)
            .send()
            .await
            .map_err(|e| StoreError::Credentials {
                detail: format!(
                    "sts:GetSessionToken with MFA device {serial} failed ({}); tried {tried}; check the device ARN and enter a fresh code",
                    error_text(&e)
                ),
            })?;
        let c = out.credentials().ok_or_else(|| StoreError::Credentials {
            detail: format!("sts:GetSessionToken returned no credentials; tried {tried}"),
        })?;
        let creds = aws_sdk_iam::config::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            std::time::SystemTime::try_from(*c.expiration()).ok(),
            "forcemfa-mfa-session",
        );
        sdk = sdk
            .into_builder()
            .credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(creds))
            .build();
    }
    let sts = aws_sdk_sts::Client::new(&sdk);
    let identity = sts.get_caller_identity().send().await.map_err(|e| {
        StoreError::Credentials {
            detail: format!(
                "sts:GetCallerIdentity failed ({}); tried {tried}; sign in (`aws sso login`, `aws configure`) or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or pass --profile; add --mfa-serial if your credentials need MFA",
                error_text(&e)
            ),
        }
    })?;
    let account =
        identity
            .account()
            .map(str::to_string)
            .ok_or_else(|| StoreError::Credentials {
                detail: format!("sts:GetCallerIdentity returned no account id; tried {tried}"),
            })?;
    Ok((sdk, account))
}

pub use crate::sources::refresh::AssumeRole;

/// The account field of an ARN, when it is a 12-digit account id (pure; lives with the
/// accounts file format).
pub use forcemfa_formats::accounts::account_of_arn;

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

/// The error's code and message, or its full source chain when it has none.
/// An error and its sources, each displayed once: readable, unlike the SDK's context helper,
/// which appends the whole `Debug` form.
pub fn display_chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

fn error_text<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => display_chain(err),
    }
}

// --- errors the SDK could not parse: keep the HTTP status and the raw code and message. ---

/// The text of an XML element (`<Code>…</Code>`) in a raw error body.
fn xml_element<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let len = body[start..].find(&format!("</{name}>"))?;
    Some(body[start..start + len].trim())
}

/// For an error without a parsed code: (`code`, `message`) from the raw response, with the
/// HTTP status in the message, so that nothing the service said is lost.
fn raw_error<E>(
    err: &SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> Option<(String, String)> {
    let raw = err.raw_response()?;
    let status = raw.status().as_u16();
    let body = raw
        .body()
        .bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let code = xml_element(&body, "Code")
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP{status}"));
    let detail = xml_element(&body, "Message")
        .map(str::to_string)
        .unwrap_or_else(|| body.chars().take(300).collect::<String>());
    Some((code, format!("HTTP {status}: {}", detail.trim())))
}

/// Map an SDK error to a [`StoreError`] by its IAM error code.
fn classify<E>(err: SdkError<E, aws_smithy_runtime_api::http::Response>, at: At) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut message = err.message().unwrap_or_default().to_string();
    let chain = display_chain(&err);
    match &err {
        SdkError::ServiceError(_) => {}
        SdkError::ConstructionFailure(_) => {
            // Credential resolution failures surface here.
            return StoreError::Credentials {
                detail: format!("{at}: the request could not be signed ({chain}); sign in again or check --profile and AWS_* variables"),
            };
        }
        _ => return StoreError::Transport { at, message: chain },
    }
    let code = match err.code() {
        Some(code) => code.to_string(),
        None => match raw_error(&err) {
            Some((code, detail)) => {
                message = detail;
                code
            }
            None => "Unknown".to_string(),
        },
    };
    // A 403 whose body the SDK could not read is still a denial.
    let code = match err.raw_response().map(|r| r.status().as_u16()) {
        Some(403) if code.starts_with("HTTP") => "AccessDenied".to_string(),
        _ => code,
    };
    match code.as_str() {
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
            StoreError::AccessDenied { at, message }
        }
        "LimitExceeded" => StoreError::LimitExceeded { at, message },
        "MalformedPolicyDocument" => StoreError::MalformedPolicyDocument { at, message },
        "NoSuchEntity" => StoreError::NoSuchEntity { at, message },
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" | "TooManyRequestsException" => {
            StoreError::Throttling { at, message }
        }
        "ExpiredToken" | "ExpiredTokenException" | "InvalidClientTokenId" | "SignatureDoesNotMatch"
        | "UnrecognizedClientException" | "InvalidAccessKeyId" => StoreError::Credentials {
            detail: format!("{at}: {code}: {message}; the credentials are expired or invalid: sign in again (`aws sso login`, a fresh MFA session) and rerun"),
        },
        _ => StoreError::Service { at, code, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn account_of_arn_reads_the_account_field() {
        assert_eq!(
            account_of_arn("arn:aws:iam::123456789012:role/OrganizationAccountAccessRole")
                .as_deref(),
            Some("123456789012")
        );
        assert_eq!(
            account_of_arn("arn:aws-cn:iam::210987654321:role/path/r").as_deref(),
            Some("210987654321")
        );
        assert_eq!(account_of_arn("arn:aws:iam::12345:role/x"), None);
        assert_eq!(account_of_arn("OrganizationAccountAccessRole"), None);
    }

    #[test]
    fn iac_reason_recognises_common_tags() {
        assert!(iac_reason(&tags(&[("aws:cloudformation:stack-name", "base")])).is_some());
        assert!(iac_reason(&tags(&[("ManagedBy", "Terraform")])).is_some());
        assert!(iac_reason(&tags(&[("managed-by", "aws-cdk")])).is_some());
        assert!(iac_reason(&tags(&[("terraform-module", "iam")])).is_some());
        assert!(iac_reason(&tags(&[("ManagedBy", "alice")])).is_none());
        assert!(iac_reason(&tags(&[("team", "sample")])).is_none());
        assert!(iac_reason(&[]).is_none());
    }

    #[test]
    fn oldest_non_default_skips_default_and_breaks_ties_by_number() {
        let v = |id: &str, d: bool, date: &str| VersionInfo {
            id: id.into(),
            is_default: d,
            create_date: Some(date.into()),
        };
        let versions = [
            v("v1", true, "2020-01-01T00:00:00Z"),
            v("v3", false, "2021-01-01T00:00:00Z"),
            v("v2", false, "2021-01-01T00:00:00Z"),
            v("v4", false, "2022-01-01T00:00:00Z"),
        ];
        assert_eq!(oldest_non_default(&versions).as_deref(), Some("v2"));
        assert_eq!(oldest_non_default(&versions[..1]), None);
    }

    #[test]
    fn pruning_never_picks_the_default_version_id_even_when_unflagged() {
        let v = |id: &str, d: bool| VersionInfo {
            id: id.into(),
            is_default: d,
            create_date: Some("2021-01-01T00:00:00Z".into()),
        };
        // DefaultVersionId is v1, but no version carries the flag (or v5 still does).
        let unflagged = [v("v1", false), v("v2", false), v("v3", false)];
        assert!(!flags_agree(&unflagged, Some("v1")));
        assert_eq!(
            prune_candidate(&unflagged, Some("v1")).as_deref(),
            Some("v2")
        );
        let stale_flag = [v("v1", false), v("v2", false), v("v5", true)];
        assert!(!flags_agree(&stale_flag, Some("v1")));
        assert_eq!(
            prune_candidate(&stale_flag, Some("v1")).as_deref(),
            Some("v2")
        );
        let agreeing = [v("v1", true), v("v2", false)];
        assert!(flags_agree(&agreeing, Some("v1")));
        assert_eq!(prune_candidate(&[v("v1", false)], Some("v1")), None);
    }

    #[test]
    fn documents_compare_as_json() {
        assert!(same_document(
            "{\"a\":1,\"b\":[1,2]}",
            "{ \"b\": [1, 2], \"a\": 1 }\n"
        ));
        assert!(!same_document("{\"a\":1}", "{\"a\":2}"));
    }
}
