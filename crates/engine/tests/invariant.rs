//! The never-less-safe invariant, tested against a second, independent evaluation.
//!
//! Policies are generated from the family force-MFA policies come in: guards of every shape (every
//! "no MFA" test, `NotAction` with random exemptions including wildcards and escalation actions,
//! the inverted `Action` form, `Action: "*"`), targeted MFA requirements, and unrelated grants.
//! For each rewrite forcemfa does not block, a small evaluator written here for exactly this
//! family (no code shared with the engine's evaluator) checks that nothing outside the enrolment
//! set and the chosen options becomes allowed without MFA, or with a stale MFA session where the
//! original limits its age.

use proptest::prelude::*;
use serde_json::{json, Value};

use forcemfa_engine::migration::{self, Migration, Options};
use forcemfa_engine::plan::{self, Input, Item, SizeLimit};
use forcemfa_engine::policy;
use forcemfa_engine::target::Target;

const ENROLMENT: [&str; 7] = [
    "iam:CreateVirtualMFADevice",
    "iam:EnableMFADevice",
    "iam:GetUser",
    "iam:ListMFADevices",
    "iam:ListVirtualMFADevices",
    "iam:ResyncMFADevice",
    "sts:GetSessionToken",
];

/// Actions the generated policies name, and the ones the independent check probes.
const POOL: &[&str] = &[
    "iam:CreateVirtualMFADevice",
    "iam:EnableMFADevice",
    "iam:GetUser",
    "iam:ListMFADevices",
    "iam:ListVirtualMFADevices",
    "iam:ResyncMFADevice",
    "sts:GetSessionToken",
    "iam:ListUsers",
    "iam:ChangePassword",
    "iam:GetAccountPasswordPolicy",
    "iam:CreateUser",
    "iam:AddUserToGroup",
    "iam:AttachUserPolicy",
    "iam:PutUserPolicy",
    "iam:CreateAccessKey",
    "iam:DeleteVirtualMFADevice",
    "iam:UpdateLoginProfile",
    "sts:AssumeRole",
    "s3:GetObject",
    "s3:PutObject",
    "ec2:RunInstances",
];

const PATTERNS: &[&str] = &["iam:*", "iam:List*", "iam:Get*", "s3:Get*", "sts:*"];

/// The request contexts without a fresh MFA session.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ctx {
    /// `aws:MultiFactorAuthPresent` false, no age.
    Absent,
    /// No MFA key at all (long-term access keys).
    Missing,
    /// MFA present, age far beyond any limit.
    Stale,
}

fn glob(pattern: &str, text: &str) -> bool {
    // Case-insensitive `*`/`?` matching, written out simply: the sizes here are tiny.
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

fn list(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
        ),
        _ => None,
    }
}

/// Does a generated condition hold in `ctx`? Only the operators the generator writes.
fn condition_holds(cond: Option<&Value>, ctx: Ctx) -> bool {
    let Some(Value::Object(ops)) = cond else {
        return true;
    };
    ops.iter().all(|(op, block)| {
        let Some(block) = block.as_object() else {
            return false;
        };
        block.iter().all(|(key, value)| {
            let v = match value {
                Value::String(s) => s.to_ascii_lowercase(),
                other => other.to_string(),
            };
            let op = op.to_ascii_lowercase();
            let if_exists = op.ends_with("ifexists");
            match key.to_ascii_lowercase().as_str() {
                "aws:multifactorauthpresent" => {
                    let present = match ctx {
                        Ctx::Absent => Some("false"),
                        Ctx::Missing => None,
                        Ctx::Stale => Some("true"),
                    };
                    match present {
                        None => if_exists,
                        Some(p) => {
                            if op.starts_with("null") {
                                v == "false"
                            } else {
                                p == v
                            }
                        }
                    }
                }
                "aws:multifactorauthage" => {
                    let age: Option<f64> = match ctx {
                        Ctx::Stale => Some(1e9),
                        _ => None,
                    };
                    if op.starts_with("null") {
                        return (v == "true") == age.is_none();
                    }
                    match age {
                        None => if_exists,
                        Some(a) => {
                            let limit: f64 = v.parse().unwrap_or(f64::MAX);
                            if op.starts_with("numericgreaterthanequals") {
                                a >= limit
                            } else if op.starts_with("numericgreaterthan") {
                                a > limit
                            } else {
                                false
                            }
                        }
                    }
                }
                _ => false,
            }
        })
    })
}

