//! Renderers for scan and plan results: text (terminal), JSON (machines), Markdown (change
//! tickets) and SARIF 2.1.0 (code scanning of policy files in CI). Pure: they return strings.

pub mod impact;
pub mod overview;
pub mod sarif;
pub mod unread;

use serde_json::{json, Value};
use std::fmt::Write as _;

use crate::engine::detect::Severity;
use crate::engine::plan::{summarize, Change, Item, Summary};
use crate::engine::target::{Target, TargetKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Scan,
    Plan,
    Apply,
}

/// Text rendering options.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    pub color: bool,
    pub verbose: bool,
}

fn paint(
    s: &str,
    color: bool,
    f: fn(console::StyledObject<&str>) -> console::StyledObject<&str>,
) -> String {
    if color {
        f(console::style(s)).to_string()
    } else {
        s.to_string()
    }
}

fn generation_line(g: &Option<crate::engine::detect::Generation>) -> String {
    match g {
        Some(g) if g.similarity >= 0.999 => format!("{} (exact)", g.title),
        Some(g) if g.similarity >= 0.5 => {
            format!("{} ({:.0}% alike)", g.title, g.similarity * 100.0)
        }
        Some(g) => format!(
            "custom (nearest: {}, {:.0}% alike)",
            g.title,
            g.similarity * 100.0
        ),
        None => "unknown".into(),
    }
}

