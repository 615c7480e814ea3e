//! `apply`, for every source and for fresh and saved plans alike. The steps, in order:
//! 1. [`prepare`]: plan now (files or accounts), or load a saved plan, which says itself which
//!    accounts it covers and how each is reached;
//! 2. [`connect`]: reach the accounts that have changes and no store yet (saved plans);
//! 3. [`decide`]: the one place where each change is decided, one at a time in account then
//!    target order: rules that hold a change back, the saved-plan check ([`check_saved`]), then
//!    the operator's answer;
//! 4. [`publish_all`]: each part's writer (files, or one account's IAM with its journal)
//!    publishes the approved changes as they are approved, parts concurrently;
//! 5. one report, and an exit code that is 0 only when everything asked was done or
//!    deliberately declined.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cli::{Format, PlanArgs, RolloutArgs};
use crate::commands::exit::exit_for_apply;
use crate::commands::gate::Gate;
use crate::commands::plan::{plan_accounts, plan_files_part, Planned};
use crate::commands::progress::Phase;
use crate::commands::publish::{publish_all, Asking, Job, Settings, Writers};
use crate::commands::rollout::waves;
use crate::commands::rules::Rules;
use crate::commands::saved::{load_checked_plan, Checked};
use crate::commands::scope::{self, runtime, Part};
use crate::engine::impact::Impact;
use crate::engine::plan::{Change, Item, PlanFile};
use crate::engine::target::TargetKind;
use crate::error::{Error, Exit};
use crate::report::run::{emit, Report};
use crate::report::text::{change_text, TextOptions};
use crate::report::Mode;
use crate::sources::journal;
use crate::sources::reach::{self, Base};
use crate::ui::{self, Ui};

use crate::sources::writer::{ChangeResult as Result, Outcome};

/// `apply`: plan (or load a saved plan), confirm, publish, report.
pub fn apply(
    ui: &Ui,
    format: Format,
    args: &PlanArgs,
    yes: bool,
    plan_path: Option<&Path>,
    rollout_args: &RolloutArgs,
) -> std::result::Result<Exit, Error> {
    waves::check_args(rollout_args)?;
    if !yes && !ui::interactive() {
        return Err(Error::NeedsTerminal);
    }
    let mut settings = Settings {
        yes,
        include_iac_managed: args.aws.include_iac_managed,
        impact: Gate::new(
            args.aws.impact.accept_impact,
            args.aws.impact.recent_days,
            yes,
        ),
    };
    let rules = Arc::new(
        Rules::new(args, plan_path.is_none() && !args.sources.is_empty())?
            .with_effect_rows(ui.verbose),
    );
    let evidence = rules.evidence.clone();
    let journal_path = scope::journal_path(&args.aws.journal);
    let journal_before = std::fs::metadata(&journal_path).ok().map(|m| m.len());
    let interrupted = Arc::new(AtomicBool::new(false));
    let rt = runtime()?;
    let run = rt.block_on(async {
        watch_ctrl_c(interrupted.clone());
        let mut job = prepare(ui, args, plan_path, rules).await?;
        let run_id = journal::new_run_id();
        // Waves are fixed from the plan before anything is reached or written.
        let rollout = waves::setup(rollout_args, &job, &journal_path, &run_id, &evidence)?;
        for leftover in leftover_temp_files(&job.parts) {
            ui.warn(&format!(
                "warning: {} is left over from an apply that was stopped while writing (forcemfa writes through such temporary files, then renames them); it is not a policy: delete it",
                leftover.display()
            ));
        }
        let concurrency = usize::from(args.batch.concurrency);
        connect(*ui, &mut job, concurrency).await;
        if job.saved.is_some() {
            let current = recheck_impacts(&mut job, &evidence).await;
            job.prompts = saved_prompts(&job.derived, &current, text_options(ui));
            settings.impact.current = Some(current);
        }
        let writers = Writers {
            journal: &journal_path,
            no_prune: args.aws.no_prune,
            concurrency,
            run_id: &run_id,
        };
        let mut asking = Asking {
            all: settings.yes,
            quit: false,
        };
        let (journal, rolled) = match &rollout {
            Some(setup) => {
                let cx = waves::Context {
                    ui,
                    settings: &settings,
                    writers: &writers,
                    interrupted: &interrupted,
                    evidence: &evidence,
                };
                let rolled = waves::run(&cx, &mut job, &mut asking, setup).await?;
                (Some(journal_path.clone()), Some(rolled))
            }
            None => {
                let every: Vec<usize> = (0..job.parts.len()).collect();
                let journal = publish_all(
                    ui,
                    &mut job,
                    &settings,
                    &writers,
                    &interrupted,
                    &every,
                    &mut asking,
                )
                .await?;
                (journal, None)
            }
        };
        Ok::<_, Error>((job.parts, journal, rolled))
    });
    // A prompt abandoned by Ctrl-C may still block its thread: do not wait for it.
    rt.shutdown_background();
    let (parts, journal, rolled) = run?;
    let journal = journal.filter(|j| journal_grew(j, journal_before));
    let was_interrupted = interrupted.load(Ordering::SeqCst);
    if was_interrupted {
        ui.warn("interrupted: no new writes were started; writes in flight finished and are in the journal. Run the same `apply --plan` again to finish the rest.");
    }
    let report = Report {
        mode: Mode::Apply,
        journal: journal.as_deref(),
        saved_plan: plan_path,
        show_items: yes,
        file: args.batch.report.as_deref(),
        effective_options: Some(args.config.to_json()),
        from_file: args.config.from_file(),
        rollout: rolled.as_ref().map(|r| &r.0),
    };
    let views: Vec<_> = parts.iter().map(Part::view).collect();
    emit(ui, format, &views, &report)?;
    let exit = exit_for_apply(&parts, was_interrupted);
    Ok(match rolled.map(|r| r.1) {
        Some(waves::Stop::Denied) if exit != Exit::Interrupted => Exit::Denied,
        Some(waves::Stop::Stopped) if exit == Exit::Ok => Exit::Error,
        _ => exit,
    })
}

