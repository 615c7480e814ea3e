//! Detection: find the MFA guard by shape (never by Sid), tell it from a targeted MFA requirement,
//! name the nearest published generation, and report every exemption with a severity.
//!
//! A guard is a `Deny` statement whose condition means "no MFA": `Bool`/`BoolIfExists` (or the
//! `StringEquals` forms) on `aws:MultiFactorAuthPresent` = false, `Null` on `aws:MultiFactorAuthAge`
//! = true, or an age limit (`NumericGreaterThan[Equals][IfExists]` on `aws:MultiFactorAuthAge`),
//! which also denies stale MFA sessions. Operator and key names compare case-insensitively; values
//! may be strings or JSON booleans.
//!
//! A `Deny` written with `Action` is read by what it lists:
//! - `*` (or `*:*`): a guard that denies everything, enrolment included (nobody can enrol);
//! - only actions of the pre-MFA vocabulary ([`pre_mfa_vocabulary`]), among them an enrolment
//!   action, with `Resource`: the inverted rendering of a guard (`Action` where `NotAction` was
//!   meant, as a community module did for two years);
//! - anything else ("no `sts:AssumeRole` / no IAM writes without MFA"): a **targeted MFA
//!   requirement**, which is not a force-MFA guard and is never rewritten. Flipping it would exempt
//!   exactly what its author denied.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;

use crate::effect::invariant::is_enrolment;
use crate::pattern;
use crate::policy;

mod generation;
pub use generation::{features, nearest_generation, pre_mfa_vocabulary, Generation, GENERATIONS};

/// How the guard tests for "no MFA".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MfaTest {
    /// `BoolIfExists aws:MultiFactorAuthPresent false` (or `StringEqualsIfExists`): also matches
    /// requests without the key.
    BoolIfExists,
    /// `Bool aws:MultiFactorAuthPresent false` (or `StringEquals`): misses long-term access keys.
    Bool,
    /// `Null aws:MultiFactorAuthAge true`.
    NullAge,
    /// `NumericGreaterThan[Equals] aws:MultiFactorAuthAge N`: denies MFA sessions older than N
    /// seconds, but misses every request without the key (no MFA at all).
    AgeLimit,
    /// `NumericGreaterThan[Equals]IfExists aws:MultiFactorAuthAge N`: denies requests without MFA
    /// and MFA sessions older than N seconds.
    AgeLimitIfExists,
}

impl MfaTest {
    /// Plain words for reports.
    pub fn describe(self) -> &'static str {
        match self {
            MfaTest::BoolIfExists => "no MFA (BoolIfExists)",
            MfaTest::Bool => "no MFA (Bool: misses long-term access keys)",
            MfaTest::NullAge => "no MFA (Null MultiFactorAuthAge)",
            MfaTest::AgeLimit => "MFA age limit (without IfExists: misses requests without MFA)",
            MfaTest::AgeLimitIfExists => "no MFA or an MFA session older than the age limit",
        }
    }
}

/// Whether the guard lists its exemptions (`NotAction`), by mistake its targets (`Action`), or
/// denies every action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuardForm {
    NotAction,
    InvertedAction,
    /// `Action: "*"`: denies everything without MFA, enrolment included.
    DenyAll,
}

/// The recognised guard of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Guard {
    /// Index of the statement (0-based, in document order).
    pub index: usize,
    pub sid: Option<String>,
    pub form: GuardForm,
    pub test: MfaTest,
    /// The `NotAction` (or, for an inverted guard, `Action`) list as written.
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

/// One thing worth telling the operator about a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    /// 0-based statement index the finding concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// What detection concluded about a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Status {
    /// One guard, understood: the document can be migrated.
    Guarded { guard: Guard },
    /// No guard: self-management only, targeted MFA requirements only, or unrelated. Never
    /// rewritten.
    NoGuard,
    /// A force-MFA policy forcemfa will not rewrite (several guards, a `NotResource` guard, one it
    /// cannot interpret): the reason names the shape and why.
    Ambiguous { reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<Generation>,
    pub findings: Vec<Finding>,
}

impl Detection {
    pub fn guard(&self) -> Option<&Guard> {
        match &self.status {
            Status::Guarded { guard } => Some(guard),
            _ => None,
        }
    }

