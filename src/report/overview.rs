//! What keeps a text report short enough to read: the one-screen overview that ends a report over
//! many targets (how many policies of each generation, how many findings of each severity, how each
//! target came out) and the context-free view of a diff shown by default. Pure: text out.

use std::collections::BTreeMap;

use crate::engine::detect::{Finding, Generation, Severity};
use crate::engine::plan::Item;

/// Generations listed by name before the rest are folded into "other".
const SHOWN: usize = 8;

fn generation_name(g: &Option<Generation>) -> String {
    match g {
        Some(g) if g.similarity >= 0.5 => g.title.to_string(),
        Some(_) => "custom".into(),
        None => "unknown".into(),
    }
}

fn count_line(label: &str, counts: &[(String, usize)]) -> String {
    let body = if counts.is_empty() {
        "none".to_string()
    } else {
        counts
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("  {label}: {body}\n")
}

/// The overview, or nothing for a run over fewer than two targets (the report already fits).
pub fn overview(items: &[Item]) -> String {
    let mut o = Overview::default();
    for item in items {
        o.add(item);
    }
    o.finish()
}

/// The overview's counts, item by item (a report printed as planning goes keeps only these).
#[derive(Debug, Default)]
pub struct Overview {
    targets: usize,
    generations: BTreeMap<String, usize>,
    severities: BTreeMap<Severity, usize>,
    /// In the order each outcome was first seen.
    outcomes: Vec<(String, usize)>,
}

impl Overview {
    pub fn add(&mut self, item: &Item) {
        self.targets += 1;
        match item {
            Item::Change(c) => {
                *self
                    .generations
                    .entry(generation_name(&c.generation))
                    .or_default() += 1;
                self.count_findings(&c.findings);
                self.outcome(if c.is_blocked() {
                    "blocked"
                } else {
                    "to change"
                });
            }
            Item::Unchanged {
                generation,
                findings,
                ..
            } => {
                *self
                    .generations
                    .entry(generation_name(generation))
                    .or_default() += 1;
                self.count_findings(findings);
                self.outcome("up to date");
            }
            Item::Skipped {
                findings,
                needs_review,
                ..
            } => {
                self.count_findings(findings);
                self.outcome(if *needs_review {
                    "need review"
                } else {
                    "skipped"
                });
            }
            Item::Error { .. } => self.outcome("errors"),
        }
    }

    fn outcome(&mut self, label: &str) {
        match self.outcomes.iter_mut().find(|(k, _)| k == label) {
            Some((_, n)) => *n += 1,
            None => self.outcomes.push((label.to_string(), 1)),
        }
    }

    fn count_findings(&mut self, findings: &[Finding]) {
        for f in findings {
            *self.severities.entry(f.severity).or_default() += 1;
        }
    }

    /// The overview text, or nothing for fewer than two targets.
    pub fn finish(self) -> String {
        if self.targets < 2 {
            return String::new();
        }
        let mut by_generation: Vec<(String, usize)> = self.generations.into_iter().collect();
        by_generation.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        if by_generation.len() > SHOWN {
            let other: usize = by_generation[SHOWN..].iter().map(|(_, n)| n).sum();
            by_generation.truncate(SHOWN);
            by_generation.push(("other".into(), other));
        }
        let by_severity: Vec<(String, usize)> = self
            .severities
            .into_iter()
            .rev()
            .map(|(s, n)| (s.as_str().to_string(), n))
            .collect();
        let mut out = format!("Overview of {} targets:\n", self.targets);
        out.push_str(&count_line("by generation", &by_generation));
        out.push_str(&count_line("findings by severity", &by_severity));
        out.push_str(&count_line("by outcome", &self.outcomes));
        out
    }
}

/// A unified diff without its context lines: headers, hunk headers and the `-`/`+` lines. The hunk
/// headers keep the line numbers, so each change can still be found in the file.
pub fn changed_lines_only(unified: &str) -> String {
    // The file header repeats the target named just above.
    let body = match unified.split_once('\n') {
        Some((first, rest)) if first.starts_with("--- ") => rest
            .split_once('\n')
            .filter(|(second, _)| second.starts_with("+++ "))
            .map_or(rest, |(_, r)| r),
        _ => unified,
    };
    body.split_inclusive('\n')
        .filter(|l| !l.starts_with(' ') && !l.starts_with('\\'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_lines_and_file_header_are_dropped() {
        let d = "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n d\n";
        assert_eq!(changed_lines_only(d), "@@ -1,3 +1,3 @@\n-b\n+c\n");
    }
}
