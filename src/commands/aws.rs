//! The commands against a live AWS account: plan (read-only), apply (confirm, journal, publish,
//! read back) and rollback. The pure pipeline is the same as for files; only fetching and
//! publishing go through [`crate::sources::aws`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::cli::{ConnectArgs, Format, PlanArgs};
use crate::commands::apply::{apply_changes, AwsWriter, Settings};
use crate::engine::migration::{self, Options};
use crate::engine::plan::PlannedChange;
use crate::engine::plan::{self, Input, Item, SizeLimit};
use crate::engine::target::TargetKind;
use crate::error::{Error, Exit};
use crate::report::Outcome;
use crate::sources::aws::{self, AwsOptions, AwsStore, Fetched, RolledBack};
use crate::sources::journal::{self, Journal};
use crate::ui::{self, Answer, Ui};

/// A runtime for the AWS SDK. Built only when an account is used, so file runs stay light.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| Error::Runtime { source })
}

pub(crate) fn aws_options(c: &ConnectArgs) -> Result<AwsOptions, Error> {
    let mut code = c.mfa_code.clone();
    if c.mfa_serial.is_some() && code.is_none() {
        if !ui::interactive() {
            return Err(Error::MfaCodeNeeded);
        }
        code = dialoguer::Input::<String>::new()
            .with_prompt("MFA code")
            .interact_text()
            .ok();
    }
    Ok(AwsOptions {
        profile: c.profile.clone(),
        region: c.region.clone(),
        endpoint_url: c.endpoint_url.clone(),
        mfa_serial: c.mfa_serial.clone(),
        mfa_code: code,
        session_name: c.session_name.clone(),
    })
}

async fn connect(c: &ConnectArgs) -> Result<AwsStore, Error> {
    Ok(AwsStore::connect(&aws_options(c)?).await?)
}

fn input_for(f: &Fetched) -> Input {
    let limit = match &f.target.kind {
        TargetKind::Inline { entity, .. } => SizeLimit::Inline {
            entity: *entity,
            others: f.entity_inline_sizes,
        },
        _ => SizeLimit::Managed,
    };
    Input {
        target: f.target.clone(),
        text: f.text.clone(),
        limit,
        version_id: f.version_id.clone(),
        attachments: f.attachments.clone(),
        iac_managed: f.iac_managed.clone(),
        style: None,
    }
}

/// Fetch and plan every policy of the account.
async fn plan_account(ui: &Ui, store: &AwsStore, options: &Options) -> Result<Vec<Item>, Error> {
    ui.info(&format!(
        "reading IAM policies of account {}",
        store.account_id()
    ));
    let (items, warnings) = plan_account_items(store, options).await?;
    for w in warnings {
        ui.warn(&w);
    }
    Ok(items)
}

/// Fetch and plan every policy of the account; warnings are returned, not printed, so that a
/// batch can show them without breaking its progress bars. Tags are read only for policies
/// that would change, so an account costs a handful of requests.
pub async fn plan_account_items(
    store: &AwsStore,
    options: &Options,
) -> Result<(Vec<Item>, Vec<String>), Error> {
    let chain = migration::default_chain()?;
    let fetched = store.fetch().await?;
    let mut items = Vec::with_capacity(fetched.len());
    let mut warnings = Vec::new();
    for f in &fetched {
        let mut input = input_for(f);
        let mut item = plan::plan_one(&input, &chain, options);
        if let (Item::Change(_), TargetKind::Managed { arn, .. }) = (&item, &f.target.kind) {
            match store.managed_policy_tags(arn).await {
                Ok(tags) => {
                    if let Some(why) = aws::iac_reason(&tags) {
                        input.iac_managed = Some(why);
                        item = plan::plan_one(&input, &chain, options);
                    }
                }
                // Fail closed: without its tags, forcemfa cannot tell whether a deployment owns
                // this policy, so it is treated as IaC-managed (shown, not published unless
                // --include-iac-managed).
                Err(e) => {
                    warnings.push(format!(
                        "warning: could not read the tags of {arn} ({e}); treating it as managed by infrastructure as code: it is planned but not published without --include-iac-managed. Grant iam:ListPolicyTags (docs/permissions/plan-policy.json) to tell"
                    ));
                    input.iac_managed = Some(
                        "unknown: its tags could not be read; grant iam:ListPolicyTags to tell"
                            .into(),
                    );
                    item = plan::plan_one(&input, &chain, options);
                }
            }
        }
        items.push(item);
    }
    Ok((items, warnings))
}

/// `plan` or `scan` against the account of the current credentials.
pub fn plan(ui: &Ui, args: &PlanArgs) -> Result<Vec<Item>, Error> {
    let options = Options::new(&args.allow_before_mfa)?;
    runtime()?.block_on(async {
        let store = connect(&args.aws.connect).await?;
        plan_account(ui, &store, &options).await
    })
}

fn journal_path(p: &Option<PathBuf>) -> PathBuf {
    p.clone().unwrap_or_else(Journal::default_path)
}

