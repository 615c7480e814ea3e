//! Markdown, for change tickets: the summary, one table row per target, then a section per change
//! (its migrations, diff, effect, who is affected). Values come from files and accounts, so every
//! one is escaped: none may break a table row, heading, list or fence, and control characters are
//! made visible first (the one escaping helper, `engine::escape`).

use std::fmt::Write as _;

use crate::engine::plan::{summarize, Change, Item, Summary};
use crate::report::impact;
use crate::report::summary::{summary_line, Mode};
use crate::report::text::generation_line;

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
    let mut out = head(&summarize(items), &impact::markdown_summary(items), mode);
    for item in items {
        out.push_str(&table_row(item));
    }
    for item in items {
        if let Item::Change(c) = item {
            out.push_str(&change_section(c, mode));
        }
    }
    out
}

/// The title, the summary line, who is affected (`impact`, from [`impact::markdown_summary`])
/// and the head of the table of targets.
pub fn head(s: &Summary, impact: &str, mode: Mode) -> String {
    let mut out = String::new();
    let title = match mode {
        Mode::Scan => "forcemfa scan",
        Mode::Plan => "forcemfa plan",
        Mode::Apply => "forcemfa apply",
    };
    let _ = writeln!(out, "# {title}\n\n{}\n", summary_line(s, mode));
    out.push_str(impact);
    let _ = writeln!(
        out,
        "| target | status | generation | detail |\n|---|---|---|---|"
    );
    out
}

/// One target's row of the table.
pub fn table_row(item: &Item) -> String {
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
    format!(
        "| {} | {status} | {} | {} |\n",
        md_code(&item.target().to_string()),
        md_text(&generation),
        md_text(&detail)
    )
}

/// The section of one change, after the table.
pub fn change_section(c: &Change, mode: Mode) -> String {
    let mut out = String::new();
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
    out.push_str(&impact::markdown(c));
    for b in &c.blocked {
        let _ = writeln!(out, "\n> **Blocked:** {}", md_text(b));
    }
    for n in &c.notes {
        let _ = writeln!(out, "\n> Note: {}", md_text(n));
    }
    out
}
