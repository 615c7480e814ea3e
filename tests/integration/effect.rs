//! Tests of the offline evaluator and the effect diff (`forcemfa::engine::effect`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use forcemfa::engine::effect::{
    allows, effect_diff, effect_table, evaluate, resource_arn, summarize, unexplained,
    universe_for, ActionScope, Context, Decision, DeclaredEffect, Direction, EffectRow, Request,
    ResourceKind, View,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const ENROLMENT: [&str; 7] = [
    "iam:CreateVirtualMFADevice",
    "iam:EnableMFADevice",
    "iam:GetUser",
    "iam:ListMFADevices",
    "iam:ListVirtualMFADevices",
    "iam:ResyncMFADevice",
    "sts:GetSessionToken",
];

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/policies/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).unwrap()
}

/// The guard: the Deny statement with a NotAction.
fn guard_mut(doc: &mut Value) -> &mut Value {
    doc["Statement"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["Effect"] == "Deny" && s.get("NotAction").is_some())
        .unwrap()
}

fn decide(doc: &Value, action: &str, resource: &str, context: Context) -> Decision {
    evaluate(
        doc,
        &Request {
            action,
            resource,
            context,
            username: "alice",
        },
    )
    .decision
}

const OWN: &str = "arn:aws:iam::123456789012:user/alice";

/// A one-statement policy (Allow `action`/`*` with `cond`) evaluated in each context.
/// Decisions in the three fresh contexts (a stale MFA session is tested on its own below).
fn allow_with(cond: Value) -> [Decision; 3] {
    let doc = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*", "Condition": cond}
    ]});
    [
        Context::MfaPresent,
        Context::MfaAbsent,
        Context::MfaKeyMissing,
    ]
    .map(|c| decide(&doc, "iam:GetUser", OWN, c))
}

#[test]
fn a_stale_mfa_session_is_mfa_present_with_an_age_beyond_any_limit() {
    let deny_with = |cond: Value| {
        let doc = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "NotAction": "iam:GetUser", "Resource": "*", "Condition": cond}
        ]});
        Context::ALL.map(|c| decide(&doc, "s3:GetObject", "*", c))
    };
    // Order: [MfaPresent, MfaAbsent, MfaKeyMissing, MfaStale].
    assert_eq!(
        deny_with(json!({"NumericGreaterThanIfExists": {"aws:MultiFactorAuthAge": "3600"}})),
        [A, D, D, D]
    );
    // Without IfExists, requests without MFA carry no age and pass the guard.
    assert_eq!(
        deny_with(json!({"NumericGreaterThan": {"aws:MultiFactorAuthAge": 3600}})),
        [A, A, A, D]
    );
    assert_eq!(
        deny_with(json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})),
        [A, D, D, A]
    );
}

use Decision::{Allowed as A, ExplicitDeny as D, ImplicitDeny as I, Unknown as U};

// ----------------------------------------------------------------------------------------------
// Hand-checked decisions. Context order: [MfaPresent, MfaAbsent, MfaKeyMissing].

#[test]
fn bool_and_bool_if_exists() {
    assert_eq!(
        allow_with(json!({"Bool": {"aws:MultiFactorAuthPresent": "true"}})),
        [A, I, I]
    );
    assert_eq!(
        allow_with(json!({"Bool": {"aws:MultiFactorAuthPresent": "false"}})),
        [I, A, I]
    );
    // The Knowledge Center mistake: with Bool, a missing key does not match, so long-term keys escape.
    assert_eq!(
        allow_with(json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})),
        [I, A, A]
    );
    // JSON booleans are the same as strings; operator and key names are case-insensitive.
    assert_eq!(
        allow_with(json!({"boolifexists": {"AWS:multifactorauthpresent": false}})),
        [I, A, A]
    );
    assert_eq!(
        allow_with(json!({"Bool": {"aws:MultiFactorAuthPresent": true}})),
        [A, I, I]
    );
    // Values of one key are ORed.
    assert_eq!(
        allow_with(json!({"Bool": {"aws:MultiFactorAuthPresent": ["true", false]}})),
        [A, A, I]
    );
    assert_eq!(
        allow_with(json!({"Bool": {"aws:ViaAWSService": "false"}})),
        [A, A, A]
    );
}

#[test]
fn null_operator() {
    assert_eq!(
        allow_with(json!({"Null": {"aws:MultiFactorAuthAge": "true"}})),
        [I, A, A]
    );
    assert_eq!(
        allow_with(json!({"Null": {"aws:MultiFactorAuthAge": false}})),
        [A, I, I]
    );
    assert_eq!(
        allow_with(json!({"Null": {"aws:MultiFactorAuthPresent": true}})),
        [I, I, A]
    );
    assert_eq!(
        allow_with(json!({"Null": {"aws:username": "false"}})),
        [A, A, A]
    );
}

