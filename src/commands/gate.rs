//! The impact gate of `apply`: a change that cuts off access in use is held back under `--yes`
//! (unless `--accept-impact`), and so is one whose principals' credentials cannot be read (fail
//! closed: nothing says the access it cuts off is unused). A saved change is held back when it now
//! cuts off more than it did when it was reviewed, or when a loss it was reviewed with cannot be
//! read again.

use std::collections::BTreeMap;

use crate::engine::impact::{Credentials, Impact, PrincipalImpact, Verdict};
use crate::engine::plan::PlannedChange;

/// Why `apply --yes` must not publish `c` now, if it must not: a principal loses (or may lose)
/// access used within `recent_days`, and the operator did not pass `--accept-impact`.
pub fn hold_reason(c: &PlannedChange, recent_days: i64, accept: bool) -> Option<String> {
    if accept {
        return None;
    }
    let imp = c.impact.as_ref()?;
    let recent = imp.recent_losses(recent_days);
    if recent.is_empty() {
        return None;
    }
    let names: Vec<String> = recent
        .iter()
        .map(|p| format!("{} ({})", p.name, p.because))
        .collect();
    Some(format!(
        "held back: cuts off access used in the last {recent_days} days: {}; fix that first or pass --accept-impact",
        names.join("; ")
    ))
}

/// Why a saved change must not be published: its impact grew since it was reviewed.
pub fn growth_reason(reviewed: Option<&Impact>, now: Option<&Impact>) -> Option<String> {
    let now = now?;
    let empty = Impact::default();
    let grown = reviewed.unwrap_or(&empty).growth(now);
    if grown.is_empty() {
        None
    } else {
        Some(format!(
            "held back: more is cut off than when the plan was reviewed: {}; make the plan again and review it",
            grown.join("; ")
        ))
    }
}

/// Principals whose credentials could not be read: nothing says whether the access they lose is
/// in use, so the gate cannot clear them.
fn unreadable(imp: &Impact) -> Vec<&PrincipalImpact> {
    imp.principals
        .iter()
        .filter(|p| {
            p.verdict != Verdict::Unaffected && matches!(p.credentials, Credentials::Unknown { .. })
        })
        .collect()
}

/// Why `apply --yes` must not publish `c` when who it affects cannot be told: its principals'
/// credentials (the credential report, the MFA devices) could not be read, or, for an account
/// policy, who it reaches could not be read at all. `--accept-impact` publishes it.
pub fn unknown_reason(c: &PlannedChange, now: Option<&Impact>) -> Option<String> {
    let Some(imp) = now else {
        return c.target.account.as_ref().map(|_| {
            "held back: who this change affects could not be read; grant the read permissions of docs/permissions/plan-policy.json, or pass --accept-impact".to_string()
        });
    };
    let unknown = unreadable(imp);
    if unknown.is_empty() {
        return None;
    }
    let names: Vec<String> = unknown
        .iter()
        .map(|p| format!("{} ({})", p.name, p.because))
        .collect();
    Some(format!(
        "held back: whether it cuts off access in use cannot be told: {}; grant iam:GenerateCredentialReport, iam:GetCredentialReport and iam:ListVirtualMFADevices, or pass --accept-impact",
        names.join("; ")
    ))
}

/// Why a saved change must not be published on weaker information than it was reviewed with:
/// the review showed principals losing access, and now who it affects cannot be read, or those
/// principals' credentials cannot.
pub fn weaker_reason(reviewed: Option<&Impact>, now: Option<&Impact>) -> Option<String> {
    let reviewed = reviewed?;
    let losing: Vec<&PrincipalImpact> = reviewed
        .principals
        .iter()
        .filter(|p| p.verdict == Verdict::LosesAccess)
        .collect();
    if losing.is_empty() {
        return None;
    }
    let unconfirmed: Vec<&str> = match now {
        None => losing.iter().map(|p| p.name.as_str()).collect(),
        Some(now) => losing
            .iter()
            .filter(|p| {
                now.principals
                    .iter()
                    .find(|q| q.arn == p.arn)
                    .is_none_or(|q| {
                        q.verdict == Verdict::Unknown
                            && matches!(q.credentials, Credentials::Unknown { .. })
                    })
            })
            .map(|p| p.name.as_str())
            .collect(),
    };
    (!unconfirmed.is_empty()).then(|| {
        format!(
            "held back: the plan was reviewed with {} losing access, and who it affects cannot be read again now; grant the read permissions of docs/permissions/plan-policy.json and apply again",
            unconfirmed.join(", ")
        )
    })
}

