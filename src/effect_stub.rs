//! Temporary stand-in for the effect module while it is developed on its own branch.
#![allow(dead_code)]
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Context {
    MfaPresent,
    MfaAbsent,
    MfaKeyMissing,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    OwnUser,
    OtherUser,
    OwnMfaDevice,
    OtherMfaDevice,
    Any,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum View {
    Alone,
    BesideAllowAll,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Restrict,
    Grant,
}
#[derive(Clone, Debug, PartialEq)]
pub enum ActionScope {
    All,
    Patterns(Vec<String>),
}
#[derive(Clone, Debug, PartialEq)]
pub struct DeclaredEffect {
    pub migration: String,
    pub direction: Direction,
    pub contexts: Vec<Context>,
    pub actions: ActionScope,
    pub except_actions: Vec<String>,
    pub resources: Vec<ResourceKind>,
    pub views: Vec<View>,
}

pub fn allows(
    doc: &Value,
    action: &str,
    resource: &str,
    _context: Context,
    username: &str,
) -> bool {
    crate::policy::statements(doc).into_iter().any(|s| {
        crate::policy::effect(s).as_deref() == Some("allow")
            && s.get("Condition").is_none()
            && crate::policy::string_list(s, "Action")
                .and_then(Result::ok)
                .is_some_and(|l| l.iter().any(|p| crate::pattern::action_matches(p, action)))
            && crate::policy::string_list(s, "Resource")
                .and_then(Result::ok)
                .is_some_and(|l| {
                    l.iter().any(|p| {
                        crate::pattern::matches(
                            &p.replace("${aws:username}", username),
                            resource,
                            false,
                        )
                    })
                })
    })
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Allowed,
    ExplicitDeny,
    ImplicitDeny,
    Unknown,
}
#[derive(Clone, Debug, Serialize)]
pub struct EffectRow {
    pub action: String,
    pub resource: ResourceKind,
    pub context: Context,
    pub view: View,
    pub before: Decision,
    pub after: Decision,
}
#[derive(Clone, Debug, Serialize)]
pub struct EffectDiff {
    pub rows: Vec<EffectRow>,
    pub unknown: Vec<String>,
    pub universe_actions: usize,
    pub source: &'static str,
}
pub fn effect_diff(_before: &Value, _after: &Value) -> EffectDiff {
    EffectDiff {
        rows: Vec::new(),
        unknown: Vec::new(),
        universe_actions: 0,
        source: "stub",
    }
}
pub fn unexplained<'a>(diff: &'a EffectDiff, _declared: &[DeclaredEffect]) -> Vec<&'a EffectRow> {
    diff.rows.iter().collect()
}
pub fn summarize(rows: &[&EffectRow]) -> Vec<String> {
    rows.iter()
        .map(|r| format!("{} {:?}", r.action, r.after))
        .collect()
}
#[derive(Clone, Debug, Serialize)]
pub struct TableRow {
    pub action: String,
    pub resource: ResourceKind,
    pub context: Context,
    pub view: View,
    pub decision: Decision,
}
pub fn effect_table(_doc: &Value) -> Vec<TableRow> {
    Vec::new()
}
