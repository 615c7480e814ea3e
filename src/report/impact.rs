//! Rendering of who each change affects: the "who is affected" block of the text plan, the
//! Markdown lines and the per-account counts of the batch report. Pure: strings, no I/O.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::engine::impact::{Impact, PrincipalImpact, Verdict};
use crate::engine::plan::{Change, Item};
use crate::engine::target::TargetKind;

/// Unaffected principals listed by name before the rest are only counted.
const UNAFFECTED_LISTED: usize = 3;

fn principal_line(p: &PrincipalImpact) -> String {
    let tag = match p.verdict {
        Verdict::LosesAccess => "LOSES ACCESS",
        Verdict::Unknown => "unknown",
        Verdict::Unaffected => "unaffected",
    };
    format!(
        "{} ({}, via {}): {tag}: {}",
        p.name,
        match p.kind {
            crate::engine::impact::PrincipalKind::User => "user",
            crate::engine::impact::PrincipalKind::Role => "role",
        },
        p.via.join(", "),
        p.because
    )
}

/// The "who is affected" block of one change, indented for the text plan; empty for files.
pub fn block(impact: Option<&Impact>, color: bool) -> String {
    let Some(i) = impact else {
        return String::new();
    };
    let mut out = String::new();
    let head = match &i.credentials_as_of {
        Some(asof) => format!("  who is affected ({}; {asof}):", i.summary),
        None => format!("  who is affected ({}):", i.summary),
    };
    let _ = writeln!(out, "{head}");
    for n in &i.notes {
        let _ = writeln!(out, "      note: {n}");
    }
    let mut unaffected = Vec::new();
    for p in &i.principals {
        if p.verdict == Verdict::Unaffected {
            unaffected.push(p);
            continue;
        }
        let line = format!("      {}", principal_line(p));
        if color && p.verdict == Verdict::LosesAccess {
            let _ = writeln!(out, "{}", console::style(line).red());
        } else {
            let _ = writeln!(out, "{line}");
        }
        if let Some(f) = &p.fallback {
            let _ = writeln!(out, "          ({f})");
        }
    }
    for p in unaffected.iter().take(UNAFFECTED_LISTED) {
        let _ = writeln!(out, "      {}", principal_line(p));
    }
    if unaffected.len() > UNAFFECTED_LISTED {
        let _ = writeln!(
            out,
            "      … and {} more unaffected",
            unaffected.len() - UNAFFECTED_LISTED
        );
    }
    out
}

/// The one message a plan of offline sources shows (on stderr) when they had changes: files have
/// no principals. Empty otherwise.
pub fn offline_note(items: &[Item]) -> String {
    let offline = items
        .iter()
        .any(|i| matches!(i, Item::Change(c) if matches!(c.target.kind, TargetKind::File { .. })));
    if offline {
        "Who is affected: no principals: offline source (plan against the account to see them).\n"
            .into()
    } else {
        String::new()
    }
}

/// Principals losing access over the changes of `items` (each counted once), and how many of
/// them are unknown.
pub fn counts(items: &[Item]) -> (usize, usize) {
    let mut loses = BTreeSet::new();
    let mut unknown = BTreeSet::new();
    for i in items {
        let Item::Change(c) = i else { continue };
        let Some(imp) = &c.impact else { continue };
        for p in &imp.principals {
            match p.verdict {
                Verdict::LosesAccess => {
                    loses.insert(p.arn.clone());
                }
                Verdict::Unknown => {
                    unknown.insert(p.arn.clone());
                }
                Verdict::Unaffected => {}
            }
        }
    }
    unknown.retain(|a| !loses.contains(a));
    (loses.len(), unknown.len())
}

