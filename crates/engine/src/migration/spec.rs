//! The migration file format (`migrations/NNNN_snake_case.toml`), parsed strictly: unknown
//! fields and unknown ops are load errors, so a typo can never silently weaken a migration.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub id: String,
    pub name: String,
    pub title: String,
    pub since: String,
    pub severity: String,
    pub why: String,
    pub sources: Vec<String>,
    #[serde(rename = "op")]
    pub ops: Vec<Op>,
    #[serde(rename = "effect", default)]
    pub effects: Vec<EffectSpec>,
}

/// The closed list of operations a migration may perform.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Op {
    /// Move `key` of the guard's condition from operator `from` to operator `to`.
    GuardConditionOperator(GuardConditionOperator),
    /// The same move in every targeted MFA requirement (a `Deny` of specific actions without
    /// MFA, which is not a guard): nothing else in those statements changes. Needs no guard.
    TargetedConditionOperator(GuardConditionOperator),
    /// An inverted guard (`Deny` + `Action: [enrolment actions]`) becomes `NotAction`, keeping
    /// only the listed actions that are in `exempt_only` (or chosen by the operator).
    GuardActionToNotAction(GuardActionToNotAction),
    /// A guard with `Action: "*"` becomes `NotAction: exempt` (plus the operator's choices).
    GuardDenyAllToNotAction(GuardDenyAllToNotAction),
    /// The guard's `Resource` becomes `*`.
    GuardResourceAll(Empty),
    /// Exemptions with wildcards covering these services are replaced by the members of `with`
    /// they covered.
    ReplaceWildcardExemptions(ReplaceWildcardExemptions),
    /// These actions leave the exemptions (unless an option allows them before MFA).
    RemoveExemptions(ActionList),
    /// These actions are exempt.
    EnsureExemptions(ActionList),
    /// Where the policy has Allow statements, these grants hold (decided by evaluation).
    EnsureGrants(EnsureGrants),
    /// A grant of `action` on the IAM resource `from` is widened to `to` (split out when the
    /// statement grants other actions).
    WidenGrantResource(WidenGrantResource),
    /// `add` joins an Allow statement that grants at least `min` of `beside` on the user's own
    /// ARN, unless the policy already grants it there (decided by evaluation).
    ExtendGrant(ExtendGrant),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardActionToNotAction {
    pub exempt_only: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardDenyAllToNotAction {
    pub exempt: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendGrant {
    pub add: String,
    pub beside: Vec<String>,
    pub min: usize,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardConditionOperator {
    pub key: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceWildcardExemptions {
    pub services: Vec<String>,
    pub with: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionList {
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsureGrants {
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub action: String,
    pub resource: GrantResource,
}

/// Where an ensured grant applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GrantResource {
    /// `arn:P:iam::A:user/${aws:username}`
    User,
    /// `arn:P:iam::A:mfa/*`
    MfaAny,
    /// `*`
    All,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidenGrantResource {
    pub action: String,
    pub from: String,
    pub to: String,
}

/// A declared effect as written in the file; `actions = "touched"` is resolved per document
/// to what the migration's ops actually changed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EffectSpec {
    pub direction: crate::effect::Direction,
    #[serde(default)]
    pub contexts: Vec<crate::effect::Context>,
    pub actions: ActionsSpec,
    #[serde(default)]
    pub resources: Vec<crate::effect::ResourceKind>,
    #[serde(default)]
    pub views: Vec<crate::effect::View>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ActionsSpec {
    /// `"all"` or `"touched"`.
    Keyword(ActionsKeyword),
    /// Explicit action patterns.
    List(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionsKeyword {
    All,
    Touched,
}
