//! The write-ahead journal of publishes: append-only JSON lines, one record per step.
//!
//! Every write to IAM is preceded by a `pending` record holding the document before and after,
//! and followed by its outcome (`applied`, `failed`). A crash between the two leaves a pending
//! record: the live state then tells which side of the write we are on, and `rollback` re-reads
//! it before acting. Each record is flushed to disk (`sync_all`) before the write it describes,
//! so the journal never lags behind IAM.
//!
//! The record format (sealed with a digest, torn lines skipped wherever they are) is pure and
//! lives in `forcemfa_formats::journal`; this module re-exports it and does the file I/O.

pub use forcemfa_formats::journal::{rollback_plan, Action, JournalEntry, Outcome};
pub use forcemfa_formats::rollout::RolloutRecord;

use forcemfa_formats::journal::{self as format, BadLine};
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
    #[error("journal {path}:{line} is not a journal record ({message}); repair or remove that line by hand")]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: Box<str>,
    },
    #[error("journal {path}:{line} is refused: {message}; restore the journal from a copy you trust, or remove that record by hand to use the rest")]
    Tampered {
        path: PathBuf,
        line: usize,
        message: Box<str>,
    },
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
    /// Lines found torn when the journal was opened (crashes mid-append), to warn about.
    torn: Vec<usize>,
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
        let mut existing = String::new();
        file.read_to_string(&mut existing).map_err(open_err)?;
        let mut journal = Journal {
            path: path.clone(),
            file: file.try_clone().map_err(open_err)?,
            torn: format::parse(&existing).torn(),
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

    /// Lines that were torn (cut short by a crash) when the journal was opened. They are
    /// skipped when reading; callers warn about them.
    pub fn torn_lines(&self) -> &[usize] {
        &self.torn
    }

    /// The warning to show for torn lines, if any.
    pub fn torn_warning(&self) -> Option<String> {
        torn_warning(&self.path, &self.torn)
    }

    /// Append one record (stamped with the current time if it has none, sealed with its digest)
    /// and flush it to disk before returning.
    pub fn append(&mut self, entry: &JournalEntry) -> Result<(), JournalError> {
        let stamped;
        let entry = if entry.time.is_empty() {
            stamped = JournalEntry {
                time: now_rfc3339(),
                ..entry.clone()
            };
            &stamped
        } else {
            entry
        };
        let line = format::encode(entry).map_err(|e| JournalError::Write {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        self.write_raw(&line)
    }

    /// Append one rollout record (stamped with the current time if it has none, sealed) and
    /// flush it to disk before returning.
    pub fn append_rollout(&mut self, record: &RolloutRecord) -> Result<(), JournalError> {
        let mut record = record.clone();
        if record.time.is_empty() {
            record.time = now_rfc3339();
        }
        let line = format::encode_rollout(&record).map_err(|e| JournalError::Write {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
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

/// The records of a journal file, and the torn lines that were skipped.
#[derive(Debug, Clone, Default)]
pub struct JournalContents {
    pub entries: Vec<JournalEntry>,
    /// The records of staged rollouts, in file order.
    pub rollouts: Vec<RolloutRecord>,
    /// The line number of the last torn line, if any (kept for callers that warn about one).
    pub torn_last_line: Option<usize>,
    /// Every torn line (a crash mid-append), wherever it is; each was skipped.
    pub torn_lines: Vec<usize>,
}

/// The warning for torn lines of a journal, if there are any.
pub fn torn_warning(path: &Path, torn: &[usize]) -> Option<String> {
    if torn.is_empty() {
        return None;
    }
    let lines: Vec<String> = torn.iter().map(usize::to_string).collect();
    Some(format!(
        "warning: {}: line{} {} {} incomplete (a write interrupted by a crash) and {} skipped; such a record was never acted on",
        crate::engine::escape::escape(&path.display().to_string()),
        if torn.len() == 1 { "" } else { "s" },
        lines.join(", "),
        if torn.len() == 1 { "is" } else { "are" },
        if torn.len() == 1 { "was" } else { "were" },
    ))
}

/// Read every record. Torn lines (anywhere) are skipped and listed; a line that is complete but
/// not a record, or a record whose digest does not match, is an error naming its line.
pub fn read_entries(path: impl AsRef<Path>) -> Result<JournalContents, JournalError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| JournalError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let parsed = format::parse(&text);
    for bad in &parsed.bad {
        match bad {
            BadLine::Torn { .. } => {}
            BadLine::Corrupt { line, message } => {
                return Err(JournalError::Corrupt {
                    path: path.to_path_buf(),
                    line: *line,
                    message: message.as_str().into(),
                })
            }
            BadLine::Tampered { line, message } => {
                return Err(JournalError::Tampered {
                    path: path.to_path_buf(),
                    line: *line,
                    message: message.as_str().into(),
                })
            }
        }
    }
    let torn_lines = parsed.torn();
    Ok(JournalContents {
        entries: parsed.entries.into_iter().map(|(_, e)| e).collect(),
        rollouts: parsed.rollouts.into_iter().map(|(_, r)| r).collect(),
        torn_last_line: torn_lines.last().copied(),
        torn_lines,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::engine::target::{Target, TargetKind};

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
        assert!(!read.entries[0].time.is_empty(), "append stamps the time");
        assert_eq!(
            JournalEntry {
                time: String::new(),
                ..read.entries[0].clone()
            },
            e
        );
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
        // The torn line is now in the middle: still skipped (records are self-delimiting),
        // still reported, and the records after it are read.
        let read = read_entries(&path).unwrap();
        let ids: Vec<&str> = read.entries.iter().map(|e| e.change_id.as_str()).collect();
        assert_eq!(ids, ["c1", "c2"]);
        assert_eq!(read.torn_lines, [2]);
        let reopened = Journal::open(&path).unwrap();
        assert_eq!(reopened.torn_lines(), [2]);
        assert!(reopened
            .torn_warning()
            .is_some_and(|w| w.contains("line 2 is incomplete")));
    }

    #[test]
    fn an_edited_record_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut j = Journal::open(&path).unwrap();
        j.append(&entry("c1", Action::Publish, Outcome::Applied))
            .unwrap();
        drop(j);
        let text = std::fs::read_to_string(&path).unwrap();
        let edited = text.replace("\"before\":\"{}\"", "\"before\":\"{\\\"Allow\\\":1}\"");
        assert_ne!(text, edited);
        std::fs::write(&path, edited).unwrap();
        match read_entries(&path) {
            Err(JournalError::Tampered { line: 1, .. }) => {}
            other => panic!("expected line 1 refused, got {other:?}"),
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
