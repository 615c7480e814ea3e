//! Planning: the pure per-document pipeline (detect → migrate → check → verify → diff) and the
//! plan it produces. Nothing here touches the outside world.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::detect::{self, Finding, Generation, Status};
use crate::diff::{self, Diff};
use crate::effect;
use crate::migration::{self, Applied, Migration, Options};
use crate::policy::{self, Style};
use crate::target::{EntityKind, Target, TargetKind, MANAGED_LIMIT};

/// Which IAM size limit a document must fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SizeLimit {
    /// A managed policy: 6,144 non-whitespace characters.
    Managed,
    /// An inline policy: the entity's aggregate, of which `others` is used by its other inline
    /// policies.
    Inline { entity: EntityKind, others: usize },
}

impl SizeLimit {
    pub fn limit(self) -> usize {
        match self {
            SizeLimit::Managed => MANAGED_LIMIT,
            SizeLimit::Inline { entity, others } => entity.inline_limit().saturating_sub(others),
        }
    }
}

/// One document to plan for.
#[derive(Debug, Clone)]
pub struct Input {
    pub target: Target,
    /// The text as found (file contents, or the document IAM returned).
    pub text: String,
    pub limit: SizeLimit,
    /// The managed policy version the text is (for stale checks and journals).
    pub version_id: Option<String>,
    /// Who the policy reaches ("user/alice", "group/devs").
    pub attachments: Vec<String>,
    /// Why the policy looks managed by infrastructure-as-code, if it does.
    pub iac_managed: Option<String>,
    /// Style to print a rewritten document in when the source has none of its own (IAM).
    pub style: Option<Style>,
}

impl Input {
    pub fn file(target: Target, text: String, limit: SizeLimit) -> Input {
        Input {
            target,
            text,
            limit,
            version_id: None,
            attachments: Vec::new(),
            iac_managed: None,
            style: None,
        }
    }
}

/// Structural checks on the new document, all done before anything is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checks {
    /// Non-whitespace characters of the new document.
    pub size: usize,
    pub limit: usize,
    /// Characters IAM does not accept.
    pub disallowed: Vec<char>,
    /// Running the chain on the new document changes nothing.
    pub idempotent: bool,
}

/// The effect verification of one change.
#[derive(Debug, Clone, Serialize)]
pub struct EffectReport {
    /// Grouped, human-readable lines.
    pub summary: Vec<String>,
    /// How many actions change in some context (the rows' distinct actions; kept when the rows
    /// are dropped).
    pub changed_actions: usize,
    /// Every cell that differs: the bulk of a change (about a hundred kilobytes in JSON), kept
    /// only where they are shown (`-v`); see [`EffectReport::drop_rows`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<effect::EffectRow>,
    /// Rows no applied migration declares: any makes the change blocked.
    pub unexplained: Vec<effect::EffectRow>,
    /// Parts of the documents the evaluator could not decide.
    pub unknown: Vec<String>,
    pub universe_actions: usize,
    pub source: &'static str,
    /// What the change means, in the operator's words (read from the same evaluation as the
    /// rows).
    pub plain: effect::summary::Plain,
    /// Why the effect diff was not computed (the document is blocked for a cheaper reason
    /// first, e.g. its size); `None` when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_computed: Option<String>,
}

impl EffectReport {
    /// Forget the rows once the change is decided (the summary, the count, the unexplained rows
    /// and everything checked from them stay): a run over many files then holds a few kilobytes
    /// per change, not a hundred.
    pub fn drop_rows(&mut self) {
        self.rows = Vec::new();
    }

    /// No effect diff: the change is blocked before it (its cost grows with the square of the
    /// document, and a document IAM will refuse anyway is not worth minutes).
    fn not_computed(why: String) -> EffectReport {
        EffectReport {
            summary: Vec::new(),
            changed_actions: 0,
            rows: Vec::new(),
            unexplained: Vec::new(),
            unknown: Vec::new(),
            universe_actions: 0,
            source: effect::ACTIONS_SOURCE,
            plain: effect::summary::Plain::default(),
            not_computed: Some(why),
        }
    }
}

