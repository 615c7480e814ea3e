//! Evidence for the impact of an account's changes (§11): read what the affected principals did
//! (CloudTrail event history, or a trail's log files), judge each recorded call with the pure
//! engine ([`crate::engine::evidence`]) and let the verdicts follow
//! ([`crate::engine::impact::with_evidence`]).
//!
//! Only principals whose verdict from the credentials is not `unaffected` are looked up: they are
//! the ones evidence can clear or confirm. Event history covers IAM users (by their active keys
//! and user name); trail files cover users and roles. What could not be read leaves the
//! verdict from the credentials, saying why.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

use crate::engine::evidence::{self, Caller, Evidence, PolicySet, Record, Source, Window};
use crate::engine::impact::{with_evidence, Credentials, Impact, PrincipalKind, Verdict};
use crate::engine::plan::Item;
use crate::engine::policy;
use crate::engine::target::TargetKind;
use crate::sources::aws::cloudtrail::{self, Progress};
use crate::sources::principals::{CredentialFacts, Directory};
use crate::sources::trail;

/// The actions reading evidence calls (also in `docs/permissions/*.json`).
pub const EVIDENCE_ACTIONS: &[&str] = &["cloudtrail:LookupEvents", "iam:ListAccessKeys"];

/// The most days event history keeps.
pub const MAX_EVENT_HISTORY_DAYS: i64 = 90;

/// Where evidence comes from (`--evidence`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    /// Event history when an account is planned; nothing for files.
    #[default]
    Auto,
    None,
    /// A trail's log files: a folder or `s3://bucket/prefix`.
    Trail(String),
}

/// `--evidence`, `--evidence-days`, `--evidence-regions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub mode: Mode,
    pub days: i64,
    /// Regions to read event history in; `None`: us-east-1 plus those the credential report
    /// names.
    pub regions: Option<Vec<String>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::Auto,
            days: MAX_EVENT_HISTORY_DAYS,
            regions: None,
        }
    }
}

impl Options {
    /// Checks the options together: event history keeps 90 days at most.
    pub fn new(mode: &str, days: i64, regions: Option<Vec<String>>) -> Result<Options, String> {
        let mode = match mode.trim() {
            "auto" | "" => Mode::Auto,
            "none" => Mode::None,
            path => Mode::Trail(path.to_string()),
        };
        if let Mode::Trail(path) = &mode {
            // A trail folder that is not there would read as "no calls": refuse it now.
            if !path.starts_with("s3://") && !std::path::Path::new(path).is_dir() {
                return Err(format!(
                    "{path}: no such folder; give a trail's log folder (the one holding AWSLogs/), s3://bucket/prefix, `auto` or `none`"
                ));
            }
        }
        if days < 1 {
            return Err(format!("--evidence-days {days}: must be at least 1"));
        }
        if days > MAX_EVENT_HISTORY_DAYS && mode == Mode::Auto {
            return Err(format!(
                "--evidence-days {days}: CloudTrail event history keeps {MAX_EVENT_HISTORY_DAYS} days; read a trail's files (--evidence PATH) for longer"
            ));
        }
        let regions = regions.map(|rs| {
            rs.iter()
                .flat_map(|r| r.split(','))
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect::<Vec<_>>()
        });
        if let Some(rs) = &regions {
            if let Some(bad) = rs.iter().find(|r| {
                !r.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            }) {
                return Err(format!("--evidence-regions: {bad:?} is not a Region name"));
            }
        }
        Ok(Options {
            mode,
            days,
            regions,
        })
    }
}

/// What reading evidence cost in one account (for progress and `docs/performance.md`).
#[derive(Debug, Clone, Default)]
pub struct Cost {
    pub lookups: usize,
    pub pages: usize,
    pub throttled: usize,
    pub keys: usize,
    pub files: usize,
    pub seconds: f64,
}

/// A principal evidence is read for (also the principals a watch reads calls of).
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) kind: PrincipalKind,
}

/// Whether the credential report leaves room for calls in the last `days` days: a console
/// password (its last use is often not recorded) or an access key used in them.
fn may_have_called(c: &Credentials, days: i64) -> bool {
    let Credentials::User(u) = c else {
        return false;
    };
    let within = |d: Option<i64>| d.is_some_and(|d| d <= days);
    (u.password_enabled && u.password_last_used.days_ago.is_none_or(|d| d <= days))
        || u.access_keys
            .iter()
            .any(|k| k.active && within(k.last_used.days_ago))
}

