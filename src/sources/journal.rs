//! The write-ahead journal of publishes: append-only JSON lines, one record per step.
//!
//! Every write to IAM is preceded by a `pending` record holding the document before and after,
//! and followed by its outcome (`applied`, `failed`). A crash between the two leaves a pending
//! record: the live state then tells which side of the write we are on, and `rollback` re-reads
//! it before acting. Each record is flushed to disk (`sync_all`) before the write it describes,
//! so the journal never lags behind IAM.

use crate::engine::target::Target;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Why the journal could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open journal {path}: {source}; check that its folder is writable or pass another journal path")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write journal {path}: {source}; nothing was changed in IAM for this step, free disk space or fix permissions and rerun")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read journal {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("journal {path}:{line} is not a journal record ({message}); only a torn last line is tolerated, repair or remove that line by hand")]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// What a journal record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// A new default version of a managed policy, or a new inline document.
    Publish,
    /// Deleting the oldest non-default version of a managed policy to make room for a new one.
    Prune,
    /// Restoring the `before` of an earlier publish.
    Rollback,
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Written to the journal, about to be written to IAM.
    Pending,
    /// IAM has it.
    Applied,
    /// IAM refused it, or it could not be confirmed; `error` says why.
    Failed,
    /// The live document already was the intended one: nothing written.
    AlreadyApplied,
}

/// One journal line. Self-describing: it holds everything needed to undo the step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// RFC 3339, UTC.
    pub time: String,
    pub run_id: String,
    /// Ties the records of one change together (pending, then its outcome) and names it for
    /// `rollback --change ID`.
    pub change_id: String,
    pub account: String,
    pub target: Target,
    pub action: Action,
    pub outcome: Outcome,
    /// The document before the step (for a prune: the deleted version's document).
    #[serde(default)]
    pub before: Option<String>,
    /// The document the step writes.
    #[serde(default)]
    pub after: Option<String>,
    /// Managed policies: the default version before the step (for a prune: the deleted version).
    #[serde(default)]
    pub before_version_id: Option<String>,
    /// Managed policies: the version the step created or made default.
    #[serde(default)]
    pub after_version_id: Option<String>,
    /// Managed policies: the default version before the step, which rollback makes default again.
    #[serde(default)]
    pub previous_default_version_id: Option<String>,
    /// For a rollback: the change id it undoes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolls_back: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    /// How the account was reached (never secrets), so that `rollback` reaches it again the
    /// same way without being told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reached: Option<crate::engine::reach::Route>,
}

impl JournalEntry {
    /// A record stamped with the current time; fill in the rest with struct update syntax.
    pub fn new(
        run_id: &str,
        change_id: &str,
        target: &Target,
        action: Action,
        outcome: Outcome,
    ) -> JournalEntry {
        JournalEntry {
            time: now_rfc3339(),
            run_id: run_id.to_string(),
            change_id: change_id.to_string(),
            account: target.account.clone().unwrap_or_default(),
            target: target.clone(),
            action,
            outcome,
            before: None,
            after: None,
            before_version_id: None,
            after_version_id: None,
            previous_default_version_id: None,
            rolls_back: None,
            error: None,
            reached: None,
        }
    }

    /// The same step with another outcome, restamped.
    pub fn with_outcome(&self, outcome: Outcome) -> JournalEntry {
        JournalEntry {
            time: now_rfc3339(),
            outcome,
            ..self.clone()
        }
    }
}

/// The current time in RFC 3339 (UTC).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A fresh change id: the run id plus a random suffix, unique within the journal in practice.
pub fn new_change_id(run_id: &str) -> String {
    format!("{run_id}-{:08x}", rand::random::<u32>())
}

/// A fresh run id: UTC timestamp plus a random suffix, sortable by start time.
pub fn new_run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{:04x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        rand::random::<u16>()
    )
}

