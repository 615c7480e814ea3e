//! Terraform `data "aws_iam_policy_document"` blocks: `statement` blocks with `sid`, `effect`,
//! `actions` / `not_actions`, `resources` / `not_resources` and `condition { test, variable,
//! values }` blocks, read as the JSON policy the provider renders (`&{aws:username}` is the IAM
//! variable `${aws:username}`), and written back block by block: unchanged statements keep their
//! lines, changed ones are printed the way `terraform fmt` lays them out.

use std::collections::HashMap;

use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, Structure};
use hcl_edit::Span;
use serde_json::{json, Map, Value};

use crate::hclquote::quoted;
use crate::lines::{line_indent, line_of};
use crate::model::{Ctx, DocumentCtx, Embedded, Form, Obstacle, PolicyKind};
use crate::placeholder;
use crate::splice;
use crate::template::string_template;

/// Attribute name ↔ policy key.
const LISTS: &[(&str, &str)] = &[
    ("actions", "Action"),
    ("not_actions", "NotAction"),
    ("resources", "Resource"),
    ("not_resources", "NotResource"),
];

pub(crate) fn extract(text: &str, block: &Block, address: &str) -> Option<Embedded> {
    let span = block.span()?;
    let mut obstacles = Vec::new();
    let mut opaque: Vec<String> = Vec::new();
    let mut array_lines = HashMap::new();
    let mut statements = Vec::new();
    let mut items = Vec::new();
    let mut no_effect = Vec::new();
    let mut version = Value::String("2012-10-17".into());
    let mut obstacle = |at: usize, what: String| {
        obstacles.push(Obstacle {
            line: line_of(text, at),
            what,
            unreadable: true,
        })
    };
    for s in block.body.iter() {
        match s {
            Structure::Attribute(a) => {
                let at = a.span().map_or(span.start, |r| r.start);
                match a.key.as_str() {
                    "version" => match &a.value {
                        Expression::String(v) => version = Value::String(v.value().clone()),
                        _ => obstacle(at, "a computed `version`".into()),
                    },
                    "policy_id" => {}
                    other => obstacle(
                        at,
                        format!("`{other}`: the policy is built from several documents"),
                    ),
                }
            }
            Structure::Block(b) if b.ident.as_str() == "statement" => {
                let Some(bs) = b.span() else { continue };
                items.push(splice::whole_lines(text, bs.start, bs.end));
                let (stmt, had_effect) =
                    statement(text, b, &mut opaque, &mut array_lines, &mut obstacle);
                no_effect.push(!had_effect);
                statements.push(stmt);
            }
            Structure::Block(b) => {
                let at = b.span().map_or(span.start, |r| r.start);
                let what = if b.ident.as_str() == "dynamic" {
                    "a `dynamic` block".to_string()
                } else {
                    format!("a `{}` block", b.ident.as_str())
                };
                obstacle(at, format!("{what} that forcemfa cannot read or rewrite"));
            }
        }
    }
    if items.is_empty() && obstacles.is_empty() {
        return None;
    }
    let first = items.first().map_or(span.start, |r| r.start);
    let indent = line_indent(text, first).to_string();
    let step = block
        .body
        .iter()
        .find_map(|s| match s {
            Structure::Block(b) if b.ident.as_str() == "statement" => b.body.iter().next(),
            _ => None,
        })
        .and_then(|inner| inner.span())
        .map(|r| line_indent(text, r.start).to_string())
        .and_then(|inner| inner.strip_prefix(indent.as_str()).map(str::to_string))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "  ".into());
    let policy = json!({"Version": version, "Statement": statements});
    let blank_between = items
        .windows(2)
        .any(|w| text[w[0].end..w[1].start].starts_with('\n'));
    let last = items.last().map_or(span.end, |r| r.end);
    Some(Embedded {
        resource: address.to_string(),
        resource_type: "aws_iam_policy_document".into(),
        kind: PolicyKind::Unknown,
        form: Form::TerraformPolicyDocument,
        line: line_of(text, span.start),
        end_line: line_of(text, span.end.saturating_sub(1)),
        policy,
        obstacles,
        span: first..last,
        ctx: Ctx::Document(DocumentCtx {
            opaque,
            items,
            indent,
            step,
            array_lines,
            no_effect,
            blank_between,
        }),
    })
}