#[test]
fn string_operators() {
    assert_eq!(
        allow_with(json!({"StringEquals": {"aws:username": "alice"}})),
        [A, A, A]
    );
    assert_eq!(
        allow_with(json!({"StringEquals": {"aws:username": "Alice"}})),
        [I, I, I]
    );
    assert_eq!(
        allow_with(json!({"StringEqualsIgnoreCase": {"aws:username": "ALICE"}})),
        [A, A, A]
    );
    assert_eq!(
        allow_with(json!({"StringNotEquals": {"aws:username": ["bob", "carol"]}})),
        [A, A, A]
    );
    assert_eq!(
        allow_with(json!({"StringNotEquals": {"aws:username": ["bob", "alice"]}})),
        [I, I, I]
    );
    assert_eq!(
        allow_with(json!({"StringNotEqualsIgnoreCase": {"aws:username": "ALICE"}})),
        [I, I, I]
    );
    assert_eq!(
        allow_with(json!({"StringLike": {"aws:username": "al?c*"}})),
        [A, A, A]
    );
    assert_eq!(
        allow_with(json!({"StringNotLike": {"aws:username": "b*"}})),
        [A, A, A]
    );
    assert_eq!(
        allow_with(json!({"StringEquals": {"aws:PrincipalType": "User"}})),
        [A, A, A]
    );
    // Policy variables in condition values.
    assert_eq!(
        allow_with(json!({"StringEquals": {"aws:username": "${aws:username}"}})),
        [A, A, A]
    );
    // Missing key: plain operators fail, negated ones and IfExists succeed.
    assert_eq!(
        allow_with(json!({"StringEquals": {"aws:MultiFactorAuthPresent": "false"}})),
        [I, A, I]
    );
    assert_eq!(
        allow_with(json!({"StringEqualsIfExists": {"aws:MultiFactorAuthPresent": "false"}})),
        [I, A, A]
    );
    assert_eq!(
        allow_with(json!({"StringNotEquals": {"aws:MultiFactorAuthPresent": "true"}})),
        [I, A, A]
    );
    assert_eq!(
        allow_with(json!({"StringLikeIfExists": {"aws:MultiFactorAuthAge": "2*"}})),
        [I, A, A]
    );
}

#[test]
fn set_operators() {
    assert_eq!(
        allow_with(json!({"ForAnyValue:StringEquals": {"aws:username": ["x", "alice"]}})),
        [A, A, A]
    );
    // ForAllValues is vacuously true on a missing key, ForAnyValue false.
    assert_eq!(
        allow_with(json!({"ForAllValues:StringEquals": {"aws:MultiFactorAuthAge": "120"}})),
        [A, A, A]
    );
    assert_eq!(
        allow_with(json!({"ForAnyValue:StringEquals": {"aws:MultiFactorAuthAge": "120"}})),
        [A, I, I]
    );
    assert_eq!(
        allow_with(json!({"forallvalues:stringlike": {"aws:username": "*"}})),
        [A, A, A]
    );
}

#[test]
fn numeric_operators() {
    let age = |op: &str, v: Value| allow_with(json!({ op: {"aws:MultiFactorAuthAge": v} }));
    assert_eq!(age("NumericLessThan", json!("3600")), [A, I, I]);
    assert_eq!(age("NumericLessThan", json!(120)), [I, I, I]);
    assert_eq!(age("NumericLessThanEquals", json!(120)), [A, I, I]);
    assert_eq!(age("NumericGreaterThan", json!(100)), [A, I, I]);
    assert_eq!(age("NumericGreaterThanEquals", json!("121")), [I, I, I]);
    assert_eq!(age("NumericEquals", json!(["1", "120"])), [A, I, I]);
    assert_eq!(age("NumericNotEquals", json!("120")), [I, A, A]);
    assert_eq!(age("NumericLessThanIfExists", json!(3600)), [A, A, A]);
    // An unparseable number cannot be decided.
    assert_eq!(age("NumericLessThan", json!("soon")), [U, I, I]);
}

