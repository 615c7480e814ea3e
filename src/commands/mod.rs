//! The commands: turn parsed arguments into pipeline runs and output. `main` only maps the
//! result to an exit code.

pub mod apply;
pub mod aws;
pub mod batch;

use std::path::Path;

use crate::cli::{Cli, Command, Format, Kind, MigrationsAction, PlanArgs};
use crate::engine::migration::{self, Migration, Options};
use crate::engine::plan::{self, Input, Item, SizeLimit};
use crate::engine::target::{EntityKind, Target, TargetKind};
use crate::engine::{effect, policy};
use crate::error::{Error, Exit};
use crate::report::{self, Mode};
use crate::sources::files;
use crate::ui::{self, Ui};

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<Exit, Error> {
    let ui = Ui::new(cli.global.color, cli.global.quiet, cli.global.verbose);
    let format = cli.global.format;
    if format == Format::Sarif && !matches!(cli.command, Command::Scan { .. }) {
        return Err(Error::SarifOnlyForScan);
    }
    if let Command::Scan { args, .. } | Command::Plan { args, .. } | Command::Apply { args, .. } =
        &cli.command
    {
        crate::commands::batch::check_args(args)?;
    }
    match cli.command {
        Command::Scan {
            args,
            detailed_exitcode,
        } if args.batch.active() => crate::commands::batch::plan_command(
            &ui,
            format,
            &args,
            Mode::Scan,
            detailed_exitcode,
            None,
        ),
        Command::Plan {
            args,
            detailed_exitcode,
            out,
        } if args.batch.active() => crate::commands::batch::plan_command(
            &ui,
            format,
            &args,
            Mode::Plan,
            detailed_exitcode,
            out.as_deref(),
        ),
        Command::Apply { args, yes, plan } if args.batch.active() => {
            crate::commands::batch::apply_command(&ui, format, &args, yes, plan.as_deref())
        }
        Command::Scan {
            args,
            detailed_exitcode,
        } => {
            let items = plan_sources(&ui, &args)?;
            emit(&ui, format, &items, Mode::Scan)?;
            Ok(exit_for(&items, detailed_exitcode))
        }
        Command::Plan {
            args,
            detailed_exitcode,
            out,
        } => {
            let items = plan_sources(&ui, &args)?;
            emit(&ui, format, &items, Mode::Plan)?;
            if let Some(path) = out {
                let (chain, options) = chain_and_options(&args)?;
                let file = plan::PlanFile::new(
                    &items,
                    &chain,
                    &options,
                    crate::sources::journal::now_rfc3339(),
                );
                // Never write a plan that could not be serialised whole.
                let text = serde_json::to_string_pretty(&file).map_err(|e| Error::Serialize {
                    what: format!("the plan for {}", path.display()),
                    source: e,
                })?;
                std::fs::write(&path, text + "\n").map_err(|source| Error::Write {
                    path: path.display().to_string(),
                    source,
                })?;
                ui.info(&format!("plan saved to {}", path.display()));
            }
            Ok(exit_for(&items, detailed_exitcode))
        }
        Command::Apply { args, yes, plan } => apply(&ui, format, &args, yes, plan.as_deref()),
        Command::Rollback {
            journal,
            change,
            yes,
            connect,
        } => {
            crate::commands::aws::rollback(&ui, format, &journal, change.as_deref(), yes, &connect)
        }
        Command::Migrations { action } => migrations(&ui, format, action),
        Command::Explain { file, against } => explain(&ui, format, &file, against.as_deref()),
    }
}

pub(crate) fn chain_and_options(args: &PlanArgs) -> Result<(Vec<Migration>, Options), Error> {
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
        crate::commands::aws::plan(ui, args)
    } else {
        plan_files(args)
    }
}

