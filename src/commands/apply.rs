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

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use crate::cli::{Format, PlanArgs};
use crate::commands::exit::exit_for_apply;
use crate::commands::gate::Gate;
use crate::commands::plan::{plan_accounts, plan_files_part, Planned};
use crate::commands::progress::Phase;
use crate::commands::rules::Rules;
use crate::commands::saved::{load_checked_plan, Checked};
use crate::commands::scope::{self, runtime, Part};
use crate::engine::impact::Impact;
use crate::engine::plan::{sha256, Change, Item, PlanFile, PlannedChange};
use crate::engine::target::TargetKind;
use crate::error::{Error, Exit};
use crate::report::run::{emit, Report};
use crate::report::text::{change_text, TextOptions};
use crate::report::Mode;
use crate::sources::journal::{self, Journal};
use crate::sources::reach::{self, Base};
use crate::sources::writer::{IamWriter, Writer};
use crate::ui::{self, Answer, Ui};

use crate::sources::writer::{ChangeResult as Result, Outcome};

/// Rules that hold a change back whatever the operator answers.
pub struct Settings {
    pub yes: bool,
    pub include_iac_managed: bool,
    /// Who is affected: the gate of `apply --yes` and of saved plans.
    pub impact: Gate,
}

/// A run being applied: its parts (with their changes) and what the operator sees before each
/// change.
struct Job {
    parts: Vec<Part>,
    prompts: BTreeMap<String, String>,
    /// A saved plan's changes as forcemfa derives them now, by id (what its prompts show).
    derived: BTreeMap<String, Change>,
    /// Set when applying a saved plan: its changes are checked before they are written.
    saved: Option<PlanFile>,
    /// The operator's credentials, to reach the accounts of a saved plan.
    base: Option<std::result::Result<Base, String>>,
}

/// `apply`: plan (or load a saved plan), confirm, publish, report.
pub fn apply(
    ui: &Ui,
    format: Format,
    args: &PlanArgs,
    yes: bool,
    plan_path: Option<&Path>,
) -> std::result::Result<Exit, Error> {
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
        };
        let journal = publish_all(ui, &mut job, &settings, &writers, &interrupted).await?;
        Ok::<_, Error>((job.parts, journal))
    });
    // A prompt abandoned by Ctrl-C may still block its thread: do not wait for it.
    rt.shutdown_background();
    let (parts, journal) = run?;
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
    };
    let views: Vec<_> = parts.iter().map(Part::view).collect();
    emit(ui, format, &views, &report)?;
    Ok(exit_for_apply(&parts, was_interrupted))
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

/// Where and how the parts are written.
struct Writers<'a> {
    journal: &'a Path,
    no_prune: bool,
    concurrency: usize,
}

/// The operator's answers so far.
struct Asking {
    all: bool,
    quit: bool,
}

/// Step 3, the one place where each change is decided, in this order: Ctrl-C or an earlier
/// "quit"; rules that hold a change back whatever the answer (IaC-managed without
/// `--include-iac-managed`); the saved-plan check; then the operator (unless `--yes` or
/// "all"). `None`: write it.
async fn decide(
    ui: &Ui,
    c: &PlannedChange,
    prompt: &str,
    asking: &mut Asking,
    settings: &Settings,
    saved: Option<&PlanFile>,
    interrupted: &AtomicBool,
) -> Option<Outcome> {
    if asking.quit || interrupted.load(Ordering::SeqCst) {
        return Some(Outcome::Declined);
    }
    if let (Some(why), false) = (&c.iac_managed, settings.include_iac_managed) {
        return Some(Outcome::Skipped {
            reason: format!("managed by infrastructure as code ({why}): change its source, or pass --include-iac-managed"),
        });
    }
    if let Some(plan) = saved {
        if let Err(error) = check_saved(c, plan) {
            return Some(Outcome::Failed { error });
        }
    }
    // Who is affected: held back before any prompt when it cuts off access in use (with
    // --yes and without --accept-impact), or more than the saved plan was reviewed with.
    if let Some(reason) = settings.impact.hold(c) {
        return Some(Outcome::HeldBack { reason });
    }
    if asking.all {
        return None;
    }
    ui.warn(prompt);
    let question = format!("Apply change {} to {}?", c.id, c.target);
    // A Ctrl-C that arrives as a signal (not as a key the prompt reads) must not leave the
    // run waiting on the prompt forever.
    let answer = tokio::select! {
        a = tokio::task::spawn_blocking(move || ui::confirm(&question)) => {
            a.unwrap_or(Answer::Quit)
        }
        _ = until_set(interrupted) => Answer::Quit,
    };
    match answer {
        Answer::Yes => None,
        Answer::All => {
            asking.all = true;
            None
        }
        Answer::No => Some(Outcome::Declined),
        Answer::Quit => {
            asking.quit = true;
            Some(Outcome::Declined)
        }
        Answer::Interrupted => {
            asking.quit = true;
            interrupted.store(true, Ordering::SeqCst);
            Some(Outcome::Declined)
        }
    }
}

