//! What one request is and what it can come to: the MFA situation ([`Context`]), the resource
//! ([`ResourceKind`]), how a document is viewed ([`View`]) and the [`Decision`]. Every other part
//! of the evaluator speaks these terms, so they depend on nothing else here.

use serde::{Deserialize, Serialize};

/// The MFA situation of a request.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Context {
    /// `aws:MultiFactorAuthPresent` = `true`, `aws:MultiFactorAuthAge` = `120`.
    MfaPresent,
    /// `aws:MultiFactorAuthPresent` = `false`, no `aws:MultiFactorAuthAge` (console sign-in or temporary
    /// credentials without MFA).
    MfaAbsent,
    /// Neither key (requests signed with long-term access keys).
    MfaKeyMissing,
    /// `aws:MultiFactorAuthPresent` = `true`, `aws:MultiFactorAuthAge` far beyond any session
    /// length ([`STALE_MFA_AGE`]): an MFA session older than an age guard allows.
    MfaStale,
}

/// The `aws:MultiFactorAuthAge` of [`Context::MfaStale`], in seconds: above any age limit a
/// policy can usefully set (sessions last at most 36 hours).
pub const STALE_MFA_AGE: &str = "1000000000";

impl Context {
    pub const ALL: [Context; 4] = [
        Context::MfaPresent,
        Context::MfaAbsent,
        Context::MfaKeyMissing,
        Context::MfaStale,
    ];

    /// The contexts in which a request carries no MFA at all.
    pub const WITHOUT_MFA: [Context; 2] = [Context::MfaAbsent, Context::MfaKeyMissing];

    pub(super) fn index(self) -> usize {
        self as usize
    }

    /// The kebab-case name used in JSON and reports.
    pub fn name(self) -> &'static str {
        match self {
            Context::MfaPresent => "mfa-present",
            Context::MfaAbsent => "mfa-absent",
            Context::MfaKeyMissing => "mfa-key-missing",
            Context::MfaStale => "mfa-stale",
        }
    }
}

/// The resource a request targets (see [`resource_arn`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    /// `arn:{p}:iam::{acct}:user/{username}`
    OwnUser,
    /// `arn:{p}:iam::{acct}:user/{another user}`
    OtherUser,
    /// `arn:{p}:iam::{acct}:mfa/{username}`
    OwnMfaDevice,
    /// `arn:{p}:iam::{acct}:mfa/{a free-form device name}`
    OtherMfaDevice,
    /// `*` (actions without resource-level permissions, such as `iam:ListUsers`)
    Any,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 5] = [
        ResourceKind::OwnUser,
        ResourceKind::OtherUser,
        ResourceKind::OwnMfaDevice,
        ResourceKind::OtherMfaDevice,
        ResourceKind::Any,
    ];

    /// Human-readable label for summaries.
    pub fn label(self) -> &'static str {
        match self {
            ResourceKind::OwnUser => "own user",
            ResourceKind::OtherUser => "other user",
            ResourceKind::OwnMfaDevice => "own MFA device",
            ResourceKind::OtherMfaDevice => "other MFA device",
            ResourceKind::Any => "\"*\"",
        }
    }
}

/// How a document is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum View {
    /// The document on its own: what it grants.
    Alone,
    /// The document plus a synthetic `Allow *` on `*`: what its Deny statements block.
    BesideAllowAll,
}

impl View {
    pub const ALL: [View; 2] = [View::Alone, View::BesideAllowAll];
}

/// Outcome of evaluating one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Allowed,
    ExplicitDeny,
    ImplicitDeny,
    /// Depends on something the evaluator does not model; see the reasons.
    Unknown,
}

impl Decision {
    /// Short label for summaries.
    pub fn label(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::ExplicitDeny => "denied",
            Decision::ImplicitDeny => "implicitly denied",
            Decision::Unknown => "unknown",
        }
    }
}

/// A request to evaluate.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub context: Context,
    /// The value of `${aws:username}` / `aws:username`.
    pub username: &'a str,
}

/// Result of [`evaluate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    pub decision: Decision,
    /// Why the decision is `Unknown` (empty otherwise).
    pub unknown: Vec<String>,
    /// The decisions the unknowns could resolve to (a single element unless `Unknown`).
    pub possible: Vec<Decision>,
}