/// A saved plan carries the impact it was reviewed with: read who is affected again now, per
/// account, so that a change whose impact grew is held back. An account whose principals cannot
/// be read is not written to (fail closed).
async fn recheck_impacts(
    job: &mut Job,
    evidence: &crate::sources::evidence::Options,
) -> std::collections::BTreeMap<String, crate::engine::impact::Impact> {
    let mut now = std::collections::BTreeMap::new();
    for p in &mut job.parts {
        let (Some(store), false) = (&p.store, p.changes.is_empty()) else {
            continue;
        };
        match crate::sources::evidence::current_impacts(store, &p.changes, evidence).await {
            Ok(map) => now.extend(map),
            Err(e) => {
                p.error = Some(format!(
                    "could not read who the saved changes affect now ({e}); nothing written to this account"
                ));
            }
        }
    }
    now
}

/// Whether this run wrote to the journal. A journal the run created and left empty (nothing
/// was written to any account) is removed, so that no empty journal and no undo hint are left
/// for a run that changed nothing.
fn journal_grew(path: &Path, before: Option<u64>) -> bool {
    let now = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if now > before.unwrap_or(0) {
        return true;
    }
    if before.is_none() && now == 0 {
        let _ = std::fs::remove_file(path);
    }
    false
}

/// Temporary files an earlier apply left in the folders this one writes to: a file is written
/// through `.forcemfa-*.tmp` beside it, then renamed, so one left over means a run was killed
/// mid-write. They are named, never deleted here (another run may be writing).
fn leftover_temp_files(parts: &[Part]) -> Vec<PathBuf> {
    let dirs: std::collections::BTreeSet<PathBuf> = parts
        .iter()
        .flat_map(|p| p.changes.iter())
        .filter_map(|c| match &c.target.kind {
            TargetKind::File { path } | TargetKind::Embedded { path, .. } => Some(
                path.parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .to_path_buf(),
            ),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with(".forcemfa-") && name.ends_with(".tmp") {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Ctrl-C stops new writes; the ones in flight finish and are journalled.
fn watch_ctrl_c(flag: Arc<AtomicBool>) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
        }
    });
}

/// Step 1: the parts and their changes, from a fresh plan or a saved one.
async fn prepare(
    ui: &Ui,
    args: &PlanArgs,
    plan_path: Option<&Path>,
    rules: Arc<Rules>,
) -> std::result::Result<Job, Error> {
    match plan_path {
        Some(path) => prepare_saved(ui, args, path, &rules).await,
        None => {
            let planned = if args.sources.is_empty() {
                plan_accounts(ui, args, rules.clone()).await?
            } else {
                plan_files_part(args, &rules)?
            };
            Ok(prepare_fresh(ui, planned, &rules))
        }
    }
}

fn prepare_fresh(ui: &Ui, planned: Planned, rules: &Rules) -> Job {
    let mut prompts = BTreeMap::new();
    let mut parts = planned.parts;
    let opts = text_options(ui);
    for p in &mut parts {
        p.changes = PlanFile::new(&p.items, &rules.chain, rules.options(), String::new()).changes;
        for i in &p.items {
            if let Item::Change(c) = i {
                prompts.insert(c.id.clone(), change_text(c, opts));
            }
        }
    }
    Job {
        parts,
        prompts,
        derived: BTreeMap::new(),
        saved: None,
        base: None,
    }
}

fn text_options(ui: &Ui) -> TextOptions {
    TextOptions {
        color: ui.color,
        verbose: ui.verbose,
    }
}

