//! The AWS store end to end: through the real SDK against moto (seeded per test with unique
//! names, since tests share one server), and against scripted responses (`aws-smithy-mocks`)
//! for what moto cannot do: URL-encoded GetPolicyVersion documents, GAAD pagination, throttling,
//! lost responses, size limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::moto::{self, fixture, json, migrated, unique, ACCOUNT};
use forcemfa::engine::target::{EntityKind, Target, TargetKind};
use forcemfa::sources::aws::{
    iac_reason, AwsOptions, AwsStore, Fetched, Published, RolledBack, StoreError, APPLY_ACTIONS,
    PLAN_ACTIONS,
};
use forcemfa::sources::journal::{self, Action, Journal, Outcome};
use std::time::Duration;

const LEGACY: &str = "2018-docs-listusers.json";

fn store() -> AwsStore {
    AwsStore::from_client(moto::client(), ACCOUNT).with_read_back(3, Duration::from_millis(50))
}

fn journal() -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path().join("state/journal.jsonl")).unwrap();
    (dir, j)
}

fn managed(arn: &str) -> Target {
    Target {
        account: Some(ACCOUNT.into()),
        kind: TargetKind::Managed {
            arn: arn.into(),
            name: arn.rsplit('/').next().unwrap().into(),
        },
    }
}

fn inline(entity: EntityKind, entity_name: &str, policy_name: &str) -> Target {
    Target {
        account: Some(ACCOUNT.into()),
        kind: TargetKind::Inline {
            entity,
            entity_name: entity_name.into(),
            policy_name: policy_name.into(),
        },
    }
}

fn find<'a>(all: &'a [Fetched], target: &Target) -> &'a Fetched {
    all.iter()
        .find(|f| &f.target == target)
        .unwrap_or_else(|| panic!("{target} not fetched"))
}

#[tokio::test]
async fn aws_fetch_finds_managed_and_inline_policies_with_attachments() {
    let iam = moto::client();
    let legacy = fixture(LEGACY);
    let p = unique("fetch");
    let one = moto::create_managed(&iam, &format!("{p}-one"), &legacy, &[]).await;
    let five = moto::create_managed(
        &iam,
        &format!("{p}-five"),
        &fixture("2015-blog-force-mfa.json"),
        &[],
    )
    .await;
    for _ in 0..3 {
        moto::add_version(&iam, &five, &fixture("2015-blog-force-mfa.json"), false).await;
    }
    moto::add_version(&iam, &five, &legacy, true).await;
    let tagged = moto::create_managed(
        &iam,
        &format!("{p}-iac"),
        &legacy,
        &[("aws:cloudformation:stack-name", "base")],
    )
    .await;
    let plain = moto::create_managed(
        &iam,
        &format!("{p}-s3"),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get+","Resource":"*"}]}"#,
        &[],
    )
    .await;
    let (user, group, role) = (format!("{p}-alice"), format!("{p}-devs"), format!("{p}-ci"));
    moto::create_user(&iam, &user, &[("ManagedBy", "terraform")]).await;
    moto::create_group(&iam, &group).await;
    moto::create_role(&iam, &role).await;
    iam.attach_user_policy()
        .user_name(&user)
        .policy_arn(&one)
        .send()
        .await
        .unwrap();
    iam.attach_group_policy()
        .group_name(&group)
        .policy_arn(&one)
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name(&role)
        .policy_arn(&five)
        .send()
        .await
        .unwrap();
    let mfa_only = fixture("2019-docs-mfa-only.json");
    let small = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#;
    iam.put_user_policy()
        .user_name(&user)
        .policy_name("force-mfa")
        .policy_document(&mfa_only)
        .send()
        .await
        .unwrap();
    iam.put_user_policy()
        .user_name(&user)
        .policy_name("s3")
        .policy_document(small)
        .send()
        .await
        .unwrap();
    iam.put_group_policy()
        .group_name(&group)
        .policy_name("force-mfa")
        .policy_document(&legacy)
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name(&role)
        .policy_name("force-mfa")
        .policy_document(fixture("2015-blog-force-mfa.json"))
        .send()
        .await
        .unwrap();

    let store = store();
    let all = store.fetch_with_details().await.unwrap().0;

    let f = find(&all, &managed(&one));
    assert_eq!(json(&f.text), json(&legacy));
    assert_eq!(f.version_id.as_deref(), Some("v1"));
    assert_eq!(f.versions.len(), 1);
    let mut att = f.attachments.clone();
    att.sort();
    assert_eq!(att, [format!("group/{group}"), format!("user/{user}")]);

    let f = find(&all, &managed(&five));
    assert_eq!(f.versions.len(), 5);
    assert_eq!(f.version_id.as_deref(), Some("v5"));
    assert_eq!(json(&f.text), json(&legacy));
    assert_eq!(f.attachments, [format!("role/{role}")]);

    let f = find(&all, &managed(&plain));
    assert_eq!(json(&f.text)["Statement"][0]["Action"], "s3:Get+");
    assert!(f.attachments.is_empty());

    // Managed policy tags are not in GAAD: asked separately.
    assert!(find(&all, &managed(&tagged)).iac_managed.is_none());
    let tags = store.managed_policy_tags(&tagged).await.unwrap();
    assert!(iac_reason(&tags)
        .unwrap()
        .contains("aws:cloudformation:stack-name"));
    assert!(iac_reason(&store.managed_policy_tags(&one).await.unwrap()).is_none());

    let f = find(&all, &inline(EntityKind::User, &user, "force-mfa"));
    assert_eq!(json(&f.text), json(&mfa_only));
    assert_eq!(
        f.entity_inline_sizes,
        forcemfa::engine::policy::iam_size(small)
    );
    assert!(f.iac_managed.as_deref().unwrap().contains("terraform"));
    assert_eq!(f.attachments, [format!("user/{user}")]);
    let f = find(&all, &inline(EntityKind::Group, &group, "force-mfa"));
    assert_eq!(json(&f.text), json(&legacy));
    assert_eq!(f.entity_inline_sizes, 0);
    let f = find(&all, &inline(EntityKind::Role, &role, "force-mfa"));
    assert_eq!(json(&f.text), json(&fixture("2015-blog-force-mfa.json")));
    assert!(f.iac_managed.is_none());

    // AWS managed policies never appear.
    assert!(all.iter().all(|f| match &f.target.kind {
        TargetKind::Managed { arn, .. } => !arn.starts_with("arn:aws:iam::aws:"),
        _ => true,
    }));
}