/// A proposed rewrite of one document.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// Short, stable id: the same target and starting document give the same id.
    pub id: String,
    pub target: Target,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<Generation>,
    pub findings: Vec<Finding>,
    pub migrations: Vec<Applied>,
    pub options: Options,
    pub before: String,
    pub after: String,
    pub before_sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    pub diff: Diff,
    pub effect: EffectReport,
    pub checks: Checks,
    /// The size limit it was checked against.
    #[serde(skip)]
    pub limit: SizeLimit,
    /// Why this change must not be published; empty when it may be.
    pub blocked: Vec<String>,
    /// Things the operator should know (formatting normalised, IaC-managed, …).
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iac_managed: Option<String>,
    /// Who the change affects (account targets only; filled in by the caller, which reads the
    /// principals and their credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact: Option<crate::impact::Impact>,
}

impl Change {
    pub fn is_blocked(&self) -> bool {
        !self.blocked.is_empty()
    }
}

/// What planning concluded for one document.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Item {
    Change(Box<Change>),
    /// A force-MFA policy already in the current form.
    Unchanged {
        target: Target,
        #[serde(skip_serializing_if = "Option::is_none")]
        generation: Option<Generation>,
        findings: Vec<Finding>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<String>,
    },
    /// Not touched: not a policy, no MFA guard, or a guard forcemfa will not guess about.
    Skipped {
        target: Target,
        reason: String,
        findings: Vec<Finding>,
        /// A force-MFA policy that needs a person (ambiguous guard): worth attention.
        needs_review: bool,
    },
    /// Could not be read or parsed.
    Error {
        target: Target,
        error: String,
    },
}

impl Item {
    /// A high or critical finding (an exemption that opens IAM before MFA, a guard forcemfa
    /// cannot rewrite): `scan --detailed-exitcode` counts it as pending.
    pub fn has_serious_finding(&self) -> bool {
        let findings = match self {
            Item::Change(c) => &c.findings,
            Item::Unchanged { findings, .. } | Item::Skipped { findings, .. } => findings,
            Item::Error { .. } => return false,
        };
        findings
            .iter()
            .any(|f| f.severity >= detect::Severity::High)
    }

    /// The findings of an item that has them (an error has none), to add to or reword.
    pub fn findings_mut(&mut self) -> Option<&mut Vec<Finding>> {
        match self {
            Item::Change(c) => Some(&mut c.findings),
            Item::Unchanged { findings, .. } | Item::Skipped { findings, .. } => Some(findings),
            Item::Error { .. } => None,
        }
    }

    pub fn target(&self) -> &Target {
        match self {
            Item::Change(c) => &c.target,
            Item::Unchanged { target, .. }
            | Item::Skipped { target, .. }
            | Item::Error { target, .. } => target,
        }
    }
}

pub fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn change_id(target: &Target, before_sha: &str) -> String {
    sha256(&format!("{target}\n{before_sha}"))[..12].to_string()
}

fn label(target: &Target) -> String {
    match &target.kind {
        TargetKind::File { path } => path
            .display()
            .to_string()
            .trim_start_matches('/')
            .to_string(),
        TargetKind::Managed { name, .. } => name.clone(),
        TargetKind::Embedded { path, resource, .. } => format!(
            "{} ({resource})",
            path.display().to_string().trim_start_matches('/')
        ),
        TargetKind::Inline {
            entity,
            entity_name,
            policy_name,
        } => format!("{}/{entity_name}/{policy_name}", entity.as_str()),
    }
}

/// Findings for what the migrations would change, one per applied migration line.
fn migration_findings(applied: &[Applied]) -> Vec<Finding> {
    applied
        .iter()
        .flat_map(|a| {
            a.changes.iter().map(move |c| Finding {
                rule: format!("{}-{}", a.id, a.name),
                severity: a.severity,
                message: c.clone(),
                statement: None,
                sid: None,
            })
        })
        .collect()
}

/// Why a document cannot fit its size limit after any migration, if it cannot. Migrations only
/// shorten a document by editing its `Deny` statements (guards) and by widening
/// `mfa/${aws:username}` to `mfa/*`; if the document is over the limit even with all of that
/// removed, no plan for it can be published.
fn hopelessly_oversized(doc: &serde_json::Value, limit: SizeLimit) -> Option<String> {
    let size = policy::iam_size(&policy::render_compact(doc));
    let limit_chars = limit.limit();
    if size <= limit_chars {
        return None;
    }
    let deny: usize = policy::statements(doc)
        .into_iter()
        .filter(|s| policy::effect(s).as_deref() == Some("deny"))
        .map(|s| policy::iam_size(&policy::render_compact(s)))
        .sum();
    let widen = policy::render_compact(doc)
        .matches("${aws:username}")
        .count()
        * 14;
    (size.saturating_sub(deny + widen) > limit_chars).then(|| {
        format!(
            "the document has {size} non-whitespace characters, over the size limit of {limit_chars} whatever the migrations change: not planned; split it into smaller policies"
        )
    })
}

