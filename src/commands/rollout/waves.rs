//! The wave loop of a staged rollout. For each wave, in order: read the old policy set of every
//! principal its changes reach (before anything is written), journal that the wave starts,
//! decide and publish its changes ([`publish_all`] on its accounts only), watch CloudTrail
//! ([`super::watch`]), and on a refused call the change caused, roll the wave back
//! ([`super::undo`]) or stop (`--on-denial`). Every step is journalled, so that
//! `apply --plan FILE --resume` goes on from the first unfinished wave and `rollback` undoes
//! every wave.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::cli::RolloutArgs;
use crate::commands::publish::{publish_all, Asking, Job, Settings, Writers};
use crate::commands::rollout::spec::{self, Spec};
use crate::commands::rollout::undo::undo_wave;
use crate::commands::rollout::watch::{self, Ended, Target};
use crate::engine::evidence::parse_time;
use crate::engine::plan::sha256;
use crate::error::Error;
use crate::report::rollout::{RolloutView, WaveView};
use crate::sources::evidence::Options;
use crate::sources::journal::{self, Journal};
use crate::sources::watch::before_publish;
use crate::sources::writer::{ChangeResult, Outcome};
use crate::ui::Ui;
use forcemfa_formats::rollout::{
    progress, Ending, Event, OnDenial, Progress, RolloutRecord, WatchResult, WaveState,
};

/// A rollout ready to run: its waves (account ids) and how it is watched.
pub struct Setup {
    pub spec: String,
    pub waves: Vec<Vec<String>>,
    pub watch: Duration,
    pub on_denial: OnDenial,
    pub rollout_id: String,
    /// The saved plan's digest (a fresh plan cannot be resumed).
    pub plan_sha256: Option<String>,
    /// The earlier runs of a resumed rollout.
    pub resumed: Option<Progress>,
}

/// How the rollout ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Finished,
    /// A refused call the change caused: exit 5.
    Denied,
    /// The watch could not read CloudTrail, or a wave's changes failed: exit 1.
    Stopped,
    Interrupted,
}

/// The default watch when `--waves` is given without `--watch`.
pub const DEFAULT_WATCH: Duration = Duration::from_secs(15 * 60);

/// The accounts with changes, in plan order, with their tags.
fn accounts_with_changes(job: &Job) -> Vec<(String, BTreeMap<String, String>)> {
    job.parts
        .iter()
        .filter(|p| !p.changes.is_empty())
        .filter_map(|p| p.account.as_ref())
        .map(|a| (a.id.clone(), a.tags.clone()))
        .collect()
}

fn refuse(message: String) -> Error {
    Error::Input {
        path: "apply".into(),
        message,
    }
}

/// The values of `--waves`, `--watch` and `--on-denial`, checked before anything is read or
/// reached (the accounts are split once they are known, in [`setup`]).
pub fn check_args(args: &RolloutArgs) -> Result<(), Error> {
    if let Some(text) = &args.waves {
        Spec::parse(text).map_err(refuse)?;
    }
    if let Some(w) = &args.watch {
        spec::parse_duration(w).map_err(refuse)?;
    }
    if let Some(o) = &args.on_denial {
        OnDenial::parse(o).map_err(refuse)?;
    }
    Ok(())
}

/// The rollout asked for, checked before anything is written; `None` without `--waves` or
/// `--resume`.
pub fn setup(
    args: &RolloutArgs,
    job: &Job,
    journal_path: &Path,
    run_id: &str,
    evidence: &Options,
) -> Result<Option<Setup>, Error> {
    let plan_sha256 = match &job.saved {
        Some(plan) => Some(sha256(&serde_json::to_string(plan).map_err(|e| {
            refuse(format!("the saved plan could not be read back ({e})"))
        })?)),
        None => None,
    };
    let watchable = |watch: Duration| {
        if !watch.is_zero() && evidence.mode == crate::sources::evidence::Mode::None {
            return Err(refuse(
                "--evidence none leaves the watch nothing to read: drop it (event history is read), give a trail's logs (--evidence PATH), or --watch 0 to publish the waves unwatched".into(),
            ));
        }
        Ok(())
    };
    if args.resume {
        let setup = resume(job, journal_path, plan_sha256.unwrap_or_default())?;
        watchable(setup.watch)?;
        return Ok(Some(setup));
    }
    let Some(text) = &args.waves else {
        return Ok(None);
    };
    if job
        .parts
        .iter()
        .any(|p| p.account.is_none() && !p.changes.is_empty())
    {
        return Err(refuse(
            "--waves is for accounts (an organisation, an accounts file, or the current account); files and templates are written at once".into(),
        ));
    }
    let parsed = Spec::parse(text).map_err(refuse)?;
    let waves = parsed
        .partition(&accounts_with_changes(job), text)
        .map_err(refuse)?;
    let watch = match &args.watch {
        Some(w) => spec::parse_duration(w).map_err(refuse)?,
        None => DEFAULT_WATCH,
    };
    watchable(watch)?;
    let on_denial = match &args.on_denial {
        Some(o) => OnDenial::parse(o).map_err(refuse)?,
        None => OnDenial::default(),
    };
    Ok(Some(Setup {
        spec: text.trim().to_string(),
        waves,
        watch,
        on_denial,
        rollout_id: run_id.to_string(),
        plan_sha256,
        resumed: None,
    }))
}

