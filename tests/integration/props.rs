//! Property tests: the parser and the migrations never panic, are idempotent, and leave
//! unrelated documents alone.

use forcemfa::engine::migration::{self, Options};
use forcemfa::engine::plan::{self, Input, Item, SizeLimit};
use forcemfa::engine::target::Target;
use proptest::prelude::*;
use serde_json::{json, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-zA-Z:*%{}$ ]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("Statement".to_string()),
                        Just("Effect".to_string()),
                        Just("NotAction".to_string()),
                        Just("Action".to_string()),
                        Just("Resource".to_string()),
                        Just("Condition".to_string()),
                        "[A-Za-z]{1,8}"
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn action() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("iam:ListUsers".to_string()),
        Just("iam:*".to_string()),
        Just("*".to_string()),
        Just("iam:List*".to_string()),
        Just("iam:GetUser".to_string()),
        Just("iam:CreateVirtualMFADevice".to_string()),
        Just("iam:EnableMFADevice".to_string()),
        Just("iam:DeleteVirtualMFADevice".to_string()),
        Just("sts:GetSessionToken".to_string()),
        Just("sts:AssumeRole".to_string()),
        Just("s3:Get*".to_string()),
        "[a-z0-9]{2,5}:[A-Z][a-zA-Z]{1,10}",
    ]
}

fn resource() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_string()),
        Just("arn:aws:iam::*:user/${aws:username}".to_string()),
        Just("arn:aws:iam::*:mfa/${aws:username}".to_string()),
        Just("arn:aws-cn:iam::123456789012:mfa/*".to_string()),
        Just("arn:aws:s3:::bucket/*".to_string()),
    ]
}

fn condition() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(
            json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})
        )),
        Just(Some(json!({"Bool": {"aws:MultiFactorAuthPresent": false}}))),
        Just(Some(json!({"Null": {"aws:MultiFactorAuthAge": "true"}}))),
        Just(Some(
            json!({"Bool": {"aws:MultiFactorAuthPresent": "true"}})
        )),
        Just(Some(json!({"StringEquals": {"aws:username": "bob"}}))),
    ]
}

prop_compose! {
    fn statement()(
        allow in any::<bool>(),
        not_action in any::<bool>(),
        actions in prop::collection::vec(action(), 1..6),
        resources in prop::collection::vec(resource(), 1..3),
        cond in condition(),
        sid in prop::option::of("[A-Za-z]{1,10}"),
        single in any::<bool>(),
    ) -> Value {
        let mut s = serde_json::Map::new();
        if let Some(sid) = sid { s.insert("Sid".into(), json!(sid)); }
        s.insert("Effect".into(), json!(if allow { "Allow" } else { "Deny" }));
        let list = if single && actions.len() == 1 { json!(actions[0]) } else { json!(actions) };
        s.insert(if not_action { "NotAction" } else { "Action" }.into(), list);
        s.insert("Resource".into(), json!(resources));
        if let Some(c) = cond { s.insert("Condition".into(), c); }
        Value::Object(s)
    }
}

fn policy() -> impl Strategy<Value = Value> {
    prop::collection::vec(statement(), 1..7)
        .prop_map(|st| json!({"Version": "2012-10-17", "Statement": st}))
}

/// `doc` with each targeted MFA requirement's `Bool` test in its `IfExists` form (0011).
fn narrowed_targeted(doc: &Value) -> Value {
    let mut doc = doc.clone();
    let targeted: Vec<usize> = forcemfa::engine::detect::targeted(&doc)
        .into_iter()
        .filter(|(_, t)| forcemfa::engine::detect::targeted_test_has_hole(*t))
        .map(|(i, _)| i)
        .collect();
    if let Some(Value::Array(sts)) = doc.get_mut("Statement") {
        for i in targeted {
            if let Some(Value::Object(cond)) = sts[i].get_mut("Condition") {
                if let Some(b) = cond.shift_remove("Bool") {
                    cond.insert("BoolIfExists".into(), b);
                }
            }
        }
    }
    doc
}

fn plan(text: &str, opts: &Options) -> Item {
    let chain = migration::default_chain().unwrap();
    plan::plan_one(
        &Input::file(Target::file("p.json"), text.to_string(), SizeLimit::Managed),
        &chain,
        opts,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_json(v in arb_json()) {
        let _ = plan(&v.to_string(), &Options::default());
    }

    #[test]
    fn never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
        let _ = plan(&s, &Options::default());
    }

    #[test]
    fn second_run_changes_nothing(doc in policy(), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_string_pretty(&doc).unwrap() } else { doc.to_string() };
        if let Item::Change(c) = plan(&text, &Options::default()) {
            prop_assert!(c.checks.idempotent);
            let again = plan(&c.after, &Options::default());
            prop_assert!(!matches!(again, Item::Change(_)), "second run: {:?}", again);
        }
    }

    #[test]
    fn documents_without_a_guard_are_never_rewritten(doc in policy()) {
        // Beyond narrowing a targeted requirement's MFA test (`Bool` → `BoolIfExists`).
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let d = forcemfa::engine::detect::detect(&doc);
        if d.guard().is_none() {
            if let Item::Change(c) = plan(&text, &Options::default()) {
                let after = forcemfa::engine::policy::parse(&c.after).unwrap().value;
                prop_assert_eq!(after, narrowed_targeted(&doc));
            }
        }
    }

    #[test]
    fn statements_no_op_touches_survive(doc in policy()) {
        // Allow statements of other services and conditioned Deny statements that are not the
        // guard are customisations: they come out unchanged (possibly at a shifted index).
        let text = serde_json::to_string_pretty(&doc).unwrap();
        if let Item::Change(c) = plan(&text, &Options::default()) {
            let after = forcemfa::engine::policy::parse(&c.after).unwrap().value;
            let after_st = forcemfa::engine::policy::statements(&after);
            for st in forcemfa::engine::policy::statements(&doc) {
                let only_other_services = forcemfa::engine::policy::string_list(st, "Action")
                    .and_then(Result::ok)
                    .is_some_and(|a| a.iter().all(|x| !x.to_ascii_lowercase().starts_with("iam:") && !x.to_ascii_lowercase().starts_with("sts:") && x != "*"));
                if only_other_services {
                    // A targeted requirement's MFA test may be narrowed; nothing else changes.
                    let narrowed = narrowed_targeted(&json!({"Statement": [st]}))["Statement"][0].clone();
                    prop_assert!(after_st.contains(&st) || after_st.contains(&&narrowed), "lost or changed: {}", st);
                }
            }
        }
    }
}
