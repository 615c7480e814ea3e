//! The migration engine: applies a chain of migrations to one document.
//!
//! Every op has "ensure" semantics (it acts only when its target state does not hold yet), so
//! running the chain on its own output changes nothing. The guard is re-detected before each
//! migration because earlier ops may insert statements or turn an inverted guard around.
//!
//! The ops on the guard are here; the ops that add or widen grants are in `grants.rs`.

use serde_json::Value;

use super::edit::{add_action, statement_mut, OpResult};
use super::grants::{ensure_grants, extend_grant, widen_grant_resource};
use super::spec::{self, ActionsKeyword, ActionsSpec, Op};
use super::{Migration, Options};
use crate::detect::{self, Guard, GuardForm};
use crate::effect::{ActionScope, Context, DeclaredEffect, Direction};
use crate::pattern;
use crate::policy;

/// One migration that changed the document.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Applied {
    pub id: String,
    pub name: String,
    pub title: String,
    pub checksum: String,
    /// What it did, one line each, for plans and findings.
    pub changes: Vec<String>,
    /// Actions (or patterns) it touched, used to resolve `actions = "touched"`.
    #[serde(skip)]
    pub touched: Vec<String>,
    #[serde(skip)]
    pub severity: crate::detect::Severity,
}

/// The result of migrating one document.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub document: Value,
    pub applied: Vec<Applied>,
    /// The union of the applied migrations' declared effects, resolved for this document.
    pub declared: Vec<DeclaredEffect>,
}

impl Outcome {
    pub fn changed(&self) -> bool {
        !self.applied.is_empty()
    }
}

/// Apply the chain (and the options) to a document. Documents without exactly one
/// understood guard come back unchanged.
pub fn migrate(doc: &Value, chain: &[Migration], options: &Options) -> Outcome {
    let mut document = doc.clone();
    let mut applied = Vec::new();
    let mut declared = Vec::new();
    for m in chain {
        if options.skips(&m.spec.id) {
            continue;
        }
        let mut changes = Vec::new();
        let mut touched = Vec::new();
        for op in &m.spec.ops {
            // Targeted requirements are not guards: their ops need none.
            if let Op::TargetedConditionOperator(o) = op {
                let r = targeted_condition_operator(&mut document, o);
                changes.extend(r.changes);
                touched.extend(r.touched);
                continue;
            }
            let Some(guard) = detect::guard(&document) else {
                break;
            };
            let r = apply_op(&mut document, &guard, op, options);
            changes.extend(r.changes);
            touched.extend(r.touched);
        }
        if changes.is_empty() {
            continue;
        }
        declared.extend(resolve_effects(&m.spec.id, &m.spec.effects, &touched));
        applied.push(Applied {
            id: m.spec.id.clone(),
            name: m.spec.name.clone(),
            title: m.spec.title.clone(),
            checksum: m.checksum.clone(),
            changes,
            touched,
            severity: m.severity,
        });
    }
    // Options only ever add exemptions; they are recorded as their own step.
    let option_actions = options.actions();
    if !option_actions.is_empty() {
        if let Some(guard) = detect::guard(&document) {
            let r = ensure_exemptions(&mut document, &guard, &option_actions);
            if !r.changes.is_empty() {
                declared.push(DeclaredEffect {
                    migration: "options".into(),
                    direction: Direction::Grant,
                    contexts: vec![
                        Context::MfaAbsent,
                        Context::MfaKeyMissing,
                        Context::MfaStale,
                    ],
                    actions: ActionScope::Patterns(r.touched.clone()),
                    except_actions: Vec::new(),
                    resources: Vec::new(),
                    views: Vec::new(),
                });
                applied.push(Applied {
                    id: "options".into(),
                    name: "allow-before-mfa".into(),
                    title: format!(
                        "Exempt by operator's choice (--allow-before-mfa {})",
                        options.allow_before_mfa.join(", ")
                    ),
                    checksum: String::new(),
                    changes: r.changes,
                    // Choosing a critical exemption does not make it less critical.
                    severity: if r
                        .touched
                        .iter()
                        .any(|a| detect::exemption_severity(a).0 == detect::Severity::Critical)
                    {
                        detect::Severity::Critical
                    } else {
                        detect::Severity::Info
                    },
                    touched: r.touched,
                });
            }
        }
    }
    Outcome {
        document,
        applied,
        declared,
    }
}

