//! Verdicts that follow the evidence (§11): a principal's recorded calls, when they could be
//! read, decide its verdict; without them, the rule from the credentials stands and says so.
//!
//! - some call in the window would be newly denied: `loses-access`, naming those calls;
//! - some call may be denied (the evaluator could not decide): `unknown`, naming them;
//! - every call read stays allowed, and the read was whole: `unaffected`, saying how many calls
//!   in how many days and from which source;
//! - no call found, a partial read, or no evidence: the verdict from the credentials stands, and
//!   the line says why the evidence did not decide.

use super::{Impact, PrincipalImpact, Verdict};
use crate::evidence::Evidence;

/// Sets `p`'s evidence and the verdict that follows from it.
pub fn apply(p: &mut PrincipalImpact, ev: Evidence) {
    let rule = p.because.clone();
    if ev.newly_denied > 0 {
        p.verdict = Verdict::LosesAccess;
        p.because = ev.line();
    } else if ev.source.has_calls() && ev.unknown > 0 {
        p.verdict = Verdict::Unknown;
        let why = ev.notes.iter().find(|n| !n.starts_with("partial"));
        p.because = match why {
            Some(w) => format!("{} ({w})", ev.line()),
            None => ev.line(),
        };
    } else if ev.decisive() {
        p.verdict = Verdict::Unaffected;
        p.because = ev.line();
    } else if p.verdict != Verdict::Unaffected {
        let why = if !ev.source.has_calls() {
            ev.line()
        } else if ev.calls == 0 {
            let found = format!(
                "no calls found in {} days ({})",
                ev.window_days,
                ev.source.label()
            );
            match ev.notes.first() {
                Some(n) if ev.partial => format!("{found}, {n}"),
                _ => found,
            }
        } else {
            ev.line()
        };
        p.because = format!("{rule} [evidence does not decide: {why}; judged by the credentials]");
    }
    p.evidence = Some(ev);
}

/// Sorts principals worst first and rebuilds the summary, after verdicts changed.
pub fn finish(impact: &mut Impact) {
    impact.principals.sort_by(|a, b| {
        let rank = |v: Verdict| match v {
            Verdict::LosesAccess => 0,
            Verdict::Unknown => 1,
            Verdict::Unaffected => 2,
        };
        rank(a.verdict)
            .cmp(&rank(b.verdict))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.arn.cmp(&b.arn))
    });
    impact.summarize();
}
