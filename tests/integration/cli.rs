//! The binary as an operator uses it: commands, exit codes, formats, and what it writes.

use crate::util::*;
use predicates::prelude::*;

const LEGACY: &str = "2018-docs-listusers.json";
const CURRENT: &str = "2023-11-docs-self-manage.json";

fn policies(names: &[&str]) -> Vec<(String, String)> {
    names
        .iter()
        .map(|n| (n.to_string(), read(&fixture(&format!("policies/{n}")))))
        .collect()
}

fn folder(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let mut files: Vec<(String, String)> = policies(&[LEGACY, CURRENT]);
    files.extend(extra.iter().map(|(a, b)| (a.to_string(), b.to_string())));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    temp_copy(&refs)
}

#[test]
fn plan_shows_the_change_and_writes_nothing() {
    let dir = folder(&[]);
    let before = read(&dir.path().join(LEGACY));
    bin()
        .args(["plan"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "-                \"iam:ListUsers\",",
        ))
        .stdout(predicate::str::contains("Plan: 1 to change, 1 up to date"));
    assert_eq!(read(&dir.path().join(LEGACY)), before);
}

#[test]
fn detailed_exitcode_is_2_when_changes_are_pending() {
    let dir = folder(&[]);
    bin()
        .args(["plan", "--detailed-exitcode"])
        .arg(dir.path())
        .assert()
        .code(2);
    bin()
        .args(["scan", "--detailed-exitcode"])
        .arg(dir.path())
        .assert()
        .code(2);
    bin().args(["plan"]).arg(dir.path()).assert().code(0);
}

#[test]
fn apply_yes_then_plan_is_clean_and_style_is_kept() {
    let dir = folder(&[]);
    let current_before = read(&dir.path().join(CURRENT));
    bin()
        .args(["apply", "--yes"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("Applied 1, already applied 0"));
    bin()
        .args(["plan", "--detailed-exitcode"])
        .arg(dir.path())
        .assert()
        .code(0);
    let after = read(&dir.path().join(LEGACY));
    assert!(after.ends_with("}\n") || after.ends_with('}'));
    assert_eq!(
        after.ends_with('\n'),
        read(&fixture(&format!("policies/{LEGACY}"))).ends_with('\n'),
        "final newline kept as it was"
    );
    assert!(
        after.contains("\n        {\n            \"Sid\""),
        "4-space indentation kept"
    );
    assert_eq!(
        read(&dir.path().join(CURRENT)),
        current_before,
        "untouched file untouched"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 2, "no temp files left");
}

#[test]
fn invalid_json_is_an_error_left_byte_identical_and_the_run_continues() {
    let broken = "{\n  \"Statement\": [\n    {\"Effect\": \"Deny\",\n  ]\n}\n";
    let dir = folder(&[
        ("broken.json", broken),
        (
            "package.json",
            "{\"name\": \"x\", \"version\": \"1.0.0\"}\n",
        ),
    ]);
    bin()
        .args(["apply", "--yes"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "broken.json: invalid JSON at line 4",
        ))
        .stdout(predicate::str::contains(
            "package.json: skipped: not an IAM policy document",
        ));
    assert_eq!(read(&dir.path().join("broken.json")), broken);
    // The legacy policy was still migrated.
    assert!(!exemptions(&read(&dir.path().join(LEGACY)))
        .iter()
        .any(|a| a == "iam:ListUsers"));
}

#[test]
fn non_policy_json_does_not_change_the_exit_code() {
    let dir = temp_copy(&[("package.json", "{\"name\": \"x\"}\n")]);
    bin()
        .args(["plan", "--detailed-exitcode"])
        .arg(dir.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "skipped: not an IAM policy document",
        ));
}

#[test]
fn apply_without_terminal_or_yes_refuses_and_says_how() {
    let dir = folder(&[]);
    let before = read(&dir.path().join(LEGACY));
    bin()
        .args(["apply"])
        .arg(dir.path())
        .write_stdin("y\n")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--yes"));
    assert_eq!(read(&dir.path().join(LEGACY)), before);
}