/// What an apply run did.
pub struct ApplyRun {
    pub results: Vec<crate::commands::apply::Result>,
    /// The journal written, when an AWS account was written to.
    pub journal: Option<PathBuf>,
    /// Ctrl-C stopped the run before every change was considered.
    pub interrupted: bool,
}

/// Apply planned changes; connects to AWS (and opens the journal) only when a change needs it.
pub fn apply_planned(
    ui: &Ui,
    args: &PlanArgs,
    yes: bool,
    changes: &[PlannedChange],
    prompts: &[String],
    needs_aws: bool,
) -> Result<ApplyRun, Error> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let rt = runtime()?;
    let run = rt.block_on(async {
        // Ctrl-C stops new writes; the one in flight finishes and is journalled.
        let flag = interrupted.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.store(true, Ordering::SeqCst);
            }
        });
        let settings = Settings {
            yes,
            include_iac_managed: args.aws.include_iac_managed,
        };
        let (results, journal) = if needs_aws {
            let store = connect(&args.aws.connect).await?;
            let path = journal_path(&args.aws.journal);
            let mut journal = Journal::open(&path)?;
            if let Some(w) = journal.torn_warning() {
                ui.warn(&w);
            }
            let writer = AwsWriter {
                store: &store,
                journal: &mut journal,
                run_id: journal::new_run_id(),
                no_prune: args.aws.no_prune,
            };
            let r =
                apply_changes(ui, changes, prompts, &settings, Some(writer), &interrupted).await;
            (r, Some(path))
        } else {
            let r = apply_changes(ui, changes, prompts, &settings, None, &interrupted).await;
            (r, None)
        };
        Ok(ApplyRun {
            results,
            journal,
            interrupted: interrupted.load(Ordering::SeqCst),
        })
    });
    // A prompt abandoned by Ctrl-C may still block its thread: do not wait for it.
    rt.shutdown_background();
    run
}

/// `rollback`: restore what a journalled apply changed. Each change is shown as the diff from
/// the live document to the one it will publish, checked (JSON, size, characters) and confirmed
/// (unless `--yes`); the outcome of each is reported in the chosen format.
pub fn rollback(
    ui: &Ui,
    format: Format,
    journal_file: &PathBuf,
    change: Option<&str>,
    yes: bool,
    connect_args: &ConnectArgs,
) -> Result<Exit, Error> {
    if !yes && !ui::interactive() {
        return Err(Error::NeedsTerminal);
    }
    let contents = journal::read_entries(journal_file)?;
    if let Some(w) = journal::torn_warning(journal_file, &contents.torn_lines) {
        ui.warn(&w);
    }
    let todo = journal::rollback_plan(&contents.entries, change);
    if todo.is_empty() {
        if let Some(id) = change {
            // Asked for one change that is not there: not done, so not a success.
            return Err(Error::Input {
                path: journal_file.display().to_string(),
                message: format!(
                    "no change {id:?} to roll back (unknown, not applied, or already rolled back); `forcemfa rollback --journal FILE` without --change lists what can be"
                ),
            });
        }
        ui.out("Nothing to roll back.\n");
        return Ok(Exit::Ok);
    }
    let opts = ui.text_options();
    let results = runtime()?.block_on(async {
        let store = connect(connect_args).await?;
        let mut journal = Journal::open(journal_file)?;
        let run_id = journal::new_run_id();
        let mut all = yes;
        let mut quit = false;
        let mut results = Vec::new();
        for entry in &todo {
            let record = |outcome| crate::report::ChangeResult {
                change: entry.change_id.clone(),
                target: entry.target.to_string(),
                outcome,
            };
            if quit {
                results.push(record(Outcome::Declined));
                continue;
            }
            if entry.account != store.account_id() {
                results.push(record(Outcome::Skipped {
                    reason: format!(
                        "change of account {}, but the credentials are for account {}",
                        entry.account,
                        store.account_id()
                    ),
                }));
                continue;
            }
            // --- verified rollback: diff from the live document, checks, then the prompt ---
            let preview = match store.current(&entry.target).await {
                Ok(live) => rollback_preview(entry, &live.text, opts.color),
                Err(e) => {
                    results.push(record(Outcome::Failed {
                        error: e.to_string(),
                    }));
                    continue;
                }
            };
            if let Some(problem) = preview.refused {
                results.push(record(Outcome::Failed { error: problem }));
                continue;
            }
            if !all {
                ui.warn(&preview.text);
                let question = format!(
                    "Roll back change {} ({}, applied {})?",
                    entry.change_id, entry.target, entry.time
                );
                let answer = tokio::task::spawn_blocking(move || ui::confirm(&question))
                    .await
                    .unwrap_or(Answer::Quit);
                match answer {
                    Answer::Yes => {}
                    Answer::All => all = true,
                    Answer::No => {
                        results.push(record(Outcome::Declined));
                        continue;
                    }
                    Answer::Quit | Answer::Interrupted => {
                        quit = true;
                        results.push(record(Outcome::Declined));
                        continue;
                    }
                }
            } else if format == Format::Text && !ui.quiet {
                ui.out(&preview.text);
            }
            let outcome = match store.rollback(entry, &mut journal, &run_id).await {
                Ok(r) => match r {
                    RolledBack::DefaultVersionRestored { version_id } => Outcome::Applied {
                        detail: format!("default version {version_id} restored"),
                    },
                    RolledBack::NewVersion { version_id } => Outcome::Applied {
                        detail: format!(
                            "original document published as new default version {}",
                            version_id.unwrap_or_default()
                        ),
                    },
                    RolledBack::InlineRestored => Outcome::Applied {
                        detail: "inline document restored".into(),
                    },
                    RolledBack::AlreadyRolledBack => Outcome::AlreadyApplied,
                },
                Err(aws::StoreError::Stale { detail, .. }) => Outcome::Stale { detail },
                Err(e) => Outcome::Failed {
                    error: e.to_string(),
                },
            };
            results.push(record(outcome));
        }
        Ok::<_, Error>(results)
    })?;
    emit_rollback(ui, format, &results)?;
    // 0 only when every change asked for was rolled back or deliberately declined.
    let not_done = results.iter().any(|r| {
        matches!(
            r.outcome,
            Outcome::Failed { .. } | Outcome::Stale { .. } | Outcome::Skipped { .. }
        )
    });
    Ok(if not_done { Exit::Error } else { Exit::Ok })
}

