//! Policies inside infrastructure as code, end to end through the binary: a folder holding a
//! CloudFormation YAML and JSON template, a `.tf` file (heredoc and `jsonencode`) and a
//! `templatefile` template is planned, applied to a temporary copy, re-read and re-planned clean;
//! the whole resulting text of each file is snapshotted, and every changed line is checked to lie
//! inside a policy.

use std::path::{Path, PathBuf};

use crate::util::{bin, fixture, read, root};

const MIXED: &[&str] = &[
    "force_mfa.json.tpl",
    "main.tf",
    "mfa-group.json",
    "mfa-stack.yaml",
];

fn copy_of(folder: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(folder)).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    dir
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The old-file line numbers (1-based) a rewrite removed or inserted next to.
fn touched_lines(before: &str, after: &str) -> Vec<usize> {
    let diff = similar::TextDiff::from_lines(before, after);
    let mut out = Vec::new();
    for op in diff.ops() {
        match *op {
            similar::DiffOp::Equal { .. } => {}
            similar::DiffOp::Delete {
                old_index, old_len, ..
            }
            | similar::DiffOp::Replace {
                old_index, old_len, ..
            } => out.extend(old_index + 1..=old_index + old_len),
            // An insertion sits between old lines `old_index` and `old_index + 1`.
            similar::DiffOp::Insert { old_index, .. } => out.push(old_index.max(1)),
        }
    }
    out
}

