//! The JSON report: one object with changes, unchanged, skipped, errors and summary, borrowed
//! from the run so that large runs serialise straight to text without an intermediate `Value`.

use serde::Serialize;
use serde_json::Value;

use crate::engine::plan::{summarize, Item, Summary};
use crate::error::Error;
use crate::report::summary::Mode;

#[derive(Serialize)]
pub struct JsonReport<'a> {
    tool: &'static str,
    version: &'static str,
    command: &'static str,
    changes: Vec<&'a Item>,
    unchanged: Vec<&'a Item>,
    skipped: Vec<&'a Item>,
    errors: Vec<&'a Item>,
    summary: Summary,
    /// The options in force and where each came from (as `forcemfa config` shows them).
    #[serde(skip_serializing_if = "Option::is_none")]
    effective_options: Option<Value>,
}

impl JsonReport<'_> {
    /// Records the effective options (see `cli::resolved::Resolved::to_json`).
    pub fn with_effective_options(mut self, options: Value) -> Self {
        self.effective_options = Some(options);
        self
    }
}

pub fn json_report(items: &[Item], mode: Mode) -> JsonReport<'_> {
    let pick = |f: fn(&Item) -> bool| items.iter().filter(|i| f(i)).collect::<Vec<_>>();
    JsonReport {
        tool: "forcemfa",
        version: env!("CARGO_PKG_VERSION"),
        command: mode.command(),
        changes: pick(|i| matches!(i, Item::Change(_))),
        unchanged: pick(|i| matches!(i, Item::Unchanged { .. })),
        skipped: pick(|i| matches!(i, Item::Skipped { .. })),
        errors: pick(|i| matches!(i, Item::Error { .. })),
        summary: summarize(items),
        effective_options: None,
    }
}

/// The report as a `Value` (tests pin its shape; runs serialise the report directly).
pub fn json(items: &[Item], mode: Mode) -> Result<Value, serde_json::Error> {
    serde_json::to_value(json_report(items, mode))
}

/// Pretty JSON text of `v`, with a final newline. `what` names it in the error, which is a bug
/// in forcemfa (every type serialised here is ours), never an empty report.
pub fn pretty<T: Serialize + ?Sized>(what: &str, v: &T) -> Result<String, Error> {
    let mut text = serde_json::to_string_pretty(v).map_err(|source| Error::Serialize {
        what: what.to_string(),
        source,
    })?;
    text.push('\n');
    Ok(text)
}

/// Pretty JSON text of `v` as it reads nested in a larger pretty document: every line after the
/// first indented by `indent` (serde_json writes no raw line break inside a string, so each line
/// break is one of the layout's), no final newline.
pub fn nested<T: Serialize + ?Sized>(v: &T, indent: &str) -> Result<String, Error> {
    let text = serde_json::to_string_pretty(v).map_err(|source| Error::Serialize {
        what: "a part of the JSON report".to_string(),
        source,
    })?;
    Ok(if indent.is_empty() {
        text
    } else {
        text.replace('\n', &format!("\n{indent}"))
    })
}
