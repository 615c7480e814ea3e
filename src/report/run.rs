//! The one report of a run: the planning report (files and accounts alike), the outcome of
//! each change for `apply`, the journal to roll back with, and the per-account table when the
//! run covered more than one account. Rendered in `--format`, printed once through the terminal
//! (`Ui`), and written to `--report FILE` too: the only place a report leaves the process.

use std::path::Path;

use serde::Serialize;

use crate::cli::Format;
use crate::engine::plan::{summarize, Item};
use crate::error::Error;
use crate::report::json::{json_report, pretty, JsonReport};
use crate::report::markdown::markdown;
use crate::report::parts::{
    cell, summarize_account, table_markdown, table_text, AccountSummary, PartView,
};
use crate::report::sarif::{sarif, with_config};
use crate::report::summary::{summary_line, Mode};
use crate::report::text::{text, TextOptions};
use crate::sources::writer::{ChangeResult, Outcome};
use crate::ui::Ui;

/// What the report of one run holds besides its parts.
pub struct Report<'a> {
    pub mode: Mode,
    /// The journal written (apply).
    pub journal: Option<&'a Path>,
    /// The saved plan applied, if any: there are no planning items then.
    pub saved_plan: Option<&'a Path>,
    /// Whether to show the planning items in text (apply shows them with --yes only: the
    /// prompts show each change otherwise).
    pub show_items: bool,
    /// `--report FILE`.
    pub file: Option<&'a Path>,
    /// The effective options and where each came from (`forcemfa.toml`, the command line).
    pub effective_options: Option<serde_json::Value>,
    /// The options that came from a config file (`key = value`, `FILE:LINE`): text, Markdown
    /// and SARIF name them (JSON has them in `effective_options`).
    pub from_file: Vec<(String, String)>,
    /// A staged rollout's waves (`apply --waves`).
    pub rollout: Option<&'a crate::report::rollout::RolloutView>,
}

/// One line per result, and the totals, for the text report.
pub fn result_lines(results: &[ChangeResult]) -> String {
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
            Outcome::HeldBack { reason } => {
                format!("held back {} [{}]: {reason}", r.target, r.change)
            }
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
    let held = count(|o| matches!(o, Outcome::HeldBack { .. }));
    if held > 0 {
        s.push_str(&format!(
            "Held back {held}: they cut off access in use (see who is affected); --accept-impact publishes them.\n"
        ));
    }
    s
}

/// What a change's outcome is called in reports.
pub fn outcome_label(o: &Outcome) -> &'static str {
    match o {
        Outcome::Applied { .. } => "applied",
        Outcome::AlreadyApplied => "already applied",
        Outcome::Stale { .. } => "stale",
        Outcome::Failed { .. } => "failed",
        Outcome::Declined => "not applied",
        Outcome::Skipped { .. } => "skipped",
        Outcome::HeldBack { .. } => "held back",
    }
}

/// The detail of a change's outcome (its reason, error or what was written).
pub fn outcome_detail(o: &Outcome) -> &str {
    match o {
        Outcome::Applied { detail } | Outcome::Stale { detail } => detail,
        Outcome::Failed { error } => error,
        Outcome::Skipped { reason } | Outcome::HeldBack { reason } => reason,
        Outcome::AlreadyApplied | Outcome::Declined => "",
    }
}

/// How many changes ended each way.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutcomeCounts {
    pub applied: usize,
    pub already_applied: usize,
    pub stale: usize,
    pub failed: usize,
    pub declined: usize,
    pub skipped: usize,
    pub held_back: usize,
    /// Changes of a saved plan refused before anything was written (not what forcemfa derives).
    #[serde(skip_serializing_if = "is_zero")]
    pub refused: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

pub fn outcome_counts(results: &[ChangeResult]) -> OutcomeCounts {
    let mut c = OutcomeCounts::default();
    for r in results {
        match r.outcome {
            Outcome::Applied { .. } => c.applied += 1,
            Outcome::AlreadyApplied => c.already_applied += 1,
            Outcome::Stale { .. } => c.stale += 1,
            Outcome::Failed { .. } => c.failed += 1,
            Outcome::Declined => c.declined += 1,
            Outcome::Skipped { .. } => c.skipped += 1,
            Outcome::HeldBack { .. } => c.held_back += 1,
        }
    }
    c
}