#[tokio::test]
async fn aws_publish_managed_then_already_applied_stale_and_rollback() {
    let iam = moto::client();
    let legacy = fixture(LEGACY);
    let new = migrated(&legacy);
    let arn = moto::create_managed(&iam, &unique("pub"), &legacy, &[]).await;
    let target = managed(&arn);
    let store = store();
    let (dir, mut j) = journal();

    let published = store
        .publish_planned(&target, None, &legacy, &new, &mut j, "run1", false)
        .await
        .unwrap();
    let Published::Applied {
        change_id,
        version_id,
        pruned_version_id,
        after_lost_response,
    } = published
    else {
        panic!("expected applied, got {published:?}");
    };
    assert_eq!(version_id.as_deref(), Some("v2"));
    assert_eq!(pruned_version_id, None);
    assert!(!after_lost_response);
    let live = store.current(&target).await.unwrap();
    assert_eq!(json(&live.text), json(&new));
    assert_eq!(live.version_id.as_deref(), Some("v2"));
    assert_eq!(live.versions.len(), 2);

    // Applying the same plan twice writes nothing.
    let again = store
        .publish_planned(&target, None, &legacy, &new, &mut j, "run2", false)
        .await
        .unwrap();
    assert!(
        matches!(again, Published::AlreadyApplied { .. }),
        "{again:?}"
    );
    assert_eq!(store.current(&target).await.unwrap().versions.len(), 2);

    // A plan made from the old document, for another new document, is stale now.
    let other = migrated(&fixture("2015-blog-force-mfa.json"));
    let err = store
        .publish_planned(&target, None, &legacy, &other, &mut j, "run3", false)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Stale { .. }), "{err}");
    assert!(
        err.to_string().contains(&arn) && err.to_string().contains("run plan again"),
        "{err}"
    );

    let entries = journal::read_entries(dir.path().join("state/journal.jsonl"))
        .unwrap()
        .entries;
    let outcomes: Vec<(Action, Outcome)> = entries.iter().map(|e| (e.action, e.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            (Action::Publish, Outcome::Pending),
            (Action::Publish, Outcome::Applied),
            (Action::Publish, Outcome::AlreadyApplied),
        ]
    );
    let plan = journal::rollback_plan(&entries, None);
    assert_eq!(plan.len(), 1);
    assert_eq!(plan[0].change_id, change_id);
    assert_eq!(plan[0].previous_default_version_id.as_deref(), Some("v1"));

    let rolled = store.rollback(&plan[0], &mut j, "run4").await.unwrap();
    assert_eq!(
        rolled,
        RolledBack::DefaultVersionRestored {
            version_id: "v1".into()
        }
    );
    let live = store.current(&target).await.unwrap();
    assert_eq!(json(&live.text), json(&legacy));
    assert_eq!(live.version_id.as_deref(), Some("v1"));
    let entries = journal::read_entries(dir.path().join("state/journal.jsonl"))
        .unwrap()
        .entries;
    assert!(journal::rollback_plan(&entries, None).is_empty());
    // Rolling back twice is harmless.
    let twice = store.rollback(&plan[0], &mut j, "run5").await.unwrap();
    assert_eq!(twice, RolledBack::AlreadyRolledBack);
}

