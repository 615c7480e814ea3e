//! Effect table, effect diff, declared-effect check and summaries.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::condition::Tri;
use super::pattern::Glob;
use super::policy::{self, ActionSet, Compiled, Mode, Possible};
use super::request::{Context, Decision, ResourceKind, View};
use super::universe::{resource_arn, universe_for, Universe, ACTIONS_SOURCE};

/// One cell of the effect table of a document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableRow {
    pub action: String,
    pub resource: ResourceKind,
    pub context: Context,
    pub view: View,
    pub decision: Decision,
    /// Why the decision is `Unknown`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
}

/// A universe cell where the two documents decide differently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EffectRow {
    pub action: String,
    pub resource: ResourceKind,
    pub context: Context,
    pub view: View,
    pub before: Decision,
    pub after: Decision,
    /// When `before` is `Unknown`: the decisions it may resolve to (empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub before_possible: Vec<Decision>,
    /// When `after` is `Unknown`: the decisions it may resolve to (empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after_possible: Vec<Decision>,
}

/// The effect of going from one document to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EffectDiff {
    /// Cells whose decision changed, ordered by action (universe order), resource, context, view.
    pub rows: Vec<EffectRow>,
    /// Why some cells are `Unknown` (in either document), prefixed `before:`/`after:`, deduplicated.
    pub unknown: Vec<String>,
    pub universe_actions: usize,
    /// Where the action list came from.
    pub source: &'static str,
}

/// Whether a change grows or shrinks access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Restrict,
    Grant,
}

/// Which actions a declared effect covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionScope {
    All,
    /// IAM action patterns (`*`/`?`, case-insensitive).
    Patterns(Vec<String>),
}

/// What a migration says it changes: the verifier blocks any access change outside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredEffect {
    pub migration: String,
    pub direction: Direction,
    /// Empty = any context.
    pub contexts: Vec<Context>,
    pub actions: ActionScope,
    /// Patterns excluded from `actions`.
    pub except_actions: Vec<String>,
    /// Empty = any resource.
    pub resources: Vec<ResourceKind>,
    /// Empty = any view.
    pub views: Vec<View>,
}

/// Cells per action: resources × contexts × views.
pub(super) const PER_ACTION: usize = ResourceKind::ALL.len() * Context::ALL.len() * View::ALL.len();

/// The position of a cell within an action's block of [`PER_ACTION`] cells.
pub(super) fn slot(resource: ResourceKind, context: Context, view: View) -> usize {
    ((resource as usize) * Context::ALL.len() + context.index()) * View::ALL.len() + view as usize
}

/// A universe with every request precomputed in the representation the matcher wants.
pub(super) struct Grid {
    pub(super) universe: Universe,
    actions: ActionSet,
    resources: Vec<Vec<char>>,
}

/// Every cell's decision for one document.
///
/// A document decides an action only through which of its statements match the action (resources
/// and conditions do not depend on it), so the actions that the same statements match, typically
/// all but a handful of the universe, share one block of [`PER_ACTION`] cells, computed once.
pub(super) struct Decisions {
    /// Per universe action: its block.
    block_of: Vec<usize>,
    blocks: Vec<[Possible; PER_ACTION]>,
}

impl Decisions {
    /// The cells of universe action `action`, indexed by [`slot`].
    pub(super) fn block(&self, action: usize) -> &[Possible; PER_ACTION] {
        const NONE: [Possible; PER_ACTION] = [Possible(0); PER_ACTION];
        self.block_of
            .get(action)
            .and_then(|b| self.blocks.get(*b))
            .unwrap_or(&NONE)
    }
}

impl Grid {
    pub(super) fn new(universe: Universe) -> Grid {
        let actions = ActionSet::new(&universe.actions);
        let resources = ResourceKind::ALL
            .iter()
            .map(|k| resource_arn(&universe, *k).chars().collect())
            .collect();
        Grid {
            universe,
            actions,
            resources,
        }
    }

