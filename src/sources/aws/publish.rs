//! Publish: one planned change written to IAM, safely. In order:
//! 1. limits (size, aggregate inline size, characters) are checked before any write;
//! 2. the live document is re-read: equal to the new one → nothing to do; different from the
//!    plan's `before`, or (managed policies) another default version than the plan's → refused as
//!    stale;
//! 3. every write is journalled (`pending`) and fsync'd before it is sent, and its outcome is
//!    journalled after; a pruned version's document is journalled before it is deleted;
//! 4. a write whose answer was lost is not repeated blindly: the live document is re-read first;
//! 5. the result is read back (IAM is eventually consistent) and compared with the intent.

use super::errors::StoreError;
use super::live::{same_document, Current};
use super::store::AwsStore;
use super::write::is_full;
use crate::engine::target::Target;
use crate::sources::journal::{self, Action, Journal, JournalEntry, Outcome};

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Written and read back.
    Applied {
        change_id: String,
        /// Managed: the new default version.
        version_id: Option<String>,
        /// Managed: the version deleted to make room (its document is in the journal).
        pruned_version_id: Option<String>,
        /// The write's answer was lost, but re-reading showed it had landed: not repeated.
        after_lost_response: bool,
    },
    /// The live document already was the new one: nothing written.
    AlreadyApplied {
        change_id: String,
        version_id: Option<String>,
    },
}

impl AwsStore {
    /// Publishes `new_document` to `target`, if the live document still is `expected_before`
    /// and, for a managed policy the plan was made against (`expected_version_id`), its default
    /// version still is that version: a new version with the same content is still a change
    /// nobody reviewed this plan against. See the module documentation for the safety rules.
    #[allow(clippy::too_many_arguments)]
    pub async fn publish_planned(
        &self,
        target: &Target,
        expected_version_id: Option<&str>,
        expected_before: &str,
        new_document: &str,
        journal: &mut Journal,
        run_id: &str,
        no_prune: bool,
    ) -> Result<Published, StoreError> {
        self.check_limits(target, new_document).await?;
        let live = self.current(target).await?;
        let change_id = journal::new_change_id(run_id);
        let base = JournalEntry {
            before: Some(live.text.clone()),
            after: Some(new_document.to_string()),
            before_version_id: live.version_id.clone(),
            previous_default_version_id: live.version_id.clone(),
            ..JournalEntry::new(
                run_id,
                &change_id,
                target,
                Action::Publish,
                Outcome::Pending,
            )
        };
        if same_document(&live.text, new_document) {
            self.append(journal, target, &base.with_outcome(Outcome::AlreadyApplied))?;
            return Ok(Published::AlreadyApplied {
                change_id,
                version_id: live.version_id,
            });
        }
        if let Some(detail) = staleness(&live, expected_version_id, expected_before) {
            return Err(StoreError::Stale {
                at: self.iam.at(target, "publish"),
                detail,
            });
        }
        if no_prune && is_full(target, &live) {
            return Err(StoreError::VersionLimit {
                at: self.iam.at(target, "iam:CreatePolicyVersion"),
            });
        }
        let pruned_version_id = self
            .make_room(target, &live, journal, run_id, &change_id)
            .await?;
        let (version_id, after_lost_response) = self
            .write_journalled(target, new_document, &base, journal)
            .await?;
        Ok(Published::Applied {
            change_id,
            version_id,
            pruned_version_id,
            after_lost_response,
        })
    }
}

/// Why the live state is not the one the plan was made against (stale means "changed under
/// you"), or `None`.
fn staleness(
    live: &Current,
    expected_version_id: Option<&str>,
    expected_before: &str,
) -> Option<String> {
    if let (Some(planned), Some(now)) = (expected_version_id, live.version_id.as_deref()) {
        if planned != now {
            return Some(format!(
                "the plan was made against version {planned}, the default version is now {now}{}",
                if same_document(&live.text, expected_before) {
                    " (with the same document: still a change made since the plan)"
                } else {
                    ""
                }
            ));
        }
    }
    if same_document(&live.text, expected_before) {
        return None;
    }
    Some(match &live.version_id {
        Some(v) => {
            format!("default version is now {v} and its document differs from the plan's before")
        }
        None => "the inline document differs from the plan's before".into(),
    })
}
