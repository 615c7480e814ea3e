//! `Condition` elements and the request context: three-valued logic ([`Tri`]), the context values
//! the evaluator models per MFA situation ([`CtxValues`]), the condition operators, and policy
//! variables in condition values. A condition is decided once per [`Context`] when a document is
//! compiled; anything not modelled is [`Tri::Maybe`] with a reason.

use serde_json::Value;

use super::pattern::{self, ArnGlob, Glob, Piece, Resolved};
use super::request::Context;

/// Three-valued applicability of a statement (or of one of its parts) to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tri {
    No,
    Yes,
    Maybe,
}

impl Tri {
    pub fn and(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::No, _) | (_, Tri::No) => Tri::No,
            (Tri::Yes, Tri::Yes) => Tri::Yes,
            _ => Tri::Maybe,
        }
    }

    pub(super) fn not(self) -> Tri {
        match self {
            Tri::No => Tri::Yes,
            Tri::Yes => Tri::No,
            Tri::Maybe => Tri::Maybe,
        }
    }

    /// `Yes` if any is `Yes`, else `Maybe` if any is `Maybe`, else `No`.
    pub(super) fn any(items: impl IntoIterator<Item = Tri>) -> Tri {
        let mut out = Tri::No;
        for t in items {
            match t {
                Tri::Yes => return Tri::Yes,
                Tri::Maybe => out = Tri::Maybe,
                Tri::No => {}
            }
        }
        out
    }
}

/// The condition keys (lowercase) whose value [`CtxValues::lookup`] gives differently per
/// [`Context`]; every other key it models has one value for all contexts.
pub const CONTEXT_KEYS: [&str; 2] = ["aws:multifactorauthpresent", "aws:multifactorauthage"];

/// The request-context values the evaluator models, for one [`Context`] and user name.
pub struct CtxValues<'a> {
    pub context: Context,
    pub username: &'a str,
}

impl CtxValues<'_> {
    /// `Ok(Some(v))` present, `Ok(None)` absent from the request, `Err(())` not modelled (any key but
    /// aws:MultiFactorAuthPresent, aws:MultiFactorAuthAge, aws:username, aws:ViaAWSService,
    /// aws:PrincipalType).
    /// `key` must be lowercase (condition keys are case-insensitive).
    pub fn lookup(&self, key: &str) -> Result<Option<String>, ()> {
        let value = match key {
            "aws:multifactorauthpresent" => match self.context {
                Context::MfaPresent | Context::MfaStale => Some("true"),
                // Console sign-in or temporary credentials without MFA carry the key as `false`.
                Context::MfaAbsent => Some("false"),
                // Long-term access keys: the key is absent, which is why `Bool` guards miss them.
                Context::MfaKeyMissing => None,
            },
            "aws:multifactorauthage" => match self.context {
                Context::MfaPresent => Some("120"),
                Context::MfaStale => Some(super::request::STALE_MFA_AGE),
                Context::MfaAbsent | Context::MfaKeyMissing => None,
            },
            "aws:username" => Some(self.username),
            // The user calls IAM/STS directly, not through a service acting on their behalf.
            "aws:viaawsservice" => Some("false"),
            "aws:principaltype" => Some("User"),
            _ => return Err(()),
        };
        Ok(value.map(str::to_string))
    }
}

/// Base condition operators (lowercase names after removing `ForAnyValue:`/`ForAllValues:` and
/// `IfExists`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    Bool,
    Null,
    Arn,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Single,
    ForAnyValue,
    ForAllValues,
}

struct Operator {
    base: Op,
    /// `StringNotEquals`, `ArnNotLike`, …: true when no value matches (and when the key is absent).
    negated: bool,
    if_exists: bool,
    set: SetOp,
}

fn parse_operator(name: &str) -> Option<Operator> {
    let lower = name.to_ascii_lowercase();
    let (set, rest) = if let Some(r) = lower.strip_prefix("foranyvalue:") {
        (SetOp::ForAnyValue, r)
    } else if let Some(r) = lower.strip_prefix("forallvalues:") {
        (SetOp::ForAllValues, r)
    } else {
        (SetOp::Single, lower.as_str())
    };
    let (if_exists, base) = match rest.strip_suffix("ifexists") {
        Some(b) => (true, b),
        None => (false, rest),
    };
    let (base, negated) = match base {
        "stringequals" => (Op::StringEquals, false),
        "stringnotequals" => (Op::StringEquals, true),
        "stringequalsignorecase" => (Op::StringEqualsIgnoreCase, false),
        "stringnotequalsignorecase" => (Op::StringEqualsIgnoreCase, true),
        "stringlike" => (Op::StringLike, false),
        "stringnotlike" => (Op::StringLike, true),
        "numericequals" => (Op::NumericEquals, false),
        "numericnotequals" => (Op::NumericEquals, true),
        "numericlessthan" => (Op::NumericLessThan, false),
        "numericlessthanequals" => (Op::NumericLessThanEquals, false),
        "numericgreaterthan" => (Op::NumericGreaterThan, false),
        "numericgreaterthanequals" => (Op::NumericGreaterThanEquals, false),
        "bool" => (Op::Bool, false),
        // `Null` has no IfExists form and no set form.
        "null" if !if_exists && set == SetOp::Single => (Op::Null, false),
        "arnequals" | "arnlike" => (Op::Arn, false),
        "arnnotequals" | "arnnotlike" => (Op::Arn, true),
        _ => return None,
    };
    Some(Operator {
        base,
        negated,
        if_exists,
        set,
    })
}