fn resolve_effects(
    id: &str,
    specs: &[spec::EffectSpec],
    touched: &[String],
) -> Vec<DeclaredEffect> {
    specs
        .iter()
        .map(|e| DeclaredEffect {
            migration: id.to_string(),
            direction: e.direction,
            contexts: e.contexts.clone(),
            actions: match &e.actions {
                ActionsSpec::Keyword(ActionsKeyword::All) => ActionScope::All,
                ActionsSpec::Keyword(ActionsKeyword::Touched) => {
                    ActionScope::Patterns(touched.to_vec())
                }
                ActionsSpec::List(list) => ActionScope::Patterns(list.clone()),
            },
            except_actions: Vec::new(),
            resources: e.resources.clone(),
            views: e.views.clone(),
        })
        .collect()
}

fn apply_op(doc: &mut Value, guard: &Guard, op: &Op, options: &Options) -> OpResult {
    match op {
        Op::GuardConditionOperator(o) => guard_condition_operator(doc, guard, o),
        Op::TargetedConditionOperator(o) => targeted_condition_operator(doc, o),
        Op::GuardActionToNotAction(o) => guard_action_to_not_action(doc, guard, o, options),
        Op::GuardDenyAllToNotAction(o) => guard_deny_all_to_not_action(doc, guard, o, options),
        Op::ExtendGrant(o) => extend_grant(doc, o),
        Op::GuardResourceAll(_) => guard_resource_all(doc, guard),
        Op::ReplaceWildcardExemptions(o) => replace_wildcards(doc, guard, o),
        Op::RemoveExemptions(o) => remove_exemptions(doc, guard, &o.actions, options),
        Op::EnsureExemptions(o) => ensure_exemptions(doc, guard, &o.actions),
        Op::EnsureGrants(o) => ensure_grants(doc, guard, &o.grants),
        Op::WidenGrantResource(o) => widen_grant_resource(doc, o),
    }
}

fn describe(guard: &Guard) -> String {
    match &guard.sid {
        Some(sid) => format!("guard {sid:?}"),
        None => format!("guard (statement {})", guard.index + 1),
    }
}

fn guard_condition_operator(
    doc: &mut Value,
    guard: &Guard,
    o: &spec::GuardConditionOperator,
) -> OpResult {
    move_condition_key(doc, guard.index, &describe(guard), o)
}

/// Every targeted MFA requirement whose test has the long-term-key hole gets `key` moved from
/// `from` to `to`; the statement's actions, resources and other conditions stay as written.
fn targeted_condition_operator(doc: &mut Value, o: &spec::GuardConditionOperator) -> OpResult {
    let mut r = OpResult::default();
    for (index, test) in detect::targeted(doc) {
        if !detect::targeted_test_has_hole(test) {
            continue;
        }
        let Some(st) = policy::statements(doc).into_iter().nth(index).cloned() else {
            continue;
        };
        let label = match st.get("Sid").and_then(Value::as_str) {
            Some(sid) => format!("targeted MFA requirement {sid:?}"),
            None => format!("targeted MFA requirement (statement {})", index + 1),
        };
        let moved = move_condition_key(doc, index, &label, o);
        if moved.changes.is_empty() {
            continue;
        }
        r.changes.extend(moved.changes);
        // The requirement now also applies where the key is missing: to its own actions.
        for key in ["Action", "NotAction"] {
            if let Some(Ok(list)) = policy::string_list(&st, key) {
                r.touched.extend(list);
            }
        }
    }
    r
}

