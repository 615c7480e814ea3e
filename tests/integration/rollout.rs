//! Staged rollout (`apply --waves`, design §12) end to end through the real SDK: member
//! accounts of moto's organisation, reached with `--org`, and CloudTrail event history served by
//! the stand-in (`tests/moto/cloudtrail.py`) in front of moto. Each account has a user `builder`
//! whose long-term access key runs a job, with the legacy `Bool` guard and a read-only grant.
//! Refused calls are loaded into the stand-in while forcemfa watches a wave, once the journal
//! shows the wave published, as CloudTrail would deliver them.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::batch::{default_document, iam_in, new_account, version_count as versions};
use crate::evidence::{at, calls_of, control, front, principals, LEGACY, READ};
use crate::moto::{self, unique};

/// An account with the legacy guard and a read grant on user `builder`, who has an access key.
/// Returns (account, legacy policy ARN, key id).
async fn account(tag: &str) -> (String, String, String) {
    account_tagged(&[("rollout", tag)]).await
}

async fn account_tagged(tags: &[(&str, &str)]) -> (String, String, String) {
    let id = new_account("rollout", tags).await;
    let iam = iam_in(&id).await;
    let legacy = moto::create_managed(&iam, &unique("force-mfa"), LEGACY, &[]).await;
    let read = moto::create_managed(&iam, &unique("read"), READ, &[]).await;
    moto::create_user(&iam, "builder", &[]).await;
    for arn in [&legacy, &read] {
        iam.attach_user_policy()
            .user_name("builder")
            .policy_arn(arn)
            .send()
            .await
            .unwrap();
    }
    let key = iam
        .create_access_key()
        .user_name("builder")
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap().access_key_id().to_string();
    (id, legacy, key)
}

