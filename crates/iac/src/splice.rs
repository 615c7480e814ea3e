//! Statement-level write-back for line-based syntaxes (YAML block lists, HCL blocks): statements
//! the migration left alone keep their exact lines (and the comments between them); only changed,
//! added or removed statements are touched.

use std::ops::Range;

use serde_json::Value;
use similar::{capture_diff_slices, Algorithm, DiffOp};

/// Replace the region spanning `items` (byte ranges of whole lines, in order, not overlapping)
/// so that it holds `new` statements: unchanged ones verbatim, others from `render` (told whether
/// the statement opens the region).
pub(crate) fn splice_items(
    text: &str,
    items: &[Range<usize>],
    old: &[Value],
    new: &[Value],
    render: &dyn Fn(&Value, bool) -> String,
) -> Option<(Range<usize>, String)> {
    let first = items.first()?.start;
    let last = items.last()?.end;
    if items.len() != old.len() || items.windows(2).any(|w| w[0].end > w[1].start) {
        return None;
    }
    let key = |v: &Value| serde_json::to_string(v).unwrap_or_default();
    let old_keys: Vec<String> = old.iter().map(key).collect();
    let new_keys: Vec<String> = new.iter().map(key).collect();
    // Comment and blank lines between two statements go with the statement below them.
    let gap_before = |k: usize| -> &str {
        match k.checked_sub(1).and_then(|p| items.get(p)) {
            Some(prev) => &text[prev.end..items[k].start],
            None => "",
        }
    };
    let mut out = String::new();
    let push = |out: &mut String, s: &str| {
        if !out.is_empty() && !out.ends_with('\n') && !s.is_empty() {
            out.push('\n');
        }
        out.push_str(s);
    };
    for op in capture_diff_slices(Algorithm::Myers, &old_keys, &new_keys) {
        match op {
            DiffOp::Equal { old_index, len, .. } => {
                for k in old_index..old_index + len {
                    push(&mut out, gap_before(k));
                    push(&mut out, &text[items[k].clone()]);
                }
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => {
                for k in old_index..old_index + old_len {
                    push(&mut out, gap_before(k));
                }
            }
            DiffOp::Insert {
                new_index, new_len, ..
            } => {
                for v in &new[new_index..new_index + new_len] {
                    let first = out.is_empty();
                    push(&mut out, &render(v, first));
                }
            }
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                // Each replacement keeps the comments above the statement it replaces: paired
                // by Sid, statements without one in order; new statements get none.
                let sid = |v: &Value| v.get("Sid").and_then(Value::as_str).map(str::to_string);
                let mut used = vec![false; old_len];
                for v in &new[new_index..new_index + new_len] {
                    let pair =
                        (0..old_len).find(|&t| !used[t] && sid(&old[old_index + t]) == sid(v));
                    if let Some(t) = pair {
                        for (u, done) in used.iter_mut().enumerate().take(t + 1) {
                            if !*done {
                                *done = true;
                                push(&mut out, gap_before(old_index + u));
                            }
                        }
                    }
                    let first = out.is_empty();
                    push(&mut out, &render(v, first));
                }
                for (u, done) in used.iter().enumerate() {
                    if !done {
                        push(&mut out, gap_before(old_index + u));
                    }
                }
            }
        }
    }
    // The region ended where the last item ended: keep its line ending convention.
    let ends_nl = text[..last].ends_with('\n');
    if ends_nl && !out.ends_with('\n') {
        out.push('\n');
    } else if !ends_nl && out.ends_with('\n') {
        out.pop();
    }
    Some((first..last, out))
}

/// The byte range of the whole lines from the line holding `start` to the line holding
/// `end - 1`, line ending included.
pub(crate) fn whole_lines(text: &str, start: usize, end: usize) -> Range<usize> {
    let s = crate::line_start(text, start);
    let e = match text[end.min(text.len())..].find('\n') {
        Some(i) => end + i + 1,
        None => text.len(),
    };
    s..e
}