/// Principals with evidence of calls that would fail (each counted once), or `None` when no
/// principal's calls were read.
pub fn evidence_of_loss(items: &[Item]) -> Option<usize> {
    let mut read = false;
    let mut losing = BTreeSet::new();
    for i in items {
        let Item::Change(c) = i else { continue };
        let Some(imp) = &c.impact else { continue };
        for p in &imp.principals {
            let Some(e) = &p.evidence else { continue };
            read |= e.source.has_calls();
            if e.newly_denied > 0 {
                losing.insert(p.arn.clone());
            }
        }
    }
    read.then_some(losing.len())
}

/// Markdown lines for one change.
pub fn markdown(c: &Change) -> String {
    let Some(i) = &c.impact else {
        return String::new();
    };
    let mut out = format!("\nWho is affected: {}.\n\n", i.summary);
    for p in i
        .principals
        .iter()
        .filter(|p| p.verdict != Verdict::Unaffected)
    {
        let _ = writeln!(
            out,
            "- **{}** ({}): {}",
            p.name.replace('|', "\\|"),
            p.verdict.as_str(),
            p.because.replace('|', "\\|")
        );
    }
    out
}

/// The line of the Markdown summary: principals losing access over all changes.
pub fn markdown_summary(items: &[Item]) -> String {
    let any = items
        .iter()
        .any(|i| matches!(i, Item::Change(c) if c.impact.is_some()));
    if !any {
        return String::new();
    }
    let (loses, unknown) = counts(items);
    match evidence_of_loss(items) {
        Some(n) => format!(
            "Principals losing access: {loses} (unknown: {unknown}), with evidence of calls that would fail: {n}.\n\n"
        ),
        None => format!("Principals losing access: {loses} (unknown: {unknown}).\n\n"),
    }
}

