//! The infrastructure-as-code source: CloudFormation templates (YAML, JSON) and Terraform files
//! (`.tf`, `.tpl`) found in SOURCE folders. Each embedded policy is planned by the engine like a
//! policy file; a change carries the whole file before and after (only the policy's lines
//! differ), so that reports, diffs and SARIF point into the template. Writes are atomic and
//! checked against the file as it is now, policy by policy.

use std::path::{Path, PathBuf};

use forcemfa_iac::{self as iac, PolicyKind, Transplant};

use crate::engine::migration::{Migration, Options};
use crate::engine::plan::{self, Input, Item, PlannedChange, SizeLimit};
use crate::engine::target::{EntityKind, Target, TargetKind};
use crate::sources::files::{self, FileError};

/// Extensions an IaC file may have (CloudFormation is recognised by content).
const EXTENSIONS: &[&str] = &["yaml", "yml", "template", "json", "tf", "tpl", "tftpl"];

/// Split the files source's discoveries: CloudFormation JSON templates move to the IaC list,
/// and the folders are searched for YAML templates and Terraform files as well.
pub fn split(
    found: Vec<Result<PathBuf, FileError>>,
    sources: &[PathBuf],
) -> (Vec<Result<PathBuf, FileError>>, Vec<PathBuf>) {
    let mut plain = Vec::new();
    let mut iac_files = Vec::new();
    for f in found {
        match f {
            Ok(p) if is_iac(&p) => iac_files.push(p),
            other => plain.push(other),
        }
    }
    for src in sources {
        // Unreadable entries and links to folders are reported by the files source's own walk.
        for e in files::walk(src).flatten() {
            let p = e.path();
            let json = p
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("json"));
            if json || !has_iac_extension(p) {
                continue;
            }
            // A link to a template is followed (and written through, as policy files are); a
            // broken one is reported, never passed over.
            let link = e.path_is_symlink() && e.depth() > 0;
            let is_file = if link {
                match std::fs::metadata(p) {
                    Ok(m) => m.is_file(),
                    Err(source) => {
                        plain.push(Err(FileError::Io {
                            path: p.to_path_buf(),
                            source,
                        }));
                        continue;
                    }
                }
            } else {
                e.file_type().is_file()
            };
            if is_file && is_iac(p) {
                iac_files.push(p.to_path_buf());
            }
        }
    }
    // A JSON file a Terraform file renders with `templatefile` (or `template_file`) is a
    // template: `${…}` in it is Terraform's, so it is read and written as one, not as a plain
    // policy (where an added `${aws:username}` would break the template).
    let named = template_references(&iac_files);
    plain.retain(|f| match f {
        Ok(p) if named.contains(&canonical(p)) => {
            iac_files.push(p.clone());
            false
        }
        _ => true,
    });
    iac_files.sort();
    iac_files.dedup();
    // A template named twice (a link and its target) is planned, and written, once.
    (plain, files::dedup_by_file(iac_files))
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The template files the Terraform files among `paths` name (canonical paths).
fn template_references(paths: &[PathBuf]) -> std::collections::HashSet<PathBuf> {
    let mut out = std::collections::HashSet::new();
    for p in paths {
        if !p.extension().is_some_and(|x| x.eq_ignore_ascii_case("tf")) {
            continue;
        }
        let (Ok(text), Some(dir)) = (files::read(p), p.parent()) else {
            continue;
        };
        for rel in iac::template_references(&text) {
            let target = dir.join(rel);
            if target.is_file() {
                out.insert(canonical(&target));
            }
        }
    }
    out
}

/// The policies of an IaC file: by its kind, or as a template when it has no kind of its own
/// (a JSON file named by a `templatefile` call: only those reach the IaC list without one).
fn extract(path: &Path, text: &str) -> Result<Vec<iac::Embedded>, iac::IacError> {
    match iac::classify(&name(path), text) {
        Some(_) => iac::extract(&name(path), text),
        None => iac::extract_template(text),
    }
}

