//! The operator's whole flow against moto, through the binary and the real SDK:
//! plan → apply → plan is clean → rollback → every policy exactly as it began.
//! Each run works in a fresh account of its own (moto maps assumed-role credentials to the
//! role's account), so other tests sharing the server cannot interfere.

use crate::moto::{self, add_version, create_group, create_managed, create_role, create_user};
use crate::util::{bin, read};
use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_iam::Client;
use predicates::prelude::*;

struct Account {
    id: String,
    key: String,
    secret: String,
    token: String,
}

/// A fresh, empty moto account, reached through AssumeRole.
async fn fresh_account() -> Account {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let id = format!(
        "{:012}",
        (nanos ^ u128::from(std::process::id())) % 1_000_000_000_000
    );
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(moto::endpoint())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .build();
    let out = aws_sdk_sts::Client::from_conf(conf)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{id}:role/forcemfa-test"))
        .role_session_name("forcemfa-test")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    Account {
        id,
        key: c.access_key_id().to_string(),
        secret: c.secret_access_key().to_string(),
        token: c.session_token().to_string(),
    }
}

fn iam(a: &Account) -> Client {
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(moto::endpoint())
        .credentials_provider(Credentials::new(
            a.key.clone(),
            a.secret.clone(),
            Some(a.token.clone()),
            None,
            "moto-assumed",
        ))
        .build();
    Client::from_conf(conf)
}

/// The binary, pointed at moto with the account's credentials and nothing from the host.
fn forcemfa(a: &Account) -> assert_cmd::Command {
    let mut c = bin();
    c.env("AWS_ACCESS_KEY_ID", &a.key)
        .env("AWS_SECRET_ACCESS_KEY", &a.secret)
        .env("AWS_SESSION_TOKEN", &a.token)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        // aws-config's own variable: the same path an operator's environment takes.
        .env("AWS_ENDPOINT_URL", moto::endpoint());
    c
}

/// Everything a rollback must restore, read live.
#[derive(Debug, PartialEq)]
struct State {
    managed: Vec<(String, serde_json::Value, usize)>,
    inline: Vec<(String, serde_json::Value)>,
}

async fn state(iam: &Client, arns: &[String], user: &str, group: &str, role: &str) -> State {
    let mut managed = Vec::new();
    for arn in arns {
        let p = iam.get_policy().policy_arn(arn).send().await.unwrap();
        let v = p
            .policy()
            .unwrap()
            .default_version_id()
            .unwrap()
            .to_string();
        let doc = iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(&v)
            .send()
            .await
            .unwrap();
        let text = doc
            .policy_version()
            .unwrap()
            .document()
            .unwrap()
            .to_string();
        let versions = iam
            .list_policy_versions()
            .policy_arn(arn)
            .send()
            .await
            .unwrap()
            .versions()
            .len();
        managed.push((arn.clone(), moto::json(&text), versions));
    }
    let u = iam
        .get_user_policy()
        .user_name(user)
        .policy_name("force-mfa")
        .send()
        .await
        .unwrap();
    let g = iam
        .get_group_policy()
        .group_name(group)
        .policy_name("force-mfa")
        .send()
        .await
        .unwrap();
    let r = iam
        .get_role_policy()
        .role_name(role)
        .policy_name("force-mfa")
        .send()
        .await
        .unwrap();
    State {
        managed,
        inline: vec![
            ("user".into(), moto::json(u.policy_document())),
            ("group".into(), moto::json(g.policy_document())),
            ("role".into(), moto::json(r.policy_document())),
        ],
    }
}

