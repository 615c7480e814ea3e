//! The commands: turn parsed arguments into one run of the path every source shares (source
//! → engine → confirm → source's writer → report) and an exit code. `main` only prints an
//! error chain and exits.
//!
//! Code map: [`scope`] (what a run covers: files, or accounts from the current credentials,
//! an accounts file, the Organization or a saved plan; its parts), [`plan`] (scan, plan, and
//! the planning step of apply), [`apply`] (confirm and publish), [`rollback`], [`output`] (the
//! one report), [`progress`], [`explain`], [`migrations`].

pub mod apply;
pub mod explain;
pub mod migrations;
pub mod output;
pub mod plan;
pub mod progress;
pub mod rollback;
pub mod scope;
pub mod tools;

use std::path::Path;

use crate::cli::{Cli, Command, Format, PlanArgs};
use crate::engine::migration::{self, Migration, Options};
use crate::engine::plan::{self as engine_plan, Item};
use crate::engine::policy;
use crate::error::{Error, Exit};
use crate::report::Mode;
use crate::sources::files;
use crate::ui::Ui;

pub use output::pretty;
pub use plan::plan_files;

/// Run a parsed command line.
pub fn run(mut cli: Cli) -> Result<Exit, Error> {
    let ui = Ui::new(cli.global.color, cli.global.quiet, cli.global.verbose);
    // issue 13 (config file, completions, man page) begin
    crate::cli::config::apply(&mut cli)?;
    if let Some(exit) = crate::commands::tools::run(&ui, &cli)? {
        return Ok(exit);
    }
    // issue 13 end
    let format = cli.global.format;
    if format == Format::Sarif && !matches!(cli.command, Command::Scan { .. }) {
        return Err(Error::SarifOnlyForScan);
    }
    match cli.command {
        Command::Scan {
            args,
            detailed_exitcode,
        } => {
            scope::check_args(&args, false)?;
            plan::scan_or_plan(&ui, format, &args, Mode::Scan, detailed_exitcode, None)
        }
        Command::Plan {
            args,
            detailed_exitcode,
            out,
        } => {
            scope::check_args(&args, false)?;
            plan::scan_or_plan(
                &ui,
                format,
                &args,
                Mode::Plan,
                detailed_exitcode,
                out.as_deref(),
            )
        }
        Command::Apply { args, yes, plan } => {
            scope::check_args(&args, plan.is_some())?;
            apply::apply(&ui, format, &args, yes, plan.as_deref())
        }
        Command::Rollback {
            journal,
            change,
            account,
            yes,
            connect,
        } => rollback::rollback(&ui, &journal, change.as_deref(), &account, yes, &connect),
        Command::Migrations { action } => migrations::migrations(&ui, format, action),
        Command::Explain { file, against } => {
            explain::explain(&ui, format, &file, against.as_deref())
        }
        // Handled by `tools::run` above.
        Command::Config { .. } | Command::Completions { .. } | Command::Man => Ok(Exit::Ok),
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

pub(crate) fn chain_and_options(args: &PlanArgs) -> Result<(Vec<Migration>, Options), Error> {
    let chain = migration::default_chain()?;
    let options = Options::new(&args.allow_before_mfa)?.skipping(&args.skip_migration, &chain)?;
    Ok((chain, options))
}

/// Load a saved plan, refuse it as a whole when it was made with other migrations or options,
/// and re-derive each change: an edited change is refused (listed as blocked, exit 4).
pub(crate) fn load_checked_plan(
    ui: &Ui,
    path: &Path,
    args: &PlanArgs,
) -> Result<(engine_plan::PlanFile, Vec<Migration>), Error> {
    let mut file = load_plan(path)?;
    let (chain, options) = chain_and_options(args)?;
    file.check(&chain, Some(&options))
        .map_err(|e| Error::Input {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    for line in file.rederive_with(&chain, crate::sources::iac::rederive) {
        ui.warn(&format!("error: {line}"));
    }
    Ok((file, chain))
}

/// File errors start with the path, which the report prints already.
pub(crate) use crate::sources::files::strip_path;

/// Blocked beats error beats pending: the safety signal must not be hidden.
/// `scan`'s exit code: as [`exit_for`], and with `--detailed-exitcode` a high or critical
/// finding (an exemption that opens IAM before MFA, a guard forcemfa cannot rewrite) counts as
/// pending too, even on a policy that is otherwise up to date.
pub(crate) fn scan_exit_for(items: &[Item], detailed: bool) -> Exit {
    match exit_for(items, detailed) {
        Exit::Ok if detailed && items.iter().any(has_serious_finding) => Exit::Pending,
        e => e,
    }
}

fn has_serious_finding(item: &Item) -> bool {
    let findings = match item {
        Item::Change(c) => &c.findings,
        Item::Unchanged { findings, .. } | Item::Skipped { findings, .. } => findings,
        Item::Error { .. } => return false,
    };
    findings
        .iter()
        .any(|f| f.severity >= crate::engine::detect::Severity::High)
}

pub(crate) fn exit_for(items: &[Item], detailed: bool) -> Exit {
    let s = engine_plan::summarize(items);
    if s.blocked > 0 {
        Exit::Blocked
    } else if s.errors > 0 {
        Exit::Error
    } else if detailed && (s.changes > 0 || s.needs_review > 0) {
        // Something a person must still do (a policy forcemfa names but cannot rewrite, a
        // form it does not read) is pending, never "nothing to do".
        Exit::Pending
    } else {
        Exit::Ok
    }
}

pub(crate) fn load_plan(path: &Path) -> Result<engine_plan::PlanFile, Error> {
    let input = |message: String| Error::Input {
        path: path.display().to_string(),
        message,
    };
    let text = files::read(path).map_err(|e| input(strip_path(&e.to_string())))?;
    serde_json::from_str(&text).map_err(|e| {
        input(format!(
            "not a forcemfa plan file ({e}); make one with `forcemfa plan --out FILE`"
        ))
    })
}

/// The confirmation text of a saved change: what it does and its diff.
/// The diff between two policy texts, each re-rendered in the one house style first (a text that
/// is not a policy is diffed as it is), so that only what changed shows, not the layout.
pub(crate) fn normalized_diff(before: &str, after: &str) -> crate::engine::diff::Diff {
    let style = policy::Style::default();
    let norm = |t: &str| {
        policy::parse(t)
            .map(|p| policy::render(&p.value, &style))
            .unwrap_or_else(|_| t.to_string())
    };
    crate::engine::diff::diff(&norm(before), &norm(after), "policy")
}

pub(crate) fn planned_text(c: &engine_plan::PlannedChange) -> String {
    let mut out = format!(
        "{}  [change {}]\n  migrations: {}\n",
        c.target,
        c.id,
        c.migrations.join(", ")
    );
    for line in normalized_diff(&c.before, &c.after).unified.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    for line in &c.effect_summary {
        out.push_str(&format!("  effect: {line}\n"));
    }
    out.push_str(&crate::report::impact::planned_block(c));
    out
}