/// `--resume`: the latest rollout of this plan in the journal, which must have stopped before
/// its end, and whose waves still name exactly the plan's accounts with changes.
fn resume(job: &Job, journal_path: &Path, digest: String) -> Result<Setup, Error> {
    let shown = journal_path.display();
    let contents = journal::read_entries(journal_path).map_err(|e| refuse(e.to_string()))?;
    let records: Vec<RolloutRecord> = contents.rollouts;
    let Some(p) = progress(&records, &digest) else {
        return Err(refuse(format!(
            "--resume: journal {shown} has no rollout of this plan (give the journal the rollout wrote with --journal, or start it with --waves)"
        )));
    };
    if let Some((how, at)) = &p.ended {
        let why = match how {
            Ending::Finished => "it finished: every wave was published and watched".to_string(),
            Ending::Denied => "it stopped on a refused call the change caused; find out why before going on, then make a new plan".to_string(),
            Ending::Stopped => "it stopped (CloudTrail could not be read, or a wave's changes failed); make a new plan to go on".to_string(),
        };
        return Err(refuse(format!(
            "--resume: the rollout of this plan in {shown} ended at {at}: {why}"
        )));
    }
    let planned: BTreeSet<String> = accounts_with_changes(job)
        .into_iter()
        .map(|a| a.0)
        .collect();
    let recorded: BTreeSet<String> = p.waves.iter().flatten().cloned().collect();
    if planned != recorded {
        return Err(refuse(format!(
            "--resume: the rollout in {shown} covers other accounts than this plan has changes for; start a new rollout with --waves"
        )));
    }
    Ok(Setup {
        spec: p.spec.clone(),
        waves: p.waves.clone(),
        watch: Duration::from_secs(p.watch_seconds),
        on_denial: p.on_denial,
        rollout_id: p.rollout_id.clone(),
        plan_sha256: Some(digest),
        resumed: Some(p),
    })
}

/// What the wave loop needs besides the job.
pub struct Context<'a> {
    pub ui: &'a Ui,
    pub settings: &'a Settings,
    pub writers: &'a Writers<'a>,
    pub interrupted: &'a Arc<AtomicBool>,
    pub evidence: &'a Options,
}

/// Runs the rollout; returns its report and how it ended.
pub async fn run(
    cx: &Context<'_>,
    job: &mut Job,
    asking: &mut Asking,
    setup: &Setup,
) -> Result<(RolloutView, Stop), Error> {
    let mut journal = Journal::open(cx.writers.journal)?;
    let record = |event: Event| RolloutRecord::new(cx.writers.run_id, &setup.rollout_id, event);
    if setup.resumed.is_none() {
        journal.append_rollout(&record(Event::Began {
            plan_sha256: setup.plan_sha256.clone(),
            spec: setup.spec.clone(),
            watch_seconds: setup.watch.as_secs(),
            on_denial: setup.on_denial,
            waves: setup.waves.clone(),
        }))?;
    }
    let mut view = RolloutView {
        spec: setup.spec.clone(),
        watch_seconds: setup.watch.as_secs(),
        on_denial: setup.on_denial.as_str().into(),
        rollout_id: setup.rollout_id.clone(),
        resumed: setup.resumed.is_some(),
        waves: Vec::new(),
        ended: "finished".into(),
        next: None,
    };
    let mut stop = Stop::Finished;
    for (n, ids) in setup.waves.iter().enumerate() {
        let mut w = WaveView {
            wave: n + 1,
            accounts: ids.clone(),
            state: "not-started".into(),
            published: 0,
            not_published: 0,
            watch: String::new(),
            calls: 0,
            refusals: Vec::new(),
            notes: Vec::new(),
            rolled_back: Vec::new(),
        };
        let only: Vec<usize> = (0..job.parts.len())
            .filter(|&i| {
                job.parts[i]
                    .account
                    .as_ref()
                    .is_some_and(|a| ids.contains(&a.id))
            })
            .collect();
        let earlier = setup.resumed.as_ref().and_then(|p| p.states.get(n));
        if stop != Stop::Finished || cx.interrupted.load(Ordering::SeqCst) {
            if stop == Stop::Finished {
                stop = Stop::Interrupted;
            }
            not_started(job, &only, n);
            view.waves.push(w);
            continue;
        }
        if earlier == Some(&WaveState::Done) {
            done_earlier(job, &only, n);
            w.state = "done-earlier".into();
            view.waves.push(w);
            continue;
        }
        stop = one_wave(cx, job, asking, setup, n, &only, &mut journal, &mut w).await?;
        view.waves.push(w);
    }
    let ending = match stop {
        Stop::Finished => Some(Ending::Finished),
        Stop::Denied => Some(Ending::Denied),
        Stop::Stopped => Some(Ending::Stopped),
        Stop::Interrupted => None,
    };
    if let Some(how) = ending {
        journal.append_rollout(&record(Event::Ended { how }))?;
    }
    view.ended = match stop {
        Stop::Finished => "finished",
        Stop::Denied => "stopped on a refused call the change caused",
        Stop::Stopped => "stopped",
        Stop::Interrupted => "interrupted",
    }
    .into();
    view.next = next_step(stop, setup, cx.writers.journal);
    Ok((view, stop))
}

