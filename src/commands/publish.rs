//! Deciding and publishing the changes of a run: the one place each change is decided
//! ([`decide`]), and the writers that publish the approved ones, parts concurrently
//! ([`publish_all`]). `apply` calls it once for the whole run, or once per wave of a staged
//! rollout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use crate::commands::gate::Gate;
use crate::commands::progress::Phase;
use crate::commands::scope::Part;
use crate::engine::plan::{sha256, Change, PlanFile, PlannedChange};
use crate::error::Error;
use crate::sources::journal::Journal;
use crate::sources::reach::Base;
use crate::sources::writer::{ChangeResult as Result, IamWriter, Outcome, Writer};
use crate::ui::{self, Answer, Ui};

/// Rules that hold a change back whatever the operator answers.
pub struct Settings {
    pub yes: bool,
    pub include_iac_managed: bool,
    /// Who is affected: the gate of `apply --yes` and of saved plans.
    pub impact: Gate,
}

/// A run being applied: its parts (with their changes) and what the operator sees before each
/// change.
pub struct Job {
    pub parts: Vec<Part>,
    pub prompts: BTreeMap<String, String>,
    /// A saved plan's changes as forcemfa derives them now, by id (what its prompts show).
    pub derived: BTreeMap<String, Change>,
    /// Set when applying a saved plan: its changes are checked before they are written.
    pub saved: Option<PlanFile>,
    /// The operator's credentials, to reach the accounts of a saved plan.
    pub base: Option<std::result::Result<Base, String>>,
}

/// Where and how the parts are written.
pub struct Writers<'a> {
    pub journal: &'a Path,
    pub no_prune: bool,
    pub concurrency: usize,
    /// The run's id in the journal (one per run, waves included).
    pub run_id: &'a str,
}

/// The operator's answers so far (kept from one wave to the next).
pub struct Asking {
    pub all: bool,
    pub quit: bool,
}

/// Step 3, the one place where each change is decided, in this order: Ctrl-C or an earlier
/// "quit"; rules that hold a change back whatever the answer (IaC-managed without
/// `--include-iac-managed`); the saved-plan check; then the operator (unless `--yes` or
/// "all"). `None`: write it.
pub async fn decide(
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
/// within one. Only the parts whose indices are in `only` (every part: the whole run; one
/// wave's accounts: a staged rollout). Returns the journal written, if any account was written
/// to.
pub async fn publish_all(
    ui: &Ui,
    job: &mut Job,
    settings: &Settings,
    w: &Writers<'_>,
    interrupted: &Arc<AtomicBool>,
    only: &[usize],
    asking: &mut Asking,
) -> std::result::Result<Option<PathBuf>, Error> {
    let accounts = only
        .iter()
        .filter_map(|&i| job.parts.get(i))
        .filter(|p| p.account.is_some() && !p.changes.is_empty())
        .count();
    let phase = Phase::new(*ui, "apply", accounts);
    let mut running = start_writers(&job.parts, only, w, &phase, interrupted)?;
    for (i, p) in job.parts.iter_mut().enumerate() {
        if !only.contains(&i) {
            continue;
        }
        for c in &p.changes {
            let prompt = job
                .prompts
                .get(&c.id)
                .map(String::as_str)
                .unwrap_or_default();
            let saved = job.saved.as_ref();
            let decided = decide(ui, c, prompt, asking, settings, saved, interrupted).await;
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
    for (_, p) in job
        .parts
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| only.contains(i))
    {
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
    only: &[usize],
    w: &Writers<'_>,
    phase: &Phase,
    interrupted: &Arc<AtomicBool>,
) -> std::result::Result<Running, Error> {
    let gate = Arc::new(Semaphore::new(w.concurrency.max(1)));
    let run_id = w.run_id.to_string();
    let mut running = Running {
        senders: Vec::new(),
        tasks: JoinSet::new(),
        journal: None,
    };
    for (i, p) in parts.iter().enumerate() {
        if p.changes.is_empty() || !only.contains(&i) {
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
}
