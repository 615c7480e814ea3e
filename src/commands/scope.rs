//! What a run works on, and its parts. A run covers policy files, or AWS accounts (the
//! account of the current credentials, the accounts of `--accounts FILE`, or of `--org`: one
//! account is a batch of one). Each [`Part`] (the files, or one account) is planned,
//! confirmed, written and reported the same way; a saved plan carries its parts with it
//! ([`crate::engine::reach::Reach`]), so `apply --plan FILE` needs nothing else. Accounts are
//! worked on in an async runtime ([`runtime`]), built only when a run has accounts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cli::{ConnectArgs, PlanArgs};
use crate::engine::plan::{Item, PlanFile, PlannedChange};
use crate::engine::reach::Reach;
use crate::error::Error;
use crate::report::parts::PartView;
use crate::sources::accounts::{self, Access, Account, Filter, RoleSettings};
use crate::sources::aws::{AwsOptions, AwsStore};
use crate::sources::journal::Journal;
use crate::sources::reach::{self, Base};
use crate::sources::writer::{ChangeResult, Outcome};
use crate::ui;

/// One part of a run: the files, or one account.
pub struct Part {
    /// `None`: the policy files named on the command line.
    pub account: Option<Account>,
    /// Planning results (scan, plan, apply without `--plan`).
    pub items: Vec<Item>,
    /// What apply will try, in target order.
    pub changes: Vec<PlannedChange>,
    /// Apply results, in `changes` order.
    pub results: Vec<ChangeResult>,
    /// Changes of a saved plan that were blocked by verification (never applied).
    pub blocked: Vec<String>,
    /// Why the account could not be worked on at all.
    pub error: Option<String>,
    /// The account's store, kept from planning for the apply that follows.
    pub store: Option<AwsStore>,
}

impl Part {
    pub fn files() -> Part {
        Part::new(None)
    }

    pub fn account(a: Account) -> Part {
        Part::new(Some(a))
    }

    fn new(account: Option<Account>) -> Part {
        Part {
            account,
            items: Vec::new(),
            changes: Vec::new(),
            results: Vec::new(),
            blocked: Vec::new(),
            error: None,
            store: None,
        }
    }

    /// The account id, or `files`.
    pub fn key(&self) -> &str {
        self.account.as_ref().map_or("files", |a| a.id.as_str())
    }

    /// The part as its report sees it.
    pub fn view(&self) -> PartView<'_> {
        PartView {
            account: self.account.as_ref(),
            items: &self.items,
            results: &self.results,
            blocked: &self.blocked,
            error: self.error.as_deref(),
        }
    }

    /// Nothing could be done here, or something asked for could not be carried out.
    pub fn failed(&self) -> bool {
        self.error.is_some()
            || self.results.iter().any(|r| r.outcome.is_failure())
            || self.items.iter().any(|i| matches!(i, Item::Error { .. }))
    }
}

/// A runtime for the AWS SDK. Built only when an account is used, so file runs stay light.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| Error::Runtime { source })
}

/// The AWS side of a run: the operator's credentials and the accounts, in account order.
pub struct Accounts {
    pub base: Base,
    pub accounts: Vec<Account>,
    pub reach: Reach,
}

