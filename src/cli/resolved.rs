//! The configuration in force for a run, as data: every effective option with its origin
//! (`default`, `command line`, `FILE:LINE`), the `[[paths]]` overrides, and the per-file profile
//! they give. `config.rs` builds it from `forcemfa.toml` and the command line; reports and
//! `forcemfa config` read it.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde::Serialize;
use serde_json::{json, Value};

/// The file name looked for.
pub const FILE_NAME: &str = "forcemfa.toml";

/// Which IAM size limit policy files are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Customer managed policy: 6,144 characters
    Managed,
    /// Inline policy of a user: 2,048 characters
    User,
    /// Inline policy of a group: 5,120 characters
    Group,
    /// Inline policy of a role: 10,240 characters
    Role,
}

/// Where an effective option comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    CommandLine,
    /// `FILE:LINE`
    File(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::CommandLine => f.write_str("command line"),
            Origin::File(at) => f.write_str(at),
        }
    }
}

/// Serialises an origin as its display text.
struct OriginLabel<'a>(&'a Origin);

impl Serialize for OriginLabel<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

/// One effective option: key (as in the file), value, origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub key: &'static str,
    pub value: Value,
    pub origin: Origin,
}

/// A `[[paths]]` table, resolved: what it overrides for the files its glob matches.
#[derive(Debug, Clone)]
pub struct PathOverride {
    pub glob: String,
    /// `FILE:LINE` of the table.
    pub at: String,
    pub(crate) matcher: globset::GlobMatcher,
    pub allow_before_mfa: Option<Vec<String>>,
    pub skip_migration: Option<Vec<String>>,
    pub kind: Option<Kind>,
}

/// The configuration in force for a run: the file it came from (if any), the effective options and
/// their origins, and the per-path overrides. Carried inside [`PlanArgs`].
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub file: Option<PathBuf>,
    /// Folder the `[[paths]]` globs are relative to (the file's folder).
    pub base: Option<PathBuf>,
    pub settings: Vec<Setting>,
    pub paths: Vec<PathOverride>,
}

/// The options that apply to one file of a run (top level, or a `[[paths]]` override).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub allow_before_mfa: Vec<String>,
    pub skip_migration: Vec<String>,
    pub kind: Kind,
}

impl Resolved {
    /// The effective options as one JSON object: `{"file": …, "options": {key: {value, origin}},
    /// "paths": [...]}`.
    pub fn to_json(&self) -> Value {
        let mut options = serde_json::Map::new();
        for s in &self.settings {
            options.insert(
                s.key.to_string(),
                json!({"value": s.value, "origin": OriginLabel(&s.origin)}),
            );
        }
        let paths: Vec<Value> = self
            .paths
            .iter()
            .map(|p| {
                let mut o = json!({"glob": p.glob, "origin": p.at});
                if let Some(a) = &p.allow_before_mfa {
                    o["allow-before-mfa"] = json!(a);
                }
                if let Some(s) = &p.skip_migration {
                    o["skip-migration"] = json!(s);
                }
                if let Some(k) = p.kind {
                    o["kind"] = json!(kind_name(k));
                }
                o
            })
            .collect();
        json!({
            "file": self.file.as_ref().map(|f| f.display().to_string()),
            "options": options,
            "paths": paths,
        })
    }

    /// `forcemfa config` text: one line per option with its origin.
    pub fn to_text(&self) -> String {
        let mut out = match &self.file {
            Some(f) => format!("config file: {}\n", f.display()),
            None => format!(
                "config file: none ({FILE_NAME} not found in this folder or its parents up to the repository root or the home directory)\n"
            ),
        };
        for s in &self.settings {
            out.push_str(&format!(
                "{:<22} {:<40} {}\n",
                s.key,
                value_text(&s.value),
                s.origin
            ));
        }
        for p in &self.paths {
            out.push_str(&format!("[[paths]] glob {:?} ({}):\n", p.glob, p.at));
            if let Some(a) = &p.allow_before_mfa {
                out.push_str(&format!("  allow-before-mfa = {a:?}\n"));
            }
            if let Some(s) = &p.skip_migration {
                out.push_str(&format!("  skip-migration = {s:?}\n"));
            }
            if let Some(k) = p.kind {
                out.push_str(&format!("  kind = {:?}\n", kind_name(k)));
            }
        }
        out
    }

    /// The index in [`Resolved::paths`] of the `[[paths]]` table that applies to `path` (a file
    /// source): the first whose glob matches the path relative to the config file's folder.
    pub fn override_for(&self, path: &Path) -> Option<usize> {
        let base = self.base.as_ref()?;
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|d| d.join(path))
                .unwrap_or_else(|_| path.to_path_buf())
        };
        let abs = normalise(&abs);
        let base = normalise(base);
        let rel = abs.strip_prefix(&base).unwrap_or(&abs);
        self.paths.iter().position(|o| o.matcher.is_match(rel))
    }

    /// The options of the top level (`None`) or of a `[[paths]]` table: the table's keys override
    /// the top level (`top`, the command line already folded in), and the command line overrides both.
    pub fn profile(&self, top: Profile, table: Option<usize>) -> Profile {
        let mut p = top;
        let Some(o) = table.and_then(|i| self.paths.get(i)) else {
            return p;
        };
        let from_cli = |key: &str| {
            self.settings
                .iter()
                .any(|s| s.key == key && s.origin == Origin::CommandLine)
        };
        if let (Some(a), false) = (&o.allow_before_mfa, from_cli("allow-before-mfa")) {
            p.allow_before_mfa = a.clone();
        }
        if let (Some(s), false) = (&o.skip_migration, from_cli("skip-migration")) {
            p.skip_migration = s.clone();
        }
        if let (Some(k), false) = (o.kind, from_cli("kind")) {
            p.kind = k;
        }
        p
    }
}

/// The rule of the finding a migration skipped by choice leaves (see `skip-migration`).
pub const KEPT_BY_CHOICE: &str = "kept-by-choice";

impl Resolved {
    /// Every option that came from the config file, as `key = value`, with its `FILE:LINE`:
    /// reports name them, so that a choice made in a file is never silent.
    pub fn from_file(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .settings
            .iter()
            .filter_map(|s| match &s.origin {
                Origin::File(at) => {
                    Some((format!("{} = {}", s.key, value_text(&s.value)), at.clone()))
                }
                _ => None,
            })
            .collect();
        out.extend(
            self.paths
                .iter()
                .map(|p| (format!("[[paths]] glob = {:?}", p.glob), p.at.clone())),
        );
        out
    }
}

/// `a/./b/../c` → `a/c`, without touching the disk (paths may not exist yet).
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "(none)".into(),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::Null => "(not set)".into(),
        v => v.to_string(),
    }
}

pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Managed => "managed",
        Kind::User => "user",
        Kind::Group => "group",
        Kind::Role => "role",
    }
}
