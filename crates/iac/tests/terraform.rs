//! Terraform shapes through the crate's public API: what is read (locals, variable defaults,
//! quoted JSON strings, Terraform JSON, templates), how a rewrite keeps the file's bytes (line
//! endings, tabs, key style, comments), what is named for review (0.11 syntax, conditionals),
//! and that the engine's rewrite of any template reaches a fixed point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use forcemfa_engine::migration::{self, Options};
use forcemfa_engine::plan::{self, Input, Item, SizeLimit};
use forcemfa_engine::target::Target;
use forcemfa_iac::{self as iac, Embedded, FileKind, Form, IacError, PolicyKind};
use proptest::prelude::*;
use serde_json::Value;

fn fixture(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/iac/terraform")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The engine's new policy for `e`, if it would change it.
fn planned(e: &Embedded) -> Option<Value> {
    let chain = migration::default_chain().unwrap();
    let input = Input::file(
        Target::file(PathBuf::from("x.tf")),
        e.policy_text(),
        SizeLimit::Managed,
    );
    match plan::plan_one(&input, &chain, &Options::default()) {
        Item::Change(c) => {
            assert!(!c.is_blocked(), "blocked: {:?}", c.blocked);
            Some(serde_json::from_str(&c.after).unwrap())
        }
        _ => None,
    }
}

/// Plan and rewrite every policy of a file, one after another, as `apply` does.
fn upgrade(name: &str, text: &str) -> String {
    let mut current = text.to_string();
    let count = iac::extract(name, text).unwrap().len();
    for i in 0..count {
        let found = iac::extract(name, &current).unwrap();
        let e = &found[i];
        if let Some(new) = planned(e) {
            current = iac::rewrite(&current, e, &new).unwrap();
        }
    }
    current
}

/// Every policy of the file is up to date (the second plan is clean).
fn assert_clean(name: &str, text: &str) {
    for e in iac::extract(name, text).unwrap() {
        assert!(
            planned(&e).is_none(),
            "{name}: {} would change again:\n{text}",
            e.resource
        );
    }
}

fn by_resource<'a>(found: &'a [Embedded], resource: &str) -> &'a Embedded {
    found
        .iter()
        .find(|e| e.resource == resource)
        .unwrap_or_else(|| {
            let names: Vec<&str> = found.iter().map(|e| e.resource.as_str()).collect();
            panic!("{resource} not among {names:?}")
        })
}

fn exempt(e: &Embedded) -> String {
    e.policy.to_string()
}

#[test]
fn policies_in_locals_and_variable_defaults_are_read_with_their_users_kind() {
    let text = fixture("read/locals.tf");
    let found = iac::extract("locals.tf", &text).unwrap();
    assert_eq!(found.len(), 3, "{found:?}");
    let module = by_resource(&found, "module.guard.policy");
    assert_eq!(module.form, Form::TerraformHeredoc);
    let local = by_resource(&found, "local.force_mfa");
    assert_eq!(local.form, Form::TerraformHeredoc);
    assert_eq!(local.kind, PolicyKind::InlineGroup);
    assert_eq!(local.resource_type, "aws_iam_group_policy");
    assert!(exempt(local).contains("iam:ListUsers"));
    let shown = local.show(&local.policy.to_string());
    assert!(
        shown.contains("arn:${local.partition}:iam::${var.account_id}:user/${aws:username}"),
        "{shown}"
    );
    let var = by_resource(&found, "var.console_policy");
    assert_eq!(var.kind, PolicyKind::Managed);
    assert_eq!(var.line, 10);

    let after = upgrade("locals.tf", &text);
    assert!(!after.contains("\"iam:ListUsers\""), "{after}");
    // The indented heredoc stays indented, its interpolations and escapes as they were.
    assert!(after.contains(
        "\n          \"Resource\": \"arn:${local.partition}:iam::${var.account_id}:user/$${aws:username}\"\n"
    ));
    assert!(after.contains("\n  EOT\n"));
    assert!(after.contains("policy = local.force_mfa"));
    hcl_edit::parser::parse_body(&after).unwrap();
    assert_clean("locals.tf", &after);
}