/// What the operator does next, in one line.
fn next_step(stop: Stop, setup: &Setup, journal_path: &Path) -> Option<String> {
    let j = journal_path.display();
    match stop {
        Stop::Finished => None,
        Stop::Interrupted if setup.plan_sha256.is_some() => Some(format!(
            "`forcemfa apply --plan PLAN --resume --journal {j}` goes on from the first unfinished wave (it watches an unwatched wave again first); `forcemfa rollback --journal {j}` undoes every wave"
        )),
        Stop::Interrupted => Some(format!(
            "run the same `forcemfa apply --waves …` again: accounts already upgraded have nothing left to change, but the interrupted wave is not watched again (plan with --out and apply with --plan to be able to resume); `forcemfa rollback --journal {j}` undoes every wave"
        )),
        Stop::Denied | Stop::Stopped => Some(format!(
            "find out why from the refused calls above; later waves were not started; `forcemfa rollback --journal {j}` undoes what is still published"
        )),
    }
}

/// The outcome given to the changes of a wave that is not started in this run.
fn not_started(job: &mut Job, only: &[usize], n: usize) {
    mark(job, only, |_| Outcome::Skipped {
        reason: format!(
            "not published: wave {} was not started (the rollout stopped before it)",
            n + 1
        ),
    });
}

/// The outcome given to the changes of a wave an earlier run published and watched.
fn done_earlier(job: &mut Job, only: &[usize], n: usize) {
    mark(job, only, |_| Outcome::Skipped {
        reason: format!(
            "published and watched in wave {} by an earlier run of this rollout",
            n + 1
        ),
    });
}

fn mark(job: &mut Job, only: &[usize], outcome: impl Fn(&str) -> Outcome) {
    for &i in only {
        if let Some(p) = job.parts.get_mut(i) {
            let results: Vec<ChangeResult> = p
                .changes
                .iter()
                .map(|c| ChangeResult::new(c, outcome(&c.id)))
                .collect();
            p.results.extend(results);
            p.changes.clear();
        }
    }
}

/// One wave: read, start, publish, watch, and roll back or stop on a caused refusal.
#[allow(clippy::too_many_arguments)]
async fn one_wave(
    cx: &Context<'_>,
    job: &mut Job,
    asking: &mut Asking,
    setup: &Setup,
    n: usize,
    only: &[usize],
    journal: &mut Journal,
    w: &mut WaveView,
) -> Result<Stop, Error> {
    let record = |event: Event| RolloutRecord::new(cx.writers.run_id, &setup.rollout_id, event);
    // The old policy set of every principal the wave reaches, read before anything is written.
    let mut targets = Vec::new();
    if !setup.watch.is_zero() {
        for &i in only {
            let p = &job.parts[i];
            let (Some(store), Some(a)) = (&p.store, &p.account) else {
                continue;
            };
            if p.changes.is_empty() {
                continue;
            }
            match before_publish(store, &p.changes).await {
                Ok(watched) => targets.push(Target {
                    account: a.id.clone(),
                    store: store.clone(),
                    watched,
                }),
                Err(e) => {
                    // Not watchable: nothing of this wave is written (fail closed).
                    w.state = "stopped".into();
                    w.notes.push(format!(
                        "account {}: who the changes reach could not be read before publishing ({e}); nothing of this wave was written",
                        a.id
                    ));
                    not_started(job, only, n);
                    return Ok(Stop::Stopped);
                }
            }
        }
    }
    let since = setup
        .resumed
        .as_ref()
        .and_then(|p| p.started_at.get(n).cloned().flatten())
        .and_then(|t| parse_time(&t))
        .unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp());
    journal.append_rollout(&record(Event::WaveStarted { wave: n }))?;
    publish_all(
        cx.ui,
        job,
        cx.settings,
        cx.writers,
        cx.interrupted,
        only,
        asking,
    )
    .await?;
    let results: Vec<&ChangeResult> = only
        .iter()
        .filter_map(|&i| job.parts.get(i))
        .flat_map(|p| p.results.iter())
        .collect();
    w.published = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Applied { .. } | Outcome::AlreadyApplied))
        .count();
    w.not_published = results.len() - w.published;
    let failed = results.iter().any(|r| r.outcome.is_failure());
    w.state = "published".into();
    journal.append_rollout(&record(Event::WavePublished {
        wave: n,
        applied: w.published,
        not_applied: w.not_published,
    }))?;
    if cx.interrupted.load(Ordering::SeqCst) {
        return Ok(Stop::Interrupted);
    }
    let result = if setup.watch.is_zero() || w.published == 0 {
        w.watch = "not-watched".into();
        WatchResult::NotWatched
    } else {
        watch_wave(cx, n, &targets, since, setup.watch, w).await
    };
    journal.append_rollout(&record(Event::WaveWatched {
        wave: n,
        watch: result.clone(),
    }))?;
    Ok(match result {
        WatchResult::Denied { .. } => {
            if setup.on_denial == OnDenial::Rollback {
                roll_back(cx, job, setup, n, only, journal, w).await?;
            }
            Stop::Denied
        }
        WatchResult::Unreadable { .. } => Stop::Stopped,
        WatchResult::Interrupted => Stop::Interrupted,
        WatchResult::Clean { .. } | WatchResult::NotWatched if failed => {
            w.notes
                .push("a change of this wave failed: later waves were not started".into());
            Stop::Stopped
        }
        WatchResult::Clean { .. } | WatchResult::NotWatched => Stop::Finished,
    })
}