#[test]
fn mixed_folder_is_planned_applied_and_replanned_clean() {
    let dir = copy_of("iac/mixed");
    let originals: Vec<(PathBuf, String)> = MIXED
        .iter()
        .map(|n| (dir.path().join(n), read(&dir.path().join(n))))
        .collect();

    let plan = bin()
        .args(["plan", "--detailed-exitcode"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(plan.status.code(), Some(2), "{}", stdout(&plan));
    let text = stdout(&plan);
    for located in [
        "mfa-stack.yaml:25 (ForceMfaPolicy)",
        "mfa-stack.yaml:73 (UsersGroup/Policies/guard-only)",
        "mfa-group.json:15 (MfaGroup/Policies/force-mfa)",
        "main.tf:13 (aws_iam_policy.force_mfa_heredoc)",
        "main.tf:56 (aws_iam_group_policy.force_mfa_jsonencode)",
        "force_mfa.json.tpl:1 (template)",
    ] {
        assert!(text.contains(located), "{located} missing from:\n{text}");
    }
    assert!(text.contains("Plan: 6 to change"), "{text}");

    let apply = bin()
        .args(["apply", "--yes"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(apply.status.success(), "{}", stdout(&apply));
    assert!(stdout(&apply).contains("Applied 6, already applied 0, stale 0, failed 0"));

    for (path, before) in &originals {
        let after = read(path);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        insta::assert_snapshot!(format!("iac_applied_{name}"), after);
        // Every changed line lies inside one of the file's policies.
        let policies = forcemfa_iac::extract(&name, before).unwrap();
        for line in touched_lines(before, &after) {
            assert!(
                policies
                    .iter()
                    .any(|p| line >= p.line && line <= p.end_line + 1),
                "{name}: line {line} changed outside every policy"
            );
        }
        // The result re-parses with the same libraries, with the same policies.
        let again = forcemfa_iac::extract(&name, &after).unwrap();
        assert_eq!(again.len(), policies.len(), "{name}");
    }
    // Comments and unrelated resources survive.
    let yaml = read(&dir.path().join("mfa-stack.yaml"));
    for kept in [
        "# Unrelated: stays byte for byte.",
        "# What a user may see about the account.",
        "# Everything else needs MFA.",
        "Value: !Ref ForceMfaPolicy  # for other stacks",
    ] {
        assert!(yaml.contains(kept), "{kept}");
    }
    let tf = read(&dir.path().join("main.tf"));
    assert!(tf.contains("bucket = \"not-a-policy\" # stays as is"));
    assert!(tf.contains("$${aws:username}") && tf.contains("${var.account_id}:mfa/*"));

    let replan = bin()
        .args(["plan", "--detailed-exitcode"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(replan.status.code(), Some(0), "{}", stdout(&replan));
    assert!(stdout(&replan).contains("Plan: 0 to change, 6 up to date"));

    cfn_lint(&[
        &dir.path().join("mfa-stack.yaml"),
        &dir.path().join("mfa-group.json"),
    ]);
    terraform_fmt(&dir.path().join("main.tf"));
}

/// `cfn-lint` from the test venv; required on CI.
fn cfn_lint(files: &[&Path]) {
    cfn_lint_ignoring(files, &[])
}

fn cfn_lint_ignoring(files: &[&Path], ignore: &[&str]) {
    let lint = root().join(".venv/bin/cfn-lint");
    if !lint.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "cfn-lint is missing from .venv: `tests/run_moto.sh start` installs it"
        );
        crate::util::notice("cfn-lint not installed in .venv: template lint not run");
        return;
    }
    let mut cmd = std::process::Command::new(lint);
    cmd.args(files);
    if !ignore.is_empty() {
        cmd.arg("--ignore-checks").args(ignore);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "cfn-lint: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `terraform fmt -check`, where a terraform binary exists (it is not on CI).
fn terraform_fmt(file: &Path) {
    let out = std::process::Command::new("terraform")
        .args(["fmt", "-check", "-diff"])
        .arg(file)
        .output();
    match out {
        Ok(out) => assert!(out.status.success(), "terraform fmt: {}", stdout(&out)),
        Err(_) => crate::util::notice("no terraform binary: terraform fmt -check not run"),
    }
}

#[test]
fn a_computed_policy_is_reported_with_its_location_and_never_written() {
    let dir = copy_of("iac/computed");
    let file = dir.path().join("computed.tf");
    let before = read(&file);
    let out = bin().arg("plan").arg(dir.path()).output().unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("computed.tf:7 (aws_iam_policy.computed)"),
        "{text}"
    );
    assert!(text.contains("`var.exempt`"), "{text}");
    assert!(text.contains("what should change (by hand)"), "{text}");
    assert!(!text.contains("{{="), "placeholders leak: {text}");
    let apply = bin()
        .args(["apply", "--yes"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(apply.status.success());
    assert_eq!(read(&file), before);
}

#[test]
fn sarif_and_json_point_into_the_template() {
    let dir = copy_of("iac/mixed");
    let out = bin()
        .args(["scan", "--format", "sarif"])
        .arg(dir.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = v["runs"][0]["results"].as_array().unwrap();
    let loc = |r: &serde_json::Value| {
        let l = &r["locations"][0]["physicalLocation"];
        (
            l["artifactLocation"]["uri"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            l["region"]["startLine"].as_u64().unwrap_or(0),
        )
    };
    assert!(results.iter().any(|r| {
        let (uri, line) = loc(r);
        uri.ends_with("mfa-stack.yaml") && line == 25
    }));
    assert!(results.iter().any(|r| {
        let (uri, line) = loc(r);
        uri.ends_with("main.tf") && line == 56
    }));

    let out = bin()
        .args(["plan", "--format", "json"])
        .arg(dir.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let targets: Vec<&serde_json::Value> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["target"])
        .collect();
    assert!(targets.iter().any(|t| t["type"] == "embedded"
        && t["resource"] == "aws_iam_policy.force_mfa_heredoc"
        && t["line"] == 13));
}

#[test]
fn a_saved_plan_survives_edits_elsewhere_but_refuses_a_changed_policy() {
    let dir = copy_of("iac/mixed");
    let plan_file = dir.path().join("..").join(format!(
        "iac-plan-{}.json",
        dir.path().file_name().unwrap().to_string_lossy()
    ));
    bin()
        .args(["plan", "--out"])
        .arg(&plan_file)
        .arg(dir.path())
        .assert()
        .success();
    // An edit outside the policies: the plan still applies, the edit is kept.
    let yaml = dir.path().join("mfa-stack.yaml");
    let edited = read(&yaml).replacen("Resources:\n", "Resources:\n  # added after planning\n", 1);
    std::fs::write(&yaml, &edited).unwrap();
    // An edit inside a policy: that change is refused as stale, nothing written.
    let tf = dir.path().join("main.tf");
    let tf_edited = read(&tf).replacen(
        "\"iam:ListUsers\",",
        "\"iam:ListUsers\", \"iam:ListGroups\",",
        1,
    );
    std::fs::write(&tf, &tf_edited).unwrap();

    let out = bin()
        .args(["apply", "--yes", "--plan"])
        .arg(&plan_file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&plan_file);
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("stale"), "{text}");
    let yaml_after = read(&yaml);
    assert!(yaml_after.contains("# added after planning"));
    assert!(!yaml_after.contains("- iam:ListUsers\n              - sts"));
    assert!(read(&tf).contains("\"iam:ListGroups\""));
    // The heredoc policy in main.tf was edited: left as the operator wrote it.
    assert!(read(&tf).contains("\"iam:ListUsers\", \"iam:ListGroups\","));
}

/// Property tests: generated templates in every supported syntax, embedding generated policies.
/// Extraction finds the policy exactly (placeholders included); writing back the same policy
/// gives the file back byte for byte; writing back a changed policy changes nothing outside the
/// policy and reads back as the changed policy.
mod roundtrip {
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
            .prop_map(
                |(sid, deny, not_action, actions, own_user, condition)| Stmt {
                    sid,
                    deny,
                    not_action,
                    actions,
                    own_user,
                    condition,
                },
            )
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
                m.insert(
                    "Effect".into(),
                    json!(if s.deny { "Deny" } else { "Allow" }),
                );
                m.insert(
                    if s.not_action { "NotAction" } else { "Action" }.into(),
                    json!(s.actions),
                );
                m.insert(
                    "Resource".into(),
                    json!(if s.own_user {
                        syntax.resolved_arn()
                    } else {
                        "*"
                    }),
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
                s["Resource"] = json!(format!(
                    "arn:aws:iam::${{{account}}}:user/$${{aws:username}}"
                ));
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

    fn render(
        stmts: &[Stmt],
        syntax: Syntax,
        step: usize,
        comment: &str,
    ) -> (String, &'static str) {
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
}

#[test]
fn join_style_arns_are_added_in_join_style_and_an_aliased_policy_is_only_reported() {
    let template = "AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Policy:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument: &doc
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Action: [iam:EnableMFADevice, iam:GetUser, iam:ListMFADevices, iam:ResyncMFADevice]
            Resource: !Join ['', ['arn:', !Ref 'AWS::Partition', ':iam::', !Ref 'AWS::AccountId', ':user/${aws:username}']]
          - Effect: Deny
            NotAction: [iam:CreateVirtualMFADevice, iam:EnableMFADevice, iam:GetUser, iam:ListMFADevices, iam:ListVirtualMFADevices, iam:ResyncMFADevice, sts:GetSessionToken, iam:ListUsers]
            Resource: '*'
            Condition: {BoolIfExists: {aws:MultiFactorAuthPresent: 'false'}}
  Copy:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument: *doc
";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("anchors.yml");
    std::fs::write(&file, template).unwrap();
    let out = bin()
        .args(["apply", "--yes"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("anchors.yml:19 (Copy)"), "{text}");
    assert!(text.contains("YAML alias"), "{text}");
    let after = read(&file);
    assert!(
        after.contains(
            "!Join ['', ['arn:', !Ref AWS::Partition, ':iam::', !Ref AWS::AccountId, ':mfa/*']]"
        ),
        "{after}"
    );
    assert!(!after.contains("iam:ListUsers"), "{after}");
    assert!(after.contains("PolicyDocument: *doc"));
    // The alias itself is what cfn-lint warns about (W1101), before and after the rewrite.
    cfn_lint_ignoring(&[&file], &["W1101"]);
    let replan = bin().arg("plan").arg(dir.path()).output().unwrap();
    assert!(
        stdout(&replan).contains("0 to change"),
        "{}",
        stdout(&replan)
    );
}

#[test]
fn an_aws_iam_policy_document_is_rewritten_block_by_block() {
    let dir = copy_of("iac/document");
    let file = dir.path().join("policy_document.tf");
    let before = read(&file);
    let plan = bin()
        .args(["plan", "--detailed-exitcode"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = stdout(&plan);
    assert_eq!(plan.status.code(), Some(2), "{text}");
    assert!(
        text.contains("policy_document.tf:4 (data.aws_iam_policy_document.force_mfa)"),
        "{text}"
    );
    let apply = bin()
        .args(["apply", "--yes"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(apply.status.success(), "{}", stdout(&apply));
    let after = read(&file);
    insta::assert_snapshot!("iac_applied_policy_document.tf", after);
    let policies = forcemfa_iac::extract("policy_document.tf", &before).unwrap();
    for line in touched_lines(&before, &after) {
        assert!(
            policies
                .iter()
                .any(|p| line >= p.line && line <= p.end_line + 1),
            "line {line} changed outside the policy"
        );
    }
    assert!(after.contains("# the guard"));
    assert!(after.contains("test     = \"BoolIfExists\""), "{after}");
    assert!(!after.contains("\"iam:ListUsers\""), "{after}");
    assert!(after.contains("&{aws:username}"));
    let replan = bin()
        .args(["plan", "--detailed-exitcode"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(replan.status.code(), Some(0), "{}", stdout(&replan));
    terraform_fmt(&file);
}

#[test]
fn a_dynamic_statement_is_reported_not_guessed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dyn.tf");
    let tf = "data \"aws_iam_policy_document\" \"d\" {
  dynamic \"statement\" {
    for_each = var.statements
    content {
      effect  = \"Deny\"
      actions = statement.value
    }
  }
}
";
    std::fs::write(&file, tf).unwrap();
    let out = bin().arg("plan").arg(dir.path()).output().unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("dyn.tf:1 (data.aws_iam_policy_document.d)"),
        "{text}"
    );
    assert!(text.contains("line 2: a `dynamic` block"), "{text}");
    assert!(text.contains("1 need review"), "{text}");
}

/// A saved plan's template change is re-derived from its `before` (the whole file): an edited
/// `after` (a guard removed from the template) is refused and nothing is written (exit 4).
#[test]
fn an_edited_saved_plan_for_a_template_is_refused() {
    let dir = copy_of("iac/mixed");
    let plan_file = dir.path().join("plan.json");
    bin()
        .args(["plan", "--out"])
        .arg(&plan_file)
        .arg(dir.path())
        .assert()
        .success();
    let mut saved: serde_json::Value = serde_json::from_str(&read(&plan_file)).unwrap();
    let changes = saved["changes"].as_array().unwrap().clone();
    let i = changes
        .iter()
        .position(|c| c["target"]["kind"] == "embedded" || c["target"]["path"].is_string())
        .unwrap_or(0);
    let after = changes[i]["after"].as_str().unwrap().to_string();
    let tampered = after.replacen("Deny", "Allow", 1);
    assert_ne!(tampered, after);
    saved["changes"][i]["after"] = serde_json::json!(tampered);
    std::fs::write(&plan_file, saved.to_string()).unwrap();
    let before: Vec<String> = ["mfa-stack.yaml", "main.tf", "mfa-group.json"]
        .iter()
        .map(|f| read(&dir.path().join(f)))
        .collect();
    let out = bin()
        .args(["apply", "--yes", "--plan"])
        .arg(&plan_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match what forcemfa derives"));
    let _ = std::fs::remove_file(&plan_file);
    // The tampered change was not written; the honest ones may have been.
    let now: Vec<String> = ["mfa-stack.yaml", "main.tf", "mfa-group.json"]
        .iter()
        .map(|f| read(&dir.path().join(f)))
        .collect();
    for (b, n) in before.iter().zip(&now) {
        assert!(!n.contains(&tampered) || b == n);
    }
    assert!(!now.contains(&tampered));
}

/// Found by the `iac_roundtrip` fuzz target: a template that defines one logical id twice (YAML
/// parses it, CloudFormation refuses it) would let a change land on the wrong policy, since a
/// policy is found again by its address. The file is refused whole, with both lines.
#[test]
fn a_template_with_a_duplicated_logical_id_is_refused() {
    let text = std::fs::read(root().join("tests/fixtures/fuzz/iac_roundtrip/duplicate-logical-id"))
        .unwrap();
    // The fuzz input's first byte picks the file name: 0 is a YAML template.
    let text = String::from_utf8(text[1..].to_vec()).unwrap();
    let err = forcemfa_iac::extract("template.yaml", &text).unwrap_err();
    // Refused by the reader already (a key written twice), or as a duplicated address.
    let err = err.to_string();
    assert!(
        err.contains("defined twice") || err.contains("duplicate key \"UsersGroup\""),
        "{err}"
    );
}