/// Plan every file named by the sources.
pub fn plan_files(args: &PlanArgs) -> Result<Vec<Item>, Error> {
    let (chain, options) = chain_and_options(args)?;
    let limit = limit_for(args.kind);
    let found = files::discover(&args.sources);
    let plan_one = |found: &Result<std::path::PathBuf, files::FileError>| match found {
        Err(files::FileError::Skipped { path, reason }) => Item::Skipped {
            target: Target::file(path),
            reason: reason.clone(),
            findings: Vec::new(),
            needs_review: false,
        },
        Err(e) => Item::Error {
            target: Target::file(e.path()),
            error: strip_path(&e.to_string()),
        },
        Ok(path) => match files::read(path) {
            Err(e) => Item::Error {
                target: Target::file(path),
                error: strip_path(&e.to_string()),
            },
            Ok(text) => plan::plan_one(
                &Input::file(Target::file(path), text, limit),
                &chain,
                &options,
            ),
        },
    };
    // Planning is pure and CPU-bound (the effect diff dominates): one chunk per core, results
    // kept in discovery order.
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 16);
    let chunk = found.len().div_ceil(workers).max(1);
    let items = std::thread::scope(|scope| {
        let handles: Vec<_> = found
            .chunks(chunk)
            .map(|part| {
                (
                    part,
                    scope.spawn(move || part.iter().map(plan_one).collect::<Vec<Item>>()),
                )
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(part, h)| {
                // Never lose a file silently, even to a bug: report the chunk as errors.
                h.join().unwrap_or_else(|_| {
                    part.iter()
                        .map(|f| Item::Error {
                            target: Target::file(f.as_ref().map(|p| p.as_path()).unwrap_or(Path::new("?"))),
                            error: "internal error while planning (a bug in forcemfa: please report it)".into(),
                        })
                        .collect()
                })
            })
            .collect::<Vec<Item>>()
    });
    Ok(items)
}

/// File errors start with the path, which the report prints already.
pub(crate) fn strip_path(message: &str) -> String {
    message
        .split_once(": ")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_else(|| message.to_string())
}

pub(crate) fn emit(ui: &Ui, format: Format, items: &[Item], mode: Mode) -> Result<(), Error> {
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
                report::text(items, mode, ui.text_options())
            }
        }
        Format::Json => report::json_text(items, mode).map_err(|e| Error::Serialize {
            what: "the JSON report".into(),
            source: e,
        })?,
        Format::Markdown => report::markdown(items, mode),
        Format::Sarif => pretty(&report::sarif(items)),
    };
    ui.out(&text);
    Ok(())
}

pub(crate) fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

