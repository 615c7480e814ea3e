//! PLACEHOLDER interface while the real module is built on its own branch; replaced at merge.
use serde::Serialize;

use crate::engine::impact::PrincipalKind;
use crate::engine::plan::PlannedChange;
use crate::sources::aws::{AwsStore, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    Caused,
    NotCaused,
    Unknown,
}

#[derive(Debug, Clone)]
pub struct Watched {
    pub change_id: String,
    pub account: String,
    pub arn: String,
    pub name: String,
    pub kind: PrincipalKind,
}

pub async fn before_publish(
    _store: &AwsStore,
    _changes: &[PlannedChange],
) -> Result<Vec<Watched>, StoreError> {
    Ok(Vec::new())
}

#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    pub account: String,
    pub change_id: String,
    pub principal: String,
    pub action: String,
    pub time: String,
    pub error_code: String,
    pub event_id: String,
    pub region: String,
    pub cause: Cause,
    pub why: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Seen {
    pub refusals: Vec<Refusal>,
    pub records: usize,
    pub partial: Vec<String>,
    pub error: Option<String>,
}

pub async fn look(
    _store: &AwsStore,
    _watched: &[Watched],
    _since: i64,
    _until: i64,
    _opts: &crate::sources::evidence::Options,
) -> Seen {
    Seen {
        error: Some("placeholder".into()),
        ..Seen::default()
    }
}