    /// Every cell, by action block. `reasons` collects (deduplicated, in cell order) why cells
    /// are unknown, prefixed with `label`.
    pub(super) fn decide_all(
        &self,
        doc: &Compiled,
        uses_age: bool,
        label: &str,
        reasons: &mut Reasons,
    ) -> Decisions {
        let columns: Vec<Vec<Tri>> = doc
            .statements
            .iter()
            .map(|s| s.action_column(&self.actions))
            .collect();
        let mut seen: HashMap<Vec<Tri>, usize> = HashMap::new();
        let mut out = Decisions {
            block_of: Vec::with_capacity(self.actions.lower.len()),
            blocks: Vec::new(),
        };
        let mut by_action = Vec::with_capacity(columns.len());
        for (i, action) in self.actions.lower.iter().enumerate() {
            by_action.clear();
            by_action.extend(
                columns
                    .iter()
                    .map(|c| c.get(i).copied().unwrap_or(Tri::Maybe)),
            );
            if let Some(b) = seen.get(&by_action) {
                out.block_of.push(*b);
                continue;
            }
            let block = self.block(doc, &by_action, action, uses_age, label, reasons);
            out.block_of.push(out.blocks.len());
            seen.insert(by_action.clone(), out.blocks.len());
            out.blocks.push(block);
        }
        out
    }

    /// The cells of an action that the statements match as `by_action` says. `action` only names
    /// it in the reasons of unknown cells (which depend on `by_action` alone).
    /// `uses_age`: the document tests `aws:MultiFactorAuthAge`. When it does not, a stale MFA
    /// session is decided exactly as a fresh one (both carry `aws:MultiFactorAuthPresent` true),
    /// so those cells are copied instead of evaluated again.
    fn block(
        &self,
        doc: &Compiled,
        by_action: &[Tri],
        action: &[char],
        uses_age: bool,
        label: &str,
        reasons: &mut Reasons,
    ) -> [Possible; PER_ACTION] {
        let mut out = [Possible(0); PER_ACTION];
        let mut applies = vec![Tri::No; by_action.len()];
        for (kind, resource) in ResourceKind::ALL.iter().zip(&self.resources) {
            for ctx in Context::ALL {
                if ctx == Context::MfaStale && !uses_age {
                    for view in View::ALL {
                        out[slot(*kind, ctx, view)] = out[slot(*kind, Context::MfaPresent, view)];
                    }
                    continue;
                }
                let cells = applies.iter_mut().zip(&doc.statements).zip(by_action);
                for ((a, s), m) in cells {
                    *a = match m {
                        Tri::No => Tri::No,
                        m => m
                            .and(s.condition_tri(ctx))
                            .and(s.resource_tri(resource, ctx)),
                    };
                }
                for view in View::ALL {
                    let p = doc.decide_from(&applies, Mode::of(view));
                    if p.decision() == Decision::Unknown {
                        for r in doc.reasons(action, resource, ctx, Mode::of(view)) {
                            reasons.add(format!("{label}{r}"));
                        }
                    }
                    out[slot(*kind, ctx, view)] = p;
                }
            }
        }
        out
    }

    fn action_name(&self, i: usize) -> &str {
        self.universe.actions.get(i).map_or("", String::as_str)
    }
}

/// Whether the document names `aws:MultiFactorAuthAge` (in any case) anywhere: as a condition
/// key, or inside a text, as a policy variable (`${aws:MultiFactorAuthAge}`) would be.
fn uses_age(doc: &Value) -> bool {
    fn names(s: &str) -> bool {
        const KEY: &str = "aws:multifactorauthage";
        s.len() >= KEY.len() && s.to_ascii_lowercase().contains(KEY)
    }
    fn walk(v: &Value) -> bool {
        match v {
            Value::Object(map) => map.iter().any(|(k, v)| names(k) || walk(v)),
            Value::Array(items) => items.iter().any(walk),
            Value::String(s) => names(s),
            _ => false,
        }
    }
    walk(doc)
}

/// Insertion-ordered, deduplicated reasons.
#[derive(Default)]
pub(super) struct Reasons {
    seen: HashSet<String>,
    list: Vec<String>,
}

impl Reasons {
    fn add(&mut self, r: String) {
        if !self.seen.contains(&r) {
            self.seen.insert(r.clone());
            self.list.push(r);
        }
    }
}

/// Two documents evaluated over the universe of both.
pub(super) struct Pair {
    pub(super) grid: Grid,
    pub(super) before: Decisions,
    pub(super) after: Decisions,
    reasons: Vec<String>,
}

