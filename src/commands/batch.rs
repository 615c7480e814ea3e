//! Many accounts at once (`--accounts FILE`, `--org`): resolve the accounts, plan them
//! concurrently (bounded by `--concurrency`), confirm one change at a time in a fixed order
//! (account id, then target), publish concurrently again, and report every account.
//!
//! Failure isolation: everything that can go wrong for one account (assuming its role,
//! throttling that outlasts the SDK's retries, a denied permission) is caught at the account
//! boundary and reported with the account; the other accounts carry on. Ctrl-C stops new
//! writes; writes in flight finish and are journalled, then the summary is printed.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_sdk_organizations::error::ProvideErrorMetadata;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cli::{Format, PlanArgs};
use crate::commands as app;
use crate::commands::apply::{self, apply_changes, AwsWriter, Outcome, Settings};
use crate::engine::migration::Options;
use crate::engine::plan::{self, Item, PlanFile, PlannedChange};
use crate::error::{Error, Exit};
use crate::report::{self, Mode, TextOptions};
use crate::sources::accounts::{self, Access, Account, Filter, RoleSettings};
use crate::sources::aws::{self as aws_store, AssumeRole, AwsOptions, AwsStore};
use crate::sources::journal::{self, Journal};
use crate::ui::{self, Answer, Ui};

/// What happened in one account.
#[derive(Debug, Clone)]
pub struct AccountRun {
    pub account: Account,
    /// Planning results (plan/scan, and apply without `--plan`).
    pub items: Vec<Item>,
    /// Apply results, in the account's target order.
    pub results: Vec<apply::Result>,
    /// Changes of a saved plan that were blocked by verification (never applied).
    pub blocked: Vec<String>,
    /// Why the account could not be worked on at all.
    pub error: Option<String>,
    pub warnings: Vec<String>,
}

impl AccountRun {
    fn new(account: Account) -> AccountRun {
        AccountRun {
            account,
            items: Vec::new(),
            results: Vec::new(),
            blocked: Vec::new(),
            error: None,
            warnings: Vec::new(),
        }
    }
}

/// The operator's credentials and where the batch's accounts come from.
#[derive(Clone)]
pub struct Base {
    pub sdk: aws_types::SdkConfig,
    pub account: String,
    pub options: AwsOptions,
}

// ---------------------------------------------------------------------------------------------
// Progress

/// One phase's progress: a bar on a terminal, a log line per account otherwise, nothing with
/// `--quiet`.
#[derive(Clone)]
struct Phase {
    ui: Ui,
    name: &'static str,
    bar: Option<indicatif::ProgressBar>,
}

