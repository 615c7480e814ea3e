//! Targeted MFA requirements (a `Deny` of listed actions when MFA is absent) are never turned into
//! guards, but a test that requests without the MFA key skip is narrowed to its `IfExists` form,
//! through every check any change passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use forcemfa_engine::detect;
use forcemfa_engine::migration::{self, Options};
use forcemfa_engine::plan::{self, Input, Item, SizeLimit};
use forcemfa_engine::policy;
use forcemfa_engine::target::Target;
use proptest::prelude::*;
use serde_json::{json, Value};

fn plan(doc: &Value, options: &Options) -> Item {
    let chain = migration::default_chain().unwrap();
    let text = serde_json::to_string_pretty(doc).unwrap() + "\n";
    let input = Input::file(
        Target::file(std::path::Path::new("p.json")),
        text,
        SizeLimit::Managed,
    );
    plan::plan_one(&input, &chain, options)
}

fn requirement(op: &str, key: &str, value: Value) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AllowOwnKeys", "Effect": "Allow", "Action": ["iam:CreateAccessKey"],
             "Resource": "arn:aws:iam::*:user/${aws:username}"},
            {"Sid": "NeedMfaForRoles", "Effect": "Deny",
             "Action": ["sts:AssumeRole", "iam:DeleteAccessKey", "ec2:Delete*"],
             "NotResource": "arn:aws:iam::123456789012:role/readonly",
             "Condition": {op: {key: value}, "StringLike": {"aws:PrincipalTag/team": "ops"}}}
        ]
    })
}

/// The document with only its `from` operator renamed to `to`.
fn renamed(doc: &Value, from: &str, to: &str) -> Value {
    let text = serde_json::to_string(doc).unwrap();
    serde_json::from_str(&text.replace(&format!("\"{from}\":"), &format!("\"{to}\":"))).unwrap()
}

#[test]
fn bool_becomes_bool_if_exists_and_nothing_else_changes() {
    for (op, to, key, value, id) in [
        (
            "Bool",
            "BoolIfExists",
            "aws:MultiFactorAuthPresent",
            json!("false"),
            "0011",
        ),
        (
            "StringEquals",
            "StringEqualsIfExists",
            "aws:MultiFactorAuthPresent",
            json!(false),
            "0011",
        ),
        (
            "NumericGreaterThan",
            "NumericGreaterThanIfExists",
            "aws:MultiFactorAuthAge",
            json!(3600),
            "0012",
        ),
    ] {
        let doc = requirement(op, key, value);
        let Item::Change(c) = plan(&doc, &Options::default()) else {
            panic!("{op}: no change planned");
        };
        assert!(!c.is_blocked(), "{op}: {:?}", c.blocked);
        let ids: Vec<&str> = c.migrations.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, [id], "{op}");
        let after = policy::parse(&c.after).unwrap().value;
        assert_eq!(
            after,
            renamed(&doc, op, to),
            "{op}: more than the operator changed"
        );
        assert!(c.checks.idempotent);
        assert!(
            c.findings
                .iter()
                .any(|f| f.rule == detect::TARGETED_HOLE_RULE
                    && f.severity == detect::Severity::High),
            "{op}: {:?}",
            c.findings
        );
        // Only the requirement's own actions are newly denied, only where the key is missing.
        assert!(c.effect.unexplained.is_empty(), "{op}");
    }
}

#[test]
fn the_fix_can_be_skipped_and_sound_requirements_are_left_alone() {
    let chain = migration::default_chain().unwrap();
    let skip = Options::default()
        .skipping(&["targeted-bool-if-exists".to_string()], &chain)
        .unwrap();
    let doc = requirement("Bool", "aws:MultiFactorAuthPresent", json!("false"));
    match plan(&doc, &skip) {
        Item::Skipped { findings, .. } => {
            assert!(findings
                .iter()
                .any(|f| f.rule == detect::TARGETED_HOLE_RULE))
        }
        other => panic!("expected left alone, got {other:?}"),
    }
    for (op, key, value) in [
        ("BoolIfExists", "aws:MultiFactorAuthPresent", json!("false")),
        ("Null", "aws:MultiFactorAuthAge", json!("true")),
    ] {
        assert!(
            matches!(
                plan(&requirement(op, key, value), &Options::default()),
                Item::Skipped { .. }
            ),
            "{op}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Whatever the requirement lists, the fix changes its operator only, and a second run
    /// changes nothing.
    #[test]
    fn the_fix_is_the_operator_only_and_a_fixed_point(
        actions in proptest::sample::subsequence(
            vec!["sts:AssumeRole", "iam:DeleteUser", "s3:PutObject", "ec2:*", "kms:Decrypt"], 1..5),
        value in prop_oneof![Just(json!("false")), Just(json!(false)), Just(json!(["false"]))],
    ) {
        let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny",
            "Action": actions, "Resource": "*",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": value}}}]});
        let Item::Change(c) = plan(&doc, &Options::default()) else {
            panic!("no change planned");
        };
        prop_assert!(!c.is_blocked(), "{:?}", c.blocked);
        let after = policy::parse(&c.after).unwrap().value;
        prop_assert_eq!(&after, &renamed(&doc, "Bool", "BoolIfExists"));
        let again = matches!(plan(&after, &Options::default()), Item::Skipped { .. });
        prop_assert!(again, "a second plan changes the document again");
    }
}