/// An open journal, appended to one fsync'd line at a time.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// `$XDG_STATE_HOME/forcemfa/journal.jsonl` (`~/.local/state/...` when unset).
    pub fn default_path() -> PathBuf {
        let base = dirs::state_dir()
            .or_else(|| dirs::home_dir().map(|h| h.join(".local").join("state")))
            .unwrap_or_else(|| PathBuf::from("."));
        base.join("forcemfa").join("journal.jsonl")
    }

    /// Open (or create) a journal for appending. Parent folders are created; a new file is
    /// readable by its owner only (it holds policy documents).
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        let path = path.as_ref().to_path_buf();
        let open_err = |source| JournalError::Open {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(open_err)?;
        }
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(open_err)?;
        let mut journal = Journal {
            path: path.clone(),
            file: file.try_clone().map_err(open_err)?,
        };
        // A torn last line (crash mid-write) must not swallow the next record: start on a
        // fresh line.
        let len = file.metadata().map_err(open_err)?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1)).map_err(open_err)?;
            file.read_exact(&mut last).map_err(open_err)?;
            if last[0] != b'\n' {
                journal.write_raw(b"\n")?;
            }
        }
        Ok(journal)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one record and flush it to disk before returning.
    pub fn append(&mut self, entry: &JournalEntry) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(entry).map_err(|e| JournalError::Write {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        self.write_raw(&line)
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<(), JournalError> {
        let write_err = |source| JournalError::Write {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(bytes).map_err(write_err)?;
        self.file.sync_all().map_err(write_err)
    }
}

/// The records of a journal file, and whether its last line was torn.
#[derive(Debug, Clone, Default)]
pub struct JournalContents {
    pub entries: Vec<JournalEntry>,
    /// The line number of an unreadable last line (a crash mid-append); it was skipped.
    pub torn_last_line: Option<usize>,
}

/// Read every record. An unreadable last line is skipped and reported in `torn_last_line`; an
/// unreadable line elsewhere is an error, since silently skipping it could hide a change.
pub fn read_entries(path: impl AsRef<Path>) -> Result<JournalContents, JournalError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| JournalError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let mut out = JournalContents::default();
    let count = lines.len();
    for (index, (number, line)) in lines.into_iter().enumerate() {
        match serde_json::from_str::<JournalEntry>(line) {
            Ok(entry) => out.entries.push(entry),
            Err(_) if index + 1 == count => out.torn_last_line = Some(number),
            Err(e) => {
                return Err(JournalError::Corrupt {
                    path: path.to_path_buf(),
                    line: number,
                    message: e.to_string(),
                })
            }
        }
    }
    Ok(out)
}

/// The publishes to undo, latest first: every publish whose last record is `applied` (or still
/// `pending`: a crash mid-write may have landed it; rollback re-reads the live document and
/// does nothing if the write never happened), that no applied rollback undoes yet. With
/// `change_id`, only that change.
pub fn rollback_plan(entries: &[JournalEntry], change_id: Option<&str>) -> Vec<JournalEntry> {
    let rolled_back: std::collections::HashSet<&str> = entries
        .iter()
        .filter(|e| {
            e.action == Action::Rollback
                && matches!(e.outcome, Outcome::Applied | Outcome::AlreadyApplied)
        })
        .filter_map(|e| e.rolls_back.as_deref())
        .collect();
    // The last record of each publish decides its state.
    let mut last: Vec<&JournalEntry> = Vec::new();
    for entry in entries.iter().filter(|e| e.action == Action::Publish) {
        match last.iter_mut().find(|l| l.change_id == entry.change_id) {
            Some(slot) => *slot = entry,
            None => last.push(entry),
        }
    }
    let mut plan: Vec<JournalEntry> = last
        .into_iter()
        .filter(|e| matches!(e.outcome, Outcome::Applied | Outcome::Pending))
        .filter(|e| e.before.is_some())
        .filter(|e| !rolled_back.contains(e.change_id.as_str()))
        .filter(|e| change_id.is_none_or(|id| e.change_id == id))
        .cloned()
        .collect();
    plan.reverse();
    plan
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::engine::target::TargetKind;

    fn target() -> Target {
        Target {
            account: Some("123456789012".into()),
            kind: TargetKind::Managed {
                arn: "arn:aws:iam::123456789012:policy/ForceMFA".into(),
                name: "ForceMFA".into(),
            },
        }
    }

    fn entry(change: &str, action: Action, outcome: Outcome) -> JournalEntry {
        JournalEntry {
            before: Some("{}".into()),
            ..JournalEntry::new("run", change, &target(), action, outcome)
        }
    }

    #[test]
    fn append_then_read_round_trips_and_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/journal.jsonl");
        let mut j = Journal::open(&path).unwrap();
        let e = entry("c1", Action::Publish, Outcome::Pending);
        j.append(&e).unwrap();
        j.append(&e.with_outcome(Outcome::Applied)).unwrap();
        let read = read_entries(&path).unwrap();
        assert_eq!(read.entries.len(), 2);
        assert_eq!(read.entries[0], e);
        assert_eq!(read.torn_last_line, None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn torn_last_line_is_skipped_and_next_append_starts_a_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut j = Journal::open(&path).unwrap();
        j.append(&entry("c1", Action::Publish, Outcome::Applied))
            .unwrap();
        drop(j);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"time\":\"2026-").unwrap();
        drop(f);
        let read = read_entries(&path).unwrap();
        assert_eq!(read.entries.len(), 1);
        assert_eq!(read.torn_last_line, Some(2));
        let mut j = Journal::open(&path).unwrap();
        j.append(&entry("c2", Action::Publish, Outcome::Applied))
            .unwrap();
        // The torn line is now in the middle: that is corruption, reported with its line.
        match read_entries(&path) {
            Err(JournalError::Corrupt { line: 2, .. }) => {}
            other => panic!("expected corrupt line 2, got {other:?}"),
        }
    }

    #[test]
    fn rollback_plan_lists_applied_publishes_latest_first_not_yet_rolled_back() {
        let mut rb = entry("r1", Action::Rollback, Outcome::Applied);
        rb.rolls_back = Some("c1".into());
        let entries = vec![
            entry("c1", Action::Publish, Outcome::Pending),
            entry("c1", Action::Publish, Outcome::Applied),
            entry("c2", Action::Publish, Outcome::Pending),
            entry("c2", Action::Publish, Outcome::Applied),
            entry("c3", Action::Publish, Outcome::Pending),
            entry("c3", Action::Publish, Outcome::Failed),
            entry("c4", Action::Publish, Outcome::AlreadyApplied),
            entry("c5", Action::Prune, Outcome::Applied),
            entry("c6", Action::Publish, Outcome::Pending),
            entry("c6", Action::Publish, Outcome::Applied),
            rb,
        ];
        let ids: Vec<String> = rollback_plan(&entries, None)
            .into_iter()
            .map(|e| e.change_id)
            .collect();
        assert_eq!(ids, ["c6", "c2"]);
        let only: Vec<String> = rollback_plan(&entries, Some("c2"))
            .into_iter()
            .map(|e| e.change_id)
            .collect();
        assert_eq!(only, ["c2"]);
        assert!(rollback_plan(&entries, Some("c1")).is_empty());
    }
}