/// The check every change of a saved plan passes before it is written: the plan must still
/// say what it said when it was made (its `before` matches the digest planned against).
fn check_saved(c: &PlannedChange, _plan: &PlanFile) -> std::result::Result<(), String> {
    if sha256(&c.before) != c.before_sha256 {
        return Err(format!(
            "the plan file was edited after it was made: change {}'s `before` does not match its digest; nothing written: make the plan again",
            c.id
        ));
    }
    Ok(())
}

/// Resolves once the flag is set (polling: the flag is set from a signal task).
async fn until_set(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Steps 3 and 4: decide each change in order and hand the approved ones to their part's
/// writer at once; writers run concurrently across parts (at most `concurrency`), in order
/// within one. Returns the journal written, if any account was written to.
async fn publish_all(
    ui: &Ui,
    job: &mut Job,
    settings: &Settings,
    w: &Writers<'_>,
    interrupted: &Arc<AtomicBool>,
) -> std::result::Result<Option<PathBuf>, Error> {
    let accounts = job
        .parts
        .iter()
        .filter(|p| p.account.is_some() && !p.changes.is_empty())
        .count();
    let phase = Phase::new(*ui, "apply", accounts);
    let mut running = start_writers(&job.parts, w, &phase, interrupted)?;
    let mut asking = Asking {
        all: settings.yes,
        quit: false,
    };
    for (i, p) in job.parts.iter_mut().enumerate() {
        for c in &p.changes {
            let prompt = job
                .prompts
                .get(&c.id)
                .map(String::as_str)
                .unwrap_or_default();
            let saved = job.saved.as_ref();
            let decided = decide(ui, c, prompt, &mut asking, settings, saved, interrupted).await;
            let writer = running.senders.get(i).and_then(Option::as_ref);
            match (decided, writer) {
                (None, Some(tx)) if tx.send(c.clone()).is_ok() => {}
                (None, _) => p.results.push(Result::new(
                    c,
                    Outcome::Failed {
                        error: "its writer stopped (a bug in forcemfa: please report it)".into(),
                    },
                )),
                (Some(outcome), _) => p.results.push(Result::new(c, outcome)),
            }
        }
    }
    // No more approvals: the writers finish what they were given.
    running.senders.clear();
    while let Some(joined) = running.tasks.join_next().await {
        match joined {
            Ok((i, results)) => job.parts[i].results.extend(results),
            Err(e) => ui.warn(&format!("error: a writer's task failed: {e}")),
        }
    }
    phase.finish();
    for p in &mut job.parts {
        let order: Vec<String> = p.changes.iter().map(|c| c.id.clone()).collect();
        let pos = |id: &str| order.iter().position(|c| c == id).unwrap_or(usize::MAX);
        p.results.sort_by_key(|r| pos(&r.change));
    }
    Ok(running.journal)
}

/// The writers of a run, each waiting for approved changes.
struct Running {
    /// Per part (same index): where its approved changes go; `None` when it has none.
    senders: Vec<Option<mpsc::UnboundedSender<PlannedChange>>>,
    tasks: JoinSet<(usize, Vec<Result>)>,
    journal: Option<PathBuf>,
}

/// One writer task per part with changes: the files, or one account's IAM and journal.
fn start_writers(
    parts: &[Part],
    w: &Writers<'_>,
    phase: &Phase,
    interrupted: &Arc<AtomicBool>,
) -> std::result::Result<Running, Error> {
    let gate = Arc::new(Semaphore::new(w.concurrency.max(1)));
    let run_id = journal::new_run_id();
    let mut running = Running {
        senders: Vec::new(),
        tasks: JoinSet::new(),
        journal: None,
    };
    for (i, p) in parts.iter().enumerate() {
        if p.changes.is_empty() {
            running.senders.push(None);
            continue;
        }
        // Every account appends to the same journal through its own handle: each record is
        // one O_APPEND write of a whole line, so lines never interleave. Handles are opened
        // before any write starts (opening repairs a torn last line, which must not race
        // with appends).
        let writer = match &p.store {
            Some(store) => {
                let journal = Journal::open(w.journal)?;
                // A torn line (a run killed mid-write) is said once, when the journal is first
                // opened by this run.
                if running.journal.is_none() {
                    if let Some(warning) = journal.torn_warning() {
                        phase.warn(&warning);
                    }
                }
                running.journal = Some(w.journal.to_path_buf());
                Writer::Account(Box::new(IamWriter {
                    store: store.clone(),
                    journal,
                    run_id: run_id.clone(),
                    no_prune: w.no_prune,
                }))
            }
            None => Writer::Files,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        running.senders.push(Some(tx));
        let (gate, interrupted, phase) = (gate.clone(), interrupted.clone(), phase.clone());
        let account = p.account.as_ref().map(|a| a.id.clone());
        running.tasks.spawn(async move {
            let results = publisher(writer, rx, gate, &interrupted).await;
            if let Some(id) = account {
                let applied = results
                    .iter()
                    .filter(|r| matches!(r.outcome, Outcome::Applied { .. }))
                    .count();
                phase.done(&id, &format!("{applied} applied"));
            }
            (i, results)
        });
    }
    Ok(running)
}

/// One part's writer: publishes approved changes in the order they come, until the
/// confirmations end. After Ctrl-C nothing new is started.
async fn publisher(
    mut writer: Writer,
    mut rx: mpsc::UnboundedReceiver<PlannedChange>,
    gate: Arc<Semaphore>,
    interrupted: &AtomicBool,
) -> Vec<Result> {
    let mut out = Vec::new();
    let mut permit = None;
    while let Some(c) = rx.recv().await {
        if permit.is_none() {
            permit = gate.clone().acquire_owned().await.ok();
        }
        let outcome = if interrupted.load(Ordering::SeqCst) {
            Outcome::Declined
        } else {
            writer.publish(&c).await
        };
        out.push(Result::new(&c, outcome));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::engine::target::Target;

    #[test]
    fn a_saved_change_whose_before_was_edited_is_refused() {
        let before = "{\"Version\":\"2012-10-17\",\"Statement\":[]}";
        let c = PlannedChange {
            id: "c1".into(),
            target: Target::file("p.json"),
            version_id: None,
            before_sha256: sha256(before),
            before: before.into(),
            after: "{}".into(),
            migrations: vec![],
            effect_summary: vec![],
            iac_managed: None,
            limit: None,
            impact: None,
            suppressed: vec![],
        };
        let plan = PlanFile::new(&[], &[], &Default::default(), String::new());
        assert!(check_saved(&c, &plan).is_ok());
        let edited = PlannedChange {
            before: before.replace("[]", "[{}]"),
            ..c
        };
        let e = check_saved(&edited, &plan).unwrap_err();
        assert!(e.contains("edited") && e.contains("c1"), "{e}");
    }

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