/// The operator's connection options, with the MFA code asked for when needed.
pub fn aws_options(c: &ConnectArgs) -> Result<AwsOptions, Error> {
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

fn role_settings(args: &PlanArgs) -> RoleSettings {
    RoleSettings {
        role_name: args.batch.role_name.clone(),
        external_id: args.batch.external_id.clone(),
        session_name: args.aws.connect.session_name.clone(),
        duration_seconds: args.batch.duration_seconds,
    }
}

fn command_line(message: String) -> Error {
    Error::Input {
        path: "command line".into(),
        message,
    }
}

/// Batch-only options without `--accounts`/`--org` (or a saved plan, whose accounts they pick
/// from) would be silently ignored: refuse them.
pub fn check_args(args: &PlanArgs, saved_plan: bool) -> Result<(), Error> {
    let b = &args.batch;
    if b.active() {
        return Ok(());
    }
    let given: Vec<&str> = [
        (!b.account.is_empty() && !saved_plan, "--account"),
        (
            !b.exclude_account.is_empty() && !saved_plan,
            "--exclude-account",
        ),
        (!b.tag.is_empty() && !saved_plan, "--tag"),
        (b.report.is_some() && !saved_plan, "--report"),
        (b.external_id.is_some(), "--external-id"),
        (b.duration_seconds.is_some(), "--duration-seconds"),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    let message = if saved_plan {
        format!(
            "{} contradict the saved plan, which records how each account is reached: drop them, or make the plan again with them",
            given.join(", ")
        )
    } else {
        format!(
            "{} only apply to batches: add --accounts FILE or --org (docs/multi-account.md)",
            given.join(", ")
        )
    };
    Err(command_line(message))
}

/// The accounts a fresh run covers: the current credentials' account, or `--accounts`/`--org`
/// filtered. Also returns `--account` ids that matched nothing (probably typos).
pub async fn resolve(args: &PlanArgs) -> Result<(Accounts, Vec<String>), Error> {
    let base = Base::load(aws_options(&args.aws.connect)?).await?;
    let b = &args.batch;
    let (list, selected_by) = if b.active() {
        let filter = Filter::new(&b.account, &b.exclude_account, &b.tag).map_err(command_line)?;
        let role = role_settings(args);
        let (mut list, selected_by) = match &b.accounts {
            Some(path) => (
                accounts::load(path, &role).map_err(|e| Error::Input {
                    path: e.path,
                    message: e.message,
                })?,
                format!("accounts-file {}", path.display()),
            ),
            None => (
                reach::org_accounts(&base, &role, filter.has_tags())
                    .await
                    .map_err(|message| Error::Input {
                        path: "--org".into(),
                        message,
                    })?,
                "org".to_string(),
            ),
        };
        // The account of the operator's own credentials is reached with them, not through a
        // role: `OrganizationAccountAccessRole` exists in member accounts only. An explicit
        // role_arn or profile in an accounts file is still honoured.
        let default_role = role.assume(base.partition(), &base.account);
        for a in &mut list {
            if a.id == base.account && (b.org || a.access == default_role) {
                a.access = Access::Current;
            }
        }
        let (kept, unknown) = filter.apply(list);
        return Ok((accounts_of(base, kept, selected_by), unknown));
    } else {
        let current = Account {
            id: base.account.clone(),
            name: None,
            access: Access::Current,
            tags: BTreeMap::new(),
        };
        (vec![current], "current".to_string())
    };
    Ok((accounts_of(base, list, selected_by), Vec::new()))
}

fn accounts_of(base: Base, accounts: Vec<Account>, selected_by: String) -> Accounts {
    let reach = Reach {
        profile: base.options.profile.clone(),
        mfa_serial: base.options.mfa_serial.clone(),
        session_name: base.options.session_name.clone(),
        selected_by,
        accounts: accounts.iter().map(Account::planned).collect(),
    };
    Accounts {
        base,
        accounts,
        reach,
    }
}

/// Options given on the command line that contradict how the saved plan reaches its
/// accounts. Region and endpoint are where the services are, not how accounts are reached:
/// they are taken from the command line.
fn contradictions(args: &PlanArgs, reach: &Reach) -> Vec<String> {
    let c = &args.aws.connect;
    let b = &args.batch;
    let mut out = Vec::new();
    if let Some(p) = &c.profile {
        if reach.profile.as_ref() != Some(p) {
            out.push(format!(
                "--profile {p} (the plan was made with {})",
                reach
                    .profile
                    .as_deref()
                    .map_or("the default credentials".to_string(), |p| format!(
                        "--profile {p}"
                    ))
            ));
        }
    }
    if let Some(m) = &c.mfa_serial {
        if reach.mfa_serial.as_ref() != Some(m) {
            out.push(format!(
                "--mfa-serial {m} (not the device the plan records)"
            ));
        }
    }
    if c.session_name != crate::cli::DEFAULT_SESSION_NAME && c.session_name != reach.session_name {
        out.push(format!(
            "--session-name {} (the plan records {})",
            c.session_name, reach.session_name
        ));
    }
    if b.org && reach.selected_by != "org" {
        out.push(format!(
            "--org (the plan's accounts were chosen by {})",
            reach.selected_by
        ));
    }
    if let Some(path) = &b.accounts {
        let given = format!("accounts-file {}", path.display());
        if given != reach.selected_by {
            out.push(format!(
                "--accounts {} (the plan's accounts were chosen by {})",
                path.display(),
                reach.selected_by
            ));
        }
    }
    if b.role_name != accounts::DEFAULT_ROLE_NAME {
        out.push(format!(
            "--role-name {} (the plan records each account's role)",
            b.role_name
        ));
    }
    if b.external_id.is_some() {
        out.push("--external-id (the plan records each account's)".into());
    }
    if b.duration_seconds.is_some() {
        out.push("--duration-seconds (the plan records each account's)".into());
    }
    out
}

/// A saved plan's parts, and how to reach its accounts.
pub struct Saved {
    pub parts: Vec<Part>,
    /// The operator's connection options as the plan records them (AWS plans).
    pub options: Option<AwsOptions>,
    /// `--account` ids that are not among the plan's accounts.
    pub unknown: Vec<String>,
}

/// The parts of a saved plan: its file changes, and its account changes by account (the
/// accounts it records, narrowed by `--account`, `--exclude-account` and `--tag`).
pub fn saved_parts(args: &PlanArgs, path: &Path, file: &PlanFile) -> Result<Saved, Error> {
    let refuse = |message: String| Error::Input {
        path: path.display().to_string(),
        message,
    };
    let mut files = Part::files();
    let mut by_account: BTreeMap<String, Vec<PlannedChange>> = BTreeMap::new();
    for c in &file.changes {
        match &c.target.account {
            None => files.changes.push(c.clone()),
            Some(id) => by_account.entry(id.clone()).or_default().push(c.clone()),
        }
    }
    let mut parts = Vec::new();
    if !files.changes.is_empty() || (by_account.is_empty() && file.reach.is_none()) {
        files.blocked = file.blocked.clone();
        parts.push(files);
    }
    let Some(reach) = &file.reach else {
        if args.batch.active() {
            return Err(refuse(
                "the plan covers policy files, not accounts: drop --accounts/--org".into(),
            ));
        }
        if by_account.is_empty() {
            return Ok(Saved {
                parts,
                options: None,
                unknown: Vec::new(),
            });
        }
        return Err(refuse(
            "the plan does not record how its accounts are reached (it was made by an older forcemfa); make it again with `forcemfa plan --out FILE`".into(),
        ));
    };
    let wrong = contradictions(args, reach);
    if !wrong.is_empty() {
        return Err(refuse(format!(
            "options that contradict the saved plan: {}; the plan records how each account is reached: drop them, or make the plan again",
            wrong.join("; ")
        )));
    }
    let b = &args.batch;
    let filter = Filter::new(&b.account, &b.exclude_account, &b.tag).map_err(command_line)?;
    let recorded: Vec<Account> = reach.accounts.iter().map(Account::from_planned).collect();
    let (kept, unknown) = filter.apply(recorded.clone());
    for a in &recorded {
        let changes = by_account.remove(&a.id).unwrap_or_default();
        let picked = kept.iter().any(|k| k.id == a.id);
        parts.push(recorded_part(a, changes, &file.blocked, picked));
    }
    // Changes for accounts the plan does not say how to reach (an edited plan).
    for (id, changes) in by_account {
        let mut part = Part::account(Account {
            id: id.clone(),
            name: None,
            access: Access::Current,
            tags: BTreeMap::new(),
        });
        part.error = Some(format!(
            "the plan records no way to reach account {id}; make the plan again"
        ));
        part.changes = changes;
        parts.push(part);
    }
    let options = AwsOptions {
        profile: reach.profile.clone(),
        mfa_serial: reach.mfa_serial.clone(),
        session_name: reach.session_name.clone(),
        ..AwsOptions::default()
    };
    Ok(Saved {
        parts,
        options: Some(options),
        unknown,
    })
}

/// One account of a saved plan with its changes in target order; an account the filters do
/// not pick has its changes skipped, not tried.
fn recorded_part(
    a: &Account,
    mut changes: Vec<PlannedChange>,
    blocked: &[String],
    picked: bool,
) -> Part {
    let mut part = Part::account(a.clone());
    changes.sort_by(|x, y| x.target.cmp(&y.target));
    let needle = format!("({}: ", a.id);
    part.blocked = blocked
        .iter()
        .filter(|b| b.contains(&needle))
        .cloned()
        .collect();
    if picked {
        part.changes = changes;
    } else {
        let reason = "the account is not picked by --account/--exclude-account/--tag";
        part.results = changes
            .iter()
            .map(|c| {
                ChangeResult::new(
                    c,
                    Outcome::Skipped {
                        reason: reason.into(),
                    },
                )
            })
            .collect();
    }
    part
}

/// The connection options for a saved plan's accounts: recorded ones, plus where the services
/// are (region, endpoint) from the command line, plus an MFA code when the plan's device needs
/// one.
pub fn saved_options(recorded: AwsOptions, c: &ConnectArgs) -> Result<AwsOptions, Error> {
    let asked = aws_options(&ConnectArgs {
        profile: recorded.profile.clone(),
        mfa_serial: recorded.mfa_serial.clone(),
        session_name: recorded.session_name.clone(),
        ..c.clone()
    })?;
    Ok(asked)
}

/// Where journal records go.
pub fn journal_path(p: &Option<PathBuf>) -> PathBuf {
    p.clone().unwrap_or_else(Journal::default_path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::engine::reach::PlannedAccount;

    fn apply_args(extra: &[&str]) -> PlanArgs {
        let mut argv = vec!["forcemfa", "apply", "--plan", "p.json"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Apply { args, .. } => args,
            _ => panic!("not apply"),
        }
    }

    fn org_reach() -> Reach {
        Reach {
            profile: Some("ops".into()),
            mfa_serial: None,
            session_name: "chg-1".into(),
            selected_by: "org".into(),
            accounts: vec![PlannedAccount {
                id: "111111111111".into(),
                name: None,
                access: Access::Current,
                tags: BTreeMap::new(),
            }],
        }
    }

    #[test]
    fn options_that_agree_with_the_plan_are_accepted() {
        let reach = org_reach();
        for extra in [
            &[][..],
            &["--org"][..],
            &["--profile", "ops"][..],
            &["--session-name", "chg-1"][..],
            &[
                "--region",
                "eu-west-1",
                "--endpoint-url",
                "http://127.0.0.1:1",
            ][..],
            &["--account", "111111111111", "--tag", "env=prod"][..],
        ] {
            assert!(
                contradictions(&apply_args(extra), &reach).is_empty(),
                "{extra:?}"
            );
        }
    }

    #[test]
    fn options_that_contradict_the_plan_are_named() {
        let reach = org_reach();
        for (extra, named) in [
            (&["--profile", "other"][..], "--profile other"),
            (&["--accounts", "a.toml"][..], "--accounts a.toml"),
            (&["--role-name", "R"][..], "--role-name R"),
            (&["--external-id", "x"][..], "--external-id"),
            (&["--duration-seconds", "900"][..], "--duration-seconds"),
            (&["--session-name", "other"][..], "--session-name other"),
            (
                &["--mfa-serial", "arn:aws:iam::1:mfa/x"][..],
                "--mfa-serial",
            ),
        ] {
            let found = contradictions(&apply_args(extra), &reach);
            assert_eq!(found.len(), 1, "{extra:?}: {found:?}");
            assert!(found[0].starts_with(named), "{found:?}");
        }
        let file_reach = Reach {
            selected_by: "accounts-file a.toml".into(),
            ..org_reach()
        };
        assert!(contradictions(&apply_args(&["--accounts", "a.toml"]), &file_reach).is_empty());
        assert_eq!(
            contradictions(&apply_args(&["--org"]), &file_reach).len(),
            1
        );
    }
}