impl Phase {
    fn new(ui: Ui, name: &'static str, len: usize) -> Phase {
        let bar = (!ui.quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(len as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{prefix:>8} [{bar:30}] {pos}/{len} accounts  {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(name);
            bar
        });
        Phase { ui, name, bar }
    }

    fn done(&self, account: &str, what: &str) {
        match &self.bar {
            Some(b) => {
                b.inc(1);
                b.set_message(format!("{account}: {what}"));
            }
            None => self
                .ui
                .info(&format!("{}: account {account}: {what}", self.name)),
        }
    }

    fn warn(&self, text: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| self.ui.warn(text)),
            None => self.ui.warn(text),
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Targets

fn partition(sdk: &aws_types::SdkConfig) -> &'static str {
    match sdk.region().map(|r| r.as_ref()) {
        Some(r) if r.starts_with("cn-") => "aws-cn",
        Some(r) if r.starts_with("us-gov-") => "aws-us-gov",
        _ => "aws",
    }
}

fn role_settings(args: &PlanArgs) -> RoleSettings {
    RoleSettings {
        role_name: args.batch.role_name.clone(),
        external_id: args.batch.external_id.clone(),
        session_name: args.aws.connect.session_name.clone(),
        duration_seconds: args.batch.duration_seconds,
    }
}

/// Batch-only options without `--accounts`/`--org` would be silently ignored: refuse them.
pub fn check_args(args: &PlanArgs) -> Result<(), Error> {
    let b = &args.batch;
    if b.active() {
        return Ok(());
    }
    let given: Vec<&str> = [
        (!b.account.is_empty(), "--account"),
        (!b.exclude_account.is_empty(), "--exclude-account"),
        (!b.tag.is_empty(), "--tag"),
        (b.report.is_some(), "--report"),
        (b.external_id.is_some(), "--external-id"),
        (b.duration_seconds.is_some(), "--duration-seconds"),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(Error::Input {
        path: "command line".into(),
        message: format!(
            "{} only apply to batches: add --accounts FILE or --org (docs/multi-account.md)",
            given.join(", ")
        ),
    })
}

/// The operator's credentials, loaded once.
pub async fn base(args: &PlanArgs) -> Result<Base, Error> {
    let options = crate::commands::aws::aws_options(&args.aws.connect)?;
    let (sdk, account) = aws_store::base_config(&options).await?;
    Ok(Base {
        sdk,
        account,
        options,
    })
}

/// The accounts of the batch, filtered and sorted by id, plus `--account` ids that matched
/// nothing (reported, since they are probably typos).
pub async fn resolve(args: &PlanArgs, base: &Base) -> Result<(Vec<Account>, Vec<String>), Error> {
    let b = &args.batch;
    let filter =
        Filter::new(&b.account, &b.exclude_account, &b.tag).map_err(|message| Error::Input {
            path: "command line".into(),
            message,
        })?;
    let role = role_settings(args);
    let mut list = match &b.accounts {
        Some(path) => accounts::load(path, &role).map_err(|e| Error::Input {
            path: e.path,
            message: e.message,
        })?,
        None => org_accounts(base, &role, &filter).await?,
    };
    // The account of the operator's own credentials is reached with them, not through a role:
    // `OrganizationAccountAccessRole` exists in member accounts only, not in the management
    // account. An explicit role_arn or profile in an accounts file is still honoured.
    let default_role = role.assume(partition(&base.sdk), &base.account);
    for a in &mut list {
        if a.id == base.account && (b.org || a.access == default_role) {
            a.access = Access::Current;
        }
    }
    Ok(filter.apply(list))
}

fn org_error(operation: &str, e: &dyn ProvideErrorMetadata, chain: String) -> Error {
    let code = e.code().unwrap_or_default();
    let hint = match code {
        "AWSOrganizationsNotInUseException" => {
            "the account of these credentials is not in an AWS Organization: use --accounts FILE instead"
        }
        "AccessDeniedException" | "AccessDenied" => {
            "run from the management account or a delegated administrator, with organizations:ListAccounts (and organizations:ListTagsForResource for --tag)"
        }
        _ => "check the credentials and retry; or list the accounts in a file and use --accounts FILE",
    };
    Error::Input {
        path: "--org".into(),
        message: format!("organizations:{operation} failed ({chain}); {hint}"),
    }
}

/// Every ACTIVE account of the organisation (all pages), with its tags when `--tag` asks.
async fn org_accounts(
    base: &Base,
    role: &RoleSettings,
    filter: &Filter,
) -> Result<Vec<Account>, Error> {
    use aws_sdk_organizations::types::{AccountState, AccountStatus};
    let org = aws_sdk_organizations::Client::new(&base.sdk);
    let mut pages = org.list_accounts().into_paginator().send();
    let part = partition(&base.sdk);
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            let chain = crate::sources::aws::display_chain(&e);
            org_error("ListAccounts", &e, chain)
        })?;
        for a in page.accounts() {
            // AWS retired `Status` for `State` in September 2026; older endpoints (and
            // test servers) send only `Status`.
            let active = match (a.state(), a.status()) {
                (Some(state), _) => *state == AccountState::Active,
                (None, Some(status)) => *status == AccountStatus::Active,
                (None, None) => false,
            };
            let Some(id) = a.id().filter(|_| active) else {
                continue;
            };
            out.push(Account {
                id: id.to_string(),
                name: a.name().map(str::to_string),
                access: role.assume(part, id),
                tags: BTreeMap::new(),
            });
        }
    }
    if filter.has_tags() {
        // One more request per account, only when tags are asked for.
        for a in &mut out {
            let mut pages = org
                .list_tags_for_resource()
                .resource_id(&a.id)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    let chain = crate::sources::aws::display_chain(&e);
                    org_error("ListTagsForResource", &e, chain)
                })?;
                for t in page.tags() {
                    a.tags.insert(t.key().to_string(), t.value().to_string());
                }
            }
        }
    }
    Ok(out)
}