#[test]
fn a_one_line_escaped_json_string_is_read_and_written_as_one() {
    let text = fixture("read/escaped.tf");
    let found = iac::extract("escaped.tf", &text).unwrap();
    let e = by_resource(&found, "aws_iam_policy.one_line");
    assert_eq!(e.form, Form::TerraformString);
    let new = planned(e).expect("the fixture needs an upgrade");
    let after = iac::rewrite(&text, e, &new).unwrap();
    assert_eq!(after.lines().count(), text.lines().count());
    let line = after.lines().nth(2).unwrap();
    assert!(line.starts_with("  policy = \"{\\\"Version\\\":"), "{line}");
    assert!(
        line.contains("${var.account_id}:user/$${aws:username}"),
        "{line}"
    );
    // The string decodes (as Terraform reads it) to the upgraded policy.
    let again = iac::extract("escaped.tf", &after).unwrap();
    assert_eq!(again[0].policy, new);
    hcl_edit::parser::parse_body(&after).unwrap();
    assert_clean("escaped.tf", &after);
}

#[test]
fn terraform_json_is_read_as_terraform_not_as_a_policy_file() {
    let text = fixture("read/guard.tf.json");
    assert_eq!(
        iac::classify("guard.tf.json", &text),
        Some(FileKind::TerraformJson)
    );
    let found = iac::extract("guard.tf.json", &text).unwrap();
    let string = by_resource(&found, "aws_iam_policy.force_mfa");
    assert_eq!(string.form, Form::TerraformJson);
    assert_eq!(string.kind, PolicyKind::Managed);
    by_resource(&found, "local.guard_only");
    let after = upgrade("guard.tf.json", &text);
    let json: Value = serde_json::from_str(&after).unwrap();
    let policy = json["resource"]["aws_iam_policy"]["force_mfa"]["policy"]
        .as_str()
        .unwrap();
    // The JSON string is a Terraform template: interpolation and escape kept.
    assert!(policy.contains("arn:aws:iam::${var.account_id}:user/$${aws:username}"));
    assert!(!policy.contains("iam:ListUsers"));
    let object = &json["locals"]["guard_only"]["Statement"][0]["NotAction"];
    assert!(!object.to_string().contains("iam:ListUsers"), "{object}");
    // Only the two policies changed: the variable block is byte for byte the same.
    assert!(after.starts_with(&text[..text.find("\"resource\"").unwrap()]));
    assert_clean("guard.tf.json", &after);
}

#[test]
fn a_json_template_is_recognised_by_its_variables_and_named_by_templatefile() {
    let plain = fixture("templates/plain.json");
    let partitioned = fixture("templates/partitioned.json");
    assert_eq!(iac::classify("plain.json", &plain), None);
    assert_eq!(
        iac::classify("partitioned.json", &partitioned),
        Some(FileKind::TerraformTemplate)
    );
    // A plain policy with only IAM variables stays a policy file.
    assert_eq!(
        iac::classify(
            "p.json",
            r#"{"Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::*:user/${aws:username}"}]}"#
        ),
        None
    );
    // Nor does a file another tool fills (`${ACCOUNT_ID}` beside a bare `${aws:username}`).
    assert_eq!(
        iac::classify(
            "p.json",
            r#"{"Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::${ACCOUNT_ID}:user/${aws:username}"}]}"#
        ),
        None
    );
    let main = fixture("templates/main.tf");
    assert_eq!(
        iac::template_references(&main),
        vec!["partitioned.json".to_string(), "plain.json".to_string()]
    );
    let found = iac::extract("main.tf", &main).unwrap();
    by_resource(&found, "data.template_file.inline");

    // A grant added to a template is written as the template writes it, and found again.
    let after = upgrade("partitioned.json", &partitioned);
    assert!(
        after.contains("\"arn:${aws_partition}:iam::*:mfa/*\""),
        "{after}"
    );
    assert!(!after.contains("\"arn:${aws_partition}:iam::*:user/${aws:username}\""));
    assert_clean("partitioned.json", &after);
    // The template named by `templatefile` gets `$${aws:username}`, never a bare `${`.
    let plain_after = iac::extract_template(&plain)
        .unwrap()
        .into_iter()
        .next()
        .map(|e| iac::rewrite(&plain, &e, &planned(&e).unwrap()).unwrap())
        .unwrap();
    assert!(
        plain_after.contains("user/$${aws:username}"),
        "{plain_after}"
    );
}