#[tokio::test]
async fn aws_publish_at_five_versions_prunes_oldest_non_default_and_journals_it() {
    let iam = moto::client();
    let legacy = fixture(LEGACY);
    let arn = moto::create_managed(&iam, &unique("prune"), &legacy, &[]).await;
    let docs: Vec<String> = (2..=5)
        .map(|n| {
            let mut d = json(&legacy);
            d["Id"] = serde_json::Value::String(format!("version-{n}"));
            serde_json::to_string(&d).unwrap()
        })
        .collect();
    for d in &docs {
        moto::add_version(&iam, &arn, d, false).await;
    }
    // v1 (the oldest) stays default: it must never be the one pruned.
    let target = managed(&arn);
    let store = store();
    let (dir, mut j) = journal();
    let new = migrated(&legacy);

    let err = store
        .publish_planned(&target, None, &legacy, &new, &mut j, "run1", true)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::VersionLimit { .. }), "{err}");
    assert!(err.to_string().contains("--no-prune"), "{err}");

    let published = store
        .publish_planned(&target, None, &legacy, &new, &mut j, "run2", false)
        .await
        .unwrap();
    let Published::Applied {
        pruned_version_id,
        version_id,
        ..
    } = &published
    else {
        panic!("{published:?}");
    };
    assert_eq!(pruned_version_id.as_deref(), Some("v2"));
    assert_eq!(version_id.as_deref(), Some("v6"));
    let live = store.current(&target).await.unwrap();
    assert_eq!(live.versions.len(), 5);
    assert!(live.versions.iter().all(|v| v.id != "v2"));
    assert_eq!(json(&live.text), json(&new));

    let entries = journal::read_entries(dir.path().join("state/journal.jsonl"))
        .unwrap()
        .entries;
    let prune: Vec<_> = entries
        .iter()
        .filter(|e| e.action == Action::Prune)
        .collect();
    assert_eq!(prune.len(), 2);
    assert_eq!(prune[0].outcome, Outcome::Pending);
    assert_eq!(prune[1].outcome, Outcome::Applied);
    assert_eq!(prune[0].before_version_id.as_deref(), Some("v2"));
    assert_eq!(json(prune[0].before.as_deref().unwrap()), json(&docs[0]));
    // The prune is journalled before the publish it makes room for.
    let first_publish = entries
        .iter()
        .position(|e| e.action == Action::Publish)
        .unwrap();
    let first_prune = entries
        .iter()
        .position(|e| e.action == Action::Prune)
        .unwrap();
    assert!(first_prune < first_publish);

    let plan = journal::rollback_plan(&entries, None);
    assert_eq!(plan.len(), 1);
    let rolled = store.rollback(&plan[0], &mut j, "run3").await.unwrap();
    assert_eq!(
        rolled,
        RolledBack::DefaultVersionRestored {
            version_id: "v1".into()
        }
    );
    assert_eq!(
        json(&store.current(&target).await.unwrap().text),
        json(&legacy)
    );
}

