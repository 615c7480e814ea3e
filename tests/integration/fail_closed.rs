//! Where forcemfa decides, it fails closed: the impact gate when who is affected cannot be read,
//! saved plans whose words or paths were edited, options that would be ignored, and the output an
//! operator or a script relies on (exit codes, a closed pipe, JSON errors, the journal, the config
//! file that chose an option).

use std::path::Path;
use std::process::{Command, Stdio};

use predicates::prelude::*;
use serde_json::{json, Value};

use crate::batch::{account_with, accounts_file, forcemfa, iam_in, Proxy};
use crate::moto;
use crate::util::{bin, fixture, read, temp_copy};

/// A legacy guard written with `Bool`: long-term keys escape it, which the upgrade ends.
const BOOL_GUARD: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Sid":"AllowManageOwnMFA","Effect":"Allow","Action":["iam:CreateVirtualMFADevice","iam:EnableMFADevice","iam:GetUser","iam:ListMFADevices","iam:ResyncMFADevice"],"Resource":["arn:aws:iam::*:mfa/${aws:username}","arn:aws:iam::*:user/${aws:username}"]},
 {"Sid":"DenyAllExceptListedIfNoMFA","Effect":"Deny","NotAction":["iam:CreateVirtualMFADevice","iam:EnableMFADevice","iam:GetUser","iam:ListMFADevices","iam:ListVirtualMFADevices","iam:ResyncMFADevice","sts:GetSessionToken","iam:ListUsers"],"Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}]}"#;

const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","ec2:Describe*"],"Resource":"*"}]}"#;

const LEGACY: &str = "2018-docs-listusers.json";

fn policies_dir() -> tempfile::TempDir {
    let text = read(&fixture(&format!("policies/{LEGACY}")));
    temp_copy(&[(LEGACY, &text)])
}

fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

async fn default_version(account: &str, arn: &str) -> String {
    iam_in(account)
        .await
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .unwrap()
        .policy()
        .unwrap()
        .default_version_id()
        .unwrap()
        .to_string()
}

/// An account whose legacy policy reaches `carol` (an access key, no MFA device) through a group
/// that also grants some reading: what she loses with the upgrade.
async fn account_with_carol() -> (String, String) {
    let (account, arn) = account_with("gate", BOOL_GUARD, &[]).await;
    let iam = iam_in(&account).await;
    moto::create_group(&iam, "devs").await;
    let read = moto::create_managed(&iam, "read-only", READ_ONLY, &[]).await;
    for policy in [&arn, &read] {
        iam.attach_group_policy()
            .group_name("devs")
            .policy_arn(policy)
            .send()
            .await
            .unwrap();
    }
    moto::create_user(&iam, "carol", &[]).await;
    iam.add_user_to_group()
        .group_name("devs")
        .user_name("carol")
        .send()
        .await
        .unwrap();
    iam.create_access_key()
        .user_name("carol")
        .send()
        .await
        .unwrap();
    (account, arn)
}

/// Denying the credential report and the MFA device list makes every verdict on users unknown:
/// `apply --yes` holds the change back (exit 4) instead of publishing it, writes no journal and
/// gives no undo hint; a saved plan reviewed with carol losing access is not published on that
/// weaker information even with `--accept-impact`; a saved change edited to name an account
/// outside the plan is refused, counted and decides the exit code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_gate_holds_back_what_it_cannot_judge() {
    let (account, arn) = account_with_carol().await;
    let dir = tempfile::tempdir().unwrap();
    let file = accounts_file(dir.path(), &[&account]);
    let file_s = file.to_str().unwrap();
    let plan = dir.path().join("plan.json");
    let plan_s = plan.to_str().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let journal_s = journal.to_str().unwrap();

    // Reviewed with everything readable: carol loses access.
    let (code, stdout, stderr) = forcemfa(
        &moto::endpoint(),
        &["plan", "--accounts", file_s, "--out", plan_s],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(
        saved["changes"][0]["impact"]["principals"][0]["verdict"], "loses-access",
        "{saved}"
    );

    let deny = |action: &str| json!({"account": account, "action": action, "fault": "denied", "times": -1});
    let proxy = Proxy::start(
        json!([
            deny("GenerateCredentialReport"),
            deny("GetCredentialReport"),
            deny("ListVirtualMFADevices")
        ]),
        0,
    );

    // A fresh apply --yes: held back, nothing written, no journal, no undo hint.
    let fresh = [
        "apply",
        "--yes",
        "--accounts",
        file_s,
        "--journal",
        journal_s,
    ];
    let (code, stdout, stderr) = forcemfa(&proxy.url, &fresh);
    assert_eq!(code, 4, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("whether it cuts off access in use cannot be told: carol"),
        "{stdout}"
    );
    assert!(stdout.contains("Held back 1"), "{stdout}");
    // The header counts what was planned, not "changed" above "Applied 0".
    assert!(!stdout.contains(" changed,"), "{stdout}");
    assert!(!stdout.contains("undo with"), "{stdout}");
    assert!(!journal.exists(), "an empty journal was left behind");
    assert_eq!(default_version(&account, &arn).await, "v1");

    // The saved plan, applied with --accept-impact while carol's credentials cannot be read.
    let saved_args = [
        "apply",
        "--plan",
        plan_s,
        "--yes",
        "--accept-impact",
        "--journal",
        journal_s,
        "--format",
        "json",
    ];
    let (code, stdout, stderr) = forcemfa(&proxy.url, &saved_args);
    assert_eq!(code, 4, "{stdout}\n{stderr}");
    let v = json_of(&stdout);
    assert_eq!(v["outcomes"]["held_back"], 1, "{v}");
    let reason = v["results"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("reviewed with carol losing access"), "{v}");
    assert_eq!(default_version(&account, &arn).await, "v1");

    // A change edited to name an account the plan does not cover: refused, counted, exit 4.
    let mut edited = saved.clone();
    edited["changes"][0]["target"]["account"] = json!("999999999999");
    let edited_path = dir.path().join("edited.json");
    std::fs::write(&edited_path, edited.to_string()).unwrap();
    let (code, stdout, stderr) = forcemfa(
        &moto::endpoint(),
        &[
            "apply",
            "--plan",
            edited_path.to_str().unwrap(),
            "--yes",
            "--journal",
            journal_s,
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 4, "{stdout}\n{stderr}");
    let v = json_of(&stdout);
    assert_eq!(v["outcomes"]["refused"], 1, "{v}");
    assert!(
        v["blocked"][0].as_str().unwrap().contains("999999999999"),
        "{v}"
    );
    assert_eq!(default_version(&account, &arn).await, "v1");

    // A torn line in the journal is said by apply, which then writes with --accept-impact.
    std::fs::write(&journal, "{\"torn").unwrap();
    let mut go = fresh.to_vec();
    go.push("--accept-impact");
    let (code, stdout, stderr) = forcemfa(&moto::endpoint(), &go);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains("line 1 is incomplete"), "{stderr}");
    assert!(stdout.contains("undo with"), "{stdout}");
    assert_eq!(default_version(&account, &arn).await, "v2");
}

#[test]
fn fail_closed_numeric_options_refuse_absurd_values_on_the_command_line_and_in_the_file() {
    let dir = policies_dir();
    for bad in ["--recent-days=-1", "--recent-days=100000"] {
        bin()
            .args(["plan", bad])
            .arg(dir.path())
            .assert()
            .code(1)
            .stderr(predicate::str::contains("recent-days"));
    }
    bin()
        .args(["plan", "--accounts", "a.toml", "--duration-seconds", "9"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("duration-seconds"));
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join("forcemfa.toml"), "\nrecent-days = 100000\n").unwrap();
    bin()
        .current_dir(dir.path())
        .args(["plan", "."])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("forcemfa.toml:2").and(predicate::str::contains(
                "recent-days 100000 is out of range",
            )),
        );
}