/// One change whose impact evidence may change: its target, the documents before and after, and
/// its impact (changed in place).
pub struct Subject<'a> {
    pub target: &'a crate::engine::target::Target,
    pub before: &'a str,
    pub after: &'a str,
    pub impact: &'a mut Impact,
}

/// The account changes of `items` that have an impact.
pub fn subjects(items: &mut [Item]) -> Vec<Subject<'_>> {
    items
        .iter_mut()
        .filter_map(|i| match i {
            Item::Change(c) if !matches!(c.target.kind, TargetKind::File { .. }) => {
                let c = &mut **c;
                let impact = c.impact.as_mut()?;
                Some(Subject {
                    target: &c.target,
                    before: &c.before,
                    after: &c.after,
                    impact,
                })
            }
            _ => None,
        })
        .collect()
}

/// The principals of the account's changes evidence is read for: those whose verdict evidence
/// can change (not `unaffected`), and users the credentials leave unaffected but who may have
/// made calls in the window (so that "unaffected" rests on their calls too).
fn targets(subjects: &[Subject<'_>], days: i64) -> Vec<Target> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for sub in subjects {
        for p in &sub.impact.principals {
            let wanted = p.verdict != Verdict::Unaffected || may_have_called(&p.credentials, days);
            if wanted && seen.insert(p.arn.clone()) {
                out.push(Target {
                    name: p.name.clone(),
                    arn: p.arn.clone(),
                    kind: p.kind,
                });
            }
        }
    }
    out
}

/// Records per principal ARN, the source and why the read is partial (per principal).
pub(crate) struct Gathered {
    pub(crate) source: Source,
    pub(crate) records: BTreeMap<String, Vec<Record>>,
    pub(crate) partial: BTreeMap<String, Vec<String>>,
    /// Why nothing could be read.
    pub(crate) error: Option<String>,
}

pub(crate) async fn from_event_history(
    sdk: &aws_types::SdkConfig,
    store: &crate::sources::aws::AwsStore,
    targets: &[Target],
    regions: Vec<String>,
    window: Window,
    progress: Option<Progress>,
    cost: &mut Cost,
) -> Gathered {
    let mut wanted = Vec::new();
    let mut partial: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut arn_of = BTreeMap::new();
    for t in targets.iter().filter(|t| t.kind == PrincipalKind::User) {
        let keys = match store.iam().active_access_keys(&t.name).await {
            Ok(k) => k,
            Err(e) => {
                // The user name still finds every call the user made.
                partial.entry(t.arn.clone()).or_default().push(format!(
                    "iam:ListAccessKeys for {} failed ({})",
                    t.name,
                    e.text()
                ));
                Vec::new()
            }
        };
        cost.keys += keys.len();
        arn_of.insert(t.name.clone(), t.arn.clone());
        wanted.push(cloudtrail::Wanted {
            user: t.name.clone(),
            keys,
        });
    }
    let account = store.account_id();
    let read = cloudtrail::read(sdk, account, &wanted, &regions, window, progress).await;
    cost.lookups += read.lookups;
    cost.pages += read.pages;
    cost.throttled += read.throttled;
    let mut records = BTreeMap::new();
    for (user, r) in read.users {
        let Some(arn) = arn_of.get(&user) else {
            continue;
        };
        if !r.partial.is_empty() {
            partial.entry(arn.clone()).or_default().extend(r.partial);
        }
        records.insert(arn.clone(), r.records);
    }
    Gathered {
        source: Source::EventHistory,
        records,
        partial,
        error: read.error,
    }
}