#[test]
fn arn_operators() {
    // No modelled key holds an ARN; a non-ARN pattern is a plain glob. Negated forms hold on a missing key.
    assert_eq!(
        allow_with(json!({"ArnLike": {"aws:username": "ali*"}})),
        [A, A, A]
    );
    assert_eq!(
        allow_with(json!({"ArnEquals": {"aws:username": "bob"}})),
        [I, I, I]
    );
    assert_eq!(
        allow_with(json!({"ArnNotLike": {"aws:MultiFactorAuthAge": "*"}})),
        [I, A, A]
    );
    assert_eq!(
        allow_with(json!({"ArnNotEquals": {"aws:username": "bob"}})),
        [A, A, A]
    );
    let r = evaluate(
        &json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"}}}}),
        &Request {
            action: "iam:GetUser",
            resource: OWN,
            context: Context::MfaPresent,
            username: "alice",
        },
    );
    assert_eq!(r.decision, U);
    assert!(
        r.unknown[0].contains("condition key \"aws:PrincipalArn\" is not modelled"),
        "{:?}",
        r.unknown
    );
}

#[test]
fn and_across_keys_and_operators() {
    let cond = json!({
        "Bool": {"aws:MultiFactorAuthPresent": "true"},
        "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"},
        "StringEquals": {"aws:username": "alice", "aws:PrincipalType": "User"}
    });
    assert_eq!(allow_with(cond), [A, I, I]);
    assert_eq!(allow_with(json!({})), [A, A, A]);
}

#[test]
fn unknown_operator_and_key() {
    let r = allow_with(json!({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}));
    assert_eq!(r, [U, U, U]);
    let doc = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
        {"Sid": "Net", "Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1"}}},
    ]});
    let e = evaluate(
        &doc,
        &Request {
            action: "iam:GetUser",
            resource: OWN,
            context: Context::MfaPresent,
            username: "alice",
        },
    );
    assert_eq!(
        e.decision, U,
        "an unknown deny makes an allowed request unknown"
    );
    assert_eq!(
        e.unknown,
        vec![
            "statement 2 (Sid \"Net\"): unsupported condition operator \"NotIpAddress\""
                .to_string()
        ]
    );
    assert_eq!(e.possible, vec![A, D]);
    let e = evaluate(
        &doc,
        &Request {
            action: "s3:GetObject",
            resource: "*",
            context: Context::MfaPresent,
            username: "alice",
        },
    );
    assert_eq!(e.decision, U);
    assert_eq!(e.possible, vec![D, I]);
    assert!(
        e.unknown
            .iter()
            .any(|r| r.contains("condition key \"aws:SourceVpc\" is not modelled")),
        "{:?}",
        e.unknown
    );
    // A definite deny wins over any unknown.
    let mut doc2 = doc.clone();
    doc2["Statement"]
        .as_array_mut()
        .unwrap()
        .push(json!({"Effect": "Deny", "Action": "*", "Resource": "*"}));
    assert_eq!(decide(&doc2, "iam:GetUser", OWN, Context::MfaPresent), D);
    // A clause that is definitely false decides the condition even beside an unknown one.
    assert_eq!(
        allow_with(
            json!({"Bool": {"aws:MultiFactorAuthPresent": "true"}, "IpAddress": {"aws:SourceIp": "1.2.3.4"}})
        ),
        [U, I, I]
    );
    // An Allow that might apply leaves "allowed or implicitly denied", and allows() says no.
    let maybe = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "iam:GetUser",
        "Resource": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}});
    assert!(!allows(
        &maybe,
        "iam:GetUser",
        OWN,
        Context::MfaPresent,
        "alice"
    ));
    let e = evaluate(
        &maybe,
        &Request {
            action: "iam:GetUser",
            resource: OWN,
            context: Context::MfaPresent,
            username: "alice",
        },
    );
    assert_eq!((e.decision, e.possible), (U, vec![A, I]));
}

#[test]
fn action_wildcards_and_case() {
    let doc = |action: Value| json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": action, "Resource": "*"}});
    let d = |a: Value, req: &str| decide(&doc(a), req, "*", Context::MfaPresent);
    assert_eq!(d(json!("iam:List*"), "iam:ListUsers"), A);
    assert_eq!(d(json!("iam:List*"), "iam:GetUser"), I);
    assert_eq!(d(json!("iam:*"), "iam:GetUser"), A);
    assert_eq!(d(json!("iam:*"), "sts:GetSessionToken"), I);
    assert_eq!(d(json!("*"), "s3:GetObject"), A);
    assert_eq!(d(json!("iam:ListUser?"), "iam:ListUsers"), A);
    assert_eq!(d(json!("iam:ListUser?"), "iam:ListUser"), I);
    // Actions are case-insensitive on both sides.
    assert_eq!(d(json!(["IAM:listusers"]), "iam:ListUsers"), A);
    assert_eq!(d(json!("iam:LIST*"), "IAM:listUsers"), A);
}