/// Evaluates a `Condition` element for one context: AND across operators and keys, OR across values.
pub fn eval_condition(cond: &Value, ctx: &CtxValues, vars: bool) -> (Tri, Vec<String>) {
    let Some(ops) = cond.as_object() else {
        return (
            Tri::Maybe,
            vec!["\"Condition\" is not a JSON object".to_string()],
        );
    };
    let mut result = Tri::Yes;
    let mut reasons = Vec::new();
    for (op_name, block) in ops {
        let Some(op) = parse_operator(op_name) else {
            result = result.and(Tri::Maybe);
            reasons.push(format!("unsupported condition operator {op_name:?}"));
            continue;
        };
        let Some(keys) = block.as_object() else {
            result = result.and(Tri::Maybe);
            reasons.push(format!(
                "condition operator {op_name:?} does not map keys to values"
            ));
            continue;
        };
        for (key, values) in keys {
            let (t, why) = eval_key(&op, key, values, ctx, vars);
            result = result.and(t);
            if t == Tri::Maybe {
                reasons.extend(why);
            }
            if result == Tri::No {
                // A definitely false clause decides the whole condition; unknowns elsewhere are moot.
                return (Tri::No, Vec::new());
            }
        }
    }
    if result != Tri::Maybe {
        reasons.clear();
    }
    (result, reasons)
}

fn eval_key(
    op: &Operator,
    key: &str,
    values: &Value,
    ctx: &CtxValues,
    vars: bool,
) -> (Tri, Option<String>) {
    let key_lower = key.to_ascii_lowercase();
    let present = match ctx.lookup(&key_lower) {
        Ok(v) => v,
        Err(()) => {
            return (
                Tri::Maybe,
                Some(format!("condition key {key:?} is not modelled")),
            )
        }
    };
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let policy_values: Option<Vec<String>> = match values {
        Value::Array(items) => items.iter().map(scalar).collect(),
        v => scalar(v).map(|s| vec![s]),
    };
    let Some(policy_values) = policy_values else {
        return (
            Tri::Maybe,
            Some(format!(
                "condition values for {key:?} must be strings, booleans or numbers"
            )),
        );
    };

    let Some(actual) = present else {
        // Key absent from the request (AWS "Condition operators": a missing key does not match,
        // except for …IfExists, Null, the negated operators, and ForAllValues, which is vacuously true).
        let t = if op.base == Op::Null {
            policy_values.iter().any(|v| v.eq_ignore_ascii_case("true"))
        } else if op.if_exists {
            true
        } else {
            match op.set {
                SetOp::ForAllValues => true,
                SetOp::ForAnyValue => false,
                SetOp::Single => op.negated,
            }
        };
        return (if t { Tri::Yes } else { Tri::No }, None);
    };

    if op.base == Op::Null {
        let t = policy_values
            .iter()
            .any(|v| v.eq_ignore_ascii_case("false"));
        return (if t { Tri::Yes } else { Tri::No }, None);
    }

    let mut why = None;
    let hits =
        policy_values
            .iter()
            .map(|pv| match value_matches(op.base, pv, &actual, ctx, vars) {
                Ok(true) => Tri::Yes,
                Ok(false) => Tri::No,
                Err(e) => {
                    why.get_or_insert(e);
                    Tri::Maybe
                }
            });
    let any = Tri::any(hits.collect::<Vec<_>>());
    let t = if op.negated { any.not() } else { any };
    (t, if t == Tri::Maybe { why } else { None })
}

/// Resolves policy variables in a condition value as plain text: `Ok(None)` when a variable is absent.
fn resolve_text(text: &str, ctx: &CtxValues, vars: bool) -> Result<Option<String>, String> {
    if !vars || !text.contains("${") {
        return Ok(Some(text.to_string()));
    }
    let mut out = String::new();
    for piece in pattern::parse_template(text) {
        match piece {
            Piece::Pattern(p) | Piece::Literal(p) => out.push_str(&p),
            Piece::Var(key, default) => match ctx.lookup(&key.to_ascii_lowercase()) {
                Ok(Some(v)) => out.push_str(&v),
                Ok(None) => match default {
                    Some(d) => out.push_str(&d),
                    None => return Ok(None),
                },
                Err(()) => return Err(format!("policy variable \"${{{key}}}\" is not modelled")),
            },
        }
    }
    Ok(Some(out))
}

