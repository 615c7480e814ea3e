//! Compilation of an identity-policy document into statements that can be evaluated quickly.
//!
//! Everything that depends only on the request context (conditions, policy variables in resources) is
//! resolved once per [`Context`] at compile time; what is left per request is pattern matching of the
//! action and the resource. Anything the evaluator cannot decide (unsupported operator, unmodelled key,
//! malformed statement) becomes [`Tri::Maybe`] with a reason, never a panic. Conditions are
//! evaluated in [`super::condition`].

use std::collections::HashMap;

use serde_json::Value;

use super::condition::{eval_condition, CtxValues, Tri, CONTEXT_KEYS};
use super::pattern::{self, ArnGlob, Glob, Piece, Resolved};
use super::request::{Context, Decision, View};

/// Effect of a statement; `Unknown` when `Effect` is missing or not `Allow`/`Deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
    Unknown,
}

/// `Action`/`NotAction`, compiled (lowercase): the patterns without wildcards apart, as text, so
/// that a whole action list can be matched by lookup ([`Statement::action_column`]).
enum ActionSpec {
    Match {
        negate: bool,
        literals: Vec<String>,
        wildcards: Vec<Glob>,
    },
    Malformed(String),
}

/// `Resource`/`NotResource` for one context: patterns, plus reasons for patterns that could not be
/// resolved (unmodelled policy variables). Patterns whose variable is absent match nothing.
struct ResourceSpec {
    negate: bool,
    globs: Vec<ArnGlob>,
    unknown: Vec<String>,
    malformed: Option<String>,
}

/// A compiled statement.
pub struct Statement {
    pub label: String,
    pub effect: Effect,
    effect_reason: Option<String>,
    actions: ActionSpec,
    /// The distinct resource specs; [`Statement::resource_of`] says which one each context uses.
    /// Almost every statement resolves its resources the same way in every context (only a policy
    /// variable naming an MFA key differs), so it is compiled once, not once per context.
    resources: Vec<ResourceSpec>,
    /// Indexed by [`Context::index`]: the entry of `resources` for that context.
    resource_of: [usize; 4],
    /// Indexed by [`Context::index`]: applicability of the `Condition` element and why it is `Maybe`.
    conditions: [(Tri, Vec<String>); 4],
}

impl Statement {
    pub fn action_tri(&self, action_lower: &[char]) -> Tri {
        match &self.actions {
            ActionSpec::Match {
                negate,
                literals,
                wildcards,
            } => {
                let hit = literals
                    .iter()
                    .any(|l| l.chars().eq(action_lower.iter().copied()))
                    || wildcards.iter().any(|g| g.matches(action_lower));
                if hit != *negate {
                    Tri::Yes
                } else {
                    Tri::No
                }
            }
            ActionSpec::Malformed(_) => Tri::Maybe,
        }
    }

    pub fn resource_tri(&self, resource: &[char], ctx: Context) -> Tri {
        let Some(spec) = self.resource_spec(ctx) else {
            return Tri::Maybe;
        };
        if spec.malformed.is_some() {
            return Tri::Maybe;
        }
        let hit = if spec.globs.iter().any(|g| g.matches(resource)) {
            Tri::Yes
        } else if spec.unknown.is_empty() {
            Tri::No
        } else {
            Tri::Maybe
        };
        if spec.negate {
            hit.not()
        } else {
            hit
        }
    }

    /// [`Statement::action_tri`] for every action of `set`, in order: the literal patterns by
    /// lookup, only the wildcard ones against each action.
    pub fn action_column(&self, set: &ActionSet) -> Vec<Tri> {
        let ActionSpec::Match {
            negate,
            literals,
            wildcards,
        } = &self.actions
        else {
            return vec![Tri::Maybe; set.lower.len()];
        };
        let mut hit = vec![false; set.lower.len()];
        for l in literals {
            for i in set.positions(l) {
                if let Some(h) = hit.get_mut(i) {
                    *h = true;
                }
            }
        }
        if !wildcards.is_empty() {
            for (h, action) in hit.iter_mut().zip(&set.lower) {
                *h = *h || wildcards.iter().any(|g| g.matches(action));
            }
        }
        hit.into_iter()
            .map(|h| if h != *negate { Tri::Yes } else { Tri::No })
            .collect()
    }