fn has_iac_extension(p: &Path) -> bool {
    p.extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| EXTENSIONS.iter().any(|e| x.eq_ignore_ascii_case(e)))
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether the file is one the IaC source reads (by name; by content for YAML and JSON).
fn is_iac(p: &Path) -> bool {
    if !has_iac_extension(p) {
        return false;
    }
    match files::read(p) {
        Ok(text) => iac::classify(&name(p), &text).is_some(),
        // Unreadable: let it be reported, by the IaC source unless it is JSON (files reports it).
        Err(_) => !p
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("json")),
    }
}

fn limit_for(kind: PolicyKind) -> SizeLimit {
    let inline = |entity| SizeLimit::Inline { entity, others: 0 };
    match kind {
        PolicyKind::Managed | PolicyKind::Unknown => SizeLimit::Managed,
        PolicyKind::InlineUser => inline(EntityKind::User),
        PolicyKind::InlineGroup => inline(EntityKind::Group),
        PolicyKind::InlineRole => inline(EntityKind::Role),
    }
}

/// The migration chain and options for one file (`forcemfa.toml`'s `[[paths]]` tables).
pub type Profile<'a> = &'a (dyn Fn(&Path) -> (&'a [Migration], &'a Options) + Sync);

/// Plan every embedded policy of every file, files in parallel; each file's items are handed to
/// `sink` in file order as soon as they are planned (a few files ahead at most, so that a run
/// over many templates holds a bounded number at once); each file with the chain and options
/// its path is given. An error from `sink` stops the planning and is returned.
pub fn plan_each<E>(
    paths: &[PathBuf],
    profile: Profile<'_>,
    sink: impl FnMut(Vec<Item>) -> Result<(), E>,
) -> Result<(), E> {
    super::parallel::for_each_in_order(
        paths,
        |p| {
            let (chain, options) = profile(p);
            plan_file(p, chain, options)
        },
        |p| {
            vec![Item::Error {
                target: Target::file(p),
                error: "internal error while planning (a bug in forcemfa: please report it)".into(),
            }]
        },
        sink,
    )
}

/// Plan the policies of one IaC file.
pub fn plan_file(path: &Path, chain: &[Migration], options: &Options) -> Vec<Item> {
    let text = match files::read(path) {
        Ok(t) => t,
        Err(e) => {
            return vec![Item::Error {
                target: Target::file(path),
                error: crate::sources::files::strip_path(&e.to_string()),
            }]
        }
    };
    let found = match extract(path, &text) {
        Ok(f) => f,
        // A form forcemfa does not read (Terraform 0.11 syntax): a person's to review, not an
        // error of the run.
        Err(iac::IacError::NeedsReview { message, .. }) => {
            return vec![Item::Skipped {
                target: Target::file(path),
                reason: message,
                findings: Vec::new(),
                needs_review: true,
            }]
        }
        Err(e) => {
            return vec![Item::Error {
                target: Target::file(path),
                error: format!("{e}; the file was left untouched"),
            }]
        }
    };
    found
        .iter()
        .map(|e| plan_suppressed(path, &text, e, chain, options))
        .collect()
}

use crate::engine::plan::SUPPRESSION_RULE;