#[tokio::test]
async fn aws_rollback_writes_a_new_version_when_the_previous_default_is_gone() {
    let iam = moto::client();
    let legacy = fixture(LEGACY);
    let arn = moto::create_managed(&iam, &unique("gone"), &legacy, &[]).await;
    let target = managed(&arn);
    let store = store();
    let (dir, mut j) = journal();
    let new = migrated(&legacy);
    store
        .publish_planned(&target, None, &legacy, &new, &mut j, "run1", false)
        .await
        .unwrap();
    iam.delete_policy_version()
        .policy_arn(&arn)
        .version_id("v1")
        .send()
        .await
        .unwrap();
    let entries = journal::read_entries(dir.path().join("state/journal.jsonl"))
        .unwrap()
        .entries;
    let plan = journal::rollback_plan(&entries, None);
    let rolled = store.rollback(&plan[0], &mut j, "run2").await.unwrap();
    assert_eq!(
        rolled,
        RolledBack::NewVersion {
            version_id: Some("v3".into())
        }
    );
    assert_eq!(
        json(&store.current(&target).await.unwrap().text),
        json(&legacy)
    );
}

#[tokio::test]
async fn aws_publish_inline_user_group_role_and_rollback_restores_originals() {
    let iam = moto::client();
    let p = unique("inl");
    let (user, group, role) = (format!("{p}-u"), format!("{p}-g"), format!("{p}-r"));
    moto::create_user(&iam, &user, &[]).await;
    moto::create_group(&iam, &group).await;
    moto::create_role(&iam, &role).await;
    let user_doc = fixture("2019-docs-mfa-only.json");
    let group_doc = fixture(LEGACY);
    let role_doc = fixture("2015-blog-force-mfa.json");
    iam.put_user_policy()
        .user_name(&user)
        .policy_name("mfa")
        .policy_document(&user_doc)
        .send()
        .await
        .unwrap();
    iam.put_group_policy()
        .group_name(&group)
        .policy_name("mfa")
        .policy_document(&group_doc)
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name(&role)
        .policy_name("mfa")
        .policy_document(&role_doc)
        .send()
        .await
        .unwrap();
    let cases = [
        (inline(EntityKind::User, &user, "mfa"), user_doc),
        (inline(EntityKind::Group, &group, "mfa"), group_doc),
        (inline(EntityKind::Role, &role, "mfa"), role_doc),
    ];
    let store = store();
    let (dir, mut j) = journal();
    for (target, before) in &cases {
        let new = migrated(before);
        let out = store
            .publish_planned(target, None, before, &new, &mut j, "run1", false)
            .await
            .unwrap();
        assert!(
            matches!(
                out,
                Published::Applied {
                    version_id: None,
                    ..
                }
            ),
            "{out:?}"
        );
        assert_eq!(json(&store.current(target).await.unwrap().text), json(&new));
    }
    let entries = journal::read_entries(dir.path().join("state/journal.jsonl"))
        .unwrap()
        .entries;
    let plan = journal::rollback_plan(&entries, None);
    assert_eq!(plan.len(), 3);
    // Latest first.
    assert_eq!(plan[0].target, cases[2].0);
    for entry in &plan {
        assert_eq!(
            store.rollback(entry, &mut j, "run2").await.unwrap(),
            RolledBack::InlineRestored
        );
    }
    for (target, before) in &cases {
        assert_eq!(
            json(&store.current(target).await.unwrap().text),
            json(before)
        );
    }
}

