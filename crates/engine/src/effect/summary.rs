//! The plain-language summary of a change, for an operator who has ten seconds: what a user could
//! do before MFA, what long-term access keys without MFA could do, and whether access with MFA
//! changes, each before and after.
//!
//! Derived from the effect diff, never from which migrations ran: the surfaces are the cells of the
//! "beside an allow-everything policy" view (what the guard lets through whatever else the user
//! has) in which an action is allowed on at least one resource, both sides read from the same
//! evaluation that produced the diff. Actions are then described in the
//! operator's words by what they do (enrol an MFA device, list every user name, manage access
//! keys, grant themselves permissions, …), a family at a time, so that any policy gets a summary,
//! including ones no migration was written for.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use super::diff::{slot, EffectDiff, Pair};
use super::request::{Context, Decision, ResourceKind, View};

/// What one kind of request could do, before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct SurfaceChange {
    pub before: Surface,
    pub after: Surface,
}

/// A set of allowed actions, counted and described.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Surface {
    /// Actions allowed on at least one resource.
    pub allowed: usize,
    /// Actions evaluated.
    pub of: usize,
    /// Actions whose decision the evaluator could not settle (and that are not allowed elsewhere).
    pub unknown: usize,
    /// The allowed actions in the operator's words, e.g. "enrol an MFA device".
    pub phrases: Vec<String>,
}

/// The plain-language summary of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Plain {
    /// The lines shown first in a text plan.
    pub lines: Vec<String>,
    /// Console sign-in or temporary credentials without MFA (`mfa-absent`).
    pub before_mfa: SurfaceChange,
    /// Requests signed with long-term access keys, which carry no MFA key (`mfa-key-missing`).
    pub long_term_keys: SurfaceChange,
    /// Actions whose decision with MFA changes, in the policy-alone view.
    pub with_mfa_changed: usize,
}

/// The enrolment set (the one the never-less-safe check uses), lowercase like the sets here.
fn enrolment() -> Vec<String> {
    super::invariant::ENROLMENT
        .iter()
        .map(|a| a.to_ascii_lowercase())
        .collect()
}

/// Families of actions, in the order they are told; the first that matches an action takes it.
/// Patterns are lower-case IAM wildcards over `service:action`.
const FAMILIES: &[(&str, &[&str])] = &[
    ("list every user name", &["iam:listusers"]),
    (
        "see account details",
        &["iam:listaccountaliases", "iam:getaccountsummary"],
    ),
    (
        "remove MFA devices",
        &["iam:deactivatemfadevice", "iam:deletevirtualmfadevice"],
    ),
    (
        "change their password",
        &["iam:changepassword", "iam:getaccountpasswordpolicy"],
    ),
    ("manage console passwords", &["iam:*loginprofile"]),
    (
        "manage access keys and other credentials",
        &[
            "iam:*accesskey*",
            "iam:*sshpublickey*",
            "iam:*servicespecificcredential*",
            "iam:*signingcertificate*",
        ],
    ),
    (
        "grant themselves more permissions",
        &[
            "iam:attach*policy",
            "iam:put*policy",
            "iam:createpolicy",
            "iam:createpolicyversion",
            "iam:setdefaultpolicyversion",
            "iam:createuser",
            "iam:addusertogroup",
            "iam:passrole",
            "iam:createrole",
            "iam:updateassumerolepolicy",
        ],
    ),
    ("assume roles", &["sts:assumerole*"]),
    ("read other IAM information", &["iam:get*", "iam:list*"]),
    ("change other IAM settings", &["iam:*"]),
    ("use other STS actions", &["sts:*"]),
];

/// How IAM spells an action we hold in lower case: `iam:listusers` → `iam:ListUsers`, using the
/// universe's own list when it has the action.
fn original(lower: &str) -> String {
    super::universe::iam_sts_actions()
        .iter()
        .find(|a| a.eq_ignore_ascii_case(lower))
        .cloned()
        .unwrap_or_else(|| lower.to_string())
}

fn matches(pattern: &str, action: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == action,
        Some((head, rest)) => {
            if !action.starts_with(head) {
                return false;
            }
            let tail = &action[head.len()..];
            if rest.is_empty() {
                return true;
            }
            // One more `*` at most in these patterns: `a*b*` or `a*b`.
            match rest.split_once('*') {
                None => tail.ends_with(rest),
                Some((mid, "")) => tail.contains(mid),
                Some((mid, end)) => tail
                    .find(mid)
                    .is_some_and(|i| tail[i + mid.len()..].ends_with(end)),
            }
        }
    }
}

