//! The commands against a live AWS account: plan (read-only), apply (confirm, journal, publish,
//! read back) and rollback. The pure pipeline is the same as for files; only fetching and
//! publishing go through [`crate::sources::aws`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::cli::{ConnectArgs, PlanArgs};
use crate::commands::apply::{apply_changes, AwsWriter, Settings};
use crate::engine::migration::{self, Options};
use crate::engine::plan::PlannedChange;
use crate::engine::plan::{self, Input, Item, SizeLimit};
use crate::engine::target::TargetKind;
use crate::error::{Error, Exit};
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
pub(crate) async fn plan_account_items(
    store: &AwsStore,
    options: &Options,
) -> Result<(Vec<Item>, Vec<String>), Error> {
    let chain = migration::default_chain()?;
    let (fetched, details) = store.fetch_with_details().await?;
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
                Err(e) => warnings.push(format!(
                    "warning: could not read tags of {arn} ({e}); treating it as not managed by infrastructure as code"
                )),
            }
        }
        items.push(item);
    }
    // Who each change affects (issue 9): principals and their credentials.
    warnings.extend(crate::sources::principals::attach_impacts(store, &details, &mut items).await);
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
        let mut settings = Settings {
            yes,
            include_iac_managed: args.aws.include_iac_managed,
            impact: crate::report_impact::Gate::new(&args.aws.impact, yes),
        };
        let (results, journal) = if needs_aws {
            let store = connect(&args.aws.connect).await?;
            // Who is affected (issue 9): a saved plan is checked against the account as it is now.
            if args.aws.impact.recheck {
                settings.impact.current =
                    Some(crate::sources::principals::current_impacts(&store, changes).await?);
            }
            let path = journal_path(&args.aws.journal);
            let mut journal = Journal::open(&path)?;
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

/// `rollback`: restore what a journalled apply changed.
pub fn rollback(
    ui: &Ui,
    journal_file: &PathBuf,
    change: Option<&str>,
    yes: bool,
    connect_args: &ConnectArgs,
) -> Result<Exit, Error> {
    if !yes && !ui::interactive() {
        return Err(Error::NeedsTerminal);
    }
    let contents = journal::read_entries(journal_file)?;
    if let Some(line) = contents.torn_last_line {
        ui.warn(&format!(
            "warning: {}: line {line} is incomplete (an interrupted write) and was ignored",
            journal_file.display()
        ));
    }
    let todo = journal::rollback_plan(&contents.entries, change);
    if todo.is_empty() {
        ui.out("Nothing to roll back.\n");
        return Ok(Exit::Ok);
    }
    runtime()?.block_on(async {
        let store = connect(connect_args).await?;
        let mut journal = Journal::open(journal_file)?;
        let run_id = journal::new_run_id();
        let mut all = yes;
        let (mut done, mut failed) = (0usize, 0usize);
        let mut out = String::new();
        for entry in &todo {
            if entry.account != store.account_id() {
                out.push_str(&format!(
                    "skipped change {} of account {}: the credentials are for account {}\n",
                    entry.change_id,
                    entry.account,
                    store.account_id()
                ));
                continue;
            }
            if !all {
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
                    Answer::No => continue,
                    Answer::Quit | Answer::Interrupted => break,
                }
            }
            match store.rollback(entry, &mut journal, &run_id).await {
                Ok(r) => {
                    done += 1;
                    let how = match r {
                        RolledBack::DefaultVersionRestored { version_id } => {
                            format!("default version {version_id} restored")
                        }
                        RolledBack::NewVersion { version_id } => format!(
                            "original document published as new default version {}",
                            version_id.unwrap_or_default()
                        ),
                        RolledBack::InlineRestored => "inline document restored".into(),
                        RolledBack::AlreadyRolledBack => {
                            "already the original, nothing written".into()
                        }
                    };
                    out.push_str(&format!(
                        "rolled back {} (change {}): {how}\n",
                        entry.target, entry.change_id
                    ));
                }
                Err(e) => {
                    failed += 1;
                    out.push_str(&format!("error: {e}\n"));
                }
            }
        }
        out.push_str(&format!("Rolled back {done}, failed {failed}.\n"));
        ui.out(&out);
        Ok(if failed > 0 { Exit::Error } else { Exit::Ok })
    })
}