/// Watches a published wave and fills its view.
async fn watch_wave(
    cx: &Context<'_>,
    n: usize,
    targets: &[Target],
    since: i64,
    total: Duration,
    w: &mut WaveView,
) -> WatchResult {
    let seen = watch::watch(
        cx.ui,
        n + 1,
        targets,
        since,
        total,
        cx.evidence,
        cx.interrupted,
    )
    .await;
    w.calls = seen.calls;
    w.notes.extend(seen.notes);
    w.refusals = seen.refusals;
    let (name, result) = match seen.ended {
        Ended::Clean => (
            "clean",
            WatchResult::Clean {
                calls: seen.calls,
                refusals: w.refusals.len(),
            },
        ),
        Ended::Denied => {
            let lines = w
                .refusals
                .iter()
                .filter(|r| r.stops_the_rollout())
                .take(crate::report::rollout::LISTED)
                .map(crate::report::rollout::refusal_line)
                .collect();
            ("denied", WatchResult::Denied { lines })
        }
        Ended::Unreadable(why) => {
            w.notes.push(format!(
                "CloudTrail could not be read at the end of the watch ({why}): the wave stays published, later waves were not started"
            ));
            ("unreadable", WatchResult::Unreadable { why })
        }
        Ended::Interrupted => ("interrupted", WatchResult::Interrupted),
    };
    w.watch = name.into();
    result
}

/// `--on-denial rollback`: restore every change of this rollout in the wave's accounts.
async fn roll_back(
    cx: &Context<'_>,
    job: &mut Job,
    setup: &Setup,
    n: usize,
    only: &[usize],
    journal: &mut Journal,
    w: &mut WaveView,
) -> Result<(), Error> {
    let stores: BTreeMap<String, crate::sources::aws::AwsStore> = only
        .iter()
        .filter_map(|&i| job.parts.get(i))
        .filter_map(|p| Some((p.account.as_ref()?.id.clone(), p.store.clone()?)))
        .collect();
    cx.ui.warn(&format!(
        "wave {}: a refused call the change caused was seen: rolling the wave back",
        n + 1
    ));
    let undone = undo_wave(
        cx.writers.journal,
        &setup.rollout_id,
        &stores,
        cx.writers.run_id,
    )
    .await;
    // Each applied change of the wave says what became of it, beside the rollout block.
    for &i in only {
        let Some(p) = job.parts.get_mut(i) else {
            continue;
        };
        for r in &mut p.results {
            if let Outcome::Applied { detail } = &mut r.outcome {
                let undone_now = undone
                    .by_change
                    .iter()
                    .find(|(id, _)| detail.contains(id.as_str()));
                if let Some((_, what)) = undone_now {
                    detail.push_str(&format!("; {what}"));
                }
            }
        }
    }
    w.state = "rolled-back".into();
    w.rolled_back = undone.lines;
    journal.append_rollout(&RolloutRecord::new(
        cx.writers.run_id,
        &setup.rollout_id,
        Event::WaveRolledBack {
            wave: n,
            restored: undone.restored,
            failed: undone.failed,
        },
    ))?;
    Ok(())
}
