//! Helpers for the AWS tests: a real SDK client pointed at the moto server started by
//! `tests/run_moto.sh`, unique resource names, and seeding.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_iam::Client;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Moto's fixed account id.
pub const ACCOUNT: &str = "123456789012";

/// The moto endpoint. The AWS tests fail (never skip) without it, so a missing server cannot
/// pass unnoticed.
pub fn endpoint() -> String {
    match std::env::var("FORCEMFA_MOTO_ENDPOINT") {
        Ok(e) if !e.is_empty() => e,
        _ => panic!(
            "FORCEMFA_MOTO_ENDPOINT is not set: run the tests with ./tests/run.sh (it starts moto), \
             or start it yourself: eval \"$(tests/run_moto.sh start)\""
        ),
    }
}

/// An IAM client for moto with fake credentials.
pub fn client() -> Client {
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .build();
    Client::from_conf(conf)
}

/// A name no other test (or earlier run against the same server) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/policies")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn json(text: &str) -> serde_json::Value {
    forcemfa::engine::policy::parse(text)
        .unwrap_or_else(|e| panic!("{e}: {text}"))
        .value
}

/// A stand-in for a migrated document: drops `iam:ListUsers` and adds an `Id`, so it differs
/// from every fixture while staying a valid policy.
pub fn migrated(text: &str) -> String {
    let mut doc = json(text);
    if let Some(statements) = doc["Statement"].as_array_mut() {
        for s in statements {
            for key in ["Action", "NotAction"] {
                if let Some(list) = s.get_mut(key).and_then(|v| v.as_array_mut()) {
                    list.retain(|a| a != "iam:ListUsers");
                }
            }
        }
    }
    if let Some(map) = doc.as_object_mut() {
        map.insert(
            "Id".into(),
            serde_json::Value::String("forcemfa-migrated".into()),
        );
    }
    serde_json::to_string_pretty(&doc).unwrap()
}

/// What forcemfa makes of `text` with no options: the document a real apply publishes, which
/// `rollback` re-derives from the journalled original before publishing that again.
pub fn planned(text: &str) -> String {
    use forcemfa::engine::plan::{plan_one, Input, Item, SizeLimit};
    let chain = forcemfa::engine::migration::default_chain().unwrap();
    let target = forcemfa::engine::target::Target {
        account: Some(ACCOUNT.into()),
        kind: forcemfa::engine::target::TargetKind::File {
            path: "policy.json".into(),
        },
    };
    let input = Input::file(target, text.to_string(), SizeLimit::Managed);
    match plan_one(&input, &chain, &Default::default()) {
        Item::Change(c) => c.after,
        other => panic!("forcemfa does not change this fixture: {other:?}"),
    }
}

pub async fn create_managed(
    iam: &Client,
    name: &str,
    document: &str,
    tags: &[(&str, &str)],
) -> String {
    let mut req = iam
        .create_policy()
        .policy_name(name)
        .policy_document(document);
    for (k, v) in tags {
        req = req.tags(
            aws_sdk_iam::types::Tag::builder()
                .key(*k)
                .value(*v)
                .build()
                .unwrap(),
        );
    }
    let out = req.send().await.unwrap();
    out.policy().unwrap().arn().unwrap().to_string()
}

pub async fn add_version(iam: &Client, arn: &str, document: &str, default: bool) -> String {
    let out = iam
        .create_policy_version()
        .policy_arn(arn)
        .policy_document(document)
        .set_as_default(default)
        .send()
        .await
        .unwrap();
    out.policy_version()
        .unwrap()
        .version_id()
        .unwrap()
        .to_string()
}

pub async fn create_user(iam: &Client, name: &str, tags: &[(&str, &str)]) {
    let mut req = iam.create_user().user_name(name);
    for (k, v) in tags {
        req = req.tags(
            aws_sdk_iam::types::Tag::builder()
                .key(*k)
                .value(*v)
                .build()
                .unwrap(),
        );
    }
    req.send().await.unwrap();
}

pub async fn create_group(iam: &Client, name: &str) {
    iam.create_group().group_name(name).send().await.unwrap();
}

pub async fn create_role(iam: &Client, name: &str) {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
}
