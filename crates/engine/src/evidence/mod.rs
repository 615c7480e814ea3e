//! Evidence (§11): what a principal actually did, from CloudTrail records, and which of those
//! calls the change would refuse.
//!
//! Each [`Record`] becomes a [`Request`]: the IAM action ([`actions::map`]: event source prefix
//! and event name, with a data table for the names that differ), the resources the record names,
//! the MFA situation (`userIdentity.sessionContext.attributes.mfaAuthenticated`; absent on a
//! long-term key, which is the "key missing" case `BoolIfExists` sees) with an approximate MFA age
//! from the session's `creationDate`, and whether the call was already refused (an access-denied
//! `errorCode`). Every distinct request is evaluated once with the principal's whole policy set,
//! before and after the change, with AWS's combining logic for identity policies (an explicit deny
//! in any policy wins, else an allow in any policy allows): [`CallVerdict`].
//!
//! Other error codes (`NoSuchEntity`, `ValidationError`, …) come after authorisation: such a call
//! was allowed, and is evaluated like a successful one.
//!
//! Pure: records come in parsed, the window comes in as epoch seconds computed by the caller.

pub mod actions;
pub mod judge;
pub mod record;
pub mod refusal;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::effect::combine::{bits, combine};
use crate::effect::{Context, Evaluator, View};

pub use actions::{map, Mapped};
pub use record::{format_time, parse_time, Record};
pub use refusal::Cause;

/// Where evidence came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// CloudTrail event history (`LookupEvents`): management events, 90 days at most.
    EventHistory,
    /// CloudTrail log files of a trail (a folder or an S3 prefix): data events too.
    TrailFiles,
    /// Nothing but the credential report could be read (today's rule).
    CredentialReport,
    /// No evidence was asked for.
    None,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::EventHistory => "CloudTrail event history",
            Source::TrailFiles => "CloudTrail log files",
            Source::CredentialReport => "the credential report",
            Source::None => "no evidence",
        }
    }

    /// Whether calls were read from this source.
    pub fn has_calls(self) -> bool {
        matches!(self, Source::EventHistory | Source::TrailFiles)
    }
}

/// What the change does to one recorded call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallVerdict {
    /// Allowed before, refused after.
    NewlyDenied,
    /// Could not be decided (why is in [`Evidence::notes`]).
    Unknown,
    /// Refused already (an access-denied error code): no loss.
    AlreadyRefused,
    /// Still allowed after the change.
    StillAllowed,
}

impl CallVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            CallVerdict::NewlyDenied => "newly-denied",
            CallVerdict::Unknown => "unknown",
            CallVerdict::AlreadyRefused => "already-refused",
            CallVerdict::StillAllowed => "still-allowed",
        }
    }
}

/// The MFA situation of a recorded call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mfa {
    /// `mfaAuthenticated` true; the approximate age in seconds when the session's
    /// `creationDate` was recorded.
    Present(Option<i64>),
    /// `mfaAuthenticated` false.
    Absent,
    /// No session attributes on a long-term key: `aws:MultiFactorAuthPresent` is missing.
    KeyMissing,
    /// Temporary credentials without session attributes: `false` or missing.
    AbsentOrMissing,
}

/// A recorded call as a request to evaluate.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Request {
    /// The action, or why none can be named.
    pub action: Result<String, String>,
    /// Not decided by identity policies (sign-in, `sts:GetCallerIdentity`).
    pub no_policy: bool,
    pub resources: Vec<String>,
    pub mfa: Mfa,
    /// Refused already (access denied).
    pub refused: bool,
}

/// Whether a record's `errorCode` is a refusal by authorisation (`AccessDenied`,
/// `Client.UnauthorizedOperation`, `AccessDeniedException`, `UnauthorizedAccess`, …).
pub fn is_refusal(code: &str) -> bool {
    let c = code.to_ascii_lowercase();
    c.contains("accessdenied") || c.contains("unauthorized") || c.contains("forbidden")
}