#[tokio::test]
async fn aws_rollback_refuses_when_someone_changed_the_policy_since() {
    let iam = moto::client();
    let user = unique("chg");
    moto::create_user(&iam, &user, &[]).await;
    let before = fixture("2019-docs-mfa-only.json");
    iam.put_user_policy()
        .user_name(&user)
        .policy_name("mfa")
        .policy_document(&before)
        .send()
        .await
        .unwrap();
    let target = inline(EntityKind::User, &user, "mfa");
    let store = store();
    let (dir, mut j) = journal();
    store
        .publish_planned(
            &target,
            None,
            &before,
            &migrated(&before),
            &mut j,
            "run1",
            false,
        )
        .await
        .unwrap();
    let someone_else = fixture("current-docs-mfa-only.json");
    iam.put_user_policy()
        .user_name(&user)
        .policy_name("mfa")
        .policy_document(&someone_else)
        .send()
        .await
        .unwrap();
    let entries = journal::read_entries(dir.path().join("state/journal.jsonl"))
        .unwrap()
        .entries;
    let err = store
        .rollback(&journal::rollback_plan(&entries, None)[0], &mut j, "run2")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Stale { .. }), "{err}");
    assert_eq!(
        json(&store.current(&target).await.unwrap().text),
        json(&someone_else)
    );
}

#[tokio::test]
async fn aws_connect_uses_the_standard_chain_and_finds_the_account() {
    // Fake credentials through the environment, as a CI job would set them. Every test uses
    // the same values, so setting them concurrently is harmless.
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    let opts = AwsOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto::endpoint()),
        session_name: "forcemfa-test".into(),
        ..AwsOptions::default()
    };
    let store = AwsStore::connect(&opts).await.unwrap();
    assert_eq!(store.account_id(), ACCOUNT);
}

/// Every action the store calls is granted by the documented least-privilege policies.
#[test]
fn aws_permission_policies_grant_every_action_the_store_calls() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/permissions");
    let actions = |file: &str| -> Vec<String> {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let doc = json(&text);
        assert!(
            forcemfa::engine::policy::not_a_policy_reason(&doc).is_none(),
            "{file}"
        );
        forcemfa::engine::policy::statements(&doc)
            .into_iter()
            .filter(|s| forcemfa::engine::policy::effect(s).as_deref() == Some("allow"))
            .flat_map(|s| {
                forcemfa::engine::policy::string_list(s, "Action")
                    .unwrap()
                    .unwrap()
            })
            .collect()
    };
    let plan = actions("plan-policy.json");
    let apply = actions("apply-policy.json");
    for a in PLAN_ACTIONS {
        assert!(plan.iter().any(|p| p == a), "plan-policy.json lacks {a}");
        assert!(apply.iter().any(|p| p == a), "apply-policy.json lacks {a}");
    }
    for a in APPLY_ACTIONS {
        assert!(apply.iter().any(|p| p == a), "apply-policy.json lacks {a}");
        let write = ["Create", "Delete", "Put", "Set"]
            .iter()
            .any(|w| a.contains(w));
        assert!(
            !write || !plan.iter().any(|p| p == a),
            "plan-policy.json must stay read-only: {a}"
        );
    }
    // No wildcards: least privilege means naming each action.
    assert!(plan.iter().chain(&apply).all(|a| !a.contains('*')));
    let doc = std::fs::read_to_string(root.join("../permissions.md")).unwrap();
    for a in PLAN_ACTIONS.iter().chain(APPLY_ACTIONS) {
        assert!(doc.contains(a), "permissions.md does not explain {a}");
    }
}

mod mocked {
    //! Scripted IAM responses for what moto cannot do.
    use super::*;
    use aws_sdk_iam::operation::create_policy_version::{
        CreatePolicyVersionError, CreatePolicyVersionOutput,
    };
    use aws_sdk_iam::operation::get_account_authorization_details::{
        GetAccountAuthorizationDetailsError, GetAccountAuthorizationDetailsOutput,
    };
    use aws_sdk_iam::operation::get_policy::GetPolicyOutput;
    use aws_sdk_iam::operation::get_policy_version::GetPolicyVersionOutput;
    use aws_sdk_iam::operation::get_user_policy::GetUserPolicyOutput;
    use aws_sdk_iam::operation::list_policy_versions::ListPolicyVersionsOutput;
    use aws_sdk_iam::operation::list_user_policies::ListUserPoliciesOutput;
    use aws_sdk_iam::operation::put_user_policy::PutUserPolicyOutput;
    use aws_sdk_iam::types::{
        AttachedPolicy, ManagedPolicyDetail, Policy, PolicyVersion, RoleDetail, UserDetail,
    };
    use aws_sdk_iam::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;
    use aws_smithy_types::retry::RetryConfig;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    const ARN: &str = "arn:aws:iam::123456789012:policy/ForceMFA";
    /// `{"Version":"2012-10-17","Statement":[{"Sid":"a+b","Effect":"Deny","NotAction":"iam:Get+","Resource":"*"}]}`
    /// as IAM encodes it: the `+` characters stay literal and must not become spaces.
    const ENCODED: &str = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Sid%22%3A%22a+b%22%2C%22Effect%22%3A%22Deny%22%2C%22NotAction%22%3A%22iam%3AGet+%22%2C%22Resource%22%3A%22*%22%7D%5D%7D";

