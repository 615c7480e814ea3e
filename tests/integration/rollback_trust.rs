//! `rollback` publishes a journalled document only when forcemfa derives the live document from
//! it (or, for a managed policy, returns to a version IAM still holds with that document): a
//! journal record changed and resealed (its digest is no signature) is refused, through the
//! binary, against moto.

use crate::moto::{self, fixture, json, unique, ACCOUNT};
use crate::util::bin;
use forcemfa::engine::target::{EntityKind, Target, TargetKind};
use forcemfa::sources::aws::AwsStore;
use forcemfa::sources::journal::{Action, Journal, JournalEntry};
use predicates::prelude::*;
use std::path::{Path, PathBuf};

const LEGACY: &str = "2018-docs-listusers.json";
/// Small enough that its rewrite fits a user's inline policy budget.
const SMALL: &str = "2019-docs-mfa-only.json";
const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// The binary, pointed at moto with its default account's credentials and nothing from the host.
fn forcemfa() -> assert_cmd::Command {
    let mut c = bin();
    c.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_ENDPOINT_URL", moto::endpoint());
    c
}

/// A copy of the journal whose publish records restore `forged` instead, each resealed the way
/// anyone could: the digest is recomputed from the edited content.
fn forge(journal: &Path, forged: &str) -> PathBuf {
    let out = journal.with_file_name("forged.jsonl");
    let mut text = String::new();
    for line in std::fs::read_to_string(journal).unwrap().lines() {
        let mut entry: JournalEntry = serde_json::from_str(line).unwrap();
        if entry.action == Action::Publish {
            entry.before = Some(forged.to_string());
        }
        let mut sealed = serde_json::to_value(&entry).unwrap();
        sealed["sha256"] = serde_json::Value::String(entry.digest().unwrap());
        text.push_str(&sealed.to_string());
        text.push('\n');
    }
    std::fs::write(&out, text).unwrap();
    out
}

async fn publish(target: &Target, before: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let mut j = Journal::open(&path).unwrap();
    let store = AwsStore::from_client(moto::client(), ACCOUNT);
    store
        .publish_planned(
            target,
            None,
            before,
            &moto::planned(before),
            &mut j,
            "run1",
            false,
        )
        .await
        .unwrap();
    (dir, path)
}

async fn live(target: &Target) -> serde_json::Value {
    let store = AwsStore::from_client(moto::client(), ACCOUNT);
    json(&store.current(target).await.unwrap().text)
}

#[tokio::test]
async fn a_resealed_inline_record_is_refused_and_a_genuine_one_rolls_back() {
    let iam = moto::client();
    let user = unique("rbt");
    moto::create_user(&iam, &user, &[]).await;
    let legacy = fixture(SMALL);
    iam.put_user_policy()
        .user_name(&user)
        .policy_name("mfa")
        .policy_document(&legacy)
        .send()
        .await
        .unwrap();
    let target = Target {
        account: Some(ACCOUNT.into()),
        kind: TargetKind::Inline {
            entity: EntityKind::User,
            entity_name: user.clone(),
            policy_name: "mfa".into(),
        },
    };
    let (_dir, journal) = publish(&target, &legacy).await;
    let published = live(&target).await;

    let forged = forge(&journal, ALLOW_ALL);
    forcemfa()
        .args(["rollback", "--yes", "--journal"])
        .arg(&forged)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "does not describe a change forcemfa made",
        ))
        .stdout(predicate::str::contains("Rolled back 0, failed 1"));
    assert_eq!(live(&target).await, published, "nothing was written");

    forcemfa()
        .args(["rollback", "--yes", "--journal"])
        .arg(&journal)
        .assert()
        .success()
        .stdout(predicate::str::contains("Rolled back 1, failed 0"));
    assert_eq!(live(&target).await, json(&legacy));
}

#[tokio::test]
async fn a_resealed_managed_record_is_refused_and_a_genuine_one_rolls_back() {
    let iam = moto::client();
    let legacy = fixture(LEGACY);
    let arn = moto::create_managed(&iam, &unique("rbt"), &legacy, &[]).await;
    let target = Target {
        account: Some(ACCOUNT.into()),
        kind: TargetKind::Managed {
            arn: arn.clone(),
            name: arn.rsplit('/').next().unwrap().into(),
        },
    };
    let (_dir, journal) = publish(&target, &legacy).await;
    let published = live(&target).await;

    // The recorded previous version (v1) still exists, but holds the real original, not the
    // forged one; and the forged one does not derive the live document.
    let forged = forge(&journal, ALLOW_ALL);
    forcemfa()
        .args(["rollback", "--yes", "--journal"])
        .arg(&forged)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "does not describe a change forcemfa made",
        ));
    assert_eq!(live(&target).await, published, "nothing was written");

    forcemfa()
        .args(["rollback", "--yes", "--journal"])
        .arg(&journal)
        .assert()
        .success()
        .stdout(predicate::str::contains("default version v1 restored"));
    assert_eq!(live(&target).await, json(&legacy));
}