fn statement(
    text: &str,
    b: &Block,
    opaque: &mut Vec<String>,
    array_lines: &mut HashMap<String, bool>,
    obstacle: &mut dyn FnMut(usize, String),
) -> (Value, bool) {
    let mut m = Map::new();
    let mut conditions: Map<String, Value> = Map::new();
    let mut had_effect = false;
    let mut effect = Value::String("Allow".into());
    let mut sid = None;
    let mut lists: Vec<(&str, Value)> = Vec::new();
    let mut principals: Map<String, Value> = Map::new();
    for s in b.body.iter() {
        match s {
            Structure::Attribute(a) => {
                let at = a.span().map_or(0, |r| r.start);
                let key = a.key.as_str();
                match key {
                    "sid" => sid = Some(scalar(text, &a.value, opaque, obstacle)),
                    "effect" => {
                        had_effect = true;
                        effect = scalar(text, &a.value, opaque, obstacle);
                    }
                    _ => match LISTS.iter().find(|(k, _)| *k == key) {
                        Some((_, json_key)) => {
                            if let Some(r) = a.value.span() {
                                *array_lines.entry(key.to_string()).or_insert(false) |=
                                    text[r].contains('\n');
                            }
                            lists.push((json_key, list(text, &a.value, opaque, obstacle)));
                        }
                        None => obstacle(at, format!("the statement attribute `{key}`")),
                    },
                }
            }
            Structure::Block(c) if c.ident.as_str() == "condition" => {
                let Some((test, variable, values)) =
                    condition(text, c, opaque, array_lines, obstacle)
                else {
                    continue;
                };
                let entry = conditions.entry(test).or_insert_with(|| json!({}));
                if let Value::Object(vars) = entry {
                    vars.insert(variable, values);
                }
            }
            Structure::Block(c) if matches!(c.ident.as_str(), "principals" | "not_principals") => {
                let (kind, ids) = principals_of(text, c, opaque, obstacle);
                let key = if c.ident.as_str() == "principals" {
                    "Principal"
                } else {
                    "NotPrincipal"
                };
                if let (Some(kind), Value::Object(p)) = (
                    kind,
                    principals
                        .entry(key.to_string())
                        .or_insert_with(|| json!({})),
                ) {
                    p.insert(kind, ids);
                }
            }
            Structure::Block(c) => obstacle(
                c.span().map_or(0, |r| r.start),
                format!("a `{}` block in a statement", c.ident.as_str()),
            ),
        }
    }
    if let Some(sid) = sid {
        m.insert("Sid".into(), sid);
    }
    m.insert("Effect".into(), effect);
    m.extend(principals);
    for (k, v) in lists {
        m.insert(k.to_string(), v);
    }
    if !conditions.is_empty() {
        m.insert("Condition".into(), Value::Object(conditions));
    }
    (Value::Object(m), had_effect)
}

/// A `condition` block: its test, variable and values; `None` (named as an obstacle) when the
/// test or the variable is missing.
fn condition(
    text: &str,
    c: &Block,
    opaque: &mut Vec<String>,
    array_lines: &mut HashMap<String, bool>,
    obstacle: &mut dyn FnMut(usize, String),
) -> Option<(String, String, Value)> {
    let mut test = None;
    let mut variable = None;
    let mut values = Value::Array(Vec::new());
    for x in c.body.iter() {
        if let Structure::Attribute(a) = x {
            match a.key.as_str() {
                "test" => {
                    test = scalar(text, &a.value, opaque, obstacle)
                        .as_str()
                        .map(str::to_string)
                }
                "variable" => {
                    variable = scalar(text, &a.value, opaque, obstacle)
                        .as_str()
                        .map(str::to_string)
                }
                "values" => {
                    if let Some(r) = a.value.span() {
                        *array_lines.entry("values".into()).or_insert(false) |=
                            text[r].contains('\n');
                    }
                    values = list(text, &a.value, opaque, obstacle)
                }
                _ => {}
            }
        }
    }
    let (Some(test), Some(variable)) = (test, variable) else {
        obstacle(
            c.span().map_or(0, |r| r.start),
            "a `condition` block without test or variable".into(),
        );
        return None;
    };
    Some((test, variable, values))
}