    fn mock_store(client: Client) -> AwsStore {
        AwsStore::from_client(client, ACCOUNT).with_read_back(2, Duration::from_millis(1))
    }

    fn version(id: &str, default: bool, doc: Option<&str>) -> PolicyVersion {
        let mut b = PolicyVersion::builder()
            .version_id(id)
            .is_default_version(default)
            .create_date(aws_smithy_types::DateTime::from_secs(1_600_000_000));
        if let Some(d) = doc {
            b = b.document(d);
        }
        b.build()
    }

    #[tokio::test]
    async fn aws_mock_url_encoded_documents_are_percent_decoded() {
        let gaad = mock!(Client::get_account_authorization_details).then_output(|| {
            GetAccountAuthorizationDetailsOutput::builder()
                .policies(
                    ManagedPolicyDetail::builder()
                        .arn(ARN)
                        .policy_name("ForceMFA")
                        .default_version_id("v1")
                        .policy_version_list(version("v1", true, Some(ENCODED)))
                        .build(),
                )
                .is_truncated(false)
                .build()
        });
        let get_policy = mock!(Client::get_policy).then_output(|| {
            GetPolicyOutput::builder()
                .policy(Policy::builder().arn(ARN).default_version_id("v1").build())
                .build()
        });
        let get_version = mock!(Client::get_policy_version).then_output(|| {
            GetPolicyVersionOutput::builder()
                .policy_version(version("v1", true, Some(ENCODED)))
                .build()
        });
        let list_versions = mock!(Client::list_policy_versions).then_output(|| {
            ListPolicyVersionsOutput::builder()
                .versions(version("v1", true, None))
                .build()
        });
        let client = mock_client!(
            aws_sdk_iam,
            RuleMode::MatchAny,
            [&gaad, &get_policy, &get_version, &list_versions]
        );
        let store = mock_store(client);
        let all = store.fetch_with_details().await.unwrap().0;
        assert_eq!(all.len(), 1);
        let doc = json(&all[0].text);
        assert_eq!(doc["Statement"][0]["Sid"], "a+b");
        assert_eq!(doc["Statement"][0]["NotAction"], "iam:Get+");
        let current = store.current(&managed(ARN)).await.unwrap();
        assert_eq!(json(&current.text), doc);
        assert!(current.text.starts_with('{'));
    }

    #[tokio::test]
    async fn aws_mock_gaad_is_read_across_pages() {
        let page1 = mock!(Client::get_account_authorization_details)
            .match_requests(|r| r.marker().is_none())
            .then_output(|| {
                GetAccountAuthorizationDetailsOutput::builder()
                    .policies(
                        ManagedPolicyDetail::builder()
                            .arn(ARN)
                            .policy_name("ForceMFA")
                            .default_version_id("v1")
                            .policy_version_list(version("v1", true, Some(ENCODED)))
                            .build(),
                    )
                    .user_detail_list(
                        UserDetail::builder()
                            .user_name("alice")
                            .attached_managed_policies(
                                AttachedPolicy::builder().policy_arn(ARN).build(),
                            )
                            .build(),
                    )
                    .is_truncated(true)
                    .marker("page-2")
                    .build()
            });
        let page2 = mock!(Client::get_account_authorization_details)
            .match_requests(|r| r.marker() == Some("page-2"))
            .then_output(|| {
                GetAccountAuthorizationDetailsOutput::builder()
                    .role_detail_list(
                        RoleDetail::builder()
                            .role_name("ci")
                            .attached_managed_policies(
                                AttachedPolicy::builder().policy_arn(ARN).build(),
                            )
                            .role_policy_list(
                                aws_sdk_iam::types::PolicyDetail::builder()
                                    .policy_name("inline")
                                    .policy_document(ENCODED)
                                    .build(),
                            )
                            .build(),
                    )
                    .is_truncated(false)
                    .build()
            });
        let client = mock_client!(aws_sdk_iam, RuleMode::Sequential, [&page1, &page2]);
        let all = mock_store(client).fetch_with_details().await.unwrap().0;
        assert_eq!(page1.num_calls(), 1);
        assert_eq!(page2.num_calls(), 1);
        assert_eq!(all.len(), 2);
        assert_eq!(
            find(&all, &managed(ARN)).attachments,
            ["user/alice", "role/ci"]
        );
        let role = find(&all, &inline(EntityKind::Role, "ci", "inline"));
        assert_eq!(json(&role.text)["Statement"][0]["Sid"], "a+b");
    }