    fn resource_spec(&self, ctx: Context) -> Option<&ResourceSpec> {
        self.resource_of
            .get(ctx.index())
            .and_then(|i| self.resources.get(*i))
    }

    pub fn condition_tri(&self, ctx: Context) -> Tri {
        self.conditions[ctx.index()].0
    }

    /// Applicability to one request; `action_lower` must be lowercase.
    pub fn applies(&self, action_lower: &[char], resource: &[char], ctx: Context) -> Tri {
        let c = self.condition_tri(ctx);
        if c == Tri::No {
            return Tri::No;
        }
        let a = self.action_tri(action_lower);
        if a == Tri::No {
            return Tri::No;
        }
        a.and(self.resource_tri(resource, ctx)).and(c)
    }

    /// Why `applies` returned `Maybe` (labelled with the statement).
    pub fn reasons(
        &self,
        action_lower: &[char],
        resource: &[char],
        ctx: Context,
        out: &mut Vec<String>,
    ) {
        let mut push = |r: &str| {
            let r = format!("{}: {}", self.label, r);
            if !out.contains(&r) {
                out.push(r);
            }
        };
        if let Some(r) = &self.effect_reason {
            push(r);
        }
        if let (ActionSpec::Malformed(r), Tri::Maybe) =
            (&self.actions, self.action_tri(action_lower))
        {
            push(r);
        }
        if self.resource_tri(resource, ctx) == Tri::Maybe {
            if let Some(spec) = self.resource_spec(ctx) {
                if let Some(r) = &spec.malformed {
                    push(r);
                }
                for r in &spec.unknown {
                    push(r);
                }
            }
        }
        let (t, rs) = &self.conditions[ctx.index()];
        if *t == Tri::Maybe {
            for r in rs {
                push(r);
            }
        }
    }
}

/// A list of actions prepared for [`Statement::action_column`]: lowercase, as characters, and
/// indexed by their lowercase text.
pub struct ActionSet {
    pub lower: Vec<Vec<char>>,
    index: HashMap<String, Vec<usize>>,
}

impl ActionSet {
    pub fn new(actions: &[String]) -> ActionSet {
        let mut index: HashMap<String, Vec<usize>> = HashMap::with_capacity(actions.len());
        let mut lower = Vec::with_capacity(actions.len());
        for (i, a) in actions.iter().enumerate() {
            let l = a.to_lowercase();
            lower.push(l.chars().collect());
            index.entry(l).or_default().push(i);
        }
        ActionSet { lower, index }
    }

    /// Where the action whose lowercase text is `lower` stands in the list (usually once).
    fn positions(&self, lower: &str) -> impl Iterator<Item = usize> + '_ {
        self.index.get(lower).into_iter().flatten().copied()
    }
}

/// A compiled policy document.
pub struct Compiled {
    pub statements: Vec<Statement>,
}

/// Every IAM [`Decision`] reachable once the unknowns are resolved, as a bit set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Possible(pub u8);

impl Possible {
    pub const ALLOWED: u8 = 1;
    pub const EXPLICIT: u8 = 2;
    pub const IMPLICIT: u8 = 4;

    pub fn decision(self) -> Decision {
        match self.0 {
            Possible::ALLOWED => Decision::Allowed,
            Possible::EXPLICIT => Decision::ExplicitDeny,
            Possible::IMPLICIT => Decision::ImplicitDeny,
            _ => Decision::Unknown,
        }
    }

    pub fn decisions(self) -> Vec<Decision> {
        [
            (Possible::ALLOWED, Decision::Allowed),
            (Possible::EXPLICIT, Decision::ExplicitDeny),
            (Possible::IMPLICIT, Decision::ImplicitDeny),
        ]
        .into_iter()
        .filter(|(bit, _)| self.0 & bit != 0)
        .map(|(_, d)| d)
        .collect()
    }
}

/// Which statements take part in a decision.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The document as written.
    Alone,
    /// The document beside a synthetic `Allow *` on `*`.
    BesideAllowAll,
    /// Allow statements only (every Deny ignored): "does the document grant this?".
    AllowsOnly,
}

