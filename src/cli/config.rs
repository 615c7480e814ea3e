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

/// The config file of this run: `--config FILE`, else the one discovered from the working
/// directory (named relative to it when it is in it, as the operator sees it).
fn locate(given: Option<&PathBuf>) -> Result<Option<PathBuf>, Error> {
    match given {
        Some(p) => {
            if !p.is_file() {
                return Err(Error::Input {
                    path: p.display().to_string(),
                    message: "no such config file (--config)".into(),
                });
            }
            Ok(Some(p.clone()))
        }
        None => Ok(std::env::current_dir().ok().and_then(|d| {
            discover(&d).map(|p| p.strip_prefix(&d).map(Path::to_path_buf).unwrap_or(p))
        })),
    }
}

/// A config file read and parsed, with its text and name for `FILE:LINE` origins.
#[derive(Default)]
struct Loaded {
    spec: FileSpec,
    text: String,
    name: String,
}

impl Loaded {
    fn read(path: Option<&PathBuf>) -> Result<Loaded, Error> {
        let Some(p) = path else {
            return Ok(Loaded::default());
        };
        let text = std::fs::read_to_string(p).map_err(|e| Error::Input {
            path: p.display().to_string(),
            message: format!("cannot read the config file: {e}"),
        })?;
        let name = p.display().to_string();
        Ok(Loaded {
            spec: parse(&text, &name)?,
            text,
            name,
        })
    }

    /// `FILE:LINE` of a span.
    fn at(&self, span: std::ops::Range<usize>) -> String {
        format!("{}:{}", self.name, line_of(&self.text, span.start))
    }

    /// A value of the file with its origin.
    fn value<T: Clone>(&self, v: &Spanned<T>) -> (T, Origin) {
        (v.get_ref().clone(), Origin::File(self.at(v.span())))
    }

    /// The `[[paths]]` tables, with their globs compiled.
    fn paths(&self) -> Result<Vec<PathOverride>, Error> {
        let mut paths = Vec::new();
        for p in &self.spec.paths {
            let here = self.at(p.glob.span());
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
                    .map(|k| parse_kind(&self.text, &self.name, k))
                    .transpose()?,
            });
        }
        Ok(paths)
    }
}

/// The folder `[[paths]]` globs are relative to: the config file's, made absolute.
fn base_of(path: Option<&PathBuf>) -> Option<PathBuf> {
    let d = path?.parent()?.to_path_buf();
    let d = if d.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        d
    };
    Some(if d.is_absolute() {
        d
    } else {
        std::env::current_dir().map(|c| c.join(&d)).unwrap_or(d)
    })
}

/// Folds options into the parsed command line, recording each one's origin: the command line
/// wins, then the file, then the default clap already filled in.
struct Folder<'a> {
    explicit: &'a [String],
    settings: Vec<Setting>,
}

impl Folder<'_> {
    fn fold<T>(
        &mut self,
        key: &'static str,
        id: &str,
        slot: &mut T,
        file: Option<(T, Origin)>,
        to_json: impl Fn(&T) -> Value,
    ) {
        let origin = if self.explicit.iter().any(|e| e == id) {
            Origin::CommandLine
        } else if let Some((v, origin)) = file {
            *slot = v;
            origin
        } else {
            Origin::Default
        };
        self.settings.push(Setting {
            key,
            value: to_json(slot),
            origin,
        });
    }
}

/// Load the config (from `--config`, else discovered from the working directory) and fold it into
/// the parsed command line: every option the command line did not give takes the file's value.
pub fn apply(cli: &mut Cli) -> Result<(), Error> {
    let path = locate(cli.global.config.as_ref())?;
    let file = Loaded::read(path.as_ref())?;
    let explicit = cli.explicit.clone();
    let mut folder = Folder {
        explicit: &explicit,
        settings: Vec::new(),
    };
    // Checked whatever the command, so that a bad file is found by any of them.
    let file_kind = file
        .spec
        .kind
        .as_ref()
        .map(|k| {
            parse_kind(&file.text, &file.name, k).map(|v| (v, Origin::File(file.at(k.span()))))
        })
        .transpose()?;
    let paths = file.paths()?;
    match &mut cli.command {
        Command::Rollback { connect, .. } => {
            let session = file
                .spec
                .accounts
                .as_ref()
                .and_then(|a| a.session_name.as_ref());
            folder.fold(
                "accounts.session-name",
                "session_name",
                &mut connect.session_name,
                session.map(|s| file.value(s)),
                |v| json!(v),
            );
        }
        Command::Scan { args, .. }
        | Command::Plan { args, .. }
        | Command::Apply { args, .. }
        | Command::Config { args } => fold_plan_args(&mut folder, &file, file_kind, args)?,
        _ => {}
    }
    let resolved = Resolved {
        file: path.clone(),
        base: base_of(path.as_ref()),
        settings: folder.settings,
        paths,
    };
    if let Command::Scan { args, .. }
    | Command::Plan { args, .. }
    | Command::Apply { args, .. }
    | Command::Config { args } = &mut cli.command
    {
        args.config = resolved.clone();
    }
    cli.config = resolved;
    Ok(())
}

/// The options of scan, plan, apply and config, folded in the order `forcemfa config` lists them.
fn fold_plan_args(
    folder: &mut Folder,
    file: &Loaded,
    file_kind: Option<(Kind, Origin)>,
    args: &mut PlanArgs,
) -> Result<(), Error> {
    let spec = &file.spec;
    let list = |v: &Option<Spanned<Vec<String>>>| v.as_ref().map(|v| file.value(v));
    folder.fold(
        "allow-before-mfa",
        "allow_before_mfa",
        &mut args.allow_before_mfa,
        list(&spec.allow_before_mfa),
        |v| json!(v),
    );
    folder.fold(
        "skip-migration",
        "skip_migration",
        &mut args.skip_migration,
        list(&spec.skip_migration),
        |v| json!(v),
    );
    folder.fold("kind", "kind", &mut args.kind, file_kind, |k| {
        json!(kind_name(*k))
    });
    folder.fold(
        "recent-days",
        "recent_days",
        &mut args.aws.impact.recent_days,
        spec.recent_days.as_ref().map(|v| {
            let (days, origin) = file.value(v);
            (i64::from(days), origin)
        }),
        |v| json!(v),
    );
    folder.fold(
        "include-iac-managed",
        "include_iac_managed",
        &mut args.aws.include_iac_managed,
        spec.include_iac_managed.as_ref().map(|v| file.value(v)),
        |v| json!(v),
    );
    let accounts = spec.accounts.as_ref();
    folder.fold(
        "accounts.role-name",
        "role_name",
        &mut args.batch.role_name,
        accounts
            .and_then(|a| a.role_name.as_ref())
            .map(|v| file.value(v)),
        |v| json!(v),
    );
    folder.fold(
        "accounts.session-name",
        "session_name",
        &mut args.aws.connect.session_name,
        accounts
            .and_then(|a| a.session_name.as_ref())
            .map(|v| file.value(v)),
        |v| json!(v),
    );
    if let Some(c) = accounts.and_then(|a| a.concurrency.as_ref()) {
        if *c.get_ref() == 0 || *c.get_ref() > 256 {
            return Err(Error::Input {
                path: file.at(c.span()),
                message: format!(
                    "accounts.concurrency {} is out of range: use 1 to 256",
                    c.get_ref()
                ),
            });
        }
    }
    folder.fold(
        "accounts.concurrency",
        "concurrency",
        &mut args.batch.concurrency,
        accounts
            .and_then(|a| a.concurrency.as_ref())
            .map(|v| file.value(v)),
        |v| json!(v),
    );
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
