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
use serde::Deserialize;
use serde_json::{json, Value};
use toml::Spanned;

use crate::cli::resolved::{kind_name, Kind, Origin, PathOverride, Resolved, Setting, FILE_NAME};
use crate::cli::{Cli, Command, PlanArgs};
use crate::error::Error;

/// Every key of the file, for error messages.
const KEYS: &str = "allow-before-mfa, allow-risky-exemption, skip-migration, kind, recent-days, include-iac-managed, \
    [accounts] role-name, session-name, concurrency, [[paths]] glob, allow-before-mfa, skip-migration, kind";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileSpec {
    allow_before_mfa: Option<Spanned<Vec<String>>>,
    allow_risky_exemption: Option<Spanned<Vec<String>>>,
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
/// `.git`, a folder or, in worktrees, a file) or the home directory, whichever comes first.
/// Outside both, only `start` itself is looked in: a file in some parent folder (`/tmp`, say)
/// that nobody chose for this tree is never picked up.
pub fn discover(start: &Path) -> Option<PathBuf> {
    discover_within(start, dirs::home_dir().as_deref())
}

fn discover_within(start: &Path, home: Option<&Path>) -> Option<PathBuf> {
    let bounded = start
        .ancestors()
        .any(|d| d.join(".git").exists() || Some(d) == home);
    for dir in start.ancestors() {
        let candidate = dir.join(FILE_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        if !bounded || dir.join(".git").exists() || Some(dir) == home {
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
    // Listed only when given: reports made without it stay as they were.
    if !args.allow_risky_exemption.is_empty() || spec.allow_risky_exemption.is_some() {
        folder.fold(
            "allow-risky-exemption",
            "allow_risky_exemption",
            &mut args.allow_risky_exemption,
            list(&spec.allow_risky_exemption),
            |v| json!(v),
        );
    }
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
    if let Some(v) = &spec.recent_days {
        if i64::from(*v.get_ref()) > crate::cli::MAX_RECENT_DAYS {
            return Err(Error::Input {
                path: file.at(v.span()),
                message: format!(
                    "recent-days {} is out of range: use 0 to {}",
                    v.get_ref(),
                    crate::cli::MAX_RECENT_DAYS
                ),
            });
        }
    }
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
        // Under the home directory and without a repository: up to the home directory.
        assert_eq!(
            discover_within(&deep, Some(outer)),
            Some(outer.join(FILE_NAME))
        );
        // Neither a repository nor the home directory above: only the folder itself.
        assert_eq!(discover_within(&deep, None), None);
        assert_eq!(discover_within(outer, None), Some(outer.join(FILE_NAME)));
        std::fs::create_dir(repo.join(".git")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(discover_within(&deep, Some(outer)), None);
        std::fs::write(repo.join("a").join(FILE_NAME), "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            discover_within(&deep, Some(outer)),
            Some(repo.join("a").join(FILE_NAME))
        );
    }
}
