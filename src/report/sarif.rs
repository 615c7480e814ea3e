//! SARIF 2.1.0 for code-scanning upload: only actionable findings become results, each at the
//! line of its statement (or of the policy in its template).
//!
//! `artifactLocation`s are what code scanning accepts: a file under the working directory is a
//! percent-encoded relative URI reference with `uriBaseId` `%SRCROOT%` (the checkout the scan ran
//! in), any other file an absolute `file://` URI. Spaces, `#`, `%` and other characters that are
//! not allowed in a URI path are percent-encoded; `/` separates segments on every platform.

use std::path::{Component, Path, PathBuf};

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::{json, Value};

use crate::engine::detect::Severity;
use crate::engine::plan::Item;
use crate::engine::target::{Target, TargetKind};

/// The base id for paths relative to the working directory, as GitHub code scanning expects.
pub const SRCROOT: &str = "%SRCROOT%";

/// What may not appear as-is in a path segment (RFC 3986 `pchar` allows unreserved, sub-delims,
/// `:` and `@`); non-ASCII bytes are always encoded.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

fn encode_segments<'a>(segments: impl Iterator<Item = &'a str>) -> String {
    segments
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// The path's segments with `.` dropped and `..` applied, without touching the disk.
fn normal_segments(path: &Path) -> (bool, Vec<String>) {
    let mut out: Vec<String> = Vec::new();
    let mut escapes = false;
    for c in path.components() {
        match c {
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if out.pop().is_none() {
                    escapes = true;
                }
            }
            Component::Normal(s) => out.push(s.to_string_lossy().replace('\\', "/")),
        }
    }
    (escapes, out)
}

/// The `artifactLocation` of a file `path`; `root` is the working directory (for absolute paths
/// under it and relative paths that climb out of it).
pub fn file_location(path: &Path, root: Option<&Path>) -> Value {
    let absolute: Option<PathBuf> = if path.is_absolute() {
        Some(path.to_path_buf())
    } else {
        let (escapes, segments) = normal_segments(path);
        if !escapes {
            return json!({
                "uri": encode_segments(segments.iter().map(String::as_str)),
                "uriBaseId": SRCROOT,
            });
        }
        root.map(|r| r.join(path))
    };
    let Some(absolute) = absolute else {
        // A relative path above an unknown working directory: the best we have, encoded.
        let (_, segments) = normal_segments(path);
        return json!({"uri": encode_segments(segments.iter().map(String::as_str))});
    };
    let (_, abs) = normal_segments(&absolute);
    if let Some(root) = root {
        let (_, root) = normal_segments(root);
        if abs.len() > root.len() && abs[..root.len()] == root[..] {
            return json!({
                "uri": encode_segments(abs[root.len()..].iter().map(String::as_str)),
                "uriBaseId": SRCROOT,
            });
        }
    }
    json!({"uri": format!("file:///{}", encode_segments(abs.iter().map(String::as_str)))})
}

/// The `artifactLocation` of any target: files as above, IAM targets by their name, encoded.
pub fn artifact_location(target: &Target, root: Option<&Path>) -> Value {
    match &target.kind {
        TargetKind::File { path } | TargetKind::Embedded { path, .. } => file_location(path, root),
        _ => json!({"uri": encode_segments(target.to_string().split('/'))}),
    }
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

fn line_of_sid(text: &str, sid: Option<&str>) -> usize {
    let Some(sid) = sid else { return 1 };
    let needle = format!("\"{sid}\"");
    text.lines()
        .position(|l| l.contains(&needle) && l.contains("\"Sid\""))
        .map(|i| i + 1)
        .unwrap_or(1)
}

/// SARIF 2.1.0 for code-scanning upload. Only actionable findings become results. File locations
/// are relative to the working directory (see [`file_location`]).
pub fn sarif(items: &[Item]) -> Value {
    sarif_at(items, std::env::current_dir().ok().as_deref())
}

/// [`sarif`] with file locations relative to `root`.
pub fn sarif_at(items: &[Item], root: Option<&std::path::Path>) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_ids: Vec<String> = Vec::new();
    let mut results = Vec::new();
    let mut add = |rule: &str, level: &str, message: &str, target: &Target, line: usize| {
        if !rule_ids.iter().any(|r| r == rule) {
            rule_ids.push(rule.to_string());
            rules.push(json!({"id": rule, "shortDescription": {"text": rule.replace('-', " ")}}));
        }
        results.push(json!({
            "ruleId": rule,
            "level": level,
            "message": {"text": message},
            "locations": [{"physicalLocation": {
                "artifactLocation": artifact_location(target, root),
                "region": {"startLine": line}
            }}]
        }));
    };
    for item in items {
        match item {
            Item::Change(c) => {
                for f in &c.findings {
                    let line = match &c.target.kind {
                        // IaC: the policy's line in the template.
                        TargetKind::Embedded { line, .. } => *line,
                        _ => line_of_sid(&c.before, f.sid.as_deref()),
                    };
                    add(
                        &f.rule,
                        sarif_level(f.severity),
                        &f.message,
                        &c.target,
                        line,
                    );
                }
            }
            Item::Skipped {
                target,
                findings,
                needs_review: true,
                ..
            } => {
                let line = match &target.kind {
                    TargetKind::Embedded { line, .. } => *line,
                    _ => 1,
                };
                for f in findings {
                    add(&f.rule, sarif_level(f.severity), &f.message, target, line);
                }
            }
            Item::Error { target, error } => add("invalid-policy-file", "error", error, target, 1),
            _ => {}
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "forcemfa",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_encoded_under_srcroot() {
        let v = file_location(Path::new("./pol/my policy#1 100%.json"), None);
        assert_eq!(v["uri"], "pol/my%20policy%231%20100%25.json");
        assert_eq!(v["uriBaseId"], SRCROOT);
    }

    #[test]
    fn absolute_paths_under_the_root_become_relative() {
        let v = file_location(
            Path::new("/work/repo/a b.json"),
            Some(Path::new("/work/repo")),
        );
        assert_eq!(v, json!({"uri": "a%20b.json", "uriBaseId": SRCROOT}));
    }

    #[test]
    fn other_paths_are_file_uris() {
        let v = file_location(Path::new("/srv/x/ü.json"), Some(Path::new("/work/repo")));
        assert_eq!(v, json!({"uri": "file:///srv/x/%C3%BC.json"}));
        let v = file_location(Path::new("../shared/p.json"), Some(Path::new("/work/repo")));
        assert_eq!(v, json!({"uri": "file:///work/shared/p.json"}));
    }
}
