//! HCL quoted strings written from resolved strings, for every Terraform writer.

use crate::placeholder::{self, Piece};

/// An HCL quoted string for a resolved string.
pub(crate) fn hcl_string(s: &str) -> String {
    quoted(s, "$${")
}

/// An HCL quoted string for a resolved string: names as `${…}`, text escaped as JSON escapes it,
/// a literal `${` in the text written as `dollar` (`$${`, or `&{` for an IAM policy variable in
/// an `aws_iam_policy_document`) and `%{` as `%%{`, so that nothing becomes an interpolation.
pub(crate) fn quoted(s: &str, dollar: &str) -> String {
    let mut out = String::from("\"");
    for p in placeholder::pieces(s) {
        match p {
            Piece::Name(n) => out.push_str(&format!("${{{}}}", placeholder::source_name(n))),
            Piece::Text(t) => {
                let json = serde_json::to_string(t).unwrap_or_default();
                let inner = json
                    .strip_prefix('"')
                    .and_then(|j| j.strip_suffix('"'))
                    .unwrap_or_default();
                out.push_str(&inner.replace("${", dollar).replace("%{", "%%{"));
            }
        }
    }
    out.push('"');
    out
}
