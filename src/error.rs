//! Errors that end a command, each with what to do next. Per-policy problems are not errors
//! here: they are reported in the results and only change the exit code.

/// Documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success, or nothing to change.
    Ok = 0,
    /// An error (including any policy or account that failed).
    Error = 1,
    /// Changes pending (`--detailed-exitcode` on scan/plan).
    Pending = 2,
    /// A change was blocked by verification, refused (a saved plan's change that is not what
    /// forcemfa derives), or held back by the impact gate.
    Blocked = 4,
    /// A staged rollout stopped on a refused call its change caused (or one that could not be
    /// told from such a call): the wave was rolled back, or left published with
    /// `--on-denial stop`; later waves were not started.
    Denied = 5,
    /// Interrupted (Ctrl-C).
    Interrupted = 130,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no SOURCE given: name policy JSON files or folders, e.g. `forcemfa plan docs/examples`"
    )]
    NoSources,
    #[error("`apply` asks before each change and needs a terminal; re-run with --yes to apply without prompts (review first with `forcemfa plan`)")]
    NeedsTerminal,
    #[error("the embedded migrations are invalid (a build problem): {0}")]
    Migrations(#[from] crate::engine::migration::LoadError),
    #[error(transparent)]
    BadOption(#[from] crate::engine::migration::BadOption),
    #[error(transparent)]
    BadSkip(#[from] crate::engine::migration::BadSkip),
    #[error(transparent)]
    RiskyExemption(#[from] crate::engine::migration::RiskyExemption),
    #[error("unknown migration {0:?}; `forcemfa migrations list` shows the ids")]
    UnknownMigration(String),
    #[error("--format sarif is only for `scan`")]
    SarifOnlyForScan,
    #[error("{path}: {message}")]
    Input { path: String, message: String },
    #[error(transparent)]
    Store(#[from] crate::sources::aws::StoreError),
    #[error("journal: {0}")]
    Journal(#[from] crate::sources::journal::JournalError),
    #[error("cannot start the async runtime: {source}")]
    Runtime {
        #[source]
        source: std::io::Error,
    },
    #[error("--mfa-serial needs a code: pass --mfa-code, or run in a terminal to be asked for it")]
    MfaCodeNeeded,
    #[error("cannot serialise {what}: {source} (a bug in forcemfa: please report it); nothing was written")]
    Serialize {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
