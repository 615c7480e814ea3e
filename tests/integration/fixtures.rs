//! Every published generation and real-world variant: snapshot of findings, migrations, diff
//! and effect; invariants (idempotence, expected rewrites) asserted in code.

use crate::util::*;
use forcemfa::engine::plan::Item;
use forcemfa::report::{self, Mode, TextOptions};

fn has(list: &[String], action: &str) -> bool {
    list.iter().any(|a| a.eq_ignore_ascii_case(action))
}

const ENROLMENT: &[&str] = &[
    "iam:CreateVirtualMFADevice",
    "iam:EnableMFADevice",
    "iam:GetUser",
    "iam:ListMFADevices",
    "iam:ListVirtualMFADevices",
    "iam:ResyncMFADevice",
    "sts:GetSessionToken",
];

#[test]
fn snapshot_every_fixture() {
    insta::glob!("../fixtures", "{policies,variants}/*.json", |path| {
        let text = read(path);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let item = plan_text(&name, &text, &[]);
        // Verbose: the snapshot holds the whole diff and every effect row (the default text
        // keeps them behind -v).
        let rendered = report::text(
            std::slice::from_ref(&item),
            Mode::Plan,
            TextOptions {
                verbose: true,
                ..TextOptions::default()
            },
        );
        insta::assert_snapshot!(rendered);
        // Invariants asserted, not only snapshotted.
        if let Item::Change(c) = &item {
            assert!(c.checks.idempotent, "{name}: not idempotent");
            assert!(c.blocked.is_empty(), "{name}: blocked: {:?}", c.blocked);
            let again = plan_text(&name, &c.after, &[]);
            assert!(
                matches!(again, Item::Unchanged { .. }),
                "{name}: second run changed something: {again:?}"
            );
            let ex = exemptions(&c.after);
            for a in ENROLMENT {
                assert!(has(&ex, a), "{name}: {a} not exempt after migration");
            }
            for a in [
                "iam:ListUsers",
                "iam:DeleteVirtualMFADevice",
                "iam:DeactivateMFADevice",
                "iam:*",
            ] {
                assert!(!has(&ex, a), "{name}: {a} still exempt");
            }
        }
    });
}

#[test]
fn current_policies_need_no_change() {
    for f in [
        "2023-11-docs-self-manage.json",
        "current-docs-mfa-only.json",
    ] {
        let text = read(&fixture(&format!("policies/{f}")));
        assert!(
            matches!(plan_text(f, &text, &[]), Item::Unchanged { .. }),
            "{f} should be up to date"
        );
    }
}

#[test]
fn list_users_leaves_the_exemptions_of_every_old_generation() {
    for f in [
        "2017-docs-tutorial-force-mfa.json",
        "2018-08-docs-tutorial-viewandmanage.json",
        "2018-docs-listusers.json",
        "2018-docs-iam-mfa-selfmanage-blockmost.json",
        "current-docs-iam-mfa-selfmanage.json",
    ] {
        let text = read(&fixture(&format!("policies/{f}")));
        assert!(
            has(&exemptions(&text), "iam:ListUsers"),
            "{f}: fixture premise"
        );
        let c = expect_change(plan_text(f, &text, &[]));
        assert!(!has(&exemptions(&c.after), "iam:ListUsers"), "{f}");
        // The with-MFA grant of iam:ListUsers is a customisation and stays.
        assert!(
            c.after.contains("\"iam:ListUsers\""),
            "{f}: Allow of ListUsers kept"
        );
    }
}

#[test]
fn wildcard_of_2015_becomes_the_explicit_enrolment_set() {
    let text = read(&fixture("policies/2015-blog-force-mfa.json"));
    let c = expect_change(plan_text("2015.json", &text, &[]));
    let ex = exemptions(&c.after);
    assert_eq!(ex.len(), ENROLMENT.len(), "{ex:?}");
    assert!(c.migrations.iter().any(|m| m.name == "explicit-exemptions"));
}

#[test]
fn bool_becomes_bool_if_exists_and_other_keys_stay() {
    let text = read(&fixture("variants/compact-bool.json"));
    let c = expect_change(plan_text("compact-bool.json", &text, &[]));
    assert!(c
        .after
        .contains("\"BoolIfExists\":{\"aws:MultiFactorAuthPresent\":\"false\"}"));
    assert!(!c.after.contains("\"Bool\":"));
    assert!(
        !c.after.contains('\n') || c.after.trim_end().lines().count() == 1,
        "compact stays compact"
    );

    let custom = read(&fixture("variants/customised-pipeline.json"));
    let c = expect_change(plan_text("custom.json", &custom, &[]));
    assert!(
        c.after.contains("\"aws:ViaAWSService\": \"false\""),
        "extra condition kept"
    );
    // sts:AssumeRole before MFA lets a stolen password assume roles: removed by default, and
    // kept only when the operator says so, still reported.
    assert!(
        !has(&exemptions(&c.after), "sts:AssumeRole"),
        "escalation exemption removed"
    );
    assert!(c
        .findings
        .iter()
        .any(|f| f.rule == "0008-remove-escalation-exemptions"
            && f.message.contains("sts:AssumeRole")));
    let kept = expect_change(plan_text("custom.json", &custom, &["sts:AssumeRole"]));
    assert!(has(&exemptions(&kept.after), "sts:AssumeRole"));
    assert!(kept
        .findings
        .iter()
        .any(|f| f.rule == "exemption-before-mfa"
            && f.severity == forcemfa::engine::detect::Severity::Info
            && f.message.contains("sts:AssumeRole")));
}