/// A store for one account, from the operator's credentials.
pub async fn connect(base: &Base, a: &Account) -> Result<AwsStore, String> {
    match &a.access {
        Access::Current => Ok(AwsStore::from_client(
            aws_sdk_iam::Client::new(&base.sdk),
            a.id.clone(),
        )),
        Access::AssumeRole {
            role_arn,
            external_id,
            session_name,
            duration_seconds,
        } => AwsStore::connect_assumed(
            &base.sdk,
            &AssumeRole {
                role_arn: role_arn.clone(),
                external_id: external_id.clone(),
                session_name: session_name.clone(),
                duration_seconds: *duration_seconds,
            },
        )
        .await
        .map_err(|e| e.to_string()),
        Access::Profile(p) => {
            // An MFA code works once; a profile brings its own credentials.
            let opts = AwsOptions {
                profile: Some(p.clone()),
                mfa_serial: None,
                mfa_code: None,
                ..base.options.clone()
            };
            let store = AwsStore::connect(&opts).await.map_err(|e| e.to_string())?;
            if store.account_id() != a.id {
                return Err(format!(
                    "profile {p:?} is for account {}, not {}; fix the accounts file",
                    store.account_id(),
                    a.id
                ));
            }
            Ok(store)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Plan

/// Plan every account, at most `concurrency` at once. Returns the runs in account order and
/// the stores that connected (for an apply that follows).
pub async fn plan_all(
    ui: Ui,
    base: &Base,
    accounts: Vec<Account>,
    options: &Options,
    concurrency: usize,
) -> (Vec<AccountRun>, BTreeMap<String, AwsStore>) {
    let phase = Phase::new(ui, "plan", accounts.len());
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = JoinSet::new();
    for a in accounts {
        let (gate, base, options, phase) =
            (gate.clone(), base.clone(), options.clone(), phase.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let mut run = AccountRun::new(a);
            let store = match connect(&base, &run.account).await {
                Ok(s) => s,
                Err(e) => {
                    phase.warn(&format!("error: account {}: {e}", run.account.label()));
                    phase.done(&run.account.id, "failed");
                    run.error = Some(e);
                    return (run, None);
                }
            };
            match crate::commands::aws::plan_account_items(&store, &options).await {
                Ok((items, warnings)) => {
                    for w in &warnings {
                        phase.warn(&format!("account {}: {w}", run.account.id));
                    }
                    let s = plan::summarize(&items);
                    phase.done(
                        &run.account.id,
                        &format!("{} to change, {} unchanged", s.changes, s.unchanged),
                    );
                    run.items = items;
                    run.warnings = warnings;
                }
                Err(e) => {
                    phase.warn(&format!("error: account {}: {e}", run.account.label()));
                    phase.done(&run.account.id, "failed");
                    run.error = Some(e.to_string());
                }
            }
            (run, Some(store))
        });
    }
    let mut runs = Vec::new();
    let mut stores = BTreeMap::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((run, store)) => {
                if let Some(s) = store {
                    stores.insert(run.account.id.clone(), s);
                }
                runs.push(run);
            }
            // A panic in one account's task must not take the batch down; it cannot be
            // attributed to an account here, so it is reported as a warning.
            Err(e) => ui.warn(&format!("error: an account's task failed: {e}")),
        }
    }
    phase.finish();
    runs.sort_by(|a, b| a.account.id.cmp(&b.account.id));
    for r in &mut runs {
        r.items.sort_by(|a, b| a.target().cmp(b.target()));
    }
    (runs, stores)
}

/// `scan`/`plan` with `--accounts`/`--org`.
pub fn plan_command(
    ui: &Ui,
    format: Format,
    args: &PlanArgs,
    mode: Mode,
    detailed_exitcode: bool,
    out: Option<&Path>,
) -> Result<Exit, Error> {
    let options = Options::new(&args.allow_before_mfa)?;
    let (runs, unknown) = crate::commands::aws::runtime()?.block_on(async {
        let base = base(args).await?;
        let (accounts, unknown) = resolve(args, &base).await?;
        let (runs, _) = plan_all(
            *ui,
            &base,
            accounts,
            &options,
            usize::from(args.batch.concurrency),
        )
        .await;
        Ok::<_, Error>((runs, unknown))
    })?;
    for id in &unknown {
        ui.warn(&format!(
            "warning: --account {id} is not among the accounts of the batch"
        ));
    }
    let items: Vec<Item> = runs.iter().flat_map(|r| r.items.clone()).collect();
    if let Some(path) = out {
        let (chain, options) = app::chain_and_options(args)?;
        let file = PlanFile::new(
            &items,
            &chain,
            &options,
            crate::sources::journal::now_rfc3339(),
        );
        let text = serde_json::to_string_pretty(&file).map_err(|e| Error::Serialize {
            what: format!("the plan for {}", path.display()),
            source: e,
        })?;
        std::fs::write(path, text + "\n").map_err(|source| Error::Write {
            path: path.display().to_string(),
            source,
        })?;
        ui.info(&format!(
            "plan saved to {} ({} changes in {} accounts); apply it with `forcemfa apply --plan {}` and the same --accounts/--org",
            path.display(),
            file.changes.len(),
            runs.iter().filter(|r| r.items.iter().any(|i| matches!(i, Item::Change(_)))).count(),
            path.display()
        ));
    }
    emit(ui, format, args, mode, &runs, &items, None)?;
    let failed = runs.iter().any(|r| r.error.is_some());
    Ok(match app::exit_for(&items, detailed_exitcode) {
        Exit::Blocked => Exit::Blocked,
        _ if failed => Exit::Error,
        e => e,
    })
}