    /// Why a document without a guard is left alone, in the operator's words.
    pub fn no_guard_reason(&self) -> String {
        let targeted: Vec<String> = self
            .findings
            .iter()
            .filter(|f| f.rule == TARGETED_RULE)
            .filter_map(|f| f.statement.map(|i| (i + 1).to_string()))
            .collect();
        if targeted.is_empty() {
            "no MFA guard (not a force-MFA policy); never rewritten".into()
        } else {
            format!(
                "targeted MFA requirement (statement {} denies specific actions without MFA), not a force-MFA guard; left as it is",
                targeted.join(", ")
            )
        }
    }
}

/// Rule name of the finding for a targeted MFA requirement.
pub const TARGETED_RULE: &str = "targeted-mfa-requirement";
/// Rule name of the finding for a targeted MFA requirement whose test misses requests without
/// the MFA key (long-term access keys), as `Bool` does.
pub const TARGETED_HOLE_RULE: &str = "targeted-requirement-skipped-by-access-keys";
/// Rule name of the findings for exemptions beyond the enrolment set.
pub const EXEMPTION_RULE: &str = "exemption-before-mfa";

/// Exemptions that let a user without MFA escalate privilege, create credentials, or remove the
/// guard from themselves: whoever holds only a password could make themselves an administrator
/// or mint keys that never need MFA. The migration `remove-escalation-exemptions` removes
/// exactly these by default (a test keeps its list and this one equal).
pub const ESCALATION: &[&str] = &[
    "iam:AddUserToGroup",
    "iam:AttachGroupPolicy",
    "iam:AttachRolePolicy",
    "iam:AttachUserPolicy",
    "iam:CreateAccessKey",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:CreateRole",
    "iam:CreateServiceSpecificCredential",
    "iam:CreateUser",
    "iam:DeleteGroupPolicy",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DeleteUserPermissionsBoundary",
    "iam:DeleteUserPolicy",
    "iam:DetachGroupPolicy",
    "iam:DetachRolePolicy",
    "iam:DetachUserPolicy",
    "iam:PassRole",
    "iam:PutGroupPolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:PutUserPermissionsBoundary",
    "iam:PutUserPolicy",
    "iam:RemoveUserFromGroup",
    "iam:ResetServiceSpecificCredential",
    "iam:SetDefaultPolicyVersion",
    "iam:UpdateAccessKey",
    "iam:UpdateAssumeRolePolicy",
    "iam:UploadSSHPublicKey",
    "iam:UploadSigningCertificate",
    "sts:AssumeRole",
    "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity",
    "sts:GetFederationToken",
];

/// Exemptions that remove a user's MFA: with only the password, someone deactivates the owner's
/// device and enrols their own (enrolment is always open before MFA), and the account is theirs.
const MFA_REMOVAL: &[&str] = &["iam:DeactivateMFADevice"];

/// Exemptions AWS documents as optional customisations of its own examples: low risk, still named.
const DOCUMENTED_OPTIONAL: &[&str] = &[
    "iam:ChangePassword",
    "iam:GetAccountPasswordPolicy",
    "iam:GetLoginProfile",
    "iam:GetMFADevice",
];

/// Actions whose presence in a `Deny … Action` without MFA marks the inverted-guard mistake:
/// nobody means to deny enrolment to users without MFA.
const ENROLMENT_MARKERS: &[&str] = &[
    "iam:createvirtualmfadevice",
    "iam:enablemfadevice",
    "iam:resyncmfadevice",
    "iam:listmfadevices",
    "iam:listvirtualmfadevices",
    "sts:getsessiontoken",
];

/// The guard alone, when the document has exactly one that is understood: what the migration
/// engine needs before each op, without the cost of findings and generation matching.
pub fn guard(doc: &Value) -> Option<Guard> {
    if variables_not_substituted(doc).is_some() {
        return None;
    }
    let mut found = None;
    for (index, st) in policy::statements(doc).into_iter().enumerate() {
        match classify_statement(index, st) {
            Candidate::Guard(g) if found.is_none() => found = Some(g),
            Candidate::Guard(_) | Candidate::Shape(_) | Candidate::Uninterpretable(_) => {
                return None
            }
            Candidate::NotGuard | Candidate::TargetedDeny(..) => {}
        }
    }
    found
}

