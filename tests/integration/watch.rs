//! The watch of a staged rollout, through the real SDK: an account in moto whose principals'
//! calls are served by the CloudTrail event history stand-in (`tests/moto/cloudtrail.py`), or
//! written as a trail's log files in a folder.
//!
//! The scenario: a nightly job signs `ec2:DescribeInstances` with the long-term key of the user
//! `nightly` (in the group `jobs`, which carries the legacy `Bool` guard; an inline policy of the
//! user allows the call). A change moves the guard to `BoolIfExists`. After it is published, the
//! job's call is refused (caused by the change); a call the user was never granted is refused
//! too (not caused); a refusal before the publish and a call that went through are not reported.
//! The role `deployer` carries the guard too: event history cannot watch it, trail files can.

use aws_sdk_iam::config::Credentials;
use serde_json::{json, Value};

use forcemfa::engine::evidence::Cause;
use forcemfa::engine::plan::PlannedChange;
use forcemfa::engine::target::{Target, TargetKind};
use forcemfa::sources::aws::AwsStore;
use forcemfa::sources::evidence::{Mode, Options};
use forcemfa::sources::watch::{before_publish, look, Seen, Watched};

use crate::batch::{iam_in, new_account, sdk_config};
use crate::evidence::{assumed, control, front, now, record, trail_files, LEGACY};
use crate::moto::{self, unique};

const ALLOW_DESCRIBE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:DescribeInstances","Resource":"*"}]}"#;

struct Scenario {
    account: String,
    store: AwsStore,
    change: PlannedChange,
    role: String,
    /// The calls, as CloudTrail records them (us-east-1).
    records: Vec<Value>,
    /// The publish time: the watch looks from here.
    since: i64,
}

/// A refused call: `record` with an authorisation error code.
fn refused(mut r: Value, code: &str) -> Value {
    r["errorCode"] = json!(code);
    r["errorMessage"] = json!("You are not authorized to perform this operation.");
    r
}

/// A call of the role's session (temporary credentials, MFA not used).
fn role_call(account: &str, role: &str, call: (&str, &str), secs_ago: i64) -> Value {
    let at = forcemfa::engine::evidence::format_time(now() - secs_ago);
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:deploy",
            "arn": format!("arn:aws:sts::{account}:assumed-role/deployer/deploy"),
            "accountId": account, "accessKeyId": "ASIAEXAMPLEROLE",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role, "userName": "deployer"},
                "attributes": {"creationDate": at, "mfaAuthenticated": "false"}}},
        "eventTime": at, "eventSource": call.0, "eventName": call.1,
        "awsRegion": "us-east-1", "errorCode": "AccessDenied",
        "eventID": format!("deployer-{}-{secs_ago}", call.1),
        "eventType": "AwsApiCall", "recipientAccountId": account
    })
}

async fn scenario() -> Scenario {
    let account = new_account("watch", &[]).await;
    let iam = iam_in(&account).await;
    let guard = moto::create_managed(&iam, &unique("force-mfa"), LEGACY, &[]).await;
    moto::create_group(&iam, "jobs").await;
    iam.attach_group_policy()
        .group_name("jobs")
        .policy_arn(&guard)
        .send()
        .await
        .unwrap();
    moto::create_user(&iam, "nightly", &[]).await;
    iam.add_user_to_group()
        .group_name("jobs")
        .user_name("nightly")
        .send()
        .await
        .unwrap();
    iam.put_user_policy()
        .user_name("nightly")
        .policy_name("describe")
        .policy_document(ALLOW_DESCRIBE)
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name("nightly")
        .send()
        .await
        .unwrap()
        .access_key()
        .unwrap()
        .access_key_id()
        .to_string();
    moto::create_role(&iam, "deployer").await;
    iam.attach_role_policy()
        .role_name("deployer")
        .policy_arn(&guard)
        .send()
        .await
        .unwrap();
    let role = format!("arn:aws:iam::{account}:role/deployer");

    // The change a plan makes of the guard: the real migration chain.
    let change = PlannedChange {
        id: "c-guard".into(),
        target: Target {
            account: Some(account.clone()),
            kind: TargetKind::Managed {
                arn: guard.clone(),
                name: guard.rsplit('/').next().unwrap().to_string(),
            },
        },
        version_id: Some("v1".into()),
        before_sha256: String::new(),
        before: LEGACY.to_string(),
        after: moto::planned(LEGACY),
        migrations: Vec::new(),
        effect_summary: Vec::new(),
        iac_managed: None,
        limit: None,
        impact: None,
        suppressed: Vec::new(),
    };
    assert!(change.after.contains("BoolIfExists"), "{}", change.after);

    let (id, secret, token) = assumed(&account).await;
    let creds = Credentials::new(id, secret, Some(token), None, "watch-test");
    let store = AwsStore::from_sdk(&sdk_config(&front(), creds), account.clone());

    // Published ten minutes ago.
    let since = now() - 600;
    let a = account.as_str();
    let user = |call, secs_ago, n| record(a, "nightly", &key, None, call, secs_ago, n);
    let describe = ("ec2.amazonaws.com", "DescribeInstances");
    let records = vec![
        // Refused after the publish: the old guard let the key through, the new one does not.
        refused(user(describe, 120, 1), "Client.UnauthorizedOperation"),
        // Refused after the publish, but never granted.
        refused(
            user(("iam.amazonaws.com", "CreateUser"), 90, 2),
            "AccessDenied",
        ),
        // Refused before the publish: not the watch's business.
        refused(user(describe, 1200, 3), "Client.UnauthorizedOperation"),
        // Went through after the publish.
        user(describe, 60, 4),
        // The role's session, refused after the publish.
        role_call(a, &role, ("s3.amazonaws.com", "ListBuckets"), 30),
    ];
    Scenario {
        account,
        store,
        change,
        role,
        records,
        since,
    }
}

