//! The one report of a run: the planning report (files and accounts alike), the outcome of
//! each change for `apply`, the journal to roll back with, and the per-account table when the
//! run covered more than one account. Rendered in `--format`, printed once, and written to
//! `--report FILE` too.

use std::path::Path;

use serde::Serialize;

use crate::cli::Format;
use crate::commands::scope::Part;
use crate::engine::plan::{self, Item};
use crate::error::Error;
use crate::report::{self, Mode, TextOptions};
use crate::sources::writer::{ChangeResult, Outcome};
use crate::ui::Ui;

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
}

/// The summary of one account. In plan/scan, `changed` counts pending changes; in apply,
/// changes written (`unchanged` then includes changes found already applied).
pub fn summarize_account(r: &Part, mode: Mode) -> AccountSummary {
    let s = plan::summarize(&r.items);
    let mut out = AccountSummary {
        account: r.key().to_string(),
        name: r.account.as_ref().and_then(|a| a.name.clone()),
        status: if r.error.is_some() { "failed" } else { "ok" },
        unchanged: s.unchanged,
        skipped: s.skipped,
        blocked: s.blocked + r.blocked.len(),
        failed: s.errors,
        ..AccountSummary::default()
    };
    // Who is affected: principals losing access, counted once per account.
    if let Some(line) = crate::report::impact::account_line(&r.items) {
        out.reasons.push(line);
    }
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
            count_result(&mut out, x);
        }
    }
    if out.failed > 0 {
        out.status = "failed";
    }
    out
}