pub(crate) async fn from_trail(
    loc: &trail::Location,
    sdk: Option<&aws_types::SdkConfig>,
    account: &str,
    targets: &[Target],
    window: Window,
    cost: &mut Cost,
) -> Gathered {
    let mut wanted = trail::Wanted::default();
    let mut arn_of = BTreeMap::new();
    for t in targets {
        match t.kind {
            PrincipalKind::User => {
                wanted.users.insert(t.name.clone());
                arn_of.insert(format!("user:{}", t.name), t.arn.clone());
            }
            PrincipalKind::Role => {
                wanted.roles.insert(t.arn.clone());
                arn_of.insert(t.arn.clone(), t.arn.clone());
            }
        }
    }
    let read = trail::read(loc, sdk, account, &wanted, window).await;
    cost.files += read.files;
    let mut records = BTreeMap::new();
    for (owner, recs) in read.records {
        if let Some(arn) = arn_of.get(&owner) {
            records.insert(arn.clone(), recs);
        }
    }
    let mut partial = BTreeMap::new();
    if !read.partial.is_empty() {
        let n = read.partial.len();
        let first = read.partial.first().cloned().unwrap_or_default();
        let why = format!("{n} log file(s) could not be read, e.g. {first}");
        for t in targets {
            partial.insert(t.arn.clone(), vec![why.clone()]);
        }
    }
    Gathered {
        source: Source::TrailFiles,
        records,
        partial,
        error: read.error,
    }
}

/// The Regions event history is read in: `--evidence-regions`, or us-east-1 (where IAM and STS
/// events land) plus the Regions the credential report names for the users' keys.
pub(crate) fn regions(opts: &Options, report: &BTreeSet<String>) -> Vec<String> {
    match &opts.regions {
        Some(r) => r.clone(),
        None => {
            let mut out: BTreeSet<String> = report.clone();
            out.insert("us-east-1".into());
            out.into_iter().collect()
        }
    }
}

/// Reads evidence for the changes of one account and lets each affected principal's verdict
/// follow it. Returns warnings for the operator and what the read cost.
pub async fn attach(
    store: &crate::sources::aws::AwsStore,
    dir: &Directory,
    facts: &CredentialFacts,
    mut subjects: Vec<Subject<'_>>,
    opts: &Options,
    progress: Option<Progress>,
) -> (Vec<String>, Cost) {
    let mut cost = Cost::default();
    let started = std::time::Instant::now();
    let targets = targets(&subjects, opts.days);
    if targets.is_empty() || opts.mode == Mode::None {
        return (Vec::new(), cost);
    }
    let account = store.account_id();
    let sdk = store.sdk();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let window = Window::days_before(now, opts.days);
    let gathered = match &opts.mode {
        Mode::None => return (Vec::new(), cost),
        Mode::Auto => match sdk {
            Some(sdk) => {
                let users: BTreeSet<&str> = targets.iter().map(|t| t.name.as_str()).collect();
                let report: BTreeSet<String> = users
                    .iter()
                    .filter_map(|u| facts.key_regions.get(*u))
                    .flatten()
                    .cloned()
                    .collect();
                from_event_history(
                    sdk,
                    store,
                    &targets,
                    regions(opts, &report),
                    window,
                    progress,
                    &mut cost,
                )
                .await
            }
            None => Gathered {
                source: Source::EventHistory,
                records: BTreeMap::new(),
                partial: BTreeMap::new(),
                error: Some(
                    "the account was reached without an SDK configuration to read CloudTrail with"
                        .into(),
                ),
            },
        },
        Mode::Trail(path) => {
            let loc = trail::Location::parse(path);
            from_trail(&loc, sdk, account, &targets, window, &mut cost).await
        }
    };
    cost.seconds = started.elapsed().as_secs_f64();
    let mut warnings = Vec::new();
    if let Some(e) = &gathered.error {
        warnings.push(format!(
            "warning: no evidence of calls in account {account}: {e}; verdicts follow the credentials"
        ));
    }
    judge(dir, facts, &mut subjects, &gathered, window);
    (warnings, cost)
}

/// Who each account change of `items` affects, with the verdicts following the affected
/// principals' calls where they can be read. Returns warnings for the operator.
pub async fn attach_impacts(
    store: &crate::sources::aws::AwsStore,
    read: &crate::sources::principals::AccountRead,
    items: &mut [Item],
    opts: &Options,
    progress: Option<Progress>,
) -> Vec<String> {
    let Some((dir, facts, mut warnings)) =
        crate::sources::principals::read_impacts(read, items).await
    else {
        return Vec::new();
    };
    let (more, _) = attach(store, &dir, &facts, subjects(items), opts, progress).await;
    warnings.extend(more);
    warnings
}

