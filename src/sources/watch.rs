//! The watch of a staged rollout (§12): after a wave is published, the refused calls of the
//! principals its changes reach, and whether the change caused each.
//!
//! [`before_publish`] is read right before the wave is published: every principal each change
//! reaches (users directly and through their groups, roles), with every other policy that reaches
//! it, from one `GetAccountAuthorizationDetails` read (the credential report is not read: the
//! watch needs no credential facts). [`look`] then reads the calls of those principals after the
//! publish from the same sources as evidence ([`crate::sources::evidence`]): CloudTrail event
//! history (users, by their active keys and their name; roles cannot be looked up there, which
//! the read says) or a trail's log files (users and roles). Each refused call (an authorisation
//! `errorCode`, [`crate::engine::evidence::is_refusal`]) is judged as if it had not been refused,
//! with the principal's old policy set and its new one ([`PolicySet::cause`]).
//!
//! Event history is read in us-east-1 (where IAM and STS events land) unless Regions are given:
//! the Regions of the users' keys would need the credential report, which the watch does not
//! read; the read says so in `partial`. A principal reached by several changes of the same wave
//! is judged with all of them changed together; a refusal is put to the change that says most
//! on its own.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::engine::evidence::{
    format_time, is_refusal, request, Caller, Cause, PolicySet, Record, Window,
};
use crate::engine::impact::PrincipalKind;
use crate::engine::plan::PlannedChange;
use crate::engine::policy;
use crate::engine::target::TargetKind;
use crate::sources::aws::{At, AwsStore, StoreError};
use crate::sources::evidence::{
    arn_parts, from_event_history, from_trail, regions, Cost, Gathered, Mode, Options, Target,
};
use crate::sources::principals::{CredentialFacts, Directory};
use crate::sources::trail;

/// A principal a published change reaches, with its policy set as it was before the publish.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Watched {
    pub change_id: String,
    pub account: String,
    pub arn: String,
    pub name: String,
    pub kind: PrincipalKind,
    /// Every other policy document that reaches the principal.
    pub others: Vec<Value>,
    /// The changed policy before and after the publish.
    pub before: Value,
    pub after: Value,
    /// Policies that reach the principal but could not be read (an explicit deny in them is
    /// not seen).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// A refused call of a watched principal.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    pub account: String,
    pub change_id: String,
    /// The principal's ARN.
    pub principal: String,
    /// The IAM action, or `eventSource:eventName` when it cannot be named.
    pub action: String,
    /// RFC 3339.
    pub time: String,
    pub error_code: String,
    pub event_id: String,
    pub region: String,
    pub cause: Cause,
    pub why: String,
}

/// What a look at CloudTrail found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Seen {
    /// Refused calls in the window, by time.
    pub refusals: Vec<Refusal>,
    /// Calls of the watched principals read in the window (refused or not).
    pub records: usize,
    /// Why the read is incomplete (what was not read): refusals may be missing.
    pub partial: Vec<String>,
    /// Why nothing could be read.
    pub error: Option<String>,
}

impl Refusal {
    /// Whether this refusal stops a rollout: caused by the change, or not to be told from a
    /// caused one (failing closed).
    pub fn stops_the_rollout(&self) -> bool {
        self.cause != Cause::NotCaused
    }
}

impl Seen {
    /// Whether a refusal was caused by the change.
    pub fn caused(&self) -> bool {
        self.refusals.iter().any(|r| r.cause == Cause::Caused)
    }
}