/// Who the calls are evaluated for: the values policies see.
#[derive(Clone, Debug)]
pub struct Caller<'a> {
    /// `${aws:username}` (the user's or role's name).
    pub name: &'a str,
    pub partition: &'a str,
    pub account: &'a str,
}

/// Resources named by a record: its `resources` ARNs; else from the request parameters (S3
/// bucket and key, IAM user name or MFA serial); else an IAM call with no user name acts on the
/// caller's own user ("If you do not specify a user name, IAM determines the user name
/// implicitly based on the AWS access key ID", IAM API reference); else `*`.
fn resources(r: &Record, action: &str, caller: &Caller<'_>) -> Vec<String> {
    let named: Vec<&record::RecordResource> = r.resources.iter().flatten().collect();
    // A data event on an object names the object and its bucket; the object action is
    // authorised on the object.
    let objects = action.to_ascii_lowercase().starts_with("s3:")
        && action.contains("Object")
        && named
            .iter()
            .any(|x| x.kind.as_deref() == Some("AWS::S3::Object"));
    let mut out: BTreeSet<String> = named
        .iter()
        .filter(|x| !objects || x.kind.as_deref() == Some("AWS::S3::Object"))
        .filter_map(|x| x.arn.clone())
        .filter(|a| !a.is_empty())
        .collect();
    if !out.is_empty() {
        return out.into_iter().collect();
    }
    let params = r.request_parameters.as_ref();
    let param = |k: &str| params.and_then(|p| p.get(k)).and_then(Value::as_str);
    let service = action.split(':').next().unwrap_or("").to_ascii_lowercase();
    let iam = |rest: String| format!("arn:{}:iam::{}:{rest}", caller.partition, caller.account);
    match service.as_str() {
        "s3" => {
            if let Some(bucket) = param("bucketName") {
                match param("key") {
                    Some(key) => {
                        out.insert(format!("arn:{}:s3:::{bucket}/{key}", caller.partition))
                    }
                    None => out.insert(format!("arn:{}:s3:::{bucket}", caller.partition)),
                };
            }
        }
        "iam" => {
            if let Some(serial) = param("serialNumber").filter(|s| s.starts_with("arn:")) {
                out.insert(serial.to_string());
            } else if let Some(user) = param("userName") {
                out.insert(iam(format!("user/{user}")));
            } else if r.identity_type() == "IAMUser" {
                out.insert(iam(format!("user/{}", caller.name)));
            }
        }
        _ => {}
    }
    if out.is_empty() {
        out.insert("*".into());
    }
    out.into_iter().collect()
}

/// The request a record stands for.
pub fn request(r: &Record, caller: &Caller<'_>) -> Request {
    let mapped = match (r.event_source.as_deref(), r.event_name.as_deref()) {
        (Some(s), Some(n)) => map(s, n),
        _ => Mapped::Unknown("the record names no event source or event name".into()),
    };
    let (action, no_policy) = match mapped {
        Mapped::Action(a) => (Ok(a), false),
        Mapped::NoPolicy(why) => (Err(why), true),
        Mapped::Unknown(why) => (Err(why), false),
    };
    let resources = match &action {
        Ok(a) => resources(r, a, caller),
        Err(_) => Vec::new(),
    };
    let mfa = match r.mfa_authenticated() {
        Some(true) => Mfa::Present(r.session_age()),
        Some(false) => Mfa::Absent,
        None => match r.access_key_id() {
            Some(k) if k.starts_with("ASIA") => Mfa::AbsentOrMissing,
            _ => Mfa::KeyMissing,
        },
    };
    Request {
        action,
        no_policy,
        resources,
        mfa,
        refused: r.error_code.as_deref().is_some_and(is_refusal),
    }
}

