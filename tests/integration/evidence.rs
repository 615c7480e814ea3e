//! Evidence (§11), end to end through the real SDK: an account in moto whose users' calls are
//! served by the CloudTrail event history stand-in (`tests/moto/cloudtrail.py`, a front before
//! moto started by `tests/run_moto.sh`), or written as a trail's log files in a folder and in
//! moto's S3.
//!
//! The scenario: a group `devs` with a legacy `Bool` guard that also exempts
//! `iam:ListAccessKeys` before MFA, and a read-only grant. carol signs with her key only to call
//! `sts:GetSessionToken`, then works in an MFA session; erin's key calls are refused
//! (`iam:CreateUser`) apart from `GetSessionToken`; alice works in the console with MFA; dave's
//! nightly job signs `ec2:DescribeInstances` and `s3:ListBuckets` with his long-term key; gina
//! lists her own keys with hers. Four keys were used today.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use aws_sdk_iam::config::Credentials;
use serde_json::{json, Value};

use crate::batch::{base_config, iam_in, new_account, sdk_config};
use crate::moto::{self, unique};

/// The legacy guard (`Bool`), with `iam:ListAccessKeys` exempt before MFA and granted on the
/// user's own user.
pub(crate) const LEGACY: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Sid":"AllowManageOwn","Effect":"Allow","Action":["iam:CreateVirtualMFADevice","iam:EnableMFADevice","iam:GetUser","iam:ListMFADevices","iam:ResyncMFADevice","iam:ListAccessKeys"],"Resource":["arn:aws:iam::*:mfa/${aws:username}","arn:aws:iam::*:user/${aws:username}"]},
 {"Sid":"DenyAllExceptListedIfNoMFA","Effect":"Deny","NotAction":["iam:CreateVirtualMFADevice","iam:EnableMFADevice","iam:GetUser","iam:ListMFADevices","iam:ListVirtualMFADevices","iam:ResyncMFADevice","sts:GetSessionToken","iam:ListAccessKeys"],"Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}]}"#;
pub(crate) const READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListAllMyBuckets","ec2:Describe*"],"Resource":"*"}]}"#;

/// The stand-in's URL (moto behind it). The tests fail, never skip, without it.
pub(crate) fn front() -> String {
    match std::env::var("FORCEMFA_CLOUDTRAIL_ENDPOINT") {
        Ok(e) if !e.is_empty() => e,
        _ => panic!(
            "FORCEMFA_CLOUDTRAIL_ENDPOINT is not set: start moto and the CloudTrail stand-in with \
             eval \"$(tests/run_moto.sh start)\""
        ),
    }
}

/// One HTTP request to the stand-in's control endpoint.
pub(crate) fn control(method: &str, path: &str, body: &Value) -> Value {
    let url = front();
    let addr = url.trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    let data = body.to_string();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{data}",
        data.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Temporary credentials into `account`; the stand-in is told whose they are.
pub(crate) async fn assumed(account: &str) -> (String, String, String) {
    let sts = aws_sdk_sts::Client::new(&base_config());
    let out = sts
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
        ))
        .role_session_name("forcemfa-evidence-test")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    control(
        "POST",
        "/__cloudtrail/keys",
        &json!({ c.access_key_id(): account }),
    );
    (
        c.access_key_id().to_string(),
        c.secret_access_key().to_string(),
        c.session_token().to_string(),
    )
}

/// forcemfa against `account` through the stand-in (every service at one endpoint URL). The
/// limiter paces the requests of one run; a second run started within the same second as the
/// last lookups of the one before could add to them, so runs are a second apart, as an
/// operator's are.
async fn forcemfa(account: &str, args: &[&str]) -> (i32, String, String) {
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (key, secret, token) = assumed(account).await;
    let out = crate::util::bin()
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_SESSION_TOKEN", token)
        .env_remove("AWS_ENDPOINT_URL")
        .args(args)
        .args(["--endpoint-url", &front(), "--region", "us-east-1"])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A user in `devs` with an access key used once (so the credential report says "today");
/// returns the key id.
async fn key_user(iam: &aws_sdk_iam::Client, name: &str) -> String {
    moto::create_user(iam, name, &[]).await;
    iam.add_user_to_group()
        .group_name("devs")
        .user_name(name)
        .send()
        .await
        .unwrap();
    let out = iam
        .create_access_key()
        .user_name(name)
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
    k.access_key_id().to_string()
}

/// Seconds since the epoch, now.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub(crate) fn at(secs_ago: i64) -> String {
    forcemfa::engine::evidence::format_time(now() - secs_ago)
}

const DAY: i64 = 86_400;

