//! The published generations of the force-MFA policy, embedded: the nearest one to a document
//! (by the features of its statements, whatever their Sids, order, partition and account), and
//! the pre-MFA vocabulary, every action they name, that detection reads an `Action` deny by.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;

use crate::effect::invariant::ENROLMENT;
use crate::pattern;
use crate::policy;

/// The nearest published generation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generation {
    pub id: &'static str,
    pub title: &'static str,
    /// Jaccard similarity of normalised statement features, 0–1.
    pub similarity: f64,
}

/// The pre-MFA vocabulary: every action (lowercase, no wildcards) that some published generation
/// names, in its guard's exemptions or its self-service grants, plus the enrolment set. Derived
/// from the embedded generation texts ([`GENERATIONS`], each with its source), not written by
/// hand, so that it grows with the data.
pub fn pre_mfa_vocabulary() -> &'static BTreeSet<String> {
    static CACHE: std::sync::OnceLock<BTreeSet<String>> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| {
        let mut out: BTreeSet<String> = ENROLMENT.iter().map(|a| a.to_ascii_lowercase()).collect();
        for (_, _, text) in GENERATIONS {
            let Ok(parsed) = policy::parse(text) else {
                continue;
            };
            for st in policy::statements(&parsed.value) {
                for key in ["Action", "NotAction"] {
                    if let Some(Ok(list)) = policy::string_list(st, key) {
                        out.extend(
                            list.iter()
                                .filter(|a| !pattern::is_wildcard(a))
                                .map(|a| a.to_ascii_lowercase()),
                        );
                    }
                }
            }
        }
        out
    })
}

/// The published generations, embedded so that detection needs no files at run time.
pub const GENERATIONS: &[(&str, &str, &str)] = &[
    (
        "2015-blog-force-mfa",
        "2015 AWS Security Blog \"Force_MFA\" (guard exempts all of IAM)",
        include_str!("../../generations/2015-blog-force-mfa.json"),
    ),
    (
        "2017-docs-tutorial-force-mfa",
        "2017 IAM tutorial \"Force_MFA\" (BlockMostAccessUnlessSignedInWithMFA)",
        include_str!("../../generations/2017-docs-tutorial-force-mfa.json"),
    ),
    (
        "2018-08-docs-tutorial-viewandmanage",
        "2018-08 IAM tutorial (AllowIndividualUserToViewAndManageTheirOwnMFA)",
        include_str!("../../generations/2018-08-docs-tutorial-viewandmanage.json"),
    ),
    (
        "2018-docs-listusers",
        "2018-11 IAM tutorial, last form before My Security Credentials",
        include_str!("../../generations/2018-docs-listusers.json"),
    ),
    (
        "2018-docs-iam-mfa-selfmanage-blockmost",
        "2018 example \"self-manage an MFA device\"",
        include_str!("../../generations/2018-docs-iam-mfa-selfmanage-blockmost.json"),
    ),
    (
        "2019-docs-deny-all-except-listed",
        "2019 \"My Security Credentials\" policy (DenyAllExceptListedIfNoMFA)",
        include_str!("../../generations/2019-docs-deny-all-except-listed.json"),
    ),
    (
        "2019-docs-mfa-only",
        "2019 MFA-only policy",
        include_str!("../../generations/2019-docs-mfa-only.json"),
    ),
    (
        "2019-seed-variant",
        "2019 \"extended\" variant (login profile and device deletion before MFA)",
        include_str!("../../generations/2019-seed-variant.json"),
    ),
    (
        "2021-docs-deny-all-except-listed",
        "2021 \"My Security Credentials\" policy",
        include_str!("../../generations/2021-docs-deny-all-except-listed.json"),
    ),
    (
        "current-docs-self-manage",
        "2022-11 self-manage policy (before iam:GetAccessKeyLastUsed)",
        include_str!("../../generations/current-docs-self-manage.json"),
    ),
    (
        "2023-11-docs-self-manage",
        "current (2023-11) self-manage policy (own access keys with iam:GetAccessKeyLastUsed)",
        include_str!("../../generations/2023-11-docs-self-manage.json"),
    ),
    (
        "current-docs-mfa-only",
        "current (2022-11) MFA-only policy",
        include_str!("../../generations/current-docs-mfa-only.json"),
    ),
    (
        "current-docs-iam-mfa-selfmanage",
        "current example \"self-manage an MFA device\" (still exempts iam:ListUsers)",
        include_str!("../../generations/current-docs-iam-mfa-selfmanage.json"),
    ),
];

/// Statement features independent of Sids, order, partition and account: what a policy
/// grants and exempts, so that renamed and reordered copies still match their source.
pub fn features(doc: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for st in policy::statements(doc) {
        let effect = policy::effect(st).unwrap_or_default();
        let resources = ["Resource", "NotResource"]
            .iter()
            .filter_map(|k| policy::string_list(st, k).and_then(Result::ok))
            .flatten()
            .map(|r| normalise_arn(&r))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join(",");
        for key in ["Action", "NotAction"] {
            if let Some(Ok(actions)) = policy::string_list(st, key) {
                for a in actions {
                    out.insert(format!(
                        "{effect}|{key}|{}|{resources}",
                        a.to_ascii_lowercase()
                    ));
                }
            }
        }
        if let Some(Value::Object(ops)) = st.get("Condition") {
            for (op, block) in ops {
                if let Some(b) = block.as_object() {
                    for (k, v) in b {
                        out.insert(format!(
                            "{effect}|cond|{}|{}|{}",
                            op.to_ascii_lowercase(),
                            k.to_ascii_lowercase(),
                            policy::condition_scalar(v).unwrap_or_default()
                        ));
                    }
                }
            }
        }
    }
    out
}

fn normalise_arn(arn: &str) -> String {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() == 6 && parts[0] == "arn" {
        format!("arn:*:{}:{}:*:{}", parts[2], parts[3], parts[5])
    } else {
        arn.to_string()
    }
}

/// The generations' features, computed once per process (planning 1,000 files would otherwise
/// parse every generation text 1,000 times).
fn generation_features() -> &'static [(&'static str, &'static str, BTreeSet<String>)] {
    static CACHE: std::sync::OnceLock<Vec<(&str, &str, BTreeSet<String>)>> =
        std::sync::OnceLock::new();
    CACHE.get_or_init(|| {
        GENERATIONS
            .iter()
            .filter_map(|(id, title, text)| {
                policy::parse(text)
                    .ok()
                    .map(|p| (*id, *title, features(&p.value)))
            })
            .collect()
    })
}

/// The most similar published generation, by Jaccard similarity of [`features`].
pub fn nearest_generation(doc: &Value) -> Option<Generation> {
    let mine = features(doc);
    if mine.is_empty() {
        return None;
    }
    let mut best: Option<Generation> = None;
    for (id, title, theirs) in generation_features() {
        let inter = mine.intersection(theirs).count() as f64;
        let union = mine.union(theirs).count() as f64;
        let similarity = if union == 0.0 { 0.0 } else { inter / union };
        if best.as_ref().is_none_or(|b| similarity > b.similarity) {
            best = Some(Generation {
                id,
                title,
                similarity,
            });
        }
    }
    best
}
