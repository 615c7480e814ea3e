//! Offline evaluation of IAM identity policies and the "effect diff" between two documents (§5).
//!
//! # Evaluation logic
//! The evaluator follows AWS's published policy evaluation logic (IAM User Guide, "Policy evaluation
//! logic", <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>,
//! and its section "Determining whether a request is allowed or denied within an account",
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html>),
//! restricted to a single identity-based policy: every request starts implicitly denied; a statement
//! applies when its `Action`/`NotAction`, `Resource`/`NotResource` and every `Condition` clause match;
//! an applicable `Deny` is final (explicit deny); otherwise an applicable `Allow` allows; otherwise the
//! request stays implicitly denied. SCPs, permissions boundaries, session and resource policies are out
//! of scope: the question is what *this document* contributes.
//!
//! Matching follows "IAM JSON policy elements" and "Condition operators": actions are matched
//! case-insensitively, resources case-sensitively (ARNs component by component), both with `*`/`?`;
//! `${aws:username}` (and the `${*}`, `${?}`, `${$}` escapes) are resolved in `Version: 2012-10-17`
//! documents only; condition operator names and keys are case-insensitive; values of a key are ORed,
//! keys and operators are ANDed; a key missing from the request fails the condition except for
//! `…IfExists`, `Null`, the negated operators and `ForAllValues:`.
//!
//! Anything the evaluator does not model (another condition operator or key, a malformed statement)
//! makes the statement's applicability *unknown*. Unknowns propagate the way AWS logic would under each
//! resolution: a possibly-applicable Deny turns an otherwise allowed request into [`Decision::Unknown`],
//! a possibly-applicable Allow turns an implicit deny into `Unknown`, and an applicable Deny still wins
//! over everything. Every `Unknown` carries reasons. Nothing here panics on any JSON.
//!
//! # Universe and views
//! [`effect_diff`] compares two documents over a finite universe ([`universe_for`]): every IAM and STS
//! action (from the AWS SDK service models, see `iam_sts_actions.txt`), a fixed sample of other
//! services and every action either document names; × five resources ([`ResourceKind`]: own user,
//! another user, own MFA device, another (free-form named) MFA device, `*`); × four contexts
//! ([`Context`]: MFA present, MFA absent, MFA key missing as with long-term access keys, and a stale
//! MFA session for age guards); × two
//! [`View`]s: the document alone (what it grants), and the document beside an allow-everything policy
//! (what its Deny statements, the MFA guard, take away from whatever else the user has).

mod diff;
pub mod invariant;
mod pattern;
mod policy;
mod universe;
// issue 13: the plain-language summary of a change
pub mod summary;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use diff::{
    effect_diff, effect_diff_and_plain, effect_table, summarize, unexercised, unexplained,
    ActionScope, DeclaredEffect, Direction, EffectDiff, EffectRow, TableRow,
};
pub use universe::{
    iam_sts_actions, resource_arn, universe_for, Universe, ACTIONS_SOURCE, OTHER_SERVICES_SAMPLE,
};

use policy::{Compiled, Mode, Possible};

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

    fn index(self) -> usize {
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

    fn mode(self) -> Mode {
        match self {
            View::Alone => Mode::Alone,
            View::BesideAllowAll => Mode::BesideAllowAll,
        }
    }
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

/// A document compiled for one user name, for evaluating many requests.
pub struct Evaluator {
    compiled: Compiled,
}

impl Evaluator {
    pub fn new(doc: &Value, username: &str) -> Evaluator {
        Evaluator {
            compiled: policy::compile(doc, username),
        }
    }

    /// Evaluates `action` on `resource` in `context`, in the given view.
    pub fn evaluate(
        &self,
        action: &str,
        resource: &str,
        context: Context,
        view: View,
    ) -> Evaluation {
        let action: Vec<char> = action.to_lowercase().chars().collect();
        let resource: Vec<char> = resource.chars().collect();
        let p = self
            .compiled
            .decide(&action, &resource, context, view.mode());
        let decision = p.decision();
        let unknown = if decision == Decision::Unknown {
            self.compiled
                .reasons(&action, &resource, context, view.mode())
        } else {
            Vec::new()
        };
        Evaluation {
            decision,
            unknown,
            possible: p.decisions(),
        }
    }

    /// See [`allows`].
    pub fn allows(&self, action: &str, resource: &str, context: Context) -> bool {
        let action: Vec<char> = action.to_lowercase().chars().collect();
        let resource: Vec<char> = resource.chars().collect();
        self.compiled
            .decide(&action, &resource, context, Mode::AllowsOnly)
            == Possible(Possible::ALLOWED)
    }
}

/// Evaluates one request against `doc` on its own (AWS evaluation logic for a single identity policy).
pub fn evaluate(doc: &Value, req: &Request) -> Evaluation {
    Evaluator::new(doc, req.username).evaluate(req.action, req.resource, req.context, View::Alone)
}

/// True when the document's Allow statements alone (ignoring every Deny) allow `action` on `resource` in
/// `context`. The migration engine uses this to decide "is this action already granted" by evaluation,
/// not text. An Allow that only *might* apply (unknown condition) does not count: the grant is then
/// added explicitly, which is the safe side.
pub fn allows(doc: &Value, action: &str, resource: &str, context: Context, username: &str) -> bool {
    Evaluator::new(doc, username).allows(action, resource, context)
}
