//! The commands: turn parsed arguments into one run of the path every source shares (source
//! → engine → confirm → source's writer → report) and an exit code. This file only dispatches;
//! `main` only prints an error chain and exits.
//!
//! Code map: [`scope`] (what a run covers: files, or accounts from the current credentials,
//! an accounts file, the Organization or a saved plan; its parts; the async runtime),
//! [`rules`] (the migration chain and options, built once per run), [`plan`] (scan, plan, and
//! the planning step of apply), [`saved`] (saved plans: load, check, re-derive), [`apply`]
//! (confirm and publish), [`gate`] (the impact gate of apply), [`exit`] (exit codes),
//! [`rollback`], [`progress`], [`explain`], [`migrations`], [`tools`] (config, completions,
//! man). Every report is rendered by [`crate::report`].

pub mod apply;
pub mod exit;
pub mod explain;
pub mod gate;
pub mod migrations;
pub mod plan;
pub mod progress;
pub mod publish;
pub mod rollback;
pub mod rollout;
pub mod rules;
pub mod saved;
pub mod scope;
pub mod tools;

use crate::cli::{Cli, Command, Format};
use crate::error::{Error, Exit};
use crate::report::Mode;
use crate::ui::Ui;

/// Run a parsed command line.
pub fn run(mut cli: Cli) -> Result<Exit, Error> {
    let ui = Ui::new(cli.global.color, cli.global.quiet, cli.global.verbose);
    // Options not given on the command line come from forcemfa.toml.
    crate::cli::config::apply(&mut cli)?;
    if let Some(exit) = tools::run(&ui, &cli)? {
        return Ok(exit);
    }
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
        Command::Apply {
            args,
            yes,
            plan,
            rollout,
        } => {
            scope::check_args(&args, plan.is_some())?;
            apply::apply(&ui, format, &args, yes, plan.as_deref(), &rollout)
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
