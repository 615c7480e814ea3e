//! Placeholders: how intrinsics and interpolations travel through the engine.
//!
//! An interpolation inside a string (`${AWS::AccountId}` in `!Sub`, `!Ref` in `!Join`,
//! `${var.account_id}` in Terraform) becomes `{{NAME}}` in the resolved string, so that the
//! engine sees an ARN whose account is `{{var.account_id}}` and writes added ARNs with the same
//! one. A whole value the engine cannot read (`!GetAtt`, `var.arns`, `!If`) becomes an opaque
//! token `{{=N}}` whose source text is kept; a rewrite may carry it along, never move it.

use serde_json::Value;

/// A piece of a resolved string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Text(&'a str),
    /// An interpolation, by name (`AWS::AccountId`, `var.account_id`).
    Name(&'a str),
}

/// Split a resolved string into literal text and `{{NAME}}` interpolations.
pub(crate) fn pieces(s: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("{{") {
        let Some(j) = rest[i + 2..].find("}}") else {
            break;
        };
        let name = &rest[i + 2..i + 2 + j];
        if name.is_empty() || name.starts_with('=') || name.contains('{') {
            out.push(Piece::Text(&rest[..i + 2]));
            rest = &rest[i + 2..];
            continue;
        }
        if i > 0 {
            out.push(Piece::Text(&rest[..i]));
        }
        out.push(Piece::Name(name));
        rest = &rest[i + 2 + j + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    // Merge adjacent text pieces (from skipped braces).
    let mut merged: Vec<Piece<'_>> = Vec::new();
    for p in out {
        match (merged.last_mut(), &p) {
            (Some(Piece::Text(a)), Piece::Text(b)) => {
                let start = a.as_ptr() as usize - s.as_ptr() as usize;
                let end = b.as_ptr() as usize - s.as_ptr() as usize + b.len();
                *a = &s[start..end];
            }
            _ => merged.push(p),
        }
    }
    merged
}

/// Whether a resolved string holds any `{{NAME}}` interpolation.
pub(crate) fn has_names(s: &str) -> bool {
    pieces(s).iter().any(|p| matches!(p, Piece::Name(_)))
}

pub(crate) fn opaque_token(n: usize) -> String {
    format!("{{{{={n}}}}}")
}

/// The index of an opaque token, if `s` is exactly one.
pub(crate) fn opaque_index(s: &str) -> Option<usize> {
    s.strip_prefix("{{=")?.strip_suffix("}}")?.parse().ok()
}

/// Each opaque token of a document with its path relative to its statement.
fn opaque_paths(doc: &Value) -> Vec<(usize, String)> {
    fn walk(v: &Value, path: &str, out: &mut Vec<(usize, String)>) {
        match v {
            Value::String(s) => {
                if let Some(n) = opaque_index(s) {
                    out.push((n, path.to_string()));
                }
            }
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    walk(x, &format!("{path}/{i}"), out);
                }
            }
            Value::Object(map) => {
                for (k, x) in map {
                    walk(x, &format!("{path}/{k}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    match doc.get("Statement") {
        Some(Value::Array(items)) => {
            for s in items {
                walk(s, "", &mut out);
            }
        }
        Some(s) => walk(s, "", &mut out),
        None => {}
    }
    if let Value::Object(map) = doc {
        for (k, v) in map {
            if k != "Statement" {
                walk(v, &format!("/{k}"), &mut out);
            }
        }
    }
    out
}

/// A rewrite may keep opaque values where they were (within their statement) or drop them
/// with their statement's list entry; it may not move one or make up a new one.
pub(crate) fn check_opaque_kept(old: &Value, new: &Value) -> Result<(), String> {
    let before = opaque_paths(old);
    for (n, path) in opaque_paths(new) {
        if !before.iter().any(|(m, p)| *m == n && *p == path) {
            return Err(format!(
                "a value the file computes (placeholder {}) would have to move to {path}; change it by hand",
                opaque_token(n)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_split_names_and_text() {
        assert_eq!(
            pieces("arn:{{AWS::Partition}}:iam::{{var.a}}:user/${aws:username}"),
            vec![
                Piece::Text("arn:"),
                Piece::Name("AWS::Partition"),
                Piece::Text(":iam::"),
                Piece::Name("var.a"),
                Piece::Text(":user/${aws:username}"),
            ]
        );
        assert_eq!(pieces("{{=3}}"), vec![Piece::Text("{{=3}}")]);
        assert_eq!(opaque_index("{{=3}}"), Some(3));
        assert!(!has_names("a{{b"));
    }
}
