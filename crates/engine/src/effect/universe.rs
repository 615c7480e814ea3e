//! The finite universe the effect diff enumerates: actions × resources × contexts.

use std::collections::HashSet;
use std::sync::OnceLock;

use serde_json::Value;

use super::pattern::Glob;
use super::request::ResourceKind;

/// Every IAM and STS action (see the header of the file for its provenance).
const IAM_STS_ACTIONS: &str = include_str!("iam_sts_actions.txt");

/// Where [`Universe::actions`] comes from, for reports.
pub const ACTIONS_SOURCE: &str = "IAM and STS: operation lists of aws-sdk-iam 1.133.0 and aws-sdk-sts \
1.124.0 (AWS SDK for Rust service models) plus authorisation-only actions, crates/engine/src/effect/iam_sts_actions.txt; \
a fixed sample of other services; every action named in the documents";

/// A fixed sample of other services' actions: enough to show that a guard (or an exemption such as
/// `s3:*`) affects services beyond IAM, without pretending to enumerate all of AWS.
pub const OTHER_SERVICES_SAMPLE: [&str; 24] = [
    "account:GetAccountInformation",
    "cloudformation:CreateStack",
    "cloudtrail:LookupEvents",
    "codecommit:GitPull",
    "codecommit:GitPush",
    "dynamodb:GetItem",
    "ec2:DescribeInstances",
    "ec2:RunInstances",
    "ecr:GetAuthorizationToken",
    "kms:Decrypt",
    "lambda:InvokeFunction",
    "logs:PutLogEvents",
    "organizations:DescribeOrganization",
    "rds:DescribeDBInstances",
    "route53:ListHostedZones",
    "s3:GetObject",
    "s3:ListAllMyBuckets",
    "s3:PutObject",
    "secretsmanager:GetSecretValue",
    "sns:Publish",
    "sqs:SendMessage",
    "sso:ListInstances",
    "ssm:GetParameter",
    "support:DescribeCases",
];

/// The IAM and STS actions of the data file, in file order (sorted).
pub fn iam_sts_actions() -> &'static [String] {
    static LIST: OnceLock<Vec<String>> = OnceLock::new();
    LIST.get_or_init(|| {
        IAM_STS_ACTIONS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    })
}

/// The request universe for comparing documents.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Universe {
    pub partition: String,
    pub account: String,
    /// The requesting user (the value of `${aws:username}`), chosen not to occur in the documents.
    pub username: String,
    /// Another user in the same account.
    pub other_username: String,
    /// A free-form virtual MFA device name (allowed since Nov 2022), different from the user name.
    pub device_name: String,
    /// Sorted case-insensitively, unique.
    pub actions: Vec<String>,
}

/// Every string in a JSON value, depth first.
fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push(k);
            strings(v, out);
        }),
        _ => {}
    }
}

fn is_concrete(s: &str) -> bool {
    !s.is_empty() && !s.contains(['*', '?', '$', '{', '}'])
}

/// Finds `(partition, Some(account))` pairs of `arn:PARTITION:iam::ACCOUNT:` in `text`.
fn iam_arns(text: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("arn:") {
        let mut parts = text[i..].splitn(6, ':');
        let (_, partition, service, _region, account) = (
            parts.next(),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next(),
            parts.next(),
        );
        if service != "iam" || !is_concrete(partition) || parts.next().is_none() {
            continue;
        }
        let account = account.filter(|a| is_concrete(a)).map(str::to_string);
        out.push((partition.to_string(), account));
    }
    out
}

/// The first candidate (`base`, `base2`, `base3`, …) that no string of the documents mentions, so that
/// the synthetic names can never coincide with names a policy singles out.
fn fresh_name(base: &str, texts: &[String]) -> String {
    (1..)
        .map(|n| {
            if n == 1 {
                base.to_string()
            } else {
                format!("{base}{n}")
            }
        })
        .find(|cand| !texts.iter().any(|t| t.contains(cand.as_str())))
        .unwrap_or_else(|| base.to_string())
}

/// The actions named in `Action`/`NotAction` of a document's statements.
fn named_actions(doc: &Value) -> Vec<&str> {
    let stmts: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for s in stmts {
        for key in ["Action", "NotAction"] {
            match s.get(key) {
                Some(Value::String(a)) => out.push(a.as_str()),
                Some(Value::Array(items)) => out.extend(items.iter().filter_map(Value::as_str)),
                _ => {}
            }
        }
    }
    out
}

