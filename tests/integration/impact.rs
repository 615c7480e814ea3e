//! Who is affected (§9), against moto's server through the real SDK and the forcemfa binary: each
//! scenario is an organisation member account of its own (so that other tests' users do not
//! join in), seeded with users whose credentials differ, a group, a role, and a legacy `Bool`
//! force-MFA policy. Requests go through `tests/moto/faultproxy.py`, which counts them.
//!
//! What moto does (read in its source and checked here): the credential report (CSV; its
//! `GeneratedTime` is a fixed 2015 date), `mfa_active` for any enabled device, access-key last use
//! recorded when a request is signed with the key, `ListVirtualMFADevices` lists only virtual
//! devices (as IAM does), so a device enabled with a `u2f/` serial shows as MFA of unknown kind.

use std::collections::BTreeMap;

use aws_sdk_iam::config::Credentials;
use serde_json::{json, Value};

use crate::batch::{base_config, iam_in, new_account, sdk_config, Proxy};
use crate::moto::{self, unique};

/// A community-style guard written with `Bool`: requests signed with long-term keys carry no MFA
/// key and escape it, which the upgrade to `BoolIfExists` ends.
const LEGACY: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Sid":"AllowManageOwnMFA","Effect":"Allow","Action":["iam:CreateVirtualMFADevice","iam:EnableMFADevice","iam:GetUser","iam:ListMFADevices","iam:ResyncMFADevice"],"Resource":["arn:aws:iam::*:mfa/${aws:username}","arn:aws:iam::*:user/${aws:username}"]},
 {"Sid":"DenyAllExceptListedIfNoMFA","Effect":"Deny","NotAction":["iam:CreateVirtualMFADevice","iam:EnableMFADevice","iam:GetUser","iam:ListMFADevices","iam:ListVirtualMFADevices","iam:ResyncMFADevice","sts:GetSessionToken","iam:ListUsers"],"Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}]}"#;
const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","ec2:Describe*"],"Resource":"*"}]}"#;

/// Temporary credentials into `account` (its OrganizationAccountAccessRole).
async fn assumed(account: &str) -> (String, String, String) {
    let sts = aws_sdk_sts::Client::new(&base_config());
    let out = sts
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
        ))
        .role_session_name("forcemfa-impact-test")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    (
        c.access_key_id().to_string(),
        c.secret_access_key().to_string(),
        c.session_token().to_string(),
    )
}

/// forcemfa against `account` (its credentials in the environment) through `endpoint`.
async fn forcemfa(account: &str, endpoint: &str, args: &[&str]) -> (i32, String, String) {
    let (key, secret, token) = assumed(account).await;
    let out = crate::util::bin()
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_SESSION_TOKEN", token)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .args(args)
        .args(["--endpoint-url", endpoint, "--region", "us-east-1"])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A user with an access key; when `used`, a request is signed with the key so that IAM (moto)
/// records its last use.
async fn key_user(iam: &aws_sdk_iam::Client, name: &str, group: Option<&str>, used: bool) {
    moto::create_user(iam, name, &[]).await;
    if let Some(g) = group {
        iam.add_user_to_group()
            .group_name(g)
            .user_name(name)
            .send()
            .await
            .unwrap();
    }
    let out = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap();
    let k = out.access_key().unwrap();
    if used {
        let creds = Credentials::new(k.access_key_id(), k.secret_access_key(), None, None, "u");
        let theirs = aws_sdk_iam::Client::new(&sdk_config(&moto::endpoint(), creds));
        theirs.get_user().send().await.unwrap();
    }
}

async fn virtual_device(iam: &aws_sdk_iam::Client, user: &str) {
    let d = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name(unique("phone"))
        .send()
        .await
        .unwrap();
    let serial = d.virtual_mfa_device().unwrap().serial_number().to_string();
    enable(iam, user, &serial).await;
}

async fn enable(iam: &aws_sdk_iam::Client, user: &str, serial: &str) {
    iam.enable_mfa_device()
        .user_name(user)
        .serial_number(serial)
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .unwrap();
}

/// An account with a group `devs` holding the legacy policy and a read-only grant.
async fn account_with_group() -> (String, aws_sdk_iam::Client, String, String) {
    let account = new_account("impact", &[]).await;
    let iam = iam_in(&account).await;
    let legacy = moto::create_managed(&iam, &unique("force-mfa"), LEGACY, &[]).await;
    let read = moto::create_managed(&iam, &unique("read"), READ_ONLY, &[]).await;
    moto::create_group(&iam, "devs").await;
    for arn in [&legacy, &read] {
        iam.attach_group_policy()
            .group_name("devs")
            .policy_arn(arn)
            .send()
            .await
            .unwrap();
    }
    (account, iam, legacy, read)
}

/// The change of `arn` in a JSON plan, and its principals by name.
fn principals(stdout: &str, arn: &str) -> (Value, BTreeMap<String, Value>) {
    let v: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let change = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["target"]["arn"] == arn)
        .unwrap_or_else(|| panic!("no change for {arn}: {stdout}"))
        .clone();
    let by_name = change["impact"]["principals"]
        .as_array()
        .unwrap_or_else(|| panic!("no impact: {change}"))
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p.clone()))
        .collect();
    (change, by_name)
}

