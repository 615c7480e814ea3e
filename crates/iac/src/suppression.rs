//! Inline suppressions: the migrations an operator keeps off one policy, written where its
//! resource is.

use std::ops::Range;

use crate::lines::{line_of, line_start};

/// A migration an operator keeps off one policy, written on its resource: a comment
/// `# forcemfa:skip=ID[,ID] reason` (`//` too), or CloudFormation `Metadata: forcemfa: skip`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Suppression {
    /// The migration as written (id, name or file stem).
    pub migration: String,
    /// Why, as written ("" when none was given).
    pub reason: String,
    /// 1-based line where it is written.
    pub line: usize,
}

/// The `forcemfa:skip=ID[,ID][:]reason` comments in `text[span]` (`#` or `//` comments), for
/// any syntax: callers pass the span of the resource a policy belongs to.
pub fn comment_suppressions(text: &str, span: Range<usize>) -> Vec<Suppression> {
    const MARK: &str = "forcemfa:skip=";
    let start = line_start(text, span.start.min(text.len()));
    let end = span.end.min(text.len());
    let mut out = Vec::new();
    let mut offset = start;
    for line in text[start..end].split_inclusive('\n') {
        let at = offset;
        offset += line.len();
        let Some(c) = line.find('#').or_else(|| line.find("//")) else {
            continue;
        };
        let Some(i) = line[c..].find(MARK) else {
            continue;
        };
        let rest = line[c + i + MARK.len()..].trim_end();
        let ids_end = rest
            .find(|ch: char| ch.is_whitespace() || ch == ':')
            .unwrap_or(rest.len());
        let reason = rest[ids_end..]
            .trim_start_matches(|ch: char| ch.is_whitespace() || ch == ':')
            .trim()
            .to_string();
        for id in rest[..ids_end].split(',').filter(|x| !x.is_empty()) {
            out.push(Suppression {
                migration: id.to_string(),
                reason: reason.clone(),
                line: line_of(text, at),
            });
        }
    }
    out
}