impl Pair {
    pub(super) fn new(before: &Value, after: &Value) -> Pair {
        let grid = Grid::new(universe_for(&[before, after]));
        let username = grid.universe.username.clone();
        let mut reasons = Reasons::default();
        let b = grid.decide_all(
            &policy::compile(before, &username),
            uses_age(before),
            "before: ",
            &mut reasons,
        );
        let a = grid.decide_all(
            &policy::compile(after, &username),
            uses_age(after),
            "after: ",
            &mut reasons,
        );
        Pair {
            grid,
            before: b,
            after: a,
            reasons: reasons.list,
        }
    }

    /// The rows where the decision differs (or where both are Unknown but could resolve
    /// differently), in universe order, then resource, context, view.
    pub(super) fn diff(&self) -> EffectDiff {
        let mut rows = Vec::new();
        let possible = |p: &Possible| {
            if p.decision() == Decision::Unknown {
                p.decisions()
            } else {
                Vec::new()
            }
        };
        for i in 0..self.grid.universe.actions.len() {
            let (b, a) = (self.before.block(i), self.after.block(i));
            if b == a {
                continue;
            }
            for resource in ResourceKind::ALL {
                for context in Context::ALL {
                    for view in View::ALL {
                        let k = slot(resource, context, view);
                        let (pb, pa) = (b[k], a[k]);
                        if pb == pa {
                            continue;
                        }
                        rows.push(EffectRow {
                            action: self.grid.action_name(i).to_string(),
                            resource,
                            context,
                            view,
                            before: pb.decision(),
                            after: pa.decision(),
                            before_possible: possible(&pb),
                            after_possible: possible(&pa),
                        });
                    }
                }
            }
        }
        EffectDiff {
            rows,
            unknown: self.reasons.clone(),
            universe_actions: self.grid.universe.actions.len(),
            source: ACTIONS_SOURCE,
        }
    }
}

/// Compares `before` and `after` over the universe of both documents: the rows where the decision
/// differs (or where both are Unknown but could resolve differently), in a deterministic order.
pub fn effect_diff(before: &Value, after: &Value) -> EffectDiff {
    Pair::new(before, after).diff()
}

/// The decision of every universe cell for one document (`explain FILE`).
pub fn effect_table(doc: &Value) -> Vec<TableRow> {
    let grid = Grid::new(universe_for(&[doc]));
    let compiled = policy::compile(doc, &grid.universe.username);
    let mut ignored = Reasons::default();
    let cells = grid.decide_all(&compiled, uses_age(doc), "", &mut ignored);
    let mut out = Vec::with_capacity(grid.universe.actions.len() * PER_ACTION);
    for (i, action_lower) in grid.actions.lower.iter().enumerate() {
        let block = cells.block(i);
        for (resource, arn) in ResourceKind::ALL.into_iter().zip(&grid.resources) {
            for context in Context::ALL {
                for view in View::ALL {
                    let decision = block[slot(resource, context, view)].decision();
                    let unknown = if decision == Decision::Unknown {
                        compiled.reasons(action_lower, arn, context, Mode::of(view))
                    } else {
                        Vec::new()
                    };
                    out.push(TableRow {
                        action: grid.action_name(i).to_string(),
                        resource,
                        context,
                        view,
                        decision,
                        unknown,
                    });
                }
            }
        }
    }
    out
}

/// The direction of a definite change, `None` when nothing changes.
fn direction(before: Decision, after: Decision) -> Option<Direction> {
    use Decision::*;
    match (before, after) {
        _ if before == after => None,
        (_, Allowed) | (ExplicitDeny, ImplicitDeny) => Some(Direction::Grant),
        _ => Some(Direction::Restrict),
    }
}

/// The definite decisions a row side may stand for.
pub(super) fn resolutions(d: Decision, possible: &[Decision]) -> Vec<Decision> {
    match d {
        Decision::Unknown if possible.is_empty() => {
            vec![
                Decision::Allowed,
                Decision::ExplicitDeny,
                Decision::ImplicitDeny,
            ]
        }
        Decision::Unknown => possible.to_vec(),
        d => vec![d],
    }
}

struct CompiledDecl<'a> {
    decl: &'a DeclaredEffect,
    actions: Option<Vec<Glob>>,
    except: Vec<Glob>,
}

