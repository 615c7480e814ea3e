//! Offline evaluation of IAM identity policies and the "effect diff" between two documents.
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

pub(crate) mod combine;
mod condition;
mod diff;
pub mod invariant;
mod pattern;
mod policy;
mod request;
/// What a change means, in an operator's words, read from the same evaluation as the diff rows.
pub mod summary;
mod universe;

use serde_json::Value;

pub use diff::{
    effect_diff, effect_table, summarize, unexercised, unexplained, ActionScope, DeclaredEffect,
    Direction, EffectDiff, EffectRow, TableRow,
};
pub use request::{Context, Decision, Evaluation, Request, ResourceKind, View, STALE_MFA_AGE};
pub use summary::effect_diff_and_plain;
pub use universe::{
    iam_sts_actions, resource_arn, universe_for, Universe, ACTIONS_SOURCE, OTHER_SERVICES_SAMPLE,
};

use policy::{Compiled, Mode, Possible};

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
            .decide(&action, &resource, context, Mode::of(view));
        let decision = p.decision();
        let unknown = if decision == Decision::Unknown {
            self.compiled
                .reasons(&action, &resource, context, Mode::of(view))
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
