//! `migrations list` and `migrations show ID`: the embedded chain, as data.

use crate::cli::{Format, MigrationsAction};
use crate::engine::migration;
use crate::error::{Error, Exit};
use crate::report::json::pretty;
use crate::ui::Ui;

/// `migrations`.
pub fn migrations(
    ui: &Ui,
    format: Format,
    action: Option<MigrationsAction>,
) -> Result<Exit, Error> {
    let chain = migration::default_chain()?;
    match action.unwrap_or(MigrationsAction::List) {
        MigrationsAction::List if format == Format::Json => {
            let list: Vec<serde_json::Value> = chain
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "id": m.spec.id,
                        "name": m.spec.name,
                        "title": m.spec.title,
                        "severity": m.severity.as_str(),
                        "since": m.spec.since,
                        "checksum": m.checksum,
                        "file": m.file,
                    })
                })
                .collect();
            ui.out(&pretty("the migration list", &list)?)?;
        }
        MigrationsAction::List => {
            let mut out = String::new();
            for m in &chain {
                out.push_str(&format!(
                    "{}  {:<26} {:<8} since {}  {}\n",
                    m.spec.id,
                    m.spec.name,
                    m.severity.as_str(),
                    m.spec.since,
                    m.spec.title
                ));
            }
            ui.out(&out)?;
        }
        MigrationsAction::Show { id } => {
            let m = migration::find(&chain, &id).ok_or(Error::UnknownMigration(id))?;
            let text = migration::EMBEDDED
                .iter()
                .find(|(f, _)| *f == m.file)
                .map(|(_, t)| *t)
                .unwrap_or_default();
            ui.out(&format!(
                "{} {}: {}\nseverity: {}\nsince: {}\nchecksum: {}\n\n{}\nsources:\n{}\n\n--- {} ---\n{}",
                m.spec.id,
                m.spec.name,
                m.spec.title,
                m.severity.as_str(),
                m.spec.since,
                m.checksum,
                m.spec.why.trim(),
                m.spec
                    .sources
                    .iter()
                    .map(|s| format!("  {s}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                m.file,
                text
            ))?;
        }
    }
    Ok(Exit::Ok)
}