impl CompiledDecl<'_> {
    /// Whether the declaration names the action (lowercase), whatever the cell.
    fn names(&self, action_lower: &[char]) -> bool {
        self.actions
            .as_ref()
            .is_none_or(|globs| globs.iter().any(|g| g.matches(action_lower)))
            && !self.except.iter().any(|g| g.matches(action_lower))
    }

    /// Whether the declaration covers the row's cell; `named` is [`CompiledDecl::names`] of
    /// the row's action.
    fn covers(&self, row: &EffectRow, named: bool) -> bool {
        let d = self.decl;
        named
            && (d.contexts.is_empty() || d.contexts.contains(&row.context))
            && (d.resources.is_empty() || d.resources.contains(&row.resource))
            && (d.views.is_empty() || d.views.contains(&row.view))
    }
}

/// Rows of `diff` that no declared effect explains. Empty = verified.
///
/// A row is explained when every way its unknowns can resolve is either no change or a change in a
/// direction declared for that action, resource, context and view (by one or several declarations).
pub fn unexplained<'a>(diff: &'a EffectDiff, declared: &[DeclaredEffect]) -> Vec<&'a EffectRow> {
    let compile = |pats: &[String]| -> Vec<Glob> {
        pats.iter().map(|p| Glob::new(&p.to_lowercase())).collect()
    };
    let decls: Vec<CompiledDecl> = declared
        .iter()
        .map(|d| CompiledDecl {
            decl: d,
            actions: match &d.actions {
                ActionScope::All => None,
                ActionScope::Patterns(p) => Some(compile(p)),
            },
            except: compile(&d.except_actions),
        })
        .collect();
    // Rows come action by action: which declarations name the action is worked out once per
    // action, not once per row.
    let mut current: Option<(&str, Vec<bool>)> = None;
    let mut out = Vec::new();
    for row in &diff.rows {
        let named = match &current {
            Some((action, named)) if *action == row.action => named,
            _ => {
                let action: Vec<char> = row.action.to_lowercase().chars().collect();
                let named = decls.iter().map(|d| d.names(&action)).collect();
                &current.insert((row.action.as_str(), named)).1
            }
        };
        let covering: Vec<Direction> = decls
            .iter()
            .zip(named)
            .filter(|(d, n)| d.covers(row, **n))
            .map(|(d, _)| d.decl.direction)
            .collect();
        let afters = resolutions(row.after, &row.after_possible);
        let explained = resolutions(row.before, &row.before_possible)
            .into_iter()
            .all(|b| {
                afters
                    .iter()
                    .all(|a| direction(b, *a).is_none_or(|dir| covering.contains(&dir)))
            });
        if !explained {
            out.push(row);
        }
    }
    out
}

/// Declared effects that explain no row of `diff`: a migration said it would change something that
/// did not change (worth a warning; an already-migrated policy legitimately has none).
pub fn unexercised<'a>(
    diff: &EffectDiff,
    declared: &'a [DeclaredEffect],
) -> Vec<&'a DeclaredEffect> {
    declared
        .iter()
        .filter(|d| unexplained(diff, std::slice::from_ref(*d)).len() == diff.rows.len())
        .collect()
}

fn bits<T: Copy>(all: &[T], pick: impl Fn(T) -> bool) -> Vec<T> {
    all.iter().copied().filter(|t| pick(*t)).collect()
}

fn context_label(mask: u8) -> String {
    let list = bits(&Context::ALL, |c| mask & (1 << c.index()) != 0);
    let names = list.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ");
    match list.as_slice() {
        [Context::MfaPresent, Context::MfaAbsent, Context::MfaKeyMissing, Context::MfaStale] => {
            format!("in any context ({names})")
        }
        [Context::MfaPresent, Context::MfaAbsent, Context::MfaKeyMissing] => {
            format!("in any fresh context ({names})")
        }
        [Context::MfaAbsent, Context::MfaKeyMissing] => format!("without MFA ({names})"),
        [Context::MfaAbsent, Context::MfaKeyMissing, Context::MfaStale] => {
            format!("without MFA or with a stale MFA session ({names})")
        }
        [Context::MfaPresent, Context::MfaStale] => format!("with MFA ({names})"),
        [Context::MfaStale] => format!("stale MFA session ({names})"),
        [Context::MfaPresent] => format!("with MFA ({names})"),
        [Context::MfaAbsent] => format!("MFA absent ({names})"),
        [Context::MfaKeyMissing] => format!("long-term keys, no MFA key ({names})"),
        _ => format!("contexts {names}"),
    }
}

