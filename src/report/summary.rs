//! What every format says first: which command the report is of, and its one summary line.

use crate::engine::plan::Summary;

/// The command a report is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Scan,
    Plan,
    Apply,
}

impl Mode {
    /// The command's name, as JSON reports record it.
    pub fn command(self) -> &'static str {
        match self {
            Mode::Scan => "scan",
            Mode::Plan => "plan",
            Mode::Apply => "apply",
        }
    }
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