/// Three accounts of one rollout, and a saved plan of them.
async fn setup(dir: &Path) -> (Vec<(String, String, String)>, String, String) {
    let tag = unique("ro");
    let mut accounts = Vec::new();
    for _ in 0..3 {
        accounts.push(account(&tag).await);
    }
    let plan = dir.join("p.json");
    let tag_arg = format!("rollout={tag}");
    let (code, stdout, stderr) = run(&[
        "plan",
        "--org",
        "--tag",
        &tag_arg,
        "--out",
        plan.to_str().unwrap(),
        "--evidence",
        "none",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    (accounts, plan.to_str().unwrap().to_string(), tag_arg)
}

fn command(args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("forcemfa"));
    c.env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .args(args)
        .args(["--endpoint-url", &front(), "--region", "us-east-1"]);
    c
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = command(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn spawn(args: &[&str]) -> Child {
    command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `apply --plan PLAN --yes --journal J --waves WAVES --watch WATCH`, running.
fn apply_in_waves(plan: &str, j: &Path, waves: &str, watch: &str, extra: &[&str]) -> Child {
    let j = j.to_str().unwrap();
    let mut args = vec![
        "apply",
        "--plan",
        plan,
        "--yes",
        "--journal",
        j,
        "--waves",
        waves,
        "--watch",
        watch,
    ];
    args.extend_from_slice(extra);
    spawn(&args)
}

fn finish(child: Child) -> (i32, String, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The journal's lines as JSON.
fn journal(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits until the journal shows `account`'s change applied (the wave is published); the waves
/// the rollout began with.
fn wait_published(path: &Path, account: &str) {
    let start = Instant::now();
    loop {
        let published = journal(path).iter().any(|e| {
            e["account"] == account && e["action"] == "publish" && e["outcome"] == "applied"
        });
        if published {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "account {account} was not published: {:?}",
            journal(path)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The waves (account ids) the journal's rollout began with.
fn waves(path: &Path) -> Vec<Vec<String>> {
    let start = Instant::now();
    loop {
        if let Some(b) = journal(path)
            .into_iter()
            .find(|e| e["record"] == "rollout" && e["event"]["kind"] == "began")
        {
            return serde_json::from_value(b["event"]["waves"].clone()).unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no rollout began"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A call by `builder`'s long-term key (no MFA), refused with `code`, made just now.
fn refused_call(account: &str, key: &str, call: (&str, &str), code: &str) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE",
            "arn": format!("arn:aws:iam::{account}:user/builder"), "accountId": account,
            "accessKeyId": key, "userName": "builder"},
        "eventTime": at(0), "eventSource": call.0, "eventName": call.1,
        "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15",
        "errorCode": code, "errorMessage": "You are not authorized to perform this operation.",
        "requestParameters": null, "responseElements": null,
        "eventID": unique("refused"), "readOnly": true,
        "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": account
    })
}

fn deliver(account: &str, records: Vec<Value>) {
    control(
        "POST",
        "/__cloudtrail/events",
        &json!({"account": account, "region": "us-east-1", "records": records}),
    );
}

/// Once the first wave is published, a refused call by its `builder`'s key is delivered to
/// CloudTrail; returns the rollout's waves and the first wave's account.
fn refuse_in_wave_1<'a>(
    j: &Path,
    accounts: &'a [(String, String, String)],
    call: (&str, &str),
    code: &str,
) -> (Vec<Vec<String>>, &'a (String, String, String)) {
    let w = waves(j);
    let first = by_id(accounts, &w[0][0]);
    wait_published(j, &first.0);
    deliver(&first.0, vec![refused_call(&first.0, &first.2, call, code)]);
    (w, first)
}

fn by_id<'a>(accounts: &'a [(String, String, String)], id: &str) -> &'a (String, String, String) {
    accounts.iter().find(|a| a.0 == id).unwrap()
}

/// A long-term key's `ec2:DescribeInstances`, allowed under the old `Bool` guard and refused
/// after wave 1 is published: the rollout stops, wave 1 is restored exactly (its default
/// version again), no later account is touched, exit 5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_a_caused_refusal_in_wave_1_stops_and_restores_it_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (accounts, plan, tag) = setup(dir.path()).await;
    let j = dir.path().join("j.jsonl");
    let child = apply_in_waves(&plan, &j, "1,rest", "8s", &["--format", "json"]);
    let (w, first) = refuse_in_wave_1(
        &j,
        &accounts,
        ("ec2.amazonaws.com", "DescribeInstances"),
        "Client.UnauthorizedOperation",
    );
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!((w[0].len(), w[1].len()), (1, 2), "{w:?}");
    let (code, stdout, stderr) = finish(child);
    assert_eq!(code, 5, "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let r = &report["rollout"];
    assert_eq!(r["waves"][0]["state"], "rolled-back", "{r}");
    assert_eq!(r["waves"][0]["watch"], "denied", "{r}");
    let refusal = &r["waves"][0]["refusals"][0];
    assert_eq!(refusal["cause"], "caused", "{r}");
    assert_eq!(refusal["action"], "ec2:DescribeInstances", "{r}");
    assert_eq!(refusal["account"], first.0.as_str(), "{r}");
    assert_eq!(r["waves"][1]["state"], "not-started", "{r}");
    assert!(stderr.contains("rolling the wave back"), "{stderr}");
    // The change's own result says what became of it.
    assert!(
        stdout.contains("then rolled back: default version v1 restored"),
        "{stdout}"
    );
    // Wave 1 is exactly the old document again, as its default version.
    assert_eq!(
        default_document(&first.0, &first.1).await,
        moto::json(LEGACY)
    );
    // Later accounts: never touched.
    for id in &w[1] {
        let a = by_id(&accounts, id);
        assert_eq!(default_document(&a.0, &a.1).await, moto::json(LEGACY));
        assert_eq!(versions(&a.0, &a.1).await, 1, "{id} was written to");
    }
    // The journal says where it stopped; a resume is refused with why.
    let (code, _, stderr) = run(&[
        "apply",
        "--plan",
        &plan,
        "--yes",
        "--journal",
        j.to_str().unwrap(),
        "--resume",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("refused call the change caused"),
        "{stderr}"
    );
    // A new plan reads the call refused while the canary was published: the change would
    // refuse it again, so builder loses access there (never "already refused").
    let (code, stdout, stderr) = run(&["plan", "--org", "--tag", &tag, "--format", "json"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let p = principals(&stdout, &first.1);
    assert_eq!(p["builder"]["verdict"], "loses-access", "{}", p["builder"]);
    assert_eq!(
        calls_of(&p["builder"], "ec2:DescribeInstances"),
        [(1, "newly-denied".to_string())],
        "{}",
        p["builder"]
    );
}

/// A refused call the change did not cause (never granted) is reported and does not stop the
/// rollout: every wave is published after the watch of the one before; `rollback` undoes every
/// wave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_a_never_granted_refusal_does_not_stop_it_and_rollback_undoes_every_wave() {
    let dir = tempfile::tempdir().unwrap();
    let (accounts, plan, _) = setup(dir.path()).await;
    let j = dir.path().join("j.jsonl");
    let child = apply_in_waves(&plan, &j, "1,1,rest", "6s", &["--format", "json"]);
    let (w, _) = refuse_in_wave_1(
        &j,
        &accounts,
        ("iam.amazonaws.com", "CreateUser"),
        "AccessDenied",
    );
    assert_eq!(w.len(), 3, "{w:?}");
    let (code, stdout, stderr) = finish(child);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let r = &report["rollout"];
    assert_eq!(r["ended"], "finished", "{r}");
    for n in 0..3 {
        assert_eq!(r["waves"][n]["state"], "published", "{r}");
        assert_eq!(r["waves"][n]["watch"], "clean", "{r}");
    }
    let seen = &r["waves"][0]["refusals"][0];
    assert_eq!(seen["cause"], "not-caused", "{r}");
    assert_eq!(seen["action"], "iam:CreateUser", "{r}");
    for a in &accounts {
        let doc = default_document(&a.0, &a.1).await;
        assert_ne!(doc, moto::json(LEGACY), "{} not published", a.0);
    }
    // Each wave started only after the watch of the one before ended.
    let steps: Vec<(String, u64)> = journal(&j)
        .iter()
        .filter(|e| e["record"] == "rollout")
        .filter_map(|e| {
            let kind = e["event"]["kind"].as_str()?.to_string();
            Some((kind, e["event"]["wave"].as_u64().unwrap_or(99)))
        })
        .collect();
    let pos = |k: &str, n: u64| steps.iter().position(|s| s.0 == k && s.1 == n).unwrap();
    assert!(pos("wave-watched", 0) < pos("wave-started", 1), "{steps:?}");
    assert!(pos("wave-watched", 1) < pos("wave-started", 2), "{steps:?}");
    // Rollback of every wave.
    let (code, stdout, stderr) = run(&["rollback", "--journal", j.to_str().unwrap(), "--yes"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("Rolled back 3, failed 0."), "{stdout}");
    for a in &accounts {
        assert_eq!(default_document(&a.0, &a.1).await, moto::json(LEGACY));
    }
}

/// Ctrl-C during the watch of wave 1: nothing is undone half-way, the journal says where it
/// stopped (exit 130); `--resume` watches wave 1 again and goes on with the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_interrupted_during_a_watch_resumes_from_that_wave() {
    let dir = tempfile::tempdir().unwrap();
    let (accounts, plan, _) = setup(dir.path()).await;
    let j = dir.path().join("j.jsonl");
    let js = j.to_str().unwrap();
    let child = apply_in_waves(&plan, &j, "1,rest", "6s", &[]);
    let w = waves(&j);
    let first = by_id(&accounts, &w[0][0]);
    wait_published(&j, &first.0);
    std::thread::sleep(Duration::from_secs(1));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let (code, stdout, stderr) = finish(child);
    assert_eq!(code, 130, "{stdout}\n{stderr}");
    assert!(stdout.contains("Rollout interrupted"), "{stdout}");
    assert!(stdout.contains("--resume"), "{stdout}");
    let watched: Vec<Value> = journal(&j)
        .into_iter()
        .filter(|e| e["event"]["kind"] == "wave-watched")
        .collect();
    assert_eq!(watched.len(), 1, "{watched:?}");
    assert_eq!(watched[0]["event"]["watch"]["result"], "interrupted");
    // Wave 1 stays published; the rest untouched.
    assert_ne!(
        default_document(&first.0, &first.1).await,
        moto::json(LEGACY)
    );
    for id in &w[1] {
        let a = by_id(&accounts, id);
        assert_eq!(versions(&a.0, &a.1).await, 1);
    }
    // Contradicting options are refused with --resume.
    let (code, _, stderr) = run(&[
        "apply",
        "--plan",
        &plan,
        "--yes",
        "--journal",
        js,
        "--resume",
        "--waves",
        "rest",
    ]);
    assert_eq!(code, 1, "{stderr}");
    let (code, stdout, stderr) = run(&[
        "apply",
        "--plan",
        &plan,
        "--yes",
        "--journal",
        js,
        "--resume",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let r = &report["rollout"];
    assert_eq!(r["resumed"], true, "{r}");
    assert_eq!(
        r["waves"][0]["watch"], "clean",
        "wave 1 is watched again: {r}"
    );
    assert_eq!(r["waves"][1]["state"], "published", "{r}");
    assert_eq!(r["ended"], "finished", "{r}");
    for a in &accounts {
        assert_ne!(default_document(&a.0, &a.1).await, moto::json(LEGACY));
    }
    let (code, _, stderr) = run(&[
        "apply",
        "--plan",
        &plan,
        "--yes",
        "--journal",
        js,
        "--resume",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("finished"), "{stderr}");
}

/// Bad `--waves`, `--watch` and `--on-denial` values, waves over files, and `--resume`
/// without a saved plan are refused before anything is read, each naming the option and the
/// fix (no AWS needed).
#[test]
fn rollout_options_are_checked_before_anything_is_read() {
    let cases: &[(&[&str], &str)] = &[
        (&["--waves", "0"], "is not a step"),
        (&["--waves", "1,10%"], ""),
        (&["--waves", "rest,1"], "comes last"),
        (&["--waves", "101%"], "percentage"),
        (&["--waves", "rest", "--watch", "2d"], "--watch \"2d\""),
        (&["--waves", "rest", "--watch", "25h"], "at most 24h"),
        (
            &["--waves", "rest", "--on-denial", "ignore"],
            "--on-denial \"ignore\"",
        ),
        (&["--watch", "5m"], "--waves"),
        (&["--resume"], "--plan"),
    ];
    for (extra, says) in cases {
        let mut args = vec!["apply", "--yes"];
        args.extend(extra.iter().copied());
        let out = crate::util::bin()
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            // Nothing may be reached: an endpoint that does not answer.
            .args(&args)
            .args([
                "--endpoint-url",
                "http://127.0.0.1:9",
                "--region",
                "us-east-1",
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if says.is_empty() {
            // `1,10%` is a valid spec: it is refused only once the accounts are known
            // (below, with files, for another reason). Here: the unreachable endpoint.
            assert_eq!(out.status.code(), Some(1), "{extra:?}: {stderr}");
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {stderr}");
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
        assert!(
            !stderr.contains("GetCallerIdentity"),
            "{extra:?} reached AWS: {stderr}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        crate::util::fixture("policies/2015-blog-force-mfa.json"),
        dir.path().join("p.json"),
    )
    .unwrap();
    let out = crate::util::bin()
        .args(["apply", "--yes", "--waves", "1,rest"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--waves is for accounts"), "{stderr}");
    let after = std::fs::read_to_string(dir.path().join("p.json")).unwrap();
    assert_eq!(
        after,
        std::fs::read_to_string(crate::util::fixture("policies/2015-blog-force-mfa.json")).unwrap(),
        "a file was written"
    );
}

/// `--waves tag`: the organisation's `wave` tags order the waves (lowest first), whatever the
/// plan's account order; `--watch 0` publishes each wave without a watch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_waves_follow_the_accounts_wave_tags() {
    let tag = unique("rt");
    let mut accounts = Vec::new();
    for wave in ["2", "1", "2"] {
        accounts.push(account_tagged(&[("rollout", tag.as_str()), ("wave", wave)]).await);
    }
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("j.jsonl");
    let tag_arg = format!("rollout={tag}");
    let (code, stdout, stderr) = run(&[
        "apply",
        "--org",
        "--tag",
        &tag_arg,
        "--yes",
        "--journal",
        j.to_str().unwrap(),
        "--waves",
        "tag",
        "--watch",
        "0",
        "--evidence",
        "none",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let w = waves(&j);
    assert_eq!(
        w,
        vec![vec![accounts[1].0.clone()], {
            let mut two = vec![accounts[0].0.clone(), accounts[2].0.clone()];
            two.sort();
            two
        }]
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let r = &report["rollout"];
    assert_eq!(r["ended"], "finished", "{r}");
    assert_eq!(r["waves"][0]["watch"], "not-watched", "{r}");
    for a in &accounts {
        assert_ne!(default_document(&a.0, &a.1).await, moto::json(LEGACY));
    }
}