fn resource_label(mask: u8) -> String {
    if mask.count_ones() as usize == ResourceKind::ALL.len() {
        return "any resource".to_string();
    }
    bits(&ResourceKind::ALL, |r| mask & (1 << r as u8) != 0)
        .iter()
        .map(|r| r.label())
        .collect::<Vec<_>>()
        .join(", ")
}

fn view_label(mask: u8) -> &'static str {
    match mask {
        1 => " (policy alone)",
        2 => " (beside allow-all)",
        _ => "",
    }
}

/// How one cell changes across views: (views, before, after), sorted.
type Signature = Vec<(u8, Decision, Decision)>;

fn signature_label(sig: &Signature) -> String {
    sig.iter()
        .map(|(views, b, a)| format!("{} → {}{}", b.label(), a.label(), view_label(*views)))
        .collect::<Vec<_>>()
        .join("; ")
}

fn actions_label(actions: &[&str]) -> String {
    const SHOWN: usize = 3;
    if actions.len() <= SHOWN + 1 {
        return actions.join(", ");
    }
    let service = |a: &str| a.split_once(':').map_or("", |(s, _)| s).to_lowercase();
    let first = service(actions[0]);
    let kind = if actions.iter().all(|a| service(a) == first) && !first.is_empty() {
        let name = match first.as_str() {
            "iam" | "sts" | "s3" | "ec2" | "kms" | "sso" => first.to_uppercase(),
            _ => first,
        };
        format!("{name} actions")
    } else {
        "actions".to_string()
    };
    format!(
        "{} {kind} ({}, … and {} more)",
        actions.len(),
        actions[..SHOWN].join(", "),
        actions.len() - SHOWN
    )
}

/// Compact, human-readable grouping of rows: one line per distinct (contexts, resources, transitions)
/// with the actions sharing it, e.g.
/// `without MFA (mfa-absent, mfa-key-missing): iam:ListUsers on any resource: allowed → denied`.
/// A transition without a view label holds in both views; otherwise each view's transition is listed.
/// Deterministic (stable for snapshots).
pub fn summarize(rows: &[&EffectRow]) -> Vec<String> {
    // Actions keep the order of their first appearance (the universe order for effect_diff rows).
    let mut order: HashMap<&str, usize> = HashMap::new();
    for r in rows {
        let n = order.len();
        order.entry(r.action.as_str()).or_insert(n);
    }
    // Fold views into a transition signature per cell, then contexts, then resources, then actions
    // into sets, so that each line says as much as possible.
    let mut by_view: BTreeMap<(usize, ResourceKind, Context, Decision, Decision), u8> =
        BTreeMap::new();
    for r in rows {
        let key = (
            order[r.action.as_str()],
            r.resource,
            r.context,
            r.before,
            r.after,
        );
        *by_view.entry(key).or_default() |= 1 << r.view as u8;
    }
    let mut cells: BTreeMap<(usize, ResourceKind, Context), Signature> = BTreeMap::new();
    for ((a, res, ctx, b, af), views) in by_view {
        cells.entry((a, res, ctx)).or_default().push((views, b, af));
    }
    let mut by_ctx: BTreeMap<(usize, ResourceKind, Signature), u8> = BTreeMap::new();
    for ((a, res, ctx), mut sig) in cells {
        sig.sort();
        *by_ctx.entry((a, res, sig)).or_default() |= 1 << ctx.index();
    }
    let mut by_res: BTreeMap<(usize, u8, Signature), u8> = BTreeMap::new();
    for ((a, res, sig), ctxs) in by_ctx {
        *by_res.entry((a, ctxs, sig)).or_default() |= 1 << res as u8;
    }
    let mut by_actions: BTreeMap<(u8, Signature, u8), Vec<usize>> = BTreeMap::new();
    for ((a, ctxs, sig), res) in by_res {
        by_actions.entry((ctxs, sig, res)).or_default().push(a);
    }
    let mut names: Vec<&str> = vec![""; order.len()];
    for (name, i) in &order {
        if let Some(slot) = names.get_mut(*i) {
            *slot = name;
        }
    }
    by_actions
        .into_iter()
        .map(|((ctxs, sig, res), mut actions)| {
            actions.sort_unstable();
            let acts: Vec<&str> = actions.iter().map(|i| names[*i]).collect();
            format!(
                "{}: {} on {}: {}",
                context_label(ctxs),
                actions_label(&acts),
                resource_label(res),
                signature_label(&sig),
            )
        })
        .collect()
}
