//! Who is affected by a change (§9): a verdict per principal, derived by evaluation.
//!
//! A principal (user or role) reaches AWS through **channels**: a console password, long-term
//! access keys, MFA sessions, role sessions started by a service, a federation or other AWS
//! principals. Each channel fixes the MFA situation of its requests (the [`Context`]s it can be in):
//! a request signed with a long-term key carries no MFA key, a console sign-in without a device
//! carries `false`, a FIDO-only user can never make a CLI MFA session, a session a service starts
//! never carries MFA. Channels come from the credential facts, nothing else.
//!
//! For every channel the principal's **whole policy set** (its inline and attached policies and its
//! groups', with the changed policy before and then after) is evaluated over the effect universe
//! ([`crate::effect::universe_for`], the principal's own name and account), in the channel's contexts,
//! with AWS's combining logic (an explicit deny in any policy wins, else an allow in any policy
//! allows). What was allowed before and is not after is what the principal loses through that
//! channel. The verdict follows: something certainly lost on a channel the principal has =
//! `loses-access`; something that might be lost (the evaluator met a condition it does not model)
//! = `unknown`; otherwise `unaffected`. No table of cases: a read-only user loses read-only
//! actions because those are what evaluation finds allowed before and denied after.
//!
//! When the set cannot be read whole (an AWS managed policy, which the account read does not
//! return), the changed policy is evaluated on its own beside an allow-everything policy (the
//! effect diff's second view: what its guard takes away), and the verdict says so.
//!
//! Pure: times come in as "days ago" computed by the caller from its clock.

/// How recent a use of access counts as "in use" when `apply --yes` decides what to hold back
/// (`--recent-days`), in days.
pub const DEFAULT_RECENT_DAYS: i64 = 90;

mod channels;
mod evaluate;
mod model;

use serde_json::Value;

pub use channels::credentials_phrase;
use channels::{channels, Channel};
pub use evaluate::Cache;
use evaluate::{cache_key, ChannelEval};
pub use model::{
    AccessKey, Boundary, Credentials, Impact, LastUsed, Loss, MfaKind, PrincipalImpact,
    PrincipalInput, PrincipalKind, RoleTrust, UserCredentials, Verdict,
};

const EXAMPLES: usize = 4;

/// The verdict for one principal of a change from `before` to `after` (the changed policy).
pub fn assess(p: &PrincipalInput, before: &Value, after: &Value) -> PrincipalImpact {
    assess_cached(p, before, after, &mut Cache::default())
}

/// [`assess`], sharing evaluations through `cache`.
pub fn assess_cached(
    p: &PrincipalInput,
    before: &Value,
    after: &Value,
    cache: &mut Cache,
) -> PrincipalImpact {
    let mut result = PrincipalImpact {
        arn: p.arn.clone(),
        name: p.name.clone(),
        kind: p.kind,
        via: p.via.clone(),
        credentials: p.credentials.clone(),
        verdict: Verdict::Unaffected,
        because: String::new(),
        losses: Vec::new(),
        fallback: None,
        evidence: None,
        boundary: p.boundary.describe(),
    };
    let chans = match channels(&p.credentials) {
        Ok(c) => c,
        Err(why) => {
            result.verdict = Verdict::Unknown;
            result.because = format!("credentials could not be read ({why})");
            return result;
        }
    };
    let fallback = !p.missing.is_empty();
    if fallback {
        result.fallback = Some(format!(
            "not every policy of this principal could be read ({}): judged by the changed policy alone, beside an allow-everything policy (what its guard takes away, an upper bound)",
            p.missing.join(", ")
        ));
    }
    let key = cache_key(p, before, after);
    for ch in &chans {
        let ev = cache.evaluate(key.as_deref(), p, before, after, &ch.contexts, fallback);
        result.losses.extend(loss(ch, &ev, fallback));
    }
    let phrase = credentials_phrase(&p.credentials);
    (result.verdict, result.because) = verdict(&phrase, &result.losses, chans.is_empty(), fallback);
    if let Boundary::Unreadable { arn, why } = &p.boundary {
        unread_boundary(&mut result, arn, why);
    }
    result
}

