//! Applying changes: one loop for files and AWS targets, fresh plans and saved plans alike.
//! Each change is confirmed (unless `--yes`), checked against the live document (stale →
//! refused, already there → not repeated), written, and reported.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::engine::plan::{sha256, PlannedChange};
use crate::engine::target::TargetKind;
use crate::sources::aws::{AwsStore, Published};
use crate::sources::files;
use crate::sources::journal::Journal;
use crate::ui::{self, Answer, Ui};

/// The outcome types live with the renderers (`report`), which show them in every format.
pub use crate::report::{ChangeResult as Result, Outcome};

/// Where AWS targets are written.
pub struct AwsWriter<'a> {
    pub store: &'a AwsStore,
    pub journal: &'a mut Journal,
    pub run_id: String,
    pub no_prune: bool,
}

pub struct Settings {
    pub yes: bool,
    pub include_iac_managed: bool,
}

/// Apply changes in order. `prompts[i]` is what the operator sees before change `i`.
pub async fn apply_changes(
    ui: &Ui,
    changes: &[PlannedChange],
    prompts: &[String],
    settings: &Settings,
    mut aws: Option<AwsWriter<'_>>,
    interrupted: &AtomicBool,
) -> Vec<Result> {
    let mut all = settings.yes;
    let mut quit = false;
    let mut out = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        let record = |outcome| Result {
            change: c.id.clone(),
            target: c.target.to_string(),
            outcome,
        };
        if quit || interrupted.load(Ordering::SeqCst) {
            out.push(record(Outcome::Declined));
            continue;
        }
        if let (Some(why), false) = (&c.iac_managed, settings.include_iac_managed) {
            out.push(record(Outcome::Skipped {
                reason: format!("managed by infrastructure as code ({why}): change its source, or pass --include-iac-managed"),
            }));
            continue;
        }
        if !all {
            ui.warn(prompts.get(i).map(String::as_str).unwrap_or_default());
            let question = format!("Apply change {} to {}?", c.id, c.target);
            // A Ctrl-C that arrives as a signal (not as a key the prompt reads) must not leave
            // the run waiting on the prompt forever.
            let answer = tokio::select! {
                a = tokio::task::spawn_blocking(move || ui::confirm(&question)) => {
                    a.unwrap_or(Answer::Quit)
                }
                _ = until_set(interrupted) => Answer::Quit,
            };
            match answer {
                Answer::Yes => {}
                Answer::All => all = true,
                Answer::No => {
                    out.push(record(Outcome::Declined));
                    continue;
                }
                Answer::Quit => {
                    quit = true;
                    out.push(record(Outcome::Declined));
                    continue;
                }
                Answer::Interrupted => {
                    interrupted.store(true, Ordering::SeqCst);
                    out.push(record(Outcome::Declined));
                    continue;
                }
            }
        }
        let outcome = match &c.target.kind {
            TargetKind::File { path } => write_file(path, c),
            _ => match aws.as_mut() {
                Some(w) => publish(w, c).await,
                None => Outcome::Skipped {
                    reason: "an AWS target, but no AWS account is connected".into(),
                },
            },
        };
        out.push(record(outcome));
    }
    out
}

/// Resolves once the flag is set (polling: the flag is set from a signal task).
async fn until_set(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn write_file(path: &std::path::Path, c: &PlannedChange) -> Outcome {
    let current = match files::read(path) {
        Ok(t) => t,
        Err(e) => {
            return Outcome::Failed {
                error: e.to_string(),
            }
        }
    };
    if current == c.after {
        return Outcome::AlreadyApplied;
    }
    if sha256(&current) != c.before_sha256 {
        return Outcome::Stale {
            detail: format!(
                "{} changed since the plan was made; nothing written: plan again",
                path.display()
            ),
        };
    }
    match files::write_atomic(path, &current, &c.after) {
        Ok(()) => Outcome::Applied {
            detail: "written".into(),
        },
        Err(files::FileError::Stale { .. }) => Outcome::Stale {
            detail: format!(
                "{} changed while being applied; nothing written",
                path.display()
            ),
        },
        Err(e) => Outcome::Failed {
            error: e.to_string(),
        },
    }
}

async fn publish(w: &mut AwsWriter<'_>, c: &PlannedChange) -> Outcome {
    if c.target.account.as_deref() != Some(w.store.account_id()) {
        return Outcome::Skipped {
            reason: format!(
                "planned for account {}, but the credentials are for account {}",
                c.target.account.as_deref().unwrap_or("?"),
                w.store.account_id()
            ),
        };
    }
    match w
        .store
        .publish(
            &c.target, &c.before, &c.after, w.journal, &w.run_id, w.no_prune,
        )
        .await
    {
        Ok(Published::Applied {
            change_id,
            version_id,
            pruned_version_id,
            after_lost_response,
        }) => {
            let mut detail = format!("journal change {change_id}");
            if let Some(v) = version_id {
                detail.push_str(&format!("; new default version {v}"));
            }
            if let Some(p) = pruned_version_id {
                detail.push_str(&format!(
                    "; pruned version {p} (its document is in the journal)"
                ));
            }
            if after_lost_response {
                detail.push_str("; the response was lost but the write had landed (not repeated)");
            }
            Outcome::Applied { detail }
        }
        Ok(Published::AlreadyApplied { .. }) => Outcome::AlreadyApplied,
        Err(crate::sources::aws::StoreError::Stale { detail, .. }) => Outcome::Stale { detail },
        Err(e) => Outcome::Failed {
            error: e.to_string(),
        },
    }
}

/// One line per result, for the text report.
pub fn result_lines(results: &[Result]) -> String {
    let mut s = String::new();
    for r in results {
        let line = match &r.outcome {
            Outcome::Applied { detail } => format!("applied {} [{}]: {detail}", r.target, r.change),
            Outcome::AlreadyApplied => format!(
                "{} [{}]: already applied, nothing written",
                r.target, r.change
            ),
            Outcome::Stale { detail } => format!("stale {} [{}]: {detail}", r.target, r.change),
            Outcome::Failed { error } => format!("error: {} [{}]: {error}", r.target, r.change),
            Outcome::Declined => format!("not applied {} [{}]", r.target, r.change),
            Outcome::Skipped { reason } => format!("skipped {} [{}]: {reason}", r.target, r.change),
        };
        s.push_str(&line);
        s.push('\n');
    }
    let count = |f: fn(&Outcome) -> bool| results.iter().filter(|r| f(&r.outcome)).count();
    s.push_str(&format!(
        "Applied {}, already applied {}, stale {}, failed {}, not applied {}, skipped {}.\n",
        count(|o| matches!(o, Outcome::Applied { .. })),
        count(|o| matches!(o, Outcome::AlreadyApplied)),
        count(|o| matches!(o, Outcome::Stale { .. })),
        count(|o| matches!(o, Outcome::Failed { .. })),
        count(|o| matches!(o, Outcome::Declined)),
        count(|o| matches!(o, Outcome::Skipped { .. })),
    ));
    s
}

/// Stale and failed changes make the run fail.
pub fn any_failed(results: &[Result]) -> bool {
    results
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Failed { .. } | Outcome::Stale { .. }))
}
