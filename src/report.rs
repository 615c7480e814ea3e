//! Renderers for scan and plan results: text (terminal), JSON (machines), Markdown (change
//! tickets) and SARIF 2.1.0 (code scanning of policy files in CI). Pure: they return strings.

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
    let diff = if opts.color {
        colorize_diff(&c.diff.unified)
    } else {
        c.diff.unified.clone()
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
    } else {
        let _ = writeln!(out, "  effect ({} rows differ):", c.effect.rows.len());
        for line in &c.effect.summary {
            let _ = writeln!(out, "      {line}");
        }
    }
    for u in &c.effect.unknown {
        let _ = writeln!(out, "      could not evaluate: {u}");
    }
    // Who is affected (account targets only).
    out.push_str(&crate::report_impact::block(c.impact.as_ref(), opts.color));
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
                let _ = writeln!(
                    out,
                    "{target}: up to date ({})",
                    generation_line(generation)
                );
                if opts.verbose || mode == Mode::Scan {
                    for f in findings {
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
                } else if opts.verbose || matches!(target.kind, TargetKind::File { .. }) {
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
    }
}

/// Pretty JSON text of the report, with a final newline.
pub fn json_text(items: &[Item], mode: Mode) -> String {
    serde_json::to_string_pretty(&json_report(items, mode)).unwrap_or_default() + "\n"
}

/// The report as a `Value`, for callers that add fields (apply results).
pub fn json(items: &[Item], mode: Mode) -> Value {
    serde_json::to_value(json_report(items, mode)).unwrap_or(Value::Null)
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
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
    out.push_str(&crate::report_impact::markdown_summary(items));
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
            "| `{}` | {status} | {} | {} |",
            md_escape(&item.target().to_string()),
            md_escape(&generation),
            md_escape(&detail)
        );
    }
    for item in items {
        let Item::Change(c) = item else { continue };
        let _ = writeln!(out, "\n## `{}`\n", md_escape(&c.target.to_string()));
        let _ = writeln!(
            out,
            "Change `{}`; generation: {}.\n",
            c.id,
            generation_line(&c.generation)
        );
        for m in &c.migrations {
            let _ = writeln!(out, "- **{} {}**: {}", m.id, m.name, m.title);
            for line in &m.changes {
                let _ = writeln!(out, "  - {line}");
            }
        }
        if mode != Mode::Scan {
            let _ = writeln!(out, "\n```diff\n{}```", c.diff.unified);
        }
        if !c.effect.summary.is_empty() {
            let _ = writeln!(out, "\nEffect on access:\n");
            for line in &c.effect.summary {
                let _ = writeln!(out, "- {line}");
            }
        }
        out.push_str(&crate::report_impact::markdown(c));
        for b in &c.blocked {
            let _ = writeln!(out, "\n> **Blocked:** {b}");
        }
        for n in &c.notes {
            let _ = writeln!(out, "\n> Note: {n}");
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

fn uri(target: &Target) -> String {
    match &target.kind {
        TargetKind::File { path } => path.to_string_lossy().replace('\\', "/"),
        _ => target.to_string(),
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

/// SARIF 2.1.0 for code-scanning upload. Only actionable findings become results.
pub fn sarif(items: &[Item]) -> Value {
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
                "artifactLocation": {"uri": uri(target)},
                "region": {"startLine": line}
            }}]
        }));
    };
    for item in items {
        match item {
            Item::Change(c) => {
                for f in &c.findings {
                    let line = line_of_sid(&c.before, f.sid.as_deref());
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
                for f in findings {
                    add(&f.rule, sarif_level(f.severity), &f.message, target, 1);
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