/// Blocked beats error beats pending: the safety signal must not be hidden.
pub(crate) fn exit_for(items: &[Item], detailed: bool) -> Exit {
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

/// `apply`: plan (or load a saved plan), confirm, write. Files and AWS targets share one loop.
fn apply(
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
    let (items, file) = match plan_path {
        Some(path) => {
            let file = load_plan(path)?;
            let (chain, options) = chain_and_options(args)?;
            file.check(&chain, Some(&options))
                .map_err(|e| Error::Input {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
            (Vec::new(), file)
        }
        None => {
            let items = if args.sources.is_empty() {
                crate::commands::aws::plan(ui, args)?
            } else {
                plan_files(args)?
            };
            let (chain, options) = chain_and_options(args)?;
            let file = plan::PlanFile::new(
                &items,
                &chain,
                &options,
                crate::sources::journal::now_rfc3339(),
            );
            (items, file)
        }
    };
    // What the operator sees before each change: the full plan text when we have it.
    let prompts: Vec<String> = if items.is_empty() {
        file.changes.iter().map(planned_text).collect()
    } else {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Change(c) if !c.is_blocked() => Some(report::change_text(c, opts)),
                _ => None,
            })
            .collect()
    };
    if !items.is_empty() && yes && format == Format::Text && !ui.quiet {
        ui.out(&report::text(&items, Mode::Apply, opts));
    }
    let needs_aws = file
        .changes
        .iter()
        .any(|c| !matches!(c.target.kind, TargetKind::File { .. }));
    let results =
        crate::commands::aws::apply_planned(ui, args, yes, &file.changes, &prompts, needs_aws)?;
    let summary = plan::summarize(&items);
    match format {
        Format::Json => {
            let mut v = if items.is_empty() {
                serde_json::json!({"tool": "forcemfa", "command": "apply", "plan": plan_path.map(|p| p.display().to_string())})
            } else {
                report::json(&items, Mode::Apply)
            };
            v["results"] =
                serde_json::to_value(&results.results).map_err(|e| Error::Serialize {
                    what: "the apply results".into(),
                    source: e,
                })?;
            v["outcomes"] = serde_json::json!(report::outcome_counts(&results.results));
            if let Some(j) = &results.journal {
                v["journal"] = serde_json::json!(j.display().to_string());
            }
            ui.out(&pretty(&v));
        }
        // What happened, not what was planned.
        Format::Markdown => ui.out(&report::outcomes_markdown(
            "forcemfa apply",
            "Applied",
            &results.results,
            &file.blocked,
            &items
                .iter()
                .filter(|i| matches!(i, Item::Error { .. }))
                .collect::<Vec<_>>(),
        )),
        _ => {
            let mut text = crate::commands::apply::result_lines(&results.results);
            if ui.quiet {
                // Quiet: only what went wrong, and the totals.
                let lines: Vec<&str> = text.lines().collect();
                let (last, rest) = lines.split_last().map_or(("", &[][..]), |(l, r)| (*l, r));
                text = rest
                    .iter()
                    .filter(|l| l.starts_with("error:") || l.starts_with("stale "))
                    .chain(std::iter::once(&last))
                    .map(|l| format!("{l}\n"))
                    .collect();
            }
            if let Some(j) = &results.journal {
                text.push_str(&format!(
                    "Journal: {}; undo with `forcemfa rollback --journal {}`\n",
                    j.display(),
                    j.display()
                ));
            }
            if !file.blocked.is_empty() {
                text.push_str(&format!(
                    "Blocked by verification, never applied: {}\n",
                    file.blocked.join(", ")
                ));
            }
            ui.out(&text);
        }
    }
    Ok(if results.interrupted {
        Exit::Interrupted
    } else if summary.blocked > 0 || !file.blocked.is_empty() {
        Exit::Blocked
    } else if summary.errors > 0 || crate::commands::apply::any_failed(&results.results) {
        Exit::Error
    } else {
        Exit::Ok
    })
}

pub(crate) fn load_plan(path: &Path) -> Result<plan::PlanFile, Error> {
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
pub(crate) fn planned_text(c: &plan::PlannedChange) -> String {
    let style = policy::Style::default();
    let norm = |t: &str| {
        policy::parse(t)
            .map(|p| policy::render(&p.value, &style))
            .unwrap_or_else(|_| t.to_string())
    };
    let mut out = format!(
        "{}  [change {}]\n  migrations: {}\n",
        c.target,
        c.id,
        c.migrations.join(", ")
    );
    for line in crate::engine::diff::diff(&norm(&c.before), &norm(&c.after), "policy")
        .unified
        .lines()
    {
        out.push_str(&format!("  {line}\n"));
    }
    for line in &c.effect_summary {
        out.push_str(&format!("  effect: {line}\n"));
    }
    out
}

fn migrations(ui: &Ui, format: Format, action: Option<MigrationsAction>) -> Result<Exit, Error> {
    let chain = migration::default_chain()?;
    match action.unwrap_or(MigrationsAction::List) {
        MigrationsAction::List if format == Format::Json => {
            let list: Vec<serde_json::Value> = chain
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "id": m.spec.id,
                        "name": m.spec.name,
                        "title": m.spec.title,
                        "severity": m.severity.as_str(),
                        "since": m.spec.since,
                        "checksum": m.checksum,
                        "file": m.file,
                    })
                })
                .collect();
            ui.out(&pretty(&serde_json::Value::Array(list)));
        }
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