/// Plan one document: the whole pure pipeline.
pub fn plan_one(input: &Input, chain: &[Migration], options: &Options) -> Item {
    let parsed = match screen(input) {
        Ok(parsed) => parsed,
        Err(item) => return *item,
    };
    let chosen = options.actions();
    let detection = detect::detect_with(&parsed.value, &chosen);
    let mut findings = detection.findings.clone();
    match &detection.status {
        // No guard: left alone, unless a migration narrows a targeted requirement's MFA test
        // (that goes through every check below like any change).
        Status::NoGuard if !migration::migrate(&parsed.value, chain, options).changed() => {
            return Item::Skipped {
                target: input.target.clone(),
                reason: detection.no_guard_reason(),
                findings,
                needs_review: false,
            }
        }
        Status::NoGuard => {}
        Status::Ambiguous { reason } => {
            return Item::Skipped {
                target: input.target.clone(),
                reason: format!("MFA guard left alone: {reason}"),
                findings,
                needs_review: true,
            }
        }
        Status::Guarded { .. } => {}
    }
    let outcome = migration::migrate(&parsed.value, chain, options);
    if !outcome.changed() {
        return Item::Unchanged {
            target: input.target.clone(),
            generation: detection.generation,
            findings,
            attachments: input.attachments.clone(),
        };
    }
    // What the rewrite leaves exempt is reported on the rewritten document, not the original.
    findings.retain(|f| f.rule != detect::EXEMPTION_RULE);
    findings.extend(migration_findings(&outcome.applied));
    findings.extend(detect::exemption_findings_of(&outcome.document, &chosen));

    let style = output_style(input, &parsed);
    let before_normalised = policy::render(&parsed.value, &style);
    let after = policy::render(&outcome.document, &style);
    let diff = diff::diff(&before_normalised, &after, &label(&input.target));
    let again = migration::migrate(&outcome.document, chain, options);
    let checks = Checks {
        size: policy::iam_size(&policy::render_compact(&outcome.document)),
        limit: input.limit.limit(),
        disallowed: policy::disallowed_characters(&after),
        idempotent: !again.changed(),
    };
    let (effect_report, violations) = verify_effect(&parsed.value, &outcome, &checks, &chosen);
    let blocked = blocked_reasons(&violations, &checks, input.limit, &effect_report);
    let notes = notes_for(input, &parsed, &before_normalised, options);

    let before_sha256 = sha256(&input.text);
    Item::Change(Box::new(Change {
        id: change_id(&input.target, &before_sha256),
        target: input.target.clone(),
        generation: detection.generation,
        findings,
        migrations: outcome.applied,
        options: options.clone(),
        before: input.text.clone(),
        after,
        before_sha256,
        version_id: input.version_id.clone(),
        diff,
        effect: effect_report,
        checks,
        limit: input.limit,
        blocked,
        notes,
        attachments: input.attachments.clone(),
        iac_managed: input.iac_managed.clone(),
        impact: None,
    }))
}

/// The document parsed, or the item that ends its planning early: not JSON, not a policy, or
/// too large for any rewrite to fit (checked before anything costly, since detection and
/// migration grow with the document's size).
fn screen(input: &Input) -> Result<policy::Parsed, Box<Item>> {
    let parsed = policy::parse(&input.text).map_err(|e| {
        Box::new(Item::Error {
            target: input.target.clone(),
            error: format!("{e}; the document was left untouched"),
        })
    })?;
    if let Some(reason) = policy::not_a_policy_reason(&parsed.value) {
        return Err(Box::new(Item::Skipped {
            target: input.target.clone(),
            reason: format!("not an IAM policy document: {reason}"),
            findings: Vec::new(),
            needs_review: false,
        }));
    }
    if let Some(error) = hopelessly_oversized(&parsed.value, input.limit) {
        return Err(Box::new(Item::Error {
            target: input.target.clone(),
            error,
        }));
    }
    Ok(parsed)
}

/// Files keep their own style; documents from IAM (and URL-encoded files) get a readable one.
fn output_style(input: &Input, parsed: &policy::Parsed) -> Style {
    if parsed.style.url_encoded
        || matches!(
            input.target.kind,
            TargetKind::Managed { .. } | TargetKind::Inline { .. }
        )
    {
        input.style.clone().unwrap_or_default()
    } else {
        parsed.style.clone()
    }
}