fn crlf(text: &str) -> String {
    text.replace('\n', "\r\n")
}

fn assert_all_crlf(text: &str) {
    for (i, line) in text.split_inclusive('\n').enumerate() {
        assert!(
            line.ends_with("\r\n"),
            "line {} is not CRLF: {line:?}",
            i + 1
        );
    }
}

#[test]
fn crlf_files_stay_crlf() {
    for name in ["style/colon.tf", "read/locals.tf", "style/tabs.tf"] {
        let text = crlf(&fixture(name));
        let after = upgrade("x.tf", &text);
        assert_ne!(after, text, "{name} was not upgraded");
        assert_all_crlf(&after);
        assert_clean("x.tf", &after);
    }
    let json = crlf(&fixture("templates/partitioned.json"));
    let after = upgrade("partitioned.json", &json);
    assert_ne!(after, json);
    assert_all_crlf(&after);
}

/// Lines of `after` not in `before`.
fn new_lines<'a>(before: &str, after: &'a str) -> Vec<&'a str> {
    let old: Vec<&str> = before.lines().collect();
    after.lines().filter(|l| !old.contains(l)).collect()
}

#[test]
fn a_jsonencode_keeps_its_key_style_and_the_comments_of_changed_statements() {
    let text = fixture("style/colon.tf");
    let after = upgrade("colon.tf", &text);
    let added = new_lines(&text, &after);
    assert!(!added.is_empty());
    for line in &added {
        assert!(!line.contains(" = "), "`=` in a `:` file: {line}");
    }
    assert!(added.iter().any(|l| l.contains("\"Sid\" : ")), "{added:?}");
    for kept in [
        "        # The guard: everything but MFA set-up needs MFA.\n        \"Sid\" : \"DenyWithoutMFA\",",
        "\"iam:CreateVirtualMFADevice\", # new devices",
        "\"Resource\" : \"*\", # all of them",
        "\"BoolIfExists\" : { # long-term keys",
    ] {
        assert!(after.contains(kept), "lost `{kept}`:\n{after}");
    }
    // The comment on the removed exemption goes with it.
    assert!(!after.contains("the console lists users"), "{after}");
    assert!(!after.contains("\"iam:ListUsers\""));
    hcl_edit::parser::parse_body(&after).unwrap();
    assert_clean("colon.tf", &after);
}

#[test]
fn a_tab_indented_jsonencode_stays_tab_indented() {
    let text = fixture("style/tabs.tf");
    let after = upgrade("tabs.tf", &text);
    let added = new_lines(&text, &after);
    assert!(!added.is_empty());
    for line in after.lines() {
        assert!(!line.starts_with(' '), "space indentation: {line:?}");
    }
    assert!(after.contains("\t\t\t\t# The guard.\n\t\t\t\tSid    = \"DenyWithoutMFA\""));
    assert!(after.contains("\t\t\t\t\tBoolIfExists = {"), "{after}");
    hcl_edit::parser::parse_body(&after).unwrap();
    assert_clean("tabs.tf", &after);
}

#[test]
fn unchanged_statements_keep_their_bytes() {
    // Only the guard changes (Bool → BoolIfExists): the other statement's lines are untouched,
    // even where they are not laid out as forcemfa would lay them out.
    let text = "resource \"aws_iam_policy\" \"p\" {\n  policy = jsonencode({\n    Version = \"2012-10-17\"\n    Statement = [\n      { Sid = \"Own\",   Effect = \"Allow\", Action = [\"iam:CreateVirtualMFADevice\",\"iam:EnableMFADevice\",\"iam:GetUser\",\"iam:ListMFADevices\",\"iam:ListVirtualMFADevices\",\"iam:ResyncMFADevice\"], Resource = \"*\" },\n      {\n        Sid       = \"Guard\"\n        Effect    = \"Deny\"\n        NotAction = [\"iam:CreateVirtualMFADevice\", \"iam:EnableMFADevice\", \"iam:GetUser\", \"iam:ListMFADevices\", \"iam:ListVirtualMFADevices\", \"iam:ResyncMFADevice\", \"sts:GetSessionToken\"]\n        Resource  = \"*\"\n        Condition = { Bool = { \"aws:MultiFactorAuthPresent\" = \"false\" } }\n      },\n    ]\n  })\n}\n";
    let after = upgrade("p.tf", text);
    assert_ne!(after, text);
    assert!(
        after.contains("{ Sid = \"Own\",   Effect = \"Allow\","),
        "{after}"
    );
    // The one-line condition keeps its line, the operator renamed in place.
    assert!(
        after.contains(
            "        Condition = { BoolIfExists = { \"aws:MultiFactorAuthPresent\" = \"false\" } }\n"
        ),
        "{after}"
    );
    let changed = new_lines(text, &after);
    assert!(
        changed.iter().all(|l| !l.contains("\"Own\"")),
        "{changed:?}"
    );
    assert_clean("p.tf", &after);
}