/// The impact of saved changes now, keyed by change id (`apply --plan`), the evidence read the
/// way `opts` says.
pub async fn current_impacts(
    store: &crate::sources::aws::AwsStore,
    changes: &[crate::engine::plan::PlannedChange],
    opts: &Options,
) -> Result<BTreeMap<String, Impact>, crate::sources::aws::StoreError> {
    let Some((dir, facts, mut now)) =
        crate::sources::principals::current_state(store, changes).await?
    else {
        return Ok(BTreeMap::new());
    };
    let subjects = now
        .iter_mut()
        .map(|(c, i)| Subject {
            target: &c.target,
            before: &c.before,
            after: &c.after,
            impact: i,
        })
        .collect();
    let _ = attach(store, &dir, &facts, subjects, opts, None).await;
    Ok(now.into_iter().map(|(c, i)| (c.id.clone(), i)).collect())
}

/// Judges every recorded call of each affected principal and sets its evidence and verdict.
fn judge(
    dir: &Directory,
    facts: &CredentialFacts,
    subjects: &mut [Subject<'_>],
    g: &Gathered,
    window: Window,
) {
    for sub in subjects.iter_mut() {
        let imp = &mut *sub.impact;
        let parse = |t: &str| policy::parse(t).map(|p| p.value).ok();
        let (Some(before), Some(after)) = (parse(sub.before), parse(sub.after)) else {
            continue;
        };
        let inputs = dir.principals(sub.target, facts);
        let mut changed = false;
        for p in imp.principals.iter_mut() {
            let looked_up = p.verdict != Verdict::Unaffected
                || may_have_called(&p.credentials, window.days)
                || g.records.contains_key(&p.arn);
            if !looked_up {
                continue;
            }
            let Some(input) = inputs.iter().find(|i| i.arn == p.arn) else {
                continue;
            };
            let ev = match (&g.error, g.records.get(&p.arn)) {
                (Some(e), _) => Evidence::none(Source::CredentialReport, window.days, Some(e.clone())),
                (None, _) if g.source == Source::EventHistory && input.kind == PrincipalKind::Role => {
                    Evidence::none(
                        Source::CredentialReport,
                        window.days,
                        Some("event history is not read for roles: give a trail's files with --evidence PATH".into()),
                    )
                }
                (None, recs) => {
                    let empty = Vec::new();
                    let recs: Vec<&Record> = recs.unwrap_or(&empty).iter().collect();
                    let (partition, account) = arn_parts(&p.arn);
                    let caller = Caller {
                        name: &p.name,
                        partition: &partition,
                        account: &account,
                    };
                    let set = PolicySet::new(&input.others, &before, &after, &input.name);
                    let partial = g.partial.get(&p.arn).map(|v| v.join("; "));
                    let mut ev = evidence::assess(&set, &caller, &recs, window, g.source, partial);
                    if !input.missing.is_empty() {
                        ev.notes.push(format!(
                            "judged without {} (not readable); an explicit deny in them is not seen",
                            input.missing.join(", ")
                        ));
                    }
                    if let Credentials::User(u) = &input.credentials {
                        note_key_gap(&mut ev, u, &recs, window);
                    }
                    ev
                }
            };
            with_evidence::apply(p, ev);
            changed = true;
        }
        if changed {
            with_evidence::finish(imp);
        }
    }
}

/// When the credential report says a key was used in the window but no call signed with a
/// long-term key was found, the evidence is incomplete (data events, another Region): partial.
fn note_key_gap(
    ev: &mut Evidence,
    u: &crate::engine::impact::UserCredentials,
    recs: &[&Record],
    window: Window,
) {
    let used_in_window = u
        .access_keys
        .iter()
        .any(|k| k.active && k.last_used.days_ago.is_some_and(|d| d <= window.days));
    let key_calls = recs.iter().any(|r| {
        r.access_key_id().is_some_and(|k| k.starts_with("AKIA"))
            && r.time().is_some_and(|t| window.contains(t))
    });
    if used_in_window && !key_calls && !ev.partial {
        ev.partial = true;
        ev.notes.insert(
            0,
            "partial: the credential report shows an access key used in the window, but no call signed with it was found (data events or another Region?)".into(),
        );
    }
}

pub(crate) fn arn_parts(arn: &str) -> (String, String) {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let get = |i: usize| parts.get(i).copied().unwrap_or("").to_string();
    let partition = if get(1).is_empty() {
        "aws".into()
    } else {
        get(1)
    };
    (partition, get(4))
}