/// The `aws:MultiFactorAuthAge` thresholds any document tests (numbers under a `Numeric…`
/// operator, in Allow or Deny statements).
fn age_thresholds(docs: &[&Value]) -> Vec<f64> {
    fn walk(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Object(map) => {
                for (k, x) in map {
                    if k.eq_ignore_ascii_case("aws:MultiFactorAuthAge") {
                        let items: Vec<&Value> = match x {
                            Value::Array(a) => a.iter().collect(),
                            one => vec![one],
                        };
                        for i in items {
                            let n = match i {
                                Value::String(s) => s.trim().parse::<f64>().ok(),
                                Value::Number(n) => n.as_f64(),
                                _ => None,
                            };
                            if let Some(n) = n {
                                out.push(n);
                            }
                        }
                    } else {
                        walk(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for d in docs {
        walk(d, &mut out);
    }
    out
}

/// The evaluator contexts of a request's MFA situation. An age is placed with the modelled
/// ages (`MfaPresent`: 120 s; `MfaStale`: very old) when every threshold the policies test
/// sees it on the same side; otherwise it cannot be decided.
fn contexts(mfa: Mfa, thresholds: &[f64]) -> Result<Vec<Context>, String> {
    let same_side = |age: f64, model: f64| {
        thresholds
            .iter()
            .all(|t| (age > *t) == (model > *t) && (age >= *t) == (model >= *t))
    };
    match mfa {
        Mfa::Absent => Ok(vec![Context::MfaAbsent]),
        Mfa::KeyMissing => Ok(vec![Context::MfaKeyMissing]),
        Mfa::AbsentOrMissing => Ok(vec![Context::MfaAbsent, Context::MfaKeyMissing]),
        Mfa::Present(_) if thresholds.is_empty() => Ok(vec![Context::MfaPresent]),
        Mfa::Present(None) => Err(
            "the session's creation time is not recorded, and a policy tests the MFA age".into(),
        ),
        Mfa::Present(Some(age)) => {
            let age = age as f64;
            let stale: f64 = crate::effect::STALE_MFA_AGE.parse().unwrap_or(1e9);
            if same_side(age, 120.0) {
                Ok(vec![Context::MfaPresent])
            } else if same_side(age, stale) {
                Ok(vec![Context::MfaStale])
            } else {
                Err(format!(
                    "the MFA age (about {age} s, from the session's creation time) is between the limits the policies test"
                ))
            }
        }
    }
}

/// A principal's policy set, compiled once: every other policy that reaches it, and the changed
/// policies before and after.
pub struct PolicySet {
    others: Vec<Evaluator>,
    before: Vec<Evaluator>,
    after: Vec<Evaluator>,
    thresholds: Vec<f64>,
}

impl PolicySet {
    pub fn new(others: &[Value], before: &Value, after: &Value, username: &str) -> PolicySet {
        PolicySet::joint(others, &[(before, after)], username)
    }

    /// The set when several of the principal's policies change at once: each `(before, after)`.
    pub fn joint(others: &[Value], changed: &[(&Value, &Value)], username: &str) -> PolicySet {
        let mut docs: Vec<&Value> = others.iter().collect();
        for (b, a) in changed {
            docs.push(b);
            docs.push(a);
        }
        let compile = |d: &Value| Evaluator::new(d, username);
        PolicySet {
            others: others.iter().map(compile).collect(),
            before: changed.iter().map(|(b, _)| compile(b)).collect(),
            after: changed.iter().map(|(_, a)| compile(a)).collect(),
            thresholds: age_thresholds(&docs),
        }
    }

    /// The decision sets `(before, after)` of one action on one resource in one context, and
    /// the reasons of any unknown.
    fn cell(&self, action: &str, resource: &str, ctx: Context) -> (u8, u8, Vec<String>) {
        let mut reasons = Vec::new();
        let mut eval = |e: &Evaluator| {
            let ev = e.evaluate(action, resource, ctx, View::Alone);
            reasons.extend(ev.unknown);
            bits(&ev.possible)
        };
        let mut sets: Vec<u8> = self.others.iter().map(&mut eval).collect();
        let unchanged = sets.len();
        sets.extend(self.before.iter().map(&mut eval));
        let before = combine(&sets);
        sets.truncate(unchanged);
        sets.extend(self.after.iter().map(&mut eval));
        let after = combine(&sets);
        (before, after, reasons)
    }
}

/// The time window of the evidence (epoch seconds, inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: i64,
    pub days: i64,
}

impl Window {
    /// The `days` days before `now`.
    pub fn days_before(now: i64, days: i64) -> Window {
        Window {
            start: now - days * 86_400,
            end: now,
            days,
        }
    }

    pub fn contains(&self, t: i64) -> bool {
        (self.start..=self.end).contains(&t)
    }
}

/// Calls of one action with one verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionCount {
    pub action: String,
    pub calls: usize,
    pub verdict: CallVerdict,
}

/// What the evidence says of one principal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub source: Source,
    pub window_days: i64,
    /// Calls in the window.
    pub calls: usize,
    pub newly_denied: usize,
    pub unknown: usize,
    #[serde(default)]
    pub already_refused: usize,
    /// Not everything could be read: the counts are a lower bound.
    pub partial: bool,
    /// Every action with its calls and verdict, most calls first.
    pub actions: Vec<ActionCount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// Calls that would fail: `[definite, definite + unknown]`.
    pub bracket: [usize; 2],
    /// How the calls were made ("with the access key alone", or ": 21 in MFA sessions, 3 with
    /// the access key alone").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub how: String,
    /// Why calls are unknown, and why the read is partial.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Evidence {
    /// No calls read, and why (`source` says what was tried).
    pub fn none(source: Source, window_days: i64, why: Option<String>) -> Evidence {
        Evidence {
            source,
            window_days,
            calls: 0,
            newly_denied: 0,
            unknown: 0,
            already_refused: 0,
            partial: why.is_some() && source.has_calls(),
            actions: Vec::new(),
            first_seen: None,
            last_seen: None,
            bracket: [0, 0],
            how: String::new(),
            notes: why.into_iter().collect(),
        }
    }

    /// Whether the evidence decides the verdict on its own: calls were read, all of them, and
    /// none is undecided.
    pub fn decisive(&self) -> bool {
        self.source.has_calls() && !self.partial && self.calls > 0 && self.unknown == 0
    }

    /// Whether `apply --yes` must hold back on this evidence: `Some(true)` on calls that would
    /// (or may) fail, `Some(false)` when the evidence shows every call staying allowed, `None`
    /// when it says nothing (today's rule).
    pub fn holds(&self) -> Option<bool> {
        if self.newly_denied > 0 || (self.source.has_calls() && self.unknown > 0) {
            Some(true)
        } else if self.decisive() {
            Some(false)
        } else {
            None
        }
    }

    /// The most-called actions with `verdict`, as `action ×n`.
    pub fn top(&self, verdict: CallVerdict, n: usize) -> Vec<String> {
        let mut of: Vec<&ActionCount> = self
            .actions
            .iter()
            .filter(|a| a.verdict == verdict)
            .collect();
        of.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.action.cmp(&b.action)));
        let mut out: Vec<String> = of
            .iter()
            .take(n)
            .map(|a| format!("{} \u{d7}{}", a.action, a.calls))
            .collect();
        if of.len() > n {
            out.push("\u{2026}".into());
        }
        out
    }

    /// The one line an operator reads, e.g. "135 calls in 90 days with the access key alone;
    /// 135 would be refused (ec2:DescribeInstances ×130, s3:ListAllMyBuckets ×5)".
    pub fn line(&self) -> String {
        let days = if self.window_days == 1 {
            "1 day".to_string()
        } else {
            format!("{} days", self.window_days)
        };
        if !self.source.has_calls() {
            return match self.notes.first() {
                Some(n) => format!("no evidence of calls ({n})"),
                None => "no evidence of calls".into(),
            };
        }
        let calls = if self.calls == 1 { "call" } else { "calls" };
        let mut s = format!("{} {calls} in {days}", self.calls);
        if !self.how.is_empty() {
            if !self.how.starts_with(':') {
                s.push(' ');
            }
            s.push_str(&self.how);
        }
        s.push_str(&format!(" ({})", self.source.label()));
        if self.newly_denied > 0 {
            s.push_str(&format!(
                "; {} would be refused ({})",
                self.newly_denied,
                self.top(CallVerdict::NewlyDenied, 4).join(", ")
            ));
        }
        if self.unknown > 0 {
            s.push_str(&format!(
                "; {} may be refused ({})",
                self.unknown,
                self.top(CallVerdict::Unknown, 4).join(", ")
            ));
        }
        if self.newly_denied == 0 && self.unknown == 0 && self.calls > 0 {
            let kept = self.top(CallVerdict::StillAllowed, 3);
            if kept.is_empty() {
                s.push_str("; none would be refused");
            } else {
                s.push_str(&format!("; none would be refused ({})", kept.join(", ")));
            }
        }
        if self.already_refused > 0 {
            s.push_str(&format!("; {} refused already", self.already_refused));
        }
        if self.partial {
            s.push_str("; partial read");
            if let Some(n) = self.notes.iter().find(|n| n.starts_with("partial")) {
                s.push_str(&format!(" ({n})"));
            }
        }
        s
    }
}