/// The text block for one change (plan and apply show the same).
pub fn change_text(c: &Change, opts: TextOptions) -> String {
    let mut out = String::new();
    let head = format!("{}  [change {}]", c.target, c.id);
    let _ = writeln!(out, "{}", paint(&head, opts.color, |s| s.bold()));
    // issue 13: the answer first, in the operator's words
    for line in &c.effect.plain.lines {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(out, "  generation: {}", generation_line(&c.generation));
    if !c.attachments.is_empty() {
        let _ = writeln!(out, "  reaches: {}", c.attachments.join(", "));
    }
    // Structural findings (migration findings are listed with their migration below).
    for f in c
        .findings
        .iter()
        .filter(|f| !f.rule.starts_with(|ch: char| ch.is_ascii_digit()))
    {
        out.push_str(&finding_line(f, opts.color));
    }
    for m in &c.migrations {
        let _ = writeln!(out, "  {} {}: {}", m.id, m.name, m.title);
        for line in &m.changes {
            let _ = writeln!(out, "      - {line}");
        }
    }
    // issue 13: by default only the changed lines (each change fits a terminal page); -v: context
    let unified = if opts.verbose {
        c.diff.unified.clone()
    } else {
        crate::report::overview::changed_lines_only(&c.diff.unified)
    };
    let diff = if opts.color {
        colorize_diff(&unified)
    } else {
        unified
    };
    for line in diff.lines() {
        let _ = writeln!(out, "  {line}");
    }
    if c.effect.summary.is_empty() {
        let _ = writeln!(
            out,
            "  effect: no change in access over {} actions",
            c.effect.universe_actions
        );
    } else if opts.verbose {
        let _ = writeln!(out, "  effect ({} rows differ):", c.effect.rows.len());
        for line in &c.effect.summary {
            let _ = writeln!(out, "      {line}");
        }
    } else {
        // issue 13: the rows are behind -v (and `forcemfa explain FILE --against BASE`)
        let _ = writeln!(
            out,
            "  effect: {} of {} actions evaluated change in some context, {}; -v lists them",
            c.effect
                .rows
                .iter()
                .map(|r| r.action.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            c.effect.universe_actions,
            if c.effect.unexplained.is_empty() {
                "all as the migrations declare"
            } else {
                "NOT all as the migrations declare"
            }
        );
    }
    for u in &c.effect.unknown {
        let _ = writeln!(out, "      could not evaluate: {u}");
    }
    // Who is affected (account targets only).
    out.push_str(&crate::report::impact::block(c.impact.as_ref(), opts.color));
    let _ = writeln!(
        out,
        "  checks: size {}/{} non-whitespace characters, {}",
        c.checks.size,
        c.checks.limit,
        if c.checks.idempotent {
            "idempotent"
        } else {
            "NOT idempotent"
        }
    );
    for n in &c.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    for b in &c.blocked {
        let line = format!("  BLOCKED: {b}");
        let _ = writeln!(out, "{}", paint(&line, opts.color, |s| s.red().bold()));
    }
    out
}

/// One finding as an indented report line.
fn finding_line(f: &crate::engine::detect::Finding, color: bool) -> String {
    format!(
        "  {} {}: {}\n",
        severity_tag(f.severity, color),
        f.rule,
        f.message
    )
}

fn severity_tag(s: Severity, color: bool) -> String {
    let tag = format!("[{}]", s.as_str());
    match s {
        Severity::Critical | Severity::High => paint(&tag, color, |x| x.red()),
        Severity::Medium => paint(&tag, color, |x| x.yellow()),
        _ => paint(&tag, color, |x| x.dim()),
    }
}

/// Text output of a scan or plan.
pub fn text(items: &[Item], mode: Mode, opts: TextOptions) -> String {
    let mut out = String::new();
    for item in items {
        match item {
            Item::Change(c) if mode == Mode::Plan || mode == Mode::Apply => {
                out.push_str(&change_text(c, opts));
                out.push('\n');
            }
            Item::Change(c) => {
                let _ = writeln!(
                    out,
                    "{}",
                    paint(&c.target.to_string(), opts.color, |s| s.bold())
                );
                let _ = writeln!(
                    out,
                    "  force-MFA policy, needs upgrading; generation: {}",
                    generation_line(&c.generation)
                );
                for f in &c.findings {
                    out.push_str(&finding_line(f, opts.color));
                }
                if c.is_blocked() {
                    let _ = writeln!(
                        out,
                        "  {}",
                        paint(
                            "the upgrade would be BLOCKED (see `forcemfa plan`)",
                            opts.color,
                            |s| s.red()
                        )
                    );
                }
                out.push('\n');
            }
            Item::Unchanged {
                target,
                generation,
                findings,
                ..
            } => {
                // Up to date is not the same as safe: what it still exempts is always shown.
                let notable = findings
                    .iter()
                    .filter(|f| f.severity > crate::engine::detect::Severity::Info)
                    .count();
                let count = match notable {
                    0 => String::new(),
                    1 => ", 1 finding".to_string(),
                    n => format!(", {n} findings"),
                };
                let _ = writeln!(
                    out,
                    "{target}: up to date{count} ({})",
                    generation_line(generation)
                );
                for f in findings {
                    if opts.verbose
                        || mode == Mode::Scan
                        || f.severity > crate::engine::detect::Severity::Info
                    {
                        out.push_str(&finding_line(f, opts.color));
                    }
                }
            }
            Item::Skipped {
                target,
                reason,
                findings,
                needs_review,
            } => {
                if *needs_review {
                    let _ = writeln!(
                        out,
                        "{}: {}",
                        target,
                        paint(reason, opts.color, |s| s.yellow())
                    );
                    for f in findings {
                        out.push_str(&finding_line(f, opts.color));
                    }
                } else if opts.verbose
                    || matches!(
                        target.kind,
                        TargetKind::File { .. } | TargetKind::Embedded { .. }
                    )
                {
                    // An account has many unrelated policies: list them only when asked.
                    let _ = writeln!(out, "{target}: skipped: {reason}");
                }
            }
            Item::Error { target, error } => {
                let _ = writeln!(
                    out,
                    "{}",
                    paint(&format!("error: {target}: {error}"), opts.color, |s| s
                        .red())
                );
            }
        }
    }
    out.push_str(&crate::report::overview::overview(items)); // issue 13
    let s = summarize(items);
    let _ = writeln!(out, "{}", summary_line(&s, mode));
    out
}

pub fn summary_line(s: &Summary, mode: Mode) -> String {
    let verb = match mode {
        Mode::Scan => "to upgrade",
        Mode::Plan => "to change",
        Mode::Apply => "changed",
    };
    let mut parts = vec![format!("{} {verb}", s.changes)];
    if s.blocked > 0 {
        parts.push(format!("{} blocked", s.blocked));
    }
    parts.push(format!("{} up to date", s.unchanged));
    parts.push(format!("{} skipped", s.skipped));
    if s.needs_review > 0 {
        parts.push(format!("{} need review", s.needs_review));
    }
    parts.push(format!(
        "{} error{}",
        s.errors,
        if s.errors == 1 { "" } else { "s" }
    ));
    let head = match mode {
        Mode::Scan => "Scan",
        Mode::Plan => "Plan",
        Mode::Apply => "Apply",
    };
    format!("{head}: {}.", parts.join(", "))
}

/// The JSON report: one object with changes, unchanged, skipped, errors and summary. Borrowed,
/// so that large runs serialise straight to text without an intermediate `Value` tree.
#[derive(serde::Serialize)]
pub struct JsonReport<'a> {
    tool: &'static str,
    version: &'static str,
    command: &'static str,
    changes: Vec<&'a Item>,
    unchanged: Vec<&'a Item>,
    skipped: Vec<&'a Item>,
    errors: Vec<&'a Item>,
    summary: Summary,
    // issue 13: the options in force and where each came from (`forcemfa config`)
    #[serde(skip_serializing_if = "Option::is_none")]
    effective_options: Option<Value>,
}

impl JsonReport<'_> {
    /// Records the effective options (see `config::Resolved::to_json`).
    pub fn with_effective_options(mut self, options: Value) -> Self {
        self.effective_options = Some(options);
        self
    }
}