fn statement_applies(st: &Value, action: &str, ctx: Ctx) -> bool {
    let by_action = if let Some(a) = list(st.get("Action")) {
        a.iter().any(|p| glob(p, action))
    } else if let Some(n) = list(st.get("NotAction")) {
        !n.iter().any(|p| glob(p, action))
    } else {
        false
    };
    by_action && condition_holds(st.get("Condition"), ctx)
}

/// Allowed, beside an allow-everything policy (`beside`) or alone, for a request on `*`.
fn allowed(doc: &Value, action: &str, ctx: Ctx, beside: bool) -> bool {
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(s)) => s.iter().collect(),
        Some(s) => vec![s],
        None => Vec::new(),
    };
    let denied = statements.iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Deny") && statement_applies(s, action, ctx)
    });
    if denied {
        return false;
    }
    beside
        || statements.iter().any(|s| {
            s.get("Effect").and_then(Value::as_str) == Some("Allow")
                && statement_applies(s, action, ctx)
        })
}

fn has_age_limit(doc: &Value) -> bool {
    doc.to_string()
        .to_ascii_lowercase()
        .contains("numericgreaterthan")
}

/// Actions that became allowed without a fresh MFA session, outside enrolment and `chosen`.
fn opened(before: &Value, after: &Value, chosen: &[String]) -> Vec<String> {
    let mut ctxs = vec![Ctx::Absent, Ctx::Missing];
    if has_age_limit(before) {
        ctxs.push(Ctx::Stale);
    }
    let mut out = Vec::new();
    for action in POOL {
        if ENROLMENT.iter().any(|e| e.eq_ignore_ascii_case(action))
            || chosen.iter().any(|c| c.eq_ignore_ascii_case(action))
        {
            continue;
        }
        for &ctx in &ctxs {
            for beside in [false, true] {
                if allowed(after, action, ctx, beside) && !allowed(before, action, ctx, beside) {
                    out.push(format!("{action} {ctx:?} beside={beside}"));
                }
            }
        }
    }
    out
}

fn condition() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})),
        Just(json!({"Bool": {"aws:MultiFactorAuthPresent": "false"}})),
        Just(json!({"Bool": {"aws:MultiFactorAuthPresent": false}})),
        Just(json!({"StringEqualsIfExists": {"aws:MultiFactorAuthPresent": "false"}})),
        Just(json!({"Null": {"aws:MultiFactorAuthAge": "true"}})),
        Just(json!({"NumericGreaterThan": {"aws:MultiFactorAuthAge": "3600"}})),
        Just(json!({"NumericGreaterThanIfExists": {"aws:MultiFactorAuthAge": 43200}})),
    ]
}

fn actions(min: usize) -> impl Strategy<Value = Vec<String>> {
    let any = prop_oneof![
        4 => proptest::sample::select(POOL),
        1 => proptest::sample::select(PATTERNS),
    ];
    proptest::collection::vec(any, min..8).prop_map(|v| {
        let mut out: Vec<String> = Vec::new();
        for a in v {
            if !out.iter().any(|x| x == a) {
                out.push(a.to_string());
            }
        }
        out
    })
}

fn enrolment_subset() -> impl Strategy<Value = Vec<String>> {
    proptest::sample::subsequence(ENROLMENT.to_vec(), 1..=7)
        .prop_map(|v| v.into_iter().map(str::to_string).collect())
}