/// The evidence of one principal from its records: every record in `window` is turned into a
/// request, each distinct request judged once with `set`.
pub fn assess(
    set: &PolicySet,
    caller: &Caller<'_>,
    records: &[&Record],
    window: Window,
    source: Source,
    partial: Option<String>,
) -> Evidence {
    let mut distinct: BTreeMap<Request, usize> = BTreeMap::new();
    let (mut first, mut last): (Option<i64>, Option<i64>) = (None, None);
    let mut how: BTreeMap<&'static str, usize> = BTreeMap::new();
    for r in records {
        let Some(t) = r.time() else { continue };
        if !window.contains(t) {
            continue;
        }
        first = Some(first.map_or(t, |f| f.min(t)));
        last = Some(last.map_or(t, |l| l.max(t)));
        let req = request(r, caller);
        let channel = match req.mfa {
            Mfa::KeyMissing => "with the access key alone",
            Mfa::Present(_) => "in MFA sessions",
            Mfa::Absent | Mfa::AbsentOrMissing => "without MFA",
        };
        *how.entry(channel).or_default() += 1;
        *distinct.entry(req).or_default() += 1;
    }
    let mut by_action: BTreeMap<(String, CallVerdict), usize> = BTreeMap::new();
    let mut notes: BTreeSet<String> = BTreeSet::new();
    let (mut calls, mut newly, mut unknown, mut refused) = (0, 0, 0, 0);
    for (req, n) in &distinct {
        let (verdict, why) = set.judge(req);
        calls += n;
        match verdict {
            CallVerdict::NewlyDenied => newly += n,
            CallVerdict::Unknown => unknown += n,
            CallVerdict::AlreadyRefused => refused += n,
            CallVerdict::StillAllowed => {}
        }
        if let Some(w) = why {
            notes.insert(w);
        }
        let name = match &req.action {
            Ok(a) => a.clone(),
            Err(_) if req.no_policy => "(sign-in or no permission needed)".into(),
            Err(_) => "(unknown action)".into(),
        };
        *by_action.entry((name, verdict)).or_default() += n;
    }
    let mut actions: Vec<ActionCount> = by_action
        .into_iter()
        .map(|((action, verdict), calls)| ActionCount {
            action,
            calls,
            verdict,
        })
        .collect();
    actions.sort_by(|a, b| {
        b.calls
            .cmp(&a.calls)
            .then_with(|| a.verdict.cmp(&b.verdict))
            .then_with(|| a.action.cmp(&b.action))
    });
    let mut ways: Vec<(&str, usize)> = how.into_iter().collect();
    ways.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let how = match ways.as_slice() {
        [] => String::new(),
        [(one, _)] => one.to_string(),
        _ => format!(
            ": {}",
            ways.iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut notes: Vec<String> = notes.into_iter().collect();
    if let Some(p) = &partial {
        notes.insert(0, format!("partial: {p}"));
    }
    Evidence {
        source,
        window_days: window.days,
        calls,
        newly_denied: newly,
        unknown,
        already_refused: refused,
        partial: partial.is_some(),
        actions,
        first_seen: first.map(format_time),
        last_seen: last.map(format_time),
        bracket: [newly, newly + unknown],
        how,
        notes,
    }
}

#[cfg(test)]
mod tests;