/// Read right before a wave is published: every principal each change of this account reaches
/// (users via groups too, roles), with every other policy reaching it. Changes of other
/// accounts and of files are left out.
pub async fn before_publish(
    store: &AwsStore,
    changes: &[PlannedChange],
) -> Result<Vec<Watched>, StoreError> {
    let account = store.account_id().to_string();
    let mine: Vec<&PlannedChange> = changes
        .iter()
        .filter(|c| c.target.account.as_deref() == Some(account.as_str()))
        .filter(|c| !matches!(c.target.kind, TargetKind::File { .. }))
        .collect();
    if mine.is_empty() {
        return Ok(Vec::new());
    }
    // The policies and who they reach, from the one paged read; no credential report.
    let (_, details) = store.fetch_with_details().await?;
    let dir = Directory::from_details(&details);
    let facts = CredentialFacts::unavailable(
        OffsetDateTime::now_utc(),
        "credentials are not read for a watch".into(),
    );
    let mut out = Vec::new();
    for c in mine {
        let parse = |what: &str, text: &str| {
            policy::parse(text)
                .map(|p| p.value)
                .map_err(|e| StoreError::Invalid {
                    at: At {
                        account: account.clone(),
                        target: c.target.to_string(),
                        operation: "watch",
                    },
                    detail: format!(
                        "the change's {what} document cannot be read ({e}); make the plan again"
                    ),
                })
        };
        let (before, after) = (parse("before", &c.before)?, parse("after", &c.after)?);
        for p in dir.principals(&c.target, &facts) {
            out.push(Watched {
                change_id: c.id.clone(),
                account: account.clone(),
                arn: p.arn,
                name: p.name,
                kind: p.kind,
                others: p.others,
                before: before.clone(),
                after: after.clone(),
                missing: p.missing,
            });
        }
    }
    Ok(out)
}

/// The principals to read calls of, once each.
fn targets(watched: &[Watched]) -> Vec<Target> {
    let mut seen = BTreeSet::new();
    watched
        .iter()
        .filter(|w| seen.insert(w.arn.clone()))
        .map(|w| Target {
            name: w.name.clone(),
            arn: w.arn.clone(),
            kind: w.kind,
        })
        .collect()
}

/// The calls of `targets`, from the source `opts` names.
async fn gather(
    store: &AwsStore,
    targets: &[Target],
    window: Window,
    opts: &Options,
    partial: &mut Vec<String>,
) -> Result<Gathered, String> {
    let mut cost = Cost::default();
    match &opts.mode {
        Mode::None => Err(
            "no CloudTrail source to watch: evidence is off (--evidence none); give --evidence auto (event history) or a trail's files (--evidence PATH)"
                .into(),
        ),
        Mode::Auto => {
            let Some(sdk) = store.sdk() else {
                return Err(
                    "no CloudTrail source to watch: the account was reached without an SDK configuration to read CloudTrail with"
                        .into(),
                );
            };
            let roles: Vec<&str> = targets
                .iter()
                .filter(|t| t.kind == PrincipalKind::Role)
                .map(|t| t.arn.as_str())
                .collect();
            if !roles.is_empty() {
                partial.push(format!(
                    "event history is not read for roles: {} not watched (give a trail's files with --evidence PATH)",
                    roles.join(", ")
                ));
            }
            if opts.regions.is_none() {
                partial.push(
                    "event history read in us-east-1 only: calls made in other Regions are not seen (name them with --evidence-regions)"
                        .into(),
                );
            }
            let regions = regions(opts, &BTreeSet::new());
            Ok(from_event_history(sdk, store, targets, regions, window, None, &mut cost).await)
        }
        Mode::Trail(path) => {
            let loc = trail::Location::parse(path);
            let account = store.account_id();
            Ok(from_trail(&loc, store.sdk(), account, targets, window, &mut cost).await)
        }
    }
}

/// How severe a judgement is: a caused refusal first, then an undecided one.
fn rank(c: Cause) -> u8 {
    match c {
        Cause::Caused => 0,
        Cause::Unknown => 1,
        Cause::NotCaused => 2,
    }
}

/// One principal's policy sets: every change of the wave that reaches it, together (the
/// judgement), and each on its own (which change a refusal is put to).
struct Judge<'a> {
    watched: Vec<&'a Watched>,
    joint: PolicySet,
    alone: Vec<PolicySet>,
    /// Policies that reach it but could not be read.
    missing: Vec<String>,
}