#[test]
fn terraform_0_11_syntax_is_named_for_review() {
    for name in ["tf011/quoted.tf", "tf011/attribute.tf"] {
        let text = fixture(name);
        match iac::extract("main.tf", &text) {
            Err(IacError::NeedsReview { line, message }) => {
                assert!(message.contains("Terraform 0.11 syntax"), "{message}");
                assert!(message.contains("terraform 0.12upgrade"), "{message}");
                assert!(text.lines().nth(line - 1).unwrap().contains("statement"));
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // One `statement = {` parses as HCL 2 and is still 0.11.
    let one = "data \"aws_iam_policy_document\" \"d\" {\n  statement = {\n    effect = \"Deny\"\n  }\n}\n";
    assert!(matches!(
        iac::extract("d.tf", one),
        Err(IacError::NeedsReview { line: 2, .. })
    ));
    // `tags = {` is an ordinary attribute.
    let tags =
        "resource \"aws_iam_user\" \"u\" {\n  name = \"x\"\n  tags = {\n    a = \"b\"\n  }\n}\n";
    assert!(iac::extract("u.tf", tags).unwrap().is_empty());
    assert!(matches!(
        iac::extract("bad.tf", "resource \"a\" {\n  x = \n"),
        Err(IacError::Syntax { .. })
    ));
}

#[test]
fn a_conditional_policy_is_read_never_written() {
    let text = fixture("style/conditional.tf");
    let found = iac::extract("conditional.tf", &text).unwrap();
    let e = by_resource(&found, "aws_iam_policy.chosen");
    assert_eq!(e.line, 7);
    assert!(
        e.obstacles[0].what.contains("conditional"),
        "{:?}",
        e.obstacles
    );
    let new = planned(e).expect("the branch needs an upgrade");
    let err = iac::rewrite(&text, e, &new).unwrap_err();
    assert_eq!(err.line, 7);
    assert!(err.reason.contains("var.strict"), "{}", err.reason);
}

/// The shapes of template text the property test writes a policy in.
#[derive(Debug, Clone, Copy)]
enum Shape {
    TemplateFile,
    Heredoc,
    IndentedHeredocInLocals,
    EscapedString,
    TerraformJsonString,
    /// JSON is HCL object syntax: the same text as a `jsonencode` argument.
    Jsonencode,
}

fn wrap(shape: Shape, json: &str) -> (&'static str, String) {
    match shape {
        Shape::TemplateFile => ("policy.json.tpl", json.to_string()),
        Shape::Heredoc => (
            "main.tf",
            format!("resource \"aws_iam_policy\" \"p\" {{\n  policy = <<EOF\n{json}EOF\n}}\n"),
        ),
        Shape::IndentedHeredocInLocals => {
            let body: String = json.lines().map(|l| format!("    {l}\n")).collect();
            (
                "main.tf",
                format!("locals {{\n  p = <<-EOT\n{body}  EOT\n}}\n"),
            )
        }
        Shape::EscapedString => {
            let compact: Value = serde_json::from_str(
                &json
                    .replace("$${", "\u{1}")
                    .replace("${", "\u{2}")
                    .replace('\u{1}', "$${")
                    .replace('\u{2}', "${"),
            )
            .unwrap_or(Value::Null);
            let one_line = serde_json::to_string(&compact).unwrap();
            let escaped = one_line.replace('\\', "\\\\").replace('"', "\\\"");
            (
                "main.tf",
                format!("resource \"aws_iam_policy\" \"p\" {{\n  policy = \"{escaped}\"\n}}\n"),
            )
        }
        Shape::Jsonencode => {
            let body: String = json
                .trim_end()
                .lines()
                .enumerate()
                .map(|(i, l)| {
                    if i == 0 {
                        l.to_string()
                    } else {
                        format!("\n  {l}")
                    }
                })
                .collect();
            (
                "main.tf",
                format!(
                    "resource \"aws_iam_policy\" \"p\" {{\n  policy = jsonencode({body})\n}}\n"
                ),
            )
        }
        Shape::TerraformJsonString => (
            "main.tf.json",
            format!(
                "{{\"resource\": {{\"aws_iam_policy\": {{\"p\": {{\"policy\": {}}}}}}}}}\n",
                serde_json::to_string(json).unwrap()
            ),
        ),
    }
}

fn template_policy(
    partition: &str,
    account: &str,
    grants: &[&str],
    exempt: &[&str],
    operator: &str,
) -> String {
    let user = format!("arn:{partition}:iam::{account}:user/$${{aws:username}}");
    let mut statements = Vec::new();
    if !grants.is_empty() {
        statements.push(format!(
            "    {{\n      \"Sid\": \"AllowOwn\",\n      \"Effect\": \"Allow\",\n      \"Action\": [{}],\n      \"Resource\": \"{user}\"\n    }}",
            grants
                .iter()
                .map(|a| format!("\"{a}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    statements.push(format!(
        "    {{\n      \"Sid\": \"DenyWithoutMFA\",\n      \"Effect\": \"Deny\",\n      \"NotAction\": [{}],\n      \"Resource\": \"*\",\n      \"Condition\": {{\"{operator}\": {{\"aws:MultiFactorAuthPresent\": \"false\"}}}}\n    }}",
        exempt
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    format!(
        "{{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n{}\n  ]\n}}\n",
        statements.join(",\n")
    )
}

const GRANTS: &[&str] = &[
    "iam:GetUser",
    "iam:EnableMFADevice",
    "iam:ListMFADevices",
    "iam:ResyncMFADevice",
    "iam:ChangePassword",
    "iam:CreateVirtualMFADevice",
];
const EXEMPT: &[&str] = &[
    "iam:CreateVirtualMFADevice",
    "iam:EnableMFADevice",
    "iam:GetUser",
    "iam:ListMFADevices",
    "iam:ListVirtualMFADevices",
    "iam:ResyncMFADevice",
    "sts:GetSessionToken",
    "iam:ListUsers",
    "iam:ChangePassword",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// For any template text the engine rewrites, rewriting its output changes nothing: the
    /// grants it added (written with the template's own variables) are found again.
    #[test]
    fn a_rewritten_template_is_a_fixed_point(
        partition in prop::sample::select(vec!["aws", "${aws_partition}", "${var.partition}", "${local.partition}", "${data.aws_partition.current.partition}"]),
        account in prop::sample::select(vec!["*", "${var.account_id}", "123456789012", "${data.aws_caller_identity.current.account_id}"]),
        grants in prop::sample::subsequence(GRANTS.to_vec(), 0..=GRANTS.len()),
        exempt in prop::sample::subsequence(EXEMPT.to_vec(), 3..=EXEMPT.len()),
        operator in prop::sample::select(vec!["Bool", "BoolIfExists"]),
        shape in prop::sample::select(vec![Shape::TemplateFile, Shape::Heredoc, Shape::IndentedHeredocInLocals, Shape::EscapedString, Shape::TerraformJsonString, Shape::Jsonencode]),
    ) {
        let json = template_policy(partition, account, &grants, &exempt, operator);
        let (name, text) = wrap(shape, &json);
        prop_assert_eq!(iac::extract(name, &text).unwrap().len(), 1, "{}", text);
        let first = upgrade(name, &text);
        let second = upgrade(name, &first);
        prop_assert_eq!(&second, &first, "not a fixed point for\n{}", text);
        for e in iac::extract(name, &first).unwrap() {
            prop_assert!(planned(&e).is_none(), "{} would change again:\n{}", e.resource, first);
        }
        if name.ends_with(".tf") {
            prop_assert!(hcl_edit::parser::parse_body(&first).is_ok(), "{}", first);
        }
        if name.ends_with(".tf.json") {
            prop_assert!(serde_json::from_str::<Value>(&first).is_ok(), "{}", first);
        }
        // Interpolations stay as the template wrote them.
        if text.contains(partition) && first != text {
            prop_assert!(first.contains(partition), "{}", first);
        }
    }
}

#[test]
fn hcl_inside_a_terraform_json_string_is_read_and_named_for_review() {
    let text = fixture("review/hcl_inside.tf.json");
    let found = iac::extract("hcl_inside.tf.json", &text).unwrap();
    let e = by_resource(&found, "aws_iam_policy.hcl_inside");
    assert_eq!(e.line, 6);
    assert!(exempt(e).contains("iam:ListUsers"));
    assert!(
        e.obstacles[0].what.contains("${jsonencode(…)}"),
        "{:?}",
        e.obstacles
    );
    let new = planned(e).expect("the policy needs an upgrade");
    let err = iac::rewrite(&text, e, &new).unwrap_err();
    assert_eq!(err.line, 6);
}

#[test]
fn a_policy_object_in_a_local_is_read_with_the_kind_of_its_user() {
    let text = "locals {\n  guard = {\n    Version = \"2012-10-17\"\n    Statement = [\n      {\n        Sid       = \"DenyWithoutMFA\"\n        Effect    = \"Deny\"\n        NotAction = [\"iam:CreateVirtualMFADevice\", \"iam:EnableMFADevice\", \"iam:GetUser\", \"iam:ListMFADevices\", \"iam:ListVirtualMFADevices\", \"iam:ResyncMFADevice\", \"iam:ListUsers\", \"sts:GetSessionToken\"]\n        Resource  = \"*\"\n        Condition = { BoolIfExists = { \"aws:MultiFactorAuthPresent\" = \"false\" } }\n      },\n    ]\n  }\n  unrelated = { a = 1 }\n}\n\nresource \"aws_iam_role_policy\" \"r\" {\n  role   = \"r\"\n  policy = jsonencode(local.guard)\n}\n";
    let found = iac::extract("main.tf", text).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].resource, "local.guard");
    assert_eq!(found[0].kind, PolicyKind::InlineRole);
    let after = upgrade("main.tf", text);
    assert!(!after.contains("iam:ListUsers"));
    assert!(after.contains("  unrelated = { a = 1 }\n"));
    assert_clean("main.tf", &after);
}

const FIXTURES: &[(&str, &str)] = &[
    ("read/locals.tf", "locals.tf"),
    ("read/escaped.tf", "escaped.tf"),
    ("read/guard.tf.json", "guard.tf.json"),
    ("style/colon.tf", "colon.tf"),
    ("style/tabs.tf", "tabs.tf"),
    ("style/conditional.tf", "conditional.tf"),
    ("templates/main.tf", "main.tf"),
    ("templates/partitioned.json", "partitioned.json"),
    ("tf011/quoted.tf", "quoted.tf"),
    ("review/hcl_inside.tf.json", "hcl_inside.tf.json"),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A damaged file (a piece cut out, or a piece doubled) is read or refused, never a panic;
    /// whatever is read can be planned and rewritten without one.
    #[test]
    fn damaged_terraform_never_panics(
        which in 0..FIXTURES.len(),
        at in 0.0f64..1.0,
        len in 0usize..40,
        double in any::<bool>(),
    ) {
        let (rel, name) = FIXTURES[which];
        let text = fixture(rel);
        let mut start = ((text.len() as f64) * at) as usize;
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + len).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let damaged = if double {
            format!("{}{}", &text[..end], &text[start..])
        } else {
            format!("{}{}", &text[..start], &text[end..])
        };
        if let Ok(found) = iac::extract(name, &damaged) {
            let chain = migration::default_chain().unwrap();
            for e in &found {
                let input = Input::file(Target::file(PathBuf::from(name)), e.policy_text(), SizeLimit::Managed);
                if let Item::Change(c) = plan::plan_one(&input, &chain, &Options::default()) {
                    if let Ok(new) = serde_json::from_str::<Value>(&c.after) {
                        let _ = iac::rewrite(&damaged, e, &new);
                    }
                }
            }
        }
    }
}
