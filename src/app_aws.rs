//! The commands against a live AWS account: plan (read-only), apply (confirm, journal, publish,
//! read back) and rollback. The pure pipeline is the same as for files; only fetching and
//! publishing go through [`crate::store::aws`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::cli::{ConnectArgs, PlanArgs};
use crate::error::{Error, Exit};
use crate::journal::{self, Journal};
use crate::migration::{self, Options};
use crate::plan::{self, Input, Item, SizeLimit};
use crate::report::{self, Mode, TextOptions};
use crate::store::aws::{self, AwsOptions, AwsStore, Fetched, Published, RolledBack};
use crate::target::TargetKind;
use crate::ui::{self, Answer, Ui};

/// A runtime for the AWS SDK. Built only when an account is used, so file runs stay light.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| Error::Runtime { source })
}

fn aws_options(c: &ConnectArgs) -> Result<AwsOptions, Error> {
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

/// Fetch and plan every policy of the account. Tags are read only for policies that would
/// change, so an account costs a handful of requests.
async fn plan_account(ui: &Ui, store: &AwsStore, options: &Options) -> Result<Vec<Item>, Error> {
    let chain = migration::default_chain()?;
    ui.info(&format!(
        "reading IAM policies of account {}",
        store.account_id()
    ));
    let fetched = store.fetch().await?;
    let mut items = Vec::with_capacity(fetched.len());
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
                Err(e) => ui.warn(&format!(
                    "warning: could not read tags of {arn} ({e}); treating it as not managed by infrastructure as code"
                )),
            }
        }
        items.push(item);
    }
    Ok(items)
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

/// `apply` against the account: confirm each change, journal, publish, read back.
pub fn apply(
    ui: &Ui,
    format: crate::cli::Format,
    args: &PlanArgs,
    yes: bool,
) -> Result<Exit, Error> {
    if !yes && !ui::interactive() {
        return Err(Error::NeedsTerminal);
    }
    let options = Options::new(&args.allow_before_mfa)?;
    let interrupted = Arc::new(AtomicBool::new(false));
    let rt = runtime()?;
    rt.block_on(async {
        // Ctrl-C stops new writes; the one in flight finishes and is journalled.
        let flag = interrupted.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.store(true, Ordering::SeqCst);
            }
        });
        let store = connect(&args.aws.connect).await?;
        let items = plan_account(ui, &store, &options).await?;
        let path = journal_path(&args.aws.journal);
        let mut journal = Journal::open(&path)?;
        let run_id = journal::new_run_id();
        let opts = TextOptions {
            color: ui.color,
            verbose: ui.verbose,
        };
        let mut all = yes;
        let mut quit = false;
        let mut lines = Vec::new();
        let (mut applied, mut failed, mut declined) = (0usize, 0usize, 0usize);
        for item in &items {
            let Item::Change(c) = item else { continue };
            if c.is_blocked() {
                continue;
            }
            if c.iac_managed.is_some() && !args.aws.include_iac_managed {
                lines.push(format!(
                    "skipped {} (change {}): managed by infrastructure as code; change its source, or use --include-iac-managed",
                    c.target, c.id
                ));
                declined += 1;
                continue;
            }
            if quit || interrupted.load(Ordering::SeqCst) {
                declined += 1;
                continue;
            }
            if !all {
                ui.warn(&report::change_text(c, opts));
                let question = format!("Apply change {} to {}?", c.id, c.target);
                let answer = tokio::task::spawn_blocking(move || ui::confirm(&question))
                    .await
                    .unwrap_or(Answer::Quit);
                match answer {
                    Answer::Yes => {}
                    Answer::All => all = true,
                    Answer::No => {
                        declined += 1;
                        continue;
                    }
                    Answer::Quit => {
                        quit = true;
                        declined += 1;
                        continue;
                    }
                }
            }
            match store
                .publish(&c.target, &c.before, &c.after, &mut journal, &run_id, args.aws.no_prune)
                .await
            {
                Ok(Published::Applied {
                    change_id,
                    version_id,
                    pruned_version_id,
                    after_lost_response,
                }) => {
                    applied += 1;
                    let mut line = format!("applied {} (journal change {change_id})", c.target);
                    if let Some(v) = version_id {
                        line.push_str(&format!(": new default version {v}"));
                    }
                    if let Some(p) = pruned_version_id {
                        line.push_str(&format!("; pruned version {p} (its document is in the journal)"));
                    }
                    if after_lost_response {
                        line.push_str("; the response was lost but the write had landed (not repeated)");
                    }
                    lines.push(line);
                }
                Ok(Published::AlreadyApplied { change_id, .. }) => {
                    lines.push(format!("{}: already up to date, nothing written (journal change {change_id})", c.target));
                }
                Err(e) => {
                    failed += 1;
                    lines.push(format!("error: {e}"));
                }
            }
        }
        match format {
            crate::cli::Format::Json => {
                let mut v = report::json(&items, Mode::Apply);
                v["results"] = serde_json::json!(lines);
                v["journal"] = serde_json::json!(path.display().to_string());
                ui.out(&(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"));
            }
            _ => {
                if yes && !ui.quiet {
                    ui.out(&report::text(&items, Mode::Apply, opts));
                }
                let mut out = lines.join("\n");
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&format!(
                    "Applied {applied}, failed {failed}, not applied {declined}. Journal: {}\n",
                    path.display()
                ));
                if applied > 0 {
                    out.push_str(&format!(
                        "Undo with: forcemfa rollback --journal {} (or --change ID for one change)\n",
                        path.display()
                    ));
                }
                ui.out(&out);
            }
        }
        let s = plan::summarize(&items);
        Ok(if interrupted.load(Ordering::SeqCst) {
            Exit::Interrupted
        } else if s.blocked > 0 {
            Exit::Blocked
        } else if s.errors > 0 || failed > 0 {
            Exit::Error
        } else {
            Exit::Ok
        })
    })
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
                    Answer::Quit => break,
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