// ---------------------------------------------------------------------------------------------
// Apply

/// `apply` with `--accounts`/`--org`: a saved plan (`--plan FILE`) or a fresh one.
pub fn apply_command(
    ui: &Ui,
    format: Format,
    args: &PlanArgs,
    yes: bool,
    plan_path: Option<&Path>,
) -> Result<Exit, Error> {
    if !yes && !ui::interactive() {
        return Err(Error::NeedsTerminal);
    }
    let opts = ui.text_options();
    let interrupted = Arc::new(AtomicBool::new(false));
    let rt = crate::commands::aws::runtime()?;
    let (runs, unknown, journal_path, items) = rt.block_on(async {
        // Ctrl-C stops new writes; the ones in flight finish and are journalled.
        let flag = interrupted.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.store(true, Ordering::SeqCst);
            }
        });
        let base = base(args).await?;
        let (accounts, unknown) = resolve(args, &base).await?;
        let (file, mut runs, stores, items) = match plan_path {
            Some(path) => {
                let file = app::load_plan(path)?;
                let (chain, options) = app::chain_and_options(args)?;
                file.check(&chain, Some(&options))
                    .map_err(|e| Error::Input {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?;
                let runs = accounts.into_iter().map(AccountRun::new).collect();
                (file, runs, BTreeMap::new(), Vec::new())
            }
            None => {
                let options = Options::new(&args.allow_before_mfa)?;
                let (runs, stores) = plan_all(
                    *ui,
                    &base,
                    accounts,
                    &options,
                    usize::from(args.batch.concurrency),
                )
                .await;
                let items: Vec<Item> = runs.iter().flat_map(|r| r.items.clone()).collect();
                let (chain, options) = app::chain_and_options(args)?;
                let file = PlanFile::new(
                    &items,
                    &chain,
                    &options,
                    crate::sources::journal::now_rfc3339(),
                );
                (file, runs, stores, items)
            }
        };
        let prompts: BTreeMap<String, String> = if items.is_empty() {
            file.changes
                .iter()
                .map(|c| (c.id.clone(), app::planned_text(c)))
                .collect()
        } else {
            items
                .iter()
                .filter_map(|i| match i {
                    Item::Change(c) if !c.is_blocked() => {
                        Some((c.id.clone(), report::change_text(c, opts)))
                    }
                    _ => None,
                })
                .collect()
        };
        let journal_path = args
            .aws
            .journal
            .clone()
            .unwrap_or_else(Journal::default_path);
        let job = ApplyJob {
            settings: Settings {
                yes,
                include_iac_managed: args.aws.include_iac_managed,
            },
            journal: journal_path.clone(),
            no_prune: args.aws.no_prune,
            concurrency: usize::from(args.batch.concurrency),
        };
        apply_all(
            *ui,
            &base,
            &mut runs,
            stores,
            &file,
            &prompts,
            &job,
            interrupted.clone(),
        )
        .await?;
        Ok::<_, Error>((runs, unknown, journal_path, items))
    })?;
    for id in &unknown {
        ui.warn(&format!(
            "warning: --account {id} is not among the accounts of the batch"
        ));
    }
    let was_interrupted = interrupted.load(Ordering::SeqCst);
    if was_interrupted {
        ui.warn("interrupted: no new writes were started; writes in flight finished and are in the journal. Run the same `apply --plan` again to finish the rest.");
    }
    emit(
        ui,
        format,
        args,
        Mode::Apply,
        &runs,
        &items,
        Some(&journal_path),
    )?;
    let any_blocked =
        runs.iter().any(|r| !r.blocked.is_empty()) || plan::summarize(&items).blocked > 0;
    let any_failed = runs.iter().any(|r| {
        r.error.is_some()
            || apply::any_failed(&r.results)
            || r.items.iter().any(|i| matches!(i, Item::Error { .. }))
    });
    Ok(if was_interrupted {
        Exit::Interrupted
    } else if any_blocked {
        Exit::Blocked
    } else if any_failed {
        Exit::Error
    } else {
        Exit::Ok
    })
}

struct ApplyJob {
    settings: Settings,
    journal: PathBuf,
    no_prune: bool,
    concurrency: usize,
}

