//! Terraform 0.11 syntax, which Terraform 0.12 and later (and this reader) no longer accept:
//! nested blocks written as attributes (`statement = {`) and quoted block types
//! (`"statement" {`). Such a file is not a broken file: it is named as needing review, with the
//! line and the upgrade command, and the rest of the run goes on.

use hcl_edit::expr::Expression;
use hcl_edit::structure::{Body, Structure};
use hcl_edit::Span;

use crate::lines::line_of;
use crate::model::IacError;

/// Block types of `aws_iam_policy_document` (and the blocks most often written as attributes in
/// 0.11): as attributes with an object value they are 0.11 syntax.
const BLOCK_TYPES: &[&str] = &[
    "statement",
    "condition",
    "principals",
    "not_principals",
    "ingress",
    "egress",
    "lifecycle",
];

/// The error of a file in 0.11 syntax.
pub(crate) fn needs_review(line: usize, what: &str) -> IacError {
    IacError::NeedsReview {
        line,
        message: format!(
            "Terraform 0.11 syntax ({what}): not read; run `terraform 0.12upgrade` in this module (with Terraform 0.12), then plan again"
        ),
    }
}

/// In a file that does not parse: the first quoted block type (`"statement" {`) or nested
/// block written as an attribute (`statement = {`, which 0.12 refuses once it is repeated),
/// 0.11-only forms.
pub(crate) fn marker(text: &str) -> Option<(usize, String)> {
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some((name, rest)) = t.split_once('=') {
            if BLOCK_TYPES.contains(&name.trim()) && rest.trim() == "{" {
                return Some((
                    i + 1,
                    format!("line {}: block written as an attribute `{t}`", i + 1),
                ));
            }
        }
        let Some(rest) = t.strip_prefix('"') else {
            continue;
        };
        let Some(end) = rest.find('"') else { continue };
        let name = &rest[..end];
        let after = rest[end + 1..].trim();
        let ident = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if ident && (after == "{" || after.starts_with("{ ") || after.starts_with('"')) {
            return Some((i + 1, format!("line {}: quoted block type `{t}`", i + 1)));
        }
    }
    None
}

/// In a file that parses: a nested block written as an attribute (`statement = {`).
pub(crate) fn marker_in(text: &str, body: &Body) -> Option<(usize, String)> {
    for s in body.iter() {
        match s {
            Structure::Attribute(a)
                if BLOCK_TYPES.contains(&a.key.as_str())
                    && matches!(a.value, Expression::Object(_)) =>
            {
                let at = a.span().map_or(0, |r| r.start);
                let line = line_of(text, at);
                return Some((
                    line,
                    format!(
                        "line {line}: block written as an attribute `{} = {{`",
                        a.key.as_str()
                    ),
                ));
            }
            Structure::Block(b) => {
                if let Some(found) = marker_in(text, &b.body) {
                    return Some(found);
                }
            }
            _ => {}
        }
    }
    None
}