#[test]
fn resources_are_case_sensitive_and_use_username() {
    let doc = |res: Value| json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "iam:GetUser", "Resource": res}});
    let d = |r: Value, req: &str| decide(&doc(r), "iam:GetUser", req, Context::MfaPresent);
    assert_eq!(d(json!("arn:aws:iam::*:user/${aws:username}"), OWN), A);
    assert_eq!(
        d(
            json!("arn:aws:iam::*:user/${aws:username}"),
            "arn:aws:iam::123456789012:user/bob"
        ),
        I
    );
    assert_eq!(d(json!("arn:aws:iam::*:user/Alice"), OWN), I);
    assert_eq!(d(json!("ARN:aws:iam::*:user/alice"), OWN), I);
    assert_eq!(
        d(
            json!([
                "arn:aws:iam::*:mfa/*",
                "arn:aws:iam::12345678901?:user/alice"
            ]),
            OWN
        ),
        A
    );
    assert_eq!(
        d(
            json!("arn:aws:iam::*:user/${aws:username}"),
            "arn:aws-cn:iam::1:user/alice"
        ),
        I
    );
    // ${*} is a literal star, not a wildcard.
    assert_eq!(d(json!("arn:aws:iam::*:user/${*}"), OWN), I);
    assert_eq!(
        d(json!("arn:aws:iam::*:user/${*}"), "arn:aws:iam::1:user/*"),
        A
    );
    // Policy variables only exist in version 2012-10-17: elsewhere `${aws:username}` is plain text.
    let old = json!({"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "iam:GetUser",
        "Resource": "arn:aws:iam::*:user/${aws:username}"}});
    assert_eq!(decide(&old, "iam:GetUser", OWN, Context::MfaPresent), I);
}

