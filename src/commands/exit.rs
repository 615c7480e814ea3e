//! The exit code of a run, decided in one place: 130 interrupted > 4 blocked or held back > 1
//! anything asked not carried out > 2 changes pending (`--detailed-exitcode`) > 0.

use crate::commands::scope::Part;
use crate::engine::plan::{summarize, Item, Summary};
use crate::error::Exit;

/// Planning items: blocked beats error beats pending, so the safety signal is never hidden.
pub fn exit_for(items: &[Item], detailed: bool) -> Exit {
    exit_for_summary(&summarize(items), detailed)
}

/// [`exit_for`] from the counts alone (a report printed as planning goes keeps no items).
pub fn exit_for_summary(s: &Summary, detailed: bool) -> Exit {
    if s.blocked > 0 {
        Exit::Blocked
    } else if s.errors > 0 {
        Exit::Error
    } else if detailed && (s.changes > 0 || s.needs_review > 0) {
        // Something a person must still do (a policy forcemfa names but cannot rewrite, a
        // form it does not read) is pending, never "nothing to do".
        Exit::Pending
    } else {
        Exit::Ok
    }
}

/// `scan`'s exit code: as [`exit_for`], and with `--detailed-exitcode` a high or critical
/// finding (an exemption that opens IAM before MFA, a guard forcemfa cannot rewrite) counts as
/// pending too, even on a policy that is otherwise up to date.
pub fn scan_exit_for(items: &[Item], detailed: bool) -> Exit {
    match exit_for(items, detailed) {
        Exit::Ok if detailed && items.iter().any(Item::has_serious_finding) => Exit::Pending,
        e => e,
    }
}

/// A planned run: as [`exit_for`] over every part's items, and a part that could not be worked
/// on at all is an error.
pub fn exit_for_parts(parts: &[Part], detailed: bool) -> Exit {
    let items: Vec<Item> = parts.iter().flat_map(|p| p.items.iter().cloned()).collect();
    match exit_for(&items, detailed) {
        Exit::Blocked => Exit::Blocked,
        _ if parts.iter().any(|p| p.error.is_some()) => Exit::Error,
        // A file that mentions an MFA key and was not read is work left, as a change is.
        Exit::Ok
            if detailed
                && parts
                    .iter()
                    .flat_map(|p| &p.unread)
                    .any(|u| u.kind.pending()) =>
        {
            Exit::Pending
        }
        e => e,
    }
}

/// An applied run: interrupted, then blocked or held back, then failed.
pub fn exit_for_apply(parts: &[Part], interrupted: bool) -> Exit {
    let blocked = parts.iter().any(|p| {
        p.results.iter().any(|r| r.outcome.is_held_back())
            || !p.blocked.is_empty()
            || p.items
                .iter()
                .any(|i| matches!(i, Item::Change(c) if c.is_blocked()))
    });
    if interrupted {
        Exit::Interrupted
    } else if blocked {
        Exit::Blocked
    } else if parts.iter().any(Part::failed) {
        Exit::Error
    } else {
        Exit::Ok
    }
}