/// The targeted MFA requirements of a document (a `Deny` of specific actions without MFA, never
/// rewritten as a guard): each statement's index and how it tests for "no MFA". What a migration
/// may narrow in them is only that test.
pub fn targeted(doc: &Value) -> Vec<(usize, MfaTest)> {
    policy::statements(doc)
        .into_iter()
        .enumerate()
        .filter_map(|(index, st)| match classify_statement(index, st) {
            Candidate::TargetedDeny(_, test) => Some((index, test)),
            _ => None,
        })
        .collect()
}

/// Whether a targeted requirement's test lets requests without the MFA key through: `Bool` (and
/// `StringEquals`) match only requests that carry `aws:MultiFactorAuthPresent`, an age limit
/// without `IfExists` only MFA sessions. Requests signed with long-term access keys carry neither.
pub fn targeted_test_has_hole(test: MfaTest) -> bool {
    matches!(test, MfaTest::Bool | MfaTest::AgeLimit)
}

/// Detect the guard and structural findings of a policy document.
pub fn detect(doc: &Value) -> Detection {
    detect_with(doc, &[])
}

/// Only the exemption findings of a document's one guard (what a rewrite leaves exempt), without
/// the cost of generation matching.
pub fn exemption_findings_of(doc: &Value, allowed: &[String]) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(g) = guard(doc) {
        exemption_findings(&g, allowed, &mut out);
    }
    out
}

/// [`detect`], with the exemptions the operator chose (`--allow-before-mfa`) reported as chosen
/// rather than as risks.
pub fn detect_with(doc: &Value, allowed: &[String]) -> Detection {
    let mut findings = Vec::new();
    let mut guards = Vec::new();
    let mut shapes = Vec::new();
    let mut problems = Vec::new();
    for (index, st) in policy::statements(doc).into_iter().enumerate() {
        match classify_statement(index, st) {
            Candidate::NotGuard => {}
            Candidate::TargetedDeny(actions, test) => {
                findings.push(Finding {
                    rule: TARGETED_RULE.into(),
                    severity: Severity::Info,
                    message: format!(
                        "denies {} without MFA: a targeted MFA requirement, not a force-MFA guard; kept as it is",
                        list_short(&actions)
                    ),
                    statement: Some(index),
                    sid: sid(st),
                });
                if targeted_test_has_hole(test) {
                    findings.push(targeted_hole_finding(index, st, &actions, test));
                }
            }
            Candidate::Guard(g) => guards.push(g),
            Candidate::Shape(reason) => shapes.push((index, sid(st), reason)),
            Candidate::Uninterpretable(reason) => problems.push((index, sid(st), reason)),
        }
    }
    let recognised = guards.len() + shapes.len();
    let version_problem = if recognised == 0 {
        None
    } else {
        variables_not_substituted(doc)
    };
    let status = if let Some(reason) = version_problem {
        findings.push(Finding {
            rule: "policy-variables-not-substituted".into(),
            severity: Severity::High,
            message: format!("{reason}; left alone, review by hand"),
            statement: None,
            sid: None,
        });
        Status::Ambiguous { reason }
    } else if !problems.is_empty() {
        let (index, sid, reason) = &problems[0];
        findings.push(Finding {
            rule: "guard-not-understood".into(),
            severity: Severity::High,
            message: format!("MFA guard not understood ({reason}); left alone, review by hand"),
            statement: Some(*index),
            sid: sid.clone(),
        });
        Status::Ambiguous {
            reason: format!("statement {}: {reason}", index + 1),
        }
    } else if recognised > 1 {
        let mut list: Vec<usize> = guards
            .iter()
            .map(|g| g.index)
            .chain(shapes.iter().map(|(i, _, _)| *i))
            .collect();
        list.sort_unstable();
        let names: Vec<String> = list.iter().map(|i| (i + 1).to_string()).collect();
        let reason = format!(
            "a force-MFA policy with {} MFA guards (statements {}); forcemfa rewrites one guard only, so it is left alone: merge them into one by hand, then run forcemfa again",
            recognised,
            names.join(", ")
        );
        findings.push(Finding {
            rule: "several-guards".into(),
            severity: Severity::High,
            message: reason.clone(),
            statement: None,
            sid: None,
        });
        for g in &guards {
            exemption_findings(g, allowed, &mut findings);
        }
        Status::Ambiguous { reason }
    } else if let Some((index, sid, reason)) = shapes.pop() {
        let reason = format!(
            "a force-MFA policy whose guard (statement {}) {reason}",
            index + 1
        );
        findings.push(Finding {
            rule: "guard-shape-left-alone".into(),
            severity: Severity::High,
            message: reason.clone(),
            statement: Some(index),
            sid,
        });
        Status::Ambiguous { reason }
    } else if let Some(guard) = guards.pop() {
        guard_findings(doc, &guard, allowed, &mut findings);
        Status::Guarded { guard }
    } else {
        let targeted = findings.iter().any(|f| f.rule == TARGETED_RULE);
        findings.push(Finding {
            rule: "no-mfa-guard".into(),
            severity: Severity::Info,
            message: if targeted {
                "no force-MFA guard: only targeted MFA requirements, never widened (at most their operator is narrowed to IfExists)".into()
            } else {
                "no MFA guard: not a force-MFA policy, never rewritten".into()
            },
            statement: None,
            sid: None,
        });
        Status::NoGuard
    };
    let generation = match status {
        Status::NoGuard => None,
        _ => nearest_generation(doc),
    };
    Detection {
        status,
        generation,
        findings,
    }
}