/// A `principals` (or `not_principals`) block: its type and identifiers.
fn principals_of(
    text: &str,
    c: &Block,
    opaque: &mut Vec<String>,
    obstacle: &mut dyn FnMut(usize, String),
) -> (Option<String>, Value) {
    let mut kind = None;
    let mut ids = Value::Array(Vec::new());
    for x in c.body.iter() {
        if let Structure::Attribute(a) = x {
            match a.key.as_str() {
                "type" => {
                    kind = scalar(text, &a.value, opaque, obstacle)
                        .as_str()
                        .map(str::to_string)
                }
                "identifiers" => ids = list(text, &a.value, opaque, obstacle),
                _ => {}
            }
        }
    }
    (kind, ids)
}

fn opaque_of(text: &str, e: &Expression, opaque: &mut Vec<String>) -> Value {
    let src = e.span().map(|r| text[r].to_string()).unwrap_or_default();
    let n = match opaque.iter().position(|o| *o == src) {
        Some(n) => n,
        None => {
            opaque.push(src);
            opaque.len() - 1
        }
    };
    Value::String(placeholder::opaque_token(n))
}

fn scalar(
    text: &str,
    e: &Expression,
    opaque: &mut Vec<String>,
    obstacle: &mut dyn FnMut(usize, String),
) -> Value {
    let at = e.span().map_or(0, |r| r.start);
    match e {
        Expression::String(s) => Value::String(s.value().replace("&{", "${")),
        // `values = [false]`: the provider renders HCL booleans and numbers as strings.
        Expression::Bool(b) => Value::String(b.value().to_string()),
        Expression::Number(_) => Value::String(
            e.span()
                .map(|r| text[r].trim().to_string())
                .unwrap_or_default(),
        ),
        Expression::StringTemplate(_) => {
            let src = e.span().map(|r| text[r].to_string()).unwrap_or_default();
            match string_template(&src) {
                Ok(s) => Value::String(s.replace("&{", "${")),
                Err(what) => {
                    obstacle(at, what);
                    opaque_of(text, e, opaque)
                }
            }
        }
        _ => {
            let src = e.span().map(|r| text[r].to_string()).unwrap_or_default();
            obstacle(
                at,
                format!(
                    "a computed value (`{}`) that forcemfa cannot read or rewrite",
                    src.trim()
                ),
            );
            opaque_of(text, e, opaque)
        }
    }
}

fn list(
    text: &str,
    e: &Expression,
    opaque: &mut Vec<String>,
    obstacle: &mut dyn FnMut(usize, String),
) -> Value {
    match e {
        Expression::Array(a) => Value::Array(
            a.iter()
                .map(|x| scalar(text, x, opaque, obstacle))
                .collect(),
        ),
        other => Value::Array(vec![scalar(text, other, opaque, obstacle)]),
    }
}

/// An HCL string for a resolved string: IAM variables as `&{…}`, names as `${…}`.
fn hcl(s: &str, opaque: &[String]) -> String {
    if let Some(src) = placeholder::opaque_index(s).and_then(|i| opaque.get(i)) {
        return src.clone();
    }
    quoted(s, "&{")
}

/// Attribute lines of one block body at `ind`, `=` aligned over runs of one-line values.
fn attrs(lines: &[(String, String)], ind: &str, out: &mut String) {
    let mut i = 0;
    while i < lines.len() {
        if lines[i].1.contains('\n') {
            out.push_str(&format!("{ind}{} = {}\n", lines[i].0, lines[i].1));
            i += 1;
            continue;
        }
        let mut j = i;
        while j < lines.len() && !lines[j].1.contains('\n') {
            j += 1;
        }
        let width = lines[i..j].iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in &lines[i..j] {
            out.push_str(&format!("{ind}{k:<width$} = {v}\n"));
        }
        i = j;
    }
}

fn render_list(cx: &DocumentCtx, key: &str, v: &Value, ind: &str) -> Result<String, String> {
    let items: Vec<String> = match v {
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map(|s| hcl(s, &cx.opaque)))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("`{key}` would not be a list of strings"))?,
        Value::String(s) => vec![hcl(s, &cx.opaque)],
        _ => return Err(format!("`{key}` would not be a list of strings")),
    };
    // One item fits on a line; longer lists as the file writes them.
    let multiline = items.len() > 1 && cx.array_lines.get(key).copied().unwrap_or(true);
    if !multiline {
        return Ok(format!("[{}]", items.join(", ")));
    }
    let mut out = String::from("[\n");
    for it in items {
        out.push_str(&format!("{ind}{}{it},\n", cx.step));
    }
    out.push_str(ind);
    out.push(']');
    Ok(out)
}

