//! The migration engine: applies a chain of migrations to one document.
//!
//! Every op has "ensure" semantics (it acts only when its target state does not hold yet), so
//! running the chain on its own output changes nothing. The guard is re-detected before each
//! migration because earlier ops may insert statements or turn an inverted guard around.

use serde_json::{json, Value};

use super::spec::{self, ActionsKeyword, ActionsSpec, GrantResource, Op};
use super::{Migration, Options};
use crate::detect::{self, Guard, GuardForm};
use crate::effect::{ActionScope, Context, DeclaredEffect, Direction};
use crate::pattern;
use crate::policy;

/// The user name used to test grants by evaluation. Any name works: grants are written with
/// `${aws:username}`.
const TEST_USER: &str = "forcemfa-probe-user";

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

#[derive(Default)]
struct OpResult {
    changes: Vec<String>,
    touched: Vec<String>,
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

fn statement_mut(doc: &mut Value, index: usize) -> Option<&mut Value> {
    policy::statements_mut(doc).into_iter().nth(index)
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

fn is_sorted(list: &[String]) -> bool {
    list.len() >= 2
        && list
            .windows(2)
            .all(|w| w[0].to_ascii_lowercase() <= w[1].to_ascii_lowercase())
}

/// Add an action at the end of a list, or in order if the list was sorted.
fn add_action(list: &mut Vec<String>, action: &str) {
    if is_sorted(list) {
        let key = action.to_ascii_lowercase();
        let at = list
            .iter()
            .position(|x| x.to_ascii_lowercase() > key)
            .unwrap_or(list.len());
        list.insert(at, action.to_string());
    } else {
        list.push(action.to_string());
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

/// Partition and account for ARNs this tool adds: those the policy already uses.
fn arn_parts(doc: &Value) -> (String, String) {
    (
        policy::partition(doc).unwrap_or_else(|| "aws".into()),
        policy::iam_account(doc),
    )
}

/// How ARNs of a document are written and read when the engine asks "is this grant already
/// there?". A policy may come from a template that was not rendered: `arn:${aws_partition}:…`
/// (a template variable), `${var.x}` / `${local.partition}` (Terraform interpolations),
/// `$${aws:username}` (Terraform's escape of the IAM variable) or `&{aws:username}` (the
/// `aws_iam_policy_document` spelling). Evaluated as written, each of these is an unknown policy
/// variable or literal text, so a grant written with them is never "there": the engine would
/// add it again on every run. The question is therefore asked of a view in which each
/// interpolation is a literal name and each escape the IAM variable it stands for, and added
/// ARNs are written in the document's own spelling, so that the next run finds them.
struct ArnSpelling {
    /// The document as evaluated for the question (only `Resource`/`NotResource` differ).
    view: Value,
    /// Partition and account as the document writes them (for added ARNs).
    partition: String,
    account: String,
    /// Partition and account as the view reads them (for the probe).
    view_partition: String,
    view_account: String,
    /// How the document writes `${aws:username}`.
    username: &'static str,
}

impl ArnSpelling {
    fn of(doc: &Value) -> ArnSpelling {
        let view = template_view(doc);
        let (partition, account) = arn_parts(doc);
        let (view_partition, view_account) = arn_parts(&view);
        let resources = policy::statements(doc)
            .iter()
            .flat_map(|s| {
                ["Resource", "NotResource"]
                    .into_iter()
                    .filter_map(|k| policy::string_list(s, k).and_then(Result::ok))
                    .flatten()
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<String>>();
        let username = if resources.iter().any(|r| r.contains("$${aws:username}")) {
            "$${aws:username}"
        } else if resources.iter().any(|r| r.contains("&{aws:username}")) {
            "&{aws:username}"
        } else {
            "${aws:username}"
        };
        ArnSpelling {
            view,
            partition,
            account,
            view_partition,
            view_account,
            username,
        }
    }

    fn grant_arn(&self, kind: GrantResource) -> String {
        grant_arn(kind, &self.partition, &self.account).replace("${aws:username}", self.username)
    }

    fn probe_arn(&self, kind: GrantResource) -> String {
        probe_arn(kind, &self.view_partition, &self.view_account)
    }
}

/// `doc` with every `Resource`/`NotResource` string read as a rendered template would be (see
/// [`ArnSpelling`]).
fn template_view(doc: &Value) -> Value {
    let mut view = doc.clone();
    let one = |v: &mut Value| {
        if let Value::String(s) = v {
            if s.contains(['{']) {
                *s = read_template_text(s);
            }
        }
    };
    let mut fix = |st: &mut Value| {
        for key in ["Resource", "NotResource"] {
            match st.get_mut(key) {
                Some(Value::Array(items)) => items.iter_mut().for_each(one),
                Some(v) => one(v),
                None => {}
            }
        }
    };
    match view.get_mut("Statement") {
        Some(Value::Array(items)) => items.iter_mut().for_each(&mut fix),
        Some(st) => fix(st),
        None => {}
    }
    view
}

/// One resource string as a rendered template reads: `$${x}` and `&{x}` are the IAM variable
/// `${x}`; `${name}` that is not an IAM policy variable (`aws:username`, `${*}`, …) is the
/// literal `@@name@@` (colons as dots, so that ARNs still split into their parts).
pub(crate) fn read_template_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['$', '&']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$${").or_else(|| tail.strip_prefix("&{")) {
            out.push_str("${");
            rest = after;
            continue;
        }
        if let Some(after) = tail.strip_prefix("${") {
            if let Some(end) = after.find('}') {
                let name = &after[..end];
                if !is_iam_variable(name) {
                    out.push_str(&format!("@@{}@@", name.trim().replace(':', ".")));
                    rest = &after[end + 1..];
                    continue;
                }
            }
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

/// Whether `${name}` is an IAM policy variable: a condition key (`aws:username`, `saml:sub`,
/// with an optional `, 'default'`) or one of the escapes `*`, `?`, `$`.
fn is_iam_variable(name: &str) -> bool {
    let key = name.split(',').next().unwrap_or("").trim();
    if matches!(key, "*" | "?" | "$") {
        return true;
    }
    let Some((prefix, rest)) = key.split_once(':') else {
        return false;
    };
    !prefix.is_empty()
        && !rest.is_empty()
        && !rest.contains(':')
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_/.".contains(c))
}

fn grant_arn(kind: GrantResource, partition: &str, account: &str) -> String {
    match kind {
        GrantResource::User => format!("arn:{partition}:iam::{account}:user/${{aws:username}}"),
        GrantResource::MfaAny => format!("arn:{partition}:iam::{account}:mfa/*"),
        GrantResource::All => "*".into(),
    }
}

/// A concrete resource to test a grant on. A free-form device name stands for `mfa/*`.
fn probe_arn(kind: GrantResource, partition: &str, account: &str) -> String {
    let account = if account == "*" {
        "123456789012"
    } else {
        account
    };
    match kind {
        GrantResource::User => format!("arn:{partition}:iam::{account}:user/{TEST_USER}"),
        GrantResource::MfaAny => format!("arn:{partition}:iam::{account}:mfa/my-phone-2"),
        GrantResource::All => "*".into(),
    }
}

/// An Allow statement that new grants of this kind may join: plain `Action` list, no
/// condition, and exactly the one resource the grant needs.
/// A statement a grant of `action` on `resource` may be added to: a plain Allow of that one
/// resource that already grants something of the same service. An operator's statement of
/// other services (`s3:Get*` on `*`) is a customisation and never grows IAM actions.
fn joinable(st: &Value, resource: &str, action: &str) -> bool {
    let service = |a: &str| a.split(':').next().unwrap_or("").to_ascii_lowercase();
    policy::effect(st).as_deref() == Some("allow")
        && st.get("Condition").is_none()
        && st.get("NotAction").is_none()
        && st.get("NotResource").is_none()
        && matches!(policy::string_list(st, "Action"), Some(Ok(a)) if a.iter().any(|a| service(a) == service(action)))
        && matches!(policy::string_list(st, "Resource"), Some(Ok(r)) if r.len() == 1 && r[0] == resource)
}

fn unique_sid(doc: &Value, base: &str) -> String {
    let taken: Vec<String> = policy::statements(doc)
        .iter()
        .filter_map(|s| s.get("Sid").and_then(Value::as_str).map(str::to_string))
        .collect();
    if !taken.iter().any(|t| t == base) {
        return base.to_string();
    }
    (2..)
        .map(|n| format!("{base}{n}"))
        .find(|c| !taken.contains(c))
        .unwrap_or_else(|| base.to_string())
}

fn ensure_grants(doc: &mut Value, guard: &Guard, grants: &[spec::Grant]) -> OpResult {
    let mut r = OpResult::default();
    let has_allow = policy::statements(doc)
        .iter()
        .any(|s| policy::effect(s).as_deref() == Some("allow"));
    if !has_allow {
        return r; // A guard-only policy stays guard-only.
    }
    let spelling = ArnSpelling::of(doc);
    let mut guard_index = guard.index;
    // Compiling is the costly part, so the document is compiled once, and again only when a
    // grant added since could answer the question: adding a concrete action to an Allow changes
    // only what is decided for that action, a pattern (never in the shipped migrations) anything.
    let mut evaluator: Option<crate::effect::Evaluator> = None;
    let mut added: Vec<&str> = Vec::new();
    for g in grants {
        let probe = spelling.probe_arn(g.resource);
        if added
            .iter()
            .any(|a| a.contains(['*', '?']) || a.eq_ignore_ascii_case(&g.action))
        {
            evaluator = None;
            added.clear();
        }
        let ev = evaluator
            .get_or_insert_with(|| crate::effect::Evaluator::new(&template_view(doc), TEST_USER));
        if ev.allows(&g.action, &probe, Context::MfaAbsent) {
            continue;
        }
        added.push(&g.action);
        let arn = spelling.grant_arn(g.resource);
        // Prefer the joinable statement that already holds most of these grants' actions.
        let best = policy::statements(doc)
            .iter()
            .enumerate()
            .filter(|(_, s)| joinable(s, &arn, &g.action))
            .max_by_key(|(i, s)| {
                let actions = policy::string_list(s, "Action")
                    .and_then(Result::ok)
                    .unwrap_or_default();
                let score = grants
                    .iter()
                    .filter(|x| actions.iter().any(|a| a.eq_ignore_ascii_case(&x.action)))
                    .count();
                (score, std::cmp::Reverse(*i))
            })
            .map(|(i, _)| i);
        match best {
            Some(i) => {
                if let Some(st) = statement_mut(doc, i) {
                    let mut actions = policy::string_list(st, "Action")
                        .and_then(Result::ok)
                        .unwrap_or_default();
                    add_action(&mut actions, &g.action);
                    policy::set_string_list(st, "Action", &actions);
                    let sid = st
                        .get("Sid")
                        .and_then(Value::as_str)
                        .map(|s| format!("{s:?}"))
                        .unwrap_or_else(|| format!("statement {}", i + 1));
                    r.changes
                        .push(format!("{sid}: now grants {} on {arn}", g.action));
                }
            }
            None => {
                let base = match g.resource {
                    GrantResource::User => "AllowManageOwnUserMFA",
                    GrantResource::MfaAny => "AllowManageOwnVirtualMFADevice",
                    GrantResource::All => "AllowViewAccountInfo",
                };
                let sid = unique_sid(doc, base);
                let st = json!({
                    "Sid": sid,
                    "Effect": "Allow",
                    "Action": [g.action],
                    "Resource": arn,
                });
                policy::insert_statement(doc, guard_index, st);
                guard_index += 1;
                r.changes.push(format!(
                    "new statement {sid:?}: grants {} on {arn}",
                    g.action
                ));
            }
        }
        r.touched.push(g.action.clone());
    }
    r
}

fn widen_grant_resource(doc: &mut Value, o: &spec::WidenGrantResource) -> OpResult {
    let mut r = OpResult::default();
    let suffix = format!(":{}", o.from);
    let widen = |resources: &[String]| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for res in resources {
            let new = match res.strip_suffix(&suffix) {
                Some(prefix) if prefix.starts_with("arn:") && prefix.contains(":iam:") => {
                    format!("{prefix}:{}", o.to)
                }
                _ => res.clone(),
            };
            if !out.contains(&new) {
                out.push(new);
            }
        }
        out
    };
    let mut index = 0;
    while index < policy::statements(doc).len() {
        let st = policy::statements(doc)[index].clone();
        index += 1;
        if policy::effect(&st).as_deref() != Some("allow") {
            continue;
        }
        let (Some(Ok(actions)), Some(Ok(resources))) = (
            policy::string_list(&st, "Action"),
            policy::string_list(&st, "Resource"),
        ) else {
            continue;
        };
        if !actions.iter().any(|a| a.eq_ignore_ascii_case(&o.action))
            || !resources.iter().any(|x| x.ends_with(&suffix))
        {
            continue;
        }
        let widened = widen(&resources);
        let sid_text = st
            .get("Sid")
            .and_then(Value::as_str)
            .map(|s| format!("{s:?}"))
            .unwrap_or_else(|| format!("statement {index}"));
        if actions.len() == 1 {
            if let Some(s) = statement_mut(doc, index - 1) {
                policy::set_string_list(s, "Resource", &widened);
            }
            r.changes.push(format!(
                "{sid_text}: {} allowed on {} instead of {}",
                o.action, o.to, o.from
            ));
        } else {
            let rest: Vec<String> = actions
                .iter()
                .filter(|a| !a.eq_ignore_ascii_case(&o.action))
                .cloned()
                .collect();
            let mut split = st.clone();
            let sid = unique_sid(doc, "AllowCreateVirtualMFADevice");
            if let Some(obj) = split.as_object_mut() {
                if obj.contains_key("Sid") {
                    obj.insert("Sid".into(), Value::String(sid.clone()));
                } else {
                    policy::insert_key_at(obj, 0, "Sid", Value::String(sid.clone()));
                }
            }
            policy::set_string_list(&mut split, "Action", std::slice::from_ref(&o.action));
            policy::set_string_list(&mut split, "Resource", &widened);
            if let Some(s) = statement_mut(doc, index - 1) {
                policy::set_string_list(s, "Action", &rest);
            }
            policy::insert_statement(doc, index, split);
            index += 1;
            r.changes.push(format!(
                "{sid_text}: {} split out into new statement {sid:?} on {} instead of {} (other actions keep their resources)",
                o.action, o.to, o.from
            ));
        }
        if !r.touched.contains(&o.action) {
            r.touched.push(o.action.clone());
        }
    }
    r
}

/// Add `o.add` to the first Allow statement that grants at least `o.min` of `o.beside` (plain
/// `Action` list) on the user's own ARN, unless the policy already grants `o.add` there.
fn extend_grant(doc: &mut Value, o: &spec::ExtendGrant) -> OpResult {
    let mut r = OpResult::default();
    let spelling = ArnSpelling::of(doc);
    let probe = spelling.probe_arn(GrantResource::User);
    let evaluator = crate::effect::Evaluator::new(&spelling.view, TEST_USER);
    if evaluator.allows(&o.add, &probe, Context::MfaPresent) {
        return r;
    }
    // Only where the guard still denies it before MFA: a grant must never open it without MFA.
    let guarded = Context::WITHOUT_MFA.iter().all(|ctx| {
        evaluator
            .evaluate(&o.add, &probe, *ctx, crate::effect::View::BesideAllowAll)
            .decision
            == crate::effect::Decision::ExplicitDeny
    });
    if !guarded {
        return r;
    }
    let own_user = |st: &Value| -> bool {
        let Some(Ok(resources)) = policy::string_list(st, "Resource") else {
            return false;
        };
        resources.iter().any(|res| {
            let res = read_template_text(res).replace("${aws:username}", TEST_USER);
            pattern::matches(&res, &probe, false)
        })
    };
    let target = policy::statements(doc).iter().position(|st| {
        policy::effect(st).as_deref() == Some("allow")
            && st.get("NotAction").is_none()
            && st.get("NotResource").is_none()
            && own_user(st)
            && policy::string_list(st, "Action")
                .and_then(Result::ok)
                .is_some_and(|actions| {
                    o.beside
                        .iter()
                        .filter(|b| actions.iter().any(|a| a.eq_ignore_ascii_case(b)))
                        .count()
                        >= o.min
                })
    });
    let Some(index) = target else {
        return r;
    };
    if let Some(st) = statement_mut(doc, index) {
        let mut actions = policy::string_list(st, "Action")
            .and_then(Result::ok)
            .unwrap_or_default();
        add_action(&mut actions, &o.add);
        policy::set_string_list(st, "Action", &actions);
        let sid = st
            .get("Sid")
            .and_then(Value::as_str)
            .map(|s| format!("{s:?}"))
            .unwrap_or_else(|| format!("statement {}", index + 1));
        r.changes.push(format!(
            "{sid}: now also grants {} (as AWS's example does today)",
            o.add
        ));
        r.touched.push(o.add.clone());
    }
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn chain() -> Vec<Migration> {
        super::super::default_chain().unwrap()
    }

    /// A policy from an unrendered template: partition and account are template variables,
    /// the user variable is escaped the way the template escapes it.
    fn template_doc(partition: &str, account: &str, user: &str) -> Value {
        let arn = format!("arn:{partition}:iam::{account}:user/{user}");
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "AllowOwn", "Effect": "Allow", "Action": ["iam:ChangePassword"], "Resource": arn},
                {"Sid": "DenyWithoutMFA", "Effect": "Deny",
                 "NotAction": ["iam:ChangePassword", "iam:CreateVirtualMFADevice", "iam:EnableMFADevice",
                               "iam:GetUser", "iam:ListMFADevices", "iam:ListVirtualMFADevices",
                               "iam:ResyncMFADevice", "sts:GetSessionToken"],
                 "Resource": "*",
                 "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}
            ]
        })
    }

    #[test]
    fn grants_written_with_template_variables_are_found_again() {
        for (partition, account, user) in [
            ("${aws_partition}", "*", "$${aws:username}"),
            ("${var.partition}", "${var.account_id}", "${aws:username}"),
            ("${local.partition}", "*", "&{aws:username}"),
            (
                "aws",
                "${data.aws_caller_identity.current.account_id}",
                "$${aws:username}",
            ),
        ] {
            let doc = template_doc(partition, account, user);
            let first = migrate(&doc, &chain(), &Options::default());
            assert!(first.changed(), "{partition} {account} {user}");
            let text = first.document.to_string();
            // Added ARNs use the document's own spelling of partition, account and user.
            assert!(
                text.contains(&format!("arn:{partition}:iam::{account}:mfa/*")),
                "{text}"
            );
            assert!(!text.contains("AllowManageOwnUserMFA2"), "{text}");
            if user != "${aws:username}" {
                assert!(!text.contains("/${aws:username}"), "{text}");
            }
            let second = migrate(&first.document, &chain(), &Options::default());
            assert!(
                !second.changed(),
                "{partition} {account} {user}: {:?}",
                second
                    .applied
                    .iter()
                    .map(|a| &a.changes)
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn template_text_is_read_as_rendered() {
        assert_eq!(
            read_template_text("arn:${aws_partition}:iam::${var.a}:user/$${aws:username}"),
            "arn:@@aws_partition@@:iam::@@var.a@@:user/${aws:username}"
        );
        assert_eq!(
            read_template_text("arn:aws:iam::*:user/&{aws:username}${*}"),
            "arn:aws:iam::*:user/${aws:username}${*}"
        );
        assert_eq!(
            read_template_text("arn:${AWS::Partition}:s3:::b/${aws:userid, 'x'}"),
            "arn:@@AWS..Partition@@:s3:::b/${aws:userid, 'x'}"
        );
        assert_eq!(read_template_text("a$b&c${"), "a$b&c${");
    }
}
