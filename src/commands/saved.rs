//! Saved plans (`plan --out FILE`, `apply --plan FILE`): loading one, refusing it as a whole
//! when it was made with other migrations or with options this version would not accept, and
//! re-deriving each of its changes, so that what is applied, and everything the operator is shown
//! about it, is what forcemfa derives now. The file's own words (migrations, effect summary) are
//! only compared with what is derived, never shown: a difference refuses the change.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::commands::rules::Rules;
use crate::engine::migration::{Migration, Options};
use crate::engine::plan::{self, Change, Input, Item, PlanFile, PlannedChange, SizeLimit};
use crate::engine::target::TargetKind;
use crate::error::Error;
use crate::sources::files::{self, strip_path};
use crate::ui::Ui;

/// The key under which a saved plan records the folders and files it was made from.
pub const ROOTS_KEY: &str = "roots";

/// A saved plan whose changes were each re-derived, and what was derived for each change that
/// passed (by change id).
pub struct Checked {
    pub file: PlanFile,
    pub derived: BTreeMap<String, Change>,
    /// The changes refused: they do not match what forcemfa derives, or are out of bounds.
    pub refused: Vec<PlannedChange>,
}

fn input_error(path: &Path, message: String) -> Error {
    Error::Input {
        path: path.display().to_string(),
        message,
    }
}

/// The plan file and the roots it records (canonical paths of the sources it was made from).
pub fn load_plan(path: &Path) -> Result<(PlanFile, Option<Vec<PathBuf>>), Error> {
    let text = files::read(path).map_err(|e| input_error(path, strip_path(&e.to_string())))?;
    let not_a_plan = |e: serde_json::Error| {
        input_error(
            path,
            format!("not a forcemfa plan file ({e}); make one with `forcemfa plan --out FILE`"),
        )
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(not_a_plan)?;
    let roots = value.get(ROOTS_KEY).map(|r| {
        r.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(PathBuf::from))
                    .collect()
            })
            .unwrap_or_default()
    });
    let file = serde_json::from_value(value).map_err(not_a_plan)?;
    Ok((file, roots))
}

/// Load a saved plan, refuse it as a whole when it was made with other migrations or options
/// (or options the command line would refuse), and re-derive each change: an edited change is
/// refused (listed as blocked, exit 4).
pub fn load_checked_plan(ui: &Ui, path: &Path, rules: &Rules) -> Result<Checked, Error> {
    let (mut file, roots) = load_plan(path)?;
    check_options(&file.options, &rules.chain).map_err(|m| input_error(path, m))?;
    file.check(&rules.chain, Some(rules.options()))
        .map_err(|e| input_error(path, e.to_string()))?;
    // What the plan itself lists as blocked when it was made is its own record: nothing of it is
    // applied, and it decides nothing here. Only refusals of this run count.
    file.blocked.clear();
    let all = file.changes.clone();
    let derived = RefCell::new(BTreeMap::new());
    let refused = file.rederive_with(&rules.chain, |c, chain, options| {
        let change = derive(c, chain, options)?;
        bound_to_roots(c, roots.as_deref())?;
        derived.borrow_mut().insert(c.id.clone(), change);
        Ok(())
    });
    for line in refused {
        ui.warn(&format!("error: {line}"));
    }
    let derived = derived.into_inner();
    let refused = all
        .into_iter()
        .filter(|c| !file.changes.iter().any(|k| k.id == c.id))
        .collect();
    Ok(Checked {
        file,
        derived,
        refused,
    })
}

/// The plan's options must be ones the command line accepts, recorded as it records them: a
/// value forcemfa does not know is refused, never ignored.
fn check_options(recorded: &Options, chain: &[Migration]) -> Result<(), String> {
    let rebuilt = Options::new(&recorded.allow_before_mfa)
        .map_err(|e| format!("the plan's options are not valid: {e}"))?
        .skipping(&recorded.skip_migration, chain)
        .map_err(|e| format!("the plan's options are not valid: {e}"))?
        .acknowledging(&recorded.allow_risky_exemption)
        .map_err(|e| format!("the plan's options are not valid: {e}"))?;
    if &rebuilt != recorded {
        return Err(format!(
            "the plan's options are not as forcemfa records them ({:?}); make the plan again",
            recorded.describe()
        ));
    }
    Ok(())
}

/// What forcemfa derives from a saved change's `before` today, accepted only when it is the
/// change byte for byte and the plan's own description of it (its migrations and effect) is what
/// is derived.
fn derive(c: &PlannedChange, chain: &[Migration], options: &Options) -> Result<Change, String> {
    if plan::sha256(&c.before) != c.before_sha256 {
        return Err("its `before` does not match its `before_sha256` (the plan was edited)".into());
    }
    let item = match crate::sources::iac::derive_saved(c, chain, options) {
        Some(item) => item?,
        None => plan::plan_one(&input(c), chain, options),
    };
    c.matches(item.clone())?;
    let Item::Change(change) = item else {
        return Err("forcemfa would not change its `before` at all (the plan was edited)".into());
    };
    let migrations: Vec<&str> = change.migrations.iter().map(|m| m.id.as_str()).collect();
    if c.migrations != migrations {
        return Err(format!(
            "its migrations ({}) are not the ones forcemfa applies ({}) (the plan was edited)",
            c.migrations.join(", "),
            migrations.join(", ")
        ));
    }
    if c.effect_summary != change.effect.summary {
        return Err("its effect summary is not what forcemfa derives (the plan was edited)".into());
    }
    Ok(*change)
}

/// The engine's input for a saved change, as the plan recorded it.
fn input(c: &PlannedChange) -> Input {
    let limit = c.limit.unwrap_or(match &c.target.kind {
        TargetKind::Inline { entity, .. } => SizeLimit::Inline {
            entity: *entity,
            others: 0,
        },
        _ => SizeLimit::Managed,
    });
    Input {
        target: c.target.clone(),
        text: c.before.clone(),
        limit,
        version_id: c.version_id.clone(),
        attachments: Vec::new(),
        iac_managed: c.iac_managed.clone(),
        style: None,
    }
}

/// A file change is written only to a file inside the folders and files the plan was made
/// from, named without `..` and resolved through links: a change edited to point elsewhere
/// (another file holding the same bytes, outside the tree) is refused.
fn bound_to_roots(c: &PlannedChange, roots: Option<&[PathBuf]>) -> Result<(), String> {
    let path = match &c.target.kind {
        TargetKind::File { path } | TargetKind::Embedded { path, .. } => path,
        _ => return Ok(()),
    };
    let Some(roots) = roots else {
        return Err(
            "the plan does not record which folders it was made from (it was made by an older forcemfa); make it again with `forcemfa plan --out FILE`".into(),
        );
    };
    if path
        .components()
        .any(|p| matches!(p, std::path::Component::ParentDir))
    {
        return Err(format!(
            "its path {} climbs out with `..` (the plan was edited)",
            path.display()
        ));
    }
    let real = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if roots.iter().any(|r| real.starts_with(r)) {
        Ok(())
    } else {
        Err(format!(
            "{} is not inside the folders the plan was made from (the plan was edited)",
            real.display()
        ))
    }
}

/// The canonical roots of a file plan, for `plan --out` to record.
pub fn roots_of(sources: &[PathBuf]) -> Vec<String> {
    sources
        .iter()
        .filter_map(|s| std::fs::canonicalize(s).ok())
        .map(|p| p.display().to_string())
        .collect()
}
