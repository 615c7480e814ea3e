//! The live state of one policy, read just before and after a write: its document and, for a
//! managed policy, the default version and every version.

use super::errors::StoreError;
use super::iam::{Entity, VersionInfo};
use super::store::AwsStore;
use crate::engine::policy;
use crate::engine::target::{Target, TargetKind};

/// The live state of one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub text: String,
    pub version_id: Option<String>,
    pub versions: Vec<VersionInfo>,
}

impl AwsStore {
    /// The live document of a target (managed: its default version, with the version list).
    pub async fn current(&self, target: &Target) -> Result<Current, StoreError> {
        let (text, version_id) = self.live(target).await?;
        let versions = match &target.kind {
            TargetKind::Managed { arn, .. } => self.iam.versions(target, arn).await?,
            _ => Vec::new(),
        };
        Ok(Current {
            text,
            version_id,
            versions,
        })
    }

    /// The live document and (managed) default version id, without the version list.
    pub(super) async fn live(
        &self,
        target: &Target,
    ) -> Result<(String, Option<String>), StoreError> {
        match &target.kind {
            TargetKind::Managed { arn, .. } => {
                let version = self.iam.default_version_id(target, arn).await?;
                let text = self.iam.version_document(target, arn, &version).await?;
                Ok((text, Some(version)))
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
                let text = self.iam.inline_document(target, owner, policy_name).await?;
                Ok((text, None))
            }
            TargetKind::File { .. } | TargetKind::Embedded { .. } => {
                Err(self.not_aws(target, "read"))
            }
        }
    }

    /// Reads the live document until it equals `intended` (IAM is eventually consistent).
    pub(super) async fn read_back(
        &self,
        target: &Target,
        intended: &str,
    ) -> Result<(), StoreError> {
        let mut last = String::new();
        for attempt in 0..self.read_back_attempts {
            if attempt > 0 {
                tokio::time::sleep(self.read_back_delay).await;
            }
            let (text, version) = self.live(target).await?;
            if same_document(&text, intended) {
                return Ok(());
            }
            last = match version {
                Some(v) => format!("default version {v}"),
                None => "the inline document".into(),
            };
        }
        Err(StoreError::ReadBack {
            at: self.iam.at(target, "read back"),
            detail: format!(
                "{last} still differs after {} reads",
                self.read_back_attempts
            ),
        })
    }

    /// The error for a file target handed to the IAM store.
    pub(super) fn not_aws(&self, target: &Target, operation: &'static str) -> StoreError {
        StoreError::Invalid {
            at: self.iam.at(target, operation),
            detail: "this target is a file, not an IAM policy; use the files store".into(),
        }
    }
}

/// Two documents mean the same (parsed JSON equality: key order and whitespace do not count).
pub fn same_document(a: &str, b: &str) -> bool {
    match (policy::parse(a), policy::parse(b)) {
        (Ok(x), Ok(y)) => x.value == y.value,
        _ => a.trim() == b.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_compare_as_json() {
        assert!(same_document(
            "{\"a\":1,\"b\":[1,2]}",
            "{ \"b\": [1, 2], \"a\": 1 }\n"
        ));
        assert!(!same_document("{\"a\":1}", "{\"a\":2}"));
    }
}