/// Apply a plan's changes to the accounts of `runs`: connect where needed (concurrently),
/// confirm one change at a time in account-then-target order, then publish concurrently
/// across accounts (sequentially within one).
#[allow(clippy::too_many_arguments)]
async fn apply_all(
    ui: Ui,
    base: &Base,
    runs: &mut Vec<AccountRun>,
    mut stores: BTreeMap<String, AwsStore>,
    file: &PlanFile,
    prompts: &BTreeMap<String, String>,
    job: &ApplyJob,
    interrupted: Arc<AtomicBool>,
) -> Result<(), Error> {
    // Changes by account, each account's in target order.
    let mut by_account: BTreeMap<String, Vec<PlannedChange>> = BTreeMap::new();
    for c in &file.changes {
        match &c.target.account {
            Some(id) if runs.iter().any(|r| &r.account.id == id) => {
                by_account.entry(id.clone()).or_default().push(c.clone())
            }
            other => {
                // Not among the selected accounts (filtered out, or a file target): reported
                // under its own account, never written.
                let id = other.clone().unwrap_or_else(|| "files".into());
                let reason = match other {
                    Some(_) => "the account is not selected by --accounts/--org and the filters"
                        .to_string(),
                    None => "a file target; apply it without --accounts/--org".to_string(),
                };
                let pos = match runs.iter().position(|r| r.account.id == id) {
                    Some(p) => p,
                    None => {
                        runs.push(AccountRun::new(Account {
                            id: id.clone(),
                            name: Some("not selected".into()),
                            access: Access::Current,
                            tags: BTreeMap::new(),
                        }));
                        runs.len() - 1
                    }
                };
                runs[pos].results.push(apply::Result {
                    change: c.id.clone(),
                    target: c.target.to_string(),
                    outcome: Outcome::Skipped { reason },
                });
            }
        }
    }
    for list in by_account.values_mut() {
        list.sort_by(|a, b| a.target.cmp(&b.target));
    }
    for r in runs.iter_mut() {
        let needle = format!("({}: ", r.account.id);
        r.blocked = file
            .blocked
            .iter()
            .filter(|b| b.contains(&needle))
            .cloned()
            .collect();
    }

    // Connect the accounts that have changes and no store yet (a saved plan).
    let need: Vec<Account> = runs
        .iter()
        .filter(|r| by_account.contains_key(&r.account.id) && r.error.is_none())
        .filter(|r| !stores.contains_key(&r.account.id))
        .map(|r| r.account.clone())
        .collect();
    if !need.is_empty() {
        let phase = Phase::new(ui, "connect", need.len());
        let gate = Arc::new(Semaphore::new(job.concurrency.max(1)));
        let mut set = JoinSet::new();
        for a in need {
            let (gate, base, phase) = (gate.clone(), base.clone(), phase.clone());
            set.spawn(async move {
                let _permit = gate.acquire_owned().await;
                let r = connect(&base, &a).await;
                match &r {
                    Ok(_) => phase.done(&a.id, "connected"),
                    Err(e) => {
                        phase.warn(&format!("error: account {}: {e}", a.label()));
                        phase.done(&a.id, "failed");
                    }
                }
                (a.id, r)
            });
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((id, Ok(store))) => {
                    stores.insert(id, store);
                }
                Ok((id, Err(e))) => {
                    if let Some(r) = runs.iter_mut().find(|r| r.account.id == id) {
                        r.error = Some(e);
                    }
                }
                Err(e) => ui.warn(&format!("error: an account's task failed: {e}")),
            }
        }
        phase.finish();
    }

    // Confirm, one change at a time, in a stable order.
    let mut approved: BTreeMap<String, Vec<PlannedChange>> = BTreeMap::new();
    let mut all = job.settings.yes;
    let mut quit = false;
    for r in runs.iter_mut() {
        let Some(changes) = by_account.get(&r.account.id) else {
            continue;
        };
        if r.error.is_some() {
            // Counted as failed in the report, with the account's error as the reason.
            continue;
        }
        for c in changes {
            let declined = |r: &mut AccountRun| {
                r.results.push(apply::Result {
                    change: c.id.clone(),
                    target: c.target.to_string(),
                    outcome: Outcome::Declined,
                })
            };
            if quit || interrupted.load(Ordering::SeqCst) {
                declined(r);
                continue;
            }
            if !all && (c.iac_managed.is_none() || job.settings.include_iac_managed) {
                ui.warn(prompts.get(&c.id).map(String::as_str).unwrap_or_default());
                let question = format!("Apply change {} to {}?", c.id, c.target);
                let answer = tokio::task::spawn_blocking(move || ui::confirm(&question))
                    .await
                    .unwrap_or(Answer::Quit);
                match answer {
                    Answer::Yes => {}
                    Answer::All => all = true,
                    Answer::No => {
                        declined(r);
                        continue;
                    }
                    Answer::Quit => {
                        quit = true;
                        declined(r);
                        continue;
                    }
                    Answer::Interrupted => {
                        quit = true;
                        interrupted.store(true, Ordering::SeqCst);
                        declined(r);
                        continue;
                    }
                }
            }
            approved
                .entry(r.account.id.clone())
                .or_default()
                .push(c.clone());
        }
    }

    // Publish, concurrently across accounts. Every account appends to the same journal
    // through its own handle: each record is one O_APPEND write of a whole line, so lines
    // from different accounts never interleave. Handles are opened before any task starts
    // (opening repairs a torn last line, which must not race with appends).
    let phase = Phase::new(ui, "apply", approved.len());
    let gate = Arc::new(Semaphore::new(job.concurrency.max(1)));
    let mut set = JoinSet::new();
    let run_id = journal::new_run_id();
    // A crash may have torn records: say so once, before the first write.
    if let Some(w) = Journal::open(&job.journal)?.torn_warning() {
        ui.warn(&w);
    }
    for (id, changes) in approved {
        let Some(store) = stores.get(&id).cloned() else {
            continue;
        };
        let mut journal = Journal::open(&job.journal)?;
        let (gate, phase, interrupted, run_id) = (
            gate.clone(),
            phase.clone(),
            interrupted.clone(),
            run_id.clone(),
        );
        let settings = Settings {
            yes: true,
            include_iac_managed: job.settings.include_iac_managed,
        };
        let no_prune = job.no_prune;
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let writer = AwsWriter {
                store: &store,
                journal: &mut journal,
                run_id,
                no_prune,
            };
            let results =
                apply_changes(&ui, &changes, &[], &settings, Some(writer), &interrupted).await;
            let applied = results
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Applied { .. }))
                .count();
            phase.done(&id, &format!("{applied} applied"));
            (id, results)
        });
    }
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((id, results)) => {
                if let Some(r) = runs.iter_mut().find(|r| r.account.id == id) {
                    r.results.extend(results);
                }
            }
            Err(e) => ui.warn(&format!("error: an account's task failed: {e}")),
        }
    }
    phase.finish();
    // Results in target order within each account, approved or not.
    for r in runs.iter_mut() {
        if let Some(order) = by_account.get(&r.account.id) {
            let pos = |id: &str| order.iter().position(|c| c.id == id).unwrap_or(usize::MAX);
            r.results.sort_by_key(|x| pos(&x.change));
        }
        // Changes of an account that failed to connect are listed as failed with its error.
        if let (Some(e), Some(changes)) = (&r.error, by_account.get(&r.account.id)) {
            if r.results.is_empty() {
                r.results = changes
                    .iter()
                    .map(|c| apply::Result {
                        change: c.id.clone(),
                        target: c.target.to_string(),
                        outcome: Outcome::Failed {
                            error: format!("not applied: {e}"),
                        },
                    })
                    .collect();
            }
        }
    }
    runs.sort_by(|a, b| a.account.id.cmp(&b.account.id));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Report

