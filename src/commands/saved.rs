//! Saved plans (`plan --out FILE`, `apply --plan FILE`): loading one, refusing it as a whole
//! when it was made with other migrations or options, and re-deriving each of its changes, so
//! that what is applied is what forcemfa derives now, never what the file says.

use std::path::Path;

use crate::commands::rules::Rules;
use crate::engine::plan::PlanFile;
use crate::error::Error;
use crate::sources::files::{self, strip_path};
use crate::ui::Ui;

pub fn load_plan(path: &Path) -> Result<PlanFile, Error> {
    let input = |message: String| Error::Input {
        path: path.display().to_string(),
        message,
    };
    let text = files::read(path).map_err(|e| input(strip_path(&e.to_string())))?;
    serde_json::from_str(&text).map_err(|e| {
        input(format!(
            "not a forcemfa plan file ({e}); make one with `forcemfa plan --out FILE`"
        ))
    })
}

/// Load a saved plan, refuse it as a whole when it was made with other migrations or options,
/// and re-derive each change: an edited change is refused (listed as blocked, exit 4).
pub fn load_checked_plan(ui: &Ui, path: &Path, rules: &Rules) -> Result<PlanFile, Error> {
    let mut file = load_plan(path)?;
    file.check(&rules.chain, Some(rules.options()))
        .map_err(|e| Error::Input {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    for line in file.rederive_with(&rules.chain, crate::sources::iac::rederive) {
        ui.warn(&format!("error: {line}"));
    }
    Ok(file)
}
