//! CloudFormation reading and writing, without the engine: what the template holds is read in
//! every YAML style, written back changing only the lines that must change, and what cannot be
//! written faithfully is refused with where and why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use forcemfa_iac::{comment_suppressions, extract, rewrite, suppressions, Embedded};
use proptest::prelude::*;
use serde_json::Value;

/// The policy with `Bool` renamed to `BoolIfExists` in every statement (what 0001 does).
fn bool_if_exists(e: &Embedded) -> Value {
    let text = serde_json::to_string(&e.policy).unwrap();
    serde_json::from_str(&text.replace("\"Bool\":", "\"BoolIfExists\":")).unwrap()
}

fn only(file: &str, text: &str) -> Embedded {
    let mut found = extract(file, text).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

const GUARD: &str = "AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Guard:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          # The guard.
          - Sid: DenyAllExceptListedIfNoMFA   # renamed by the security team
            Effect: Deny
            # Enrolment only.
            NotAction:
              - iam:CreateVirtualMFADevice   # the device
              - iam:EnableMFADevice
              - iam:GetUser
              - iam:ListMFADevices
              - iam:ListVirtualMFADevices
              - iam:ResyncMFADevice
              - sts:GetSessionToken
            Resource: '*'   # all of it
            Condition:
              # Long-term keys carry no MFA key.
              Bool:   # should be BoolIfExists
                aws:MultiFactorAuthPresent: 'false'   # as a string
";

#[test]
fn a_changed_statement_keeps_every_comment_next_to_what_it_described() {
    let e = only("t.yaml", GUARD);
    let out = rewrite(GUARD, &e, &bool_if_exists(&e)).unwrap();
    let changed: Vec<(&str, &str)> = GUARD
        .lines()
        .zip(out.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        [(
            "              Bool:   # should be BoolIfExists",
            "              BoolIfExists:   # should be BoolIfExists"
        )],
        "{out}"
    );
    assert_eq!(GUARD.lines().count(), out.lines().count());
}

#[test]
fn crlf_stays_crlf_in_the_lines_a_rewrite_prints() {
    let text = GUARD.replace('\n', "\r\n");
    let e = only("t.yaml", &text);
    let out = rewrite(&text, &e, &bool_if_exists(&e)).unwrap();
    assert!(out.contains("BoolIfExists:   # should be BoolIfExists\r\n"));
    assert_eq!(out.matches('\n').count(), out.matches("\r\n").count());
}

#[test]
fn an_anchor_an_alias_uses_is_refused_an_unused_one_kept() {
    let shared = GUARD.replace("          - Sid:", "          - &guard\n            Sid:")
        + "  Other:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - *guard
";
    let found = extract("t.yaml", &shared).unwrap();
    let e = found.iter().find(|e| e.resource == "Guard").unwrap();
    let err = rewrite(&shared, e, &bool_if_exists(e)).unwrap_err();
    assert!(
        err.reason.contains("YAML anchor") && err.reason.contains("line 33 uses as an alias"),
        "{err}"
    );
    // Nobody uses it: the anchor stays on the rewritten statement.
    let lonely = GUARD.replace("          - Sid:", "          - &guard\n            Sid:");
    let e = only("t.yaml", &lonely);
    let out = rewrite(&lonely, &e, &bool_if_exists(&e)).unwrap();
    assert!(
        out.contains("          - &guard\n            Sid: DenyAllExceptListedIfNoMFA   # renamed")
    );
    assert_eq!(only("t.yaml", &out).policy, bool_if_exists(&e));
}

#[test]
fn duplicate_keys_are_an_error_with_line_and_key() {
    let text = GUARD.replace(
        "            Effect: Deny\n",
        "            Effect: Deny\n            Effect: Allow\n",
    );
    let err = extract("t.yaml", &text).unwrap_err().to_string();
    assert_eq!(
        err,
        "line 12: duplicate key \"Effect\" (also at line 11): only one of the values would be used; remove the duplicate"
    );
}

#[test]
fn every_document_of_a_stream_is_read() {
    let text = format!("{GUARD}---\n{GUARD}");
    let found = extract("t.yaml", &text).unwrap();
    let names: Vec<&str> = found.iter().map(|e| e.resource.as_str()).collect();
    assert_eq!(names, ["Guard", "document 2/Guard"]);
    assert_eq!(found[1].line, 33);
    let out = rewrite(&text, &found[1], &bool_if_exists(&found[1])).unwrap();
    assert_eq!(
        out.matches(" BoolIfExists:").count(),
        1,
        "only the second: {out}"
    );
    assert!(out.rfind(" BoolIfExists:") > out.find("---"));
}

#[test]
fn a_guard_inside_fn_if_needs_review_with_its_line() {
    let text = GUARD.replace(
        "          - Sid: DenyAllExceptListedIfNoMFA   # renamed by the security team\n",
        "          - !If\n            - IsProd\n            - Sid: DenyAllExceptListedIfNoMFA\n",
    );
    // The statement's lines move two columns right under the condition.
    let text: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i >= 12 && l.starts_with("            ") {
                format!("  {l}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect::<String>()
        + "            - !Ref AWS::NoValue\n";
    let e = only("t.yaml", &text);
    let o = e.obstacles.first().expect("an obstacle");
    assert!(o.unreadable && o.what.contains("Fn::If"), "{o:?}");
    assert_eq!(o.line, 10);
    // The whole policy given by a condition: named too.
    let whole = GUARD.replace(
        "      PolicyDocument:\n",
        "      PolicyDocument: !If [IsProd, {Statement: [{Effect: Deny, NotAction: iam:GetUser, Resource: '*', Condition: {Bool: {aws:MultiFactorAuthPresent: false}}}]}, !Ref AWS::NoValue]\n      Unused:\n",
    );
    let e = only("t.yaml", &whole);
    assert!(e.obstacles.iter().any(|o| o.unreadable && o.line == 6));
}

#[test]
fn a_policy_given_as_a_json_string_is_rewritten_inside_its_string() {
    let text = "Resources:
  Admins:
    Type: AWS::IAM::Group
    Properties:
      Policies:
        - PolicyName: p
          PolicyDocument: |
            {
              \"Version\": \"2012-10-17\",
              \"Statement\": [
                {\"Effect\": \"Allow\", \"Action\": \"iam:GetUser\", \"Resource\": \"*\"},
                {\"Effect\": \"Deny\", \"NotAction\": \"iam:GetUser\", \"Resource\": \"*\", \"Condition\": {\"Bool\": {\"aws:MultiFactorAuthPresent\": \"false\"}}}
              ]
            }
          # after
";
    let e = only("t.yaml", text);
    assert_eq!(e.resource, "Admins/Policies/p");
    let out = rewrite(text, &e, &bool_if_exists(&e)).unwrap();
    // The unchanged statement keeps its line; the rest of the file too.
    assert!(out.contains(
        "                {\"Effect\": \"Allow\", \"Action\": \"iam:GetUser\", \"Resource\": \"*\"},\n"
    ));
    assert!(out.starts_with(&text[..text.find("{\n").unwrap()]));
    assert!(out.ends_with("            }\n          # after\n"), "{out}");
    assert_eq!(only("t.yaml", &out).policy, bool_if_exists(&e));
}

#[test]
fn suppressions_are_read_from_comments_and_metadata() {
    let text = "# forcemfa:skip=0001,remove-risky-exemptions break-glass keys\n# unrelated\nx // forcemfa:skip=0008: pipeline\n";
    let s = comment_suppressions(text, 0..text.len());
    let got: Vec<(&str, &str, usize)> = s
        .iter()
        .map(|s| (s.migration.as_str(), s.reason.as_str(), s.line))
        .collect();
    assert_eq!(
        got,
        [
            ("0001", "break-glass keys", 1),
            ("remove-risky-exemptions", "break-glass keys", 1),
            ("0008", "pipeline", 3)
        ]
    );
    let cfn = GUARD.replace(
        "    Type: AWS::IAM::ManagedPolicy\n",
        "    Type: AWS::IAM::ManagedPolicy\n    Metadata:\n      forcemfa:\n        skip: ['0005']\n        reason: kept for the console\n",
    );
    let e = only("t.yaml", &cfn);
    let s = suppressions("t.yaml", &cfn, &e);
    assert_eq!(s.len(), 1);
    assert_eq!(
        (s[0].migration.as_str(), s[0].reason.as_str()),
        ("0005", "kept for the console")
    );
    // Another resource's comment does not apply.
    let two = format!(
        "{GUARD}  # forcemfa:skip=0001 not for Guard\n  Other:\n    Type: AWS::S3::Bucket\n"
    );
    let e = only("t.yaml", &two);
    assert!(suppressions("t.yaml", &two, &e).is_empty());
}

#[test]
fn a_terraform_resource_takes_the_comments_on_and_above_it() {
    let text = "# forcemfa:skip=0005 console users list each other
resource \"aws_iam_policy\" \"force_mfa\" {
  name   = \"force-mfa\"
  policy = <<EOF
{
  \"Version\": \"2012-10-17\",
  \"Statement\": [{\"Effect\": \"Deny\", \"NotAction\": \"iam:ListUsers\", \"Resource\": \"*\",
    \"Condition\": {\"BoolIfExists\": {\"aws:MultiFactorAuthPresent\": \"false\"}}}]
}
EOF
}
";
    let e = only("main.tf", text);
    let s = suppressions("main.tf", text, &e);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0].migration, "0005");
    assert_eq!(s[0].reason, "console users list each other");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Wherever comments sit in a rewritten statement, every one is still there afterwards, and
    /// the rewritten file reads back as the planned policy.
    #[test]
    fn comments_survive_a_rewrite(mask in proptest::collection::vec(any::<bool>(), 16), crlf in any::<bool>()) {
        let mut text = String::new();
        let mut comments = Vec::new();
        for (i, line) in GUARD.lines().enumerate() {
            // Drop the fixture's own comments; put ours where the mask says.
            let code = match line.find(" #") {
                Some(c) if !line.trim_start().starts_with('#') => &line[..c],
                _ if line.trim_start().starts_with('#') => continue,
                _ => line,
            };
            if i >= 9 && mask.get(i - 9).copied().unwrap_or(false) {
                let c = format!("# note {i}");
                text.push_str(&format!("{code}   {c}\n"));
                comments.push(c);
            } else {
                text.push_str(&format!("{code}\n"));
            }
        }
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        let e = only("t.yaml", &text);
        let planned = bool_if_exists(&e);
        let out = rewrite(&text, &e, &planned).unwrap();
        for c in &comments {
            prop_assert!(out.contains(c.as_str()), "{} lost:\n{}", c, out);
        }
        prop_assert_eq!(only("t.yaml", &out).policy, planned);
        if crlf {
            prop_assert_eq!(out.matches('\n').count(), out.matches("\r\n").count());
        }
    }
}

#[test]
fn a_policy_forcemfa_cannot_read_that_tests_mfa_is_named_not_passed_over() {
    let text = "Resources:
  Guard:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument: !Sub |
        {\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Deny\", \"NotAction\": \"iam:GetUser\",
          \"Resource\": \"arn:${AWS::Partition}:iam::*:*\", \"Condition\": {\"Bool\": {\"aws:MultiFactorAuthPresent\": \"false\"}}}]}
  Other:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument: !Sub '{\"Statement\": []}'
";
    let e = only("t.yaml", text);
    assert_eq!(e.resource, "Guard");
    assert!(
        e.obstacles
            .iter()
            .any(|o| o.unreadable && o.line == 5 && o.what.contains("Fn::Sub")),
        "{:?}",
        e.obstacles
    );
}

#[test]
fn a_suppression_trailing_the_last_line_of_a_resource_counts() {
    let text = format!(
        "{}  Next:\n    Type: AWS::S3::Bucket\n",
        GUARD.replace(
            "aws:MultiFactorAuthPresent: 'false'   # as a string",
            "aws:MultiFactorAuthPresent: 'false'   # forcemfa:skip=0001 keys of the pipeline",
        )
    );
    let e = only("t.yaml", &text);
    let s = suppressions("t.yaml", &text, &e);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!((s[0].migration.as_str(), s[0].line), ("0001", 25));
}

#[test]
fn crlf_rewrites_never_split_a_character() {
    // The changed part starts inside a two-byte character shared by the old and new text.
    let text = GUARD
        .replace("IfNoMFA   #", "IfNoMFAé   #")
        .replace('\n', "\r\n");
    let e = only("t.yaml", &text);
    let mut planned = bool_if_exists(&e);
    planned["Statement"][0]["Sid"] = Value::String("DenyAllExceptListedIfNoMFAè".into());
    let out = rewrite(&text, &e, &planned).unwrap();
    assert!(out.contains("DenyAllExceptListedIfNoMFAè"));
    assert_eq!(out.matches('\n').count(), out.matches("\r\n").count());
}