/// Per-account totals of the summary table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountSummary {
    pub account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `ok` or `failed`.
    pub status: &'static str,
    pub changed: usize,
    pub unchanged: usize,
    pub skipped: usize,
    pub blocked: usize,
    pub failed: usize,
    pub reasons: Vec<String>,
}

/// The summary of one account. In plan/scan, `changed` counts pending changes; in apply,
/// changes written (`unchanged` then includes changes found already applied).
pub fn summarize_account(r: &AccountRun, mode: Mode) -> AccountSummary {
    let s = plan::summarize(&r.items);
    let mut out = AccountSummary {
        account: r.account.id.clone(),
        name: r.account.name.clone(),
        status: if r.error.is_some() { "failed" } else { "ok" },
        unchanged: s.unchanged,
        skipped: s.skipped,
        blocked: s.blocked + r.blocked.len(),
        failed: s.errors,
        ..AccountSummary::default()
    };
    if let Some(e) = &r.error {
        out.reasons.push(e.clone());
        if r.results.is_empty() && r.items.is_empty() {
            out.failed += 1;
        }
    }
    if mode != Mode::Apply || r.results.is_empty() {
        out.changed = s.changes;
    }
    for i in &r.items {
        match i {
            Item::Error { target, error } => out.reasons.push(format!("{target}: {error}")),
            Item::Change(c) if c.is_blocked() => {
                out.reasons
                    .push(format!("blocked {}: {}", c.target, c.blocked.join("; ")))
            }
            Item::Skipped {
                target,
                reason,
                needs_review: true,
                ..
            } => out.reasons.push(format!("needs review {target}: {reason}")),
            _ => {}
        }
    }
    for b in &r.blocked {
        out.reasons.push(format!("blocked by verification: {b}"));
    }
    if mode == Mode::Apply && !r.results.is_empty() {
        out.changed = 0;
        for x in &r.results {
            match &x.outcome {
                Outcome::Applied { .. } => out.changed += 1,
                Outcome::AlreadyApplied => out.unchanged += 1,
                Outcome::Declined => {
                    out.skipped += 1;
                    out.reasons
                        .push(format!("not applied {} [{}]", x.target, x.change));
                }
                Outcome::Skipped { reason } => {
                    out.skipped += 1;
                    out.reasons
                        .push(format!("skipped {} [{}]: {reason}", x.target, x.change));
                }
                Outcome::Stale { detail } => {
                    out.failed += 1;
                    out.reasons
                        .push(format!("stale {} [{}]: {detail}", x.target, x.change));
                }
                Outcome::Failed { error } => {
                    out.failed += 1;
                    out.reasons
                        .push(format!("failed {} [{}]: {error}", x.target, x.change));
                }
            }
        }
    }
    if out.failed > 0 {
        out.status = "failed";
    }
    out
}

