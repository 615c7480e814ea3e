//! Hardening: bad input is refused or reported (never altered unseen), output never loses or
//! hides a path, a journal survives a crash, and the terminal never receives raw control
//! characters. Each test pins one failure found by trying the tool adversarially.

use crate::util::*;
use forcemfa::engine::plan::Item;
use predicates::prelude::*;

const LEGACY: &str = "2018-docs-listusers.json";

fn legacy_text() -> String {
    read(&fixture(&format!("policies/{LEGACY}")))
}

// ---- duplicate keys -------------------------------------------------------------------------

#[test]
fn duplicate_keys_are_an_error_naming_the_key_and_line() {
    // `"Action": "s3:*"` then `"Action": [...]`: serde keeps the last one silently.
    let text = legacy_text().replacen(
        "\"Effect\": \"Allow\",",
        "\"Effect\": \"Allow\",\n            \"Action\": \"s3:*\",",
        1,
    );
    assert_ne!(text, legacy_text(), "the fixture changed shape");
    match plan_text("dup.json", &text, &[]) {
        Item::Error { error, .. } => {
            assert!(error.contains("duplicate key \"Action\""), "{error}");
            assert!(error.contains("line "), "{error}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn duplicate_keys_at_any_depth_are_found_and_distinct_keys_are_not() {
    use forcemfa::engine::policy;
    let err = policy::parse("{\"a\": {\"b\": [1, {\"c\": 1,\n \"c\": 2}]}}").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("duplicate key \"c\"") && msg.contains("line 2"),
        "{msg}"
    );
    // Keys differing in case are different JSON keys.
    assert!(policy::parse("{\"Action\": 1, \"action\": 2}").is_ok());
    assert!(policy::parse("{\"a\": {\"x\": 1}, \"b\": {\"x\": 1}}").is_ok());
}

// ---- size before effect ---------------------------------------------------------------------

/// A force-MFA policy with `n` extra Allow statements: far over any IAM limit.
pub fn huge_policy(n: usize) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(&legacy_text()).unwrap();
    let statements = doc["Statement"].as_array_mut().unwrap();
    for i in 0..n {
        statements.push(serde_json::json!({
            "Sid": format!("Extra{i}"),
            "Effect": "Allow",
            "Action": [format!("s3:GetObject{i}"), "s3:ListBucket"],
            "Resource": format!("arn:aws:s3:::bucket-{i}/*"),
        }));
    }
    serde_json::to_string_pretty(&doc).unwrap()
}

#[test]
fn a_document_over_the_limit_whatever_the_migrations_do_is_reported_before_planning() {
    match plan_text("huge.json", &huge_policy(2_000), &[]) {
        Item::Error { error, .. } => {
            assert!(error.contains("over the size limit of 6144"), "{error}")
        }
        other => panic!("expected a size error, got {other:?}"),
    }
}

#[test]
fn a_new_document_over_the_limit_is_blocked_without_an_effect_diff() {
    use forcemfa::engine::migration::{self, Options};
    use forcemfa::engine::plan::{self, Input, SizeLimit};
    use forcemfa::engine::target::{EntityKind, Target};
    let chain = migration::default_chain().unwrap();
    let opts = Options::default();
    let first = expect_change(plan_text(LEGACY, &legacy_text(), &[]));
    // An inline limit one character short of the new document: the input may still fit
    // (migrations could shorten it), the output does not.
    let others = EntityKind::Role.inline_limit() - (first.checks.size - 1);
    let input = Input::file(
        Target::file(LEGACY),
        legacy_text(),
        SizeLimit::Inline {
            entity: EntityKind::Role,
            others,
        },
    );
    let c = expect_change(plan::plan_one(&input, &chain, &opts));
    assert!(c.checks.size > c.checks.limit);
    assert!(
        c.blocked.iter().any(|b| b.contains("over the limit")),
        "{:?}",
        c.blocked
    );
    // The effect diff (quadratic in the document) was not computed, and says so.
    assert!(c.effect.rows.is_empty());
    assert_eq!(c.effect.universe_actions, 0);
    assert!(
        c.effect
            .not_computed
            .as_deref()
            .is_some_and(|w| w.contains("size")),
        "{:?}",
        c.effect.not_computed
    );
}

#[test]
fn a_document_within_the_limit_still_gets_its_effect_diff() {
    let c = expect_change(plan_text(LEGACY, &legacy_text(), &[]));
    assert!(c.effect.universe_actions > 0);
    assert!(c.effect.not_computed.is_none());
}

// ---- no silent loss in output -----------------------------------------------------------------

fn legacy_folder() -> tempfile::TempDir {
    temp_copy(&[(LEGACY, &legacy_text())])
}

#[cfg(unix)]
#[test]
fn a_non_utf8_file_name_is_an_error_item_and_the_json_report_keeps_everything() {
    use std::os::unix::ffi::OsStrExt;
    let dir = legacy_folder();
    let bad = dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"bad-\xff.json"));
    std::fs::write(&bad, legacy_text()).unwrap();
    let out = bin()
        .args(["plan", "--format", "json"])
        .arg(dir.path())
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON report");
    assert_eq!(v["summary"]["changes"], 1, "{v}");
    assert_eq!(v["summary"]["errors"], 1, "{v}");
    let err = &v["errors"][0];
    assert!(
        err["target"]["path"]
            .as_str()
            .unwrap()
            .contains("bad-\u{fffd}.json"),
        "{err}"
    );
    assert!(
        err["error"].as_str().unwrap().contains("not valid UTF-8"),
        "{err}"
    );
    // --out writes the plan of what could be read, whole.
    let plan = dir.path().join("plan.json");
    bin()
        .args(["plan", "--out"])
        .arg(&plan)
        .arg(dir.path())
        .assert()
        .code(1);
    let saved: serde_json::Value = serde_json::from_str(&read(&plan)).unwrap();
    assert_eq!(saved["changes"].as_array().unwrap().len(), 1);
}

