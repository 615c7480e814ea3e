//! The safety invariant on generated force-MFA policies: guards of every shape built from a
//! vocabulary of exemptions, conditions and resources, with targeted denies and grants around
//! them. A blocked change must say why; an unblocked one must be idempotent and must not let
//! anything outside the enrolment set be done without MFA that could not be done before.
//!
//! (The engine is getting its own never-less-safe check function in `effect/`; when it lands,
//! call it here too.)
#![no_main]

use forcemfa_engine::effect::{self, Context, Decision};
use forcemfa_engine::migration::{self, Options};
use forcemfa_engine::plan::{self, Input, Item, SizeLimit};
use forcemfa_engine::target::Target;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

const ACTIONS: &[&str] = &[
    "iam:ListUsers", "iam:GetUser", "iam:CreateVirtualMFADevice", "iam:EnableMFADevice",
    "iam:ListMFADevices", "iam:ListVirtualMFADevices", "iam:ResyncMFADevice", "sts:GetSessionToken",
    "iam:ChangePassword", "iam:GetAccountPasswordPolicy", "iam:DeactivateMFADevice",
    "iam:DeleteVirtualMFADevice", "iam:CreateLoginProfile", "iam:*", "iam:List*", "iam:Get*", "*",
    "iam:CreateAccessKey", "iam:CreateUser", "sts:AssumeRole", "s3:GetObject", "s3:*",
    "iam:ListAccountAliases", "ec2:Describe*", "iam:PassRole",
];
/// The design's enrolment set (§3 rule 6): the only actions a rewrite may open without MFA.
const ENROLMENT_SET: &[&str] = &[
    "iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:GetUser", "iam:ListMFADevices",
    "iam:ListVirtualMFADevices", "iam:ResyncMFADevice", "sts:GetSessionToken",
];
const RESOURCES: &[&str] = &[
    "*", "arn:aws:iam::*:user/${aws:username}", "arn:aws:iam::*:mfa/${aws:username}",
    "arn:aws:iam::*:mfa/*", "arn:aws:iam::123456789012:user/*", "arn:aws:s3:::b/*",
];

#[derive(Debug, Arbitrary)]
enum Cond {
    BoolIfExistsFalse,
    BoolFalse,
    BoolStringFalse,
    NullAge,
    AgeOver(u16),
    BoolTrue,
    None,
}

#[derive(Debug, Arbitrary)]
struct Stmt {
    allow: bool,
    not_action: bool,
    actions: Vec<u8>,
    resource: u8,
    cond: Cond,
    single_string: bool,
}

#[derive(Debug, Arbitrary)]
struct Doc {
    statements: Vec<Stmt>,
    version: bool,
}

fn condition(c: &Cond) -> Option<Value> {
    Some(match c {
        Cond::BoolIfExistsFalse => json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}),
        Cond::BoolFalse => json!({"Bool": {"aws:MultiFactorAuthPresent": "false"}}),
        Cond::BoolStringFalse => json!({"Bool": {"aws:multifactorauthpresent": false}}),
        Cond::NullAge => json!({"Null": {"aws:MultiFactorAuthAge": "true"}}),
        Cond::AgeOver(n) => json!({"NumericGreaterThanIfExists": {"aws:MultiFactorAuthAge": n.to_string()}}),
        Cond::BoolTrue => json!({"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
        Cond::None => return None,
    })
}

fn build(d: &Doc) -> Value {
    let statements: Vec<Value> = d
        .statements
        .iter()
        .take(6)
        .map(|s| {
            let actions: Vec<&str> = s
                .actions
                .iter()
                .take(8)
                .map(|i| ACTIONS[*i as usize % ACTIONS.len()])
                .collect();
            let list = match (s.single_string, actions.as_slice()) {
                (true, [one]) => json!(one),
                _ => json!(actions),
            };
            let mut st = serde_json::Map::new();
            st.insert("Effect".into(), json!(if s.allow { "Allow" } else { "Deny" }));
            st.insert((if s.not_action { "NotAction" } else { "Action" }).into(), list);
            st.insert("Resource".into(), json!(RESOURCES[s.resource as usize % RESOURCES.len()]));
            if let Some(c) = condition(&s.cond) {
                st.insert("Condition".into(), c);
            }
            Value::Object(st)
        })
        .collect();
    let mut doc = serde_json::Map::new();
    if d.version {
        doc.insert("Version".into(), json!("2012-10-17"));
    }
    doc.insert("Statement".into(), Value::Array(statements));
    Value::Object(doc)
}

fuzz_target!(|d: Doc| {
    let doc = build(&d);
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    let Ok(chain) = migration::default_chain() else {
        panic!("embedded migrations do not load");
    };
    let options = Options::default();
    let input = Input::file(Target::file("gen.json"), text, SizeLimit::Managed);
    let Item::Change(c) = plan::plan_one(&input, &chain, &options) else {
        return;
    };
    if c.is_blocked() {
        assert!(c.blocked.iter().all(|b| !b.trim().is_empty()), "empty reason");
        return;
    }
    let again = Input::file(Target::file("gen.json"), c.after.clone(), SizeLimit::Managed);
    if let Item::Change(d) = plan::plan_one(&again, &chain, &options) {
        panic!("not idempotent:\n{}\n{}", c.after, d.diff.unified);
    }
    // Never less safe: without MFA, nothing outside the enrolment set opens.
    let Ok(after) = serde_json::from_str::<Value>(&c.after) else {
        panic!("the new document is not JSON");
    };
    let diff = effect::effect_diff(&doc, &after);
    let enrolment = ENROLMENT_SET;
    for row in &diff.rows {
        let without_mfa = !matches!(row.context, Context::MfaPresent);
        let opens = matches!(row.after, Decision::Allowed) && !matches!(row.before, Decision::Allowed);
        if without_mfa && opens && !enrolment.iter().any(|a| a.eq_ignore_ascii_case(&row.action)) {
            panic!("{} opens without MFA ({:?}, {:?}):\n{}\n->\n{}", row.action, row.context,
                row.view, text_of(&doc), c.after);
        }
    }
});

fn text_of(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}
