//! The journal's record format: one JSON object per line, each sealed with a SHA-256 digest of
//! its content. The digest catches a record changed by accident (a slip in an editor, a bad
//! merge, a truncated copy): such a record is refused rather than used. It is not a signature:
//! whoever can write the file can recompute it, so it does not stop a deliberate forgery, and
//! `rollback` trusts a record's documents only as far as it can check them against IAM (see
//! `forcemfa_engine::restore`).
//!
//! Records are self-delimiting (one line each, newline-terminated). A line cut short by a crash
//! (a syntax error at its end) is a **torn** line: it is skipped with a warning wherever it is,
//! because the record it began was flushed before IAM was asked anything, so a torn record never
//! describes a write that happened. A line that is complete JSON but not a record, or whose
//! digest does not match, is corruption and is reported as such.

use forcemfa_engine::target::Target;

use crate::rollout::RolloutRecord;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    /// RFC 3339, UTC. Empty until the journal stamps it when appending.
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
    pub reached: Option<forcemfa_engine::reach::Route>,
}

impl JournalEntry {
    /// A record of one step; the journal stamps its time when appending it. Fill in the rest
    /// with struct update syntax.
    pub fn new(
        run_id: &str,
        change_id: &str,
        target: &Target,
        action: Action,
        outcome: Outcome,
    ) -> JournalEntry {
        JournalEntry {
            time: String::new(),
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

    /// The same step with another outcome (stamped afresh when appended).
    pub fn with_outcome(&self, outcome: Outcome) -> JournalEntry {
        JournalEntry {
            time: String::new(),
            outcome,
            ..self.clone()
        }
    }

    /// The digest that seals this record: SHA-256 of its compact JSON.
    pub fn digest(&self) -> Result<String, serde_json::Error> {
        digest_of(self)
    }
}

/// A record as written: its fields and, last, the digest of them.
#[derive(Serialize, Deserialize)]
struct Sealed<E> {
    #[serde(flatten)]
    entry: E,
    #[serde(default)]
    sha256: Option<String>,
}

/// One line of the journal for `entry`, newline included.
pub fn encode(entry: &JournalEntry) -> Result<Vec<u8>, serde_json::Error> {
    seal(entry)
}

/// One line of the journal for a rollout record, newline included.
pub fn encode_rollout(record: &RolloutRecord) -> Result<Vec<u8>, serde_json::Error> {
    seal(record)
}

/// The SHA-256 of a record's compact JSON.
fn digest_of<E: Serialize>(entry: &E) -> Result<String, serde_json::Error> {
    Ok(hex::encode(Sha256::digest(serde_json::to_vec(entry)?)))
}

fn seal<E: Serialize>(entry: &E) -> Result<Vec<u8>, serde_json::Error> {
    let mut line = serde_json::to_vec(&Sealed {
        entry,
        sha256: Some(digest_of(entry)?),
    })?;
    line.push(b'\n');
    Ok(line)
}

/// A line that is not a usable record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadLine {
    /// Cut short (a crash mid-append): skipped.
    Torn { line: usize },
    /// Complete, but not a journal record.
    Corrupt { line: usize, message: String },
    /// A record whose digest does not match its content (changed since it was written), or that
    /// has none. A record changed and resealed is not caught here.
    Tampered { line: usize, message: String },
}

/// The records of a journal text, and the lines that were not usable.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// `(line number, record)`, in file order.
    pub entries: Vec<(usize, JournalEntry)>,
    /// The records of staged rollouts (`apply --waves`), in file order.
    pub rollouts: Vec<(usize, RolloutRecord)>,
    pub bad: Vec<BadLine>,
}

impl Parsed {
    /// Line numbers of torn lines.
    pub fn torn(&self) -> Vec<usize> {
        self.bad
            .iter()
            .filter_map(|b| match b {
                BadLine::Torn { line } => Some(*line),
                _ => None,
            })
            .collect()
    }
}

/// Read every line of a journal text. Never fails: each unusable line is classified instead.
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    for (index, line) in text.split('\n').enumerate() {
        let number = index + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(Line::Entry(entry)) => out.entries.push((number, *entry)),
            Ok(Line::Rollout(record)) => out.rollouts.push((number, *record)),
            Err(bad) => out.bad.push(bad(number)),
        }
    }
    out
}

type Classify = Box<dyn FnOnce(usize) -> BadLine>;