#[test]
fn not_action_guard_and_not_resource() {
    let doc = fixture("2019-docs-deny-all-except-listed.json");
    let own = OWN;
    for (action, res, ctx, want) in [
        ("iam:GetUser", own, Context::MfaAbsent, A),
        ("iam:GetUser", own, Context::MfaKeyMissing, A),
        ("iam:ChangePassword", own, Context::MfaAbsent, D),
        ("iam:ChangePassword", own, Context::MfaPresent, A),
        ("iam:ListUsers", "*", Context::MfaAbsent, D),
        ("iam:ListUsers", "*", Context::MfaPresent, I),
        ("sts:GetSessionToken", "*", Context::MfaAbsent, I),
        ("s3:GetObject", "*", Context::MfaKeyMissing, D),
        (
            "iam:CreateVirtualMFADevice",
            "arn:aws:iam::123456789012:mfa/alice",
            Context::MfaAbsent,
            A,
        ),
        (
            "iam:CreateVirtualMFADevice",
            "arn:aws:iam::123456789012:mfa/phone",
            Context::MfaAbsent,
            I,
        ),
    ] {
        assert_eq!(
            decide(&doc, action, res, ctx),
            want,
            "{action} {res} {ctx:?}"
        );
    }
    let nr = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:*", "NotResource": ["arn:aws:iam::*:user/${aws:username}"]}
    ]});
    assert_eq!(decide(&nr, "iam:GetUser", OWN, Context::MfaPresent), I);
    assert_eq!(
        decide(
            &nr,
            "iam:GetUser",
            "arn:aws:iam::1:user/bob",
            Context::MfaPresent
        ),
        A
    );
    // Statement as a single object; allows() ignores denies.
    let one = json!({"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}});
    assert_eq!(decide(&one, "iam:GetUser", OWN, Context::MfaPresent), D);
    assert!(allows(
        &doc,
        "iam:ChangePassword",
        OWN,
        Context::MfaAbsent,
        "alice"
    ));
    assert!(!allows(
        &doc,
        "iam:ListUsers",
        "*",
        Context::MfaPresent,
        "alice"
    ));
}

#[test]
fn malformed_input_is_unknown_not_a_crash() {
    for doc in [
        json!(null),
        json!([1, 2]),
        json!({"Version": "2012-10-17"}),
        json!({"Statement": "nope"}),
        json!({"Statement": [42]}),
        json!({"Statement": [{"Effect": "Allow", "Action": 3, "Resource": "*"}]}),
        json!({"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}),
        json!({"Statement": [{"Effect": "Allow", "Action": "*"}]}),
        json!({"Statement": [{"Effect": "Allow", "Action": "*", "NotAction": "x", "Resource": "*"}]}),
        json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": "x"}]}),
        json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Bool": 1}}]}),
        json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": {"x": 1}}}}]}),
    ] {
        let e = evaluate(
            &doc,
            &Request {
                action: "iam:GetUser",
                resource: OWN,
                context: Context::MfaAbsent,
                username: "alice",
            },
        );
        assert_eq!(e.decision, U, "{doc}");
        assert!(!e.unknown.is_empty(), "{doc}");
    }
    // A malformed statement beside a definite deny: the deny wins.
    let doc = json!({"Statement": [{"Effect": "Allow"}, {"Effect": "Deny", "Action": "*", "Resource": "*"}]});
    assert_eq!(decide(&doc, "iam:GetUser", OWN, Context::MfaAbsent), D);
}

// ----------------------------------------------------------------------------------------------
// Universe and diffs of the published policies.

#[test]
fn universe_of_the_2015_policy_uses_its_placeholder_account() {
    let doc = fixture("2015-blog-force-mfa.json");
    let u = universe_for(&[&doc]);
    assert_eq!(u.account, "ACCOUNT-ID-WITHOUT-HYPHENS");
    assert_eq!(u.partition, "aws");
    let own = resource_arn(&u, ResourceKind::OwnUser);
    assert_eq!(
        own,
        format!(
            "arn:aws:iam::ACCOUNT-ID-WITHOUT-HYPHENS:user/{}",
            u.username
        )
    );
    assert_eq!(
        decide_as(
            &doc,
            "iam:ChangePassword",
            &own,
            Context::MfaAbsent,
            &u.username
        ),
        A,
        "the 2015 guard exempts all of IAM"
    );
    assert_eq!(
        decide_as(&doc, "s3:GetObject", "*", Context::MfaAbsent, &u.username),
        D
    );
    assert!(u.actions.len() > 200);
    let star = fixture("2019-docs-deny-all-except-listed.json");
    let u = universe_for(&[&star]);
    assert_eq!(
        (u.partition.as_str(), u.account.as_str()),
        ("aws", "123456789012")
    );
}

fn decide_as(
    doc: &Value,
    action: &str,
    resource: &str,
    context: Context,
    username: &str,
) -> Decision {
    evaluate(
        doc,
        &Request {
            action,
            resource,
            context,
            username,
        },
    )
    .decision
}

fn restrict(migration: &str, actions: &[&str], contexts: &[Context]) -> DeclaredEffect {
    DeclaredEffect {
        migration: migration.to_string(),
        direction: Direction::Restrict,
        contexts: contexts.to_vec(),
        actions: ActionScope::Patterns(actions.iter().map(|s| s.to_string()).collect()),
        except_actions: Vec::new(),
        resources: Vec::new(),
        views: Vec::new(),
    }
}

const NO_MFA: [Context; 2] = [Context::MfaAbsent, Context::MfaKeyMissing];

fn without_exemption(doc: &Value, action: &str) -> Value {
    let mut doc = doc.clone();
    let list = guard_mut(&mut doc)["NotAction"].as_array_mut().unwrap();
    list.retain(|a| a != action);
    doc
}

#[test]
fn removing_list_users_from_the_exemptions() {
    let before = fixture("2018-docs-listusers.json");
    let u = universe_for(&[&before]);
    assert_eq!(
        decide_as(
            &before,
            "iam:ListUsers",
            "*",
            Context::MfaAbsent,
            &u.username
        ),
        A
    );
    let after = without_exemption(&before, "iam:ListUsers");
    let diff = effect_diff(&before, &after);
    assert!(diff.unknown.is_empty(), "{:?}", diff.unknown);
    assert!(diff.universe_actions > 200);
    assert_eq!(diff.rows.len(), 20, "5 resources × 2 contexts × 2 views");
    for row in &diff.rows {
        assert_eq!(row.action, "iam:ListUsers");
        assert!(NO_MFA.contains(&row.context));
        assert_eq!((row.before, row.after), (A, D));
    }
    let rows: Vec<&EffectRow> = diff.rows.iter().collect();
    assert_eq!(
        summarize(&rows),
        vec!["without MFA (mfa-absent, mfa-key-missing): iam:ListUsers on any resource: allowed → denied"]
    );
    let declared = [restrict(
        "0005_remove_pre_mfa_listing",
        &["iam:ListUsers"],
        &NO_MFA,
    )];
    assert!(unexplained(&diff, &declared).is_empty());
    assert_eq!(unexplained(&diff, &[]).len(), 20);
    // A Grant declaration, or one for the wrong context, does not explain a restriction.
    let mut grant = declared[0].clone();
    grant.direction = Direction::Grant;
    assert_eq!(unexplained(&diff, &[grant]).len(), 20);
    let wrong_ctx = restrict("x", &["iam:ListUsers"], &[Context::MfaAbsent]);
    assert_eq!(unexplained(&diff, &[wrong_ctx]).len(), 10);
    // Declared with a wildcard and an exception.
    let mut wide = restrict("x", &["iam:List*"], &[]);
    wide.except_actions = vec!["iam:listusers".to_string()];
    assert_eq!(unexplained(&diff, &[wide]).len(), 20);
}

#[test]
fn identical_documents_have_no_diff() {
    for name in [
        "2015-blog-force-mfa.json",
        "2019-seed-variant.json",
        "current-docs-self-manage.json",
    ] {
        let doc = fixture(name);
        let diff = effect_diff(&doc, &doc);
        assert!(diff.rows.is_empty(), "{name}");
        assert!(unexplained(&diff, &[]).is_empty());
    }
}

fn enrolment_2015() -> (Value, Value) {
    let before = fixture("2015-blog-force-mfa.json");
    let mut after = before.clone();
    guard_mut(&mut after)["NotAction"] = json!(ENROLMENT);
    (before, after)
}

#[test]
fn replacing_the_2015_iam_wildcard_with_the_enrolment_set() {
    let (before, after) = enrolment_2015();
    let diff = effect_diff(&before, &after);
    let rows: Vec<&EffectRow> = diff.rows.iter().collect();
    let iam_actions: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.action.starts_with("iam:"))
        .map(|r| r.action.as_str())
        .collect();
    assert!(iam_actions.len() > 150, "{}", iam_actions.len());
    for a in ENROLMENT {
        assert!(
            !rows.iter().any(|r| r.action == a && r.after == D),
            "{a} must stay exempt"
        );
    }
    assert!(rows.iter().all(|r| r.context != Context::MfaPresent));
    let lines = summarize(&rows);
    assert!(lines.len() <= 12, "{lines:#?}");
    assert!(lines.iter().all(|l| l.len() < 400), "{lines:#?}");
    // What the migration declares: IAM beyond the enrolment set is denied without MFA, and
    // sts:GetSessionToken (denied by the 2015 guard) becomes exempt.
    let mut iam = restrict("0004_replace_wildcard_exemptions", &["iam:*"], &NO_MFA);
    iam.except_actions = ENROLMENT.iter().map(|s| s.to_string()).collect();
    let mut sts = restrict(
        "0006_ensure_enrolment_set",
        &["sts:GetSessionToken"],
        &NO_MFA,
    );
    sts.direction = Direction::Grant;
    let left = unexplained(&diff, &[iam.clone(), sts]);
    assert!(left.is_empty(), "{:#?}", summarize(&left));
    let left = unexplained(&diff, &[iam]);
    assert!(!left.is_empty() && left.iter().all(|r| r.action == "sts:GetSessionToken"));
}

#[test]
fn summary_snapshot_2015_to_enrolment_set() {
    let (before, after) = enrolment_2015();
    let diff = effect_diff(&before, &after);
    let rows: Vec<&EffectRow> = diff.rows.iter().collect();
    insta::assert_snapshot!(summarize(&rows).join("\n"));
}

#[test]
fn summary_snapshot_json_of_seed_fix() {
    let before = fixture("2018-docs-iam-mfa-selfmanage-blockmost.json");
    let after = without_exemption(&before, "iam:ListUsers");
    let diff = effect_diff(&before, &after);
    let rows: Vec<&EffectRow> = diff.rows.iter().collect();
    insta::assert_json_snapshot!(json!({
        "rows": diff.rows.len(),
        "summary": summarize(&rows),
        "unknown": diff.unknown,
        "universe_actions": diff.universe_actions,
    }));
}

#[test]
fn a_wrong_migration_is_caught() {
    let before = fixture("2019-docs-deny-all-except-listed.json");
    let mut after = before.clone();
    guard_mut(&mut after)["NotAction"]
        .as_array_mut()
        .unwrap()
        .push(json!("s3:*"));
    let diff = effect_diff(&before, &after);
    let declared = [restrict(
        "0005_remove_pre_mfa_listing",
        &["iam:ListUsers"],
        &NO_MFA,
    )];
    let left = unexplained(&diff, &declared);
    assert!(!left.is_empty());
    assert!(left.iter().all(|r| r.action.starts_with("s3:")));
    assert!(left
        .iter()
        .any(|r| r.view == View::BesideAllowAll && r.before == D && r.after == A));
    assert!(left
        .iter()
        .any(|r| r.view == View::Alone && r.before == D && r.after == I));
}

#[test]
fn bool_to_bool_if_exists_closes_the_long_term_key_gap() {
    let mut before = fixture("2019-docs-deny-all-except-listed.json");
    guard_mut(&mut before)["Condition"] = json!({"Bool": {"aws:MultiFactorAuthPresent": "false"}});
    let after = fixture("2019-docs-deny-all-except-listed.json");
    let diff = effect_diff(&before, &after);
    assert!(!diff.rows.is_empty());
    assert!(diff
        .rows
        .iter()
        .all(|r| r.context == Context::MfaKeyMissing));
    assert!(diff.rows.iter().all(|r| r.before != D && r.after == D));
    let declared = [restrict(
        "0001_bool_if_exists",
        &["*"],
        &[Context::MfaKeyMissing],
    )];
    assert!(unexplained(&diff, &declared).is_empty());
}

#[test]
fn unknown_rows_are_explained_only_when_every_resolution_fits() {
    let before = fixture("2019-docs-deny-all-except-listed.json");
    let mut after = before.clone();
    // Add an unsupported deny on IAM for everyone: Allowed may become denied (Restrict-compatible).
    after["Statement"].as_array_mut().unwrap().push(json!({
        "Effect": "Deny", "Action": "iam:ChangePassword", "Resource": "*",
        "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}
    }));
    let diff = effect_diff(&before, &after);
    assert!(diff.unknown.iter().any(|r| r.starts_with("after: ")
        && r.contains("unsupported condition operator \"DateGreaterThan\"")));
    assert!(diff
        .rows
        .iter()
        .all(|r| r.action == "iam:ChangePassword" && r.after == U));
    let decl = restrict("x", &["iam:ChangePassword"], &[]);
    assert!(unexplained(&diff, std::slice::from_ref(&decl)).is_empty());
    let mut grant = decl;
    grant.direction = Direction::Grant;
    assert!(!unexplained(&diff, &[grant]).is_empty());
    // The other way round (Unknown → Allowed) is a Grant.
    let back = effect_diff(&after, &before);
    assert!(back.rows.iter().any(|r| r.before == U && r.after == A));
    assert!(!unexplained(&back, &[restrict("x", &["*"], &[])]).is_empty());
}

#[test]
fn effect_table_covers_the_universe_in_order() {
    let doc = fixture("current-docs-mfa-only.json");
    let table = effect_table(&doc);
    let u = universe_for(&[&doc]);
    assert_eq!(table.len(), u.actions.len() * 5 * 4 * 2);
    let cell = |a: &str, r: ResourceKind, c: Context, v: View| {
        table
            .iter()
            .find(|t| t.action == a && t.resource == r && t.context == c && t.view == v)
            .unwrap()
            .decision
    };
    assert_eq!(
        cell(
            "iam:CreateVirtualMFADevice",
            ResourceKind::OtherMfaDevice,
            Context::MfaAbsent,
            View::Alone
        ),
        A
    );
    assert_eq!(
        cell(
            "iam:DeactivateMFADevice",
            ResourceKind::OwnUser,
            Context::MfaAbsent,
            View::Alone
        ),
        D
    );
    assert_eq!(
        cell(
            "iam:DeactivateMFADevice",
            ResourceKind::OwnUser,
            Context::MfaPresent,
            View::Alone
        ),
        A
    );
    assert_eq!(
        cell(
            "s3:GetObject",
            ResourceKind::Any,
            Context::MfaPresent,
            View::BesideAllowAll
        ),
        A
    );
    assert_eq!(
        cell(
            "s3:GetObject",
            ResourceKind::Any,
            Context::MfaKeyMissing,
            View::BesideAllowAll
        ),
        D
    );
    assert_eq!(effect_diff(&doc, &doc).rows.len(), 0);
}

#[test]
fn diff_is_deterministic_and_serialises() {
    let (before, after) = enrolment_2015();
    let a = effect_diff(&before, &after);
    let b = effect_diff(&before, &after);
    assert_eq!(a, b);
    let v = serde_json::to_value(&a).unwrap();
    assert_eq!(v["rows"][0]["context"], "mfa-absent");
    assert!(v["rows"][0].get("before_possible").is_none());
}

// ----------------------------------------------------------------------------------------------
// Properties.

fn action_pattern() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "*",
        "iam:*",
        "iam:List*",
        "iam:Get?ser",
        "iam:ListUsers",
        "IAM:getuser",
        "sts:GetSessionToken",
        "s3:*",
        "s3:Get*",
        "ec2:Describe*",
        "textract:Analyze*",
        "iam:CreateVirtualMFADevice",
    ])
    .prop_map(str::to_string)
}

