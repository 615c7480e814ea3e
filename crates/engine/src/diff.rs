//! Unified diffs of old and new documents: plain text for snapshots and JSON, coloured for
//! terminals.

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

/// A diff between two renderings of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Unified diff text (3 lines of context), `---`/`+++` headers included.
    pub unified: String,
    pub added: usize,
    pub removed: usize,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added == 0 && self.removed == 0
    }
}

/// Diff two texts. `label` names the document in the headers.
pub fn diff(before: &str, after: &str, label: &str) -> Diff {
    let td = TextDiff::from_lines(before, after);
    let mut added = 0;
    let mut removed = 0;
    for change in td.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => added += 1,
            ChangeTag::Delete => removed += 1,
            ChangeTag::Equal => {}
        }
    }
    let unified = td
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{label}"), &format!("b/{label}"))
        .to_string();
    Diff {
        unified,
        added,
        removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_and_has_headers() {
        let d = diff("a\nb\nc\n", "a\nB\nc\nd\n", "p.json");
        assert_eq!((d.added, d.removed), (2, 1));
        assert!(d.unified.starts_with("--- a/p.json\n+++ b/p.json\n"));
        assert!(diff("x\n", "x\n", "p").is_empty());
    }
}