/// `Applied 1, already applied 0, …` (verb: "Applied" or "Rolled back").
pub fn outcome_line(verb: &str, c: &OutcomeCounts) -> String {
    let mut line = format!(
        "{verb} {}, already applied {}, stale {}, failed {}, not applied {}, skipped {}",
        c.applied, c.already_applied, c.stale, c.failed, c.declined, c.skipped
    );
    if c.held_back > 0 {
        line.push_str(&format!(", held back {}", c.held_back));
    }
    if c.refused > 0 {
        line.push_str(&format!(", refused {}", c.refused));
    }
    line + "."
}

/// The JSON report of a run: the planning report (or, for a saved plan applied, which plan),
/// then what apply did and the account table. Serialised as it stands, without an intermediate
/// `Value` (a plan of a thousand files is tens of megabytes of JSON).
#[derive(Serialize)]
struct JsonOut<'a> {
    #[serde(flatten)]
    base: JsonBase<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<&'a [ChangeResult]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcomes: Option<OutcomeCounts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    journal: Option<String>,
    /// Changes refused or blocked before anything was written, never applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    blocked: Option<&'a [&'a String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accounts: Option<&'a [AccountSummary]>,
    /// Files that mention an MFA condition key but from which no policy was read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unread: Vec<&'a crate::sources::unread::Unread>,
    /// A staged rollout's waves (`apply --waves`).
    #[serde(skip_serializing_if = "Option::is_none")]
    rollout: Option<&'a crate::report::rollout::RolloutView>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum JsonBase<'a> {
    Report(JsonReport<'a>),
    SavedPlan {
        tool: &'static str,
        command: &'static str,
        plan: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        effective_options: Option<serde_json::Value>,
    },
}

/// What every format is rendered from: the run's parts, their items and results gathered.
struct Gathered<'a> {
    parts: &'a [PartView<'a>],
    items: std::borrow::Cow<'a, [Item]>,
    /// How many parts are accounts.
    accounts: usize,
    rows: Vec<AccountSummary>,
    results: Vec<ChangeResult>,
    blocked: Vec<&'a String>,
    unread: Vec<&'a crate::sources::unread::Unread>,
}

impl<'a> Gathered<'a> {
    fn new(parts: &'a [PartView<'a>], mode: Mode) -> Gathered<'a> {
        // One part (one source, the usual run) is reported as it stands, not copied.
        let items: std::borrow::Cow<[Item]> = match parts {
            [one] => std::borrow::Cow::Borrowed(one.items),
            _ => parts.iter().flat_map(|p| p.items.iter().cloned()).collect(),
        };
        let accounts: Vec<&PartView> = parts.iter().filter(|p| p.account.is_some()).collect();
        Gathered {
            parts,
            items,
            accounts: accounts.len(),
            rows: accounts
                .iter()
                .map(|p| summarize_account(p, mode))
                .collect(),
            results: parts.iter().flat_map(|p| p.results.to_vec()).collect(),
            blocked: parts.iter().flat_map(|p| p.blocked.iter()).collect(),
            unread: parts.iter().flat_map(|p| p.unread.iter()).collect(),
        }
    }

    /// The table only says something when there is more than one account to compare.
    fn table(&self) -> bool {
        self.rows.len() > 1
    }
}