/// The `high` finding of a targeted requirement written with a test that requests without the
/// MFA key skip.
fn targeted_hole_finding(index: usize, st: &Value, actions: &[String], test: MfaTest) -> Finding {
    let how = match test {
        MfaTest::AgeLimit => "its MFA age limit has no IfExists, so it applies only to MFA sessions: console sessions without MFA and requests signed with long-term access keys skip this requirement",
        _ => "it tests aws:MultiFactorAuthPresent with Bool, which matches only requests that carry the key: requests signed with long-term access keys skip this requirement",
    };
    Finding {
        rule: TARGETED_HOLE_RULE.into(),
        severity: Severity::High,
        message: format!(
            "statement {} requires MFA for {}, but {how}",
            index + 1,
            list_short(actions)
        ),
        statement: Some(index),
        sid: sid(st),
    }
}

fn list_short(actions: &[String]) -> String {
    const SHOWN: usize = 4;
    if actions.len() <= SHOWN + 1 {
        actions.join(", ")
    } else {
        format!(
            "{} actions ({}, … and {} more)",
            actions.len(),
            actions[..SHOWN].join(", "),
            actions.len() - SHOWN
        )
    }
}

/// IAM substitutes policy variables (`${aws:username}`) only in `"Version": "2012-10-17"`
/// documents; without it (or with 2008-10-17) they are literal text, so the self-service grants
/// never worked. Rewriting such a policy would have to choose between keeping it broken and
/// silently making every variable live: a person decides.
fn variables_not_substituted(doc: &Value) -> Option<String> {
    let version = doc.get("Version").and_then(Value::as_str);
    let has_allow = policy::statements(doc)
        .iter()
        .any(|s| policy::effect(s).as_deref() == Some("allow"));
    // Grants forcemfa adds use ${aws:username}, so an Allow-bearing policy needs the version too.
    if version == Some("2012-10-17") || !(has_allow || doc.to_string().contains("${")) {
        return None;
    }
    Some(format!(
        "its Version is {}, not \"2012-10-17\": IAM does not substitute policy variables such as ${{aws:username}} in it, which the self-service grants need; set \"Version\": \"2012-10-17\" after review, then run forcemfa again",
        version.map_or("missing".to_string(), |v| format!("{v:?}"))
    ))
}

enum Candidate {
    NotGuard,
    /// A Deny of specific actions without MFA (the actions as written, and the MFA test).
    TargetedDeny(Vec<String>, MfaTest),
    Guard(Guard),
    /// A force-MFA guard of a shape forcemfa recognises but does not rewrite (why).
    Shape(String),
    Uninterpretable(String),
}

fn sid(st: &Value) -> Option<String> {
    st.get("Sid").and_then(Value::as_str).map(str::to_string)
}

fn denies_everything(actions: &[String]) -> bool {
    actions.iter().any(|a| a == "*" || a == "*:*")
}

/// An `Action` list is the inverted rendering of a guard only when every action belongs to the
/// pre-MFA vocabulary and at least one is an enrolment action.
fn is_inverted_guard_list(actions: &[String]) -> bool {
    let vocabulary = pre_mfa_vocabulary();
    actions
        .iter()
        .any(|x| ENROLMENT_MARKERS.contains(&x.to_ascii_lowercase().as_str()))
        && actions
            .iter()
            .all(|x| vocabulary.contains(&x.to_ascii_lowercase()))
}