/// The effect diff against the declared effects and the never-less-safe invariant, or, for a
/// document over its size limit, neither: the effect diff is the expensive step, and such a
/// document is blocked without it.
fn verify_effect(
    before: &serde_json::Value,
    outcome: &migration::Outcome,
    checks: &Checks,
    chosen: &[String],
) -> (EffectReport, Vec<effect::invariant::Violation>) {
    if checks.size > checks.limit {
        let report = EffectReport::not_computed(format!(
            "not computed: the new document is over the size limit ({} of {} non-whitespace characters)",
            checks.size, checks.limit
        ));
        return (report, Vec::new());
    }
    let (ediff, plain) = effect::effect_diff_and_plain(before, &outcome.document);
    let unexplained: Vec<effect::EffectRow> = effect::unexplained(&ediff, &outcome.declared)
        .into_iter()
        .cloned()
        .collect();
    let violations = effect::invariant::check(before, &outcome.document, &ediff, chosen);
    let all_rows: Vec<&effect::EffectRow> = ediff.rows.iter().collect();
    let summary = effect::summarize(&all_rows);
    let report = EffectReport {
        summary,
        changed_actions: ediff
            .rows
            .iter()
            .map(|r| r.action.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        unexplained,
        unknown: ediff.unknown,
        universe_actions: ediff.universe_actions,
        source: ediff.source,
        rows: ediff.rows,
        plain,
        not_computed: None,
    };
    (report, violations)
}

/// Why the change must not be published, the invariant's violations first: they are the
/// reason that matters most.
fn blocked_reasons(
    violations: &[effect::invariant::Violation],
    checks: &Checks,
    limit: SizeLimit,
    effect_report: &EffectReport,
) -> Vec<String> {
    let mut blocked: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
    if checks.size > checks.limit {
        blocked.push(format!(
            "the new document has {} non-whitespace characters, over the limit of {}{}",
            checks.size,
            checks.limit,
            match limit {
                SizeLimit::Managed => " for a managed policy".to_string(),
                SizeLimit::Inline { entity, others } => format!(
                    " left for inline policies of this {} ({} in all, {} used by its other inline policies)",
                    entity.as_str(),
                    entity.inline_limit(),
                    others
                ),
            }
        ));
    }
    if !checks.disallowed.is_empty() {
        blocked.push(format!(
            "the new document has characters IAM refuses: {:?}",
            checks.disallowed
        ));
    }
    if !checks.idempotent {
        blocked.push("a second run of the migrations would change the document again (a bug in forcemfa: please report it)".into());
    }
    if !effect_report.unexplained.is_empty() {
        let rows: Vec<&effect::EffectRow> = effect_report.unexplained.iter().collect();
        blocked.push(format!(
            "the access change is not what the migrations declare: {}",
            effect::summarize(&rows).join("; ")
        ));
    }
    blocked
}

/// What the operator should know about how the change is written and what it opens.
fn notes_for(
    input: &Input,
    parsed: &policy::Parsed,
    before_normalised: &str,
    options: &Options,
) -> Vec<String> {
    let is_file = matches!(input.target.kind, TargetKind::File { .. });
    let mut notes = Vec::new();
    if is_file && !parsed.style.url_encoded && before_normalised != input.text {
        notes.push("the file's layout is normalised when written (indentation and line breaks of untouched parts may change; their content does not)".into());
    }
    if let Some(why) = &input.iac_managed {
        notes.push(format!(
            "managed by infrastructure-as-code ({why}): a live rewrite will be reverted by the next deployment; change the source instead"
        ));
    }
    if options.allows("iam:DeleteVirtualMFADevice") {
        notes.push("WARNING: --allow-before-mfa mfa-device-cleanup lets a user without MFA delete an MFA device; AWS advises against it (an administrator should delete half-created devices)".into());
    }
    if parsed.style.url_encoded && is_file {
        notes.push("the file held a URL-encoded document; it is written back as plain JSON".into());
    }
    notes
}

/// Totals over a set of items.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub changes: usize,
    pub blocked: usize,
    pub unchanged: usize,
    pub skipped: usize,
    pub needs_review: usize,
    pub errors: usize,
}

impl Summary {
    /// Counts one more item.
    pub fn add(&mut self, item: &Item) {
        match item {
            Item::Change(c) if c.is_blocked() => self.blocked += 1,
            Item::Change(_) => self.changes += 1,
            Item::Unchanged { .. } => self.unchanged += 1,
            Item::Skipped { needs_review, .. } => {
                self.skipped += 1;
                if *needs_review {
                    self.needs_review += 1;
                }
            }
            Item::Error { .. } => self.errors += 1,
        }
    }
}

