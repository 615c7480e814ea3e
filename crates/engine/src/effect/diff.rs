//! Effect table, effect diff, declared-effect check and summaries.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::pattern::Glob;
use super::policy::{self, Compiled, Possible, Tri};
use super::universe::{resource_arn, universe_for, Universe, ACTIONS_SOURCE};
use super::{Context, Decision, ResourceKind, View};

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

/// What a migration says it changes (§3, §5).
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
const PER_ACTION: usize = ResourceKind::ALL.len() * Context::ALL.len() * View::ALL.len();

/// A universe with every request precomputed in the representation the matcher wants.
struct Grid {
    universe: Universe,
    actions_lower: Vec<Vec<char>>,
    resources: Vec<Vec<char>>,
}

impl Grid {
    fn new(universe: Universe) -> Grid {
        let actions_lower = universe
            .actions
            .iter()
            .map(|a| a.to_lowercase().chars().collect())
            .collect();
        let resources = ResourceKind::ALL
            .iter()
            .map(|k| resource_arn(&universe, *k).chars().collect())
            .collect();
        Grid {
            universe,
            actions_lower,
            resources,
        }
    }

    /// Every cell, in row order, with its possible decisions. `reasons` collects (deduplicated) why
    /// cells are unknown, prefixed with `label`.
    /// `uses_age`: the document tests `aws:MultiFactorAuthAge`. When it does not, a stale MFA
    /// session is decided exactly as a fresh one (both carry `aws:MultiFactorAuthPresent` true),
    /// so those cells are copied instead of evaluated again.
    fn decide_all(
        &self,
        doc: &Compiled,
        uses_age: bool,
        label: &str,
        reasons: &mut Reasons,
    ) -> Vec<Possible> {
        let mut out = Vec::with_capacity(self.actions_lower.len() * PER_ACTION);
        let n = doc.statements.len();
        let (mut by_action, mut applies) = (vec![Tri::No; n], vec![Tri::No; n]);
        let views = View::ALL.len();
        for action in &self.actions_lower {
            // Action matching is the expensive part: once per action, not once per cell.
            for (slot, s) in by_action.iter_mut().zip(&doc.statements) {
                *slot = s.action_tri(action);
            }
            for resource in &self.resources {
                let first_of_resource = out.len();
                for ctx in Context::ALL {
                    if ctx == Context::MfaStale && !uses_age {
                        let present = first_of_resource + Context::MfaPresent.index() * views;
                        for v in 0..views {
                            let p = out[present + v];
                            out.push(p);
                        }
                        continue;
                    }
                    let cells = applies.iter_mut().zip(&doc.statements).zip(&by_action);
                    for ((slot, s), a) in cells {
                        *slot = match a {
                            Tri::No => Tri::No,
                            a => a
                                .and(s.condition_tri(ctx))
                                .and(s.resource_tri(resource, ctx)),
                        };
                    }
                    for view in View::ALL {
                        let p = doc.decide_from(&applies, view.mode());
                        if p.decision() == Decision::Unknown {
                            for r in doc.reasons(action, resource, ctx, view.mode()) {
                                reasons.add(format!("{label}{r}"));
                            }
                        }
                        out.push(p);
                    }
                }
            }
        }
        out
    }

    /// The (action, resource, context, view) of cell `i` of [`Grid::decide_all`].
    fn cell(&self, i: usize) -> (&str, ResourceKind, Context, View) {
        let a = i / PER_ACTION;
        let r = (i / (Context::ALL.len() * View::ALL.len())) % ResourceKind::ALL.len();
        let c = (i / View::ALL.len()) % Context::ALL.len();
        let v = i % View::ALL.len();
        (
            self.universe.actions.get(a).map_or("", String::as_str),
            ResourceKind::ALL[r],
            Context::ALL[c],
            View::ALL[v],
        )
    }
}

/// Whether any condition of the document names `aws:MultiFactorAuthAge` (in any case).
fn uses_age(doc: &Value) -> bool {
    fn walk(v: &Value) -> bool {
        match v {
            Value::Object(map) => map
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("aws:MultiFactorAuthAge") || walk(v)),
            Value::Array(items) => items.iter().any(walk),
            _ => false,
        }
    }
    walk(doc)
}

/// Insertion-ordered, deduplicated reasons.
#[derive(Default)]
struct Reasons {
    seen: HashSet<String>,
    list: Vec<String>,
}

impl Reasons {
    fn add(&mut self, r: String) {
        if self.seen.insert(r.clone()) {
            self.list.push(r);
        }
    }
}

/// Compares `before` and `after` over the universe of both documents: the rows where the decision
/// differs (or where both are Unknown but could resolve differently), in a deterministic order.
pub fn effect_diff(before: &Value, after: &Value) -> EffectDiff {
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
    let mut rows = Vec::new();
    for (i, (pb, pa)) in b.iter().zip(&a).enumerate() {
        if pb == pa {
            continue;
        }
        let (action, resource, context, view) = grid.cell(i);
        let possible = |p: &Possible| {
            if p.decision() == Decision::Unknown {
                p.decisions()
            } else {
                Vec::new()
            }
        };
        rows.push(EffectRow {
            action: action.to_string(),
            resource,
            context,
            view,
            before: pb.decision(),
            after: pa.decision(),
            before_possible: possible(pb),
            after_possible: possible(pa),
        });
    }
    EffectDiff {
        rows,
        unknown: reasons.list,
        universe_actions: grid.universe.actions.len(),
        source: ACTIONS_SOURCE,
    }
}

/// The decision of every universe cell for one document (`explain FILE`).
pub fn effect_table(doc: &Value) -> Vec<TableRow> {
    let grid = Grid::new(universe_for(&[doc]));
    let compiled = policy::compile(doc, &grid.universe.username);
    let mut ignored = Reasons::default();
    let cells = grid.decide_all(&compiled, uses_age(doc), "", &mut ignored);
    cells
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (action, resource, context, view) = grid.cell(i);
            let decision = p.decision();
            let unknown = if decision == Decision::Unknown {
                compiled.reasons(
                    &grid.actions_lower[i / PER_ACTION],
                    &grid.resources[resource as usize],
                    context,
                    view.mode(),
                )
            } else {
                Vec::new()
            };
            TableRow {
                action: action.to_string(),
                resource,
                context,
                view,
                decision,
                unknown,
            }
        })
        .collect()
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
    fn covers(&self, row: &EffectRow, action_lower: &[char]) -> bool {
        let d = self.decl;
        (d.contexts.is_empty() || d.contexts.contains(&row.context))
            && (d.resources.is_empty() || d.resources.contains(&row.resource))
            && (d.views.is_empty() || d.views.contains(&row.view))
            && self
                .actions
                .as_ref()
                .is_none_or(|globs| globs.iter().any(|g| g.matches(action_lower)))
            && !self.except.iter().any(|g| g.matches(action_lower))
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
    diff.rows
        .iter()
        .filter(|row| {
            let action: Vec<char> = row.action.to_lowercase().chars().collect();
            let covering: Vec<Direction> = decls
                .iter()
                .filter(|d| d.covers(row, &action))
                .map(|d| d.decl.direction)
                .collect();
            let explained = resolutions(row.before, &row.before_possible)
                .into_iter()
                .all(|b| {
                    resolutions(row.after, &row.after_possible)
                        .into_iter()
                        .all(|a| direction(b, a).is_none_or(|dir| covering.contains(&dir)))
                });
            !explained
        })
        .collect()
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
