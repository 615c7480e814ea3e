//! The steps a publish and a rollback share: limits checked before any write, a write journalled
//! before it is sent and after it answered, a lost answer re-read before the write is repeated,
//! and room made among a managed policy's five versions without ever deleting its default.

use std::future::Future;

use super::errors::{StoreError, MAX_POLICY_VERSIONS};
use super::iam::Entity;
use super::iam::VersionInfo;
use super::live::{same_document, Current};
use super::store::AwsStore;
use crate::engine::policy;
use crate::engine::target::{Target, TargetKind, MANAGED_LIMIT};
use crate::sources::journal::{Action, Journal, JournalEntry, Outcome};

impl AwsStore {
    /// Size, characters and aggregate inline size, checked before anything is written.
    pub(super) async fn check_limits(
        &self,
        target: &Target,
        document: &str,
    ) -> Result<(), StoreError> {
        let at = |op| self.iam.at(target, op);
        if let Err(e) = policy::parse(document) {
            return Err(StoreError::Invalid {
                at: at("check"),
                detail: format!("the new document is not JSON ({e}); nothing was written"),
            });
        }
        let chars = policy::disallowed_characters(document);
        if !chars.is_empty() {
            return Err(StoreError::DisallowedCharacters {
                at: at("check"),
                chars,
            });
        }
        let size = policy::iam_size(document);
        match &target.kind {
            TargetKind::Managed { .. } if size > MANAGED_LIMIT => Err(StoreError::TooLarge {
                at: at("iam:CreatePolicyVersion"),
                size,
                limit: MANAGED_LIMIT,
                what: "managed policy".into(),
            }),
            TargetKind::Managed { .. } => Ok(()),
            TargetKind::Inline {
                entity,
                entity_name,
                policy_name,
            } => {
                let owner = Entity {
                    kind: *entity,
                    name: entity_name,
                };
                self.check_inline_aggregate(target, owner, policy_name, size)
                    .await
            }
            TargetKind::File { .. } | TargetKind::Embedded { .. } => {
                Err(self.not_aws(target, "publish"))
            }
        }
    }

    /// IAM's inline limit is on the sum of an entity's inline policies: the others are read live.
    async fn check_inline_aggregate(
        &self,
        target: &Target,
        owner: Entity<'_>,
        policy_name: &str,
        size: usize,
    ) -> Result<(), StoreError> {
        let limit = owner.kind.inline_limit();
        let at = || self.iam.at(target, owner.put_operation());
        let kind = owner.kind.as_str();
        if size > limit {
            return Err(StoreError::TooLarge {
                at: at(),
                size,
                limit,
                what: format!("{kind} inline policy aggregate"),
            });
        }
        let mut others = 0;
        for name in self.iam.inline_names(target, owner).await? {
            if name != policy_name {
                others += policy::iam_size(&self.iam.inline_document(target, owner, &name).await?);
            }
        }
        if size + others > limit {
            return Err(StoreError::TooLarge {
                at: at(),
                size: size + others,
                limit,
                what: format!(
                    "{kind} inline policy aggregate (the {kind}'s other inline policies use {others})"
                ),
            });
        }
        Ok(())
    }

