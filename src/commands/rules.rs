//! The rules a run plans with, built once per run: the embedded migration chain and the
//! options, at the top level and for each `[[paths]]` table of `forcemfa.toml` (per-path
//! allow-before-mfa, skip-migration and size limit). Every step of the run borrows them.

use std::path::Path;

use crate::cli::config::{Profile, Resolved};
use crate::cli::{Kind, PlanArgs};
use crate::engine::migration::{self, Migration, Options};
use crate::error::Error;

pub struct Rules {
    pub chain: Vec<Migration>,
    /// Where evidence of the principals' calls comes from (`--evidence*`).
    pub evidence: crate::sources::evidence::Options,
    /// Index 0 is the top level, index `i + 1` the `[[paths]]` table `i`.
    profiles: Vec<(Options, Kind)>,
    resolved: Resolved,
}

impl Rules {
    /// The chain and the top-level options; with `paths`, every `[[paths]]` table's too (file
    /// runs: an account has no paths, so its run does not check them).
    pub fn new(args: &PlanArgs, paths: bool) -> Result<Rules, Error> {
        let chain = migration::default_chain()?;
        let build = |p: Profile| -> Result<(Options, Kind), Error> {
            Ok((
                Options::new(&p.allow_before_mfa)?.skipping(&p.skip_migration, &chain)?,
                p.kind,
            ))
        };
        let resolved = args.config.clone();
        let mut profiles = vec![build(resolved.profile(args, None))?];
        if paths {
            for i in 0..resolved.paths.len() {
                profiles.push(build(resolved.profile(args, Some(i))).map_err(|e| {
                    Error::Input {
                        path: resolved.paths[i].at.clone(),
                        message: e.to_string(),
                    }
                })?);
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
            profiles,
            resolved,
        })
    }

    /// The options of the run (the top level): accounts, templates, saved plans.
    pub fn options(&self) -> &Options {
        &self.profiles[0].0
    }

    /// The options and size limit for one policy file.
    pub fn for_path(&self, path: &Path) -> (&Options, Kind) {
        let i = self.resolved.override_for(path).map_or(0, |i| i + 1);
        let (options, kind) = self.profiles.get(i).unwrap_or(&self.profiles[0]);
        (options, *kind)
    }
}
