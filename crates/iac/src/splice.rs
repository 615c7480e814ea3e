//! Statement-level write-back for line-based syntaxes (YAML block lists, HCL blocks): statements
//! the migration left alone keep their exact lines (and the comments between them); only changed,
//! added or removed statements are touched.

use std::ops::Range;

use serde_json::Value;
use similar::{capture_diff_slices, Algorithm, DiffOp};

/// The region a splice replaced and what it now holds.
pub(crate) struct Spliced {
    pub range: Range<usize>,
    pub text: String,
    /// Old statements (indices) not kept verbatim: changed or removed.
    pub rewritten: Vec<usize>,
}

/// Replace the region spanning `items` (byte ranges of whole lines, in order, not overlapping)
/// so that it holds `new` statements: unchanged ones verbatim, others from `render` (told whether
/// the statement opens the region, and which old statement it replaces, if any).
pub(crate) fn splice_items(
    text: &str,
    items: &[Range<usize>],
    old: &[Value],
    new: &[Value],
    render: &dyn Fn(&Value, bool, Option<usize>) -> String,
) -> Option<Spliced> {
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
    let mut rewritten = Vec::new();
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
                    rewritten.push(k);
                }
            }
            DiffOp::Insert {
                new_index, new_len, ..
            } => {
                for v in &new[new_index..new_index + new_len] {
                    let first = out.is_empty();
                    push(&mut out, &render(v, first, None));
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
                rewritten.extend(old_index..old_index + old_len);
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
                    push(&mut out, &render(v, first, pair.map(|t| old_index + t)));
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
    Some(Spliced {
        range: first..last,
        text: out,
        rewritten,
    })
}

/// `new` (a statement as printed afresh) with the comments of `old` (the statement it replaces,
/// as written) put back next to what they described: a line whose code is unchanged is taken
/// from `old` as written (trailing comment, quoting and spacing included); comment lines stay
/// above the line that followed them; a trailing comment of a changed line moves to the line
/// that replaces it. `markers` are the syntax's comment starts (`#`, `//`).
pub(crate) fn keep_comments(old: &str, new: &str, markers: &[&str]) -> String {
    struct Line<'a> {
        /// The line as written, without its line ending.
        full: &'a str,
        code: &'a str,
        /// Its trailing comment, with the blanks before it.
        comment: &'a str,
        /// Comment and blank lines right above it.
        above: Vec<&'a str>,
    }
    let mut lines: Vec<Line> = Vec::new();
    let mut pending: Vec<&str> = Vec::new();
    for full in old.split_inclusive('\n') {
        let full = full.trim_end_matches('\n').trim_end_matches('\r');
        let cut = comment_start(full, markers).unwrap_or(full.len());
        let code = full[..cut].trim_end();
        if code.trim().is_empty() {
            pending.push(full);
            continue;
        }
        lines.push(Line {
            full,
            code,
            comment: &full[code.len()..],
            above: std::mem::take(&mut pending),
        });
    }
    let new_lines: Vec<&str> = new
        .split_inclusive('\n')
        .map(|l| l.trim_end_matches('\n').trim_end_matches('\r'))
        .collect();
    let old_codes: Vec<&str> = lines.iter().map(|l| l.code).collect();
    let new_codes: Vec<&str> = new_lines.iter().map(|l| l.trim_end()).collect();
    let mut out: Vec<String> = Vec::new();
    for op in capture_diff_slices(Algorithm::Myers, &old_codes, &new_codes) {
        match op {
            DiffOp::Equal { old_index, len, .. } => {
                for l in &lines[old_index..old_index + len] {
                    out.extend(l.above.iter().map(|s| s.to_string()));
                    out.push(l.full.to_string());
                }
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => {
                for l in &lines[old_index..old_index + old_len] {
                    out.extend(l.above.iter().map(|s| s.to_string()));
                }
            }
            DiffOp::Insert {
                new_index, new_len, ..
            } => out.extend(
                new_lines[new_index..new_index + new_len]
                    .iter()
                    .map(|s| s.to_string()),
            ),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                for l in &lines[old_index..old_index + old_len] {
                    out.extend(l.above.iter().map(|s| s.to_string()));
                }
                for (k, n) in new_lines[new_index..new_index + new_len].iter().enumerate() {
                    let comment = lines[old_index..old_index + old_len]
                        .get(k)
                        .map_or("", |l| l.comment);
                    out.push(format!("{}{comment}", n.trim_end()));
                }
            }
        }
    }
    out.extend(pending.iter().map(|s| s.to_string()));
    let mut joined = out.join("\n");
    if new.ends_with('\n') {
        joined.push('\n');
    }
    joined
}

/// Where a line's comment starts (a marker at the start or after a blank, outside quotes).
fn comment_start(line: &str, markers: &[&str]) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(b'"') if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None => {
                let after_blank = i == 0 || matches!(bytes[i - 1], b' ' | b'\t');
                if after_blank && markers.iter().any(|m| bytes[i..].starts_with(m.as_bytes())) {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

/// The byte range of the whole lines from the line holding `start` to the line holding
/// `end - 1`, line ending included.
pub(crate) fn whole_lines(text: &str, start: usize, end: usize) -> Range<usize> {
    let s = crate::lines::line_start(text, start);
    let e = match text[end.min(text.len())..].find('\n') {
        Some(i) => end + i + 1,
        None => text.len(),
    };
    s..e
}
