//! Placeholders: how intrinsics and interpolations travel through the engine.
//!
//! An interpolation inside a string (`${AWS::AccountId}` in `!Sub`, `!Ref` in `!Join`,
//! `${var.account_id}` in Terraform) becomes `@@NAME@@` in the resolved string, so that the
//! engine sees an ARN whose account is `@@var.account_id@@` and writes added ARNs with the same
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

/// The placeholder of an interpolation inside a string. `@@` rather than braces: the engine
/// reads the ARN `arn:aws:iam::@@var.account_id@@:user/…` as an account like any other, and
/// colons in names (`AWS::AccountId`) would split ARNs, so they travel as `..`.
pub(crate) fn name(n: &str) -> String {
    format!("@@{}@@", n.replace("::", ".."))
}

/// Whether `n` can travel as a name placeholder.
pub(crate) fn name_ok(n: &str) -> bool {
    !n.is_empty()
        && !n.contains("..")
        && !n.contains("@@")
        && !n.contains(|c: char| c.is_whitespace() || "\"\\{}*?$".contains(c))
}

/// Split a resolved string into literal text and `@@NAME@@` interpolations (names given back
/// with their colons).
pub(crate) fn pieces(s: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    let mut text_start = 0usize;
    let base = s.as_ptr() as usize;
    while let Some(i) = rest.find("@@") {
        let Some(j) = rest[i + 2..].find("@@") else {
            break;
        };
        let inner = &rest[i + 2..i + 2 + j];
        if inner.is_empty() || inner.contains(|c: char| c.is_whitespace()) {
            rest = &rest[i + 2..];
            continue;
        }
        let abs = rest.as_ptr() as usize - base + i;
        if abs > text_start {
            out.push(Piece::Text(&s[text_start..abs]));
        }
        out.push(Piece::Name(inner));
        rest = &rest[i + 2 + j + 2..];
        text_start = rest.as_ptr() as usize - base;
    }
    if text_start < s.len() {
        out.push(Piece::Text(&s[text_start..]));
    }
    out
}

/// A name as written in the source (`AWS..AccountId` → `AWS::AccountId`).
pub(crate) fn source_name(n: &str) -> String {
    n.replace("..", "::")
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
            pieces("arn:@@AWS..Partition@@:iam::@@var.a@@:user/${aws:username}"),
            vec![
                Piece::Text("arn:"),
                Piece::Name("AWS..Partition"),
                Piece::Text(":iam::"),
                Piece::Name("var.a"),
                Piece::Text(":user/${aws:username}"),
            ]
        );
        assert_eq!(pieces("{{=3}}"), vec![Piece::Text("{{=3}}")]);
        assert_eq!(opaque_index("{{=3}}"), Some(3));
        assert!(!has_names("a@@b"));
        assert_eq!(name("AWS::AccountId"), "@@AWS..AccountId@@");
        assert_eq!(source_name("AWS..AccountId"), "AWS::AccountId");
    }
}