/// The actions every universe has, IAM and STS and the sample of other services, sorted
/// case-insensitively, and their lowercase forms.
fn base_actions() -> &'static (Vec<String>, HashSet<String>) {
    static BASE: OnceLock<(Vec<String>, HashSet<String>)> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut actions: Vec<String> = iam_sts_actions().to_vec();
        for s in OTHER_SERVICES_SAMPLE {
            if !actions.iter().any(|a| a.eq_ignore_ascii_case(s)) {
                actions.push(s.to_string());
            }
        }
        actions.sort_by_cached_key(|a| a.to_lowercase());
        let lower = actions.iter().map(|a| a.to_lowercase()).collect();
        (actions, lower)
    })
}

/// Builds the universe for comparing `docs` (see the module documentation).
pub fn universe_for(docs: &[&Value]) -> Universe {
    let mut all = Vec::new();
    for d in docs {
        strings(d, &mut all);
    }
    let arns: Vec<(String, Option<String>)> = all.iter().flat_map(|s| iam_arns(s)).collect();
    // Partition and account from the first IAM ARN with a concrete account; failing that, the
    // partition of any IAM ARN (an `aws-cn` policy written with `*` accounts still needs `aws-cn`).
    let (partition, account) = match arns.iter().find(|(_, a)| a.is_some()) {
        Some((p, a)) => (p.clone(), a.clone().unwrap_or_default()),
        None => (
            arns.first()
                .map_or_else(|| "aws".to_string(), |(p, _)| p.clone()),
            "123456789012".to_string(),
        ),
    };
    let lowered: Vec<String> = all.iter().map(|s| s.to_lowercase()).collect();
    let username = fresh_name("alice", &lowered);
    let other_username = fresh_name("bob", &lowered);
    let device_name = fresh_name("phone-2", &lowered);

    let (base, base_lower) = base_actions();
    let mut extra: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for doc in docs {
        for named in named_actions(doc) {
            let named = named.trim();
            if named.is_empty() {
                continue;
            }
            if is_concrete(named) {
                let lower = named.to_lowercase();
                if !base_lower.contains(&lower) && seen.insert(lower) {
                    extra.push(named.to_string());
                }
                continue;
            }
            // A wildcard pattern naming another service (`s3:Get*`): make sure something matches it.
            let Some((service, _)) = named.split_once(':') else {
                continue;
            };
            let service_l = service.to_lowercase();
            if !is_concrete(service) || service_l == "iam" || service_l == "sts" {
                continue; // IAM and STS are complete; `*` and `*:…` already match the whole universe.
            }
            let glob = Glob::new(&named.to_lowercase());
            if base_lower.iter().any(|a| glob.matches_str(a))
                || extra.iter().any(|a| glob.matches_str(&a.to_lowercase()))
            {
                continue;
            }
            let synthetic = named.replace('*', "Synthetic").replace('?', "X");
            let lower = synthetic.to_lowercase();
            if !base_lower.contains(&lower) && seen.insert(lower) {
                extra.push(synthetic);
            }
        }
    }
    let actions = if extra.is_empty() {
        base.clone()
    } else {
        let mut all = base.clone();
        all.extend(extra);
        all.sort_by_cached_key(|a| a.to_lowercase());
        all
    };
    Universe {
        partition,
        account,
        username,
        other_username,
        device_name,
        actions,
    }
}

