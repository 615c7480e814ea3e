//! Rolling a wave back: every publish of this rollout in the wave's accounts that no rollback
//! undoes yet, latest first, restored with the same care as `rollback` (the live document must
//! be the one published; the previous default version when IAM still holds it with the
//! journalled document, otherwise the original only if forcemfa derives the live document from
//! it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::sources::aws::{AwsStore, RolledBack};
use crate::sources::journal::{self, Journal};

/// What rolling the wave back did: restored, failed, one line per change.
pub struct Undone {
    pub restored: usize,
    pub failed: usize,
    pub lines: Vec<String>,
    /// Per journalled change id: what became of it (`rolled back: …`, or the error).
    pub by_change: BTreeMap<String, String>,
}

/// Restores the publishes made by the runs of rollout `rollout_id` (this run, `run_id`, and
/// the earlier runs of a resumed rollout, as the journal's rollout records name them) in
/// `stores`' accounts.
pub async fn undo_wave(
    journal_path: &Path,
    rollout_id: &str,
    stores: &BTreeMap<String, AwsStore>,
    run_id: &str,
) -> Undone {
    let mut out = Undone {
        restored: 0,
        failed: 0,
        lines: Vec::new(),
        by_change: BTreeMap::new(),
    };
    let contents = match journal::read_entries(journal_path) {
        Ok(c) => c,
        Err(e) => {
            out.failed += 1;
            out.lines.push(format!(
                "error: the journal could not be read to roll the wave back ({e}); nothing restored: run `forcemfa rollback --journal {}`",
                journal_path.display()
            ));
            return out;
        }
    };
    let mut runs: BTreeSet<&str> = BTreeSet::from([run_id]);
    runs.extend(
        contents
            .rollouts
            .iter()
            .filter(|r| r.rollout_id == rollout_id)
            .map(|r| r.run_id.as_str()),
    );
    let todo: Vec<_> = journal::rollback_plan(&contents.entries, None)
        .into_iter()
        .filter(|e| runs.contains(e.run_id.as_str()) && stores.contains_key(&e.account))
        .collect();
    let mut journal = match Journal::open(journal_path) {
        Ok(j) => j,
        Err(e) => {
            out.failed += todo.len().max(1);
            out.lines.push(format!(
                "error: the journal could not be opened to roll the wave back ({e}); nothing restored"
            ));
            return out;
        }
    };
    for entry in todo {
        let Some(store) = stores.get(&entry.account) else {
            continue;
        };
        match store.rollback(&entry, &mut journal, run_id).await {
            Ok(r) => {
                out.restored += 1;
                let how = how(r);
                out.by_change
                    .insert(entry.change_id.clone(), format!("then rolled back: {how}"));
                out.lines.push(format!(
                    "rolled back {} (change {}): {how}",
                    entry.target, entry.change_id
                ));
            }
            Err(e) => {
                out.failed += 1;
                out.by_change.insert(
                    entry.change_id.clone(),
                    format!("rolling it back FAILED: {e}"),
                );
                out.lines.push(format!(
                    "error: rolling back {} (change {}) failed: {e}; restore it with `forcemfa rollback --journal {} --change {}`",
                    entry.target,
                    entry.change_id,
                    journal_path.display(),
                    entry.change_id
                ));
            }
        }
    }
    out
}

/// How a change was restored, in words.
pub fn how(r: RolledBack) -> String {
    match r {
        RolledBack::DefaultVersionRestored { version_id } => {
            format!("default version {version_id} restored")
        }
        RolledBack::NewVersion { version_id } => format!(
            "original document published as new default version {}",
            version_id.unwrap_or_default()
        ),
        RolledBack::InlineRestored => "inline document restored".into(),
        RolledBack::AlreadyRolledBack => "already the original, nothing written".into(),
    }
}