fn render_statement(cx: &DocumentCtx, v: &Value, omit_allow: bool) -> Result<String, String> {
    let Value::Object(m) = v else {
        return Err("a statement would not be an object".into());
    };
    let ind = format!("{}{}", cx.indent, cx.step);
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut conditions = String::new();
    for (k, x) in m {
        match k.as_str() {
            "Sid" | "Effect" => {
                let s = x
                    .as_str()
                    .ok_or_else(|| format!("`{k}` would not be a string"))?;
                if k == "Effect" && omit_allow && s == "Allow" {
                    continue;
                }
                lines.push((k.to_ascii_lowercase(), hcl(s, &cx.opaque)));
            }
            "Condition" => {
                let Value::Object(tests) = x else {
                    return Err("`Condition` would not be an object".into());
                };
                for (test, vars) in tests {
                    let Value::Object(vars) = vars else {
                        return Err("a condition would not be an object".into());
                    };
                    for (variable, values) in vars {
                        let cind = format!("{ind}{}", cx.step);
                        let values = render_list(cx, "values", &ensure_list(values), &cind)?;
                        conditions.push_str(&format!("\n{ind}condition {{\n"));
                        attrs(
                            &[
                                ("test".into(), hcl(test, &cx.opaque)),
                                ("variable".into(), hcl(variable, &cx.opaque)),
                                ("values".into(), values),
                            ],
                            &cind,
                            &mut conditions,
                        );
                        conditions.push_str(&format!("{ind}}}\n"));
                    }
                }
            }
            other => match LISTS.iter().find(|(_, j)| *j == other) {
                Some((attr, _)) => lines.push((attr.to_string(), render_list(cx, attr, x, &ind)?)),
                None => {
                    return Err(format!(
                        "`{other}` has no aws_iam_policy_document form here"
                    ))
                }
            },
        }
    }
    let mut out = format!("{}statement {{\n", cx.indent);
    attrs(&lines, &ind, &mut out);
    out.push_str(&conditions);
    out.push_str(&format!("{}}}\n", cx.indent));
    Ok(out)
}

fn ensure_list(v: &Value) -> Value {
    match v {
        Value::Array(_) => v.clone(),
        other => Value::Array(vec![other.clone()]),
    }
}

pub(crate) fn rewrite(
    text: &str,
    e: &Embedded,
    cx: &DocumentCtx,
    new: &Value,
) -> Result<String, String> {
    if e.policy.get("Version") != new.get("Version") {
        return Err("the policy's version would change".into());
    }
    let (Some(Value::Array(old)), Some(Value::Array(newer))) =
        (e.policy.get("Statement"), new.get("Statement"))
    else {
        return Err("the statements would not be a list".into());
    };
    // A statement written without `effect` stays so while it allows.
    let omit_allow = cx.no_effect.iter().all(|x| *x) && !cx.no_effect.is_empty();
    let failed = std::cell::RefCell::new(None);
    let render = |v: &Value, first: bool, replaces: Option<usize>| {
        match render_statement(cx, v, omit_allow) {
            Ok(s) => {
                // Comments inside the block it replaces stay next to what they described.
                let s = match replaces.and_then(|k| cx.items.get(k)) {
                    Some(r) => splice::keep_comments(&text[r.clone()], &s, &["#", "//"]),
                    None => s,
                };
                if cx.blank_between && !first {
                    format!("\n{s}")
                } else {
                    s
                }
            }
            Err(why) => {
                failed.borrow_mut().get_or_insert(why);
                String::new()
            }
        }
    };
    let spliced = splice::splice_items(text, &cx.items, old, newer, &render)
        .ok_or_else(|| "the statement blocks could not be located".to_string())?;
    let (range, replacement) = (spliced.range, spliced.text);
    if let Some(why) = failed.into_inner() {
        return Err(why);
    }
    // A new block beside a kept blank line: one blank line between blocks, as the file has.
    let mut replacement = replacement;
    if !text[range.clone()].contains("\n\n\n") {
        while replacement.contains("\n\n\n") {
            replacement = replacement.replace("\n\n\n", "\n\n");
        }
    }
    Ok(format!(
        "{}{replacement}{}",
        &text[..range.start],
        &text[range.end..]
    ))
}