/// A report that cannot reach its reader (a full disk behind the redirection) is a failed run
/// that says so, in every format, never an exit 0 with the report lost.
#[cfg(target_os = "linux")]
#[test]
fn a_report_that_cannot_be_written_to_standard_output_fails_the_run() {
    let dir = legacy_folder();
    for format in ["text", "json", "markdown"] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("forcemfa"))
            .env("NO_COLOR", "1")
            .args(["plan", "--format", format])
            .arg(dir.path())
            .stdout(std::process::Stdio::from(full))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{format}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("cannot write standard output"),
            "{format}: {stderr}"
        );
    }
}

#[test]
fn the_same_file_named_twice_is_planned_once() {
    let dir = legacy_folder();
    bin()
        .current_dir(dir.path())
        .args(["plan", LEGACY, &format!("./{LEGACY}")])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("Plan: 1 to change, 0 up to date"));
}

#[cfg(unix)]
#[test]
fn symlinks_are_followed_to_the_real_file_and_written_there() {
    let dir = tempfile::tempdir().unwrap();
    let real_dir = dir.path().join("real");
    let scan = dir.path().join("scan");
    std::fs::create_dir_all(&real_dir).unwrap();
    std::fs::create_dir_all(&scan).unwrap();
    let real = real_dir.join("policy.json");
    std::fs::write(&real, legacy_text()).unwrap();
    let link = scan.join("link.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    std::os::unix::fs::symlink(&real_dir, scan.join("linked-folder")).unwrap();
    // In a folder: the link is planned, the linked folder reported as skipped.
    bin()
        .args(["plan", "--color", "never"])
        .arg(&scan)
        .assert()
        .success()
        .stdout(predicate::str::contains("Plan: 1 to change"))
        .stdout(predicate::str::contains(
            "linked-folder: skipped: a symbolic link to a folder",
        ));
    // Named directly: apply writes the real file; the link stays a link.
    bin().args(["apply", "--yes"]).arg(&link).assert().success();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_ne!(read(&real), legacy_text(), "the real file is upgraded");
    bin()
        .args(["plan"])
        .arg(&real)
        .assert()
        .success()
        .stdout(predicate::str::contains("0 to change, 1 up to date"));
}

/// Templates are found the way policy files are: a link in a scanned folder is followed (and
/// written through), a template reached twice is planned once, a broken link is an error.
#[cfg(unix)]
#[test]
fn linked_templates_are_followed_planned_once_and_broken_links_reported() {
    let dir = tempfile::tempdir().unwrap();
    let real_dir = dir.path().join("real");
    let scan = dir.path().join("scan");
    std::fs::create_dir_all(&real_dir).unwrap();
    std::fs::create_dir_all(&scan).unwrap();
    let template = read(&fixture("iac/mixed/mfa-stack.yaml"));
    let real = real_dir.join("mfa-stack.yaml");
    std::fs::write(&real, &template).unwrap();
    let link = scan.join("linked-stack.yaml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    // The folder with the link: its two policies are planned.
    bin()
        .args(["plan", "--color", "never"])
        .arg(&scan)
        .assert()
        .success()
        .stdout(predicate::str::contains("Plan: 2 to change"));
    // Link and target both in the tree: planned once, not twice.
    bin()
        .args(["plan", "--color", "never"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("Plan: 2 to change"));
    // Apply through the link writes the real template; the link stays a link.
    bin().args(["apply", "--yes"]).arg(&scan).assert().success();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_ne!(read(&real), template, "the real template is upgraded");
    // A broken link to a template is an error, never passed over.
    std::os::unix::fs::symlink(dir.path().join("gone.tf"), scan.join("broken.tf")).unwrap();
    bin()
        .args(["plan", "--color", "never"])
        .arg(&scan)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("broken.tf"));
}

// ---- safe terminal output ---------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn control_characters_in_paths_are_escaped_in_text_json_and_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let name = "evil\u{1b}[2J\u{9b}31m\n`|.json";
    std::fs::write(dir.path().join(name), legacy_text()).unwrap();
    let run = |format: &str| {
        let out = bin()
            .args(["plan", "--color", "never", "--format", format])
            .arg(dir.path())
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    };
    let text = run("text");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
    assert!(
        text.contains("evil\\u{1b}[2J\\u{9b}31m\\n`|.json"),
        "{text}"
    );
    let json = run("json");
    assert!(
        !json.chars().any(|c| c.is_control() && c != '\n'),
        "{json:?}"
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["changes"][0]["target"]["path"]
        .as_str()
        .unwrap()
        .ends_with(name));
    let md = run("markdown");
    assert!(!md.chars().any(|c| c.is_control() && c != '\n'), "{md:?}");
    // The row stays one table row; the heading one line; the diff fence is closed.
    let row = md.lines().find(|l| l.contains("evil")).unwrap();
    assert!(
        row.starts_with("| ") && row.ends_with(" |") && row.contains("| change |"),
        "{row}"
    );
    assert!(
        md.lines()
            .any(|l| l.starts_with("## ") && l.contains("evil")),
        "{md}"
    );
    assert_eq!(md.matches("```").count() % 2, 0, "{md}");
}

#[test]
fn markdown_code_spans_and_fences_outlast_backticks_inside() {
    use forcemfa::report::{md_code, md_fence, md_text};
    assert_eq!(md_code("a`b|c"), "``a`b\\|c``");
    assert_eq!(md_code("`x"), "`` `x ``");
    assert_eq!(md_text("a|b*c_d\ne"), "a\\|b\\*c\\_d\\\\ne");
    let fenced = md_fence("diff", "+ \"```\"\n");
    assert!(
        fenced.starts_with("````diff\n") && fenced.ends_with("\n````"),
        "{fenced}"
    );
}

// ---- fail closed on IaC status ----------------------------------------------------------------

mod iac {
    use super::*;
    use aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsOutput;
    use aws_sdk_iam::operation::list_policy_tags::ListPolicyTagsError;
    use aws_sdk_iam::types::{ManagedPolicyDetail, PolicyVersion};
    use aws_sdk_iam::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;
    use forcemfa::engine::migration::Options;
    use forcemfa::sources::aws::AwsStore;

    const ARN: &str = "arn:aws:iam::123456789012:policy/ForceMFA";

    #[tokio::test]
    async fn unreadable_tags_mean_iac_managed_with_the_permission_named() {
        let doc = legacy_text();
        let gaad = mock!(Client::get_account_authorization_details).then_output(move || {
            GetAccountAuthorizationDetailsOutput::builder()
                .policies(
                    ManagedPolicyDetail::builder()
                        .arn(ARN)
                        .policy_name("ForceMFA")
                        .default_version_id("v1")
                        .policy_version_list(
                            PolicyVersion::builder()
                                .version_id("v1")
                                .is_default_version(true)
                                .document(doc.clone())
                                .build(),
                        )
                        .build(),
                )
                .is_truncated(false)
                .build()
        });
        let tags = mock!(Client::list_policy_tags).then_error(|| {
            ListPolicyTagsError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("not authorized to perform iam:ListPolicyTags")
                    .build(),
            )
        });
        // Who is affected reads the credential report and MFA devices too: denied here, which
        // makes verdicts unknown and never fails the plan.
        let report = mock!(Client::generate_credential_report).then_error(|| {
            aws_sdk_iam::operation::generate_credential_report::GenerateCredentialReportError::generic(
                ErrorMetadata::builder().code("AccessDenied").message("denied").build(),
            )
        });
        let devices = mock!(Client::list_virtual_mfa_devices).then_error(|| {
            aws_sdk_iam::operation::list_virtual_mfa_devices::ListVirtualMFADevicesError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("denied")
                    .build(),
            )
        });
        let client = mock_client!(
            aws_sdk_iam,
            RuleMode::MatchAny,
            [&gaad, &tags, &report, &devices]
        );
        let store = AwsStore::from_client(client, "123456789012");
        let chain = forcemfa::engine::migration::default_chain().unwrap();
        let (items, warnings) = forcemfa::commands::plan::plan_account_items(
            &store,
            &chain,
            &Options::default(),
            (&forcemfa::sources::evidence::Options::default(), None),
        )
        .await
        .unwrap();
        let c = expect_change(items.into_iter().next().unwrap());
        let why = c.iac_managed.as_deref().unwrap_or_default();
        assert!(why.contains("iam:ListPolicyTags"), "{why:?}");
        assert!(
            warnings.iter().any(|w| w.contains("iam:ListPolicyTags")
                && w.contains("treating it as managed by infrastructure as code")),
            "{warnings:?}"
        );
        // And apply skips it unless --include-iac-managed: the saved plan carries the marker.
        let file = forcemfa::engine::plan::PlanFile::new(
            &[Item::Change(c)],
            &forcemfa::engine::migration::default_chain().unwrap(),
            &Options::default(),
            String::new(),
        );
        assert!(file.changes[0].iac_managed.is_some());
    }
}