pub fn summarize(items: &[Item]) -> Summary {
    let mut s = Summary::default();
    for i in items {
        s.add(i);
    }
    s
}

/// The schema of saved plans; bump on incompatible change.
pub const PLAN_SCHEMA: &str = "forcemfa-plan/1";

/// A saved plan (`plan --out FILE`): exactly what `apply --plan FILE` will write, and what it
/// was planned against, so that a reviewed plan is applied as reviewed or not at all.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PlanFile {
    pub schema: String,
    pub tool_version: String,
    pub created: String,
    /// The whole migration chain the plan was made with (id, checksum).
    pub migrations: Vec<PlannedMigration>,
    pub options: Options,
    pub changes: Vec<PlannedChange>,
    /// Changes that were blocked by verification: listed for the record, never applied.
    #[serde(default)]
    pub blocked: Vec<String>,
    /// How the plan's accounts are reached (AWS plans; absent for files). Set by the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reach: Option<crate::reach::Reach>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PlannedMigration {
    pub id: String,
    pub checksum: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PlannedChange {
    pub id: String,
    pub target: Target,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// SHA-256 of the document text the change was planned against.
    pub before_sha256: String,
    pub before: String,
    pub after: String,
    /// Ids of the migrations this change applies.
    pub migrations: Vec<String>,
    pub effect_summary: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iac_managed: Option<String>,
    /// The size limit the change was planned against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<SizeLimit>,
    /// The impact the change was reviewed with (account targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<crate::impact::Impact>,
    /// Migrations the operator kept off this policy where it is written (inline suppressions
    /// in a template), each with its line and reason, as the plan showed them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<String>,
}

/// Rule of the finding that names a migration kept off one policy by an inline suppression.
pub const SUPPRESSION_RULE: &str = "inline-suppression";

impl PlannedChange {
    /// Whether `derived` (what the engine makes of this change's `before` today) is exactly
    /// this change: a change, not blocked, with the same `after` byte for byte and the same id.
    pub fn matches(&self, derived: Item) -> Result<(), String> {
        match derived {
            Item::Change(c) if c.is_blocked() => Err(format!(
                "forcemfa blocks this change: {}",
                c.blocked.join("; ")
            )),
            Item::Change(c) if c.after != self.after => Err(
                "its `after` is not what forcemfa derives from its `before` (the plan was edited, or made by another version)"
                    .into(),
            ),
            Item::Change(c) if c.id != self.id => {
                Err("its change id is not the one forcemfa derives (the plan was edited)".into())
            }
            Item::Change(_) => Ok(()),
            _ => Err("forcemfa would not change its `before` at all (the plan was edited)".into()),
        }
    }

    /// Re-run the engine on the planned `before` with the plan's migrations and options, and
    /// accept the change only if that yields the planned `after` byte for byte and passes every
    /// check, the never-less-safe invariant included. The engine is deterministic, so an edited
    /// plan (a changed `after`, a removed guard, an added `Allow *`) cannot pass, and no signature
    /// is needed. `Err` says why, for the operator.
    pub fn rederive(&self, chain: &[Migration], options: &Options) -> Result<(), String> {
        if sha256(&self.before) != self.before_sha256 {
            return Err(
                "its `before` does not match its `before_sha256` (the plan was edited)".into(),
            );
        }
        let limit = self.limit.unwrap_or(match &self.target.kind {
            TargetKind::Inline { entity, .. } => SizeLimit::Inline {
                entity: *entity,
                others: 0,
            },
            _ => SizeLimit::Managed,
        });
        let input = Input {
            target: self.target.clone(),
            text: self.before.clone(),
            limit,
            version_id: self.version_id.clone(),
            attachments: Vec::new(),
            iac_managed: self.iac_managed.clone(),
            style: None,
        };
        self.matches(plan_one(&input, chain, options))
    }
}

/// Why a saved plan cannot be applied as it is.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanFileError {
    #[error("not a forcemfa plan (schema {found:?}, expected {PLAN_SCHEMA:?}); make it again with `forcemfa plan --out FILE`")]
    Schema { found: String },
    #[error("the plan was made with other migrations ({detail}); make the plan again with this version of forcemfa and review it")]
    Migrations { detail: String },
    #[error("the plan was made with {planned:?}, this run asks for {given:?}; drop the options (the plan records its own) or make the plan again")]
    Options {
        planned: Vec<String>,
        given: Vec<String>,
    },
    #[error("the plan keeps {action} exempt before MFA without the acknowledgement that exemption needs (--allow-risky-exemption {action}): it was edited or made without it; make the plan again and review it", action = .0.action)]
    Risky(migration::RiskyExemption),
}