fn classify_statement(index: usize, st: &Value) -> Candidate {
    if policy::effect(st).as_deref() != Some("deny") {
        return Candidate::NotGuard;
    }
    let test = match st.get("Condition").map(mfa_test) {
        Some(Ok(Some(t))) => t,
        Some(Ok(None)) | None => return Candidate::NotGuard,
        Some(Err(reason)) => return Candidate::Uninterpretable(reason),
    };
    for key in ["Principal", "NotPrincipal"] {
        if st.get(key).is_some() {
            return Candidate::Uninterpretable(format!("the guard has {key}"));
        }
    }
    let not_resource = st.get("NotResource").is_some();
    let resource_key = if not_resource {
        "NotResource"
    } else {
        "Resource"
    };
    let resources = match policy::string_list(st, resource_key) {
        Some(Ok(r)) => r,
        Some(Err(())) => {
            return Candidate::Uninterpretable(format!(
                "{resource_key} is not a string or list of strings"
            ))
        }
        None => return Candidate::Uninterpretable("the guard has no Resource".into()),
    };
    if not_resource && st.get("Resource").is_some() {
        return Candidate::Uninterpretable("the guard has both Resource and NotResource".into());
    }
    let (form, actions) = match (
        policy::string_list(st, "NotAction"),
        policy::string_list(st, "Action"),
    ) {
        (Some(Ok(a)), None) => {
            if not_resource {
                return Candidate::Shape(format!(
                    "uses NotResource ({}): it does not apply to those resources, and forcemfa does not rewrite NotResource guards; review it by hand",
                    resources.join(", ")
                ));
            }
            (GuardForm::NotAction, a)
        }
        (None, Some(Ok(a))) => {
            if denies_everything(&a) {
                if not_resource {
                    return Candidate::Shape(format!(
                        "denies every action without MFA except on NotResource ({}); forcemfa does not rewrite NotResource guards; review it by hand",
                        resources.join(", ")
                    ));
                }
                (GuardForm::DenyAll, a)
            } else if !not_resource && is_inverted_guard_list(&a) {
                (GuardForm::InvertedAction, a)
            } else {
                return Candidate::TargetedDeny(a, test);
            }
        }
        (Some(_), Some(_)) => {
            return Candidate::Uninterpretable("the guard has both Action and NotAction".into())
        }
        (None, None) => {
            return Candidate::Uninterpretable("the guard has neither Action nor NotAction".into())
        }
        _ => {
            return Candidate::Uninterpretable(
                "the guard's action list is not a string or list of strings".into(),
            )
        }
    };
    Candidate::Guard(Guard {
        index,
        sid: sid(st),
        form,
        test,
        actions,
        resources,
    })
}

/// A condition value as a lowercase scalar string, if it is one value (or a one-element list).
fn scalar(v: &Value) -> Result<String, String> {
    policy::condition_scalar(v)
        .ok_or_else(|| "the MFA condition has several or non-scalar values".into())
}

/// Find a "no MFA" test in a Condition block. `Ok(None)`: no such test.
pub fn mfa_test(condition: &Value) -> Result<Option<MfaTest>, String> {
    let Some(ops) = condition.as_object() else {
        return Ok(None);
    };
    let mut found = None;
    for (op, block) in ops {
        let Some(block) = block.as_object() else {
            continue;
        };
        let op_l = op.to_ascii_lowercase();
        let (base, if_exists) = match op_l.strip_suffix("ifexists") {
            Some(b) => (b, true),
            None => (op_l.as_str(), false),
        };
        for (key, value) in block {
            let key_l = key.to_ascii_lowercase();
            let test = match (base, key_l.as_str()) {
                (
                    "bool" | "stringequals" | "stringequalsignorecase",
                    "aws:multifactorauthpresent",
                ) => {
                    if scalar(value)? != "false" {
                        continue;
                    }
                    if if_exists {
                        MfaTest::BoolIfExists
                    } else {
                        MfaTest::Bool
                    }
                }
                ("null", "aws:multifactorauthage") if !if_exists => {
                    if scalar(value)? != "true" {
                        continue;
                    }
                    MfaTest::NullAge
                }
                ("numericgreaterthan" | "numericgreaterthanequals", "aws:multifactorauthage") => {
                    let v = scalar(value)?;
                    if v.parse::<f64>().is_err() {
                        return Err(format!("the MFA age limit {v:?} is not a number"));
                    }
                    if if_exists {
                        MfaTest::AgeLimitIfExists
                    } else {
                        MfaTest::AgeLimit
                    }
                }
                _ => continue,
            };
            found.get_or_insert(test);
        }
    }
    Ok(found)
}