/// A usable line: a publish (or prune, or rollback) record, or a rollout record.
enum Line {
    Entry(Box<JournalEntry>),
    Rollout(Box<RolloutRecord>),
}

fn parse_line(line: &str) -> Result<Line, Classify> {
    let value: serde_json::Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) if e.is_eof() => return Err(Box::new(|line| BadLine::Torn { line })),
        Err(e) => {
            let message = e.to_string();
            return Err(Box::new(move |line| BadLine::Corrupt { line, message }));
        }
    };
    if value.get("record").and_then(|r| r.as_str()) == Some("rollout") {
        let record: RolloutRecord = unseal(value)?;
        return Ok(Line::Rollout(Box::new(record)));
    }
    unseal(value).map(|e| Line::Entry(Box::new(e)))
}

/// A sealed record of type `E`, if its digest matches its content.
fn unseal<E: Serialize + serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<E, Classify> {
    let sealed: Sealed<E> = serde_json::from_value(value).map_err(|e| {
        let message = format!("not a journal record: {e}");
        Box::new(move |line| BadLine::Corrupt { line, message }) as Classify
    })?;
    let actual = digest_of(&sealed.entry).map_err(|e| {
        let message = e.to_string();
        Box::new(move |line| BadLine::Corrupt { line, message }) as Classify
    })?;
    match sealed.sha256 {
        Some(d) if d == actual => Ok(sealed.entry),
        Some(_) => Err(Box::new(|line| {
            BadLine::Tampered {
            line,
            message: "its content does not match its digest (changed after it was written; the digest catches accidents, it is no signature)".into(),
        }
        })),
        None => Err(Box::new(|line| BadLine::Tampered {
            line,
            message: "it carries no digest (written by hand or by another tool)".into(),
        })),
    }
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
    use forcemfa_engine::target::TargetKind;

    fn entry(change: &str) -> JournalEntry {
        let target = Target {
            account: Some("123456789012".into()),
            kind: TargetKind::Managed {
                arn: "arn:aws:iam::123456789012:policy/P".into(),
                name: "P".into(),
            },
        };
        JournalEntry {
            time: "2026-11-30T00:00:00Z".into(),
            before: Some("{}".into()),
            ..JournalEntry::new("run", change, &target, Action::Publish, Outcome::Applied)
        }
    }

    fn line(e: &JournalEntry) -> String {
        String::from_utf8(encode(e).unwrap()).unwrap()
    }

    #[test]
    fn torn_lines_anywhere_are_skipped_and_named() {
        let a = line(&entry("a"));
        let b = line(&entry("b"));
        let text = format!("{a}{}\n{b}{}", &a[..a.len() / 2], &b[..10]);
        let parsed = parse(&text);
        let ids: Vec<&str> = parsed
            .entries
            .iter()
            .map(|(_, e)| e.change_id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(parsed.torn(), [2, 4]);
    }

    #[test]
    fn an_edited_record_is_refused_and_an_unsealed_one_too() {
        let text = line(&entry("a")).replace("\"before\":\"{}\"", "\"before\":\"{\\\"x\\\":1}\"");
        assert!(matches!(
            parse(&text).bad.as_slice(),
            [BadLine::Tampered { line: 1, .. }]
        ));
        let plain = serde_json::to_string(&entry("a")).unwrap();
        assert!(matches!(
            parse(&plain).bad.as_slice(),
            [BadLine::Tampered { line: 1, .. }]
        ));
        assert!(matches!(
            parse("{\"x\": 1}").bad.as_slice(),
            [BadLine::Corrupt { line: 1, .. }]
        ));
    }

    #[test]
    fn rollout_records_are_sealed_and_read_beside_publish_records() {
        use crate::rollout::{Event, RolloutRecord};
        let r = RolloutRecord::new("run", "run", Event::WaveStarted { wave: 0 });
        let rollout = String::from_utf8(encode_rollout(&r).unwrap()).unwrap();
        let text = format!("{}{rollout}", line(&entry("a")));
        let parsed = parse(&text);
        assert_eq!(parsed.entries.len(), 1);
        assert_eq!(parsed.rollouts, vec![(2, r)]);
        let edited = rollout.replace("\"wave\":0", "\"wave\":1");
        assert!(matches!(
            parse(&edited).bad.as_slice(),
            [BadLine::Tampered { line: 1, .. }]
        ));
    }
}
