//! Writing changes back where they came from: a file (atomically, only if it still holds the
//! planned `before`), or an IAM policy of one account (journal first, then write, then read
//! back: [`crate::sources::aws`]). One [`Writer`] per part of a run, whatever the source.

use serde::Serialize;

use crate::engine::plan::{sha256, PlannedChange};
use crate::engine::target::TargetKind;
use crate::sources::aws::{AwsStore, Published, StoreError};
use crate::sources::files;
use crate::sources::journal::Journal;

/// What happened to one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Applied {
        detail: String,
    },
    AlreadyApplied,
    Stale {
        detail: String,
    },
    Failed {
        error: String,
    },
    /// Deliberately not applied: the operator said no or quit, or Ctrl-C came first.
    Declined,
    /// Deliberately not applied by a rule (IaC-managed without `--include-iac-managed`, an
    /// account not picked by the filters).
    Skipped {
        reason: String,
    },
    /// Not published: it cuts off access in use, or more than was reviewed (who is affected).
    HeldBack {
        reason: String,
    },
}

impl Outcome {
    /// The change was asked for and could not be carried out: the run must not exit 0.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed { .. } | Outcome::Stale { .. })
    }

    /// Held back by the impact gate: the run exits 4, like a blocked change.
    pub fn is_held_back(&self) -> bool {
        matches!(self, Outcome::HeldBack { .. })
    }
}

/// One change and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeResult {
    pub change: String,
    pub target: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl ChangeResult {
    pub fn new(c: &PlannedChange, outcome: Outcome) -> ChangeResult {
        ChangeResult {
            change: c.id.clone(),
            target: c.target.to_string(),
            outcome,
        }
    }
}

/// Where the changes of one part of a run are written.
pub enum Writer {
    /// Policy files on disk.
    Files,
    /// The IAM policies of one account.
    Account(Box<IamWriter>),
}

/// One account's IAM, with the journal every write is recorded in first.
pub struct IamWriter {
    pub store: AwsStore,
    pub journal: Journal,
    pub run_id: String,
    pub no_prune: bool,
}

impl Writer {
    /// Write one confirmed change.
    pub async fn publish(&mut self, c: &PlannedChange) -> Outcome {
        match (&c.target.kind, self) {
            (TargetKind::File { path }, Writer::Files) => write_file(path, c),
            // IaC: carried over to the template as it is now (see sources::iac).
            (TargetKind::Embedded { path, resource, .. }, Writer::Files) => {
                use crate::sources::iac::{write, Written};
                match write(path, resource, c) {
                    Ok(Written::Applied) => Outcome::Applied {
                        detail: "written".into(),
                    },
                    Ok(Written::AlreadyApplied) => Outcome::AlreadyApplied,
                    Ok(Written::Stale(detail)) => Outcome::Stale { detail },
                    Err(e) => Outcome::Failed {
                        error: e.to_string(),
                    },
                }
            }
            (TargetKind::File { .. } | TargetKind::Embedded { .. }, Writer::Account(_)) => Outcome::Failed {
                error: "a file target reached an account's writer (a bug in forcemfa: please report it)".into(),
            },
            (_, Writer::Files) => Outcome::Failed {
                error: "an AWS target, but no AWS account is connected".into(),
            },
            (_, Writer::Account(w)) => publish_iam(w, c).await,
        }
    }
}

fn write_file(path: &std::path::Path, c: &PlannedChange) -> Outcome {
    let current = match files::read(path) {
        Ok(t) => t,
        Err(e) => {
            return Outcome::Failed {
                error: e.to_string(),
            }
        }
    };
    if current == c.after {
        return Outcome::AlreadyApplied;
    }
    if sha256(&current) != c.before_sha256 {
        return Outcome::Stale {
            detail: format!(
                "{} changed since the plan was made; nothing written: plan again",
                path.display()
            ),
        };
    }
    match files::write_atomic(path, &current, &c.after) {
        Ok(()) => Outcome::Applied {
            detail: "written".into(),
        },
        Err(files::FileError::Stale { .. }) => Outcome::Stale {
            detail: format!(
                "{} changed while being applied; nothing written",
                path.display()
            ),
        },
        Err(e) => Outcome::Failed {
            error: e.to_string(),
        },
    }
}

async fn publish_iam(w: &mut IamWriter, c: &PlannedChange) -> Outcome {
    let IamWriter {
        store,
        journal,
        run_id,
        no_prune,
    } = w;
    if c.target.account.as_deref() != Some(store.account_id()) {
        return Outcome::Failed {
            error: format!(
                "planned for account {}, but the credentials reach account {}; nothing written",
                c.target.account.as_deref().unwrap_or("?"),
                store.account_id()
            ),
        };
    }
    // Stale means "changed under you": a new default version with the same content is refused too.
    match store
        .publish_planned(
            &c.target,
            c.version_id.as_deref(),
            &c.before,
            &c.after,
            journal,
            run_id,
            *no_prune,
        )
        .await
    {
        Ok(Published::Applied {
            change_id,
            version_id,
            pruned_version_id,
            after_lost_response,
        }) => {
            let mut detail = format!("journal change {change_id}");
            if let Some(v) = version_id {
                detail.push_str(&format!("; new default version {v}"));
            }
            if let Some(p) = pruned_version_id {
                detail.push_str(&format!(
                    "; pruned version {p} (its document is in the journal)"
                ));
            }
            if after_lost_response {
                detail.push_str("; the response was lost but the write had landed (not repeated)");
            }
            Outcome::Applied { detail }
        }
        Ok(Published::AlreadyApplied { .. }) => Outcome::AlreadyApplied,
        Err(StoreError::Stale { detail, .. }) => Outcome::Stale { detail },
        Err(e) => Outcome::Failed {
            error: e.to_string(),
        },
    }
}