impl Mode {
    /// The statements a [`View`] evaluates.
    pub fn of(view: View) -> Mode {
        match view {
            View::Alone => Mode::Alone,
            View::BesideAllowAll => Mode::BesideAllowAll,
        }
    }
}

impl Compiled {
    /// AWS's decision logic for a single identity policy (no SCP, boundary or session policy):
    /// an applicable explicit Deny wins; otherwise an applicable Allow allows; otherwise implicit deny.
    /// `Maybe` statements widen the set of possible outcomes.
    pub fn decide(
        &self,
        action_lower: &[char],
        resource: &[char],
        ctx: Context,
        mode: Mode,
    ) -> Possible {
        let applies: Vec<Tri> = self
            .statements
            .iter()
            .map(|s| s.applies(action_lower, resource, ctx))
            .collect();
        self.decide_from(&applies, mode)
    }

    /// [`Compiled::decide`] from precomputed applicabilities (one per statement, in order), so that
    /// callers enumerating a universe can share the matching work between views.
    pub fn decide_from(&self, applies: &[Tri], mode: Mode) -> Possible {
        let (mut deny_yes, mut deny_maybe) = (false, false);
        let mut allow_yes = mode == Mode::BesideAllowAll;
        let mut allow_maybe = false;
        for (s, t) in self.statements.iter().zip(applies) {
            let is_deny = matches!(s.effect, Effect::Deny | Effect::Unknown);
            let is_allow = matches!(s.effect, Effect::Allow | Effect::Unknown);
            if mode == Mode::AllowsOnly && !is_allow {
                continue;
            }
            match t {
                Tri::No => {}
                Tri::Yes => match s.effect {
                    Effect::Deny if mode != Mode::AllowsOnly => {
                        deny_yes = true;
                        break;
                    }
                    Effect::Allow => allow_yes = true,
                    // An applicable statement of unknown effect may allow or deny.
                    _ => {
                        deny_maybe |= mode != Mode::AllowsOnly;
                        allow_maybe = true;
                    }
                },
                Tri::Maybe => {
                    deny_maybe |= is_deny && mode != Mode::AllowsOnly;
                    allow_maybe |= is_allow;
                }
            }
        }
        if deny_yes {
            return Possible(Possible::EXPLICIT);
        }
        let mut p = if allow_yes {
            Possible::ALLOWED
        } else if allow_maybe {
            Possible::ALLOWED | Possible::IMPLICIT
        } else {
            Possible::IMPLICIT
        };
        if deny_maybe {
            p |= Possible::EXPLICIT;
        }
        Possible(p)
    }

    /// Reasons behind an Unknown decision: every statement that might apply and whose effect could
    /// still change the outcome.
    pub fn reasons(
        &self,
        action_lower: &[char],
        resource: &[char],
        ctx: Context,
        mode: Mode,
    ) -> Vec<String> {
        let mut out = Vec::new();
        let allow_yes = mode == Mode::BesideAllowAll
            || self.statements.iter().any(|s| {
                s.effect == Effect::Allow && s.applies(action_lower, resource, ctx) == Tri::Yes
            });
        for s in &self.statements {
            let relevant = match s.effect {
                Effect::Deny => mode != Mode::AllowsOnly,
                Effect::Allow => !allow_yes,
                Effect::Unknown => true,
            };
            let t = s.applies(action_lower, resource, ctx);
            // A statement of unknown effect matters even when it certainly applies.
            if relevant && (t == Tri::Maybe || (t == Tri::Yes && s.effect == Effect::Unknown)) {
                s.reasons(action_lower, resource, ctx, &mut out);
            }
        }
        out
    }
}

/// Compiles `doc` for requests by `username`. Never fails: problems become Unknown statements.
pub fn compile(doc: &Value, username: &str) -> Compiled {
    let Some(obj) = doc.as_object() else {
        return broken("document is not a JSON object");
    };
    // Policy variables exist only in policy language version 2012-10-17; in older (or missing) versions
    // `${aws:username}` is plain text, a classic reason why a copied policy "does nothing".
    let vars = obj.get("Version").and_then(Value::as_str) == Some("2012-10-17");
    let stmts: Vec<&Value> = match obj.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        Some(_) => return broken("\"Statement\" is neither an object nor an array"),
        None => return broken("document has no \"Statement\""),
    };
    Compiled {
        statements: stmts
            .into_iter()
            .enumerate()
            .map(|(i, s)| compile_statement(i + 1, s, username, vars))
            .collect(),
    }
}