#[test]
fn create_virtual_mfa_device_moves_to_any_name() {
    let text = read(&fixture("policies/2021-docs-deny-all-except-listed.json"));
    let c = expect_change(plan_text("2021.json", &text, &[]));
    let doc = forcemfa::engine::policy::parse(&c.after).unwrap().value;
    let st = forcemfa::engine::policy::statements(&doc);
    // The statement granted Create and Delete: Create is split out on mfa/*, Delete keeps its resource.
    let create = st
        .iter()
        .find(|s| s["Action"] == serde_json::json!(["iam:CreateVirtualMFADevice"]))
        .expect("split statement");
    assert_eq!(create["Resource"], "arn:aws:iam::*:mfa/*");
    let delete = st
        .iter()
        .find(|s| s["Action"] == serde_json::json!(["iam:DeleteVirtualMFADevice"]))
        .expect("remaining statement");
    assert_eq!(delete["Resource"], "arn:aws:iam::*:mfa/${aws:username}");
}

#[test]
fn extended_2019_variant_keeps_its_exemptions_with_both_options() {
    let text = read(&fixture("policies/2019-seed-variant.json"));
    let c = expect_change(plan_text(
        "seed.json",
        &text,
        &["login-profile", "mfa-device-cleanup"],
    ));
    assert_eq!(exemptions(&c.after), exemptions(&text));
    let names: Vec<&str> = c.migrations.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["virtual-mfa-any-name", "current-self-service-grants"]
    );
    assert_eq!(
        c.options.allow_before_mfa,
        vec!["login-profile", "mfa-device-cleanup"]
    );
}