    /// Makes room for a new version when a managed policy has [`MAX_POLICY_VERSIONS`]: the oldest
    /// non-default version is journalled, then deleted. Returns its id; `None` when there was
    /// room (or the target is inline).
    pub(super) async fn make_room(
        &self,
        target: &Target,
        live: &Current,
        journal: &mut Journal,
        run_id: &str,
        change_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let (TargetKind::Managed { arn, .. }, true) = (&target.kind, is_full(target, live)) else {
            return Ok(None);
        };
        let victim = self.prune_victim(target, arn, live).await?;
        let document = self.iam.version_document(target, arn, &victim).await?;
        let pending = JournalEntry {
            before: Some(document),
            before_version_id: Some(victim.clone()),
            ..JournalEntry::new(run_id, change_id, target, Action::Prune, Outcome::Pending)
        };
        let delete = async {
            match self.iam.delete_version(target, arn, &victim).await {
                // Already gone (a lost answer to an earlier attempt): the goal is reached.
                Ok(()) | Err(StoreError::NoSuchEntity { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        };
        self.journalled(journal, target, &pending, delete, |_| None)
            .await?;
        Ok(Some(victim))
    }

    /// The version to delete: never the policy's `DefaultVersionId`, whatever the versions'
    /// `IsDefaultVersion` flags say. When the flags disagree with it (IAM is eventually
    /// consistent; a retried `SetDefaultPolicyVersion` can leave them so), the versions are
    /// read again, a few times, before choosing.
    async fn prune_victim(
        &self,
        target: &Target,
        arn: &str,
        live: &Current,
    ) -> Result<String, StoreError> {
        let default_id = live.version_id.as_deref();
        let mut versions = live.versions.clone();
        for _ in 0..2 {
            if flags_agree(&versions, default_id) {
                break;
            }
            tokio::time::sleep(self.read_back_delay).await;
            versions = self.iam.versions(target, arn).await?;
        }
        prune_candidate(&versions, default_id).ok_or_else(|| StoreError::Invalid {
            at: self.iam.at(target, "iam:DeletePolicyVersion"),
            detail: "no non-default version to delete to make room; delete one by hand".into(),
        })
    }

    /// Writes `document` (a new default version, or the inline document), journalled before
    /// and after (`base` is the pending record), then reads it back. Returns the new version id
    /// (managed) and whether the first answer was lost but the write had landed.
    pub(super) async fn write_journalled(
        &self,
        target: &Target,
        document: &str,
        base: &JournalEntry,
        journal: &mut Journal,
    ) -> Result<(Option<String>, bool), StoreError> {
        let write = self.write_once_confirmed(target, document);
        let written = self
            .journalled(journal, target, base, write, |(v, _)| v.clone())
            .await?;
        self.read_back(target, document).await?;
        Ok(written)
    }

    /// Journals `pending`, runs `write`, and journals its outcome: applied (with the version
    /// `version_of` reads from the result, when there is one) or failed (with the error).
    pub(super) async fn journalled<T>(
        &self,
        journal: &mut Journal,
        target: &Target,
        pending: &JournalEntry,
        write: impl Future<Output = Result<T, StoreError>>,
        version_of: impl Fn(&T) -> Option<String>,
    ) -> Result<T, StoreError> {
        self.append(journal, target, pending)?;
        match write.await {
            Ok(done) => {
                let applied = JournalEntry {
                    after_version_id: version_of(&done)
                        .or_else(|| pending.after_version_id.clone()),
                    ..pending.with_outcome(Outcome::Applied)
                };
                self.append(journal, target, &applied)?;
                Ok(done)
            }
            Err(e) => {
                let failed = JournalEntry {
                    error: Some(e.to_string()),
                    ..pending.with_outcome(Outcome::Failed)
                };
                self.append(journal, target, &failed)?;
                Err(e)
            }
        }
    }

    /// Write once; if the answer is lost (transport error, 5xx, throttling), re-read and
    /// repeat only if the write did not land.
    async fn write_once_confirmed(
        &self,
        target: &Target,
        document: &str,
    ) -> Result<(Option<String>, bool), StoreError> {
        match self.write(target, document).await {
            Ok(v) => Ok((v, false)),
            Err(first) if first.may_have_landed() => {
                // Give IAM's eventual consistency a moment before deciding it did not land.
                tokio::time::sleep(self.read_back_delay).await;
                match self.live(target).await {
                    Ok((text, version)) if same_document(&text, document) => Ok((version, true)),
                    Ok(_) => self.write(target, document).await.map(|v| (v, false)),
                    Err(_) => Err(first),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// One write, sent once (see [`super::iam`]); the new version id of a managed policy.
    async fn write(&self, target: &Target, document: &str) -> Result<Option<String>, StoreError> {
        match &target.kind {
            TargetKind::Managed { arn, .. } => {
                self.iam.create_default_version(target, arn, document).await
            }
            TargetKind::Inline {
                entity,
                entity_name,
                policy_name,
            } => {
                let owner = Entity {
                    kind: *entity,
                    name: entity_name,
                };
                self.iam
                    .put_inline(target, owner, policy_name, document)
                    .await
                    .map(|()| None)
            }
            TargetKind::File { .. } | TargetKind::Embedded { .. } => {
                Err(self.not_aws(target, "publish"))
            }
        }
    }

    /// Appends a record, with the route the account was reached by when it has none.
    pub(super) fn append(
        &self,
        journal: &mut Journal,
        target: &Target,
        entry: &JournalEntry,
    ) -> Result<(), StoreError> {
        let routed;
        let entry = match (&entry.reached, &self.route) {
            (None, Some(route)) => {
                routed = JournalEntry {
                    reached: Some(route.clone()),
                    ..entry.clone()
                };
                &routed
            }
            _ => entry,
        };
        journal.append(entry).map_err(|source| StoreError::Journal {
            at: self.iam.at(target, "journal"),
            source,
        })
    }
}

/// A managed policy with no room for another version.
pub(super) fn is_full(target: &Target, live: &Current) -> bool {
    matches!(target.kind, TargetKind::Managed { .. }) && live.versions.len() >= MAX_POLICY_VERSIONS
}

/// Exactly one version is flagged default, and it is the policy's `DefaultVersionId`.
fn flags_agree(versions: &[VersionInfo], default_id: Option<&str>) -> bool {
    let flagged: Vec<&str> = versions
        .iter()
        .filter(|v| v.is_default)
        .map(|v| v.id.as_str())
        .collect();
    match default_id {
        Some(d) => flagged == [d],
        None => flagged.len() == 1,
    }
}

/// The version to prune: the oldest that is neither the policy's `DefaultVersionId` nor
/// flagged default.
fn prune_candidate(versions: &[VersionInfo], default_id: Option<&str>) -> Option<String> {
    let eligible: Vec<VersionInfo> = versions
        .iter()
        .filter(|v| Some(v.id.as_str()) != default_id)
        .cloned()
        .collect();
    oldest_non_default(&eligible)
}

/// The oldest non-default version by creation date (version number breaks ties: moto and
/// fast scripts create several versions within one second).
fn oldest_non_default(versions: &[VersionInfo]) -> Option<String> {
    versions
        .iter()
        .filter(|v| !v.is_default)
        .min_by_key(|v| {
            let date = v.create_date.as_deref().and_then(|d| {
                time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339).ok()
            });
            let number: u64 =
                v.id.trim_start_matches(['v', 'V'])
                    .parse()
                    .unwrap_or(u64::MAX);
            (date, number)
        })
        .map(|v| v.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_non_default_skips_default_and_breaks_ties_by_number() {
        let v = |id: &str, d: bool, date: &str| VersionInfo {
            id: id.into(),
            is_default: d,
            create_date: Some(date.into()),
        };
        let versions = [
            v("v1", true, "2020-01-01T00:00:00Z"),
            v("v3", false, "2021-01-01T00:00:00Z"),
            v("v2", false, "2021-01-01T00:00:00Z"),
            v("v4", false, "2022-01-01T00:00:00Z"),
        ];
        assert_eq!(oldest_non_default(&versions).as_deref(), Some("v2"));
        assert_eq!(oldest_non_default(&versions[..1]), None);
    }

    #[test]
    fn pruning_never_picks_the_default_version_id_even_when_unflagged() {
        let v = |id: &str, d: bool| VersionInfo {
            id: id.into(),
            is_default: d,
            create_date: Some("2021-01-01T00:00:00Z".into()),
        };
        // DefaultVersionId is v1, but no version carries the flag (or v5 still does).
        let unflagged = [v("v1", false), v("v2", false), v("v3", false)];
        assert!(!flags_agree(&unflagged, Some("v1")));
        assert_eq!(
            prune_candidate(&unflagged, Some("v1")).as_deref(),
            Some("v2")
        );
        let stale_flag = [v("v1", false), v("v2", false), v("v5", true)];
        assert!(!flags_agree(&stale_flag, Some("v1")));
        assert_eq!(
            prune_candidate(&stale_flag, Some("v1")).as_deref(),
            Some("v2")
        );
        let agreeing = [v("v1", true), v("v2", false)];
        assert!(flags_agree(&agreeing, Some("v1")));
        assert_eq!(prune_candidate(&[v("v1", false)], Some("v1")), None);
    }
}