/// How much an exemption opens before MFA, by what the action (or pattern) can do.
pub fn exemption_severity(action: &str) -> (Severity, &'static str) {
    let covers = |list: &[&str]| list.iter().any(|a| pattern::action_matches(action, a));
    if covers(ESCALATION) {
        return (
            Severity::Critical,
            "privilege escalation, new credentials or removing the guard before MFA",
        );
    }
    if covers(MFA_REMOVAL) {
        return (
            Severity::Critical,
            "removing a user's MFA device before MFA, so that another can be enrolled",
        );
    }
    if DOCUMENTED_OPTIONAL
        .iter()
        .any(|a| a.eq_ignore_ascii_case(action))
    {
        return (
            Severity::Low,
            "own password and sign-in details, an optional customisation AWS documents",
        );
    }
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    let name_l = name.to_ascii_lowercase();
    let reads = ["get", "list", "describe", "head", "view"]
        .iter()
        .any(|p| name_l.starts_with(p));
    // `s3:Get*` reads; `s3:*`, `s3:Put*` or `s3:*Object` may write.
    let wildcard = name_l.contains('*') || name_l.contains('?');
    if reads
        && (!wildcard
            || name_l
                .trim_end_matches('*')
                .chars()
                .all(|c| c.is_ascii_alphanumeric()))
    {
        (Severity::Medium, "reads data before MFA")
    } else {
        (Severity::High, "changes resources before MFA")
    }
}