fn json_out<'a>(g: &'a Gathered<'a>, r: &Report<'a>) -> JsonOut<'a> {
    let base = match r.saved_plan {
        Some(plan) if g.items.is_empty() => JsonBase::SavedPlan {
            tool: "forcemfa",
            command: "apply",
            plan: plan.display().to_string(),
            effective_options: r.effective_options.clone(),
        },
        _ => {
            let mut rep = json_report(&g.items, r.mode);
            if let Some(eo) = &r.effective_options {
                rep = rep.with_effective_options(eo.clone());
            }
            JsonBase::Report(rep)
        }
    };
    let apply = r.mode == Mode::Apply;
    JsonOut {
        base,
        results: apply.then_some(g.results.as_slice()),
        // What happened, counted: never the plan's numbers for an apply.
        outcomes: apply.then(|| OutcomeCounts {
            refused: g.blocked.len(),
            ..outcome_counts(&g.results)
        }),
        journal: r.journal.filter(|_| apply).map(|j| j.display().to_string()),
        accounts: (!g.rows.is_empty()).then_some(g.rows.as_slice()),
        blocked: (apply && !g.blocked.is_empty()).then_some(g.blocked.as_slice()),
        unread: g.unread.clone(),
        rollout: r.rollout,
    }
}

/// The report as text in `format` (JSON only for `--report FILE`: standard output gets it
/// streamed).
fn render(ui: &Ui, format: Format, g: &Gathered, r: &Report, color: bool) -> Result<String, Error> {
    Ok(match format {
        Format::Json => pretty("the JSON report", &json_out(g, r))?,
        Format::Markdown => {
            let mut s = if g.items.is_empty() && r.saved_plan.is_some() {
                format!(
                    "# forcemfa apply\n\nSaved plan applied to {} accounts.\n",
                    g.accounts
                )
            } else {
                markdown(&g.items, r.mode)
            };
            s.push_str(&crate::report::unread::markdown(&g.unread));
            if r.mode == Mode::Apply && (!g.results.is_empty() || !g.blocked.is_empty()) {
                s.push_str(&results_markdown(g.parts));
            }
            s.push_str(&from_file_markdown(&r.from_file));
            if let Some(v) = r.rollout {
                s.push_str(&crate::report::rollout::markdown(v));
            }
            if g.table() {
                s.push_str(&table_markdown(&g.rows, r.mode));
            } else {
                s.push_str(&unreachable_text(g.parts));
            }
            s
        }
        Format::Sarif => pretty(
            "the SARIF report",
            &crate::report::unread::with_sarif(
                with_config(sarif(&g.items), &r.from_file),
                &g.unread,
                std::env::current_dir().ok().as_deref(),
            ),
        )?,
        Format::Text => {
            let opts = TextOptions {
                color,
                verbose: ui.verbose,
            };
            let mut s = items_text(ui, &g.items, r, opts);
            s.push_str(&crate::report::unread::text(&g.unread));
            if r.mode == Mode::Apply {
                s.push_str(&apply_text(ui, &g.results, r.journal, &g.blocked));
            }
            if g.table() {
                s.push_str(&table_text(&g.rows, r.mode));
            } else {
                s.push_str(&unreachable_text(g.parts));
            }
            if let Some(v) = r.rollout {
                s.push_str(&crate::report::rollout::text(v));
            }
            for (what, at) in &r.from_file {
                s.push_str(&format!("option from {at}: {what}\n"));
            }
            s
        }
    })
}

/// The whole report as `emit` prints it, without colour (and unescaped).
pub fn whole(ui: &Ui, format: Format, parts: &[PartView], r: &Report) -> Result<String, Error> {
    render(ui, format, &Gathered::new(parts, r.mode), r, false)
}

/// Print the report in `format` (and write it to `--report FILE`).
pub fn emit(ui: &Ui, format: Format, parts: &[PartView], r: &Report) -> Result<(), Error> {
    let g = Gathered::new(parts, r.mode);
    // JSON goes straight to standard output, never held whole in memory twice; every other
    // format is rendered as text first.
    let shown = if format == Format::Json {
        ui.out_json("the JSON report", &json_out(&g, r))?;
        None
    } else {
        let text = render(ui, format, &g, r, ui.color)?;
        ui.out(&text)?;
        Some(text)
    };
    if let Some(path) = r.file {
        // Only text has colour; every other format is written as shown, not rendered again.
        let text = match shown {
            Some(text) if !(ui.color && matches!(format, Format::Text)) => text,
            _ => render(ui, format, &g, r, false)?,
        };
        std::fs::write(path, text).map_err(|source| Error::Write {
            path: path.display().to_string(),
            source,
        })?;
        ui.info(&format!("report written to {}", path.display()));
    }
    Ok(())
}