/// Move `o.key` of statement `index`'s condition from operator `o.from` to `o.to`.
fn move_condition_key(
    doc: &mut Value,
    index: usize,
    label: &str,
    o: &spec::GuardConditionOperator,
) -> OpResult {
    let mut r = OpResult::default();
    let Some(Value::Object(cond)) = statement_mut(doc, index).and_then(|s| s.get_mut("Condition"))
    else {
        return r;
    };
    let Some(from_name) = cond
        .iter()
        .find(|(op, block)| {
            op.eq_ignore_ascii_case(&o.from)
                && block
                    .as_object()
                    .is_some_and(|b| b.keys().any(|k| k.eq_ignore_ascii_case(&o.key)))
        })
        .map(|(op, _)| op.clone())
    else {
        return r;
    };
    let to_name = cond.keys().find(|k| k.eq_ignore_ascii_case(&o.to)).cloned();
    let Some(Value::Object(from_block)) = cond.get_mut(&from_name) else {
        return r;
    };
    if from_block.len() == 1 && to_name.is_none() {
        // The common case: rename the operator in place so the text stays where it was.
        policy::rename_key(cond, &from_name, &o.to);
    } else {
        let Some(key) = from_block
            .keys()
            .find(|k| k.eq_ignore_ascii_case(&o.key))
            .cloned()
        else {
            return r;
        };
        let value = from_block.remove(&key).unwrap_or(Value::Null);
        let from_empty = from_block.is_empty();
        let position = cond.keys().position(|k| *k == from_name).unwrap_or(0);
        match to_name {
            Some(t) => {
                if let Some(Value::Object(to_block)) = cond.get_mut(&t) {
                    to_block.insert(key.clone(), value);
                }
            }
            None => {
                let mut block = serde_json::Map::new();
                block.insert(key.clone(), value);
                policy::insert_key_at(cond, position + 1, &o.to, Value::Object(block));
            }
        }
        if from_empty {
            cond.remove(&from_name);
        }
    }
    r.changes
        .push(format!("{label}: {} → {} on {}", from_name, o.to, o.key));
    r
}

fn guard_action_to_not_action(
    doc: &mut Value,
    guard: &Guard,
    o: &spec::GuardActionToNotAction,
    options: &Options,
) -> OpResult {
    let mut r = OpResult::default();
    if guard.form != GuardForm::InvertedAction {
        return r;
    }
    // Only enrolment (and what the operator chose) becomes exempt: everything else the list
    // named was denied before MFA, and stays denied.
    let (kept, dropped): (Vec<String>, Vec<String>) =
        guard.actions.iter().cloned().partition(|a| {
            o.exempt_only.iter().any(|x| x.eq_ignore_ascii_case(a)) || options.allows(a)
        });
    if let Some(Value::Object(st)) = statement_mut(doc, guard.index) {
        policy::rename_key(st, "Action", "NotAction");
    }
    if !dropped.is_empty() {
        set_exemptions(doc, guard, &kept);
    }
    r.changes.push(format!(
        "{}: Action → NotAction (it denied only {} and allowed everything else){}",
        describe(guard),
        guard.actions.join(", "),
        if dropped.is_empty() {
            String::new()
        } else {
            format!(
                "; not exempted, they stay denied before MFA: {}",
                dropped.join(", ")
            )
        }
    ));
    r.touched = kept;
    r
}

fn guard_deny_all_to_not_action(
    doc: &mut Value,
    guard: &Guard,
    o: &spec::GuardDenyAllToNotAction,
    options: &Options,
) -> OpResult {
    let mut r = OpResult::default();
    if guard.form != GuardForm::DenyAll {
        return r;
    }
    let mut exempt = o.exempt.clone();
    for a in options.actions() {
        if !exempt.iter().any(|x| x.eq_ignore_ascii_case(&a)) {
            exempt.push(a);
        }
    }
    if let Some(Value::Object(st)) = statement_mut(doc, guard.index) {
        policy::rename_key(st, "Action", "NotAction");
    }
    set_exemptions(doc, guard, &exempt);
    r.changes.push(format!(
        "{}: denied every action without MFA, enrolment included; now exempts {}",
        describe(guard),
        exempt.join(", ")
    ));
    r.touched = exempt;
    r
}