fn count_result(out: &mut AccountSummary, x: &ChangeResult) {
    let line = |what: &str, detail: &str| format!("{what} {} [{}]{detail}", x.target, x.change);
    match &x.outcome {
        Outcome::Applied { .. } => out.changed += 1,
        Outcome::AlreadyApplied => out.unchanged += 1,
        Outcome::Declined => {
            out.skipped += 1;
            out.reasons.push(line("not applied", ""));
        }
        Outcome::Skipped { reason } => {
            out.skipped += 1;
            out.reasons.push(line("skipped", &format!(": {reason}")));
        }
        Outcome::Stale { detail } => {
            out.failed += 1;
            out.reasons.push(line("stale", &format!(": {detail}")));
        }
        Outcome::Failed { error } => {
            out.failed += 1;
            out.reasons.push(line("failed", &format!(": {error}")));
        }
        Outcome::HeldBack { reason } => {
            out.blocked += 1;
            out.reasons.push(line("held back", &format!(": {reason}")));
        }
    }
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

/// Pretty JSON text of `v`, with a final newline. `what` names it in the error, which is a bug
/// in forcemfa (every type serialised here is ours), never an empty report.
pub fn pretty<T: Serialize + ?Sized>(what: &str, v: &T) -> Result<String, Error> {
    let mut text = serde_json::to_string_pretty(v).map_err(|source| Error::Serialize {
        what: what.to_string(),
        source,
    })?;
    text.push('\n');
    Ok(text)
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
    outcomes: Option<report::OutcomeCounts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    journal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accounts: Option<&'a [AccountSummary]>,
    /// Files that mention an MFA condition key but from which no policy was read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unread: Vec<&'a crate::sources::unread::Unread>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum JsonBase<'a> {
    Report(report::JsonReport<'a>),
    SavedPlan {
        tool: &'static str,
        command: &'static str,
        plan: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        effective_options: Option<serde_json::Value>,
    },
}

/// Print the report in `format` (and write it to `--report FILE`).
pub fn emit(ui: &Ui, format: Format, parts: &[Part], r: &Report) -> Result<(), Error> {
    // One part (one source, the usual run) is reported as it stands, not copied.
    let items: std::borrow::Cow<[Item]> = match parts {
        [one] => std::borrow::Cow::Borrowed(one.items.as_slice()),
        _ => parts.iter().flat_map(|p| p.items.iter().cloned()).collect(),
    };
    let accounts: Vec<&Part> = parts.iter().filter(|p| p.account.is_some()).collect();
    let rows: Vec<AccountSummary> = accounts
        .iter()
        .map(|p| summarize_account(p, r.mode))
        .collect();
    // The table only says something when there is more than one account to compare.
    let table = rows.len() > 1;
    let results: Vec<ChangeResult> = parts.iter().flat_map(|p| p.results.clone()).collect();
    let all_blocked: Vec<&String> = parts.iter().flat_map(|p| p.blocked.iter()).collect();
    let unread: Vec<&crate::sources::unread::Unread> =
        parts.iter().flat_map(|p| p.unread.iter()).collect();
    let json = if matches!(format, Format::Json) {
        let base = match r.saved_plan {
            Some(plan) if items.is_empty() => JsonBase::SavedPlan {
                tool: "forcemfa",
                command: "apply",
                plan: plan.display().to_string(),
                effective_options: r.effective_options.clone(),
            },
            _ => {
                let mut rep = report::json_report(&items, r.mode);
                if let Some(eo) = &r.effective_options {
                    rep = rep.with_effective_options(eo.clone());
                }
                JsonBase::Report(rep)
            }
        };
        let apply = r.mode == Mode::Apply;
        let out = JsonOut {
            base,
            results: apply.then_some(results.as_slice()),
            // What happened, counted: never the plan's numbers for an apply.
            outcomes: apply.then(|| report::outcome_counts(&results)),
            journal: r.journal.filter(|_| apply).map(|j| j.display().to_string()),
            accounts: (!rows.is_empty()).then_some(rows.as_slice()),
            unread: unread.clone(),
        };
        Some(out)
    } else {
        None
    };
    let render = |color: bool| -> Result<String, Error> {
        Ok(match format {
            // Streamed to standard output (`Ui::out_json`); as text only for `--report FILE`.
            Format::Json => match &json {
                Some(out) => pretty("the JSON report", out)?,
                None => String::new(),
            },
            Format::Markdown => {
                let mut s = if items.is_empty() && r.saved_plan.is_some() {
                    format!(
                        "# forcemfa apply\n\nSaved plan applied to {} accounts.\n",
                        accounts.len()
                    )
                } else {
                    report::markdown(&items, r.mode)
                };
                s.push_str(&report::unread::markdown(&unread));
                if r.mode == Mode::Apply && !results.is_empty() {
                    s.push_str(&results_markdown(parts));
                }
                if table {
                    s.push_str(&table_markdown(&rows, r.mode));
                } else {
                    s.push_str(&unreachable_text(parts));
                }
                s
            }
            Format::Sarif => pretty(
                "the SARIF report",
                &report::unread::with_sarif(
                    report::sarif(&items),
                    &unread,
                    std::env::current_dir().ok().as_deref(),
                ),
            )?,
            Format::Text => {
                let opts = TextOptions {
                    color,
                    verbose: ui.verbose,
                };
                let mut s = items_text(ui, &items, r, opts);
                s.push_str(&report::unread::text(&unread));
                if r.mode == Mode::Apply {
                    s.push_str(&apply_text(ui, &results, r.journal, &all_blocked));
                }
                if table {
                    s.push_str(&table_text(&rows, r.mode));
                } else {
                    s.push_str(&unreachable_text(parts));
                }
                s
            }
        })
    };
    // JSON goes straight to standard output, never held whole in memory twice; every other
    // format is rendered as text first.
    let shown = match &json {
        Some(out) => {
            ui.out_json("the JSON report", out)?;
            None
        }
        None => {
            let text = render(ui.color)?;
            ui.out(&text)?;
            Some(text)
        }
    };
    if let Some(path) = r.file {
        // Only text has colour; every other format is written as shown, not rendered again.
        let text = match shown {
            Some(text) if !(ui.color && matches!(format, Format::Text)) => text,
            _ => render(false)?,
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
fn unreachable_text(parts: &[Part]) -> String {
    parts
        .iter()
        .filter_map(|p| {
            let e = p.error.as_ref()?;
            let label = p.account.as_ref().map_or("files".into(), |a| a.label());
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
        return report::text(items, r.mode, opts);
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
    s + &report::summary_line(&plan::summarize(items), r.mode) + "\n"
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
        let (last, rest) = lines.split_last().map_or(("", &[][..]), |(l, r)| (*l, r));
        text = rest
            .iter()
            .filter(|l| l.starts_with("error:") || l.starts_with("stale "))
            .chain(std::iter::once(&last))
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

fn results_markdown(parts: &[Part]) -> String {
    // What happened, not what was planned: the outcome counts first, then one row per change.
    let all: Vec<ChangeResult> = parts.iter().flat_map(|p| p.results.clone()).collect();
    let mut s = format!(
        "\n## Results\n\n{}\n\n| Account | Target | Change | Outcome | Detail |\n|---|---|---|---|---|\n",
        report::outcome_line("Applied", &report::outcome_counts(&all))
    );
    for p in parts {
        for x in &p.results {
            let id = p.key();
            s.push_str(&format!(
                "| `{id}` | {} | `{}` | {} | {} |\n",
                cell(
                    x.target
                        .strip_prefix(&format!("{id}: "))
                        .unwrap_or(&x.target)
                ),
                x.change,
                x.outcome.label(),
                cell(x.outcome.detail())
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use super::*;
    use crate::engine::target::{Target, TargetKind};
    use crate::sources::accounts::{Access, Account};

    fn run(results: Vec<Outcome>, error: Option<&str>) -> Part {
        let mut r = Part::account(Account {
            id: "111111111111".into(),
            name: Some("prod|eu".into()),
            access: Access::Current,
            tags: BTreeMap::new(),
        });
        r.error = error.map(str::to_string);
        r.results = results
            .into_iter()
            .enumerate()
            .map(|(i, outcome)| ChangeResult {
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
        assert!(r.failed());
        let md = table_markdown(&[s], Mode::Apply);
        assert!(
            md.contains("| `111111111111` | prod\\|eu | **failed** | 1 | 1 | 1 | 0 | 2 |"),
            "{md}"
        );
        assert!(md.contains("### Reasons"), "{md}");
    }

    #[test]
    fn declined_and_skipped_are_not_failures() {
        let r = run(
            vec![
                Outcome::Declined,
                Outcome::Skipped {
                    reason: "managed by infrastructure as code".into(),
                },
            ],
            None,
        );
        assert!(!r.failed());
        assert_eq!(summarize_account(&r, Mode::Apply).status, "ok");
    }

    #[test]
    fn an_account_that_could_not_be_reached_is_failed_with_its_error() {
        let r = run(vec![], Some("sts:AssumeRole failed"));
        let s = summarize_account(&r, Mode::Plan);
        assert_eq!((s.status, s.failed), ("failed", 1));
        assert_eq!(s.reasons, ["sts:AssumeRole failed"]);
        assert!(r.failed());
        let text = table_text(&[s], Mode::Plan);
        assert!(text.contains("1 accounts: 0 ok, 1 failed."), "{text}");
    }
}