/// The user's refusals are judged as the scenario says; nothing else of the user is reported.
fn assert_user_refusals(s: &Scenario, seen: &Seen) {
    let user = format!("arn:aws:iam::{}:user/nightly", s.account);
    let mine: Vec<_> = seen
        .refusals
        .iter()
        .filter(|r| r.principal == user)
        .collect();
    assert_eq!(mine.len(), 2, "{seen:#?}");
    let describe = mine
        .iter()
        .find(|r| r.action == "ec2:DescribeInstances")
        .unwrap();
    assert_eq!(describe.cause, Cause::Caused, "{describe:#?}");
    assert_eq!(
        describe.why,
        "allowed by the old policies, refused by the new ones"
    );
    assert_eq!(describe.error_code, "Client.UnauthorizedOperation");
    assert_eq!(describe.change_id, "c-guard");
    assert_eq!(describe.account, s.account);
    assert_eq!(describe.region, "us-east-1");
    assert!(describe
        .event_id
        .starts_with("nightly-DescribeInstances-1-"));
    let denied = mine.iter().find(|r| r.action == "iam:CreateUser").unwrap();
    assert_eq!(denied.cause, Cause::NotCaused, "{denied:#?}");
    assert!(denied.why.starts_with("never granted"), "{}", denied.why);
    // Sorted by time; nothing before the publish.
    let times: Vec<&str> = seen.refusals.iter().map(|r| r.time.as_str()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    let since = forcemfa::engine::evidence::format_time(s.since);
    assert!(times.iter().all(|t| *t >= since.as_str()), "{times:?}");
}

async fn watched(s: &Scenario) -> Vec<Watched> {
    let w = before_publish(&s.store, std::slice::from_ref(&s.change))
        .await
        .unwrap();
    let mut arns: Vec<&str> = w.iter().map(|w| w.arn.as_str()).collect();
    arns.sort();
    assert_eq!(
        arns,
        [
            format!("arn:aws:iam::{}:role/deployer", s.account),
            format!("arn:aws:iam::{}:user/nightly", s.account),
        ]
    );
    let user = w.iter().find(|w| w.name == "nightly").unwrap();
    // Reached through its group; its inline allow is among the other policies.
    assert_eq!(user.change_id, "c-guard");
    assert_eq!(user.others, vec![moto::json(ALLOW_DESCRIBE)]);
    assert_eq!(user.before, moto::json(LEGACY));
    w
}

#[tokio::test]
async fn watch_event_history_names_the_refusal_the_change_caused() {
    let s = scenario().await;
    let w = watched(&s).await;
    let user_records: Vec<&Value> = s
        .records
        .iter()
        .filter(|r| r["userIdentity"]["type"] == "IAMUser")
        .collect();
    control(
        "POST",
        "/__cloudtrail/events",
        &json!({"account": s.account, "region": "us-east-1", "records": user_records}),
    );
    let seen = look(&s.store, &w, s.since, now(), &Options::default()).await;
    assert_eq!(seen.error, None, "{seen:#?}");
    assert_user_refusals(&s, &seen);
    assert_eq!(seen.refusals.len(), 2, "{seen:#?}");
    assert!(seen.caused());
    // Three calls of the user after the publish (by key and by name: counted once each).
    assert_eq!(seen.records, 3, "{seen:#?}");
    // Roles cannot be looked up in event history: said, with the role named.
    assert!(
        seen.partial
            .iter()
            .any(|p| p.contains("not read for roles") && p.contains(&s.role)),
        "{:?}",
        seen.partial
    );
    assert!(
        seen.partial.iter().any(|p| p.contains("us-east-1 only")),
        "{:?}",
        seen.partial
    );

    // A watch window that ends before the refusals sees none of them.
    let early = look(&s.store, &w, s.since, s.since + 60, &Options::default()).await;
    assert_eq!(early.error, None);
    assert!(early.refusals.is_empty(), "{early:#?}");

    // No source to watch is an error, never "no refusals".
    let none = Options {
        mode: Mode::None,
        ..Options::default()
    };
    let off = look(&s.store, &w, s.since, now(), &none).await;
    let e = off.error.unwrap();
    assert!(e.starts_with("no CloudTrail source to watch"), "{e}");
}

#[tokio::test]
async fn watch_trail_files_give_the_same_and_cover_roles() {
    let s = scenario().await;
    let w = watched(&s).await;
    let mut by_region = std::collections::BTreeMap::new();
    by_region.insert("us-east-1".to_string(), s.records.clone());
    let dir = tempfile::tempdir().unwrap();
    for (key, data) in trail_files(&s.account, &by_region) {
        let path = dir.path().join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    let opts = Options {
        mode: Mode::Trail(dir.path().to_str().unwrap().to_string()),
        ..Options::default()
    };
    let seen = look(&s.store, &w, s.since, now(), &opts).await;
    assert_eq!(seen.error, None, "{seen:#?}");
    assert!(seen.partial.is_empty(), "{:?}", seen.partial);
    assert_user_refusals(&s, &seen);
    // The role's refused call is read from the files and judged: the old `Bool` guard
    // already refused a session without MFA.
    let role: Vec<_> = seen
        .refusals
        .iter()
        .filter(|r| r.principal == s.role)
        .collect();
    assert_eq!(role.len(), 1, "{seen:#?}");
    assert_eq!(role[0].action, "s3:ListAllMyBuckets");
    assert_eq!(role[0].cause, Cause::NotCaused, "{:#?}", role[0]);
    assert_eq!(seen.refusals.len(), 3);
    assert_eq!(seen.records, 4, "{seen:#?}");
}