/// Describes a set of allowed actions (lower case) out of `universe` (lower case).
fn describe(allowed: &BTreeSet<String>, universe: &[String]) -> Vec<String> {
    if allowed.is_empty() {
        return Vec::new();
    }
    if allowed.len() == universe.len() {
        return vec![format!(
            "do everything (all {} actions evaluated)",
            universe.len()
        )];
    }
    // Nearly everything reads better as what is missing.
    if allowed.len() * 10 >= universe.len() * 9 {
        let missing: BTreeSet<String> = universe
            .iter()
            .filter(|a| !allowed.contains(*a))
            .cloned()
            .collect();
        return vec![format!(
            "do everything ({} of {} actions evaluated) except {}",
            allowed.len(),
            universe.len(),
            join(&describe_some(&missing, universe))
        )];
    }
    describe_some(allowed, universe)
}

/// [`describe`] by families, for a set that is neither empty nor nearly everything.
fn describe_some(allowed: &BTreeSet<String>, universe: &[String]) -> Vec<String> {
    let mut phrases = Vec::new();
    let enrolment = enrolment();
    let enrol: Vec<&str> = enrolment
        .iter()
        .map(String::as_str)
        .filter(|a| allowed.contains(*a))
        .collect();
    let iam_all = universe.iter().filter(|a| a.starts_with("iam:")).count();
    let iam_allowed = allowed.iter().filter(|a| a.starts_with("iam:")).count();
    let rest: Vec<&String> = allowed.iter().filter(|a| !enrolment.contains(a)).collect();
    let mut told: BTreeSet<&str> = BTreeSet::new();
    let all_iam = iam_all > 0 && iam_allowed == iam_all;
    if all_iam {
        if allowed.contains("iam:listusers") {
            phrases.push("list every user name".to_string());
        }
        phrases.push(format!("manage all of IAM ({iam_all} actions)"));
        told.extend(
            rest.iter()
                .filter(|a| a.starts_with("iam:"))
                .map(|a| a.as_str()),
        );
    }
    for (phrase, patterns) in FAMILIES {
        let members: Vec<&str> = rest
            .iter()
            .map(|a| a.as_str())
            .filter(|a| !told.contains(a))
            .filter(|a| patterns.iter().any(|p| matches(p, a)))
            .collect();
        if members.is_empty() {
            continue;
        }
        told.extend(members.iter().copied());
        phrases.push(match members.as_slice() {
            [one] if one.ends_with(&phrase.replace(' ', "")) => phrase.to_string(),
            [_] | [_, _] if *phrase != "list every user name" => {
                format!(
                    "{phrase} ({})",
                    members
                        .iter()
                        .map(|a| original(a))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
            _ if members.len() > 2 => format!("{phrase} ({} actions)", members.len()),
            _ => phrase.to_string(),
        });
    }
    let others: BTreeSet<&str> = rest
        .iter()
        .map(|a| a.as_str())
        .filter(|a| !told.contains(a))
        .collect();
    if !others.is_empty() {
        let services: BTreeSet<&str> = others
            .iter()
            .map(|a| a.split_once(':').map_or(*a, |(s, _)| s))
            .collect();
        let shown: Vec<&str> = services.iter().take(3).copied().collect();
        let more = if services.len() > 3 { ", …" } else { "" };
        phrases.push(format!(
            "use other AWS services ({} actions: {}{more})",
            others.len(),
            shown.join(", ")
        ));
    }
    match enrol.len() {
        0 => {}
        // "manage all of IAM" says it already; sts:GetSessionToken alone is no enrolment.
        _ if all_iam => {}
        n if n == enrolment.len() => phrases.push("enrol an MFA device".into()),
        n => phrases.push(format!(
            "take {n} of the {} MFA enrolment steps",
            enrolment.len()
        )),
    }
    phrases
}

/// "a, b and c"
fn join(phrases: &[String]) -> String {
    match phrases {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn unknown_note(s: &Surface) -> String {
    if s.unknown > 0 {
        format!(" ({} actions could not be evaluated)", s.unknown)
    } else {
        String::new()
    }
}

/// One sentence: "{who} could …; now they can only …".
fn sentence(
    who: &str,
    change: &SurfaceChange,
    before: &BTreeSet<String>,
    after: &BTreeSet<String>,
) -> String {
    let (b, a) = (&change.before, &change.after);
    let can = |s: &Surface| {
        if s.phrases.is_empty() {
            "do nothing".to_string()
        } else {
            join(&s.phrases)
        }
    };
    if before == after {
        return format!("{who} can {} (unchanged){}.", can(a), unknown_note(a));
    }
    let now = if a.phrases.is_empty() {
        "now nothing is allowed".to_string()
    } else if !before.is_subset(after) {
        // Something was taken away: what is left is all they can do.
        format!("now they can only {}", can(a))
    } else {
        format!("now they can {}", can(a))
    };
    format!(
        "{who} could {}{}; {now}{}.",
        can(b),
        unknown_note(b),
        unknown_note(a)
    )
}

/// Names a few actions as written, or describes many.
fn name_or_describe(
    actions: &BTreeSet<String>,
    original: &BTreeSet<&str>,
    universe: &[String],
) -> String {
    if original.len() <= 4 {
        original.iter().copied().collect::<Vec<_>>().join(", ")
    } else {
        join(&describe(actions, universe))
    }
}

/// The plain-language summary of a change, from both documents' evaluated cells and the effect
/// diff read from them (`effect_diff_and_plain` gives both).
/// [`effect_diff`](super::effect_diff) and the plain-language summary of the same change, from one
/// evaluation of both documents.
pub fn effect_diff_and_plain(before: &Value, after: &Value) -> (EffectDiff, Plain) {
    let pair = Pair::new(before, after);
    let diff = pair.diff();
    let plain = plain_from(&pair, &diff);
    (diff, plain)
}

pub(super) fn plain_from(pair: &Pair, diff: &EffectDiff) -> Plain {
    let universe = &pair.grid.universe;
    let lower: Vec<String> = universe.actions.iter().map(|a| a.to_lowercase()).collect();
    // (allowed, unknown) sets before and after, for one context.
    let surfaces = |ctx: Context| {
        let (mut b_allowed, mut a_allowed) = (BTreeSet::new(), BTreeSet::new());
        let (mut b_unknown, mut a_unknown) = (0, 0);
        for (i, low) in lower.iter().enumerate() {
            let (mut b_any, mut a_any, mut b_unk, mut a_unk) = (false, false, false, false);
            let (before, after) = (pair.before.block(i), pair.after.block(i));
            for kind in ResourceKind::ALL {
                let k = slot(kind, ctx, View::BesideAllowAll);
                let (b, a) = (before[k].decision(), after[k].decision());
                a_any |= a == Decision::Allowed;
                b_any |= b == Decision::Allowed;
                a_unk |= a == Decision::Unknown;
                b_unk |= b == Decision::Unknown;
            }
            if a_any {
                a_allowed.insert(low.clone());
            } else if a_unk {
                a_unknown += 1;
            }
            if b_any {
                b_allowed.insert(low.clone());
            } else if b_unk {
                b_unknown += 1;
            }
        }
        let surface = |allowed: &BTreeSet<String>, unknown| Surface {
            allowed: allowed.len(),
            of: lower.len(),
            unknown,
            phrases: describe(allowed, &lower),
        };
        let change = SurfaceChange {
            before: surface(&b_allowed, b_unknown),
            after: surface(&a_allowed, a_unknown),
        };
        (change, b_allowed, a_allowed)
    };
    let (before_mfa, b1, a1) = surfaces(Context::MfaAbsent);
    let (long_term_keys, b2, a2) = surfaces(Context::MfaKeyMissing);

    let with_mfa: BTreeSet<&str> = diff
        .rows
        .iter()
        .filter(|r| r.context == Context::MfaPresent && r.view == View::Alone)
        .map(|r| r.action.as_str())
        .collect();
    let mut lines = vec![
        sentence("Before MFA, a user", &before_mfa, &b1, &a1),
        sentence(
            "Long-term access keys without MFA",
            &long_term_keys,
            &b2,
            &a2,
        ),
    ];
    lines.push(if with_mfa.is_empty() {
        "With MFA: what the policy grants does not change.".to_string()
    } else {
        let pick = |side: fn(&super::diff::EffectRow) -> Decision| -> BTreeSet<&str> {
            diff.rows
                .iter()
                .filter(|r| {
                    r.context == Context::MfaPresent
                        && r.view == View::Alone
                        && side(r) == Decision::Allowed
                })
                .map(|r| r.action.as_str())
                .collect()
        };
        let granted = pick(|r| r.after);
        let removed = pick(|r| r.before);
        let low = |s: &BTreeSet<&str>| {
            s.iter()
                .map(|a| a.to_lowercase())
                .collect::<BTreeSet<String>>()
        };
        let mut parts = Vec::new();
        if !granted.is_empty() {
            parts.push(format!(
                "it now also grants {}",
                name_or_describe(&low(&granted), &granted, &lower)
            ));
        }
        if !removed.is_empty() {
            parts.push(format!(
                "it no longer grants {}",
                name_or_describe(&low(&removed), &removed, &lower)
            ));
        }
        if parts.is_empty() {
            parts.push(format!(
                "{} actions change in ways the evaluator could not settle",
                with_mfa.len()
            ));
        }
        format!("With MFA: {} (on some resources).", parts.join("; "))
    });
    Plain {
        lines,
        before_mfa,
        long_term_keys,
        with_mfa_changed: with_mfa.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effect::effect_diff_and_plain;
    use serde_json::{json, Value};

    fn guard(condition: Value, exempt: &[&str]) -> Value {
        json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "NotAction": exempt, "Resource": "*", "Condition": condition
        }]})
    }

    #[test]
    fn wildcards_match_like_iam() {
        assert!(matches("iam:*loginprofile", "iam:createloginprofile"));
        assert!(matches("iam:*accesskey*", "iam:listaccesskeys"));
        assert!(matches("sts:assumerole*", "sts:assumerolewithsaml"));
        assert!(matches("iam:attach*policy", "iam:attachuserpolicy"));
        assert!(!matches("iam:attach*policy", "iam:attachuserpolicies"));
        assert!(!matches("iam:listusers", "iam:listuserstags"));
    }

    #[test]
    fn iam_star_before_mfa_becomes_enrolment_only() {
        let bool_false = json!({"Bool": {"aws:MultiFactorAuthPresent": "false"}});
        let if_exists = json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}});
        let before = guard(bool_false, &["iam:*", "sts:GetSessionToken"]);
        let enrol: Vec<&str> = crate::effect::invariant::ENROLMENT.to_vec();
        let after = guard(if_exists, &enrol);
        let (_, p) = effect_diff_and_plain(&before, &after);
        assert!(
            p.lines[0].contains("list every user name"),
            "{}",
            p.lines[0]
        );
        assert!(p.lines[0].contains("manage all of IAM"), "{}", p.lines[0]);
        assert!(
            p.lines[0].contains("now they can only enrol an MFA device"),
            "{}",
            p.lines[0]
        );
        assert!(p.lines[1].contains("could do everything"), "{}", p.lines[1]);
        assert!(
            p.lines[1].contains("only enrol an MFA device"),
            "{}",
            p.lines[1]
        );
        assert_eq!(p.long_term_keys.after.allowed, 7);
        assert_eq!(p.long_term_keys.before.allowed, p.long_term_keys.before.of);
        assert_eq!(p.with_mfa_changed, 0);
        assert!(p.lines[2].contains("does not change"));
    }

    #[test]
    fn no_change_says_unchanged() {
        let doc = guard(
            json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}),
            &["iam:ChangePassword"],
        );
        let (_, p) = effect_diff_and_plain(&doc, &doc);
        assert_eq!(
            p.lines[0],
            "Before MFA, a user can change their password (iam:ChangePassword) (unchanged)."
        );
    }

    #[test]
    fn growth_is_not_called_only() {
        let c = json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}});
        let before = guard(c.clone(), &["iam:GetUser"]);
        let after = guard(c, &["iam:GetUser", "iam:ListUsers"]);
        let (_, p) = effect_diff_and_plain(&before, &after);
        assert!(
            p.lines[0].contains("now they can list every user name"),
            "{}",
            p.lines[0]
        );
        assert!(!p.lines[0].contains("only"), "{}", p.lines[0]);
    }
}