struct Scenario {
    account: String,
    iam: aws_sdk_iam::Client,
    legacy: String,
    /// Region → the records of the account there.
    records: BTreeMap<String, Vec<Value>>,
}

pub(crate) fn record(
    account: &str,
    user: &str,
    key: &str,
    mfa: Option<(&str, i64)>,
    call: (&str, &str),
    secs_ago: i64,
    n: usize,
) -> Value {
    let mut identity = json!({
        "type": "IAMUser", "principalId": "AIDAEXAMPLE",
        "arn": format!("arn:aws:iam::{account}:user/{user}"), "accountId": account,
        "accessKeyId": key, "userName": user
    });
    if let Some((flag, created_ago)) = mfa {
        identity["sessionContext"] = json!({"sessionIssuer": {}, "webIdFederationData": {},
            "attributes": {"creationDate": at(created_ago), "mfaAuthenticated": flag}});
    }
    json!({
        "eventVersion": "1.08", "userIdentity": identity,
        "eventTime": at(secs_ago), "eventSource": call.0, "eventName": call.1,
        "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15",
        "requestParameters": null, "responseElements": null,
        "eventID": format!("{user}-{}-{n}-{secs_ago}", call.1), "readOnly": true,
        "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": account
    })
}

async fn scenario() -> Scenario {
    let account = new_account("evidence", &[]).await;
    let iam = iam_in(&account).await;
    let legacy = moto::create_managed(&iam, &unique("force-mfa"), LEGACY, &[]).await;
    let read = moto::create_managed(&iam, &unique("read"), READ, &[]).await;
    moto::create_group(&iam, "devs").await;
    for arn in [&legacy, &read] {
        iam.attach_group_policy()
            .group_name("devs")
            .policy_arn(arn)
            .send()
            .await
            .unwrap();
    }
    let carol = key_user(&iam, "carol").await;
    let erin = key_user(&iam, "erin").await;
    let dave = key_user(&iam, "dave").await;
    let gina = key_user(&iam, "gina").await;
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
    let d = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name(unique("phone"))
        .send()
        .await
        .unwrap();
    iam.enable_mfa_device()
        .user_name("alice")
        .serial_number(d.virtual_mfa_device().unwrap().serial_number())
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .unwrap();

    let a = account.as_str();
    let mut east = Vec::new();
    let mut west = Vec::new();
    // carol: her key only gets MFA sessions; she works in them.
    for d in 1..=3 {
        let t = d * DAY;
        east.push(record(
            a,
            "carol",
            &carol,
            None,
            ("sts.amazonaws.com", "GetSessionToken"),
            t,
            0,
        ));
        for n in 0..7 {
            let call = ("ec2.amazonaws.com", "DescribeInstances");
            east.push(record(
                a,
                "carol",
                "ASIACAROLSESSION",
                Some(("true", t)),
                call,
                t - 60 * (n + 1),
                n as usize,
            ));
        }
    }
    // erin: refused calls with her key, apart from GetSessionToken.
    for n in 0..4 {
        let mut r = record(
            a,
            "erin",
            &erin,
            None,
            ("iam.amazonaws.com", "CreateUser"),
            2 * DAY + n * 60,
            n as usize,
        );
        r["errorCode"] = json!("AccessDenied");
        r["errorMessage"] = json!("User: arn:aws:iam::123456789012:user/erin is not authorized to perform: iam:CreateUser");
        east.push(r);
    }
    east.push(record(
        a,
        "erin",
        &erin,
        None,
        ("sts.amazonaws.com", "GetSessionToken"),
        DAY,
        0,
    ));
    // alice: the console, with MFA.
    let mut login = record(
        a,
        "alice",
        "",
        Some(("true", 3 * DAY)),
        ("signin.amazonaws.com", "ConsoleLogin"),
        3 * DAY,
        0,
    );
    login["userIdentity"]
        .as_object_mut()
        .unwrap()
        .remove("accessKeyId");
    login["eventType"] = json!("AwsConsoleSignIn");
    east.push(login);
    for n in 0..5 {
        east.push(record(
            a,
            "alice",
            "ASIAALICECONSOLE",
            Some(("true", 3 * DAY)),
            ("ec2.amazonaws.com", "DescribeInstances"),
            3 * DAY - 300 * (n + 1),
            n as usize,
        ));
    }
    // dave: a nightly job with his long-term key, in two Regions; and calls from before the
    // window, which never count.
    for n in 0..130 {
        let t = (n % 60 + 1) * DAY / 2 + n;
        let call = ("ec2.amazonaws.com", "DescribeInstances");
        let mut r = record(a, "dave", &dave, None, call, t, n as usize);
        if n < 30 {
            r["awsRegion"] = json!("eu-west-1");
            west.push(r);
        } else {
            east.push(r);
        }
    }
    for n in 0..5 {
        east.push(record(
            a,
            "dave",
            &dave,
            None,
            ("s3.amazonaws.com", "ListBuckets"),
            (n + 1) * DAY + 7,
            n as usize,
        ));
    }
    for n in 0..3 {
        east.push(record(
            a,
            "dave",
            &dave,
            None,
            ("ec2.amazonaws.com", "DescribeInstances"),
            100 * DAY + n,
            900 + n as usize,
        ));
    }
    // gina: lists her own keys with hers.
    for n in 0..3 {
        east.push(record(
            a,
            "gina",
            &gina,
            None,
            ("iam.amazonaws.com", "ListAccessKeys"),
            (n + 1) * DAY + 11,
            n as usize,
        ));
    }
    let mut records = BTreeMap::new();
    records.insert("us-east-1".to_string(), east);
    records.insert("eu-west-1".to_string(), west);
    Scenario {
        account,
        iam,
        legacy,
        records,
    }
}

