//! AWS's combination of identity policies over possible-decision sets, shared by the impact
//! (per channel) and the evidence (per recorded request): an explicit deny in any policy wins;
//! else an allow in any allows; else implicit deny ("Policy evaluation logic", IAM User Guide).

use super::Decision;

/// The possible decisions of a policy set, as a bit set (1 allowed, 2 explicit deny, 4 implicit).
pub(crate) const ALLOWED: u8 = 1;
pub(crate) const EXPLICIT: u8 = 2;
pub(crate) const IMPLICIT: u8 = 4;

/// The possible decisions of one policy as bits; an unknown decision may be any of them.
pub(crate) fn bits(possible: &[Decision]) -> u8 {
    possible.iter().fold(0, |acc, d| {
        acc | match d {
            Decision::Allowed => ALLOWED,
            Decision::ExplicitDeny => EXPLICIT,
            Decision::ImplicitDeny => IMPLICIT,
            Decision::Unknown => ALLOWED | EXPLICIT | IMPLICIT,
        }
    })
}

/// Over possible-decision sets (each policy resolved independently): explicit is possible when
/// some policy may deny; allowed when some policy may allow and none certainly denies; implicit
/// when every policy may be implicit.
pub(crate) fn combine(sets: &[u8]) -> u8 {
    let certain_deny = sets.contains(&EXPLICIT);
    let mut out = 0;
    if sets.iter().any(|s| s & EXPLICIT != 0) {
        out |= EXPLICIT;
    }
    if !certain_deny && sets.iter().any(|s| s & ALLOWED != 0) {
        out |= ALLOWED;
    }
    if !certain_deny && sets.iter().all(|s| s & IMPLICIT != 0) {
        out |= IMPLICIT;
    }
    out
}