fn guard_resource_all(doc: &mut Value, guard: &Guard) -> OpResult {
    let mut r = OpResult::default();
    if guard.resources.iter().any(|x| x == "*") {
        return r;
    }
    if let Some(st) = statement_mut(doc, guard.index) {
        policy::set_string_list(st, "Resource", &["*".to_string()]);
        r.changes.push(format!(
            "{}: Resource {} → \"*\"",
            describe(guard),
            guard.resources.join(", ")
        ));
    }
    r
}

/// Write the guard's exemption list back.
fn set_exemptions(doc: &mut Value, guard: &Guard, list: &[String]) {
    if let Some(st) = statement_mut(doc, guard.index) {
        policy::set_string_list(st, "NotAction", list);
    }
}

fn replace_wildcards(
    doc: &mut Value,
    guard: &Guard,
    o: &spec::ReplaceWildcardExemptions,
) -> OpResult {
    let mut r = OpResult::default();
    if guard.form != GuardForm::NotAction {
        return r;
    }
    let (removed, mut kept): (Vec<String>, Vec<String>) =
        guard.actions.iter().cloned().partition(|a| {
            pattern::is_wildcard(a)
                && o.services
                    .iter()
                    .any(|s| pattern::pattern_covers_service(a, s))
        });
    if removed.is_empty() {
        return r;
    }
    let mut added = Vec::new();
    for action in &o.with {
        let covered_before = removed.iter().any(|p| pattern::action_matches(p, action));
        let still_exempt = kept.iter().any(|p| pattern::action_matches(p, action));
        if covered_before && !still_exempt {
            add_action(&mut kept, action);
            added.push(action.clone());
        }
    }
    set_exemptions(doc, guard, &kept);
    r.changes.push(format!(
        "{}: wildcard exemption {} replaced by {}",
        describe(guard),
        removed.join(", "),
        if added.is_empty() {
            "nothing (already listed)".to_string()
        } else {
            added.join(", ")
        }
    ));
    r.touched = removed;
    r
}

fn remove_exemptions(
    doc: &mut Value,
    guard: &Guard,
    actions: &[String],
    options: &Options,
) -> OpResult {
    let mut r = OpResult::default();
    if guard.form != GuardForm::NotAction {
        return r;
    }
    let (removed, kept): (Vec<String>, Vec<String>) = guard
        .actions
        .iter()
        .cloned()
        .partition(|a| actions.iter().any(|x| x.eq_ignore_ascii_case(a)) && !options.allows(a));
    if removed.is_empty() {
        return r;
    }
    set_exemptions(doc, guard, &kept);
    r.changes.push(format!(
        "{}: no longer allowed before MFA: {}",
        describe(guard),
        removed.join(", ")
    ));
    r.touched = removed;
    r
}

fn ensure_exemptions(doc: &mut Value, guard: &Guard, actions: &[String]) -> OpResult {
    let mut r = OpResult::default();
    if guard.form != GuardForm::NotAction {
        return r;
    }
    let mut list = guard.actions.clone();
    let mut added = Vec::new();
    for a in actions {
        if !list.iter().any(|p| pattern::action_matches(p, a)) {
            add_action(&mut list, a);
            added.push(a.clone());
        }
    }
    if added.is_empty() {
        return r;
    }
    set_exemptions(doc, guard, &list);
    r.changes.push(format!(
        "{}: allowed before MFA: {}",
        describe(guard),
        added.join(", ")
    ));
    r.touched = added;
    r
}
