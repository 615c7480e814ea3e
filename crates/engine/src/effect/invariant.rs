//! The absolute safety invariant: a rewrite is never less safe than the document it replaces.
//!
//! The declared-effect check ([`super::unexplained`]) is relative: it proves that a rewrite does what
//! its migrations say. A declaration can itself open access (a migration that flips a targeted deny
//! into exemptions declares exactly the access it opens), so that check alone cannot make the tool
//! safe. This one does not read any declaration. Whatever the migrations and options say:
//!
//! - with no MFA (`aws:MultiFactorAuthPresent` false, or the key missing as with long-term access
//!   keys), and, where the original document limits the MFA session's age, with a stale MFA
//!   session, no action outside [`ENROLMENT`] and the operator's chosen exemptions may gain access,
//!   in either view (the document alone, or beside an allow-everything policy);
//! - an age limit on `aws:MultiFactorAuthAge` in a Deny is never dropped.
//!
//! The enrolment set is written here, in code, on purpose: it is not read from the migration files,
//! so that an edited or mistaken migration cannot widen what this check lets through.

use serde_json::Value;

use super::diff::{resolutions, summarize, EffectDiff, EffectRow};
use super::request::{Context, Decision};
use crate::policy;

/// What a user must be able to do before MFA to enrol a device and get an MFA session (AWS, "IAM:
/// Allows IAM users to self-manage an MFA device" and "…manage their own credentials on the Security
/// credentials page", both as of 2023-11). Nothing else is ever opened before MFA by default.
pub const ENROLMENT: [&str; 7] = [
    "iam:CreateVirtualMFADevice",
    "iam:EnableMFADevice",
    "iam:GetUser",
    "iam:ListMFADevices",
    "iam:ListVirtualMFADevices",
    "iam:ResyncMFADevice",
    "sts:GetSessionToken",
];

/// True when `action` (a concrete action name) is one of [`ENROLMENT`].
pub fn is_enrolment(action: &str) -> bool {
    ENROLMENT.iter().any(|e| e.eq_ignore_ascii_case(action))
}

/// A violation of the invariant, for the plan's `blocked` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Rows that gain (or may gain) access in a context without a fresh MFA session.
    Opens(Vec<EffectRow>),
    /// Age limits of the original that the rewrite no longer has (`operator value`).
    AgeLimitDropped(Vec<String>),
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::Opens(rows) => {
                let refs: Vec<&EffectRow> = rows.iter().collect();
                write!(
                    f,
                    "never less safe: this rewrite would open access before MFA beyond enrolment and the chosen --allow-before-mfa options: {}",
                    summarize(&refs).join("; ")
                )
            }
            Violation::AgeLimitDropped(limits) => write!(
                f,
                "never less safe: this rewrite would drop the MFA age limit ({}) of the original",
                limits.join(", ")
            ),
        }
    }
}

/// Could this row's cell be allowed after, where it was not certainly allowed before?
fn may_open(row: &EffectRow) -> bool {
    let before = resolutions(row.before, &row.before_possible);
    let after = resolutions(row.after, &row.after_possible);
    after.contains(&Decision::Allowed) && before.iter().any(|b| *b != Decision::Allowed)
}

/// The age limits (`aws:MultiFactorAuthAge` under a `Numeric…` operator) of a document's Deny
/// statements, as `operator value` with the operator's case and `IfExists` suffix folded, so
/// that `NumericGreaterThan` → `NumericGreaterThanIfExists` keeps the limit.
pub fn age_limits(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for st in policy::statements(doc) {
        if policy::effect(st).as_deref() != Some("deny") {
            continue;
        }
        let Some(Value::Object(ops)) = st.get("Condition") else {
            continue;
        };
        for (op, block) in ops {
            let op_l = op.to_ascii_lowercase();
            if !op_l.starts_with("numeric") {
                continue;
            }
            let Some(block) = block.as_object() else {
                continue;
            };
            for (key, value) in block {
                if !key.eq_ignore_ascii_case("aws:MultiFactorAuthAge") {
                    continue;
                }
                let base = op_l.trim_end_matches("ifexists");
                let values: Vec<String> = match value {
                    Value::Array(items) => items.iter().map(scalar).collect(),
                    v => vec![scalar(v)],
                };
                for v in values {
                    let limit = format!("{base} {v}");
                    if !out.contains(&limit) {
                        out.push(limit);
                    }
                }
            }
        }
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    }
}