/// The ARN standing for `kind` in the universe.
pub fn resource_arn(u: &Universe, kind: ResourceKind) -> String {
    let prefix = format!("arn:{}:iam::{}:", u.partition, u.account);
    match kind {
        ResourceKind::OwnUser => format!("{prefix}user/{}", u.username),
        ResourceKind::OtherUser => format!("{prefix}user/{}", u.other_username),
        ResourceKind::OwnMfaDevice => format!("{prefix}mfa/{}", u.username),
        ResourceKind::OtherMfaDevice => format!("{prefix}mfa/{}", u.device_name),
        ResourceKind::Any => "*".to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn action_list_is_complete_sorted_and_unique() {
        let list = iam_sts_actions();
        let iam = list.iter().filter(|a| a.starts_with("iam:")).count();
        let sts = list.iter().filter(|a| a.starts_with("sts:")).count();
        assert!(iam > 150, "only {iam} IAM actions");
        assert!(sts >= 10, "only {sts} STS actions");
        assert_eq!(iam + sts, list.len(), "only iam: and sts: lines");
        for pair in list.windows(2) {
            assert!(
                pair[0].to_lowercase() < pair[1].to_lowercase(),
                "not sorted or duplicate: {} / {}",
                pair[0],
                pair[1]
            );
        }
        for a in [
            "iam:CreateVirtualMFADevice",
            "iam:EnableMFADevice",
            "iam:GetUser",
            "iam:ListMFADevices",
            "iam:ListVirtualMFADevices",
            "iam:ResyncMFADevice",
            "sts:GetSessionToken",
            "iam:ListUsers",
            "iam:PassRole",
            "iam:CreateServiceLinkedRole",
            "sts:TagSession",
            "iam:DeactivateMFADevice",
            "iam:DeleteVirtualMFADevice",
            "iam:ChangePassword",
        ] {
            assert!(list.iter().any(|x| x == a), "{a} missing");
        }
    }

    /// Cross-checks the data file against the installed SDK crates when the registry is where cargo
    /// normally puts it; skipped silently otherwise (CI machines differ).
    #[test]
    fn universe_matches_installed_sdk() {
        let Some(home) = std::env::var_os("CARGO_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo"))
            })
        else {
            return;
        };
        let Ok(indexes) = std::fs::read_dir(home.join("registry/src")) else {
            return;
        };
        let list: HashSet<&str> = iam_sts_actions().iter().map(String::as_str).collect();
        for index in indexes.flatten() {
            for (dir, prefix) in [
                ("aws-sdk-iam-1.133.0", "iam"),
                ("aws-sdk-sts-1.124.0", "sts"),
            ] {
                let Ok(ops) = std::fs::read_dir(index.path().join(dir).join("src/operation"))
                else {
                    continue;
                };
                let mut n = 0;
                for op in ops.flatten() {
                    let Ok(text) = std::fs::read_to_string(op.path()) else {
                        continue; // directories
                    };
                    let Some(i) = text.find(".operation_name(\"") else {
                        continue;
                    };
                    let rest = &text[i + ".operation_name(\"".len()..];
                    let name = &rest[..rest.find('"').unwrap()];
                    n += 1;
                    let action = format!("{prefix}:{name}");
                    assert!(
                        list.contains(action.as_str()),
                        "{action} (from {dir}) missing"
                    );
                }
                assert!(n > 10, "{dir}: found only {n} operations");
            }
        }
    }

    #[test]
    fn partition_account_and_names() {
        let doc = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:Get*", "codestar:ListProjects", "iam:Foo*"],
             "Resource": ["arn:aws-cn:iam::*:user/alice", "arn:aws-cn:iam::111122223333:mfa/x"]}
        ]});
        let u = universe_for(&[&doc]);
        assert_eq!(
            (u.partition.as_str(), u.account.as_str()),
            ("aws-cn", "111122223333")
        );
        assert_eq!(u.username, "alice2");
        assert!(u.actions.iter().any(|a| a == "codestar:ListProjects"));
        // s3:GetObject is in the sample, so no synthetic action is needed for s3:Get*.
        assert!(!u.actions.iter().any(|a| a.contains("Synthetic")));
        assert_eq!(
            resource_arn(&u, ResourceKind::OwnMfaDevice),
            "arn:aws-cn:iam::111122223333:mfa/alice2"
        );

        let doc = json!({"Statement": {"Effect": "Deny", "NotAction": "textract:Analyze*", "Resource": "*"}});
        let u = universe_for(&[&doc]);
        assert_eq!(
            (u.partition.as_str(), u.account.as_str()),
            ("aws", "123456789012")
        );
        assert!(u.actions.iter().any(|a| a == "textract:AnalyzeSynthetic"));
        let lower: Vec<String> = u.actions.iter().map(|a| a.to_lowercase()).collect();
        assert!(lower.windows(2).all(|w| w[0] < w[1]));
    }
}