/// Make a plan of a copy of the fixtures and return (folder, plan path, plan).
fn saved_plan() -> (tempfile::TempDir, std::path::PathBuf, Value) {
    let dir = policies_dir();
    let plan = dir.path().join("plan.out");
    bin()
        .args(["plan", "--out"])
        .arg(&plan)
        .arg(dir.path())
        .assert()
        .success();
    let saved = json_of(&read(&plan));
    (dir, plan, saved)
}

fn write_edited(dir: &Path, plan: &Value) -> std::path::PathBuf {
    let path = dir.join("edited.out");
    std::fs::write(&path, plan.to_string()).unwrap();
    path
}

/// What `apply --plan` shows is derived now: a change whose recorded migrations and effect were
/// edited to read "cosmetic" is refused (exit 4), counted in JSON, and nothing is written.
#[test]
fn fail_closed_saved_plan_words_are_compared_never_shown() {
    let (dir, _, mut saved) = saved_plan();
    saved["changes"][0]["migrations"] = json!([]);
    saved["changes"][0]["effect_summary"] =
        json!(["no change in access: cosmetic reformatting only"]);
    let edited = write_edited(dir.path(), &saved);
    let original = read(&dir.path().join(LEGACY));
    let out = bin()
        .args(["apply", "--yes", "--format", "json", "--plan"])
        .arg(&edited)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let v = json_of(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["outcomes"]["refused"], 1, "{v}");
    assert_eq!(v["outcomes"]["applied"], 0, "{v}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not the ones forcemfa applies"),
        "{out:?}"
    );
    assert_eq!(read(&dir.path().join(LEGACY)), original);
}