fn broken(reason: &str) -> Compiled {
    Compiled {
        statements: vec![broken_statement("document".to_string(), reason)],
    }
}

/// A statement that may apply to anything with any effect: how malformed input is evaluated.
fn broken_statement(label: String, reason: &str) -> Statement {
    Statement {
        label,
        effect: Effect::Unknown,
        effect_reason: Some(reason.to_string()),
        actions: ActionSpec::Malformed(reason.to_string()),
        resources: vec![ResourceSpec {
            negate: false,
            globs: Vec::new(),
            unknown: Vec::new(),
            malformed: Some(reason.to_string()),
        }],
        resource_of: [0; 4],
        conditions: Context::ALL.map(|_| (Tri::Maybe, Vec::new())),
    }
}

/// Gets an element; IAM element names are case-sensitive.
fn element<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name)
}

/// A string or an array of strings; `Err` describes anything else.
fn string_list<'a>(v: &'a Value, what: &str) -> Result<Vec<&'a str>, String> {
    match v {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .ok_or_else(|| format!("\"{what}\" must contain only strings"))
            })
            .collect(),
        _ => Err(format!(
            "\"{what}\" must be a string or an array of strings"
        )),
    }
}

fn compile_statement(n: usize, stmt: &Value, username: &str, vars: bool) -> Statement {
    let sid = stmt.get("Sid").and_then(Value::as_str);
    let label = match sid {
        Some(sid) => format!("statement {n} (Sid \"{sid}\")"),
        None => format!("statement {n}"),
    };
    let Some(obj) = stmt.as_object() else {
        return broken_statement(label, "statement is not a JSON object");
    };

    let (effect, effect_reason) = match element(obj, "Effect").and_then(Value::as_str) {
        Some("Allow") => (Effect::Allow, None),
        Some("Deny") => (Effect::Deny, None),
        Some(other) => (
            Effect::Unknown,
            Some(format!(
                "\"Effect\" is {other:?}, not \"Allow\" or \"Deny\""
            )),
        ),
        None => (
            Effect::Unknown,
            Some("statement has no \"Effect\"".to_string()),
        ),
    };
    let (effect, effect_reason) =
        if obj.contains_key("Principal") || obj.contains_key("NotPrincipal") {
            // Identity policies cannot name principals; IAM would reject the document, so what it would do
            // is not known.
            (
                Effect::Unknown,
                Some("\"Principal\" is not valid in an identity policy".to_string()),
            )
        } else {
            (effect, effect_reason)
        };

    let actions = match (element(obj, "Action"), element(obj, "NotAction")) {
        (Some(v), None) | (None, Some(v)) => match string_list(
            v,
            if obj.contains_key("Action") {
                "Action"
            } else {
                "NotAction"
            },
        ) {
            Ok(list) => {
                let (mut literals, mut wildcards) = (Vec::new(), Vec::new());
                for a in list {
                    let lower = a.to_lowercase();
                    if lower.contains(['*', '?']) {
                        wildcards.push(Glob::new(&lower));
                    } else {
                        literals.push(lower);
                    }
                }
                ActionSpec::Match {
                    negate: obj.contains_key("NotAction"),
                    literals,
                    wildcards,
                }
            }
            Err(e) => ActionSpec::Malformed(e),
        },
        (Some(_), Some(_)) => {
            ActionSpec::Malformed("statement has both \"Action\" and \"NotAction\"".to_string())
        }
        (None, None) => {
            ActionSpec::Malformed("statement has neither \"Action\" nor \"NotAction\"".to_string())
        }
    };

    let compile_for = |ctx: Context| {
        let values = CtxValues {
            context: ctx,
            username,
        };
        compile_resources(obj, &values, vars)
    };
    let (resources, resource_of) = if vars && names_context_variable(obj) {
        (Context::ALL.map(compile_for).into(), [0, 1, 2, 3])
    } else {
        (vec![compile_for(Context::MfaPresent)], [0; 4])
    };

    let conditions = Context::ALL.map(|ctx| {
        let values = CtxValues {
            context: ctx,
            username,
        };
        match element(obj, "Condition") {
            None => (Tri::Yes, Vec::new()),
            Some(c) => eval_condition(c, &values, vars),
        }
    });

    Statement {
        label,
        effect,
        effect_reason,
        actions,
        resources,
        resource_of,
        conditions,
    }
}