/// Every exemption of a `NotAction` guard beyond the enrolment set, grouped by severity, one
/// finding per severity; the operator's chosen exemptions are reported as chosen.
fn exemption_findings(guard: &Guard, allowed: &[String], findings: &mut Vec<Finding>) {
    if guard.form != GuardForm::NotAction {
        return;
    }
    let mut by_severity: std::collections::BTreeMap<Severity, (Vec<String>, &'static str)> =
        std::collections::BTreeMap::new();
    let mut chosen = Vec::new();
    for a in &guard.actions {
        if is_enrolment(a) {
            continue;
        }
        if allowed.iter().any(|x| x.eq_ignore_ascii_case(a)) {
            chosen.push(a.clone());
            continue;
        }
        let (severity, why) = exemption_severity(a);
        by_severity
            .entry(severity)
            .or_insert_with(|| (Vec::new(), why))
            .0
            .push(a.clone());
    }
    for (severity, (actions, why)) in by_severity.into_iter().rev() {
        findings.push(Finding {
            rule: EXEMPTION_RULE.into(),
            severity,
            message: format!(
                "exempt from the guard (statement {}), so allowed before MFA: {} ({why}); kept, review it",
                guard.index + 1,
                actions.join(", ")
            ),
            statement: Some(guard.index),
            sid: guard.sid.clone(),
        });
    }
    // A chosen exemption that is critical stays critical: choosing it does not make it safe, and
    // whoever reads the report must see it among the worst findings, not as information.
    let (risky, chosen): (Vec<String>, Vec<String>) = chosen
        .into_iter()
        .partition(|a| exemption_severity(a).0 == Severity::Critical);
    if !risky.is_empty() {
        let whys: BTreeSet<&str> = risky.iter().map(|a| exemption_severity(a).1).collect();
        findings.push(Finding {
            rule: EXEMPTION_RULE.into(),
            severity: Severity::Critical,
            message: format!(
                "exempt from the guard (statement {}) by the operator's choice (--allow-before-mfa, acknowledged with --allow-risky-exemption), so allowed before MFA: {} ({})",
                guard.index + 1,
                risky.join(", "),
                whys.into_iter().collect::<Vec<_>>().join("; ")
            ),
            statement: Some(guard.index),
            sid: guard.sid.clone(),
        });
    }
    if !chosen.is_empty() {
        findings.push(Finding {
            rule: EXEMPTION_RULE.into(),
            severity: Severity::Info,
            message: format!(
                "exempt before MFA by the operator's choice (--allow-before-mfa): {}",
                chosen.join(", ")
            ),
            statement: Some(guard.index),
            sid: guard.sid.clone(),
        });
    }
}

fn guard_findings(doc: &Value, guard: &Guard, allowed: &[String], findings: &mut Vec<Finding>) {
    let statements = policy::statements(doc);
    let Some(st) = statements.get(guard.index) else {
        return;
    };
    match guard.form {
        GuardForm::NotAction => exemption_findings(guard, allowed, findings),
        GuardForm::DenyAll => findings.push(Finding {
            rule: "guard-denies-enrolment".into(),
            severity: Severity::High,
            message: "the guard denies every action without MFA, enrolment included: a user without MFA cannot set one up; the fix exempts exactly the enrolment actions".into(),
            statement: Some(guard.index),
            sid: guard.sid.clone(),
        }),
        GuardForm::InvertedAction => {}
    }
    if guard.test == MfaTest::AgeLimit {
        findings.push(Finding {
            rule: "age-guard-without-if-exists".into(),
            severity: Severity::High,
            message: "the age guard has no IfExists: requests without MFA carry no aws:MultiFactorAuthAge and pass it".into(),
            statement: Some(guard.index),
            sid: guard.sid.clone(),
        });
    }
    if let Some(Value::Object(ops)) = st.get("Condition") {
        let extra: Vec<String> = ops
            .iter()
            .flat_map(|(op, block)| {
                block
                    .as_object()
                    .into_iter()
                    .flat_map(|b| b.keys())
                    .filter(|k| {
                        let k = k.to_ascii_lowercase();
                        k != "aws:multifactorauthpresent" && k != "aws:multifactorauthage"
                    })
                    .map(move |k| format!("{op} {k}"))
            })
            .collect();
        if !extra.is_empty() {
            findings.push(Finding {
                rule: "guard-extra-condition".into(),
                severity: Severity::Info,
                message: format!(
                    "the guard also tests {}: it applies only when that holds too; kept",
                    extra.join(", ")
                ),
                statement: Some(guard.index),
                sid: guard.sid.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_published_generation_is_recognised_as_itself() {
        for (id, _, text) in GENERATIONS {
            let doc = policy::parse(text).unwrap_or_else(|e| panic!("{id}: {e}"));
            let d = detect(&doc.value);
            assert!(d.guard().is_some(), "{id}: {:?}", d.status);
            let g = d
                .generation
                .unwrap_or_else(|| panic!("{id}: no generation"));
            assert_eq!(g.id, *id);
            assert!((g.similarity - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn a_chosen_critical_exemption_is_still_a_critical_finding() {
        let doc = json!({"Version": "2012-10-17", "Statement": {"Effect": "Deny",
            "NotAction": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "sts:AssumeRole",
                "iam:DeactivateMFADevice", "iam:GetLoginProfile"],
            "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}});
        let chosen: Vec<String> = [
            "sts:AssumeRole",
            "iam:DeactivateMFADevice",
            "iam:GetLoginProfile",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        let findings = detect_with(&doc, &chosen).findings;
        let of = |severity: Severity| -> Vec<&Finding> {
            findings
                .iter()
                .filter(|f| f.rule == EXEMPTION_RULE && f.severity == severity)
                .collect()
        };
        let critical = of(Severity::Critical);
        assert_eq!(critical.len(), 1, "{findings:?}");
        assert!(critical[0]
            .message
            .contains("sts:AssumeRole, iam:DeactivateMFADevice"));
        assert!(critical[0].message.contains("--allow-risky-exemption"));
        // The low-risk choice stays information.
        let info = of(Severity::Info);
        assert_eq!(info.len(), 1, "{findings:?}");
        assert!(info[0].message.ends_with(": iam:GetLoginProfile"));
        // Found in a policy without being chosen, MFA removal is critical too.
        assert_eq!(
            exemption_severity("iam:DeactivateMFADevice").0,
            Severity::Critical
        );
        assert_eq!(exemption_severity("iam:Deactivate*").0, Severity::Critical);
    }

    #[test]
    fn guard_is_found_by_shape_with_renamed_sid_and_boolean_value() {
        let doc = json!({"Statement": {"Sid": "X", "Effect": "Deny", "NotAction": "sts:GetSessionToken",
            "Resource": "*", "Condition": {"boolifexists": {"AWS:MultiFactorAuthPresent": false}}}});
        let d = detect(&doc);
        let g = d.guard().unwrap_or_else(|| panic!("{:?}", d.status));
        assert_eq!(g.test, MfaTest::BoolIfExists);
        assert_eq!(g.form, GuardForm::NotAction);
    }

    #[test]
    fn deny_of_specific_actions_without_mfa_is_not_a_guard() {
        let doc = json!({"Statement": [{"Effect": "Deny", "Action": ["iam:DeleteUser"], "Resource": "*",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}}]});
        assert_eq!(detect(&doc).status, Status::NoGuard);
    }

    #[test]
    fn a_targeted_requirement_that_long_term_keys_skip_is_named_high() {
        let with = |op: &str, key: &str, value: Value| {
            json!({"Version": "2012-10-17", "Statement": [{"Sid": "NeedMfa", "Effect": "Deny",
                "Action": ["sts:AssumeRole", "iam:DeleteAccessKey"], "Resource": "*",
                "Condition": {op: {key: value}}}]})
        };
        let hole = |doc: &Value| {
            detect(doc)
                .findings
                .into_iter()
                .filter(|f| f.rule == TARGETED_HOLE_RULE)
                .collect::<Vec<_>>()
        };
        for (op, key, value) in [
            ("Bool", "aws:MultiFactorAuthPresent", json!("false")),
            ("StringEquals", "aws:MultiFactorAuthPresent", json!(false)),
            ("NumericGreaterThan", "aws:MultiFactorAuthAge", json!(3600)),
        ] {
            let doc = with(op, key, value);
            assert_eq!(detect(&doc).status, Status::NoGuard, "{op}");
            let found = hole(&doc);
            assert_eq!(found.len(), 1, "{op}: {found:?}");
            assert_eq!(found[0].severity, Severity::High);
            assert_eq!(found[0].statement, Some(0));
            assert!(
                found[0]
                    .message
                    .contains("requests signed with long-term access keys skip this requirement"),
                "{}",
                found[0].message
            );
            assert_eq!(targeted(&doc).len(), 1);
        }
        // Forms without the hole: nothing to report.
        for (op, key, value) in [
            ("BoolIfExists", "aws:MultiFactorAuthPresent", json!("false")),
            ("Null", "aws:MultiFactorAuthAge", json!("true")),
            (
                "NumericGreaterThanIfExists",
                "aws:MultiFactorAuthAge",
                json!(3600),
            ),
        ] {
            assert!(hole(&with(op, key, value)).is_empty(), "{op}");
        }
    }

    #[test]
    fn inverted_guard_is_recognised() {
        let doc = json!({"Statement": [{"Effect": "Deny", "Action": ["iam:EnableMFADevice", "iam:ListMFADevices"],
            "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]});
        assert_eq!(
            detect(&doc).guard().map(|g| g.form),
            Some(GuardForm::InvertedAction)
        );
    }

    #[test]
    fn policy_variables_without_the_2012_version_are_not_guessed_at() {
        let mut doc = json!({"Statement": [
            {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "arn:aws:iam::*:user/${aws:username}"},
            {"Effect": "Deny", "NotAction": "iam:GetUser", "Resource": "*",
             "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]});
        assert!(matches!(detect(&doc).status, Status::Ambiguous { .. }));
        assert!(guard(&doc).is_none());
        doc["Version"] = json!("2012-10-17");
        assert!(detect(&doc).guard().is_some());
    }

    #[test]
    fn two_guards_are_ambiguous() {
        let g = json!({"Effect": "Deny", "NotAction": "iam:*", "Resource": "*",
            "Condition": {"Null": {"aws:MultiFactorAuthAge": "true"}}});
        let doc = json!({"Statement": [g.clone(), g]});
        assert!(matches!(detect(&doc).status, Status::Ambiguous { .. }));
    }

    #[test]
    fn guard_with_not_resource_is_not_guessed_at() {
        let doc = json!({"Statement": [{"Effect": "Deny", "NotAction": "iam:*", "NotResource": "x",
            "Condition": {"Null": {"aws:MultiFactorAuthAge": "true"}}}]});
        assert!(matches!(detect(&doc).status, Status::Ambiguous { .. }));
    }
}