fn guard_exempts(doc: &serde_json::Value, action: &str) -> bool {
    forcemfa::engine::detect::detect(doc)
        .guard()
        .is_some_and(|g| g.actions.iter().any(|a| a == action))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_plan_apply_plan_rollback_round_trip() {
    let acct = fresh_account().await;
    let iam = iam(&acct);
    let legacy = moto::fixture("2018-docs-listusers.json");
    let current = moto::fixture("2023-11-docs-self-manage.json");
    let non_mfa = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;

    let one = create_managed(&iam, "legacy-one-version", &legacy, &[]).await;
    let five = create_managed(&iam, "legacy-five-versions", &current, &[]).await;
    for _ in 0..3 {
        add_version(&iam, &five, &current, false).await;
    }
    add_version(&iam, &five, &legacy, true).await; // v5 is the default, the legacy text
    let iac = create_managed(
        &iam,
        "legacy-terraform",
        &legacy,
        &[("ManagedBy", "terraform")],
    )
    .await;
    let plain = create_managed(&iam, "not-mfa", non_mfa, &[]).await;
    create_user(&iam, "alice", &[]).await;
    create_group(&iam, "devs").await;
    create_role(&iam, "ci").await;
    iam.attach_user_policy()
        .user_name("alice")
        .policy_arn(&one)
        .send()
        .await
        .unwrap();
    let put = |doc: &str| doc.to_string();
    iam.put_user_policy()
        .user_name("alice")
        .policy_name("force-mfa")
        .policy_document(put(&moto::fixture("2019-docs-mfa-only.json")))
        .send()
        .await
        .unwrap();
    iam.put_group_policy()
        .group_name("devs")
        .policy_name("force-mfa")
        .policy_document(put(&moto::fixture("2017-docs-tutorial-force-mfa.json")))
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("ci")
        .policy_name("force-mfa")
        .policy_document(put(&moto::fixture("2015-blog-force-mfa.json")))
        .send()
        .await
        .unwrap();

    let arns = vec![one.clone(), five.clone(), iac.clone(), plain.clone()];
    let original = state(&iam, &arns, "alice", "devs", "ci").await;

    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");

    // plan: read-only, shows the changes and who they reach.
    forcemfa(&acct)
        .args(["plan", "--detailed-exitcode"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("legacy-one-version"))
        .stdout(predicate::str::contains("reaches: user/alice"))
        .stdout(predicate::str::contains(
            "managed by infrastructure-as-code",
        ));
    assert_eq!(
        state(&iam, &arns, "alice", "devs", "ci").await,
        original,
        "plan wrote something"
    );

    // apply: the IaC-managed policy is skipped unless asked for.
    forcemfa(&acct)
        .args(["apply", "--yes", "--journal"])
        .arg(&journal)
        .assert()
        .success()
        .stdout(predicate::str::contains("skipped"))
        .stdout(predicate::str::contains("pruned version"));
    let after = state(&iam, &arns, "alice", "devs", "ci").await;
    assert!(
        !guard_exempts(&after.managed[0].1, "iam:ListUsers"),
        "one-version policy migrated"
    );
    assert!(
        !guard_exempts(&after.managed[1].1, "iam:ListUsers"),
        "five-version policy migrated"
    );
    assert_eq!(after.managed[1].2, 5, "still at most 5 versions");
    assert_eq!(
        after.managed[2], original.managed[2],
        "IaC-managed policy untouched"
    );
    assert_eq!(
        after.managed[3], original.managed[3],
        "non-MFA policy untouched"
    );
    for (who, doc) in &after.inline {
        assert!(
            forcemfa::engine::detect::detect(doc).guard().is_some(),
            "{who}"
        );
    }
    assert_ne!(after.inline, original.inline, "inline policies migrated");
    assert!(
        guard_exempts(&after.inline[2].1, "sts:GetSessionToken"),
        "role's 2015 policy now explicit"
    );

    forcemfa(&acct)
        .args(["apply", "--yes", "--include-iac-managed", "--journal"])
        .arg(&journal)
        .assert()
        .success();
    forcemfa(&acct)
        .args(["plan", "--detailed-exitcode"])
        .assert()
        .code(0);

    let lines = read(&journal);
    assert!(
        lines.lines().any(|l| l.contains("\"action\":\"prune\"")),
        "pruned version journalled"
    );
    assert!(lines
        .lines()
        .all(|l| l.contains(&format!("\"account\":\"{}\"", acct.id))));

    // rollback: everything exactly as it began (the pruned version itself is gone, but every
    // default document and inline document is the original).
    forcemfa(&acct)
        .args(["rollback", "--yes", "--journal"])
        .arg(&journal)
        .assert()
        .success()
        .stdout(predicate::str::contains("Rolled back 6, failed 0"));
    let back = state(&iam, &arns, "alice", "devs", "ci").await;
    assert_eq!(back.inline, original.inline);
    for (b, o) in back.managed.iter().zip(&original.managed) {
        assert_eq!(b.0, o.0);
        assert_eq!(b.1, o.1, "{} default document restored", b.0);
        assert!(b.2 <= 5);
    }
    let lines = read(&journal);
    assert!(lines.lines().any(|l| l.contains("\"action\":\"rollback\"")));
    // A second rollback finds nothing left to do.
    forcemfa(&acct)
        .args(["rollback", "--yes", "--journal"])
        .arg(&journal)
        .assert()
        .success()
        .stdout(predicate::str::contains("Nothing to roll back"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_operator_mfa_session() {
    let acct = fresh_account().await;
    // Without a code and without a terminal to ask on, it refuses before any request.
    forcemfa(&acct)
        .args([
            "scan",
            "--mfa-serial",
            "arn:aws:iam::123456789012:mfa/operator",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--mfa-code"));
    // With a code, STS GetSessionToken is used and the scan runs on those credentials.
    let out = forcemfa(&acct)
        .args([
            "scan",
            "--format",
            "json",
            "--mfa-serial",
            "arn:aws:iam::123456789012:mfa/operator",
        ])
        .args(["--mfa-code", "123456"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(v["summary"]["errors"], 0);
}

/// An edited saved plan is refused for an AWS account too: nothing is published (exit 4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_edited_saved_plan_is_refused() {
    let acct = fresh_account().await;
    let iam = iam(&acct);
    let legacy = moto::fixture("2018-docs-listusers.json");
    let arn = create_managed(&iam, "legacy-edited-plan", &legacy, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    forcemfa(&acct)
        .args(["plan", "--out"])
        .arg(&plan)
        .assert()
        .success();
    let mut saved: serde_json::Value = serde_json::from_str(&read(&plan)).unwrap();
    let changes = saved["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{saved}");
    saved["changes"][0]["after"] = serde_json::json!(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#
    );
    std::fs::write(&plan, saved.to_string()).unwrap();
    forcemfa(&acct)
        .args(["apply", "--yes", "--plan"])
        .arg(&plan)
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "the plan does not match what forcemfa derives",
        ));
    let versions = iam
        .list_policy_versions()
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 1, "nothing was published");
}