impl PlanFile {
    pub fn new(
        items: &[Item],
        chain: &[Migration],
        options: &Options,
        created: String,
    ) -> PlanFile {
        let mut changes = Vec::new();
        let mut blocked = Vec::new();
        for item in items {
            let Item::Change(c) = item else { continue };
            if c.is_blocked() {
                blocked.push(format!("{} ({})", c.id, c.target));
                continue;
            }
            changes.push(PlannedChange {
                id: c.id.clone(),
                target: c.target.clone(),
                version_id: c.version_id.clone(),
                before_sha256: c.before_sha256.clone(),
                before: c.before.clone(),
                after: c.after.clone(),
                migrations: c.migrations.iter().map(|m| m.id.clone()).collect(),
                effect_summary: c.effect.summary.clone(),
                iac_managed: c.iac_managed.clone(),
                limit: Some(c.limit),
                impact: c.impact.clone(),
                suppressed: c
                    .findings
                    .iter()
                    .filter(|f| f.rule == SUPPRESSION_RULE)
                    .map(|f| f.message.clone())
                    .collect(),
            });
        }
        PlanFile {
            schema: PLAN_SCHEMA.into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            created,
            migrations: chain
                .iter()
                .map(|m| PlannedMigration {
                    id: m.spec.id.clone(),
                    checksum: m.checksum.clone(),
                })
                .collect(),
            options: options.clone(),
            changes,
            blocked,
            reach: None,
        }
    }

    /// Re-derive every change ([`PlannedChange::rederive`]) with this plan's own options. A change
    /// that does not re-derive is taken out of `changes` and listed in `blocked`, never applied;
    /// the returned lines say which and why.
    pub fn rederive(&mut self, chain: &[Migration]) -> Vec<String> {
        self.rederive_with(chain, |c, chain, options| c.rederive(chain, options))
    }

    /// [`PlanFile::rederive`] with the source's own derivation (a template re-derives the whole
    /// file from its `before`, see the IaC source).
    pub fn rederive_with(
        &mut self,
        chain: &[Migration],
        derive: impl Fn(&PlannedChange, &[Migration], &Options) -> Result<(), String>,
    ) -> Vec<String> {
        let mut refused = Vec::new();
        let options = self.options.clone();
        let changes = std::mem::take(&mut self.changes);
        for c in changes {
            match derive(&c, chain, &options) {
                Ok(()) => self.changes.push(c),
                Err(why) => {
                    refused.push(format!(
                        "change {} ({}) refused: the plan does not match what forcemfa derives: {why}",
                        c.id, c.target
                    ));
                    self.blocked.push(format!("{} ({})", c.id, c.target));
                }
            }
        }
        refused
    }

    /// Refuse a plan made with another schema, other migrations, or (when the operator gives
    /// options again) other options.
    pub fn check(&self, chain: &[Migration], given: Option<&Options>) -> Result<(), PlanFileError> {
        if self.schema != PLAN_SCHEMA {
            return Err(PlanFileError::Schema {
                found: self.schema.clone(),
            });
        }
        let ours: Vec<PlannedMigration> = chain
            .iter()
            .map(|m| PlannedMigration {
                id: m.spec.id.clone(),
                checksum: m.checksum.clone(),
            })
            .collect();
        if ours != self.migrations {
            let detail = self
                .migrations
                .iter()
                .filter(|p| !ours.contains(p))
                .map(|p| format!("{} {}", p.id, p.checksum))
                .chain(
                    ours.iter()
                        .filter(|o| !self.migrations.contains(o))
                        .map(|o| format!("now {} {}", o.id, o.checksum)),
                )
                .collect::<Vec<_>>()
                .join(", ");
            return Err(PlanFileError::Migrations { detail });
        }
        self.options.check_risk().map_err(PlanFileError::Risky)?;
        if let Some(given) = given {
            let differs = (!given.allow_before_mfa.is_empty()
                && given.allow_before_mfa != self.options.allow_before_mfa)
                || (!given.skip_migration.is_empty()
                    && given.skip_migration != self.options.skip_migration);
            if differs {
                return Err(PlanFileError::Options {
                    planned: self.options.describe(),
                    given: given.describe(),
                });
            }
        }
        Ok(())
    }
}
