//! The listing of files not read (files that mention an MFA condition key but from which no
//! policy was read; see `sources::unread`), in each format: a line per file in text, a section
//! in Markdown, a `note` result per file in SARIF. JSON carries the list as it is (`unread`).
//! Pure: strings and values out.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value};

use crate::report::{md_code, md_text};
use crate::sources::unread::Unread;

/// The SARIF rule of a file not read.
pub const RULE: &str = "not-read";

/// `not read: PATH:LINE: REASON`, a line per file, and a closing count; nothing when none.
pub fn text(list: &[&Unread]) -> String {
    if list.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for u in list {
        let _ = writeln!(
            out,
            "not read: {}:{}: {}",
            u.path.display(),
            u.line,
            u.reason
        );
    }
    let _ =
        writeln!(
        out,
        "{} not read: {} an MFA condition key where forcemfa read no policy; see each line above.",
        files(list.len()),
        if list.len() == 1 { "it mentions" } else { "each mentions" },
    );
    out
}

fn files(n: usize) -> String {
    if n == 1 {
        "1 file".into()
    } else {
        format!("{n} files")
    }
}

/// A `## Not read` section with one row per file; nothing when none.
pub fn markdown(list: &[&Unread]) -> String {
    if list.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\n## Not read\n\n{} {} an MFA condition key where forcemfa read no policy: check {} by hand.\n\n| file | line | reason |\n|---|--:|---|\n",
        files(list.len()),
        if list.len() == 1 { "mentions" } else { "mention" },
        if list.len() == 1 { "it" } else { "them" },
    );
    for u in list {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            md_code(&u.path.display().to_string()),
            u.line,
            md_text(&u.reason)
        );
    }
    out
}

/// `sarif` with a `note` result per file not read (rule `not-read`), at the line of the first
/// mention; file locations as for every other result.
pub fn with_sarif(mut sarif: Value, list: &[&Unread], root: Option<&Path>) -> Value {
    if list.is_empty() {
        return sarif;
    }
    let Some(run) = sarif.get_mut("runs").and_then(|r| r.get_mut(0)) else {
        return sarif;
    };
    if let Some(rules) = run
        .pointer_mut("/tool/driver/rules")
        .and_then(Value::as_array_mut)
    {
        rules.push(json!({
            "id": RULE,
            "shortDescription": {"text": "file mentions an MFA condition key but was not read"},
        }));
    }
    if let Some(results) = run.get_mut("results").and_then(Value::as_array_mut) {
        for u in list {
            results.push(json!({
                "ruleId": RULE,
                "level": "note",
                "message": {"text": format!("not read: {}", u.reason)},
                "locations": [{"physicalLocation": {
                    "artifactLocation": crate::report::sarif::file_location(&u.path, root),
                    "region": {"startLine": u.line.max(1)}
                }}]
            }));
        }
    }
    sarif
}

#[cfg(test)]
mod tests {
    use super::*;
    use forcemfa_iac::unread::Kind;

    fn one() -> Unread {
        Unread {
            path: "infra/stack.ts".into(),
            line: 7,
            reason: "policy built in code (AWS CDK, TypeScript): x | y".into(),
            kind: Kind::Program,
        }
    }

    #[test]
    fn each_format_names_the_file_and_line() {
        let u = one();
        let list = [&u];
        let t = text(&list);
        assert!(
            t.starts_with("not read: infra/stack.ts:7: policy built in code (AWS CDK"),
            "{t}"
        );
        assert!(t.contains("1 file not read"), "{t}");
        let md = markdown(&list);
        assert!(md.contains("## Not read"), "{md}");
        assert!(md.contains("| `infra/stack.ts` | 7 | "), "{md}");
        assert!(md.contains("x \\| y"), "{md}");
        let s = with_sarif(crate::report::sarif_at(&[], None), &list, None);
        let r = &s["runs"][0]["results"][0];
        assert_eq!(r["level"], "note");
        assert_eq!(r["ruleId"], RULE);
        assert_eq!(
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            7
        );
        assert_eq!(s["runs"][0]["tool"]["driver"]["rules"][0]["id"], RULE);
        assert_eq!(text(&[]), "");
        assert_eq!(markdown(&[]), "");
    }
}