/// Plan one embedded policy with the migrations its resource keeps off it (inline suppressions)
/// skipped, each named in a finding with its line and reason. A suppression naming no migration
/// is an error: a typo must not pass for a decision.
fn plan_suppressed(
    path: &Path,
    text: &str,
    e: &iac::Embedded,
    chain: &[Migration],
    options: &Options,
) -> Item {
    let suppressions = iac::suppressions(&name(path), text, e);
    if suppressions.is_empty() {
        return plan_embedded(path, text, e, chain, options);
    }
    let mut findings = Vec::new();
    for s in &suppressions {
        let Some(m) = crate::engine::migration::find(chain, s.migration.trim()) else {
            return Item::Error {
                target: Target {
                    account: None,
                    kind: TargetKind::Embedded {
                        path: path.to_path_buf(),
                        resource: e.resource.clone(),
                        line: e.line,
                    },
                },
                error: format!(
                    "line {}: forcemfa:skip names {:?}, which is no migration (`forcemfa migrations list` shows them); fix the suppression; the file was left untouched",
                    s.line, s.migration
                ),
            };
        };
        findings.push(crate::engine::detect::Finding {
            rule: SUPPRESSION_RULE.into(),
            // Shown with the policy even when it is up to date; the operator's own decision,
            // so it does not count as pending.
            severity: crate::engine::detect::Severity::Low,
            message: format!(
                "{} {} kept off this policy by an inline suppression (line {}): {}",
                m.spec.id,
                m.spec.name,
                s.line,
                if s.reason.is_empty() {
                    "no reason given"
                } else {
                    s.reason.as_str()
                }
            ),
            statement: None,
            sid: None,
        });
    }
    let keys: Vec<String> = suppressions.iter().map(|s| s.migration.clone()).collect();
    // Found above, so this cannot fail; fall back to the run's options all the same.
    let here = options
        .clone()
        .skipping(&keys, chain)
        .unwrap_or_else(|_| options.clone());
    with_findings(plan_embedded(path, text, e, chain, &here), findings)
}

fn with_findings(mut item: Item, extra: Vec<crate::engine::detect::Finding>) -> Item {
    if let Some(findings) = item.findings_mut() {
        findings.extend(extra);
    }
    item
}

/// Re-derive a saved change (see `PlanFile::rederive`): for a template, extract its policies
/// from the planned `before` (the whole file), plan the one the change names, and rewrite the
/// file; the result must be the planned `after` byte for byte. Other targets: the engine's own.
pub fn rederive(
    c: &crate::engine::plan::PlannedChange,
    chain: &[Migration],
    options: &Options,
) -> Result<(), String> {
    let TargetKind::Embedded { path, resource, .. } = &c.target.kind else {
        return c.rederive(chain, options);
    };
    if plan::sha256(&c.before) != c.before_sha256 {
        return Err("its `before` does not match its `before_sha256` (the plan was edited)".into());
    }
    let found = extract(path, &c.before)
        .map_err(|e| format!("its `before` is not a template forcemfa reads ({e})"))?;
    let e = found
        .iter()
        .find(|e| &e.resource == resource)
        .ok_or_else(|| format!("its `before` has no policy {resource} (the plan was edited)"))?;
    c.matches(plan_suppressed(path, &c.before, e, chain, options))
}

/// What forcemfa derives today from a saved template change's `before` (the whole file): the
/// item of the policy the change names, with the whole file's rewrite, for `apply --plan` to show
/// and compare. `None` for targets that are not templates.
pub fn derive_saved(
    c: &crate::engine::plan::PlannedChange,
    chain: &[Migration],
    options: &Options,
) -> Option<Result<Item, String>> {
    let TargetKind::Embedded { path, resource, .. } = &c.target.kind else {
        return None;
    };
    Some(
        iac::extract(&name(path), &c.before)
            .map_err(|e| format!("its `before` is not a template forcemfa reads ({e})"))
            .and_then(|found| {
                found
                    .iter()
                    .find(|e| &e.resource == resource)
                    .map(|e| plan_suppressed(path, &c.before, e, chain, options))
                    .ok_or_else(|| {
                        format!("its `before` has no policy {resource} (the plan was edited)")
                    })
            }),
    )
}

