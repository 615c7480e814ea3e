//! Options that open privilege escalation, credentials or MFA removal before MFA: refused unless
//! acknowledged by name, and reported as critical findings when they are.

use crate::util::*;
use predicates::prelude::*;

const POLICY: &str = "2015-blog-force-mfa.json";

/// The examples an operator is most likely to type; the engine's own lists decide the rest.
const RISKY: [&str; 4] = [
    "sts:AssumeRole",
    "iam:PutUserPolicy",
    "iam:DeactivateMFADevice",
    "iam:CreateAccessKey",
];

fn policy_dir() -> tempfile::TempDir {
    temp_copy(&[(POLICY, &read(&fixture(&format!("policies/{POLICY}"))))])
}

#[test]
fn risky_exemptions_are_refused_without_their_acknowledgement() {
    let dir = policy_dir();
    for action in RISKY {
        bin()
            .args(["plan", "--allow-before-mfa", action])
            .arg(dir.path())
            .assert()
            .code(1)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains(format!(
                "--allow-before-mfa {action} refused"
            )))
            .stderr(predicate::str::contains(format!(
                "--allow-risky-exemption {action}"
            )));
        // Acknowledging a different action is not enough.
        bin()
            .args(["plan", "--allow-before-mfa", action])
            .args(["--allow-risky-exemption", "iam:CreateUser"])
            .arg(dir.path())
            .assert()
            .code(1);
    }
    // The documented named options need no acknowledgement.
    bin()
        .args(["plan", "--allow-before-mfa", "password-change"])
        .arg(dir.path())
        .assert()
        .success();
}

#[test]
fn an_acknowledged_risky_exemption_is_a_critical_finding_never_info() {
    let dir = policy_dir();
    for action in RISKY {
        let out = bin()
            .args(["scan", "--allow-before-mfa", action])
            .args(["--allow-risky-exemption", action])
            .arg(dir.path())
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let text = String::from_utf8_lossy(&out);
        let naming: Vec<&str> = text.lines().filter(|l| l.contains(action)).collect();
        assert!(!naming.is_empty(), "{action} not reported:\n{text}");
        assert!(
            naming.iter().all(|l| l.contains("[critical]")),
            "{action} reported below critical:\n{text}"
        );
        assert!(
            naming.iter().any(
                |l| l.contains("exemption-before-mfa") && l.contains("--allow-risky-exemption")
            ),
            "{text}"
        );
    }
}

#[test]
fn the_config_file_needs_the_acknowledgement_too() {
    let dir = policy_dir();
    let config = dir.path().join("forcemfa.toml");
    std::fs::write(&config, "allow-before-mfa = [\"sts:AssumeRole\"]\n").unwrap();
    bin()
        .arg("--config")
        .arg(&config)
        .arg("plan")
        .arg(dir.path().join(POLICY))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "--allow-risky-exemption sts:AssumeRole",
        ));
    std::fs::write(
        &config,
        "allow-before-mfa = [\"sts:AssumeRole\"]\nallow-risky-exemption = [\"sts:AssumeRole\"]\n",
    )
    .unwrap();
    bin()
        .arg("--config")
        .arg(&config)
        .arg("plan")
        .arg(dir.path().join(POLICY))
        .assert()
        .success()
        .stdout(predicate::str::contains("[critical] exemption-before-mfa"));
}

#[test]
fn a_saved_plan_edited_to_open_a_risky_exemption_is_refused() {
    let dir = policy_dir();
    let plan = dir.path().join("plan.out");
    bin()
        .args(["plan", "--out"])
        .arg(&plan)
        .arg(dir.path().join(POLICY))
        .assert()
        .success();
    let mut saved: serde_json::Value = serde_json::from_str(&read(&plan)).unwrap();
    saved["options"]["allow_before_mfa"] = serde_json::json!(["iam:CreateAccessKey"]);
    std::fs::write(&plan, saved.to_string()).unwrap();
    let before = read(&dir.path().join(POLICY));
    bin()
        .args(["apply", "--yes", "--plan"])
        .arg(&plan)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "--allow-risky-exemption iam:CreateAccessKey",
        ));
    assert_eq!(read(&dir.path().join(POLICY)), before, "nothing written");

    // A plan made with the acknowledgement records it, and is accepted.
    bin()
        .args(["plan", "--allow-before-mfa", "iam:CreateAccessKey"])
        .args(["--allow-risky-exemption", "iam:CreateAccessKey", "--out"])
        .arg(&plan)
        .arg(dir.path().join(POLICY))
        .assert()
        .success();
    let saved: serde_json::Value = serde_json::from_str(&read(&plan)).unwrap();
    assert_eq!(
        saved["options"]["allow_risky_exemption"],
        serde_json::json!(["iam:CreateAccessKey"])
    );
    bin()
        .args(["apply", "--yes", "--plan"])
        .arg(&plan)
        .assert()
        .success();
}
