//! Least privilege, tested: `plan` against a moto server that enforces IAM authorisation, as a
//! user holding exactly `docs/permissions/plan-policy.json` (resources widened to `*`, the only
//! resource moto matches under enforcement), and as a user with no permissions at all.
//!
//! This test starts its own moto server on its own port (authorisation enforcement is global to
//! a server, so it must not disturb the other AWS tests). The set-up (users, keys, policies) is
//! written before enforcement is switched on: moto's signature check rejects the Rust SDK's
//! signed IAM writes that carry a policy document, so writes are tested elsewhere, reads here.

use crate::util::*;
use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_iam::types::Tag;
use aws_sdk_iam::Client;
use std::process::{Child, Command, Stdio};

/// A moto server of our own; stopped (by its pid) when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto() -> Moto {
    let server = root().join(".venv/bin/moto_server");
    assert!(
        server.exists(),
        "{} is missing: run `tests/run_moto.sh start` once to install moto",
        server.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let mut child = Command::new(server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Moto { child, endpoint };
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("moto_server did not start on port {port}");
}

fn client(endpoint: &str) -> Client {
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .build();
    Client::from_conf(conf)
}

/// The documented plan policy with every resource widened to `*` (moto's limit).
fn plan_policy_for_moto() -> String {
    let text = read(&root().join("docs/permissions/plan-policy.json"));
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    for s in doc["Statement"].as_array_mut().unwrap() {
        s["Resource"] = serde_json::json!("*");
    }
    doc.to_string()
}

async fn user_with_keys(iam: &Client, name: &str) -> (String, String) {
    iam.create_user().user_name(name).send().await.unwrap();
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    (
        key.access_key_id().to_string(),
        key.secret_access_key().to_string(),
    )
}

fn plan_as(endpoint: &str, keys: &(String, String)) -> std::process::Output {
    bin()
        .args([
            "plan",
            "--color",
            "never",
            "--format",
            "json",
            "--endpoint-url",
            endpoint,
        ])
        .env("AWS_ACCESS_KEY_ID", &keys.0)
        .env("AWS_SECRET_ACCESS_KEY", &keys.1)
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_needs_exactly_the_documented_read_permissions() {
    let moto = start_moto();
    let iam = client(&moto.endpoint);
    // Set-up, before enforcement: a legacy force-MFA policy (tagged by CloudFormation), one
    // inline policy, a planner holding the plan policy, and a user holding nothing.
    let legacy = read(&fixture("policies/2018-docs-listusers.json"));
    iam.create_policy()
        .policy_name("ForceMFA")
        .policy_document(&legacy)
        .tags(
            Tag::builder()
                .key("aws:cloudformation:stack-name")
                .value("mfa")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    iam.create_policy()
        .policy_name("ForceMFAUntagged")
        .policy_document(&legacy)
        .send()
        .await
        .unwrap();
    let planner = user_with_keys(&iam, "planner").await;
    iam.put_user_policy()
        .user_name("planner")
        .policy_name("forcemfa-plan")
        .policy_document(plan_policy_for_moto())
        .send()
        .await
        .unwrap();
    let nobody = user_with_keys(&iam, "nobody").await;
    // Enforce authorisation from the next request on.
    let reset = reqwest_post(&format!("{}/moto-api/reset-auth", moto.endpoint), "0");
    assert!(reset.contains("ok"), "{reset}");

    let out = plan_as(&moto.endpoint, &planner);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stderr}\n{stdout}");
    assert!(
        !stderr.contains("warning"),
        "no warnings expected: {stderr}"
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let changes = v["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{stdout}");
    // The tags were read: the tagged policy is IaC-managed, the other not.
    let iac: Vec<bool> = changes
        .iter()
        .map(|c| c["iac_managed"].is_string())
        .collect();
    assert_eq!(iac.iter().filter(|b| **b).count(), 1, "{stdout}");

    let out = plan_as(&moto.endpoint, &nobody);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("iam:GetAccountAuthorizationDetails")
            && stderr.contains("docs/permissions/plan-policy.json"),
        "{stderr}"
    );
    // moto's denial is not in a shape the SDK parses: the HTTP status and raw message show.
    assert!(
        stderr.contains("access denied")
            && stderr.contains("HTTP 403")
            && !stderr.contains("Unknown"),
        "{stderr}"
    );
}

/// A POST with a text body, without adding an HTTP client to the dependencies.
fn reqwest_post(url: &str, body: &str) -> String {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-X",
            "POST",
            "-H",
            "Content-Type: text/plain",
            "--data-binary",
            body,
            url,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
