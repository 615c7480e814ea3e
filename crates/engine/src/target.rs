//! What a policy document belongs to: a file, a customer managed policy, or an inline policy of
//! a user, group or role, in some account. Shared by every source and by plans and journals.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntityKind {
    User,
    Group,
    Role,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::User => "user",
            EntityKind::Group => "group",
            EntityKind::Role => "role",
        }
    }

    /// IAM's aggregate limit on an entity's inline policies (non-whitespace characters).
    pub fn inline_limit(self) -> usize {
        match self {
            EntityKind::User => 2_048,
            EntityKind::Group => 5_120,
            EntityKind::Role => 10_240,
        }
    }
}

/// IAM's limit on one managed policy document (non-whitespace characters).
pub const MANAGED_LIMIT: usize = 6_144;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum TargetKind {
    /// A policy JSON file on disk.
    File { path: PathBuf },
    /// A customer managed policy; its default version is what gets migrated.
    Managed { arn: String, name: String },
    /// A policy embedded in an infrastructure-as-code file (CloudFormation, Terraform): the file,
    /// the resource that holds it (logical id or Terraform address) and the policy's first line.
    Embedded {
        path: PathBuf,
        resource: String,
        line: usize,
    },
    /// An inline policy embedded in a user, group or role.
    Inline {
        entity: EntityKind,
        entity_name: String,
        policy_name: String,
    },
}

/// One policy document somewhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    /// The AWS account id; `None` for files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(flatten)]
    pub kind: TargetKind,
}

impl Target {
    pub fn file(path: impl Into<PathBuf>) -> Target {
        Target {
            account: None,
            kind: TargetKind::File { path: path.into() },
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Printed everywhere (reports, prompts, errors): control characters in a path or name
        // are written visibly, never sent to the terminal.
        use crate::escape::escape;
        if let Some(a) = &self.account {
            write!(f, "{}: ", escape(a))?;
        }
        match &self.kind {
            TargetKind::File { path } => write!(f, "{}", escape(&path.to_string_lossy())),
            TargetKind::Managed { arn, .. } => write!(f, "{}", escape(arn)),
            TargetKind::Embedded {
                path,
                resource,
                line,
            } => write!(
                f,
                "{}:{line} ({})",
                escape(&path.to_string_lossy()),
                escape(resource)
            ),
            TargetKind::Inline {
                entity,
                entity_name,
                policy_name,
            } => write!(
                f,
                "inline policy {policy_name:?} of {} {entity_name:?}",
                entity.as_str()
            ),
        }
    }
}
