//! `explain FILE [--against BASE]`: the effect table of a document, or the effect of going
//! from BASE to FILE, straight from the engine's evaluator.

use std::path::Path;

use crate::cli::Format;
use crate::engine::{effect, policy};
use crate::error::{Error, Exit};
use crate::report::json::pretty;
use crate::sources::files::{self, strip_path};
use crate::ui::Ui;

fn read_policy(path: &Path) -> Result<serde_json::Value, Error> {
    let input = |message: String| Error::Input {
        path: path.display().to_string(),
        message,
    };
    let text = files::read(path).map_err(|e| input(strip_path(&e.to_string())))?;
    let parsed = policy::parse(&text).map_err(|e| input(e.to_string()))?;
    if let Some(reason) = policy::not_a_policy_reason(&parsed.value) {
        return Err(input(format!("not an IAM policy document: {reason}")));
    }
    Ok(parsed.value)
}

/// `explain`.
pub fn explain(
    ui: &Ui,
    format: Format,
    file: &Path,
    against: Option<&Path>,
) -> Result<Exit, Error> {
    let doc = read_policy(file)?;
    match against {
        Some(base) => {
            let base_doc = read_policy(base)?;
            let d = effect::effect_diff(&base_doc, &doc);
            match format {
                Format::Json => ui.out(&pretty("the effect diff", &d)?)?,
                _ => {
                    let rows: Vec<&effect::EffectRow> = d.rows.iter().collect();
                    let mut out = format!(
                        "Effect of going from {} to {} ({} actions evaluated; {}):\n",
                        base.display(),
                        file.display(),
                        d.universe_actions,
                        d.source
                    );
                    if rows.is_empty() {
                        out.push_str("  no change in access\n");
                    }
                    for line in effect::summarize(&rows) {
                        out.push_str(&format!("  {line}\n"));
                    }
                    for u in &d.unknown {
                        out.push_str(&format!("  could not evaluate: {u}\n"));
                    }
                    ui.out(&out)?;
                }
            }
        }
        None => {
            let table = effect::effect_table(&doc);
            match format {
                Format::Json => ui.out(&pretty("the effect table", &table)?)?,
                _ => {
                    let mut out = String::new();
                    for r in &table {
                        out.push_str(&format!(
                            "{:<48} {:<18} {:<16} {:<17} {}\n",
                            r.action,
                            ser(&r.resource),
                            ser(&r.context),
                            ser(&r.view),
                            ser(&r.decision)
                        ));
                    }
                    ui.out(&out)?;
                }
            }
        }
    }
    Ok(Exit::Ok)
}

fn ser<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
