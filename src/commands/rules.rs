//! The rules a run plans with, built once per run: the embedded migration chain and the
//! options, at the top level and for each `[[paths]]` table of `forcemfa.toml` (per-path
//! allow-before-mfa, skip-migration and size limit). Every step of the run borrows them.

use std::path::Path;

use crate::cli::resolved::{Origin, Profile, Resolved, KEPT_BY_CHOICE};
use crate::cli::{Kind, PlanArgs};
use crate::engine::detect::Finding;
use crate::engine::migration::{self, Migration, Options};
use crate::engine::plan::Item;
use crate::engine::policy;
use crate::error::Error;

/// The options of one profile, and where its skipped migrations were chosen.
struct Options1 {
    options: Options,
    kind: Kind,
    /// `FILE:LINE` or `command line`.
    skip_origin: String,
}

pub struct Rules {
    pub chain: Vec<Migration>,
    /// Where evidence of the principals' calls comes from (`--evidence*`).
    pub evidence: crate::sources::evidence::Options,
    /// Keep every change's effect rows (shown with `-v`); otherwise they are dropped as soon as
    /// each document is planned, so memory does not grow with the rows of every file.
    pub keep_effect_rows: bool,
    /// Index 0 is the top level, index `i + 1` the `[[paths]]` table `i`.
    profiles: Vec<Options1>,
    resolved: Resolved,
}

impl Rules {
    /// The chain and the top-level options; with `paths`, every `[[paths]]` table's too (file
    /// runs: an account has no paths, so its run does not check them).
    pub fn new(args: &PlanArgs, paths: bool) -> Result<Rules, Error> {
        let chain = migration::default_chain()?;
        let resolved = args.config.clone();
        let top_origin = resolved
            .settings
            .iter()
            .find(|s| s.key == "skip-migration")
            .map_or("command line".to_string(), |s| match &s.origin {
                Origin::File(at) => at.clone(),
                _ => "command line".to_string(),
            });
        let build = |p: Profile, skip_origin: String| -> Result<Options1, Error> {
            Ok(Options1 {
                options: Options::new(&p.allow_before_mfa)?
                    .skipping(&p.skip_migration, &chain)?
                    .acknowledging(&args.allow_risky_exemption)?,
                kind: p.kind,
                skip_origin,
            })
        };
        let mut profiles = vec![build(
            resolved.profile(args.profile(), None),
            top_origin.clone(),
        )?];
        if paths {
            for i in 0..resolved.paths.len() {
                let table = &resolved.paths[i];
                let origin = if table.skip_migration.is_some() {
                    table.at.clone()
                } else {
                    top_origin.clone()
                };
                profiles.push(
                    build(resolved.profile(args.profile(), Some(i)), origin).map_err(|e| {
                        Error::Input {
                            path: resolved.paths[i].at.clone(),
                            message: e.to_string(),
                        }
                    })?,
                );
            }
        }
        let impact = &args.aws.impact;
        let evidence = crate::sources::evidence::Options::new(
            &impact.evidence,
            impact.evidence_days,
            impact.evidence_regions.clone(),
        )
        .map_err(|message| Error::Input {
            path: "--evidence".into(),
            message,
        })?;
        Ok(Rules {
            chain,
            evidence,
            keep_effect_rows: true,
            profiles,
            resolved,
        })
    }

    /// Whether the effect rows are kept (`-v` shows them; nothing else reads them).
    pub fn with_effect_rows(mut self, keep: bool) -> Rules {
        self.keep_effect_rows = keep;
        self
    }

    /// A planned item as the run keeps it: without its effect rows unless they are shown.
    pub fn kept(&self, mut item: Item) -> Item {
        if let Item::Change(c) = &mut item {
            if !self.keep_effect_rows {
                c.effect.drop_rows();
            }
        }
        item
    }

    /// The options of the run (the top level): accounts, templates, saved plans.
    pub fn options(&self) -> &Options {
        &self.profiles[0].options
    }

    /// The profile for one policy file: index 0 (the top level) unless a `[[paths]]` table
    /// matches it.
    pub fn profile_for(&self, path: &Path) -> usize {
        let i = self.resolved.override_for(path).map_or(0, |i| i + 1);
        if i < self.profiles.len() {
            i
        } else {
            0
        }
    }

    /// The options and size limit of a profile.
    pub fn of(&self, profile: usize) -> (&Options, Kind) {
        let p = self.profiles.get(profile).unwrap_or(&self.profiles[0]);
        (&p.options, p.kind)
    }

    /// A migration skipped by choice still shows what it would have changed, as a finding that
    /// names where it was skipped: a skipped guard upgrade must not make a policy look up to
    /// date. `text` is the document `item` was planned from.
    pub fn note_kept(&self, item: &mut Item, text: &str, profile: usize) {
        let p = self.profiles.get(profile).unwrap_or(&self.profiles[0]);
        if p.options.skip_migration.is_empty() {
            return;
        }
        let findings = match item {
            Item::Change(c) => &mut c.findings,
            Item::Unchanged { findings, .. } => findings,
            _ => return,
        };
        let Ok(doc) = policy::parse(text) else {
            return;
        };
        let all = Options {
            skip_migration: Vec::new(),
            ..p.options.clone()
        };
        let would = migration::migrate(&doc.value, &self.chain, &all);
        for a in would.applied.iter().filter(|a| p.options.skips(&a.id)) {
            findings.push(Finding {
                rule: KEPT_BY_CHOICE.into(),
                severity: a.severity,
                message: format!(
                    "{} {} not applied: kept by choice: {} ({})",
                    a.id,
                    a.name,
                    p.skip_origin,
                    a.changes.join("; ")
                ),
                statement: None,
                sid: None,
            });
        }
    }
}
