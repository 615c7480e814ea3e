//! Property tests: generated templates in every supported syntax, embedding generated policies.
//! Extraction finds the policy exactly (placeholders included); writing back the same policy gives
//! the file back byte for byte; writing back a changed policy changes nothing outside the policy and
//! reads back as the changed policy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::{json, Value};

const ACTIONS: &[&str] = &[
    "iam:CreateVirtualMFADevice",
    "iam:EnableMFADevice",
    "iam:ListMFADevices",
    "iam:ListUsers",
    "iam:ResyncMFADevice",
    "sts:GetSessionToken",
    "s3:GetObject",
    "*",
];

#[derive(Debug, Clone)]
struct Stmt {
    sid: Option<String>,
    deny: bool,
    not_action: bool,
    actions: Vec<&'static str>,
    own_user: bool,
    condition: bool,
}

fn stmt() -> impl Strategy<Value = Stmt> {
    (
        proptest::option::of("[A-Z][A-Za-z0-9]{0,12}"),
        any::<bool>(),
        any::<bool>(),
        proptest::sample::subsequence(ACTIONS, 1..5),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(sid, deny, not_action, actions, own_user, condition)| Stmt {
            sid,
            deny,
            not_action,
            actions,
            own_user,
            condition,
        })
}

/// How each syntax writes the own-user ARN, and how it resolves.
#[derive(Debug, Clone, Copy)]
enum Syntax {
    CfnYaml,
    CfnJson,
    Heredoc,
    Jsonencode,
    Template,
}

impl Syntax {
    fn resolved_arn(self) -> &'static str {
        match self {
            Syntax::CfnYaml | Syntax::CfnJson => {
                "arn:@@AWS..Partition@@:iam::@@AWS..AccountId@@:user/${aws:username}"
            }
            Syntax::Heredoc | Syntax::Jsonencode => {
                "arn:aws:iam::@@var.account_id@@:user/${aws:username}"
            }
            Syntax::Template => "arn:aws:iam::@@account_id@@:user/${aws:username}",
        }
    }
}

fn resolved(stmts: &[Stmt], syntax: Syntax) -> Value {
    let list: Vec<Value> = stmts
        .iter()
        .map(|s| {
            let mut m = serde_json::Map::new();
            if let Some(sid) = &s.sid {
                m.insert("Sid".into(), json!(sid));
            }
            m.insert("Effect".into(), json!(if s.deny { "Deny" } else { "Allow" }));
            m.insert(
                if s.not_action { "NotAction" } else { "Action" }.into(),
                json!(s.actions),
            );
            m.insert(
                "Resource".into(),
                json!(if s.own_user { syntax.resolved_arn() } else { "*" }),
            );
            if s.condition {
                m.insert(
                    "Condition".into(),
                    json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}),
                );
            }
            Value::Object(m)
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": list})
}

fn yaml(stmts: &[Stmt], step: usize, comment: &str) -> String {
    let i = |n: usize| " ".repeat(n * step);
    let mut out = format!(
        "AWSTemplateFormatVersion: '2010-09-09'\n# {comment}\nResources:\n{}Other:\n{}Type: AWS::S3::Bucket\n{}Policy:\n{}Type: AWS::IAM::ManagedPolicy\n{}Properties:\n{}PolicyDocument:\n{}Version: '2012-10-17'\n{}Statement:\n",
        i(1), i(2), i(1), i(2), i(2), i(3), i(4), i(4)
    );
    for s in stmts {
        let d = 5 * step;
        let mut lines = Vec::new();
        if let Some(sid) = &s.sid {
            lines.push(format!("Sid: {sid}"));
        }
        lines.push(format!("Effect: {}", if s.deny { "Deny" } else { "Allow" }));
        lines.push(format!(
            "{}:",
            if s.not_action { "NotAction" } else { "Action" }
        ));
        for a in &s.actions {
            lines.push(format!("{}- '{a}'", " ".repeat(step)));
        }
        lines.push(if s.own_user {
            "Resource: !Sub 'arn:${AWS::Partition}:iam::${AWS::AccountId}:user/${!aws:username}'"
                .to_string()
        } else {
            "Resource: '*'".to_string()
        });
        if s.condition {
            lines.push("Condition:".into());
            lines.push(format!("{}BoolIfExists:", " ".repeat(step)));
            lines.push(format!(
                "{}aws:MultiFactorAuthPresent: 'false'",
                " ".repeat(2 * step)
            ));
        }
        for (n, l) in lines.iter().enumerate() {
            if n == 0 {
                out.push_str(&format!("{}- {l}\n", " ".repeat(d - 2)));
            } else {
                out.push_str(&format!("{}{l}\n", " ".repeat(d)));
            }
        }
    }
    out.push_str("Outputs:\n  Arn:\n    Value: !Ref Policy # tail\n");
    out
}

fn json_template(stmts: &[Stmt]) -> String {
    let mut doc = resolved(stmts, Syntax::CfnJson);
    for s in doc["Statement"].as_array_mut().unwrap() {
        if s["Resource"] != "*" {
            s["Resource"] = json!({"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/${!aws:username}"});
        }
    }
    let t = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Other": {"Type": "AWS::SQS::Queue"},
            "Policy": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": doc}}
        }
    });
    serde_json::to_string_pretty(&t).unwrap() + "\n"
}