/// The impact gate of `apply`: what is held back and why.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    /// `--yes` without `--accept-impact`: changes cutting off recently used access, or whose
    /// principals' credentials cannot be read, are held.
    pub hold_recent: bool,
    pub recent_days: i64,
    /// `apply --plan`: the impact of each saved change now, by change id.
    pub current: Option<BTreeMap<String, Impact>>,
}

impl Gate {
    pub fn new(accept_impact: bool, recent_days: i64, yes: bool) -> Gate {
        Gate {
            hold_recent: yes && !accept_impact,
            recent_days,
            current: None,
        }
    }

    /// Why `c` must not be published now, if it must not.
    pub fn hold(&self, c: &PlannedChange) -> Option<String> {
        let now = match &self.current {
            Some(map) => {
                let now = map.get(&c.id);
                if let Some(why) = weaker_reason(c.impact.as_ref(), now) {
                    return Some(why);
                }
                if let Some(why) = growth_reason(c.impact.as_ref(), now) {
                    return Some(why);
                }
                now.or(c.impact.as_ref())
            }
            None => c.impact.as_ref(),
        };
        if !self.hold_recent {
            return None;
        }
        let mut judged = c.clone();
        judged.impact = now.cloned();
        hold_reason(&judged, self.recent_days, false).or_else(|| unknown_reason(c, now))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::report::impact::fixtures::{impact, principal};

    #[test]
    fn recent_losses_hold_back_unless_accepted() {
        let mut c = PlannedChange {
            id: "abc".into(),
            target: crate::engine::target::Target::file("x"),
            version_id: None,
            before_sha256: String::new(),
            before: String::new(),
            after: String::new(),
            migrations: vec![],
            effect_summary: vec![],
            iac_managed: None,
            impact: Some(impact(vec![principal(
                "carol",
                Verdict::LosesAccess,
                Some(2),
            )])),
            limit: None,
            suppressed: vec![],
        };
        let why = hold_reason(&c, 90, false).unwrap();
        assert!(
            why.contains("carol") && why.contains("--accept-impact"),
            "{why}"
        );
        assert!(hold_reason(&c, 90, true).is_none());
        assert!(hold_reason(&c, 1, false).is_none(), "used 2 days ago");
        c.impact = Some(impact(vec![principal("old", Verdict::LosesAccess, None)]));
        assert!(hold_reason(&c, 90, false).is_none(), "never used");
    }

    #[test]
    fn growth_is_refused() {
        let reviewed = impact(vec![principal("carol", Verdict::Unaffected, None)]);
        let now = impact(vec![principal("carol", Verdict::LosesAccess, Some(1))]);
        assert!(growth_reason(Some(&reviewed), Some(&now))
            .unwrap()
            .contains("carol"));
        assert!(growth_reason(Some(&now), Some(&now)).is_none());
        assert!(growth_reason(Some(&now), Some(&reviewed)).is_none());
    }

    #[test]
    fn unreadable_credentials_hold_back_under_yes_and_a_reviewed_loss_needs_confirming() {
        let mut unknown = principal("erin", Verdict::Unknown, None);
        unknown.credentials = Credentials::Unknown {
            why: "AccessDenied".into(),
        };
        let mut c = PlannedChange {
            id: "abc".into(),
            target: crate::engine::target::Target::file("x"),
            version_id: None,
            before_sha256: String::new(),
            before: String::new(),
            after: String::new(),
            migrations: vec![],
            effect_summary: vec![],
            iac_managed: None,
            impact: Some(impact(vec![unknown.clone()])),
            limit: None,
            suppressed: vec![],
        };
        let yes = Gate::new(false, 90, true);
        assert!(yes.hold(&c).unwrap().contains("erin"));
        assert!(Gate::new(true, 90, true).hold(&c).is_none());
        // Reviewed with carol losing access; now her credentials cannot be read.
        let mut carol_now = principal("carol", Verdict::Unknown, None);
        carol_now.credentials = unknown.credentials.clone();
        c.impact = Some(impact(vec![principal(
            "carol",
            Verdict::LosesAccess,
            Some(2),
        )]));
        let mut saved = Gate::new(true, 90, true);
        saved.current = Some(BTreeMap::from([(
            "abc".to_string(),
            impact(vec![carol_now]),
        )]));
        assert!(saved.hold(&c).unwrap().contains("carol"));
        saved.current = Some(BTreeMap::new());
        assert!(saved.hold(&c).unwrap().contains("carol"));
    }
}
