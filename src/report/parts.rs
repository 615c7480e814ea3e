//! Each part of a run as the report sees it (the files, or one account), and the per-account
//! table of a run over more than one account, in text and Markdown.

use serde::Serialize;

use crate::engine::plan::{summarize, Item};
use crate::report::impact;
use crate::report::summary::Mode;
use crate::sources::accounts::Account;
use crate::sources::writer::{ChangeResult, Outcome};

/// One part of a run, borrowed for its report: what was planned, what happened to each change,
/// what verification blocked, and why nothing could be done, if so.
#[derive(Debug, Clone, Copy)]
pub struct PartView<'a> {
    /// `None`: the policy files named on the command line.
    pub account: Option<&'a Account>,
    pub items: &'a [Item],
    pub results: &'a [ChangeResult],
    pub blocked: &'a [String],
    pub error: Option<&'a str>,
}

impl PartView<'_> {
    /// The account id, or `files`.
    pub fn key(&self) -> &str {
        self.account.map_or("files", |a| a.id.as_str())
    }
}

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

/// The summary of one account. In plan/scan, `changed` counts pending changes; in apply,
/// changes written (`unchanged` then includes changes found already applied).
pub fn summarize_account(r: &PartView, mode: Mode) -> AccountSummary {
    let s = summarize(r.items);
    let mut out = AccountSummary {
        account: r.key().to_string(),
        name: r.account.and_then(|a| a.name.clone()),
        status: if r.error.is_some() { "failed" } else { "ok" },
        unchanged: s.unchanged,
        skipped: s.skipped,
        blocked: s.blocked + r.blocked.len(),
        failed: s.errors,
        ..AccountSummary::default()
    };
    // Who is affected: principals losing access, counted once per account.
    if let Some(line) = impact::account_line(r.items) {
        out.reasons.push(line);
    }
    if let Some(e) = r.error {
        out.reasons.push(e.to_string());
        if r.results.is_empty() && r.items.is_empty() {
            out.failed += 1;
        }
    }
    if mode != Mode::Apply || r.results.is_empty() {
        out.changed = s.changes;
    }
    for i in r.items {
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
    for b in r.blocked {
        out.reasons.push(format!("blocked by verification: {b}"));
    }
    if mode == Mode::Apply && !r.results.is_empty() {
        out.changed = 0;
        for x in r.results {
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
pub(crate) fn cell(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use super::*;
    use crate::engine::target::{Target, TargetKind};
    use crate::sources::accounts::{Access, Account};

    struct Run {
        account: Account,
        results: Vec<ChangeResult>,
        error: Option<String>,
    }

    impl Run {
        fn view(&self) -> PartView<'_> {
            PartView {
                account: Some(&self.account),
                items: &[],
                results: &self.results,
                blocked: &[],
                error: self.error.as_deref(),
            }
        }
    }

    fn run(results: Vec<Outcome>, error: Option<&str>) -> Run {
        let account = Account {
            id: "111111111111".into(),
            name: Some("prod|eu".into()),
            access: Access::Current,
            tags: BTreeMap::new(),
        };
        let results = results
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
        Run {
            account,
            results,
            error: error.map(str::to_string),
        }
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
        let s = summarize_account(&r.view(), Mode::Apply);
        assert_eq!(
            (s.changed, s.unchanged, s.skipped, s.blocked, s.failed),
            (1, 1, 1, 0, 2)
        );
        assert_eq!(s.status, "failed");
        assert_eq!(s.reasons.len(), 3, "{:?}", s.reasons);
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
        assert_eq!(summarize_account(&r.view(), Mode::Apply).status, "ok");
    }

    #[test]
    fn an_account_that_could_not_be_reached_is_failed_with_its_error() {
        let r = run(vec![], Some("sts:AssumeRole failed"));
        let s = summarize_account(&r.view(), Mode::Plan);
        assert_eq!((s.status, s.failed), ("failed", 1));
        assert_eq!(s.reasons, ["sts:AssumeRole failed"]);
        let text = table_text(&[s], Mode::Plan);
        assert!(text.contains("1 accounts: 0 ok, 1 failed."), "{text}");
    }
}