/// Options of a saved plan are validated as the command line's; a `--kind` given with a plan
/// would be ignored, so it is refused; a file change pointed at another file holding the same
/// bytes, outside the planned folder, is refused.
#[test]
fn fail_closed_saved_plan_options_and_paths_are_bound() {
    let (dir, plan, saved) = saved_plan();
    let original = read(&dir.path().join(LEGACY));

    let mut bad = saved.clone();
    bad["options"]["allow_before_mfa"] = json!(["no-such-option"]);
    let edited = write_edited(dir.path(), &bad);
    bin()
        .args(["apply", "--yes", "--plan"])
        .arg(&edited)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("options are not valid"));

    bin()
        .args(["apply", "--yes", "--kind", "role", "--plan"])
        .arg(&plan)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "--kind contradicts the saved plan",
        ));

    // The same bytes elsewhere, and the change (with its id) pointed there.
    let elsewhere = tempfile::tempdir().unwrap();
    let other = elsewhere.path().join("other.json");
    std::fs::write(&other, &original).unwrap();
    let mut moved = saved.clone();
    let target = forcemfa::engine::target::Target::file(&other);
    let before_sha = saved["changes"][0]["before_sha256"].as_str().unwrap();
    moved["changes"][0]["target"] = serde_json::to_value(&target).unwrap();
    moved["changes"][0]["id"] =
        json!(forcemfa::engine::plan::sha256(&format!("{target}\n{before_sha}"))[..12].to_string());
    let edited = write_edited(dir.path(), &moved);
    bin()
        .args(["apply", "--yes", "--plan"])
        .arg(&edited)
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "not inside the folders the plan was made from",
        ));
    assert_eq!(read(&other), original);
    assert_eq!(read(&dir.path().join(LEGACY)), original);
}