/// Without the account table, an account that could not be worked on at all still gets its
/// reason in the summary.
fn unreachable_text(parts: &[PartView]) -> String {
    parts
        .iter()
        .filter_map(|p| {
            let e = p.error?;
            let label = p.account.map_or("files".into(), |a| a.label());
            Some(format!("error: account {label}: {e}\n"))
        })
        .collect()
}

/// The planning report in text; with `--quiet` only the errors and the summary line.
fn items_text(ui: &Ui, items: &[Item], r: &Report, opts: TextOptions) -> String {
    if r.mode == Mode::Apply && (!r.show_items || items.is_empty()) {
        return String::new();
    }
    if !ui.quiet {
        return text(items, r.mode, opts);
    }
    if r.mode == Mode::Apply {
        return String::new();
    }
    let mut s = String::new();
    for i in items {
        if let Item::Error { target, error } = i {
            s.push_str(&format!("error: {target}: {error}\n"));
        }
    }
    s + &summary_line(&summarize(items), r.mode) + "\n"
}

/// Results, the journal to roll back with, and what verification blocked.
fn apply_text(
    ui: &Ui,
    results: &[ChangeResult],
    journal: Option<&Path>,
    blocked: &[&String],
) -> String {
    let mut text = result_lines(results);
    if ui.quiet {
        // Quiet: only what went wrong, and the totals.
        let lines: Vec<&str> = text.lines().collect();
        text = lines
            .iter()
            .filter(|l| {
                ["error:", "stale ", "held back ", "Applied ", "Held back "]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(|l| format!("{l}\n"))
            .collect();
    }
    if let Some(j) = journal {
        text.push_str(&format!(
            "Journal: {}; undo with `forcemfa rollback --journal {}`\n",
            j.display(),
            j.display()
        ));
    }
    if !blocked.is_empty() {
        let list: Vec<&str> = blocked.iter().map(|b| b.as_str()).collect();
        text.push_str(&format!(
            "Blocked by verification, never applied: {}\n",
            list.join(", ")
        ));
    }
    text
}

fn results_markdown(parts: &[PartView]) -> String {
    // What happened, not what was planned: the outcome counts first, then one row per change.
    let all: Vec<ChangeResult> = parts.iter().flat_map(|p| p.results.to_vec()).collect();
    let blocked: Vec<&String> = parts.iter().flat_map(|p| p.blocked.iter()).collect();
    let counts = OutcomeCounts {
        refused: blocked.len(),
        ..outcome_counts(&all)
    };
    let mut s = format!(
        "\n## Results\n\n{}\n\n| Account | Target | Change | Outcome | Detail |\n|---|---|---|---|---|\n",
        outcome_line("Applied", &counts)
    );
    for p in parts {
        for x in p.results {
            let id = p.key();
            s.push_str(&format!(
                "| `{id}` | {} | `{}` | {} | {} |\n",
                cell(
                    x.target
                        .strip_prefix(&format!("{id}: "))
                        .unwrap_or(&x.target)
                ),
                x.change,
                outcome_label(&x.outcome),
                cell(outcome_detail(&x.outcome))
            ));
        }
    }
    if !blocked.is_empty() {
        s.push_str("\nRefused or blocked by verification, never applied:\n\n");
        for b in blocked {
            s.push_str(&format!("- {}\n", cell(b)));
        }
    }
    s
}

/// The options that came from a config file, for a change ticket.
pub(crate) fn from_file_markdown(from_file: &[(String, String)]) -> String {
    let mut s = String::new();
    if !from_file.is_empty() {
        s.push_str("\n## Options from the config file\n\n");
        for (what, at) in from_file {
            s.push_str(&format!("- `{}` ({})\n", cell(what), cell(at)));
        }
    }
    s
}