impl<'a> Judge<'a> {
    fn new(watched: Vec<&'a Watched>) -> Option<Judge<'a>> {
        let first = *watched.first()?;
        // Each entry's other policies hold the other changes' documents as they were before;
        // together, they are the changed ones.
        let others: Vec<Value> = first
            .others
            .iter()
            .filter(|d| !watched.iter().skip(1).any(|w| w.before == **d))
            .cloned()
            .collect();
        let changed: Vec<(&Value, &Value)> =
            watched.iter().map(|w| (&w.before, &w.after)).collect();
        let joint = PolicySet::joint(&others, &changed, &first.name);
        let alone = watched
            .iter()
            .map(|w| PolicySet::new(&w.others, &w.before, &w.after, &w.name))
            .collect();
        let missing: BTreeSet<String> = watched
            .iter()
            .flat_map(|w| w.missing.iter().cloned())
            .collect();
        Some(Judge {
            watched,
            joint,
            alone,
            missing: missing.into_iter().collect(),
        })
    }

    /// One refused record of the principal, judged.
    fn judge(&self, r: &Record, t: i64) -> Option<Refusal> {
        let first = *self.watched.first()?;
        let (partition, account) = arn_parts(&first.arn);
        let caller = Caller {
            name: &first.name,
            partition: &partition,
            account: &account,
        };
        let req = request(r, &caller);
        let (cause, mut why) = self.joint.cause(&req);
        // Put it to the change that, on its own, says most.
        let mut to = first;
        if self.watched.len() > 1 {
            let mut best = u8::MAX;
            for (w, set) in self.watched.iter().zip(&self.alone) {
                let rank = rank(set.cause(&req).0);
                if rank < best {
                    (best, to) = (rank, *w);
                }
            }
            let ids: Vec<&str> = self.watched.iter().map(|w| w.change_id.as_str()).collect();
            why.push_str(&format!(
                " (judged with the {} changes that reach it: {})",
                ids.len(),
                ids.join(", ")
            ));
        }
        if !self.missing.is_empty() {
            why.push_str(&format!(
                " (judged without {}, not readable; an explicit deny in them is not seen)",
                self.missing.join(", ")
            ));
        }
        let action = match &req.action {
            Ok(a) => a.clone(),
            Err(_) => format!(
                "{}:{}",
                r.event_source.as_deref().unwrap_or("?"),
                r.event_name.as_deref().unwrap_or("?")
            ),
        };
        Some(Refusal {
            account: to.account.clone(),
            change_id: to.change_id.clone(),
            principal: to.arn.clone(),
            action,
            time: format_time(t),
            error_code: r.error_code.clone().unwrap_or_default(),
            event_id: r.event_id.clone().unwrap_or_default(),
            region: r.aws_region.clone().unwrap_or_default(),
            cause,
            why,
        })
    }
}

/// The refused calls of `watched` principals with `eventTime` in `[since, until]` (epoch
/// seconds), judged against their old and new policy sets, read the way `opts` says.
pub async fn look(
    store: &AwsStore,
    watched: &[Watched],
    since: i64,
    until: i64,
    opts: &Options,
) -> Seen {
    let mut seen = Seen::default();
    if watched.is_empty() {
        return seen;
    }
    let window = Window {
        start: since,
        end: until,
        days: ((until - since).max(0) + 86_399) / 86_400,
    };
    let targets = targets(watched);
    let g = match gather(store, &targets, window, opts, &mut seen.partial).await {
        Ok(g) => g,
        Err(e) => {
            seen.error = Some(e);
            return seen;
        }
    };
    if let Some(e) = g.error {
        seen.error = Some(format!(
            "no CloudTrail calls could be read in account {}: {e}",
            store.account_id()
        ));
        return seen;
    }
    let mut by_arn: BTreeMap<&str, Vec<&Watched>> = BTreeMap::new();
    for w in watched {
        by_arn.entry(w.arn.as_str()).or_default().push(w);
    }
    let judges: BTreeMap<&str, Judge<'_>> = by_arn
        .into_iter()
        .filter_map(|(arn, ws)| Judge::new(ws).map(|j| (arn, j)))
        .collect();
    let partial: BTreeSet<String> = g.partial.into_values().flatten().collect();
    seen.partial.extend(partial);
    let mut ids: BTreeSet<String> = BTreeSet::new();
    let mut untimed = 0;
    for (arn, records) in &g.records {
        let Some(judge) = judges.get(arn.as_str()) else {
            continue;
        };
        for r in records {
            if r.event_id
                .as_ref()
                .is_some_and(|id| !ids.insert(id.clone()))
            {
                continue;
            }
            let Some(t) = r.time() else {
                untimed += 1;
                continue;
            };
            if !window.contains(t) {
                continue;
            }
            seen.records += 1;
            if !r.error_code.as_deref().is_some_and(is_refusal) {
                continue;
            }
            seen.refusals.extend(judge.judge(r, t));
        }
    }
    if untimed > 0 {
        seen.partial.push(format!(
            "{untimed} record(s) without a readable eventTime were not judged"
        ));
    }
    seen.refusals.sort_by(|a, b| {
        a.time
            .cmp(&b.time)
            .then_with(|| a.event_id.cmp(&b.event_id))
    });
    seen
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    const ACCOUNT: &str = "111122223333";

    fn grant(id: &str) -> Value {
        json!({"Version": "2012-10-17", "Id": id, "Statement": [
            {"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}]})
    }

    fn empty() -> Value {
        json!({"Version": "2012-10-17", "Statement": []})
    }

    /// `nightly` as reached by one change, with `others` beside the changed policy.
    fn watched(change: &str, others: Vec<Value>, before: Value, after: Value) -> Watched {
        Watched {
            change_id: change.into(),
            account: ACCOUNT.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:user/nightly"),
            name: "nightly".into(),
            kind: PrincipalKind::User,
            others,
            before,
            after,
            missing: Vec::new(),
        }
    }

    fn refused_describe() -> Record {
        Record::parse(
            &json!({
                "userIdentity": {"type": "IAMUser",
                    "arn": format!("arn:aws:iam::{ACCOUNT}:user/nightly"), "accountId": ACCOUNT,
                    "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": "nightly"},
                "eventTime": "2026-12-06T12:00:00Z", "eventSource": "ec2.amazonaws.com",
                "eventName": "DescribeInstances", "awsRegion": "eu-west-1",
                "errorCode": "Client.UnauthorizedOperation", "eventID": "e-1"
            })
            .to_string(),
        )
        .unwrap()
    }

    #[test]
    fn two_changes_reaching_one_principal_are_judged_together() {
        // Two policies grant the call; the wave's two changes remove both grants. Each change
        // alone sees the other's old grant: only together do they refuse it.
        let (a, b) = (grant("a"), grant("b"));
        let keep = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]});
        let ws = [
            watched("c-a", vec![keep.clone(), b.clone()], a.clone(), empty()),
            watched("c-b", vec![keep.clone(), a.clone()], b.clone(), empty()),
        ];
        let r = refused_describe();
        let t = r.time().unwrap();
        let judge = Judge::new(ws.iter().collect()).unwrap();
        let refusal = judge.judge(&r, t).unwrap();
        assert_eq!(refusal.cause, Cause::Caused, "{refusal:#?}");
        assert!(
            refusal.why.contains("2 changes that reach it: c-a, c-b"),
            "{}",
            refusal.why
        );
        assert_eq!(refusal.action, "ec2:DescribeInstances");
        assert_eq!(refusal.region, "eu-west-1");
        assert_eq!(refusal.time, "2026-12-06T12:00:00Z");
        // One change alone is not enough.
        let one = Judge::new(vec![&ws[0]]).unwrap().judge(&r, t).unwrap();
        assert_eq!(one.cause, Cause::NotCaused, "{one:#?}");
        assert_eq!(one.change_id, "c-a");
    }
}