/// Check the invariant for a rewrite of `before` into `after`, whose effect diff is `diff`.
/// `allowed` holds the actions the operator chose to exempt (`--allow-before-mfa`). Empty = safe.
pub fn check(
    before: &Value,
    after: &Value,
    diff: &EffectDiff,
    allowed: &[String],
) -> Vec<Violation> {
    let mut out = Vec::new();
    let before_limits = age_limits(before);
    let contexts: Vec<Context> = if before_limits.is_empty() {
        Context::WITHOUT_MFA.to_vec()
    } else {
        let mut c = Context::WITHOUT_MFA.to_vec();
        c.push(Context::MfaStale);
        c
    };
    let opens: Vec<EffectRow> = diff
        .rows
        .iter()
        .filter(|r| contexts.contains(&r.context))
        .filter(|r| !is_enrolment(&r.action))
        .filter(|r| !allowed.iter().any(|a| a.eq_ignore_ascii_case(&r.action)))
        .filter(|r| may_open(r))
        .cloned()
        .collect();
    if !opens.is_empty() {
        out.push(Violation::Opens(opens));
    }
    let after_limits = age_limits(after);
    let dropped: Vec<String> = before_limits
        .into_iter()
        .filter(|l| !after_limits.contains(l))
        .collect();
    if !dropped.is_empty() {
        out.push(Violation::AgeLimitDropped(dropped));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effect::effect_diff;
    use serde_json::json;

    fn guard(not_action: Value, cond: Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "NotAction": not_action, "Resource": "*", "Condition": cond}
        ]})
    }

    fn no_mfa() -> Value {
        json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})
    }

    #[test]
    fn opening_enrolment_is_allowed_and_anything_else_is_not() {
        let before = guard(json!(["iam:GetUser"]), no_mfa());
        let enrol = guard(json!(["iam:GetUser", "iam:EnableMFADevice"]), no_mfa());
        let d = effect_diff(&before, &enrol);
        assert!(check(&before, &enrol, &d, &[]).is_empty());

        let open = guard(json!(["iam:GetUser", "sts:AssumeRole"]), no_mfa());
        let d = effect_diff(&before, &open);
        let v = check(&before, &open, &d, &[]);
        assert_eq!(v.len(), 1, "{v:?}");
        let text = v[0].to_string();
        assert!(text.contains("sts:AssumeRole"), "{text}");
        assert!(text.contains("mfa-absent"), "{text}");
        // The operator may choose an exemption, and only that one.
        assert!(check(&before, &open, &d, &["sts:AssumeRole".into()]).is_empty());
        assert!(!check(&before, &open, &d, &["iam:ChangePassword".into()]).is_empty());
    }

    #[test]
    fn restricting_is_always_allowed() {
        let before = guard(json!(["iam:*"]), no_mfa());
        let after = guard(json!(["iam:GetUser"]), no_mfa());
        let d = effect_diff(&before, &after);
        assert!(!d.rows.is_empty());
        assert!(check(&before, &after, &d, &[]).is_empty());
    }

    #[test]
    fn stale_sessions_count_only_for_age_guards_and_age_limits_stay() {
        let age = json!({"NumericGreaterThanIfExists": {"aws:MultiFactorAuthAge": "3600"}});
        let before = guard(json!(["iam:GetUser"]), age.clone());
        let opened = guard(json!(["iam:GetUser", "s3:GetObject"]), age);
        let d = effect_diff(&before, &opened);
        let v = check(&before, &opened, &d, &[]);
        assert!(
            v.iter().any(|x| x.to_string().contains("mfa-stale")),
            "{v:?}"
        );

        let dropped = guard(json!(["iam:GetUser"]), no_mfa());
        let d = effect_diff(&before, &dropped);
        let v = check(&before, &dropped, &d, &[]);
        assert!(
            v.iter()
                .any(|x| matches!(x, Violation::AgeLimitDropped(l) if l == &["numericgreaterthan 3600".to_string()])),
            "{v:?}"
        );
    }

    #[test]
    fn age_limits_fold_if_exists_and_case() {
        let a = guard(
            json!("iam:GetUser"),
            json!({"numericGreaterThan": {"aws:multifactorauthage": 3600}}),
        );
        let b = guard(
            json!("iam:GetUser"),
            json!({"NumericGreaterThanIfExists": {"aws:MultiFactorAuthAge": "3600"}}),
        );
        assert_eq!(age_limits(&a), age_limits(&b));
        assert_eq!(age_limits(&a), vec!["numericgreaterthan 3600".to_string()]);
    }

    #[test]
    fn stale_sessions_are_fresh_ones_unless_the_policy_tests_the_age() {
        use crate::effect::{effect_table, Context};
        let same = |doc: &Value| {
            let table = effect_table(doc);
            table
                .iter()
                .filter(|r| r.context == Context::MfaStale)
                .all(|stale| {
                    table.iter().any(|p| {
                        p.context == Context::MfaPresent
                            && p.action == stale.action
                            && p.resource == stale.resource
                            && p.view == stale.view
                            && p.decision == stale.decision
                    })
                })
        };
        assert!(same(&guard(json!(["iam:GetUser"]), no_mfa())));
        let age = json!({"NumericGreaterThanIfExists": {"aws:MultiFactorAuthAge": "3600"}});
        assert!(!same(&guard(json!(["iam:GetUser"]), age)));
    }
}