/// Whether `Resource`/`NotResource` names a policy variable whose value depends on the
/// [`Context`] (see [`CONTEXT_KEYS`]); every other variable resolves the same in every context.
fn names_context_variable(obj: &serde_json::Map<String, Value>) -> bool {
    let texts = ["Resource", "NotResource"]
        .into_iter()
        .filter_map(|name| element(obj, name))
        .filter_map(|v| string_list(v, "Resource").ok())
        .flatten();
    texts.into_iter().any(|text| {
        text.contains("${")
            && pattern::parse_template(text).iter().any(|piece| {
                matches!(piece, Piece::Var(key, _)
                    if CONTEXT_KEYS.contains(&key.to_ascii_lowercase().as_str()))
            })
    })
}

fn compile_resources(
    obj: &serde_json::Map<String, Value>,
    ctx: &CtxValues,
    vars: bool,
) -> ResourceSpec {
    let mut spec = ResourceSpec {
        negate: false,
        globs: Vec::new(),
        unknown: Vec::new(),
        malformed: None,
    };
    let (name, value) = match (element(obj, "Resource"), element(obj, "NotResource")) {
        (Some(v), None) => ("Resource", v),
        (None, Some(v)) => ("NotResource", v),
        (Some(_), Some(_)) => {
            spec.malformed =
                Some("statement has both \"Resource\" and \"NotResource\"".to_string());
            return spec;
        }
        (None, None) => {
            spec.malformed =
                Some("statement has neither \"Resource\" nor \"NotResource\"".to_string());
            return spec;
        }
    };
    spec.negate = name == "NotResource";
    let list = match string_list(value, name) {
        Ok(list) => list,
        Err(e) => {
            spec.malformed = Some(e);
            return spec;
        }
    };
    for text in list {
        let resolved = if vars {
            pattern::resolve(text, false, &|k| ctx.lookup(k))
        } else {
            Resolved::Glob(Glob::new(text))
        };
        match resolved {
            Resolved::Glob(g) => spec.globs.push(ArnGlob::new(g)),
            Resolved::Missing => {}
            Resolved::Unknown(key) => spec.unknown.push(format!(
                "policy variable \"${{{key}}}\" in {name} is not modelled"
            )),
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resource_naming_an_mfa_key_is_resolved_per_context() {
        let doc = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "iam:GetUser",
            "Resource": "arn:aws:iam::1:user/${aws:MultiFactorAuthPresent}"}]});
        let c = compile(&doc, "alice");
        let st = &c.statements[0];
        let cases = [
            ("true", Context::MfaPresent, Tri::Yes),
            ("true", Context::MfaAbsent, Tri::No),
            ("false", Context::MfaAbsent, Tri::Yes),
            // Key missing: the pattern matches nothing.
            ("true", Context::MfaKeyMissing, Tri::No),
            ("false", Context::MfaKeyMissing, Tri::No),
        ];
        for (value, ctx, expected) in cases {
            let arn: Vec<char> = format!("arn:aws:iam::1:user/{value}").chars().collect();
            assert_eq!(st.resource_tri(&arn, ctx), expected, "{value} {ctx:?}");
        }
    }

    #[test]
    fn possible_decisions() {
        assert_eq!(
            Possible(Possible::ALLOWED | Possible::EXPLICIT).decision(),
            Decision::Unknown
        );
        assert_eq!(
            Possible(Possible::ALLOWED | Possible::IMPLICIT).decisions(),
            vec![Decision::Allowed, Decision::ImplicitDeny]
        );
    }
}