/// A guard of one of the shapes, with random exemptions.
fn guard() -> impl Strategy<Value = Value> {
    let not_action = (actions(0), enrolment_subset(), condition()).prop_map(|(mut a, e, c)| {
        a.extend(e);
        json!({"Effect": "Deny", "NotAction": a, "Resource": "*", "Condition": c})
    });
    let inverted = (enrolment_subset(), actions(0), condition()).prop_map(|(e, extra, c)| {
        let mut a = e;
        a.extend(extra.into_iter().filter(|x| !x.contains('*')));
        json!({"Effect": "Deny", "Action": a, "Resource": "*", "Condition": c})
    });
    let deny_all = condition()
        .prop_map(|c| json!({"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": c}));
    prop_oneof![4 => not_action, 2 => inverted, 1 => deny_all]
}

fn policy_doc() -> impl Strategy<Value = Value> {
    let targeted = proptest::option::of((actions(1), condition()).prop_map(
        |(a, c)| json!({"Effect": "Deny", "Action": a, "Resource": "*", "Condition": c}),
    ));
    let grant =
        proptest::option::of(actions(1).prop_map(
            |a| json!({"Sid": "Grants", "Effect": "Allow", "Action": a, "Resource": "*"}),
        ));
    (guard(), targeted, grant, any::<bool>()).prop_map(|(g, t, a, guard_first)| {
        let mut statements = Vec::new();
        if let Some(a) = a {
            statements.push(a);
        }
        if let Some(t) = t {
            statements.push(t);
        }
        if guard_first {
            statements.insert(0, g);
        } else {
            statements.push(g);
        }
        json!({"Version": "2012-10-17", "Statement": statements})
    })
}

fn options() -> impl Strategy<Value = Options> {
    prop_oneof![
        3 => Just(Vec::<String>::new()),
        1 => Just(vec!["password-change".to_string()]),
        1 => Just(vec!["iam:CreateUser".to_string()]),
        1 => Just(vec!["login-profile".to_string(), "mfa-device-cleanup".to_string()]),
    ]
    .prop_map(|names| Options::new(&names).unwrap_or_default())
}

fn plan_doc(doc: &Value, chain: &[Migration], options: &Options) -> Item {
    let text = serde_json::to_string_pretty(doc).unwrap_or_default();
    let input = Input::file(Target::file("generated.json"), text, SizeLimit::Managed);
    plan::plan_one(&input, chain, options)
}