// ---- apply and rollback report what happened --------------------------------------------------

#[test]
fn apply_markdown_reports_outcomes_for_fresh_and_saved_plans() {
    let dir = legacy_folder();
    let out = bin()
        .args(["apply", "--yes", "--format", "markdown"])
        .arg(dir.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let md = String::from_utf8(out).unwrap();
    assert!(md.contains("Applied 1, already applied 0"), "{md}");
    assert!(md.lines().any(|l| l.contains("| applied |")), "{md}");
    // A saved plan: the outcome, not an empty rendering of the (absent) fresh plan.
    let dir = legacy_folder();
    let plan = dir.path().join("plan.json");
    bin()
        .args(["plan", "--out"])
        .arg(&plan)
        .arg(dir.path().join(LEGACY))
        .assert()
        .success();
    let out = bin()
        .args(["apply", "--yes", "--format", "json", "--plan"])
        .arg(&plan)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["outcomes"]["applied"], 1, "{v}");
    assert_eq!(v["results"][0]["outcome"], "applied", "{v}");
}

mod rollback {
    use super::*;
    use forcemfa::engine::target::{Target, TargetKind};
    use forcemfa::sources::journal::{Action, Journal, JournalEntry, Outcome};

    fn journal_with_one_publish(dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("journal.jsonl");
        let target = Target {
            account: Some("123456789012".into()),
            kind: TargetKind::Managed {
                arn: "arn:aws:iam::123456789012:policy/ForceMFA".into(),
                name: "ForceMFA".into(),
            },
        };
        let mut j = Journal::open(&path).unwrap();
        let e = JournalEntry {
            before: Some(legacy_text()),
            after: Some("{\"Version\":\"2012-10-17\",\"Statement\":[]}".into()),
            ..JournalEntry::new("run", "c1", &target, Action::Publish, Outcome::Pending)
        };
        j.append(&e).unwrap();
        j.append(&e.with_outcome(Outcome::Applied)).unwrap();
        path
    }