fn tf_json(stmts: &[Stmt], account: &str) -> String {
    let mut doc = resolved(stmts, Syntax::Heredoc);
    for s in doc["Statement"].as_array_mut().unwrap() {
        if s["Resource"] != "*" {
            s["Resource"] = json!(format!("arn:aws:iam::${{{account}}}:user/$${{aws:username}}"));
        }
    }
    serde_json::to_string_pretty(&doc).unwrap()
}

fn heredoc(stmts: &[Stmt], comment: &str) -> String {
    format!(
        "# {comment}\nresource \"aws_iam_policy\" \"p\" {{\n  name   = \"p\"\n  policy = <<EOF\n{}\nEOF\n}}\n",
        tf_json(stmts, "var.account_id")
    )
}

fn jsonencode(stmts: &[Stmt], comment: &str) -> String {
    let mut out = format!(
        "# {comment}\nresource \"aws_iam_policy\" \"p\" {{\n  policy = jsonencode({{\n    Version = \"2012-10-17\"\n    Statement = [\n"
    );
    for s in stmts {
        out.push_str("      {\n");
        if let Some(sid) = &s.sid {
            out.push_str(&format!("        Sid = \"{sid}\"\n"));
        }
        out.push_str(&format!(
            "        Effect = \"{}\"\n",
            if s.deny { "Deny" } else { "Allow" }
        ));
        let list: Vec<String> = s.actions.iter().map(|a| format!("\"{a}\"")).collect();
        out.push_str(&format!(
            "        {} = [{}]\n",
            if s.not_action { "NotAction" } else { "Action" },
            list.join(", ")
        ));
        out.push_str(&format!(
            "        Resource = \"{}\"\n",
            if s.own_user {
                "arn:aws:iam::${var.account_id}:user/$${aws:username}"
            } else {
                "*"
            }
        ));
        if s.condition {
            out.push_str("        Condition = {\n          BoolIfExists = {\n            \"aws:MultiFactorAuthPresent\" = \"false\"\n          }\n        }\n");
        }
        out.push_str("      },\n");
    }
    out.push_str("    ]\n  })\n}\n");
    out
}

fn render(stmts: &[Stmt], syntax: Syntax, step: usize, comment: &str) -> (String, &'static str) {
    match syntax {
        Syntax::CfnYaml => (yaml(stmts, step, comment), "t.yaml"),
        Syntax::CfnJson => (json_template(stmts), "t.json"),
        Syntax::Heredoc => (heredoc(stmts, comment), "main.tf"),
        Syntax::Jsonencode => (jsonencode(stmts, comment), "main.tf"),
        Syntax::Template => (tf_json(stmts, "account_id") + "\n", "p.json.tpl"),
    }
}

fn syntax() -> impl Strategy<Value = Syntax> {
    prop_oneof![
        Just(Syntax::CfnYaml),
        Just(Syntax::CfnJson),
        Just(Syntax::Heredoc),
        Just(Syntax::Jsonencode),
        Just(Syntax::Template),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn extraction_and_write_back_round_trip(
        stmts in proptest::collection::vec(stmt(), 1..4),
        syntax in syntax(),
        step in prop_oneof![Just(2usize), Just(4usize)],
        comment in "[a-z ]{0,20}",
    ) {
        let (text, name) = render(&stmts, syntax, step, &comment);
        let found = forcemfa_iac::extract(name, &text).unwrap();
        prop_assert_eq!(found.len(), 1, "{}", text);
        let e = &found[0];
        let expected = resolved(&stmts, syntax);
        prop_assert_eq!(&e.policy, &expected);
        prop_assert_eq!(forcemfa_iac::rewrite(&text, e, &e.policy).unwrap(), text.clone());

        // A changed policy: an action added to the first statement, a statement appended.
        let mut changed = expected.clone();
        let first = &mut changed["Statement"][0];
        let key = if first.get("NotAction").is_some() { "NotAction" } else { "Action" };
        first[key].as_array_mut().unwrap().push(json!("iam:GetUser"));
        changed["Statement"].as_array_mut().unwrap().push(json!({
            "Sid": "Added",
            "Effect": "Allow",
            "Action": ["iam:ListVirtualMFADevices"],
            "Resource": syntax.resolved_arn(),
        }));
        let new_text = forcemfa_iac::rewrite(&text, e, &changed).unwrap();
        let again = forcemfa_iac::extract(name, &new_text).unwrap();
        prop_assert_eq!(again.len(), 1, "{}", new_text);
        prop_assert_eq!(&again[0].policy, &changed, "{}", new_text);
        // Nothing before the policy's first line or after its last line changed.
        let lines: Vec<&str> = text.lines().collect();
        let new_lines: Vec<&str> = new_text.lines().collect();
        let head = e.line - 1;
        prop_assert_eq!(&lines[..head], &new_lines[..head]);
        let tail = lines.len() - e.end_line;
        prop_assert_eq!(&lines[lines.len() - tail..], &new_lines[new_lines.len() - tail..]);
    }
}
