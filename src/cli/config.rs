//! The project file `forcemfa.toml`: options a repository sets once instead of on every command
//! line (like `.cfnlintrc`, `.tflint.hcl` or `rustfmt.toml`).
//!
//! Found in the working directory or its parents, up to the repository root (the first folder
//! holding `.git`), or given with `--config FILE`. Command-line options override the file; `[[paths]]`
//! tables override the top-level keys for the files their glob matches (mixed repositories). Loading
//! is strict: an unknown key or a bad value is an error naming the file, line and key, never a
//! silently ignored setting. Every effective option carries its origin (`default`, `command line`,
//! `FILE:LINE`), which `forcemfa config` prints and JSON plans record.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use toml::Spanned;

use crate::cli::{Cli, Command, Kind, PlanArgs};
use crate::error::Error;

/// The file name looked for.
pub const FILE_NAME: &str = "forcemfa.toml";

/// Every key of the file, for error messages.
const KEYS: &str = "allow-before-mfa, skip-migration, kind, recent-days, include-iac-managed, \
    [accounts] role-name, session-name, concurrency, [[paths]] glob, allow-before-mfa, skip-migration, kind";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileSpec {
    allow_before_mfa: Option<Spanned<Vec<String>>>,
    skip_migration: Option<Spanned<Vec<String>>>,
    kind: Option<Spanned<String>>,
    recent_days: Option<Spanned<u32>>,
    include_iac_managed: Option<Spanned<bool>>,
    accounts: Option<AccountsSpec>,
    #[serde(default)]
    paths: Vec<PathSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct AccountsSpec {
    role_name: Option<Spanned<String>>,
    session_name: Option<Spanned<String>>,
    concurrency: Option<Spanned<u16>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct PathSpec {
    glob: Spanned<String>,
    allow_before_mfa: Option<Spanned<Vec<String>>>,
    skip_migration: Option<Spanned<Vec<String>>>,
    kind: Option<Spanned<String>>,
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
    matcher: globset::GlobMatcher,
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
                "config file: none ({FILE_NAME} not found in this folder or its parents up to the repository root)\n"
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
    /// the top level, and the command line (already folded into `args`) overrides both.
    pub fn profile(&self, args: &PlanArgs, table: Option<usize>) -> Profile {
        let mut p = Profile {
            allow_before_mfa: args.allow_before_mfa.clone(),
            skip_migration: args.skip_migration.clone(),
            kind: args.kind,
        };
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

/// The ids of the arguments given on the command line (not defaults), in any subcommand.
pub fn explicit_args(matches: &clap::ArgMatches) -> Vec<String> {
    let mut out: Vec<String> = matches
        .ids()
        .filter(|id| {
            matches.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
        })
        .map(|id| id.as_str().to_string())
        .collect();
    if let Some((_, sub)) = matches.subcommand() {
        out.extend(explicit_args(sub));
    }
    out
}

/// Find `forcemfa.toml` from `start` upwards, stopping at the repository root (a folder holding
/// `.git`, a folder or, in worktrees, a file).
pub fn discover(start: &Path) -> Option<PathBuf> {
    for dir in start.ancestors() {
        let candidate = dir.join(FILE_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        if dir.join(".git").exists() {
            return None;
        }
    }
    None
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |t| t.bytes().filter(|b| *b == b'\n').count() + 1)
}

fn parse_kind(text: &str, file: &str, v: &Spanned<String>) -> Result<Kind, Error> {
    Kind::from_str(v.get_ref(), true).map_err(|_| Error::Input {
        path: format!("{file}:{}", line_of(text, v.span().start)),
        message: format!(
            "kind {:?} is not one of managed, user, group, role",
            v.get_ref()
        ),
    })
}

/// Parse a config file's text. `file` is how errors name it.
fn parse(text: &str, file: &str) -> Result<FileSpec, Error> {
    toml::from_str::<FileSpec>(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        let message = e.message().trim().to_string();
        let message = if message.starts_with("unknown field") {
            let key = message.split('`').nth(1).unwrap_or_default().to_string();
            format!("unknown key `{key}`; the keys are: {KEYS}")
        } else {
            message
        };
        Error::Input {
            path: match line {
                Some(l) => format!("{file}:{l}"),
                None => file.to_string(),
            },
            message,
        }
    })
}

/// Load the config (from `--config`, else discovered from the working directory) and fold it into
/// the parsed command line: every option the command line did not give takes the file's value.
pub fn apply(cli: &mut Cli) -> Result<(), Error> {
    let path = match &cli.global.config {
        Some(p) => {
            if !p.is_file() {
                return Err(Error::Input {
                    path: p.display().to_string(),
                    message: "no such config file (--config)".into(),
                });
            }
            Some(p.clone())
        }
        None => std::env::current_dir().ok().and_then(|d| {
            // Named relative to the working directory when it is in it, as the operator sees it.
            discover(&d).map(|p| p.strip_prefix(&d).map(Path::to_path_buf).unwrap_or(p))
        }),
    };
    let (spec, text, name) = match &path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| Error::Input {
                path: p.display().to_string(),
                message: format!("cannot read the config file: {e}"),
            })?;
            let name = p.display().to_string();
            (parse(&text, &name)?, text, name)
        }
        None => (FileSpec::default(), String::new(), String::new()),
    };
    let explicit = cli.explicit.clone();
    let given = |id: &str| explicit.iter().any(|e| e == id);
    let at = |span: std::ops::Range<usize>| {
        Origin::File(format!("{name}:{}", line_of(&text, span.start)))
    };
    let file_kind = spec
        .kind
        .as_ref()
        .map(|k| parse_kind(&text, &name, k).map(|v| (v, at(k.span()))))
        .transpose()?;
    let mut paths = Vec::new();
    for p in &spec.paths {
        let here = format!("{name}:{}", line_of(&text, p.glob.span().start));
        let matcher = globset::GlobBuilder::new(p.glob.get_ref())
            .literal_separator(true)
            .build()
            .map_err(|e| Error::Input {
                path: here.clone(),
                message: format!("bad glob {:?}: {e}", p.glob.get_ref()),
            })?
            .compile_matcher();
        paths.push(PathOverride {
            glob: p.glob.get_ref().clone(),
            at: here,
            matcher,
            allow_before_mfa: p.allow_before_mfa.as_ref().map(|v| v.get_ref().clone()),
            skip_migration: p.skip_migration.as_ref().map(|v| v.get_ref().clone()),
            kind: p
                .kind
                .as_ref()
                .map(|k| parse_kind(&text, &name, k))
                .transpose()?,
        });
    }
    let base = path
        .as_ref()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .map(|d| {
            if d.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                d
            }
        })
        .map(|d| {
            if d.is_absolute() {
                d
            } else {
                std::env::current_dir().map(|c| c.join(&d)).unwrap_or(d)
            }
        });
    let mut resolved = Resolved {
        file: path.clone(),
        base,
        settings: Vec::new(),
        paths,
    };

    // Folds one option: the command line wins, then the file, then the default already parsed.
    macro_rules! fold {
        ($key:literal, $id:literal, $slot:expr, $file:expr, $to_json:expr) => {{
            let origin = if given($id) {
                Origin::CommandLine
            } else if let Some((v, origin)) = $file {
                $slot = v;
                origin
            } else {
                Origin::Default
            };
            resolved.settings.push(Setting {
                key: $key,
                value: $to_json(&$slot),
                origin,
            });
        }};
    }
    let list =
        |v: &Option<Spanned<Vec<String>>>| v.as_ref().map(|v| (v.get_ref().clone(), at(v.span())));
    let to_list = |v: &Vec<String>| json!(v);

    let rollback_session = match &mut cli.command {
        Command::Rollback { connect, .. } => Some(connect),
        _ => None,
    };
    if let Some(connect) = rollback_session {
        let session = spec.accounts.as_ref().and_then(|a| a.session_name.as_ref());
        fold!(
            "accounts.session-name",
            "session_name",
            connect.session_name,
            session.map(|s| (s.get_ref().clone(), at(s.span()))),
            |v: &String| json!(v)
        );
        cli.config = resolved;
        return Ok(());
    }
    let args = match &mut cli.command {
        Command::Scan { args, .. }
        | Command::Plan { args, .. }
        | Command::Apply { args, .. }
        | Command::Config { args } => args,
        _ => {
            cli.config = resolved;
            return Ok(());
        }
    };
    fold!(
        "allow-before-mfa",
        "allow_before_mfa",
        args.allow_before_mfa,
        list(&spec.allow_before_mfa),
        to_list
    );
    fold!(
        "skip-migration",
        "skip_migration",
        args.skip_migration,
        list(&spec.skip_migration),
        to_list
    );
    fold!("kind", "kind", args.kind, file_kind, |k: &Kind| json!(
        kind_name(*k)
    ));
    fold!(
        "recent-days",
        "recent_days",
        args.aws.impact.recent_days,
        spec.recent_days
            .as_ref()
            .map(|v| (i64::from(*v.get_ref()), at(v.span()))),
        |v: &i64| json!(v)
    );
    fold!(
        "include-iac-managed",
        "include_iac_managed",
        args.aws.include_iac_managed,
        spec.include_iac_managed
            .as_ref()
            .map(|v| (*v.get_ref(), at(v.span()))),
        |v: &bool| json!(v)
    );
    let accounts = spec.accounts.as_ref();
    fold!(
        "accounts.role-name",
        "role_name",
        args.batch.role_name,
        accounts
            .and_then(|a| a.role_name.as_ref())
            .map(|v| (v.get_ref().clone(), at(v.span()))),
        |v: &String| json!(v)
    );
    fold!(
        "accounts.session-name",
        "session_name",
        args.aws.connect.session_name,
        accounts
            .and_then(|a| a.session_name.as_ref())
            .map(|v| (v.get_ref().clone(), at(v.span()))),
        |v: &String| json!(v)
    );
    if let Some(c) = accounts.and_then(|a| a.concurrency.as_ref()) {
        if *c.get_ref() == 0 || *c.get_ref() > 256 {
            return Err(Error::Input {
                path: format!("{name}:{}", line_of(&text, c.span().start)),
                message: format!(
                    "accounts.concurrency {} is out of range: use 1 to 256",
                    c.get_ref()
                ),
            });
        }
    }
    fold!(
        "accounts.concurrency",
        "concurrency",
        args.batch.concurrency,
        accounts
            .and_then(|a| a.concurrency.as_ref())
            .map(|v| (*v.get_ref(), at(v.span()))),
        |v: &u16| json!(v)
    );
    args.config = resolved.clone();
    cli.config = resolved;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_name_file_line_and_key() {
        let text = "kind = \"user\"\n\n[accounts]\nrole-nam = \"x\"\n";
        let Err(Error::Input { path, message }) = parse(text, "f.toml") else {
            panic!("expected an error")
        };
        assert_eq!(path, "f.toml:4");
        assert!(message.contains("unknown key `role-nam`"), "{message}");
    }

    #[test]
    fn lines_are_counted_from_spans() {
        assert_eq!(line_of("a\nb\nc", 4), 3);
        assert_eq!(line_of("abc", 0), 1);
    }

    #[test]
    fn discovery_stops_at_the_repository_root() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let outer = dir.path();
        let repo = outer.join("repo");
        let deep = repo.join("a/b");
        std::fs::create_dir_all(&deep).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(outer.join(FILE_NAME), "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(discover(&deep), Some(outer.join(FILE_NAME)));
        std::fs::create_dir(repo.join(".git")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(discover(&deep), None);
        std::fs::write(repo.join("a").join(FILE_NAME), "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(discover(&deep), Some(repo.join("a").join(FILE_NAME)));
    }
}
