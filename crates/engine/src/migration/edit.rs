//! What every migration op builds on: what an op did, and the edits of statements and action
//! lists that guard and grant ops share.

use serde_json::Value;

use crate::policy;

/// What one op changed: a line per change, and the actions it touched.
#[derive(Default)]
pub(super) struct OpResult {
    pub(super) changes: Vec<String>,
    pub(super) touched: Vec<String>,
}

/// The statement at `index`, to edit in place.
pub(super) fn statement_mut(doc: &mut Value, index: usize) -> Option<&mut Value> {
    policy::statements_mut(doc).into_iter().nth(index)
}

fn is_sorted(list: &[String]) -> bool {
    list.len() >= 2
        && list
            .windows(2)
            .all(|w| w[0].to_ascii_lowercase() <= w[1].to_ascii_lowercase())
}

/// Add an action at the end of a list, or in order if the list was sorted.
pub(super) fn add_action(list: &mut Vec<String>, action: &str) {
    if is_sorted(list) {
        let key = action.to_ascii_lowercase();
        let at = list
            .iter()
            .position(|x| x.to_ascii_lowercase() > key)
            .unwrap_or(list.len());
        list.insert(at, action.to_string());
    } else {
        list.push(action.to_string());
    }
}