    #[tokio::test]
    async fn aws_mock_throttling_is_retried_then_reported_helpfully() {
        let gaad = mock!(Client::get_account_authorization_details)
            .sequence()
            .error(|| {
                GetAccountAuthorizationDetailsError::generic(
                    ErrorMetadata::builder()
                        .code("Throttling")
                        .message("Rate exceeded")
                        .build(),
                )
            })
            .repeatedly()
            .build();
        let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&gaad], |c| c
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(1))
            ));
        let err = mock_store(client).fetch_with_details().await.unwrap_err();
        assert_eq!(gaad.num_calls(), 3, "retried by the SDK before giving up");
        assert!(matches!(err, StoreError::Throttling { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(ACCOUNT) && msg.contains("iam:GetAccountAuthorizationDetails"),
            "{msg}"
        );
        assert!(
            msg.contains("Rate exceeded") && msg.contains("--concurrency"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn aws_mock_lost_create_policy_version_response_is_not_repeated() {
        let old = fixture(LEGACY);
        let new = migrated(&old);
        let landed = Arc::new(AtomicBool::new(false));
        let l = landed.clone();
        let get_policy = mock!(Client::get_policy).then_compute_output(move |_| {
            let v = if l.load(Ordering::SeqCst) { "v2" } else { "v1" };
            GetPolicyOutput::builder()
                .policy(Policy::builder().arn(ARN).default_version_id(v).build())
                .build()
        });
        let (o, n) = (old.clone(), new.clone());
        let get_version = mock!(Client::get_policy_version).then_compute_output(move |r| {
            let id = r.version_id().unwrap_or_default().to_string();
            let doc = if id == "v2" { &n } else { &o };
            GetPolicyVersionOutput::builder()
                .policy_version(version(&id, true, Some(&urlencode(doc))))
                .build()
        });
        let list_versions = mock!(Client::list_policy_versions).then_output(|| {
            ListPolicyVersionsOutput::builder()
                .versions(version("v1", true, None))
                .build()
        });
        let l = landed.clone();
        // The version lands, but the answer is lost (a 500 from a proxy after IAM committed).
        let create = mock!(Client::create_policy_version).then_compute_response(move |_| {
            l.store(true, Ordering::SeqCst);
            aws_smithy_mocks::MockResponse::Error(CreatePolicyVersionError::generic(
                ErrorMetadata::builder()
                    .code("ServiceFailure")
                    .message("connection reset")
                    .build(),
            ))
        });
        let client = mock_client!(
            aws_sdk_iam,
            RuleMode::MatchAny,
            [&get_policy, &get_version, &list_versions, &create]
        );
        let store = mock_store(client);
        let (dir, mut j) = journal();
        let out = store
            .publish_planned(&managed(ARN), None, &old, &new, &mut j, "run", false)
            .await
            .unwrap();
        assert_eq!(create.num_calls(), 1, "a write that landed is not repeated");
        let Published::Applied {
            version_id,
            after_lost_response,
            ..
        } = out
        else {
            panic!("{out:?}");
        };
        assert!(after_lost_response);
        assert_eq!(version_id.as_deref(), Some("v2"));
        let entries = journal::read_entries(dir.path().join("state/journal.jsonl"))
            .unwrap()
            .entries;
        let last = entries.last().unwrap();
        assert_eq!(
            (last.action, last.outcome),
            (Action::Publish, Outcome::Applied)
        );
        assert_eq!(last.after_version_id.as_deref(), Some("v2"));
    }

    #[tokio::test]
    async fn aws_mock_too_large_documents_are_refused_before_any_write() {
        let create = mock!(Client::create_policy_version)
            .then_output(|| CreatePolicyVersionOutput::builder().build());
        let get_policy =
            mock!(Client::get_policy).then_output(|| GetPolicyOutput::builder().build());
        let other = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}]}}"#,
            "b".repeat(1_500)
        );
        let list = mock!(Client::list_user_policies).then_output(|| {
            ListUserPoliciesOutput::builder()
                .policy_names("mfa")
                .policy_names("big")
                .is_truncated(false)
                .build()
                .unwrap()
        });
        let o = other.clone();
        let get_inline = mock!(Client::get_user_policy).then_compute_output(move |r| {
            GetUserPolicyOutput::builder()
                .user_name("alice")
                .policy_name(r.policy_name().unwrap_or_default())
                .policy_document(urlencode(&o))
                .build()
                .unwrap()
        });
        let put =
            mock!(Client::put_user_policy).then_output(|| PutUserPolicyOutput::builder().build());
        let client = mock_client!(
            aws_sdk_iam,
            RuleMode::MatchAny,
            [&create, &get_policy, &list, &get_inline, &put]
        );
        let store = mock_store(client);
        let (_dir, mut j) = journal();

        let huge = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","NotAction":["{}"],"Resource":"*"}}]}}"#,
            vec!["iam:GetUser"; 600].join("\",\"")
        );
        let err = store
            .publish_planned(&managed(ARN), None, "{}", &huge, &mut j, "run", false)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::TooLarge { limit: 6_144, .. }),
            "{err}"
        );
        assert!(err.to_string().contains(ARN), "{err}");
        assert_eq!(create.num_calls() + get_policy.num_calls(), 0);

        // 1,500+ characters of another inline policy plus ~600 new ones exceed a user's 2,048.
        let small = migrated(&fixture("2019-docs-mfa-only.json"));
        let target = inline(EntityKind::User, "alice", "mfa");
        let err = store
            .publish_planned(&target, None, "{}", &small, &mut j, "run", false)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::TooLarge { limit: 2_048, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("other inline policies"), "{err}");
        assert_eq!(put.num_calls(), 0);
        assert_eq!(get_inline.num_calls(), 1, "only the other policy is read");

        let bad = r#"{"Version":"2012-10-17","Statement":[{"Sid":"✓","Effect":"Deny","NotAction":"iam:GetUser","Resource":"*"}]}"#;
        let err = store
            .publish_planned(&managed(ARN), None, "{}", bad, &mut j, "run", false)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::DisallowedCharacters { .. }),
            "{err}"
        );
        assert_eq!(create.num_calls() + put.num_calls(), 0);
        // Nothing was journalled either: no write was attempted.
        assert!(journal::read_entries(j.path()).unwrap().entries.is_empty());
    }

    #[tokio::test]
    async fn aws_mock_access_denied_names_the_missing_permission() {
        use aws_sdk_iam::operation::get_policy::GetPolicyError;
        let get_policy = mock!(Client::get_policy).then_error(|| {
            GetPolicyError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("User: arn:aws:iam::123456789012:user/op is not authorized to perform: iam:GetPolicy")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&get_policy]);
        let err = mock_store(client).current(&managed(ARN)).await.unwrap_err();
        assert!(matches!(err, StoreError::AccessDenied { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.starts_with("account 123456789012: arn:aws:iam::123456789012:policy/ForceMFA: iam:GetPolicy: access denied"), "{msg}");
        assert!(
            msg.contains("grant iam:GetPolicy") && msg.contains("docs/permissions.md"),
            "{msg}"
        );
    }

    /// IAM's encoding of documents (RFC 3986 unreserved characters kept, `+` kept as moto and
    /// IAM do for policy text).
    fn urlencode(text: &str) -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z'
                | b'a'..=b'z'
                | b'0'..=b'9'
                | b'-'
                | b'_'
                | b'.'
                | b'~'
                | b'*'
                | b'+' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
}