#[test]
fn options_only_add_exemptions_never_grants() {
    let text = read(&fixture("policies/2023-11-docs-self-manage.json"));
    let c = expect_change(plan_text("cur.json", &text, &["password-change"]));
    let ex = exemptions(&c.after);
    assert!(has(&ex, "iam:ChangePassword") && has(&ex, "iam:GetAccountPasswordPolicy"));
    let before = forcemfa::engine::policy::parse(&text).unwrap().value;
    let after = forcemfa::engine::policy::parse(&c.after).unwrap().value;
    let allows = |d: &serde_json::Value| {
        forcemfa::engine::policy::statements(d)
            .into_iter()
            .filter(|s| s["Effect"] == "Allow")
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(allows(&before), allows(&after));
}

#[test]
fn inverted_guard_becomes_not_action_and_partition_is_kept() {
    let text = read(&fixture("variants/inverted-action-guard.json"));
    let c = expect_change(plan_text("inv.json", &text, &[]));
    assert!(c.migrations.iter().any(|m| m.name == "guard-not-action"));
    assert!(c.after.contains("arn:aws-us-gov:iam::210987654321:mfa/*"));
    assert!(!c.after.contains("arn:aws:"), "no foreign partition added");
}

#[test]
fn guard_only_policy_stays_guard_only_and_narrow_resource_is_widened() {
    let text = read(&fixture("variants/single-statement-guard-only-cn.json"));
    let c = expect_change(plan_text("g.json", &text, &[]));
    let doc = forcemfa::engine::policy::parse(&c.after).unwrap().value;
    assert!(doc["Statement"].is_object(), "single statement object kept");
    assert_eq!(doc["Statement"]["Resource"], "*");
    assert_eq!(exemptions(&c.after).len(), ENROLMENT.len());
}

#[test]
fn untouched_statements_print_back_identically() {
    let text = read(&fixture("policies/2018-docs-listusers.json"));
    let c = expect_change(plan_text("l.json", &text, &[]));
    let before = forcemfa::engine::policy::parse(&text).unwrap().value;
    let after = forcemfa::engine::policy::parse(&c.after).unwrap().value;
    let b = forcemfa::engine::policy::statements(&before);
    let a = forcemfa::engine::policy::statements(&after);
    // The first statement (lists with MFA) is not something any migration touches.
    assert_eq!(b[0], a[0]);
    assert_eq!(
        serde_json::to_string(b[0]).unwrap(),
        serde_json::to_string(a[0]).unwrap(),
        "key order kept"
    );
}

#[test]
fn embedded_migrations_equal_the_folder() {
    let mut on_disk: Vec<String> = std::fs::read_dir(root().join("crates/engine/migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    on_disk.sort();
    let embedded: Vec<String> = forcemfa::engine::migration::EMBEDDED
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(embedded, on_disk);
    for (name, text) in forcemfa::engine::migration::EMBEDDED {
        assert_eq!(
            read(&root().join("crates/engine/migrations").join(name)),
            *text
        );
    }
}

#[test]
fn generations_bundled_equal_the_fixtures() {
    for (id, _, text) in forcemfa::engine::detect::GENERATIONS {
        assert_eq!(
            read(&fixture(&format!("policies/{id}.json"))),
            *text,
            "{id}"
        );
    }
}

#[test]
fn a_wrong_migration_is_blocked_with_a_readable_explanation() {
    // Claims to remove iam:ListUsers, but really exempts all of S3 before MFA.
    let wrong = r#"
id = "0001"
name = "wrong"
title = "A migration that lies about its effect"
since = "2026-01-01"
severity = "high"
why = "test"
sources = []

[[op]]
type = "ensure_exemptions"
actions = ["s3:*"]

[[effect]]
direction = "restrict"
contexts = ["mfa-absent", "mfa-key-missing"]
actions = ["iam:ListUsers"]
"#;
    let chain = forcemfa::engine::migration::load(&[("0001_wrong.toml", wrong)]).unwrap();
    let text = read(&fixture("policies/2018-docs-listusers.json"));
    let item = forcemfa::engine::plan::plan_one(
        &forcemfa::engine::plan::Input::file(
            forcemfa::engine::target::Target::file("l.json"),
            text,
            forcemfa::engine::plan::SizeLimit::Managed,
        ),
        &chain,
        &forcemfa::engine::migration::Options::default(),
    );
    let c = expect_change(item);
    assert!(c.is_blocked());
    let why = c.blocked.join("\n");
    assert!(why.contains("not what the migrations declare"), "{why}");
    assert!(why.contains("s3:"), "names the unexplained action: {why}");
    assert!(c
        .effect
        .unexplained
        .iter()
        .all(|r| r.action.starts_with("s3:")));
}

#[test]
fn every_migration_has_a_section_in_the_reference() {
    let doc = read(&root().join("docs/migrations.md"));
    for m in forcemfa::engine::migration::default_chain().unwrap() {
        let heading = format!("## {} {}", m.spec.id, m.spec.name);
        assert!(
            doc.contains(&heading),
            "docs/migrations.md lacks {heading:?}"
        );
    }
}

/// The reports operators paste into tickets and upload to code scanning, on a mixed folder:
/// a legacy policy, a current one, a non-policy and a broken file.
#[test]
fn snapshot_reports_markdown_json_sarif() {
    let items: Vec<Item> = [
        (
            "legacy.json",
            read(&fixture("policies/2018-docs-listusers.json")),
        ),
        (
            "current.json",
            read(&fixture("policies/current-docs-mfa-only.json")),
        ),
        ("package.json", "{\"name\": \"x\"}\n".to_string()),
        ("broken.json", "{\"Statement\": [\n".to_string()),
    ]
    .iter()
    .map(|(name, text)| plan_text(name, text, &[]))
    .collect();
    insta::assert_snapshot!("report_markdown", report::markdown(&items, Mode::Plan));
    crate::tools::assert_valid_sarif(&report::sarif(&items));
    insta::assert_json_snapshot!("report_sarif", report::sarif(&items));
    let mut json = report::json(&items, Mode::Plan).unwrap();
    // Effect rows are many; the summary and the shape are what the snapshot pins.
    json["changes"][0]["effect"]["rows"] = serde_json::json!("…");
    json["changes"][0]["before"] = serde_json::json!("…");
    json["changes"][0]["after"] = serde_json::json!("…");
    json["changes"][0]["diff"]["unified"] = serde_json::json!("…");
    insta::assert_json_snapshot!("report_json", json);
}

#[test]
fn snapshot_batch_account_table() {
    use forcemfa::report::parts::{table_markdown, AccountSummary};
    let rows = vec![
        AccountSummary {
            account: "111111111111".into(),
            name: Some("prod".into()),
            status: "ok",
            changed: 3,
            unchanged: 2,
            skipped: 5,
            blocked: 0,
            failed: 0,
            reasons: vec![],
        },
        AccountSummary {
            account: "222222222222".into(),
            name: Some("sandbox | legacy".into()),
            status: "failed",
            changed: 0,
            unchanged: 0,
            skipped: 0,
            blocked: 0,
            failed: 1,
            reasons: vec!["cannot assume arn:aws:iam::222222222222:role/OrganizationAccountAccessRole: access denied".into()],
        },
    ];
    insta::assert_snapshot!("batch_table", table_markdown(&rows, Mode::Apply));
}