/// `skip-migration` in forcemfa.toml keeps the guard as it is, and says so where the operator
/// looks: a `kept-by-choice` finding naming the file and line, in text and SARIF, and every option
/// from the file named with its line. Discovery stops at the home directory; outside a repository
/// and the home directory only the working folder is looked in.
#[test]
fn fail_closed_config_choices_are_named_and_discovery_is_bounded() {
    let dir = temp_copy(&[("bool.json", BOOL_GUARD)]);
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::write(
        dir.path().join("forcemfa.toml"),
        "# the team keeps Bool for now\nskip-migration = [\"guard-bool-if-exists\"]\n",
    )
    .unwrap();
    let text = bin()
        .current_dir(dir.path())
        .args(["plan", "bool.json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("not applied: kept by choice: forcemfa.toml:2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("option from forcemfa.toml:2: skip-migration = guard-bool-if-exists"),
        "{stdout}"
    );
    let sarif = bin()
        .current_dir(dir.path())
        .args(["scan", "--format", "sarif", "bool.json"])
        .output()
        .unwrap();
    let v = json_of(&String::from_utf8_lossy(&sarif.stdout));
    crate::tools::assert_valid_sarif(&v);
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert!(
        results.iter().any(|r| r["ruleId"] == "kept-by-choice"
            && r["message"]["text"]
                .as_str()
                .unwrap()
                .contains("forcemfa.toml:2")),
        "{v}"
    );
    let notes = &v["runs"][0]["invocations"][0]["toolConfigurationNotifications"];
    assert!(notes.to_string().contains("skip-migration"), "{v}");

    // A forcemfa.toml in a parent folder, no repository, home elsewhere: not picked up.
    let outer = tempfile::tempdir().unwrap();
    let child = outer.path().join("child");
    std::fs::create_dir(&child).unwrap();
    std::fs::write(outer.path().join("forcemfa.toml"), "kind = \"role\"\n").unwrap();
    let home = tempfile::tempdir().unwrap();
    bin()
        .current_dir(&child)
        .env("HOME", home.path())
        .args(["config"])
        .assert()
        .success()
        .stdout(predicate::str::contains("config file: none"));
}

/// `forcemfa plan | head -1`: the reader closed the pipe; the run ends quietly with its own code.
#[test]
fn fail_closed_a_closed_pipe_keeps_the_runs_exit_code() {
    let dir = policies_dir();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("forcemfa"))
        .env("NO_COLOR", "1")
        .args(["plan", "--detailed-exitcode"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before anything is read: every write meets a closed pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("cannot write"),
        "{out:?}"
    );
}

/// Errors that end a run are an object on standard output under `--format json`.
#[test]
fn fail_closed_json_errors_are_json() {
    let dir = policies_dir();
    let out = bin()
        .args(["plan", "--format", "json", "--allow-before-mfa", "iam:*"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v = json_of(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["error"]["exit_code"], 1, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("iam:*"),
        "{v}"
    );
}

/// A temporary file an interrupted apply left beside a policy is named by the next apply.
#[test]
fn fail_closed_leftover_temp_files_are_named() {
    let dir = policies_dir();
    let leftover = dir.path().join(".forcemfa-AbC123.tmp");
    std::fs::write(&leftover, "{\"half").unwrap();
    bin()
        .args(["apply", "--yes"])
        .arg(dir.path())
        .assert()
        .success()
        .stderr(
            predicate::str::contains(".forcemfa-AbC123.tmp").and(predicate::str::contains(
                "left over from an apply that was stopped",
            )),
        )
        .stdout(predicate::str::contains("Apply: 1 planned"));
}

/// The plan file's own list of blocked changes is its record, not a verdict of this run: a plan
/// fully applied exits 0 whatever that list says (it decided exit 4 before).
#[test]
fn fail_closed_a_plans_blocked_list_decides_nothing() {
    let (dir, _, mut saved) = saved_plan();
    saved["blocked"] = json!(["feedbeef0000 (nowhere.json)"]);
    let edited = write_edited(dir.path(), &saved);
    bin()
        .args(["apply", "--yes", "--plan"])
        .arg(&edited)
        .assert()
        .success()
        .stdout(predicate::str::contains("Applied 1, already applied 0"));
}
