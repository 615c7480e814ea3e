//! The commands: turn parsed arguments into pipeline runs and output. `main` only maps the
//! result to an exit code.

use std::path::Path;

use crate::cli::{Cli, Command, Format, Kind, MigrationsAction, PlanArgs};
use crate::error::{Error, Exit};
use crate::migration::{self, Migration, Options};
use crate::plan::{self, Input, Item, SizeLimit};
use crate::report::{self, Mode, TextOptions};
use crate::target::{EntityKind, Target, TargetKind};
use crate::ui::{self, Answer, Ui};
use crate::{effect, files, policy};

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<Exit, Error> {
    let ui = Ui::new(cli.global.color, cli.global.quiet, cli.global.verbose);
    let format = cli.global.format;
    if format == Format::Sarif && !matches!(cli.command, Command::Scan { .. }) {
        return Err(Error::SarifOnlyForScan);
    }
    match cli.command {
        Command::Scan {
            args,
            detailed_exitcode,
        } => {
            let items = plan_sources(&ui, &args)?;
            emit(&ui, format, &items, Mode::Scan);
            Ok(exit_for(&items, detailed_exitcode))
        }
        Command::Plan {
            args,
            detailed_exitcode,
            out,
        } => {
            let items = plan_sources(&ui, &args)?;
            emit(&ui, format, &items, Mode::Plan);
            if let Some(path) = out {
                let text = serde_json::to_string_pretty(&report::json(&items, Mode::Plan))
                    .unwrap_or_default();
                std::fs::write(&path, text + "\n").map_err(|source| Error::Write {
                    path: path.display().to_string(),
                    source,
                })?;
                ui.info(&format!("plan saved to {}", path.display()));
            }
            Ok(exit_for(&items, detailed_exitcode))
        }
        Command::Apply { args, yes } if args.sources.is_empty() => {
            crate::app_aws::apply(&ui, format, &args, yes)
        }
        Command::Apply { args, yes } => apply_files(&ui, format, &args, yes),
        Command::Rollback {
            journal,
            change,
            yes,
            connect,
        } => crate::app_aws::rollback(&ui, &journal, change.as_deref(), yes, &connect),
        Command::Migrations { action } => migrations(&ui, action),
        Command::Explain { file, against } => explain(&ui, format, &file, against.as_deref()),
    }
}

fn chain_and_options(args: &PlanArgs) -> Result<(Vec<Migration>, Options), Error> {
    Ok((
        migration::default_chain()?,
        Options::new(&args.allow_before_mfa)?,
    ))
}

fn limit_for(kind: Kind) -> SizeLimit {
    match kind {
        Kind::Managed => SizeLimit::Managed,
        Kind::User => SizeLimit::Inline {
            entity: EntityKind::User,
            others: 0,
        },
        Kind::Group => SizeLimit::Inline {
            entity: EntityKind::Group,
            others: 0,
        },
        Kind::Role => SizeLimit::Inline {
            entity: EntityKind::Role,
            others: 0,
        },
    }
}

/// Files and folders when SOURCEs are given, else the AWS account of the current credentials.
fn plan_sources(ui: &Ui, args: &PlanArgs) -> Result<Vec<Item>, Error> {
    if args.sources.is_empty() {
        crate::app_aws::plan(ui, args)
    } else {
        plan_files(args)
    }
}

/// Plan every file named by the sources.
pub fn plan_files(args: &PlanArgs) -> Result<Vec<Item>, Error> {
    let (chain, options) = chain_and_options(args)?;
    let limit = limit_for(args.kind);
    Ok(files::discover(&args.sources)
        .into_iter()
        .map(|found| match found {
            Err(e) => Item::Error {
                target: Target::file(match &e {
                    files::FileError::Io { path, .. }
                    | files::FileError::NotUtf8 { path }
                    | files::FileError::Stale { path }
                    | files::FileError::Missing { path } => path.clone(),
                }),
                error: strip_path(&e.to_string()),
            },
            Ok(path) => match files::read(&path) {
                Err(e) => Item::Error {
                    target: Target::file(&path),
                    error: strip_path(&e.to_string()),
                },
                Ok(text) => plan::plan_one(
                    &Input::file(Target::file(&path), text, limit),
                    &chain,
                    &options,
                ),
            },
        })
        .collect())
}