pub fn json_report(items: &[Item], mode: Mode) -> JsonReport<'_> {
    let pick = |f: fn(&Item) -> bool| items.iter().filter(|i| f(i)).collect::<Vec<_>>();
    JsonReport {
        tool: "forcemfa",
        version: env!("CARGO_PKG_VERSION"),
        command: match mode {
            Mode::Scan => "scan",
            Mode::Plan => "plan",
            Mode::Apply => "apply",
        },
        changes: pick(|i| matches!(i, Item::Change(_))),
        unchanged: pick(|i| matches!(i, Item::Unchanged { .. })),
        skipped: pick(|i| matches!(i, Item::Skipped { .. })),
        errors: pick(|i| matches!(i, Item::Error { .. })),
        summary: summarize(items),
        effective_options: None,
    }
}

/// The report as a `Value` (tests pin its shape; `commands::output` serialises the report
/// directly).
pub fn json(items: &[Item], mode: Mode) -> Result<Value, serde_json::Error> {
    serde_json::to_value(json_report(items, mode))
}

// --- Markdown escaping: values come from files and accounts; none may break a table row,
// heading, list or fence. Control characters are made visible first (one helper: `ui::escape`).

/// Plain text in a table cell, heading or list item: Markdown punctuation escaped.
pub fn md_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in crate::engine::escape::escape(s).chars() {
        if matches!(
            c,
            '\\' | '|' | '`' | '*' | '_' | '<' | '>' | '[' | ']' | '#' | '~' | '&'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A value as inline code: delimited by more backticks than it contains, `|` escaped (GFM
/// tables split cells on it even inside code).
pub fn md_code(s: &str) -> String {
    let text = crate::engine::escape::escape(s).replace('|', "\\|");
    let fence = "`".repeat(longest_run(&text, '`') + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// A fenced block: a fence longer than any backtick run inside, control characters escaped.
pub fn md_fence(info: &str, body: &str) -> String {
    let body = crate::engine::escape::escape_lines(body, false);
    let fence = "`".repeat((longest_run(&body, '`') + 1).max(3));
    let nl = if body.ends_with('\n') { "" } else { "\n" };
    format!("{fence}{info}\n{body}{nl}{fence}")
}

fn longest_run(s: &str, ch: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in s.chars() {
        run = if c == ch { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// Markdown, for change tickets.
pub fn markdown(items: &[Item], mode: Mode) -> String {
    let mut out = String::new();
    let s = summarize(items);
    let title = match mode {
        Mode::Scan => "forcemfa scan",
        Mode::Plan => "forcemfa plan",
        Mode::Apply => "forcemfa apply",
    };
    let _ = writeln!(out, "# {title}\n\n{}\n", summary_line(&s, mode));
    out.push_str(&crate::report::impact::markdown_summary(items));
    let _ = writeln!(
        out,
        "| target | status | generation | detail |\n|---|---|---|---|"
    );
    for item in items {
        let (status, generation, detail) = match item {
            Item::Change(c) => (
                if c.is_blocked() { "blocked" } else { "change" },
                generation_line(&c.generation),
                c.migrations
                    .iter()
                    .map(|m| format!("{} {}", m.id, m.name))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Item::Unchanged { generation, .. } => {
                ("up to date", generation_line(generation), String::new())
            }
            Item::Skipped {
                reason,
                needs_review,
                ..
            } => (
                if *needs_review {
                    "needs review"
                } else {
                    "skipped"
                },
                String::new(),
                reason.clone(),
            ),
            Item::Error { error, .. } => ("error", String::new(), error.clone()),
        };
        let _ = writeln!(
            out,
            "| {} | {status} | {} | {} |",
            md_code(&item.target().to_string()),
            md_text(&generation),
            md_text(&detail)
        );
    }
    for item in items {
        let Item::Change(c) = item else { continue };
        let _ = writeln!(out, "\n## {}\n", md_code(&c.target.to_string()));
        let _ = writeln!(
            out,
            "Change {}; generation: {}.\n",
            md_code(&c.id),
            md_text(&generation_line(&c.generation))
        );
        for m in &c.migrations {
            let _ = writeln!(
                out,
                "- **{} {}**: {}",
                md_text(&m.id),
                md_text(&m.name),
                md_text(&m.title)
            );
            for line in &m.changes {
                let _ = writeln!(out, "  - {}", md_text(line));
            }
        }
        if mode != Mode::Scan {
            let _ = writeln!(out, "\n{}", md_fence("diff", &c.diff.unified));
        }
        if !c.effect.summary.is_empty() {
            let _ = writeln!(out, "\nEffect on access:\n");
            for line in &c.effect.summary {
                let _ = writeln!(out, "- {}", md_text(line));
            }
        }
        out.push_str(&crate::report::impact::markdown(c));
        for b in &c.blocked {
            let _ = writeln!(out, "\n> **Blocked:** {}", md_text(b));
        }
        for n in &c.notes {
            let _ = writeln!(out, "\n> Note: {}", md_text(n));
        }
    }
    out
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

fn line_of_sid(text: &str, sid: Option<&str>) -> usize {
    let Some(sid) = sid else { return 1 };
    let needle = format!("\"{sid}\"");
    text.lines()
        .position(|l| l.contains(&needle) && l.contains("\"Sid\""))
        .map(|i| i + 1)
        .unwrap_or(1)
}

/// SARIF 2.1.0 for code-scanning upload. Only actionable findings become results. File locations
/// are relative to the working directory (see [`crate::report::sarif`]).
pub fn sarif(items: &[Item]) -> Value {
    sarif_at(items, std::env::current_dir().ok().as_deref()) // issue 13
}

/// [`sarif`] with file locations relative to `root`.
pub fn sarif_at(items: &[Item], root: Option<&std::path::Path>) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_ids: Vec<String> = Vec::new();
    let mut results = Vec::new();
    let mut add = |rule: &str, level: &str, message: &str, target: &Target, line: usize| {
        if !rule_ids.iter().any(|r| r == rule) {
            rule_ids.push(rule.to_string());
            rules.push(json!({"id": rule, "shortDescription": {"text": rule.replace('-', " ")}}));
        }
        results.push(json!({
            "ruleId": rule,
            "level": level,
            "message": {"text": message},
            "locations": [{"physicalLocation": {
                "artifactLocation": crate::report::sarif::artifact_location(target, root),
                "region": {"startLine": line}
            }}]
        }));
    };
    for item in items {
        match item {
            Item::Change(c) => {
                for f in &c.findings {
                    let line = match &c.target.kind {
                        // IaC: the policy's line in the template.
                        TargetKind::Embedded { line, .. } => *line,
                        _ => line_of_sid(&c.before, f.sid.as_deref()),
                    };
                    add(
                        &f.rule,
                        sarif_level(f.severity),
                        &f.message,
                        &c.target,
                        line,
                    );
                }
            }
            Item::Skipped {
                target,
                findings,
                needs_review: true,
                ..
            } => {
                let line = match &target.kind {
                    TargetKind::Embedded { line, .. } => *line,
                    _ => 1,
                };
                for f in findings {
                    add(&f.rule, sarif_level(f.severity), &f.message, target, line);
                }
            }
            Item::Error { target, error } => add("invalid-policy-file", "error", error, target, 1),
            _ => {}
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "forcemfa",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }]
    })
}

/// Colour a unified diff for a terminal: additions green, removals red, hunks cyan.
pub fn colorize(unified: &str) -> String {
    colorize_diff(unified)
}

fn colorize_diff(unified: &str) -> String {
    let mut out = String::with_capacity(unified.len() + 64);
    for line in unified.split_inclusive('\n') {
        let styled = if line.starts_with("+++") || line.starts_with("---") {
            console::style(line).bold().to_string()
        } else if line.starts_with('+') {
            console::style(line).green().to_string()
        } else if line.starts_with('-') {
            console::style(line).red().to_string()
        } else if line.starts_with("@@") {
            console::style(line).cyan().to_string()
        } else {
            line.to_string()
        };
        out.push_str(&styled);
    }
    out
}

// --- outcomes of apply and rollback: what happened, per change (not what was planned) ---------

pub use crate::sources::writer::{ChangeResult, Outcome};

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Applied { .. } => "applied",
            Outcome::AlreadyApplied => "already applied",
            Outcome::Stale { .. } => "stale",
            Outcome::Failed { .. } => "failed",
            Outcome::Declined => "not applied",
            Outcome::Skipped { .. } => "skipped",
            Outcome::HeldBack { .. } => "held back",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Outcome::Applied { detail } | Outcome::Stale { detail } => detail,
            Outcome::Failed { error } => error,
            Outcome::Skipped { reason } | Outcome::HeldBack { reason } => reason,
            Outcome::AlreadyApplied | Outcome::Declined => "",
        }
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
    format!(
        "{verb} {}, already applied {}, stale {}, failed {}, not applied {}, skipped {}.",
        c.applied, c.already_applied, c.stale, c.failed, c.declined, c.skipped
    )
}

/// Markdown of what an apply or rollback did: the totals, one row per change, then the changes
/// blocked before the run and the policies that could not be planned.
pub fn outcomes_markdown(
    title: &str,
    verb: &str,
    results: &[ChangeResult],
    blocked: &[String],
    errors: &[&Item],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# {title}\n\n{}\n",
        md_text(&outcome_line(verb, &outcome_counts(results)))
    );
    if !results.is_empty() {
        let _ = writeln!(
            out,
            "| change | target | outcome | detail |\n|---|---|---|---|"
        );
        for r in results {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                md_code(&r.change),
                md_code(&r.target),
                r.outcome.label(),
                md_text(r.outcome.detail())
            );
        }
    }
    if !blocked.is_empty() {
        let _ = writeln!(out, "\nBlocked by verification, never applied:\n");
        for b in blocked {
            let _ = writeln!(out, "- {}", md_text(b));
        }
    }
    if !errors.is_empty() {
        let _ = writeln!(out, "\nCould not be planned:\n");
        for e in errors {
            if let Item::Error { target, error } = e {
                let _ = writeln!(
                    out,
                    "- {}: {}",
                    md_code(&target.to_string()),
                    md_text(error)
                );
            }
        }
    }
    out
}