/// A boundary only ever takes access away, so a principal that loses nothing without its
/// boundary loses nothing with it; one that does might not (the boundary may never have allowed
/// it): unknown, and the line says why.
fn unread_boundary(result: &mut PrincipalImpact, arn: &str, why: &str) {
    if result.verdict == Verdict::Unaffected {
        return;
    }
    result.verdict = Verdict::Unknown;
    result.because.push_str(&format!(
        " [its permissions boundary {arn} could not be evaluated ({why}): what it would lose may already be denied by the boundary]"
    ));
}

/// What a channel loses (certainly, else possibly), or `None` when it keeps everything.
fn loss(ch: &Channel, ev: &ChannelEval, fallback: bool) -> Option<Loss> {
    let (set, uncertain) = if !ev.lost.is_empty() {
        (&ev.lost, false)
    } else if !ev.maybe_lost.is_empty() {
        (&ev.maybe_lost, true)
    } else {
        return None;
    };
    let what = if fallback {
        format!("{} (what the changed policy's guard denies there)", ch.what)
    } else {
        ch.what.clone()
    };
    Some(Loss {
        what,
        short: ch.short.to_string(),
        contexts: ch.contexts.clone(),
        actions_before: ev.actions_before.len(),
        actions_lost: set.len(),
        examples: set.iter().take(EXAMPLES).cloned().collect(),
        kept: ev
            .actions_before
            .iter()
            .filter(|a| !set.contains(*a))
            .take(EXAMPLES)
            .cloned()
            .collect(),
        last_used: ch.last_used.clone(),
        fix: ch.fix.clone(),
        uncertain,
    })
}

/// The verdict and the one line an operator reads, from the losses of every channel.
fn verdict(phrase: &str, losses: &[Loss], no_channels: bool, fallback: bool) -> (Verdict, String) {
    let certain: Vec<String> = losses
        .iter()
        .filter(|l| !l.uncertain)
        .map(|l| describe(l, fallback))
        .collect();
    let maybe: Vec<String> = losses
        .iter()
        .filter(|l| l.uncertain)
        .map(|l| describe(l, fallback))
        .collect();
    let (verdict, mut because) = if !certain.is_empty() {
        (
            Verdict::LosesAccess,
            format!("{phrase}: {}", certain.join("; ")),
        )
    } else if !maybe.is_empty() {
        (
            Verdict::Unknown,
            format!(
                "{phrase}: {} (the evaluator met conditions it does not model)",
                maybe.join("; ")
            ),
        )
    } else if no_channels {
        (
            Verdict::Unaffected,
            format!("{phrase}: no way to sign in or make requests"),
        )
    } else {
        (
            Verdict::Unaffected,
            format!("{phrase}: keeps every access it has"),
        )
    };
    if fallback && verdict != Verdict::Unaffected {
        because.push_str(" [changed policy alone: other policies not readable]");
    }
    (verdict, because)
}

/// One loss in words: "loses CLI access (3 of 5 actions it had: …; keeps 2: …); fix: …".
fn describe(l: &Loss, fallback: bool) -> String {
    let more = |shown: usize, n: usize| if n > shown { ", …" } else { "" };
    let kept_n = l.actions_before.saturating_sub(l.actions_lost);
    let scope = if fallback {
        format!("up to {} actions", l.actions_lost)
    } else if kept_n == 0 {
        format!("all {} actions it had", l.actions_lost)
    } else {
        format!("{} of {} actions it had", l.actions_lost, l.actions_before)
    };
    let kept = if kept_n > 0 && !fallback {
        format!(
            "; keeps {kept_n}: {}{}",
            l.kept.join(", "),
            more(l.kept.len(), kept_n)
        )
    } else {
        String::new()
    };
    format!(
        "{} {} ({scope}: {}{}{kept}); fix: {}",
        if l.uncertain { "may lose" } else { "loses" },
        l.short,
        l.examples.join(", "),
        more(l.examples.len(), l.actions_lost),
        l.fix
    )
}

/// The impact of a change on every principal it reaches.
pub fn impact(
    principals: &[PrincipalInput],
    before: &Value,
    after: &Value,
    credentials_as_of: Option<String>,
    notes: Vec<String>,
) -> Impact {
    let mut cache = Cache::default();
    let mut out = Impact {
        principals: principals
            .iter()
            .map(|p| assess_cached(p, before, after, &mut cache))
            .collect(),
        summary: String::new(),
        credentials_as_of,
        notes,
    };
    // Worst first, then by name: what the operator must read comes first.
    out.principals.sort_by(|a, b| {
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
    out.summarize();
    out
}

pub mod with_evidence;

#[cfg(test)]
mod tests;