/// File errors start with the path, which the report prints already.
fn strip_path(message: &str) -> String {
    message
        .split_once(": ")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_else(|| message.to_string())
}

fn emit(ui: &Ui, format: Format, items: &[Item], mode: Mode) {
    let text = match format {
        Format::Text => {
            if ui.quiet {
                let mut s = String::new();
                for i in items {
                    if let Item::Error { target, error } = i {
                        s.push_str(&format!("error: {target}: {error}\n"));
                    }
                }
                s + &report::summary_line(&plan::summarize(items), mode) + "\n"
            } else {
                report::text(
                    items,
                    mode,
                    TextOptions {
                        color: ui.color,
                        verbose: ui.verbose,
                    },
                )
            }
        }
        Format::Json => pretty(&report::json(items, mode)),
        Format::Markdown => report::markdown(items, mode),
        Format::Sarif => pretty(&report::sarif(items)),
    };
    ui.out(&text);
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

/// Blocked beats error beats pending: the safety signal must not be hidden.
fn exit_for(items: &[Item], detailed: bool) -> Exit {
    let s = plan::summarize(items);
    if s.blocked > 0 {
        Exit::Blocked
    } else if s.errors > 0 {
        Exit::Error
    } else if detailed && s.changes > 0 {
        Exit::Pending
    } else {
        Exit::Ok
    }
}

fn apply_files(ui: &Ui, format: Format, args: &PlanArgs, yes: bool) -> Result<Exit, Error> {
    if !yes && !ui::interactive() {
        return Err(Error::NeedsTerminal);
    }
    let items = plan_files(args)?;
    let mut all = yes;
    let mut applied = Vec::new();
    let mut declined = Vec::new();
    let mut failed = Vec::new();
    let opts = TextOptions {
        color: ui.color,
        verbose: ui.verbose,
    };
    let mut quit = false;
    for item in &items {
        let Item::Change(c) = item else { continue };
        if c.is_blocked() {
            continue;
        }
        if quit {
            declined.push(c.id.clone());
            continue;
        }
        if !all {
            ui.warn(&report::change_text(c, opts));
            match ui::confirm(&format!("Apply change {} to {}?", c.id, c.target)) {
                Answer::Yes => {}
                Answer::All => all = true,
                Answer::No => {
                    declined.push(c.id.clone());
                    continue;
                }
                Answer::Quit => {
                    quit = true;
                    declined.push(c.id.clone());
                    continue;
                }
            }
        }
        let TargetKind::File { path } = &c.target.kind else {
            continue;
        };
        match files::write_atomic(path, &c.before, &c.after) {
            Ok(()) => applied.push(c.id.clone()),
            Err(e) => failed.push((c.id.clone(), e.to_string())),
        }
    }
    match format {
        Format::Json => {
            let mut v = report::json(&items, Mode::Apply);
            v["applied"] = serde_json::json!(applied);
            v["declined"] = serde_json::json!(declined);
            v["failed"] = failed
                .iter()
                .map(|(id, e)| serde_json::json!({"change": id, "error": e}))
                .collect();
            ui.out(&pretty(&v));
        }
        Format::Markdown => ui.out(&report::markdown(&items, Mode::Apply)),
        _ => {
            if yes && !ui.quiet {
                ui.out(&report::text(&items, Mode::Apply, opts));
            }
            for (id, e) in &failed {
                ui.warn(&format!("error: change {id} not written: {e}"));
            }
            ui.out(&format!(
                "Applied {} change{}, declined {}, failed {}.\n",
                applied.len(),
                if applied.len() == 1 { "" } else { "s" },
                declined.len(),
                failed.len()
            ));
        }
    }
    let s = plan::summarize(&items);
    Ok(if s.blocked > 0 {
        Exit::Blocked
    } else if s.errors > 0 || !failed.is_empty() {
        Exit::Error
    } else {
        Exit::Ok
    })
}

fn migrations(ui: &Ui, action: Option<MigrationsAction>) -> Result<Exit, Error> {
    let chain = migration::default_chain()?;
    match action.unwrap_or(MigrationsAction::List) {
        MigrationsAction::List => {
            let mut out = String::new();
            for m in &chain {
                out.push_str(&format!(
                    "{}  {:<26} {:<8} since {}  {}\n",
                    m.spec.id,
                    m.spec.name,
                    m.severity.as_str(),
                    m.spec.since,
                    m.spec.title
                ));
            }
            ui.out(&out);
        }
        MigrationsAction::Show { id } => {
            let m = migration::find(&chain, &id).ok_or(Error::UnknownMigration(id))?;
            let text = migration::EMBEDDED
                .iter()
                .find(|(f, _)| *f == m.file)
                .map(|(_, t)| *t)
                .unwrap_or_default();
            ui.out(&format!(
                "{} {}: {}\nseverity: {}\nsince: {}\nchecksum: {}\n\n{}\nsources:\n{}\n\n--- {} ---\n{}",
                m.spec.id,
                m.spec.name,
                m.spec.title,
                m.severity.as_str(),
                m.spec.since,
                m.checksum,
                m.spec.why.trim(),
                m.spec
                    .sources
                    .iter()
                    .map(|s| format!("  {s}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                m.file,
                text
            ));
        }
    }
    Ok(Exit::Ok)
}

fn read_policy(path: &Path) -> Result<serde_json::Value, Error> {
    let input = |message: String| Error::Input {
        path: path.display().to_string(),
        message,
    };
    let text = files::read(path).map_err(|e| input(strip_path(&e.to_string())))?;
    let parsed = policy::parse(&text).map_err(|e| input(e.to_string()))?;
    if let Some(reason) = policy::not_a_policy_reason(&parsed.value) {
        return Err(input(format!("not an IAM policy document: {reason}")));
    }
    Ok(parsed.value)
}

fn explain(ui: &Ui, format: Format, file: &Path, against: Option<&Path>) -> Result<Exit, Error> {
    let doc = read_policy(file)?;
    match against {
        Some(base) => {
            let base_doc = read_policy(base)?;
            let d = effect::effect_diff(&base_doc, &doc);
            match format {
                Format::Json => ui.out(&pretty(&serde_json::to_value(&d).unwrap_or_default())),
                _ => {
                    let rows: Vec<&effect::EffectRow> = d.rows.iter().collect();
                    let mut out = format!(
                        "Effect of going from {} to {} ({} actions evaluated; {}):\n",
                        base.display(),
                        file.display(),
                        d.universe_actions,
                        d.source
                    );
                    if rows.is_empty() {
                        out.push_str("  no change in access\n");
                    }
                    for line in effect::summarize(&rows) {
                        out.push_str(&format!("  {line}\n"));
                    }
                    for u in &d.unknown {
                        out.push_str(&format!("  could not evaluate: {u}\n"));
                    }
                    ui.out(&out);
                }
            }
        }
        None => {
            let table = effect::effect_table(&doc);
            match format {
                Format::Json => ui.out(&pretty(&serde_json::to_value(&table).unwrap_or_default())),
                _ => {
                    let mut out = String::new();
                    for r in &table {
                        out.push_str(&format!(
                            "{:<48} {:<18} {:<16} {:<17} {}\n",
                            r.action,
                            ser(&r.resource),
                            ser(&r.context),
                            ser(&r.view),
                            ser(&r.decision)
                        ));
                    }
                    ui.out(&out);
                }
            }
        }
    }
    Ok(Exit::Ok)
}

fn ser<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