/// What the operator sees before a rollback, and why it must not go ahead, if it must not.
struct RollbackPreview {
    text: String,
    refused: Option<String>,
}

/// The diff from the live document to the journalled original, and the checks IAM would
/// apply (the journal is a file: what it asks to publish is checked like any new document).
fn rollback_preview(entry: &journal::JournalEntry, live: &str, color: bool) -> RollbackPreview {
    use crate::engine::{diff, policy};
    let original = entry.before.as_deref().unwrap_or_default();
    let style = policy::Style::default();
    let norm = |t: &str| {
        policy::parse(t)
            .map(|p| policy::render(&p.value, &style))
            .unwrap_or_else(|_| t.to_string())
    };
    let d = diff::diff(&norm(live), &norm(original), "policy");
    let mut text = format!(
        "{}  [rollback of change {}]\n",
        entry.target, entry.change_id
    );
    let unified = if color {
        crate::report::colorize(&d.unified)
    } else {
        d.unified.clone()
    };
    for line in unified.lines() {
        text.push_str(&format!("  {line}\n"));
    }
    let mut refused = None;
    match policy::parse(original) {
        Err(e) => {
            refused = Some(format!(
                "the journalled document is not a policy ({e}); nothing was written"
            ))
        }
        Ok(parsed) => {
            let compact = policy::render_compact(&parsed.value);
            let size = policy::iam_size(&compact);
            let limit = match &entry.target.kind {
                TargetKind::Inline { entity, .. } => entity.inline_limit(),
                _ => crate::engine::target::MANAGED_LIMIT,
            };
            let chars = policy::disallowed_characters(original);
            text.push_str(&format!(
                "  checks: size {size}/{limit} non-whitespace characters, {}\n",
                if chars.is_empty() {
                    "characters ok".to_string()
                } else {
                    format!("characters IAM refuses: {chars:?}")
                }
            ));
            if size > limit {
                refused = Some(format!("the journalled document has {size} non-whitespace characters, over the limit of {limit}; nothing was written"));
            } else if !chars.is_empty() {
                refused = Some(format!("the journalled document has characters IAM refuses ({chars:?}); nothing was written"));
            }
        }
    }
    RollbackPreview { text, refused }
}

fn emit_rollback(
    ui: &Ui,
    format: Format,
    results: &[crate::report::ChangeResult],
) -> Result<(), Error> {
    let counts = crate::report::outcome_counts(results);
    match format {
        Format::Json => {
            let v = serde_json::json!({
                "tool": "forcemfa",
                "version": env!("CARGO_PKG_VERSION"),
                "command": "rollback",
                "results": results,
                "outcomes": counts,
            });
            ui.out(&crate::commands::pretty(&v));
        }
        Format::Markdown => ui.out(&crate::report::outcomes_markdown(
            "forcemfa rollback",
            "Rolled back",
            results,
            &[],
            &[],
        )),
        _ => {
            let mut out = String::new();
            for r in results {
                let line = match &r.outcome {
                    Outcome::Applied { detail } => {
                        format!("rolled back {} (change {}): {detail}", r.target, r.change)
                    }
                    Outcome::AlreadyApplied => format!(
                        "{} (change {}): already the original, nothing written",
                        r.target, r.change
                    ),
                    Outcome::Stale { detail } => {
                        format!("stale {} (change {}): {detail}", r.target, r.change)
                    }
                    Outcome::Failed { error } => {
                        format!("error: {} (change {}): {error}", r.target, r.change)
                    }
                    Outcome::Declined => {
                        format!("not rolled back {} (change {})", r.target, r.change)
                    }
                    Outcome::Skipped { reason } => {
                        format!("skipped change {} ({}): {reason}", r.change, r.target)
                    }
                };
                out.push_str(&line);
                out.push('\n');
            }
            out.push_str(&crate::report::outcome_line("Rolled back", &counts));
            out.push('\n');
            ui.out(&out);
        }
    }
    Ok(())
}