fn plan_embedded(
    path: &Path,
    text: &str,
    e: &iac::Embedded,
    chain: &[Migration],
    options: &Options,
) -> Item {
    let target = Target {
        account: None,
        kind: TargetKind::Embedded {
            path: path.to_path_buf(),
            resource: e.resource.clone(),
            line: e.line,
        },
    };
    let input = Input::file(target.clone(), e.policy_text(), limit_for(e.kind));
    let item = show_placeholders(plan::plan_one(&input, chain, options), e);
    let obstacle = |findings| {
        let reason = match e.obstacles.iter().find(|o| o.unreadable) {
            Some(o) => format!(
                "cannot be checked or rewritten faithfully: line {}: {}",
                o.line, o.what
            ),
            None => {
                "the rewritten policy could not be read back (a bug in forcemfa: please report it)"
                    .into()
            }
        };
        Item::Skipped {
            target: target.clone(),
            reason,
            findings,
            needs_review: true,
        }
    };
    match item {
        // A policy forcemfa could not read fully: no verdict but a person's.
        Item::Unchanged { findings, .. } | Item::Skipped { findings, .. }
            if e.obstacles.iter().any(|o| o.unreadable) =>
        {
            obstacle(findings)
        }
        Item::Change(mut c) => {
            let new_policy: serde_json::Value = match serde_json::from_str(&c.after) {
                Ok(v) => v,
                Err(_) => return obstacle(c.findings.clone()),
            };
            match iac::rewrite(text, e, &new_policy) {
                Ok(new_text) => {
                    let label = path.display().to_string();
                    c.diff =
                        crate::engine::diff::diff(text, &new_text, label.trim_start_matches('/'));
                    c.before_sha256 = plan::sha256(text);
                    c.before = text.to_string();
                    c.after = new_text;
                    Item::Change(c)
                }
                Err(unfaithful) => {
                    let what: Vec<String> = c
                        .migrations
                        .iter()
                        .flat_map(|a| a.changes.iter().cloned())
                        .collect();
                    Item::Skipped {
                        target,
                        reason: e.show(&format!(
                            "{}; what should change (by hand): {}",
                            crate::sources::files::strip_path(&unfaithful.to_string()),
                            what.join("; ")
                        )),
                        findings: c.findings.clone(),
                        needs_review: true,
                    }
                }
            }
        }
        other => other,
    }
}

/// Findings name placeholders as the file writes them. Only messages: the documents keep their
/// placeholders for the writer.
fn show_placeholders(mut item: Item, e: &iac::Embedded) -> Item {
    for f in item.findings_mut().into_iter().flatten() {
        f.message = e.show(&f.message);
    }
    match &mut item {
        Item::Change(c) => {
            for line in c.migrations.iter_mut().flat_map(|a| a.changes.iter_mut()) {
                *line = e.show(line);
            }
        }
        Item::Skipped { reason, .. } => *reason = e.show(reason),
        _ => {}
    }
    item
}

/// The outcome of writing one planned change to its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Applied,
    AlreadyApplied,
    Stale(String),
}

/// Write one planned change: carried over to the file as it is now (other policies of the same
/// file may have been rewritten already), refused when this policy changed since the plan.
pub fn write(path: &Path, resource: &str, c: &PlannedChange) -> Result<Written, FileError> {
    let current = files::read(path)?;
    match iac::transplant(&name(path), &current, &c.before, &c.after, resource) {
        Transplant::AlreadyApplied => Ok(Written::AlreadyApplied),
        Transplant::Stale(why) => Ok(Written::Stale(format!(
            "{}: {why}; nothing written: plan again",
            path.display()
        ))),
        Transplant::Write(new_text) => match files::write_atomic(path, &current, &new_text) {
            Ok(()) => verify_written(path, resource, c, &current),
            Err(FileError::Stale { .. }) => Ok(Written::Stale(format!(
                "{} changed while being applied; nothing written",
                path.display()
            ))),
            Err(e) => Err(e),
        },
    }
}