/// The account table as plain text.
pub fn table_text(rows: &[AccountSummary], mode: Mode) -> String {
    let changed = if mode == Mode::Apply {
        "applied"
    } else {
        "changes"
    };
    let mut out = format!(
        "\n{:<26} {:<7} {:>8} {:>9} {:>7} {:>7} {:>6}\n",
        "account", "status", changed, "unchanged", "skipped", "blocked", "failed"
    );
    for r in rows {
        let label = match &r.name {
            Some(n) => format!("{} {}", r.account, n),
            None => r.account.clone(),
        };
        out.push_str(&format!(
            "{:<26} {:<7} {:>8} {:>9} {:>7} {:>7} {:>6}\n",
            truncate(&label, 26),
            r.status,
            r.changed,
            r.unchanged,
            r.skipped,
            r.blocked,
            r.failed
        ));
        for reason in &r.reasons {
            out.push_str(&format!("    {reason}\n"));
        }
    }
    let failed = rows.iter().filter(|r| r.status == "failed").count();
    out.push_str(&format!(
        "{} accounts: {} ok, {} failed.\n",
        rows.len(),
        rows.len() - failed,
        failed
    ));
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n.saturating_sub(1)).collect::<String>() + "…"
    }
}

/// Markdown cells must not break the table.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The account table as Markdown, for a change ticket.
pub fn table_markdown(rows: &[AccountSummary], mode: Mode) -> String {
    let changed = if mode == Mode::Apply {
        "Applied"
    } else {
        "Changes"
    };
    let mut out = format!(
        "\n## Accounts\n\n| Account | Name | Status | {changed} | Unchanged | Skipped | Blocked | Failed |\n|---|---|---|--:|--:|--:|--:|--:|\n"
    );
    for r in rows {
        let status = if r.status == "failed" {
            "**failed**"
        } else {
            "ok"
        };
        out.push_str(&format!(
            "| `{}` | {} | {status} | {} | {} | {} | {} | {} |\n",
            r.account,
            cell(r.name.as_deref().unwrap_or("")),
            r.changed,
            r.unchanged,
            r.skipped,
            r.blocked,
            r.failed
        ));
    }
    let with_reasons: Vec<&AccountSummary> =
        rows.iter().filter(|r| !r.reasons.is_empty()).collect();
    if !with_reasons.is_empty() {
        out.push_str("\n### Reasons\n\n");
        for r in with_reasons {
            out.push_str(&format!("- `{}`\n", r.account));
            for reason in &r.reasons {
                out.push_str(&format!("  - {}\n", cell(reason)));
            }
        }
    }
    out
}

