//! The text report, for a terminal: one block per change (what it does in plain words first, the
//! migrations, the changed lines, the effect, who is affected, the checks), one line per policy
//! that does not change, the overview and the summary line.

use std::fmt::Write as _;

use crate::engine::detect::{Finding, Generation, Severity};
use crate::engine::plan::{summarize, Change, Item};
use crate::engine::policy;
use crate::engine::target::TargetKind;
use crate::report::impact;
use crate::report::overview;
use crate::report::summary::{summary_line, Mode};

/// Text rendering options.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    pub color: bool,
    pub verbose: bool,
}

pub(crate) fn paint(
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

pub(crate) fn generation_line(g: &Option<Generation>) -> String {
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
    // The answer first, in the operator's words.
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
    // By default only the changed lines, so that each change fits a terminal page; -v shows
    // the context too.
    let unified = if opts.verbose {
        c.diff.unified.clone()
    } else {
        overview::changed_lines_only(&c.diff.unified)
    };
    let diff = if opts.color {
        colorize(&unified)
    } else {
        unified
    };
    for line in diff.lines() {
        let _ = writeln!(out, "  {line}");
    }
    out.push_str(&effect_text(c, opts));
    // Who is affected (account targets only).
    out.push_str(&impact::block(c.impact.as_ref(), opts.color));
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

/// The effect lines of a change: the rows with -v, otherwise how many actions change and
/// whether every change is one the migrations declare (`forcemfa explain` lists them too).
fn effect_text(c: &Change, opts: TextOptions) -> String {
    let mut out = String::new();
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
        let _ = writeln!(
            out,
            "  effect: {} of {} actions evaluated change in some context, {}; -v lists them",
            c.effect.changed_actions,
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
    out
}

/// One finding as an indented report line.
pub(crate) fn finding_line(f: &Finding, color: bool) -> String {
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
        out.push_str(&item_text(item, mode, opts));
    }
    out.push_str(&overview::overview(items));
    let s = summarize(items);
    let _ = writeln!(out, "{}", summary_line(&s, mode));
    out
}

/// One item of the text report.
pub(crate) fn item_text(item: &Item, mode: Mode, opts: TextOptions) -> String {
    let mut out = String::new();
    match item {
        Item::Change(c) if mode == Mode::Plan || mode == Mode::Apply => {
            out.push_str(&change_text(c, opts));
            out.push('\n');
        }
        Item::Change(c) => out.push_str(&scanned_change_text(c, opts)),
        Item::Unchanged {
            target,
            generation,
            findings,
            ..
        } => {
            // Up to date is not the same as safe: what it still exempts is always shown.
            let notable = findings
                .iter()
                .filter(|f| f.severity > Severity::Info)
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
                if opts.verbose || mode == Mode::Scan || f.severity > Severity::Info {
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
    out
}

/// A change as `scan` shows it: what it is and what it exempts, not the rewrite.
fn scanned_change_text(c: &Change, opts: TextOptions) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        paint(&c.target.to_string(), opts.color, |s| s.bold())
    );
    // A document with no force-MFA guard changes only to narrow a targeted MFA requirement.
    let what = if c.findings.iter().any(|f| f.rule == "no-mfa-guard") {
        "targeted MFA requirement, needs narrowing"
    } else {
        "force-MFA policy, needs upgrading"
    };
    let _ = writeln!(
        out,
        "  {what}; generation: {}",
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
    out
}

/// Colour a unified diff for a terminal: additions green, removals red, hunks cyan.
pub fn colorize(unified: &str) -> String {
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

/// The diff between two policy texts, each re-rendered in the one house style first (a text that
/// is not a policy is diffed as it is), so that only what changed shows, not the layout: what the
/// rollback preview shows.
pub fn normalized_diff(before: &str, after: &str) -> crate::engine::diff::Diff {
    let style = policy::Style::default();
    let norm = |t: &str| {
        policy::parse(t)
            .map(|p| policy::render(&p.value, &style))
            .unwrap_or_else(|_| t.to_string())
    };
    crate::engine::diff::diff(&norm(before), &norm(after), "policy")
}