/// The principals of the change of `arn` in a JSON plan, by name.
pub(crate) fn principals(stdout: &str, arn: &str) -> BTreeMap<String, Value> {
    let v: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let change = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["target"]["arn"] == arn)
        .unwrap_or_else(|| panic!("no change for {arn}: {stdout}"))
        .clone();
    change["impact"]["principals"]
        .as_array()
        .unwrap_or_else(|| panic!("no impact: {change}"))
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p.clone()))
        .collect()
}

pub(crate) fn calls_of(p: &Value, action: &str) -> Vec<(u64, String)> {
    p["evidence"]["actions"]
        .as_array()
        .unwrap_or_else(|| panic!("no evidence: {p}"))
        .iter()
        .filter(|a| a["action"] == action)
        .map(|a| {
            (
                a["calls"].as_u64().unwrap(),
                a["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The verdicts the scenario must give, whatever the source.
fn assert_verdicts(p: &BTreeMap<String, Value>, source: &str) {
    for n in ["carol", "erin", "alice"] {
        assert_eq!(p[n]["verdict"], "unaffected", "{n}: {}", p[n]);
        assert_eq!(p[n]["evidence"]["source"], source, "{n}: {}", p[n]);
        assert_eq!(p[n]["evidence"]["newly_denied"], 0, "{n}: {}", p[n]);
        assert_eq!(p[n]["evidence"]["partial"], false, "{n}: {}", p[n]);
        assert!(p[n]["evidence"]["calls"].as_u64().unwrap() > 0, "{}", p[n]);
        assert!(
            p[n]["because"]
                .as_str()
                .unwrap()
                .contains("none would be refused"),
            "{}",
            p[n]
        );
    }
    assert_eq!(p["carol"]["evidence"]["calls"], 24, "{}", p["carol"]);
    assert_eq!(
        calls_of(&p["carol"], "sts:GetSessionToken"),
        [(3, "still-allowed".to_string())]
    );
    assert_eq!(p["erin"]["evidence"]["already_refused"], 4, "{}", p["erin"]);
    assert_eq!(
        calls_of(&p["erin"], "iam:CreateUser"),
        [(4, "already-refused".to_string())]
    );
    for n in ["dave", "gina"] {
        assert_eq!(p[n]["verdict"], "loses-access", "{n}: {}", p[n]);
        assert_eq!(p[n]["evidence"]["source"], source);
    }
    assert_eq!(
        calls_of(&p["dave"], "ec2:DescribeInstances"),
        [(130, "newly-denied".to_string())],
        "{}",
        p["dave"]
    );
    assert_eq!(
        calls_of(&p["dave"], "s3:ListAllMyBuckets"),
        [(5, "newly-denied".to_string())]
    );
    let because = p["dave"]["because"].as_str().unwrap();
    assert!(
        because.contains("with the access key alone")
            && because.contains("ec2:DescribeInstances \u{d7}130"),
        "{because}"
    );
    assert_eq!(
        calls_of(&p["gina"], "iam:ListAccessKeys"),
        [(3, "newly-denied".to_string())]
    );
    assert!(p["gina"]["because"]
        .as_str()
        .unwrap()
        .contains("iam:ListAccessKeys"));
}

#[tokio::test]
async fn evidence_event_history_clears_carol_erin_alice_and_names_what_dave_and_gina_lose() {
    let s = scenario().await;
    for (region, records) in &s.records {
        control(
            "POST",
            "/__cloudtrail/events",
            &json!({"account": s.account, "region": region, "records": records}),
        );
    }
    // Two throttles the limiter could not foresee: retried, no page lost.
    control(
        "POST",
        "/__cloudtrail/throttle",
        &json!({"account": s.account, "region": "us-east-1", "times": 2}),
    );
    let regions = ["--evidence-regions", "us-east-1,eu-west-1"];
    let mut args = vec!["plan", "--format", "json"];
    args.extend(regions);
    let (code, stdout, stderr) = forcemfa(&s.account, &args).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let p = principals(&stdout, &s.legacy);
    assert_verdicts(&p, "event-history");
    assert_eq!(
        p["dave"]["evidence"]["calls"], 135,
        "out of the window: {}",
        p["dave"]
    );
    assert_eq!(p["dave"]["evidence"]["window_days"], 90);

    let stats = control(
        "GET",
        &format!("/__cloudtrail/stats?account={}", s.account),
        &json!({}),
    );
    assert_eq!(stats["throttled"], 0, "over the rate: {stats}");
    assert_eq!(stats["injected"], 2, "{stats}");
    assert_eq!(stats["unread_pages"], 0, "every page read: {stats}");
    for (region, most) in stats["max_per_second"].as_object().unwrap() {
        assert!(
            most.as_u64().unwrap() <= 2,
            "{region}: {most} lookups in one second"
        );
    }
    // dave: 100 events in us-east-1 by key and by name, 50 a page: 3 pages each.
    let lookups = stats["lookups"].as_array().unwrap();
    let dave_pages = lookups
        .iter()
        .filter(|l| {
            l["region"] == "us-east-1"
                && l["attribute"]["AttributeValue"] == "dave"
                && l["status"] == "ok"
        })
        .count();
    assert_eq!(dave_pages, 3, "{stats}");

    // The text plan: one line per person.
    let mut args = vec!["plan"];
    args.extend(regions);
    let (code, stdout, stderr) = forcemfa(&s.account, &args).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("dave (user, via group devs): LOSES ACCESS: 135 calls in 90 days with the access key alone (CloudTrail event history); 135 would be refused (ec2:DescribeInstances \u{d7}130, s3:ListAllMyBuckets \u{d7}5)"),
        "{stdout}"
    );
    let (code, stdout, _) = forcemfa(
        &s.account,
        &[
            "plan",
            "--format",
            "markdown",
            "--evidence-regions",
            "us-east-1,eu-west-1",
        ],
    )
    .await;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("with evidence of calls that would fail: 2"),
        "{stdout}"
    );

    // apply --yes holds the change back on dave's and gina's calls.
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let mut apply = vec!["apply", "--yes", "--journal", journal.to_str().unwrap()];
    apply.extend(regions);
    let (code, stdout, stderr) = forcemfa(&s.account, &apply).await;
    assert_eq!(code, 4, "{stdout}\n{stderr}");
    assert!(stdout.contains("held back"), "{stdout}");
    assert!(
        stdout.contains("dave") && stdout.contains("gina"),
        "{stdout}"
    );

    // With dave and gina out of the group it publishes, although four keys were used today.
    for n in ["dave", "gina"] {
        s.iam
            .remove_user_from_group()
            .group_name("devs")
            .user_name(n)
            .send()
            .await
            .unwrap();
    }
    let (code, stdout, stderr) = forcemfa(&s.account, &apply).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("applied "), "{stdout}");
    let stats = control(
        "GET",
        &format!("/__cloudtrail/stats?account={}", s.account),
        &json!({}),
    );
    assert_eq!(stats["throttled"], 0, "over the rate: {stats}");
    assert_eq!(stats["unread_pages"], 0, "{stats}");
}

/// Writes the records as a trail's log files: one gzip file per Region and day.
pub(crate) fn trail_files(
    account: &str,
    records: &BTreeMap<String, Vec<Value>>,
) -> Vec<(String, Vec<u8>)> {
    let mut files: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (region, recs) in records {
        for r in recs {
            let t = r["eventTime"].as_str().unwrap();
            let day = t[..10].replace('-', "/");
            let key = format!(
                "AWSLogs/o-exampleorg1/{account}/CloudTrail/{region}/{day}/{account}_CloudTrail_{region}_{}_abcd.json.gz",
                t[..10].replace('-', "")
            );
            files.entry(key).or_default().push(r.clone());
        }
    }
    files
        .into_iter()
        .map(|(k, recs)| {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(json!({"Records": recs}).to_string().as_bytes())
                .unwrap();
            (k, gz.finish().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn evidence_trail_files_in_a_folder_and_in_s3_give_the_same_verdicts_and_data_events() {
    let mut s = scenario().await;
    let a = s.account.clone();
    // Data events are in trail files only: dave's job also reads objects.
    let dave_key = s.records["us-east-1"]
        .iter()
        .find(|r| r["userIdentity"]["userName"] == "dave")
        .unwrap()["userIdentity"]["accessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    for n in 0..7 {
        let mut r = record(
            &a,
            "dave",
            &dave_key,
            None,
            ("s3.amazonaws.com", "GetObject"),
            (n + 1) * DAY + 13,
            n as usize,
        );
        r["eventCategory"] = json!("Data");
        r["managementEvent"] = json!(false);
        r["requestParameters"] = json!({"bucketName": "reports", "key": format!("daily/{n}.csv")});
        r["resources"] = json!([
            {"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::reports/daily/{n}.csv")},
            {"accountId": a, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::reports"}
        ]);
        s.records.get_mut("us-east-1").unwrap().push(r);
    }
    let files = trail_files(&a, &s.records);
    let dir = tempfile::tempdir().unwrap();
    for (key, data) in &files {
        let path = dir.path().join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    let folder = dir.path().to_str().unwrap();
    let (code, stdout, stderr) =
        forcemfa(&a, &["plan", "--format", "json", "--evidence", folder]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let p = principals(&stdout, &s.legacy);
    assert_verdicts(&p, "trail-files");
    assert_eq!(
        calls_of(&p["dave"], "s3:GetObject"),
        [(7, "newly-denied".to_string())],
        "{}",
        p["dave"]
    );
    assert_eq!(p["dave"]["evidence"]["calls"], 142, "{}", p["dave"]);

    // The same files under a prefix of a bucket in moto's S3.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&base_config())
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("trail").to_lowercase();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    for (key, data) in &files {
        s3.put_object()
            .bucket(&bucket)
            .key(format!("org-trail/{key}"))
            .body(data.clone().into())
            .send()
            .await
            .unwrap();
    }
    let url = format!("s3://{bucket}/org-trail");
    let (code, stdout, stderr) =
        forcemfa(&a, &["plan", "--format", "json", "--evidence", &url]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let from_s3 = principals(&stdout, &s.legacy);
    assert_verdicts(&from_s3, "trail-files");
    for n in ["carol", "erin", "alice", "dave", "gina"] {
        assert_eq!(from_s3[n]["evidence"], p[n]["evidence"], "{n}");
    }

    // A folder with nothing for this account: no evidence, today's rule, said so.
    let empty = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = forcemfa(
        &a,
        &[
            "plan",
            "--format",
            "json",
            "--evidence",
            empty.path().to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let p = principals(&stdout, &s.legacy);
    assert_eq!(p["carol"]["verdict"], "loses-access", "{}", p["carol"]);
    assert!(
        p["carol"]["because"]
            .as_str()
            .unwrap()
            .contains("evidence does not decide"),
        "{}",
        p["carol"]
    );
    assert!(
        stderr.contains("no evidence of calls in account"),
        "{stderr}"
    );
}

#[tokio::test]
async fn evidence_options_are_checked() {
    let s = new_account("evidence-opts", &[]).await;
    // Event history keeps 90 days: more is refused before anything is read.
    let (code, _, stderr) = forcemfa(&s, &["plan", "--evidence-days", "91"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("event history keeps 90 days"), "{stderr}");
    // A trail's files may go further back.
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap();
    let (code, _, stderr) = forcemfa(
        &s,
        &["plan", "--evidence-days", "365", "--evidence", folder],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    // A trail folder that is not there is refused, never read as "no calls".
    let missing = dir.path().join("no-such-trail");
    let (code, _, stderr) = forcemfa(&s, &["plan", "--evidence", missing.to_str().unwrap()]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no such folder"), "{stderr}");
    let (code, _, stderr) = forcemfa(&s, &["plan", "--evidence-days", "0"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--evidence-days"), "{stderr}");
    let (code, _, stderr) =
        forcemfa(&s, &["plan", "--evidence-regions", "us-east-1,EU WEST"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not a Region name"), "{stderr}");
}

#[test]
fn evidence_permissions_are_granted_and_explained() {
    let root = crate::util::root().join("docs");
    let doc = std::fs::read_to_string(root.join("permissions.md")).unwrap();
    for policy in ["plan-policy.json", "apply-policy.json"] {
        let text = std::fs::read_to_string(root.join("permissions").join(policy)).unwrap();
        for a in forcemfa::sources::evidence::EVIDENCE_ACTIONS {
            assert!(text.contains(&format!("\"{a}\"")), "{policy} lacks {a}");
            assert!(doc.contains(a), "permissions.md does not explain {a}");
        }
    }
}