    #[test]
    fn an_unknown_change_id_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = journal_with_one_publish(dir.path());
        bin()
            .args(["rollback", "--yes", "--change", "nope", "--journal"])
            .arg(&path)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("no change \"nope\" to roll back"));
    }

    #[test]
    fn an_edited_before_document_is_refused_before_anything_is_contacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = journal_with_one_publish(dir.path());
        let text = read(&path);
        // An attacker (or a slip) turns the document to restore into Allow *:*.
        let edited = text.replacen("\"before\":\"{", "\"before\":\"{\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\",\\\"Action\\\":\\\"*\\\",\\\"Resource\\\":\\\"*\\\"}],\\\"x\\\":{", 1);
        assert_ne!(edited, text);
        std::fs::write(&path, edited).unwrap();
        bin()
            .args([
                "rollback",
                "--yes",
                "--endpoint-url",
                "http://127.0.0.1:9",
                "--journal",
            ])
            .arg(&path)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                "journal.jsonl:1 is refused: its content does not match its digest",
            ));
    }

    #[test]
    fn a_torn_line_in_the_middle_is_skipped_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = journal_with_one_publish(dir.path());
        let text = read(&path);
        let first = text.lines().next().unwrap();
        // A crash tore a record; a later run appended after it.
        std::fs::write(&path, format!("{}\n{text}", &first[..first.len() / 2])).unwrap();
        bin()
            .args(["rollback", "--yes", "--change", "other", "--journal"])
            .arg(&path)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("line 1 is incomplete"))
            .stderr(predicate::str::contains("no change \"other\""));
    }
}