/// Requests per action seen by the proxy (accounts merged).
fn by_action(stats: &Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (k, n) in stats["requests"].as_object().unwrap() {
        let action = k.rsplit(' ').next().unwrap().to_string();
        *out.entry(action).or_default() += n.as_u64().unwrap();
    }
    out
}

fn diff(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, n)| (k.clone(), n - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[tokio::test]
async fn impact_plan_names_each_principal_and_requests_do_not_grow_with_users() {
    let (account, iam, legacy, read) = account_with_group().await;
    // alice: console password and a virtual device.
    moto::create_user(&iam, "alice", &[]).await;
    iam.add_user_to_group()
        .group_name("devs")
        .user_name("alice")
        .send()
        .await
        .unwrap();
    iam.create_login_profile()
        .user_name("alice")
        .password("Correct-Horse-9")
        .send()
        .await
        .unwrap();
    virtual_device(&iam, "alice").await;
    // carol: an access key used just now, no device.
    key_user(&iam, "carol", Some("devs"), true).await;
    // erin: an access key and a virtual device.
    key_user(&iam, "erin", Some("devs"), false).await;
    virtual_device(&iam, "erin").await;
    // frank: an access key and only a FIDO security key.
    key_user(&iam, "frank", Some("devs"), false).await;
    enable(
        &iam,
        "frank",
        &format!("arn:aws:iam::{account}:u2f/user/frank/fidokey-ABCDEFGHIJ"),
    )
    .await;
    // outsider: a key, but not in the group.
    key_user(&iam, "outsider", None, true).await;
    // build: a role EC2 assumes, with the same policies attached.
    moto::create_role(&iam, "build").await;
    for arn in [&legacy, &read] {
        iam.attach_role_policy()
            .role_name("build")
            .policy_arn(arn)
            .send()
            .await
            .unwrap();
    }

    let proxy = Proxy::start(json!([]), 0);
    // The credential facts' own cost is counted here; reading evidence of calls (CloudTrail,
    // and the keys of the users it is read for) is a cost per affected user, measured in the
    // evidence tests and docs/performance.md.
    let counted = ["plan", "--format", "json", "--evidence", "none"];
    let (code, stdout, stderr) = forcemfa(&account, &proxy.url, &counted).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let first = by_action(&proxy.stats());
    let (change, p) = principals(&stdout, &legacy);
    let names: Vec<&String> = p.keys().collect();
    assert_eq!(
        names,
        ["alice", "build", "carol", "erin", "frank"],
        "{change}"
    );

    let verdict = |n: &str| p[n]["verdict"].as_str().unwrap().to_string();
    let because = |n: &str| p[n]["because"].as_str().unwrap().to_string();
    assert_eq!(verdict("alice"), "unaffected", "{}", p["alice"]);
    assert_eq!(p["alice"]["via"], json!(["group devs"]));
    for n in ["carol", "erin", "frank", "build"] {
        assert_eq!(verdict(n), "loses-access", "{n}: {}", p[n]);
    }
    assert!(
        because("carol").contains("access key used today, no MFA device: loses CLI access"),
        "{}",
        because("carol")
    );
    assert_eq!(p["carol"]["type"], "user");
    assert_eq!(p["carol"]["credentials"]["kind"], "user");
    // What she loses is what she had: the group's read-only grant and the policy's own
    // self-service actions, not the whole universe.
    let loss = &p["carol"]["losses"][0];
    let (lost, had) = (
        loss["actions_lost"].as_u64().unwrap(),
        loss["actions_before"].as_u64().unwrap(),
    );
    assert!(lost > 0 && lost <= had && had < 60, "{loss}");
    assert_eq!(loss["last_used"]["days_ago"], 0);
    assert!(
        because("erin").contains("virtual MFA"),
        "{}",
        because("erin")
    );
    assert!(because("erin").contains("get-session-token"));
    assert!(
        because("frank").contains("hardware or FIDO MFA"),
        "{}",
        because("frank")
    );
    assert!(because("frank").contains("a FIDO key cannot"));
    assert_eq!(p["build"]["type"], "role");
    assert!(
        because("build").contains("ec2.amazonaws.com"),
        "{}",
        because("build")
    );
    assert!(change["impact"]["summary"]
        .as_str()
        .unwrap()
        .starts_with("5 principals: 4 lose access"));
    assert!(change["impact"]["credentials_as_of"]
        .as_str()
        .unwrap()
        .starts_with("credential report of "));

    // The credentials cost at most 4 requests, none of them per user.
    let impact_requests: u64 = [
        "GenerateCredentialReport",
        "GetCredentialReport",
        "ListVirtualMFADevices",
    ]
    .iter()
    .map(|a| first.get(*a).copied().unwrap_or(0))
    .sum();
    assert!((3..=4).contains(&impact_requests), "{first:?}");
    for per_user in [
        "ListMFADevices",
        "ListAccessKeys",
        "GetAccessKeyLastUsed",
        "GetUser",
    ] {
        assert!(!first.contains_key(per_user), "{first:?}");
    }

    // 40 more users in the group: the same requests, 40 more principals.
    for i in 0..40 {
        let name = format!("user{i:02}");
        moto::create_user(&iam, &name, &[]).await;
        iam.add_user_to_group()
            .group_name("devs")
            .user_name(&name)
            .send()
            .await
            .unwrap();
    }
    let (code, stdout, stderr) = forcemfa(&account, &proxy.url, &counted).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let second = diff(&by_action(&proxy.stats()), &first);
    assert_eq!(second, first, "requests per action, 6 then 46 users");
    let (_, p) = principals(&stdout, &legacy);
    assert_eq!(p.len(), 45);
    assert_eq!(
        p["user07"]["verdict"], "unaffected",
        "no way in: {}",
        p["user07"]
    );

    // The text plan: one line per affected principal, the unaffected counted beyond a few.
    let (code, stdout, stderr) = forcemfa(&account, &proxy.url, &["plan"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("who is affected (45 principals: 4 lose access, 0 unknown, 41 unaffected; credential report of"), "{stdout}");
    assert!(
        stdout.contains("carol (user, via group devs): LOSES ACCESS: access key used today, no MFA device: loses CLI access"),
        "{stdout}"
    );
    assert!(stdout.contains("… and 38 more unaffected"), "{stdout}");
    assert!(!stdout.contains("outsider"), "{stdout}");

    // Markdown: the count of principals losing access.
    let (code, stdout, _) = forcemfa(&account, &proxy.url, &["plan", "--format", "markdown"]).await;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("Principals losing access: 4 (unknown: 0)."),
        "{stdout}"
    );
}

/// A role EC2 assumes, with the legacy guard and the read-only grant attached, within `boundary`.
async fn bounded_role(iam: &aws_sdk_iam::Client, name: &str, boundary: &str, attach: &[&String]) {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(trust)
        .permissions_boundary(boundary)
        .send()
        .await
        .unwrap();
    for arn in attach {
        iam.attach_role_policy()
            .role_name(name)
            .policy_arn(*arn)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn impact_permission_boundaries_bound_what_a_role_loses() {
    let (account, iam, legacy, read) = account_with_group().await;
    let only = |actions: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{actions},"Resource":"*"}}]}}"#
        )
    };
    let queues =
        moto::create_managed(&iam, &unique("b-sqs"), &only(r#""sqs:ListQueues""#), &[]).await;
    let objects =
        moto::create_managed(&iam, &unique("b-s3"), &only(r#""s3:GetObject""#), &[]).await;
    let attach = [&legacy, &read];
    bounded_role(&iam, "queues", &queues, &attach).await;
    bounded_role(&iam, "objects", &objects, &attach).await;
    bounded_role(
        &iam,
        "aws",
        "arn:aws:iam::aws:policy/PowerUserAccess",
        &attach,
    )
    .await;

    let proxy = Proxy::start(json!([]), 0);
    let (code, stdout, stderr) =
        forcemfa(&account, &proxy.url, &["plan", "--format", "json"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (change, p) = principals(&stdout, &legacy);
    let verdict = |n: &str| p[n]["verdict"].as_str().unwrap_or_default().to_string();
    // The boundary never allowed what the guard takes away: nothing to lose.
    assert_eq!(verdict("queues"), "unaffected", "{change}");
    assert!(p["queues"]["boundary"]
        .as_str()
        .unwrap()
        .ends_with("(evaluated)"));
    // Within a boundary that allows s3:GetObject only, that is all it loses.
    assert_eq!(verdict("objects"), "loses-access", "{change}");
    let lost: Vec<&str> = p["objects"]["losses"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["examples"].as_array().unwrap())
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(lost.iter().all(|a| *a == "s3:GetObject"), "{lost:?}");
    // An AWS managed boundary is not in the account read: the verdict says so.
    assert_eq!(verdict("aws"), "unknown", "{change}");
    assert!(
        p["aws"]["because"].as_str().unwrap().contains(
            "permissions boundary arn:aws:iam::aws:policy/PowerUserAccess could not be evaluated"
        ),
        "{}",
        p["aws"]
    );
}

async fn default_version(iam: &aws_sdk_iam::Client, arn: &str) -> String {
    iam.get_policy()
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

#[tokio::test]
async fn impact_apply_yes_holds_back_recent_losses_until_accepted_and_saved_plans_recheck() {
    let (account, iam, legacy, _) = account_with_group().await;
    key_user(&iam, "carol", Some("devs"), false).await;
    let proxy = Proxy::start(json!([]), 0);
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    let journal = dir.path().join("journal.jsonl");
    let plan_s = plan.to_str().unwrap();
    let journal_s = journal.to_str().unwrap();

    // Reviewed while carol's key had never been used: the plan carries that impact.
    let (code, stdout, stderr) = forcemfa(&account, &proxy.url, &["plan", "--out", plan_s]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(
        saved["changes"][0]["impact"]["principals"][0]["verdict"],
        "loses-access"
    );

    // Now her key is in use: `apply --plan --yes` reads the credentials again and holds back.
    let out = iam
        .create_access_key()
        .user_name("carol")
        .send()
        .await
        .unwrap();
    let k = out.access_key().unwrap();
    let creds = Credentials::new(k.access_key_id(), k.secret_access_key(), None, None, "u");
    aws_sdk_iam::Client::new(&sdk_config(&moto::endpoint(), creds))
        .get_user()
        .send()
        .await
        .unwrap();
    let args = ["apply", "--plan", plan_s, "--yes", "--journal", journal_s];
    let (code, stdout, stderr) = forcemfa(&account, &proxy.url, &args).await;
    assert_eq!(code, 4, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("held back: cuts off access used in the last 90 days: carol"),
        "{stdout}"
    );
    assert_eq!(default_version(&iam, &legacy).await, "v1");

    // A principal the review did not see: refused even with --accept-impact.
    key_user(&iam, "dave", Some("devs"), false).await;
    let mut accepted = args.to_vec();
    accepted.push("--accept-impact");
    let (code, stdout, stderr) = forcemfa(&account, &proxy.url, &accepted).await;
    assert_eq!(code, 4, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("more is cut off than when the plan was reviewed: dave"),
        "{stdout}"
    );
    assert_eq!(default_version(&iam, &legacy).await, "v1");

    // A fresh apply --yes shows the impact and holds the change back; --recent-days 0 does
    // not count a use today as older, so it holds too.
    let fresh = ["apply", "--yes", "--journal", journal_s];
    let (code, stdout, stderr) = forcemfa(&account, &proxy.url, &fresh).await;
    assert_eq!(code, 4, "{stdout}\n{stderr}");
    assert!(stdout.contains("who is affected (2 principals"), "{stdout}");
    assert!(stdout.contains("Held back 1"), "{stdout}");
    assert_eq!(default_version(&iam, &legacy).await, "v1");

    // --accept-impact publishes it.
    let mut go = fresh.to_vec();
    go.push("--accept-impact");
    let (code, stdout, stderr) = forcemfa(&account, &proxy.url, &go).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("applied "), "{stdout}");
    assert_eq!(default_version(&iam, &legacy).await, "v2");
}

#[test]
fn impact_offline_sources_say_once_that_they_have_no_principals() {
    let dir = crate::util::fixture("policies");
    let out = crate::util::bin()
        .args(["plan"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("no principals: offline source").count(),
        1,
        "{stderr}"
    );
    assert!(!stdout.contains("who is affected ("), "{stdout}");
    let out = crate::util::bin()
        .args(["plan", "--format", "json"])
        .arg(&dir)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c.get("impact").is_none()));
}

mod mocked {
    //! What moto cannot do: a report still being generated, and a denied credential report.
    use std::time::Duration;

    use aws_sdk_iam::operation::generate_credential_report::{
        GenerateCredentialReportError, GenerateCredentialReportOutput,
    };
    use aws_sdk_iam::operation::get_credential_report::{
        GetCredentialReportError, GetCredentialReportOutput,
    };
    use aws_sdk_iam::operation::list_virtual_mfa_devices::ListVirtualMfaDevicesOutput;
    use aws_sdk_iam::types::{ReportStateType, User, VirtualMfaDevice};
    use aws_sdk_iam::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;
    use forcemfa::engine::impact::MfaKind;
    use forcemfa::sources::aws::AwsStore;
    use forcemfa::sources::principals::{read_credentials, Polling};

    const CSV: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\nerin,arn:aws:iam::123456789012:user/erin,2020-01-01T00:00:00+00:00,false,not_supported,N/A,N/A,true,true,2020-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n";

    fn polling() -> Polling {
        Polling {
            first_delay: Duration::from_millis(1),
            attempts: 5,
        }
    }

    /// The credential report does not depend on the account's policies: it is asked for before
    /// GetAccountAuthorizationDetails is answered, not after (both then wait on the network
    /// together).
    #[tokio::test]
    async fn impact_mock_credential_report_is_read_beside_the_account_details() {
        use aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsOutput;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let asked = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicBool::new(false));
        let (a, s) = (asked.clone(), seen.clone());
        let gaad =
            mock!(Client::get_account_authorization_details).then_compute_output(move |_| {
                s.store(a.load(Ordering::SeqCst), Ordering::SeqCst);
                GetAccountAuthorizationDetailsOutput::builder()
                    .is_truncated(false)
                    .build()
            });
        let a = asked.clone();
        let generate = mock!(Client::generate_credential_report).then_compute_output(move |_| {
            a.store(true, Ordering::SeqCst);
            GenerateCredentialReportOutput::builder()
                .state(ReportStateType::Complete)
                .build()
        });
        let get = mock!(Client::get_credential_report).then_output(|| {
            GetCredentialReportOutput::builder()
                .content(aws_smithy_types::Blob::new(CSV.as_bytes()))
                .build()
        });
        let list = mock!(Client::list_virtual_mfa_devices).then_output(|| {
            ListVirtualMfaDevicesOutput::builder()
                .set_virtual_mfa_devices(Some(Vec::new()))
                .is_truncated(false)
                .build()
                .unwrap()
        });
        let client = mock_client!(
            aws_sdk_iam,
            RuleMode::MatchAny,
            [&gaad, &generate, &get, &list]
        );
        let store = AwsStore::from_client(client, "123456789012");
        let (fetched, _read) = forcemfa::sources::principals::fetch(&store).await.unwrap();
        assert!(fetched.is_empty());
        assert!(
            seen.load(Ordering::SeqCst),
            "GetAccountAuthorizationDetails was answered before the credential report was asked for"
        );
    }

    #[tokio::test]
    async fn impact_mock_report_in_progress_is_waited_for() {
        let generate = mock!(Client::generate_credential_report).then_output(|| {
            GenerateCredentialReportOutput::builder()
                .state(ReportStateType::Started)
                .build()
        });
        let get = mock!(Client::get_credential_report)
            .sequence()
            .error(|| {
                GetCredentialReportError::generic(
                    ErrorMetadata::builder().code("ReportInProgress").build(),
                )
            })
            .output(|| {
                GetCredentialReportOutput::builder()
                    .content(aws_smithy_types::Blob::new(CSV.as_bytes()))
                    .generated_time(aws_smithy_types::DateTime::from_secs(1_764_000_000))
                    .build()
            })
            .build();
        let list = mock!(Client::list_virtual_mfa_devices).then_output(|| {
            ListVirtualMfaDevicesOutput::builder()
                .virtual_mfa_devices(
                    VirtualMfaDevice::builder()
                        .serial_number("arn:aws:iam::123456789012:mfa/erin-phone")
                        .user(
                            User::builder()
                                .user_name("erin")
                                .path("/")
                                .user_id("AIDA")
                                .arn("arn:aws:iam::123456789012:user/erin")
                                .create_date(aws_smithy_types::DateTime::from_secs(0))
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .is_truncated(false)
                .build()
                .unwrap()
        });
        let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&generate, &get, &list]);
        let store = AwsStore::from_client(client, "123456789012");
        let facts = read_credentials(&store, polling()).await;
        assert_eq!(facts.error, None);
        assert_eq!(
            (generate.num_calls(), get.num_calls(), list.num_calls()),
            (1, 2, 1)
        );
        assert_eq!(facts.requests, 4);
        assert!(facts
            .as_of_phrase()
            .unwrap()
            .starts_with("credential report of 2025-11-24T"));
        let erin = facts.user_credentials("erin").unwrap();
        assert_eq!(erin.mfa_devices, vec![MfaKind::Virtual]);
        assert!(erin.access_keys[0].active);
    }

    #[tokio::test]
    async fn impact_mock_denied_report_makes_facts_unavailable_with_the_permission_named() {
        let generate = mock!(Client::generate_credential_report).then_error(|| {
            GenerateCredentialReportError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("not authorized to perform: iam:GenerateCredentialReport")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&generate]);
        let store = AwsStore::from_client(client, "123456789012");
        let facts = read_credentials(&store, polling()).await;
        let e = facts.error.clone().unwrap();
        assert!(e.contains("account 123456789012"), "{e}");
        assert!(e.contains("grant iam:GenerateCredentialReport"), "{e}");
        assert!(facts.user_credentials("erin").is_none());
    }
}