fn value_matches(
    op: Op,
    policy: &str,
    actual: &str,
    ctx: &CtxValues,
    vars: bool,
) -> Result<bool, String> {
    let chars = |s: &str| s.chars().collect::<Vec<char>>();
    match op {
        Op::StringEquals => Ok(resolve_text(policy, ctx, vars)?.is_some_and(|p| p == actual)),
        Op::StringEqualsIgnoreCase => Ok(resolve_text(policy, ctx, vars)?
            .is_some_and(|p| p.to_lowercase() == actual.to_lowercase())),
        Op::StringLike | Op::Arn => {
            let resolved = if vars {
                pattern::resolve(policy, false, &|k| ctx.lookup(k))
            } else {
                Resolved::Glob(Glob::new(policy))
            };
            match resolved {
                Resolved::Glob(g) if op == Op::Arn => Ok(ArnGlob::new(g).matches(&chars(actual))),
                Resolved::Glob(g) => Ok(g.matches(&chars(actual))),
                Resolved::Missing => Ok(false),
                Resolved::Unknown(key) => {
                    Err(format!("policy variable \"${{{key}}}\" is not modelled"))
                }
            }
        }
        Op::Bool => Ok(policy.eq_ignore_ascii_case(actual)),
        Op::NumericEquals
        | Op::NumericLessThan
        | Op::NumericLessThanEquals
        | Op::NumericGreaterThan
        | Op::NumericGreaterThanEquals => {
            let p: f64 = policy
                .trim()
                .parse()
                .map_err(|_| format!("{policy:?} is not a number"))?;
            let Ok(a) = actual.trim().parse::<f64>() else {
                return Ok(false);
            };
            Ok(match op {
                Op::NumericEquals => a == p,
                Op::NumericLessThan => a < p,
                Op::NumericLessThanEquals => a <= p,
                Op::NumericGreaterThan => a > p,
                _ => a >= p,
            })
        }
        Op::Null => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Resources are compiled once for all contexts unless they name a key of [`CONTEXT_KEYS`]:
    /// that is only right while every other key resolves the same in every context.
    #[test]
    fn only_context_keys_vary_by_context() {
        let keys = [
            "aws:username",
            "aws:viaawsservice",
            "aws:principaltype",
            "aws:sourceip",
            "aws:multifactorauthpresent",
            "aws:multifactorauthage",
        ];
        for key in keys {
            let values: Vec<_> = Context::ALL
                .iter()
                .map(|c| {
                    CtxValues {
                        context: *c,
                        username: "alice",
                    }
                    .lookup(key)
                })
                .collect();
            let varies = values.windows(2).any(|w| w[0] != w[1]);
            assert_eq!(varies, CONTEXT_KEYS.contains(&key), "{key}");
        }
    }

    #[test]
    fn operator_names() {
        let op =
            |n: &str| parse_operator(n).map(|o| (o.negated, o.if_exists, o.set == SetOp::Single));
        assert_eq!(op("StringNotLikeIfExists"), Some((true, true, true)));
        assert_eq!(op("forAnyValue:stringequals"), Some((false, false, false)));
        assert_eq!(op("ArnNotEquals"), Some((true, false, true)));
        assert_eq!(op("BOOLIFEXISTS"), Some((false, true, true)));
        assert!(op("NullIfExists").is_none(), "Null has no IfExists form");
        assert!(op("ForAnyValue:Null").is_none());
        assert!(op("DateGreaterThan").is_none());
        assert!(op("IpAddress").is_none());
        assert!(op("StringEqualsIfExistsIfExists").is_none());
    }

    #[test]
    fn conditions_are_resolved_once_per_context() {
        let ctx = |c| CtxValues {
            context: c,
            username: "alice",
        };
        let cond = json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}, "StringLike": {"aws:username": "a*"}});
        let got = Context::ALL.map(|c| eval_condition(&cond, &ctx(c), true).0);
        assert_eq!(got, [Tri::No, Tri::Yes, Tri::Yes, Tri::No]);
        let (t, why) = eval_condition(
            &json!({"StringEquals": {"aws:PrincipalTag/team": "x"}}),
            &ctx(Context::MfaPresent),
            true,
        );
        assert_eq!(t, Tri::Maybe);
        assert_eq!(
            why,
            vec!["condition key \"aws:PrincipalTag/team\" is not modelled".to_string()]
        );
        // Variables are plain text outside Version 2012-10-17.
        let (t, _) = eval_condition(
            &json!({"StringEquals": {"aws:username": "${aws:username}"}}),
            &ctx(Context::MfaPresent),
            false,
        );
        assert_eq!(t, Tri::No);
    }

    #[test]
    fn three_valued_logic() {
        assert_eq!(Tri::Maybe.and(Tri::No), Tri::No);
        assert_eq!(Tri::Maybe.and(Tri::Yes), Tri::Maybe);
        assert_eq!(Tri::any([Tri::No, Tri::Maybe]), Tri::Maybe);
        assert_eq!(Tri::any([Tri::Maybe, Tri::Yes]), Tri::Yes);
        assert_eq!(Tri::Maybe.not(), Tri::Maybe);
    }
}
