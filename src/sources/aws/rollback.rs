//! Rollback: a journalled publish undone, with the same care as a publish (limits, journal
//! first, read back), and refused when someone changed the policy since.

use super::errors::StoreError;
use super::live::{same_document, Current};
use super::store::AwsStore;
use crate::engine::target::TargetKind;
use crate::sources::journal::{self, Action, Journal, JournalEntry, Outcome};

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolledBack {
    /// Managed: the previous default version is default again.
    DefaultVersionRestored { version_id: String },
    /// Managed: the previous default was gone, so the old document is a new default version.
    NewVersion { version_id: Option<String> },
    /// Inline: the old document was put back.
    InlineRestored,
    /// The live document already was the original: nothing written.
    AlreadyRolledBack,
}

impl AwsStore {
    /// Undo a journalled publish. Refuses (as stale) when the live document is neither the
    /// published one nor the original: someone changed it since, and rolling back would lose
    /// their change. Steps: check the record; re-read the live document; already the
    /// original → nothing to do; make the previous default version default again when it
    /// still holds the original; else write the original as a new version (or inline).
    pub async fn rollback(
        &self,
        entry: &JournalEntry,
        journal: &mut Journal,
        run_id: &str,
    ) -> Result<RolledBack, StoreError> {
        let target = &entry.target;
        let (original, published) = self.rollback_documents(entry)?;
        let live = self.current(target).await?;
        let change_id = journal::new_change_id(run_id);
        let base = JournalEntry {
            before: Some(live.text.clone()),
            after: Some(original.to_string()),
            before_version_id: live.version_id.clone(),
            previous_default_version_id: live.version_id.clone(),
            rolls_back: Some(entry.change_id.clone()),
            ..JournalEntry::new(
                run_id,
                &change_id,
                target,
                Action::Rollback,
                Outcome::Pending,
            )
        };
        if same_document(&live.text, original) {
            self.append(journal, target, &base.with_outcome(Outcome::AlreadyApplied))?;
            return Ok(RolledBack::AlreadyRolledBack);
        }
        if !same_document(&live.text, published) {
            return Err(StoreError::Stale {
                at: self.iam.at(target, "rollback"),
                detail: format!(
                    "it is neither the document change {} published nor the original, so someone changed it since; nothing was written: restore it by hand from the journal if still wanted",
                    entry.change_id
                ),
            });
        }
        // The journal is a file: what it asks to publish is checked like a new document.
        self.check_limits(target, original).await?;
        if let Some(done) = self
            .restore_previous_default(entry, &live, &base, journal)
            .await?
        {
            return Ok(done);
        }
        self.make_room(target, &live, journal, run_id, &change_id)
            .await?;
        let (version_id, _) = self
            .write_journalled(target, original, &base, journal)
            .await?;
        Ok(match target.kind {
            TargetKind::Managed { .. } => RolledBack::NewVersion { version_id },
            _ => RolledBack::InlineRestored,
        })
    }

    /// The original and the published documents of a publish record.
    fn rollback_documents<'e>(
        &self,
        entry: &'e JournalEntry,
    ) -> Result<(&'e str, &'e str), StoreError> {
        let at = || self.iam.at(&entry.target, "rollback");
        if entry.action != Action::Publish {
            return Err(StoreError::Invalid {
                at: at(),
                detail: format!(
                    "change {} is not a publish; only publishes are rolled back",
                    entry.change_id
                ),
            });
        }
        match (&entry.before, &entry.after) {
            (Some(original), Some(published)) => Ok((original, published)),
            _ => Err(StoreError::Invalid {
                at: at(),
                detail: format!(
                    "journal record of change {} has no before/after documents; pick a publish record (rollback_plan lists them)",
                    entry.change_id
                ),
            }),
        }
    }

    /// Make a managed policy's previous default version default again, when it still exists and
    /// holds the original: no new version, and the policy's history stays as it was. `None`
    /// when that is not possible (or the policy is inline).
    async fn restore_previous_default(
        &self,
        entry: &JournalEntry,
        live: &Current,
        base: &JournalEntry,
        journal: &mut Journal,
    ) -> Result<Option<RolledBack>, StoreError> {
        let target = &entry.target;
        let TargetKind::Managed { arn, .. } = &target.kind else {
            return Ok(None);
        };
        let Some(prev) = entry
            .previous_default_version_id
            .as_deref()
            .filter(|p| live.versions.iter().any(|v| v.id == *p))
        else {
            return Ok(None);
        };
        let original = base.after.as_deref().unwrap_or_default();
        let doc = self.iam.version_document(target, arn, prev).await?;
        if !same_document(&doc, original) {
            return Ok(None);
        }
        let pending = JournalEntry {
            after_version_id: Some(prev.to_string()),
            ..base.clone()
        };
        let set_default = self.iam.set_default_version(target, arn, prev);
        self.journalled(journal, target, &pending, set_default, |_| None)
            .await?;
        self.read_back(target, original).await?;
        Ok(Some(RolledBack::DefaultVersionRestored {
            version_id: prev.to_string(),
        }))
    }
}