/// Print the report (items, results, account table) in `format`, and write it to
/// `--report FILE` too.
fn emit(
    ui: &Ui,
    format: Format,
    args: &PlanArgs,
    mode: Mode,
    runs: &[AccountRun],
    items: &[Item],
    journal: Option<&Path>,
) -> Result<(), Error> {
    let rows: Vec<AccountSummary> = runs.iter().map(|r| summarize_account(r, mode)).collect();
    let results: Vec<&apply::Result> = runs.iter().flat_map(|r| r.results.iter()).collect();
    let render = |color: bool| -> String {
        match format {
            Format::Json => {
                let mut v = report::json(items, mode);
                if mode == Mode::Apply {
                    v["results"] = serde_json::to_value(&results).unwrap_or_default();
                    if let Some(j) = journal {
                        v["journal"] = serde_json::json!(j.display().to_string());
                    }
                }
                v["accounts"] = serde_json::to_value(&rows).unwrap_or_default();
                app::pretty(&v)
            }
            Format::Markdown => {
                // A saved plan has no planning items: its results table says it all.
                let mut s = if items.is_empty() && mode == Mode::Apply {
                    format!(
                        "# forcemfa apply\n\nSaved plan applied to {} accounts.\n",
                        runs.len()
                    )
                } else {
                    report::markdown(items, mode)
                };
                if mode == Mode::Apply && !results.is_empty() {
                    s.push_str("\n## Results\n\n| Account | Target | Change | Outcome |\n|---|---|---|---|\n");
                    for r in runs {
                        for x in &r.results {
                            s.push_str(&format!(
                                "| `{}` | {} | `{}` | {} |\n",
                                r.account.id,
                                cell(
                                    x.target
                                        .strip_prefix(&format!("{}: ", r.account.id))
                                        .unwrap_or(&x.target)
                                ),
                                x.change,
                                cell(&outcome_text(&x.outcome))
                            ));
                        }
                    }
                }
                s + &table_markdown(&rows, mode)
            }
            Format::Sarif => app::pretty(&report::sarif(items)),
            Format::Text => {
                let mut s = String::new();
                if !ui.quiet && !items.is_empty() {
                    s.push_str(&report::text(
                        items,
                        mode,
                        TextOptions {
                            color,
                            verbose: ui.verbose,
                        },
                    ));
                }
                if mode == Mode::Apply {
                    let owned: Vec<apply::Result> = results.iter().map(|r| (*r).clone()).collect();
                    s.push_str(&apply::result_lines(&owned));
                    if let Some(j) = journal {
                        s.push_str(&format!(
                            "Journal: {}; undo per account with `forcemfa rollback --journal {}` and that account's credentials\n",
                            j.display(),
                            j.display()
                        ));
                    }
                }
                s + &table_text(&rows, mode)
            }
        }
    };
    ui.out(&render(ui.color));
    if let Some(path) = &args.batch.report {
        std::fs::write(path, render(false)).map_err(|source| Error::Write {
            path: path.display().to_string(),
            source,
        })?;
        ui.info(&format!("report written to {}", path.display()));
    }
    Ok(())
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Applied { detail } => format!("applied ({detail})"),
        Outcome::AlreadyApplied => "already applied".into(),
        Outcome::Stale { detail } => format!("stale: {detail}"),
        Outcome::Failed { error } => format!("failed: {error}"),
        Outcome::Declined => "not applied".into(),
        Outcome::Skipped { reason } => format!("skipped: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::engine::target::{Target, TargetKind};

    fn run(results: Vec<Outcome>, error: Option<&str>) -> AccountRun {
        let mut r = AccountRun::new(Account {
            id: "111111111111".into(),
            name: Some("prod|eu".into()),
            access: Access::Current,
            tags: BTreeMap::new(),
        });
        r.error = error.map(str::to_string);
        r.results = results
            .into_iter()
            .enumerate()
            .map(|(i, outcome)| apply::Result {
                change: format!("c{i}"),
                target: Target {
                    account: Some("111111111111".into()),
                    kind: TargetKind::Managed {
                        arn: format!("arn:aws:iam::111111111111:policy/p{i}"),
                        name: format!("p{i}"),
                    },
                }
                .to_string(),
                outcome,
            })
            .collect();
        r
    }

    #[test]
    fn apply_summary_counts_every_outcome_with_reasons() {
        let r = run(
            vec![
                Outcome::Applied {
                    detail: "v2".into(),
                },
                Outcome::AlreadyApplied,
                Outcome::Declined,
                Outcome::Stale {
                    detail: "changed".into(),
                },
                Outcome::Failed {
                    error: "throttled".into(),
                },
            ],
            None,
        );
        let s = summarize_account(&r, Mode::Apply);
        assert_eq!(
            (s.changed, s.unchanged, s.skipped, s.blocked, s.failed),
            (1, 1, 1, 0, 2)
        );
        assert_eq!(s.status, "failed");
        assert_eq!(s.reasons.len(), 3, "{:?}", s.reasons);
        let md = table_markdown(&[s], Mode::Apply);
        assert!(
            md.contains("| `111111111111` | prod\\|eu | **failed** | 1 | 1 | 1 | 0 | 2 |"),
            "{md}"
        );
        assert!(md.contains("### Reasons"), "{md}");
    }

    #[test]
    fn an_account_that_could_not_be_reached_is_failed_with_its_error() {
        let s = summarize_account(&run(vec![], Some("sts:AssumeRole failed")), Mode::Plan);
        assert_eq!((s.status, s.failed), ("failed", 1));
        assert_eq!(s.reasons, ["sts:AssumeRole failed"]);
        let text = table_text(&[s], Mode::Plan);
        assert!(text.contains("1 accounts: 0 ok, 1 failed."), "{text}");
    }
}