/// What the operator reads before each saved change: derived now, exactly as a fresh plan shows
/// it, with who is affected as read now (never the plan file's words).
fn saved_prompts(
    derived: &BTreeMap<String, Change>,
    current: &BTreeMap<String, Impact>,
    opts: TextOptions,
) -> BTreeMap<String, String> {
    derived
        .iter()
        .map(|(id, c)| {
            let mut c = c.clone();
            c.impact = current.get(id).cloned();
            (id.clone(), change_text(&c, opts))
        })
        .collect()
}

async fn prepare_saved(
    ui: &Ui,
    args: &PlanArgs,
    path: &Path,
    rules: &Rules,
) -> std::result::Result<Job, Error> {
    // Refused as a whole for other migrations or options; each edited change is refused alone.
    let Checked {
        file,
        derived,
        refused,
    } = load_checked_plan(ui, path, rules)?;
    let scope::Saved {
        parts,
        options: recorded,
        unknown,
    } = scope::saved_parts(args, path, &file, &refused)?;
    for id in &unknown {
        ui.warn(&format!(
            "warning: --account {id} is not among the accounts of the plan"
        ));
    }
    let needs_aws = parts
        .iter()
        .any(|p| p.account.is_some() && !p.changes.is_empty() && p.error.is_none());
    let base = match recorded {
        Some(options) if needs_aws => {
            let options = scope::saved_options(options, &args.aws.connect)?;
            Some(Base::load(options).await.map_err(|e| e.to_string()))
        }
        _ => None,
    };
    Ok(Job {
        parts,
        // Shown once who is affected has been read again (`saved_prompts`).
        prompts: BTreeMap::new(),
        derived,
        saved: Some(file),
        base,
    })
}

/// Step 2: reach the accounts that have changes and no store yet, concurrently. An account
/// that cannot be reached fails its changes, with the reason.
async fn connect(ui: Ui, job: &mut Job, concurrency: usize) {
    let need: Vec<usize> = (0..job.parts.len())
        .filter(|&i| {
            let p = &job.parts[i];
            p.account.is_some() && !p.changes.is_empty() && p.store.is_none() && p.error.is_none()
        })
        .collect();
    match &job.base {
        Some(Ok(base)) if !need.is_empty() => {
            let phase = Phase::new(ui, "connect", need.len());
            let gate = Arc::new(Semaphore::new(concurrency.max(1)));
            let mut set = JoinSet::new();
            for i in need {
                let Some(a) = job.parts[i].account.clone() else {
                    continue;
                };
                let (gate, base, phase) = (gate.clone(), base.clone(), phase.clone());
                set.spawn(async move {
                    let _permit = gate.acquire_owned().await;
                    let r = reach::connect(&base, &a).await;
                    match &r {
                        Ok(_) => phase.done(&a.id, "connected"),
                        Err(e) => {
                            phase.warn(&format!("error: account {}: {e}", a.label()));
                            phase.done(&a.id, "failed");
                        }
                    }
                    (i, r)
                });
            }
            while let Some(joined) = set.join_next().await {
                match joined {
                    Ok((i, Ok(store))) => job.parts[i].store = Some(store),
                    Ok((i, Err(e))) => job.parts[i].error = Some(e),
                    Err(e) => ui.warn(&format!("error: an account's task failed: {e}")),
                }
            }
            phase.finish();
        }
        Some(Err(e)) => {
            for i in need {
                job.parts[i].error = Some(e.clone());
            }
        }
        _ => {}
    }
    // The changes of an account that could not be reached failed, with its reason.
    for p in &mut job.parts {
        if let Some(e) = &p.error {
            let failed = p.changes.iter().map(|c| {
                Result::new(
                    c,
                    Outcome::Failed {
                        error: format!("not applied: {e}"),
                    },
                )
            });
            p.results.extend(failed);
            p.changes.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::engine::target::Target;

    /// The prompt of a saved change is the derived change as a fresh plan shows it, with who is
    /// affected as read now; nothing of the plan file's text.
    #[test]
    fn saved_prompts_show_the_derived_change_and_the_impact_read_now() {
        use crate::engine::migration::{default_chain, Options};
        use crate::engine::plan::{plan_one, Input, SizeLimit};
        let legacy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":"iam:*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}]}"#;
        let chain = default_chain().unwrap();
        let input = Input::file(Target::file("p.json"), legacy.into(), SizeLimit::Managed);
        let Item::Change(c) = plan_one(&input, &chain, &Options::default()) else {
            panic!("a change")
        };
        let now = Impact {
            summary: "read just now".into(),
            ..Impact::default()
        };
        let derived = BTreeMap::from([(c.id.clone(), (*c).clone())]);
        let current = BTreeMap::from([(c.id.clone(), now)]);
        let opts = TextOptions::default();
        let prompts = saved_prompts(&derived, &current, opts);
        let mut expected = (*c).clone();
        expected.impact = current.get(&c.id).cloned();
        assert_eq!(prompts[&c.id], change_text(&expected, opts));
        assert!(prompts[&c.id].contains("who is affected (read just now)"));
    }
}