/// The outcome, independent of Sids, statement order, layout and case.
fn outcome(item: &Item) -> String {
    match item {
        Item::Change(c) if c.is_blocked() => "blocked".into(),
        Item::Change(c) => {
            let mut ids: Vec<&str> = c.migrations.iter().map(|m| m.id.as_str()).collect();
            ids.sort_unstable();
            format!("changed {}", ids.join(","))
        }
        Item::Unchanged { .. } => "up to date".into(),
        Item::Skipped { .. } => "left alone".into(),
        Item::Error { .. } => "error".into(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn no_unblocked_rewrite_opens_anything_before_mfa(doc in policy_doc(), options in options()) {
        let chain = migration::default_chain().unwrap_or_default();
        if let Item::Change(c) = plan_doc(&doc, &chain, &options) {
            if !c.is_blocked() {
                let after = policy::parse(&c.after).map(|p| p.value).unwrap_or_default();
                let opened = opened(&doc, &after, &options.actions());
                prop_assert!(opened.is_empty(), "opened {opened:?}\nbefore {doc}\nafter {after}");
                // The rewrite is stable: planning its output changes nothing.
                let again = plan_doc(&after, &chain, &options);
                prop_assert!(!matches!(again, Item::Change(_)), "second run changes {after}");
            }
        }
    }

    #[test]
    fn the_outcome_does_not_depend_on_sids_order_layout_or_case(doc in policy_doc()) {
        let chain = migration::default_chain().unwrap_or_default();
        let options = Options::default();
        let base = outcome(&plan_doc(&doc, &chain, &options));
        let mut variant = doc.clone();
        if let Some(Value::Array(statements)) = variant.get_mut("Statement") {
            statements.reverse();
            for (i, st) in statements.iter_mut().enumerate() {
                if let Some(obj) = st.as_object_mut() {
                    obj.insert("Sid".into(), json!(format!("Renamed{i}")));
                    for key in ["Action", "NotAction"] {
                        if let Some(Value::Array(list)) = obj.get_mut(key) {
                            list.reverse();
                            for a in list.iter_mut() {
                                if let Some(s) = a.as_str() {
                                    *a = json!(s.to_ascii_lowercase());
                                }
                            }
                        }
                    }
                }
            }
        }
        let compact = serde_json::to_string(&variant).unwrap_or_default();
        let input = Input::file(Target::file("generated.json"), compact, SizeLimit::Managed);
        let other = outcome(&plan::plan_one(&input, &chain, &options));
        prop_assert_eq!(base, other, "{}", doc);
    }
}

/// A deliberately wrong migration that exempts `sts:AssumeRole` and declares exactly that: the
/// declared-effect check is satisfied, the invariant is not, and the change is blocked.
#[test]
fn a_migration_that_declares_an_opening_is_still_blocked() {
    let bad = r#"
id = "0001"
name = "bad-exemption"
title = "A wrong migration"
since = "2026-01-01"
severity = "low"
why = "test"
sources = []

[[op]]
type = "ensure_exemptions"
actions = ["sts:AssumeRole"]

[[effect]]
direction = "grant"
contexts = ["mfa-absent", "mfa-key-missing", "mfa-stale"]
actions = "touched"
"#;
    let chain = migration::load(&[("0001_bad_exemption.toml", bad)]).unwrap_or_default();
    assert_eq!(chain.len(), 1);
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny",
        "NotAction": ENROLMENT, "Resource": "*",
        "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]});
    let Item::Change(c) = plan_doc(&doc, &chain, &Options::default()) else {
        panic!("the bad migration should have produced a change");
    };
    assert!(c.effect.unexplained.is_empty(), "the declaration covers it");
    assert!(c.is_blocked());
    assert!(
        c.blocked
            .iter()
            .any(|b| b.starts_with("never less safe") && b.contains("sts:AssumeRole")),
        "{:?}",
        c.blocked
    );
    // A blocked change never reaches a saved plan.
    let file = plan::PlanFile::new(&[Item::Change(c)], &chain, &Options::default(), "t".into());
    assert!(file.changes.is_empty());
    assert_eq!(file.blocked.len(), 1);
}

#[test]
fn an_edited_saved_plan_is_refused_and_an_honest_one_is_not() {
    let chain = migration::default_chain().unwrap_or_default();
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Sid": "G", "Effect": "Deny",
        "NotAction": ["iam:*", "sts:GetSessionToken"], "Resource": "*",
        "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]});
    let item = plan_doc(&doc, &chain, &Options::default());
    assert!(matches!(&item, Item::Change(c) if !c.is_blocked()));
    let mut file = plan::PlanFile::new(&[item], &chain, &Options::default(), "t".into());
    let honest = file.clone();
    let mut honest_copy = honest.clone();
    assert!(honest_copy.rederive(&chain).is_empty());
    assert_eq!(honest_copy.changes.len(), 1);

    // An attacker swaps the guard out and grants everything.
    let edited = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    file.changes[0].after = serde_json::to_string_pretty(&edited).unwrap_or_default();
    let refused = file.rederive(&chain);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("does not match what forcemfa derives"));
    assert!(file.changes.is_empty());
    assert_eq!(file.blocked.len(), 1);

    // Editing `before` to fit a chosen `after` does not work either.
    let mut file = honest.clone();
    file.changes[0].before = serde_json::to_string_pretty(&edited).unwrap_or_default();
    assert_eq!(file.rederive(&chain).len(), 1);
}
