//! Batch runs across accounts against moto: an organisation with member accounts (moto allows
//! one organisation per server, so it is created once for the whole test binary), roles assumed
//! into each, accounts files, filters, saved plans, and faults injected by
//! `tests/moto/faultproxy.py` between forcemfa and moto.
//!
//! moto accepts every sts:AssumeRole, so "a role that cannot be assumed" is the proxy answering
//! AccessDenied for that account.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::moto::{self, fixture, unique};

const LEGACY: &str = "2015-blog-force-mfa.json";
const CURRENT: &str = "current-docs-mfa-only.json";
const NO_GUARD: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#;

pub(crate) fn sdk_config(endpoint: &str, creds: Credentials) -> aws_types::SdkConfig {
    aws_types::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(creds))
        .build()
}

pub(crate) fn base_config() -> aws_types::SdkConfig {
    sdk_config(
        &moto::endpoint(),
        Credentials::new("testing", "testing", None, None, "moto"),
    )
}

/// The organisation, created once per server (a second CreateOrganization fails).
async fn org() -> &'static () {
    static ORG: OnceCell<()> = OnceCell::const_new();
    ORG.get_or_init(|| async {
        let org = aws_sdk_organizations::Client::new(&base_config());
        if let Err(e) = org
            .create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
        {
            let text = format!("{e:?}");
            assert!(text.contains("AlreadyInOrganization"), "{text}");
        }
    })
    .await
}

/// A new member account of the organisation, tagged.
pub(crate) async fn new_account(name: &str, tags: &[(&str, &str)]) -> String {
    org().await;
    let org = aws_sdk_organizations::Client::new(&base_config());
    let name = unique(name);
    let mut req = org
        .create_account()
        .account_name(&name)
        .email(format!("{name}@example.com"));
    for (k, v) in tags {
        req = req.tags(
            aws_sdk_organizations::types::Tag::builder()
                .key(*k)
                .value(*v)
                .build()
                .unwrap(),
        );
    }
    let out = req.send().await.unwrap();
    out.create_account_status()
        .unwrap()
        .account_id()
        .unwrap()
        .to_string()
}

/// IAM of a member account, through its OrganizationAccountAccessRole (as forcemfa reaches it).
pub(crate) async fn iam_in(account: &str) -> aws_sdk_iam::Client {
    iam_via(account, &moto::endpoint()).await
}

/// The same, through `endpoint` (the fault proxy).
async fn iam_via(account: &str, endpoint: &str) -> aws_sdk_iam::Client {
    let sts = aws_sdk_sts::Client::new(&sdk_config(
        endpoint,
        Credentials::new("testing", "testing", None, None, "moto"),
    ));
    let out = sts
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
        ))
        .role_session_name("forcemfa-test-seed")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    let creds = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "seed",
    );
    aws_sdk_iam::Client::new(&sdk_config(endpoint, creds))
}

/// An account with one managed policy; returns (account id, policy ARN).
pub(crate) async fn account_with(
    name: &str,
    document: &str,
    tags: &[(&str, &str)],
) -> (String, String) {
    let id = new_account(name, tags).await;
    let iam = iam_in(&id).await;
    let arn = moto::create_managed(&iam, &unique("fm"), document, &[]).await;
    (id, arn)
}

pub(crate) async fn default_document(account: &str, arn: &str) -> Value {
    let iam = iam_in(account).await;
    let p = iam.get_policy().policy_arn(arn).send().await.unwrap();
    let v = p
        .policy()
        .unwrap()
        .default_version_id()
        .unwrap()
        .to_string();
    let out = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(v)
        .send()
        .await
        .unwrap();
    let text = out
        .policy_version()
        .unwrap()
        .document()
        .unwrap()
        .to_string();
    let (text, _) = forcemfa::engine::policy::decode_document(&text);
    moto::json(&text)
}

pub(crate) async fn version_count(account: &str, arn: &str) -> usize {
    let iam = iam_in(account).await;
    iam.list_policy_versions()
        .policy_arn(arn)
        .send()
        .await
        .unwrap()
        .versions()
        .len()
}