/// The line of the batch per-account report, when the account's changes cut anyone off.
pub fn account_line(items: &[Item]) -> Option<String> {
    let (loses, unknown) = counts(items);
    (loses + unknown > 0).then(|| match evidence_of_loss(items) {
        Some(n) => format!(
            "who is affected: {loses} principal(s) lose access, {unknown} unknown, {n} with evidence of calls that would fail (see the plan)"
        ),
        None => format!(
            "who is affected: {loses} principal(s) lose access, {unknown} unknown (see the plan)"
        ),
    })
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Principals and impacts for the tests of the impact block and of the apply gate.
    use crate::engine::impact::{
        AccessKey, Credentials, Impact, LastUsed, Loss, PrincipalImpact, PrincipalKind,
        UserCredentials, Verdict,
    };

    pub(crate) fn principal(name: &str, verdict: Verdict, days: Option<i64>) -> PrincipalImpact {
        PrincipalImpact {
            arn: format!("arn:aws:iam::1:user/{name}"),
            name: name.into(),
            kind: PrincipalKind::User,
            via: vec!["group devs".into()],
            credentials: Credentials::User(UserCredentials {
                access_keys: vec![AccessKey {
                    active: true,
                    last_used: LastUsed::never(),
                }],
                ..UserCredentials::default()
            }),
            verdict,
            because: format!("{name} because"),
            losses: if verdict == Verdict::Unaffected {
                vec![]
            } else {
                vec![Loss {
                    what: "requests with long-term access keys without an MFA session".into(),
                    short: "CLI access".into(),
                    contexts: vec![],
                    actions_before: 2,
                    actions_lost: 2,
                    examples: vec![],
                    kept: vec![],
                    last_used: days.map_or_else(LastUsed::never, |d| {
                        LastUsed::days("2026-11-28T00:00:00Z", d)
                    }),
                    fix: "enrol".into(),
                    uncertain: false,
                }]
            },
            fallback: None,
            evidence: None,
            boundary: None,
        }
    }

    pub(crate) fn impact(ps: Vec<PrincipalImpact>) -> Impact {
        let mut i = Impact {
            principals: ps,
            ..Impact::default()
        };
        i.summarize();
        i
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::fixtures::{impact, principal};
    use super::*;

    #[test]
    fn unaffected_are_counted_beyond_a_few() {
        let mut ps = vec![principal("carol", Verdict::LosesAccess, Some(2))];
        for n in 0..6 {
            ps.push(principal(&format!("u{n}"), Verdict::Unaffected, None));
        }
        let text = block(Some(&impact(ps)), false);
        assert!(text.contains("carol (user, via group devs): LOSES ACCESS: carol because"));
        assert!(text.contains("u2 (user"));
        assert!(!text.contains("u3 (user"));
        assert!(text.contains("… and 3 more unaffected"));
        assert_eq!(block(None, false), "");
    }

    #[test]
    fn accounts_and_markdown_count_each_principal_once() {
        use crate::engine::migration::{default_chain, Options};
        use crate::engine::plan::{plan_one, Input, SizeLimit};
        let legacy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":"iam:*","Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}"#;
        let chain = default_chain().unwrap();
        let mk = |name: &str, ps: Vec<PrincipalImpact>| {
            let input = Input::file(
                crate::engine::target::Target::file(name),
                legacy.to_string(),
                SizeLimit::Managed,
            );
            let mut item = plan_one(&input, &chain, &Options::default());
            if let Item::Change(c) = &mut item {
                c.impact = Some(impact(ps));
            }
            item
        };
        let items = vec![
            mk(
                "a.json",
                vec![principal("carol", Verdict::LosesAccess, Some(2))],
            ),
            mk(
                "b.json",
                vec![
                    principal("carol", Verdict::LosesAccess, Some(2)),
                    principal("dan", Verdict::Unknown, None),
                ],
            ),
        ];
        assert!(matches!(items[0], Item::Change(_)), "{:?}", items[0]);
        assert_eq!(counts(&items), (1, 1));
        assert_eq!(
            account_line(&items).unwrap(),
            "who is affected: 1 principal(s) lose access, 1 unknown (see the plan)"
        );
        assert_eq!(
            markdown_summary(&items),
            "Principals losing access: 1 (unknown: 1).\n\n"
        );
        assert!(account_line(&[]).is_none());
    }

    #[test]
    fn markdown_and_accounts_count_evidence_of_loss_only_when_calls_were_read() {
        use crate::engine::evidence::{Evidence, Source};
        use crate::engine::migration::{default_chain, Options};
        use crate::engine::plan::{plan_one, Input, SizeLimit};
        let legacy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":"iam:*","Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}"#;
        let input = Input::file(
            crate::engine::target::Target::file("a.json"),
            legacy.to_string(),
            SizeLimit::Managed,
        );
        let mut item = plan_one(&input, &default_chain().unwrap(), &Options::default());
        let with = |newly: usize, source: Source| {
            let mut e = Evidence::none(source, 90, None);
            e.calls = newly + 1;
            e.newly_denied = newly;
            Some(e)
        };
        let mut dave = principal("dave", Verdict::LosesAccess, Some(0));
        dave.evidence = with(3, Source::EventHistory);
        let mut carol = principal("carol", Verdict::Unaffected, None);
        carol.evidence = with(0, Source::EventHistory);
        if let Item::Change(c) = &mut item {
            c.impact = Some(impact(vec![dave, carol]));
        }
        let items = vec![item];
        assert_eq!(evidence_of_loss(&items), Some(1));
        assert_eq!(
            markdown_summary(&items),
            "Principals losing access: 1 (unknown: 0), with evidence of calls that would fail: 1.\n\n"
        );
        assert!(account_line(&items)
            .unwrap()
            .contains("1 with evidence of calls that would fail"));
        // Evidence that could not be read says nothing of calls.
        let mut items = items;
        if let Item::Change(c) = &mut items[0] {
            if let Some(i) = c.impact.as_mut() {
                for p in &mut i.principals {
                    p.evidence = Some(Evidence::none(
                        Source::CredentialReport,
                        90,
                        Some("denied".into()),
                    ));
                }
            }
        }
        assert_eq!(evidence_of_loss(&items), None);
        assert_eq!(
            markdown_summary(&items),
            "Principals losing access: 1 (unknown: 0).\n\n"
        );
    }
}