#[test]
fn json_output_has_the_contract_fields() {
    let dir = folder(&[("package.json", "{}")]);
    let out = bin()
        .args(["plan", "--format", "json"])
        .arg(dir.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["changes", "unchanged", "skipped", "errors", "summary"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let change = &v["changes"][0];
    for key in [
        "target",
        "generation",
        "migrations",
        "before",
        "after",
        "diff",
        "effect",
    ] {
        assert!(change.get(key).is_some(), "change missing {key}");
    }
    assert_eq!(v["summary"]["changes"], 1);
    assert_eq!(v["summary"]["skipped"], 1);
}

#[test]
fn sarif_is_valid_shape_and_only_for_scan() {
    let dir = folder(&[]);
    let out = bin()
        .args(["scan", "--format", "sarif"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    crate::tools::assert_valid_sarif(&v);
    assert_eq!(v["version"], "2.1.0");
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["ruleId"]
        .as_str()
        .unwrap_or("")
        .contains("remove-risky-exemptions")));
    assert!(results.iter().all(
        |r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap_or("")
            .ends_with(LEGACY)
    ));
    bin()
        .args(["plan", "--format", "sarif"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("only for `scan`"));
}

#[test]
fn markdown_report_has_a_table_and_diff() {
    let dir = folder(&[]);
    bin()
        .args(["plan", "--format", "markdown"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "| target | status | generation | detail |",
        ))
        .stdout(predicate::str::contains("```diff"));
}

#[test]
fn bad_input_gives_clear_errors_not_panics() {
    bin()
        .args(["plan"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no usable AWS credentials"))
        .stderr(predicate::str::contains("--profile"));
    bin()
        .args(["plan", "/nonexistent/x.json"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("no such file or folder"));
    bin()
        .args(["plan", "--allow-before-mfa", "iam:*"])
        .arg(fixture("policies"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unknown --allow-before-mfa value"));
    bin()
        .args(["migrations", "show", "9999"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("migrations list"));
}

#[test]
fn migrations_list_and_show() {
    bin()
        .args(["migrations", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("0005  remove-risky-exemptions"));
    bin()
        .args(["migrations", "show", "0005"])
        .assert()
        .success()
        .stdout(predicate::str::contains("iam:ListUsers"))
        .stdout(predicate::str::contains("checksum: sha256:"));
}

#[test]
fn quiet_prints_only_the_summary() {
    let dir = folder(&[]);
    let out = bin().args(["plan", "-q"]).arg(dir.path()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn a_blocked_change_exits_4_and_is_never_written() {
    // The 2019 extended variant grows past a user's 2,048-character inline limit.
    let text = read(&fixture("policies/2019-seed-variant.json"));
    let dir = temp_copy(&[("seed.json", &text)]);
    bin()
        .args(["plan", "--kind", "user"])
        .arg(dir.path())
        .assert()
        .code(4)
        .stdout(predicate::str::contains("BLOCKED: the new document has"));
    bin()
        .args(["apply", "--yes", "--kind", "user"])
        .arg(dir.path())
        .assert()
        .code(4);
    assert_eq!(read(&dir.path().join("seed.json")), text);
}

#[test]
fn explain_prints_the_effect_of_a_rewrite() {
    let dir = folder(&[]);
    let before = dir.path().join("before.json");
    std::fs::copy(dir.path().join(LEGACY), &before).unwrap();
    bin()
        .args(["apply", "--yes"])
        .arg(dir.path().join(LEGACY))
        .assert()
        .success();
    bin()
        .args(["explain"])
        .arg(dir.path().join(LEGACY))
        .arg("--against")
        .arg(&before)
        .assert()
        .success()
        .stdout(predicate::str::contains("iam:ListUsers"))
        .stdout(predicate::str::contains("allowed → denied"));
    bin()
        .args(["explain"])
        .arg(dir.path().join(LEGACY))
        .assert()
        .success()
        .stdout(predicate::str::contains("sts:GetSessionToken"));
}

#[test]
fn usage_errors_exit_1_not_the_pending_code() {
    bin()
        .args(["plan", "--detailed-exitcode", "--bogus"])
        .arg(fixture("policies"))
        .assert()
        .code(1);
    bin().args(["--help"]).assert().code(0);
}

#[test]
fn saved_plan_applies_exactly_once_and_refuses_stale_or_foreign_plans() {
    let dir = folder(&[]);
    let plan = dir.path().join("plan.out");
    bin()
        .args(["plan", "--out"])
        .arg(&plan)
        .arg(dir.path())
        .assert()
        .success();
    let saved: serde_json::Value = serde_json::from_str(&read(&plan)).unwrap();
    assert_eq!(saved["schema"], "forcemfa-plan/1");
    assert_eq!(saved["changes"].as_array().unwrap().len(), 1);

    // A plan made with other migrations is refused before anything is written.
    let mut foreign = saved.clone();
    foreign["migrations"][0]["checksum"] = serde_json::json!("sha256:0000");
    let foreign_path = dir.path().join("foreign.out");
    std::fs::write(&foreign_path, foreign.to_string()).unwrap();
    bin()
        .args(["apply", "--yes", "--plan"])
        .arg(&foreign_path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("other migrations"));
    assert_eq!(
        read(&dir.path().join(LEGACY)),
        read(&fixture(&format!("policies/{LEGACY}")))
    );

    bin()
        .args(["apply", "--yes", "--plan"])
        .arg(&plan)
        .assert()
        .success()
        .stdout(predicate::str::contains("Applied 1, already applied 0"));
    let after = read(&dir.path().join(LEGACY));
    assert_eq!(after, saved["changes"][0]["after"].as_str().unwrap());
    // Applying the same plan again changes nothing.
    bin()
        .args(["apply", "--yes", "--plan"])
        .arg(&plan)
        .assert()
        .success()
        .stdout(predicate::str::contains("Applied 0, already applied 1"));
    assert_eq!(read(&dir.path().join(LEGACY)), after);

    // A target edited since the plan was made is refused as stale.
    let dir2 = folder(&[]);
    let plan2 = dir2.path().join("plan.out");
    bin()
        .args(["plan", "--out"])
        .arg(&plan2)
        .arg(dir2.path())
        .assert()
        .success();
    let edited = read(&dir2.path().join(LEGACY)).replace("iam:ListUsers", "iam:ListGroups");
    std::fs::write(dir2.path().join(LEGACY), &edited).unwrap();
    bin()
        .args(["apply", "--yes", "--plan"])
        .arg(&plan2)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("stale"));
    assert_eq!(read(&dir2.path().join(LEGACY)), edited);
}

/// Run `tests/pty_confirm.py` (a real pseudo-terminal) against a copy of the examples.
fn pty_apply(mode: &str) -> (tempfile::TempDir, String) {
    let dir = folder(&[]);
    std::fs::copy(
        fixture("policies/2015-blog-force-mfa.json"),
        dir.path().join("2015.json"),
    )
    .unwrap();
    let out = std::process::Command::new("python3")
        .arg(root().join("tests/pty_confirm.py"))
        .arg(assert_cmd::cargo::cargo_bin("forcemfa"))
        .arg(dir.path())
        .arg(mode)
        .output()
        .expect("python3 is needed for the terminal tests (it ships with this project's machines)");
    (dir, String::from_utf8_lossy(&out.stdout).to_string())
}

#[test]
fn interactive_prompts_in_a_real_terminal() {
    let (dir, screen) = pty_apply("answers");
    assert!(screen.contains("[y]es/[n]o/[a]ll/[q]uit"), "{screen}");
    assert!(
        screen.contains("answer y, n, a or q"),
        "an invalid answer is asked again: {screen}"
    );
    assert!(screen.contains("EXIT=0"), "{screen}");
    // y for the first (2015.json, sorted first), n for the second: only the first is written.
    let first = read(&dir.path().join("2015.json"));
    assert_ne!(first, read(&fixture("policies/2015-blog-force-mfa.json")));
    assert_eq!(
        read(&dir.path().join(LEGACY)),
        read(&fixture(&format!("policies/{LEGACY}")))
    );
}

#[test]
fn ctrl_c_at_a_prompt_stops_cleanly_with_130() {
    let (dir, screen) = pty_apply("ctrl-c");
    assert!(screen.contains("EXIT=130"), "{screen}");
    // The change confirmed before Ctrl-C is whole; nothing else was touched; no temp files.
    let written = read(&dir.path().join("2015.json"));
    assert!(forcemfa::engine::policy::parse(&written).is_ok());
    assert_ne!(written, read(&fixture("policies/2015-blog-force-mfa.json")));
    assert_eq!(
        read(&dir.path().join(LEGACY)),
        read(&fixture(&format!("policies/{LEGACY}")))
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(names.iter().all(|n| n.ends_with(".json")), "{names:?}");
}

/// Anyone who can touch a saved plan between review and apply (a pull request, a CI artifact)
/// must not be able to publish with the operator's credentials: an edited change is re-derived,
/// refused, and nothing is written (exit 4).
#[test]
fn an_edited_saved_plan_is_refused_and_nothing_is_written() {
    let dir = folder(&[]);
    let plan = dir.path().join("plan.out");
    bin()
        .args(["plan", "--out"])
        .arg(&plan)
        .arg(dir.path())
        .assert()
        .success();
    let mut saved: serde_json::Value = serde_json::from_str(&read(&plan)).unwrap();
    let open = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "AllowEverything", "Effect": "Allow", "Action": "*", "Resource": "*"}]});
    saved["changes"][0]["after"] = serde_json::json!(serde_json::to_string_pretty(&open).unwrap());
    let edited = dir.path().join("edited.out");
    std::fs::write(&edited, saved.to_string()).unwrap();
    let original = read(&dir.path().join(LEGACY));
    bin()
        .args(["apply", "--yes", "--plan"])
        .arg(&edited)
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "the plan does not match what forcemfa derives",
        ));
    assert_eq!(read(&dir.path().join(LEGACY)), original);

    // Options recorded in a plan are part of what is re-derived: a plan made with
    // --skip-migration applies with no options given, and refuses contradicting ones.
    let skip = dir.path().join("skip.out");
    bin()
        .args([
            "plan",
            "--skip-migration",
            "remove-risky-exemptions",
            "--out",
        ])
        .arg(&skip)
        .arg(dir.path())
        .assert()
        .success();
    let skipped: serde_json::Value = serde_json::from_str(&read(&skip)).unwrap();
    assert_eq!(
        skipped["options"]["skip_migration"],
        serde_json::json!(["0005"])
    );
    bin()
        .args(["apply", "--yes", "--skip-migration", "0001", "--plan"])
        .arg(&skip)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--skip-migration 0005"));
    bin()
        .args(["apply", "--yes", "--plan"])
        .arg(&skip)
        .assert()
        .success();
    assert!(read(&dir.path().join(LEGACY)).contains("iam:ListUsers"));
}

/// A "these actions need MFA" deny is a targeted requirement: never rewritten, and never
/// reported as "not a force-MFA policy" without saying what it is. (Written with `Bool`, its test
/// alone is narrowed, by 0011: `cli::a_targeted_requirement_written_with_bool_gets_only_if_exists`.)
#[test]
fn targeted_mfa_requirements_are_left_alone_and_named() {
    let targeted = r#"{"Version": "2012-10-17", "Statement": [
      {"Sid": "AllowSelfService", "Effect": "Allow", "Action": ["iam:GetUser", "iam:CreateAccessKey"],
       "Resource": "arn:aws:iam::*:user/${aws:username}"},
      {"Sid": "RequireMfaForThese", "Effect": "Deny",
       "Action": ["iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:EnableMFADevice", "sts:AssumeRole"],
       "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]}"#;
    let dir = temp_copy(&[("targeted.json", targeted)]);
    bin()
        .args(["plan", "--detailed-exitcode"])
        .arg(dir.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("targeted MFA requirement"));
    bin()
        .args(["apply", "--yes"])
        .arg(dir.path())
        .assert()
        .success();
    assert_eq!(read(&dir.path().join("targeted.json")), targeted);
}

/// The same requirement written with `Bool`: long-term access keys skip it, a `high` finding says
/// so, and the fix changes the operator only.
#[test]
fn a_targeted_requirement_written_with_bool_gets_only_if_exists() {
    let targeted = r#"{"Version": "2012-10-17", "Statement": [
      {"Sid": "RequireMfaForThese", "Effect": "Deny",
       "Action": ["iam:CreateAccessKey", "iam:DeleteAccessKey", "sts:AssumeRole"],
       "Resource": "*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}}]}"#;
    let dir = temp_copy(&[("targeted.json", targeted)]);
    bin()
        .args(["plan", "--detailed-exitcode"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "requests signed with long-term access keys skip this requirement",
        ))
        .stdout(predicate::str::contains("0011 targeted-bool-if-exists"));
    bin()
        .args(["apply", "--yes"])
        .arg(dir.path())
        .assert()
        .success();
    let parse = |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap();
    assert_eq!(
        parse(&read(&dir.path().join("targeted.json"))),
        parse(&targeted.replace("\"Bool\":", "\"BoolIfExists\":"))
    );
}

/// A policy that is otherwise up to date but exempts an action that changes how a user signs
/// in is reported with a severity, and `scan --detailed-exitcode` treats a high finding as pending.
#[test]
fn risky_exemptions_on_up_to_date_policies_are_findings_and_pending_for_scan() {
    let current = read(&fixture(&format!("policies/{CURRENT}")));
    let risky = current.replacen(
        "\"sts:GetSessionToken\"",
        "\"sts:GetSessionToken\",\n                \"iam:UpdateLoginProfile\"",
        1,
    );
    assert_ne!(risky, current);
    let dir = temp_copy(&[("risky.json", risky.as_str())]);
    bin()
        .args(["scan", "--detailed-exitcode"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stdout(predicate::str::contains("iam:UpdateLoginProfile"));
    bin()
        .args(["plan", "--detailed-exitcode"])
        .arg(dir.path())
        .assert()
        .code(0);
    let clean = temp_copy(&[("current.json", current.as_str())]);
    bin()
        .args(["scan", "--detailed-exitcode"])
        .arg(clean.path())
        .assert()
        .code(0);
}