/// The fault-injecting proxy, stopped when dropped.
pub(crate) struct Proxy {
    child: Child,
    pub(crate) url: String,
    _rules: tempfile::NamedTempFile,
}

impl Proxy {
    pub(crate) fn start(rules: Value, delay_ms: u64) -> Proxy {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), rules.to_string()).unwrap();
        let mut child = Command::new(root.join(".venv/bin/python"))
            .arg(root.join("tests/moto/faultproxy.py"))
            .args(["--upstream", &moto::endpoint()])
            .args(["--delay-ms", &delay_ms.to_string()])
            .arg("--rules")
            .arg(file.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tests/moto/faultproxy.py with .venv/bin/python (tests/run_moto.sh creates it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().strip_prefix("PORT ").unwrap().to_string();
        Proxy {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _rules: file,
        }
    }
}

impl Proxy {
    /// Requests seen per "account action", and faults injected.
    pub(crate) fn stats(&self) -> Value {
        use std::io::{Read, Write};
        let addr = self.url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /__stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// forcemfa with the operator's (fake) credentials, pointed at `endpoint`.
pub(crate) fn forcemfa(endpoint: &str, args: &[&str]) -> (i32, String, String) {
    let out = crate::util::bin()
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
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

pub(crate) fn accounts_file(dir: &Path, ids: &[&str]) -> PathBuf {
    let mut text = String::from("[defaults]\nsession_name = \"forcemfa-batch-test\"\n");
    for id in ids {
        text.push_str(&format!(
            "\n[[account]]\nid = \"{id}\"\nname = \"acct-{id}\"\ntags = {{ env = \"test\" }}\n"
        ));
    }
    let path = dir.join("accounts.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The account rows of a JSON report, by id.
fn rows(stdout: &str) -> std::collections::BTreeMap<String, Value> {
    let v: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["account"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

/// The seed problem is gone: `iam:ListUsers` is no longer exempt from the MFA guard.
fn assert_migrated(doc: &Value) {
    let exempt = crate::util::exemptions(&doc.to_string());
    assert!(!exempt.is_empty(), "{doc}");
    assert!(!exempt.iter().any(|a| a == "iam:ListUsers"), "{doc}");
}

fn count(row: &Value, field: &str) -> u64 {
    row[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field}: {row}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_accounts_file_mixed_accounts_and_unassumable_role() {
    let (legacy, legacy_arn) = account_with("legacy", &fixture(LEGACY), &[]).await;
    let (current, current_arn) = account_with("current", &fixture(CURRENT), &[]).await;
    let (noguard, _) = account_with("noguard", NO_GUARD, &[]).await;
    let (denied, denied_arn) = account_with("denied", &fixture(LEGACY), &[]).await;
    let proxy = Proxy::start(
        serde_json::json!([{"account": denied, "action": "AssumeRole", "fault": "denied", "times": -1}]),
        0,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = accounts_file(dir.path(), &[&legacy, &current, &noguard, &denied]);
    let report = dir.path().join("report.md");
    let (code, stdout, stderr) = forcemfa(
        &proxy.url,
        &[
            "plan",
            "--accounts",
            file.to_str().unwrap(),
            "--format",
            "json",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    let r = rows(&stdout);
    assert_eq!(count(&r[&legacy], "changed"), 1, "{stdout}");
    assert_eq!(count(&r[&current], "unchanged"), 1);
    assert_eq!(count(&r[&current], "changed"), 0);
    assert_eq!(count(&r[&noguard], "skipped"), 1);
    assert_eq!(r[&denied]["status"], "failed");
    let reason = r[&denied]["reasons"][0].as_str().unwrap();
    assert!(
        reason.contains("sts:AssumeRole") && reason.contains(&denied),
        "{reason}"
    );
    // The report file holds the JSON report as printed (streamed to stdout, rendered for the file).
    let written = std::fs::read_to_string(&report).unwrap();
    assert!(written.contains("\"accounts\""));
    assert_eq!(written, stdout);

    // Apply: the good accounts are written, the failing one is reported, exit 1.
    let journal = dir.path().join("journal.jsonl");
    let (code, stdout, stderr) = forcemfa(
        &proxy.url,
        &[
            "apply",
            "--accounts",
            file.to_str().unwrap(),
            "--yes",
            "--journal",
            journal.to_str().unwrap(),
            "--format",
            "markdown",
        ],
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("## Accounts"), "{stdout}");
    assert!(
        stdout.contains(&format!("| `{denied}` | acct-{denied} | **failed** |")),
        "{stdout}"
    );
    assert_migrated(&default_document(&legacy, &legacy_arn).await);
    assert_eq!(
        default_document(&current, &current_arn).await,
        moto::json(&fixture(CURRENT))
    );
    assert_eq!(
        default_document(&denied, &denied_arn).await,
        moto::json(&fixture(LEGACY))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_org_filters_saved_plan_stale_and_double_apply() {
    let tag = unique("t");
    let (a, a_arn) = account_with("org-a", &fixture(LEGACY), &[("batchtest", &tag)]).await;
    let (b, b_arn) = account_with("org-b", &fixture(LEGACY), &[("batchtest", &tag)]).await;
    let (c, c_arn) = account_with("org-c", &fixture(LEGACY), &[("batchtest", &tag)]).await;
    let (other, _) = account_with("org-other", &fixture(LEGACY), &[("batchtest", "no")]).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    let tag_arg = format!("batchtest={tag}");
    let ep = moto::endpoint();
    let (code, stdout, stderr) = forcemfa(
        &ep,
        &[
            "plan",
            "--org",
            "--tag",
            &tag_arg,
            "--exclude-account",
            &c,
            "--out",
            plan.to_str().unwrap(),
            "--format",
            "json",
            "--concurrency",
            "2",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let r = rows(&stdout);
    assert_eq!(
        r.keys().cloned().collect::<Vec<_>>(),
        {
            let mut v = vec![a.clone(), b.clone()];
            v.sort();
            v
        },
        "only tagged, not excluded accounts: {stdout}"
    );
    assert!(!r.contains_key(&other));
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    let accounts: Vec<&str> = saved["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["target"]["account"].as_str().unwrap())
        .collect();
    assert_eq!(accounts.len(), 2, "{saved}");
    assert!(accounts.contains(&a.as_str()) && accounts.contains(&b.as_str()));

    // Someone edits b's policy after the review: its change is stale, a's is applied.
    moto::add_version(&iam_in(&b).await, &b_arn, &fixture(CURRENT), true).await;
    let journal = dir.path().join("journal.jsonl");
    let apply = |plan: &Path| {
        forcemfa(
            &ep,
            &[
                "apply",
                "--plan",
                plan.to_str().unwrap(),
                "--org",
                "--tag",
                &tag_arg,
                "--yes",
                "--journal",
                journal.to_str().unwrap(),
                "--format",
                "json",
            ],
        )
    };
    let (code, stdout, stderr) = apply(&plan);
    assert_eq!(code, 1, "stale makes the run fail: {stdout}\n{stderr}");
    let r = rows(&stdout);
    assert_eq!(count(&r[&a], "changed"), 1, "{stdout}");
    assert_eq!(count(&r[&b], "failed"), 1, "{stdout}");
    assert!(r[&b]["reasons"][0].as_str().unwrap().contains("stale"));
    // The plan decides the accounts: c was excluded when it was made, so it is not in the run.
    assert!(!r.contains_key(&c), "{stdout}");
    assert_eq!(version_count(&a, &a_arn).await, 2);

    // The same plan again writes nothing.
    let (_, stdout, _) = apply(&plan);
    let r = rows(&stdout);
    assert_eq!(count(&r[&a], "changed"), 0, "{stdout}");
    assert_eq!(count(&r[&a], "unchanged"), 1, "{stdout}");
    assert_eq!(version_count(&a, &a_arn).await, 2);
    // c was excluded from the plan: untouched.
    assert_eq!(
        default_document(&c, &c_arn).await,
        moto::json(&fixture(LEGACY))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_org_includes_the_management_account_with_current_credentials() {
    let (a, _) = account_with("mgmt-peer", &fixture(CURRENT), &[]).await;
    let (code, stdout, stderr) = forcemfa(
        &moto::endpoint(),
        &[
            "scan",
            "--org",
            "--account",
            &a,
            "--account",
            moto::ACCOUNT,
            "--account",
            "999999999999",
            "--format",
            "json",
            "-q",
        ],
    );
    // Other tests' policies in moto's default account may be in any state; the account must
    // be reached (status ok or only per-policy errors), and the unknown id is warned about.
    let r = rows(&stdout);
    assert_eq!(r.len(), 2, "{stdout}");
    assert!(r[moto::ACCOUNT]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| !x.as_str().unwrap().contains("AssumeRole")));
    assert_eq!(count(&r[&a], "unchanged"), 1);
    assert!(stderr.contains("999999999999"), "{stderr}");
    assert!(code == 0 || code == 1 || code == 4, "{code}");
}

#[test]
fn batch_malformed_accounts_file_names_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("accounts.toml");
    std::fs::write(
        &file,
        "[defaults]\nrole_name = \"R\"\n\n[[account]]\nid = \"111111111111\"\nrole = \"x\"\n",
    )
    .unwrap();
    let out = crate::util::bin()
        .args(["plan", "--accounts", file.to_str().unwrap()])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args(["--endpoint-url", &moto::endpoint(), "--region", "us-east-1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 6") && err.contains("role"), "{err}");
}

/// Transient faults on every kind of request of every account: the SDK's retries (reads) and
/// the store's re-read-before-rewrite (writes) absorb them; results are exactly as without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_fault_transient_faults_complete_with_correct_results() {
    let mut accounts = Vec::new();
    for n in 0..3 {
        accounts.push(account_with(&format!("fault{n}"), &fixture(LEGACY), &[]).await);
    }
    let mut rules = Vec::new();
    for (n, (id, _)) in accounts.iter().enumerate() {
        // Account 0's write lands but its answer is lost; the others' writes fail outright.
        let write_fault = if n == 0 { "lost" } else { "500" };
        for (action, fault) in [
            ("AssumeRole", "500"),
            ("GetAccountAuthorizationDetails", "throttle"),
            ("ListPolicyTags", "drop"),
            ("GetPolicy", "slow"),
            ("CreatePolicyVersion", write_fault),
        ] {
            rules.push(serde_json::json!({"account": id, "action": action, "fault": fault, "times": 1, "delay_ms": 1500}));
        }
    }
    let proxy = Proxy::start(Value::Array(rules), 0);
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<&str> = accounts.iter().map(|(id, _)| id.as_str()).collect();
    let file = accounts_file(dir.path(), &ids);
    let plan = dir.path().join("plan.json");
    let (code, stdout, stderr) = forcemfa(
        &proxy.url,
        &[
            "plan",
            "--accounts",
            file.to_str().unwrap(),
            "--out",
            plan.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for id in &ids {
        assert_eq!(count(&rows(&stdout)[*id], "changed"), 1, "{stdout}");
    }
    let journal = dir.path().join("journal.jsonl");
    let (code, stdout, stderr) = forcemfa(
        &proxy.url,
        &[
            "apply",
            "--plan",
            plan.to_str().unwrap(),
            "--accounts",
            file.to_str().unwrap(),
            "--yes",
            "--journal",
            journal.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // Every rule fired: 5 faults per account.
    assert_eq!(proxy.stats()["faults"], 15, "{}", proxy.stats());
    assert!(
        stdout.contains("the response was lost but the write had landed (not repeated)"),
        "{stdout}"
    );
    for (id, arn) in &accounts {
        assert_eq!(count(&rows(&stdout)[id], "changed"), 1, "{stdout}");
        assert_migrated(&default_document(id, arn).await);
        // The lost write was not repeated blindly: exactly one new version.
        assert_eq!(version_count(id, arn).await, 2);
    }
}

/// One account throttled on every request is reported after the SDK's retries; the others
/// finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_fault_persistent_throttling_isolated_to_one_account() {
    let (bad, bad_arn) = account_with("throttled", &fixture(LEGACY), &[]).await;
    let (good, good_arn) = account_with("fine", &fixture(LEGACY), &[]).await;
    let proxy = Proxy::start(
        serde_json::json!([
            {"account": bad, "action": "GetAccountAuthorizationDetails", "fault": "throttle", "times": -1},
            {"account": good, "action": "*", "fault": "drop", "times": 1}
        ]),
        0,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = accounts_file(dir.path(), &[&bad, &good]);
    let journal = dir.path().join("journal.jsonl");
    let (code, stdout, stderr) = forcemfa(
        &proxy.url,
        &[
            "apply",
            "--accounts",
            file.to_str().unwrap(),
            "--yes",
            "--journal",
            journal.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let r = rows(&stdout);
    assert_eq!(r[&bad]["status"], "failed");
    let reason = r[&bad]["reasons"][0].as_str().unwrap();
    assert!(
        reason.contains("throttled") && reason.contains("GetAccountAuthorizationDetails"),
        "{reason}"
    );
    assert_eq!(count(&r[&good], "changed"), 1, "{stdout}");
    assert_migrated(&default_document(&good, &good_arn).await);
    assert_eq!(
        default_document(&bad, &bad_arn).await,
        moto::json(&fixture(LEGACY))
    );
}

/// Ctrl-C during a batch apply: no new writes start, the ones in flight finish and are
/// journalled, the summary is printed, exit 130; the same `apply --plan` then finishes the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_interrupt_stops_new_writes_and_rerun_finishes() {
    let mut accounts = Vec::new();
    for n in 0..4 {
        accounts.push(account_with(&format!("intr{n}"), &fixture(LEGACY), &[]).await);
    }
    // Slow every request so that the interrupt lands mid-run.
    let proxy = Proxy::start(serde_json::json!([]), 150);
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<&str> = accounts.iter().map(|(id, _)| id.as_str()).collect();
    let file = accounts_file(dir.path(), &ids);
    let plan = dir.path().join("plan.json");
    let (code, _, stderr) = forcemfa(
        &proxy.url,
        &[
            "plan",
            "--accounts",
            file.to_str().unwrap(),
            "--out",
            plan.to_str().unwrap(),
            "-q",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let journal = dir.path().join("journal.jsonl");
    let args = [
        "apply",
        "--plan",
        plan.to_str().unwrap(),
        "--accounts",
        file.to_str().unwrap(),
        "--yes",
        "--concurrency",
        "1",
        "--journal",
        journal.to_str().unwrap(),
        "--format",
        "json",
        "--endpoint-url",
        &proxy.url,
        "--region",
        "us-east-1",
    ];
    let child = Command::new(assert_cmd::cargo::cargo_bin("forcemfa"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt as soon as the first write is journalled.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(std::time::Instant::now() < deadline, "no write started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let r = rows(&stdout);
    let applied: u64 = ids.iter().map(|id| count(&r[*id], "changed")).sum();
    let skipped: u64 = ids.iter().map(|id| count(&r[*id], "skipped")).sum();
    assert!(applied >= 1, "the write in flight finished: {stdout}");
    assert!(skipped >= 1, "later writes were not started: {stdout}");
    assert_eq!(applied + skipped, 4, "{stdout}");
    // Every write that finished is journalled with its outcome.
    let entries = forcemfa::sources::journal::read_entries(&journal)
        .unwrap()
        .entries;
    let done = entries
        .iter()
        .filter(|e| matches!(e.outcome, forcemfa::sources::journal::Outcome::Applied))
        .count();
    assert_eq!(done as u64, applied, "{entries:?}");

    // The same plan again finishes the rest and repeats nothing.
    let (code, stdout, stderr) = forcemfa(&proxy.url, &args[..args.len() - 4]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let r = rows(&stdout);
    let applied_again: u64 = ids.iter().map(|id| count(&r[*id], "changed")).sum();
    let already: u64 = ids.iter().map(|id| count(&r[*id], "unchanged")).sum();
    assert_eq!(applied_again, skipped, "{stdout}");
    assert_eq!(already, applied, "{stdout}");
    for (id, arn) in &accounts {
        assert_migrated(&default_document(id, arn).await);
        assert_eq!(version_count(id, arn).await, 2);
    }
}

#[test]
fn batch_filters_without_accounts_or_org_are_refused() {
    let out = crate::util::bin()
        .args(["plan", "--tag", "env=prod", "tests/fixtures/policies"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--tag") && err.contains("--accounts FILE or --org"),
        "{err}"
    );
}

/// The workflow a plan file is for: `plan --org --out p.json`, then `apply --plan p.json` and
/// `rollback --journal j` with nothing else; the plan and the journal say which accounts and
/// how each is reached. Options that contradict the plan are refused before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_saved_plan_is_self_contained_through_apply_and_rollback() {
    let tag = unique("sc");
    let mut accounts = Vec::new();
    for n in 0..3 {
        let tags = [("selfcontained", tag.as_str())];
        accounts.push(account_with(&format!("sc{n}"), &fixture(LEGACY), &tags).await);
    }
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("p.json");
    let journal = dir.path().join("j.jsonl");
    let (p, j) = (plan.to_str().unwrap(), journal.to_str().unwrap());
    let ep = moto::endpoint();
    let tag_arg = format!("selfcontained={tag}");
    let (code, stdout, stderr) = forcemfa(
        &ep,
        &[
            "plan", "--org", "--tag", &tag_arg, "--out", p, "--format", "json",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let text = std::fs::read_to_string(&plan).unwrap();
    let saved: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(saved["reach"]["selected_by"], "org", "{saved}");
    let reached = saved["reach"]["accounts"].as_array().unwrap();
    assert_eq!(reached.len(), 3, "{saved}");
    for r in reached {
        assert_eq!(r["access"]["via"], "assume-role", "{r}");
        let id = r["id"].as_str().unwrap();
        assert_eq!(
            r["access"]["role_arn"],
            format!("arn:aws:iam::{id}:role/OrganizationAccountAccessRole")
        );
    }
    // Never a secret: no keys, tokens or the operator's (fake) secret.
    assert!(
        !text.contains("testing") && !text.to_ascii_lowercase().contains("secret"),
        "{text}"
    );

    // Options that contradict the plan: refused, nothing written.
    let other = accounts_file(dir.path(), &[&accounts[0].0]);
    for extra in [
        vec!["--accounts", other.to_str().unwrap()],
        vec!["--role-name", "SomeOtherRole"],
        vec!["--external-id", "x"],
    ] {
        let mut args = vec!["apply", "--plan", p, "--yes", "--journal", j];
        args.extend(extra.iter().copied());
        let (code, stdout, stderr) = forcemfa(&ep, &args);
        assert_eq!(code, 1, "{extra:?}: {stdout}\n{stderr}");
        assert!(stderr.contains(extra[0]), "{extra:?}: {stderr}");
        assert!(!journal.exists(), "{extra:?} wrote something");
    }

    // The plan alone: every account reached as it records, every change applied, exit 0.
    let (code, stdout, stderr) = forcemfa(
        &ep,
        &[
            "apply",
            "--plan",
            p,
            "--yes",
            "--journal",
            j,
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let r = rows(&stdout);
    for (id, arn) in &accounts {
        assert_eq!(count(&r[id], "changed"), 1, "{stdout}");
        assert_migrated(&default_document(id, arn).await);
    }

    // The journal alone: one account with --account, then the others.
    let first = accounts[0].0.as_str();
    let (code, stdout, stderr) = forcemfa(
        &ep,
        &["rollback", "--journal", j, "--yes", "--account", first],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("Rolled back 1, failed 0."), "{stdout}");
    assert_eq!(
        default_document(first, &accounts[0].1).await,
        moto::json(&fixture(LEGACY))
    );
    assert_migrated(&default_document(&accounts[1].0, &accounts[1].1).await);
    let (code, stdout, stderr) = forcemfa(&ep, &["rollback", "--journal", j, "--yes"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("Rolled back 2, failed 0."), "{stdout}");
    for (id, arn) in &accounts {
        assert_eq!(
            default_document(id, arn).await,
            moto::json(&fixture(LEGACY)),
            "{id}"
        );
    }
    let (code, stdout, _) = forcemfa(&ep, &["rollback", "--journal", j, "--yes"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Nothing to roll back."), "{stdout}");
}

/// A saved plan none of whose changes can be carried out exits 1, with the reasons in the
/// summary: its accounts cannot be reached, or its policies are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_saved_plan_that_cannot_be_carried_out_exits_1() {
    let (a, a_arn) = account_with("gone-a", &fixture(LEGACY), &[]).await;
    let (b, b_arn) = account_with("gone-b", &fixture(LEGACY), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = accounts_file(dir.path(), &[&a, &b]);
    let plan = dir.path().join("p.json");
    let journal = dir.path().join("j.jsonl");
    let (p, j) = (plan.to_str().unwrap(), journal.to_str().unwrap());
    let (code, _, stderr) = forcemfa(
        &moto::endpoint(),
        &["plan", "--accounts", file.to_str().unwrap(), "--out", p],
    );
    assert_eq!(code, 0, "{stderr}");

    // The roles can no longer be assumed.
    let proxy = Proxy::start(
        serde_json::json!([{"account": "*", "action": "AssumeRole", "fault": "denied", "times": -1}]),
        0,
    );
    let args = [
        "apply",
        "--plan",
        p,
        "--yes",
        "--journal",
        j,
        "--format",
        "json",
    ];
    let (code, stdout, stderr) = forcemfa(&proxy.url, &args);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let r = rows(&stdout);
    for id in [&a, &b] {
        assert_eq!(r[id]["status"], "failed", "{stdout}");
        let reason = r[id]["reasons"][0].as_str().unwrap();
        assert!(reason.contains("sts:AssumeRole"), "{reason}");
    }

    // The policies are gone.
    for (id, arn) in [(&a, &a_arn), (&b, &b_arn)] {
        iam_in(id)
            .await
            .delete_policy()
            .policy_arn(arn)
            .send()
            .await
            .unwrap();
    }
    let (code, stdout, stderr) = forcemfa(&moto::endpoint(), &args);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let r = rows(&stdout);
    for id in [&a, &b] {
        assert_eq!(count(&r[id], "failed"), 1, "{stdout}");
        assert_eq!(count(&r[id], "changed"), 0, "{stdout}");
        assert!(
            r[id]["reasons"][0].as_str().unwrap().contains("not found"),
            "{stdout}"
        );
    }
}

/// A managed policy at IAM's 5 versions whose default was moved back to v1 by a
/// `SetDefaultPolicyVersion` whose answer was lost and which was therefore sent again: moto then
/// flags no version as default while the policy's DefaultVersionId is v1 (real IAM can show the
/// same disagreement for a while). Pruning must not pick v1; the apply converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_fault_pruning_never_deletes_the_default_version() {
    let (id, arn) = account_with("prune", &fixture(LEGACY), &[]).await;
    let iam = iam_in(&id).await;
    for _ in 0..4 {
        moto::add_version(&iam, &arn, &fixture(CURRENT), true).await;
    }
    let proxy = Proxy::start(
        serde_json::json!([{"account": "*", "action": "SetDefaultPolicyVersion", "fault": "lost", "times": 1}]),
        0,
    );
    let via = iam_via(&id, &proxy.url).await;
    let set_v1 = || {
        via.set_default_policy_version()
            .policy_arn(&arn)
            .version_id("v1")
            .send()
    };
    if set_v1().await.is_err() {
        // The SDK gave up on the lost answer: the operator runs the command again.
        set_v1().await.unwrap();
    }
    let versions = iam
        .list_policy_versions()
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    let policy = iam.get_policy().policy_arn(&arn).send().await.unwrap();
    assert_eq!(policy.policy().unwrap().default_version_id(), Some("v1"));
    assert_eq!(versions.versions().len(), 5);
    assert!(
        !versions
            .versions()
            .iter()
            .any(|v| v.version_id() == Some("v1") && v.is_default_version()),
        "precondition: the flags disagree with DefaultVersionId: {versions:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = accounts_file(dir.path(), &[&id]);
    let journal = dir.path().join("j.jsonl");
    let (code, stdout, stderr) = forcemfa(
        &proxy.url,
        &[
            "apply",
            "--accounts",
            file.to_str().unwrap(),
            "--yes",
            "--journal",
            journal.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_migrated(&default_document(&id, &arn).await);
    let after = iam
        .list_policy_versions()
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = after
        .versions()
        .iter()
        .filter_map(|v| v.version_id())
        .collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert!(ids.contains(&"v1") && !ids.contains(&"v2"), "{ids:?}");
    let entries = forcemfa::sources::journal::read_entries(&journal)
        .unwrap()
        .entries;
    let pruned: Vec<_> = entries
        .iter()
        .filter(|e| e.action == forcemfa::sources::journal::Action::Prune)
        .collect();
    assert!(!pruned.is_empty(), "{entries:?}");
    assert!(pruned
        .iter()
        .all(|e| e.before_version_id.as_deref() == Some("v2")));
}

/// Role sessions shorter than the run: the credentials are assumed again before they expire.
/// moto does not enforce expiry, so the test counts the AssumeRole requests the proxy saw: one
/// without refreshing, more with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_assumed_role_credentials_refresh_during_a_long_run() {
    let (id, arn) = account_with("refresh", &fixture(LEGACY), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("accounts.toml");
    // The SDK's identity cache renews credentials 10 seconds (less up to 5 seconds of jitter)
    // before they expire: a 9-second session is renewed within 4 seconds. The run makes 8
    // requests after assuming the role, each slowed to 700 ms by the proxy: 5.6 seconds.
    std::fs::write(
        &file,
        format!("[defaults]\nduration_seconds = 9\n\n[[account]]\nid = \"{id}\"\n"),
    )
    .unwrap();
    let proxy = Proxy::start(serde_json::json!([]), 700);
    let journal = dir.path().join("j.jsonl");
    let (code, stdout, stderr) = forcemfa(
        &proxy.url,
        &[
            "apply",
            "--accounts",
            file.to_str().unwrap(),
            "--yes",
            "--journal",
            journal.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_migrated(&default_document(&id, &arn).await);
    let stats = proxy.stats();
    let assumed = stats["requests"][format!("{id} AssumeRole")]
        .as_u64()
        .unwrap_or(0);
    assert!(
        assumed >= 2,
        "the role was assumed {assumed} times: {stats}"
    );
}

/// A single-account plan (the current credentials' account, a batch of one) applied with
/// credentials for another account: nothing is written, each change fails naming both
/// accounts, and the run exits 1 (it used to skip them and exit 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_plan_applied_with_credentials_for_another_account_exits_1() {
    let (id, arn) = account_with("other-creds", &fixture(LEGACY), &[]).await;
    let sts = aws_sdk_sts::Client::new(&base_config());
    let out = sts
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{id}:role/OrganizationAccountAccessRole"
        ))
        .role_session_name("operator")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("p.json");
    let journal = dir.path().join("j.jsonl");
    let planned = crate::util::bin()
        .env("AWS_ACCESS_KEY_ID", c.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", c.secret_access_key())
        .env("AWS_SESSION_TOKEN", c.session_token())
        .env_remove("AWS_ENDPOINT_URL")
        .args(["plan", "--out", plan.to_str().unwrap(), "-q"])
        .args(["--endpoint-url", &moto::endpoint(), "--region", "us-east-1"])
        .output()
        .unwrap();
    assert_eq!(planned.status.code(), Some(0), "{planned:?}");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(saved["reach"]["selected_by"], "current");
    assert_eq!(saved["reach"]["accounts"][0]["id"], id.as_str());

    // The operator's default credentials belong to moto's default account, not `id`.
    let (code, stdout, stderr) = forcemfa(
        &moto::endpoint(),
        &[
            "apply",
            "--plan",
            plan.to_str().unwrap(),
            "--yes",
            "--journal",
            journal.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("are for account {}, not {id}", moto::ACCOUNT)),
        "{stdout}"
    );
    assert!(stdout.contains("Applied 0,"), "{stdout}");
    assert_eq!(
        default_document(&id, &arn).await,
        moto::json(&fixture(LEGACY))
    );
}