/// After a write, the file is read and parsed again: it must yield, for `resource`, exactly the
/// policy the plan's `after` yields. Otherwise the original bytes are put back and the write is
/// reported as failed, naming the file and why.
fn verify_written(
    path: &Path,
    resource: &str,
    c: &PlannedChange,
    original: &str,
) -> Result<Written, FileError> {
    #[cfg(debug_assertions)]
    fault::after_write(path);
    let now = files::read(path)?;
    let Err(why) = check_written(&name(path), &now, &c.after, resource) else {
        return Ok(Written::Applied);
    };
    let restored = match files::write_atomic(path, &now, original) {
        Ok(()) => "the original bytes were restored".to_string(),
        Err(e) => format!(
            "restoring the original failed too ({}): restore it from version control",
            crate::sources::files::strip_path(&e.to_string())
        ),
    };
    Err(FileError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!(
            "after writing, the file no longer yields the planned policy of {resource} ({why}); {restored}"
        )),
    })
}

/// Whether `now` (the file as written) yields for `resource` the policy `planned_after` (the
/// plan's whole-file after text) yields.
pub fn check_written(
    file_name: &str,
    now: &str,
    planned_after: &str,
    resource: &str,
) -> Result<(), String> {
    let policy_of = |text: &str, what: &str| -> Result<serde_json::Value, String> {
        let found =
            iac::extract(file_name, text).map_err(|e| format!("{what} does not parse: {e}"))?;
        found
            .into_iter()
            .find(|e| e.resource == resource)
            .map(|e| e.policy)
            .ok_or_else(|| format!("{what} has no policy {resource}"))
    };
    let planned = policy_of(planned_after, "the planned text")?;
    let got = policy_of(now, "the file")?;
    if got == planned {
        Ok(())
    } else {
        Err("its policy differs from the planned one".into())
    }
}

/// A test-only seam (debug builds only): `FORCEMFA_TEST_FAULT_AFTER_WRITE=TEXT` appends TEXT to
/// the file right after it is written, as a faulty write or a writer bug would leave it, so that
/// the check after the write can be tested end to end.
#[cfg(debug_assertions)]
mod fault {
    use std::io::Write;

    pub fn after_write(path: &std::path::Path) {
        let Ok(extra) = std::env::var("FORCEMFA_TEST_FAULT_AFTER_WRITE") else {
            return;
        };
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(path) {
            let _ = f.write_all(extra.as_bytes());
        }
    }
}

/// Which stack or Terraform configuration owns a live policy, from its tags, and how to fix it
/// there: a live rewrite would be reverted by the next deployment.
pub fn owner(tags: &[(String, String)]) -> Option<String> {
    let tag = |name: &str| {
        tags.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if let Some(stack) = tag("aws:cloudformation:stack-name") {
        let resource = tag("aws:cloudformation:logical-id")
            .map(|l| format!(", resource {l}"))
            .unwrap_or_default();
        return Some(format!(
            "CloudFormation stack {stack}{resource} (tag aws:cloudformation:stack-name); `forcemfa plan PATH-TO-TEMPLATE` rewrites it in the template"
        ));
    }
    let (key, value) = tags.iter().find(|(k, _)| {
        let k = k.to_ascii_lowercase();
        k.starts_with("terraform") || k.starts_with("tf_") || k.starts_with("tf:")
    })?;
    Some(format!(
        "Terraform (tag {key}={value}); `forcemfa plan PATH-TO-TF-FOLDER` rewrites it in the .tf source"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn live_policies_point_to_their_source() {
        let cfn = owner(&tags(&[
            ("aws:cloudformation:stack-name", "mfa"),
            ("aws:cloudformation:logical-id", "ForceMfaPolicy"),
        ]))
        .unwrap_or_default();
        assert!(cfn.contains("stack mfa, resource ForceMfaPolicy"), "{cfn}");
        assert!(cfn.contains("forcemfa plan PATH-TO-TEMPLATE"));
        let tf = owner(&tags(&[("terraform-module", "iam/mfa")])).unwrap_or_default();
        assert!(tf.contains("terraform-module=iam/mfa") && tf.contains("forcemfa plan"));
        assert_eq!(owner(&tags(&[("team", "x")])), None);
    }
}