fn resource_pattern() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "*",
        "arn:aws:iam::*:user/${aws:username}",
        "arn:aws:iam::*:mfa/${aws:username}",
        "arn:aws:iam::*:mfa/*",
        "arn:aws:iam::*:user/*",
        "arn:aws:iam::123456789012:user/bob",
        "arn:aws:iam::*:user/${aws:PrincipalTag/team}",
    ])
    .prop_map(str::to_string)
}

fn condition() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!(null),
        json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}),
        json!({"Bool": {"aws:MultiFactorAuthPresent": false}}),
        json!({"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
        json!({"Null": {"aws:MultiFactorAuthAge": "true"}}),
        json!({"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}}),
        json!({"StringNotEquals": {"aws:username": "bob"}}),
        json!({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}),
        json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
    ])
}

fn statement(effect: Option<&'static str>) -> impl Strategy<Value = Value> {
    let eff = match effect {
        Some(e) => Just(e).boxed(),
        None => prop::sample::select(vec!["Allow", "Deny"]).boxed(),
    };
    (
        eff,
        any::<bool>(),
        prop::collection::vec(action_pattern(), 1..4),
        any::<bool>(),
        prop::collection::vec(resource_pattern(), 1..3),
        condition(),
    )
        .prop_map(
            |(effect, not_action, actions, not_resource, resources, cond)| {
                let mut s = json!({"Effect": effect});
                s[if not_action { "NotAction" } else { "Action" }] = json!(actions);
                s[if not_resource {
                    "NotResource"
                } else {
                    "Resource"
                }] = json!(resources);
                if !cond.is_null() {
                    s["Condition"] = cond;
                }
                s
            },
        )
}

fn policy() -> impl Strategy<Value = Value> {
    prop::collection::vec(statement(None), 0..5)
        .prop_map(|stmts| json!({"Version": "2012-10-17", "Statement": stmts}))
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop::sample::select(vec![
            "*",
            "Allow",
            "Deny",
            "iam:*",
            "${aws:username}",
            "${",
            "arn:aws:iam::1:user/x",
            "true",
            "false",
            "",
        ])
        .prop_map(|s| json!(s)),
        "\\PC{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "Version",
                        "Statement",
                        "Effect",
                        "Action",
                        "NotAction",
                        "Resource",
                        "NotResource",
                        "Condition",
                        "Bool",
                        "BoolIfExists",
                        "Null",
                        "StringLike",
                        "ForAllValues:StringEquals",
                        "NumericLessThan",
                        "aws:MultiFactorAuthPresent",
                        "aws:username",
                        "aws:SourceIp",
                        "x",
                    ]),
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_document_compared_with_itself_has_no_diff(doc in policy()) {
        let diff = effect_diff(&doc, &doc);
        prop_assert!(diff.rows.is_empty(), "{:?}", diff.rows.first());
    }

    #[test]
    fn adding_a_statement_never_removes_an_explicit_deny(doc in policy(), extra in statement(Some("Deny")), extra2 in statement(None)) {
        for added in [extra, extra2] {
            let mut after = doc.clone();
            after["Statement"].as_array_mut().unwrap().push(added);
            let diff = effect_diff(&doc, &after);
            let lost: Vec<_> = diff.rows.iter().filter(|r| r.before == Decision::ExplicitDeny).collect();
            prop_assert!(lost.is_empty(), "{:?}", lost.first());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn evaluate_never_panics(doc in arbitrary_json(), ctx in prop::sample::select(Context::ALL.to_vec())) {
        let req = Request { action: "iam:GetUser", resource: OWN, context: ctx, username: "alice" };
        let e = evaluate(&doc, &req);
        prop_assert_eq!(e.unknown.is_empty(), e.decision != Decision::Unknown);
        let _ = allows(&doc, "iam:ListUsers", "*", ctx, "alice");
        let _ = universe_for(&[&doc]);
        let wrapped = json!({"Version": "2012-10-17", "Statement": [doc]});
        let _ = evaluate(&wrapped, &req);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn diff_never_panics_on_arbitrary_json(a in arbitrary_json(), b in policy()) {
        let diff = effect_diff(&a, &b);
        let rows: Vec<&EffectRow> = diff.rows.iter().collect();
        let _ = summarize(&rows);
        let _ = unexplained(&diff, &[]);
    }
}

#[test]
fn unexercised_declarations_are_reported() {
    let before = fixture("2018-docs-listusers.json");
    let after = without_exemption(&before, "iam:ListUsers");
    let diff = effect_diff(&before, &after);
    let declared = [
        restrict("0005_remove_pre_mfa_listing", &["iam:ListUsers"], &NO_MFA),
        restrict(
            "0005_remove_pre_mfa_listing",
            &["iam:ListAccountAliases"],
            &NO_MFA,
        ),
    ];
    let unused = forcemfa::engine::effect::unexercised(&diff, &declared);
    assert_eq!(unused.len(), 1);
    assert_eq!(
        unused[0].actions,
        ActionScope::Patterns(vec!["iam:ListAccountAliases".to_string()])
    );
}
