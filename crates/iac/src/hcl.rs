//! Terraform `.tf` files, read with `hcl-edit` (spans for every expression): `policy = <<EOF`
//! heredocs (handed to [`crate::template`]) and `policy = jsonencode({ … })` objects, in
//! `resource` blocks and their nested blocks (`inline_policy`), and `aws_iam_policy_document`
//! data blocks (handed to [`crate::document`]).
//!
//! A `jsonencode` object is written back in HCL object syntax: statements the migration left alone
//! keep their exact text, changed ones are printed the way `terraform fmt` lays them out.

use std::collections::HashMap;

use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::{Block, BlockLabel, Body, Structure};
use hcl_edit::Span;
use serde_json::{Map, Value};

use crate::placeholder::{self, Piece};
use crate::{line_indent, line_of, template, Ctx, Embedded, Form, IacError, Obstacle, PolicyKind};

#[derive(Debug, Clone)]
pub(crate) struct JsonencodeCtx {
    opaque: Vec<String>,
    leaves: HashMap<String, String>,
    keys: HashMap<String, String>,
    /// Source text of each statement object.
    statements: HashMap<String, String>,
    step: usize,
    base: usize,
    multiline_arrays: bool,
    /// Per key, whether its list was written over several lines.
    array_lines: HashMap<String, bool>,
}

pub(crate) fn extract(text: &str) -> Result<Vec<Embedded>, IacError> {
    let body = hcl_edit::parser::parse_body(text).map_err(|e| IacError::Syntax {
        line: e.location().line(),
        message: e.message().to_string(),
    })?;
    let mut out = Vec::new();
    for s in body.iter() {
        if let Structure::Block(b) = s {
            let labels: Vec<&str> = b.labels.iter().map(label).collect();
            let (address, ty) = match (b.ident.as_str(), labels.as_slice()) {
                ("resource", [ty, name]) => (format!("{ty}.{name}"), ty.to_string()),
                ("data", [ty, name]) => (format!("data.{ty}.{name}"), ty.to_string()),
                _ => continue,
            };
            let kind = match ty.as_str() {
                "aws_iam_policy" => PolicyKind::Managed,
                "aws_iam_user_policy" => PolicyKind::InlineUser,
                "aws_iam_group_policy" => PolicyKind::InlineGroup,
                "aws_iam_role_policy" | "aws_iam_role" => PolicyKind::InlineRole,
                _ => PolicyKind::Unknown,
            };
            if b.ident.as_str() == "data" && ty == "aws_iam_policy_document" {
                out.extend(crate::document::extract(text, b, &address));
                continue;
            }
            walk(text, &b.body, &address, &ty, kind, &mut out)?;
        }
    }
    Ok(out)
}

fn label(l: &BlockLabel) -> &str {
    match l {
        BlockLabel::Ident(i) => i.as_str(),
        BlockLabel::String(s) => s.as_str(),
    }
}

fn walk(
    text: &str,
    body: &Body,
    address: &str,
    ty: &str,
    kind: PolicyKind,
    out: &mut Vec<Embedded>,
) -> Result<(), IacError> {
    for s in body.iter() {
        match s {
            Structure::Attribute(a) if a.key.as_str() == "policy" => {
                if let Some(e) = policy_attr(text, &a.value, address, ty, kind)? {
                    out.push(e);
                }
            }
            Structure::Block(b) => {
                let inner: &Block = b;
                let addr = format!("{address} ({})", inner.ident.as_str());
                walk(text, &inner.body, &addr, ty, kind, out)?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn policy_attr(
    text: &str,
    value: &Expression,
    address: &str,
    ty: &str,
    kind: PolicyKind,
) -> Result<Option<Embedded>, IacError> {
    let Some(span) = value.span() else {
        return Ok(None);
    };
    match value {
        Expression::HeredocTemplate(_) => heredoc(text, span, address, ty, kind),
        Expression::FuncCall(f) if f.name.name.as_str() == "jsonencode" => {
            match f.args.iter().next() {
                Some(obj @ Expression::Object(_)) => Ok(jsonencode(text, obj, address, ty, kind)),
                _ => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

fn heredoc(
    text: &str,
    span: std::ops::Range<usize>,
    address: &str,
    ty: &str,
    kind: PolicyKind,
) -> Result<Option<Embedded>, IacError> {
    let src = &text[span.clone()];
    let Some(first_nl) = src.find('\n') else {
        return Ok(None);
    };
    let Some(last_nl) = src.trim_end().rfind('\n') else {
        return Ok(None);
    };
    if last_nl <= first_nl {
        return Ok(None);
    }
    let start = span.start + first_nl + 1;
    let end = span.start + last_nl + 1;
    let raw = &text[start..end];
    // `<<-EOF` bodies may be indented: read them dedented, write them back indented.
    let indent = raw
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| &l[..l.len() - l.trim_start_matches([' ', '\t']).len()])
        .min_by_key(|s| s.len())
        .unwrap_or("")
        .to_string();
    let body: String = raw
        .split_inclusive('\n')
        .map(|l| l.strip_prefix(indent.as_str()).unwrap_or(l))
        .collect();
    template::embedded(
        text,
        start..end,
        &body,
        &indent,
        address.to_string(),
        ty.to_string(),
        kind,
        Form::TerraformHeredoc,
    )
}

struct Reader<'a> {
    text: &'a str,
    cx: JsonencodeCtx,
    obstacles: Vec<Obstacle>,
}

fn jsonencode(
    text: &str,
    obj: &Expression,
    address: &str,
    ty: &str,
    kind: PolicyKind,
) -> Option<Embedded> {
    let span = obj.span()?;
    let base = line_indent(text, span.start).len();
    let src = &text[span.clone()];
    let step = src
        .lines()
        .nth(1)
        .map(|l| l.len() - l.trim_start().len())
        .filter(|n| *n > base)
        .map_or(2, |n| n - base);
    let mut r = Reader {
        text,
        cx: JsonencodeCtx {
            opaque: Vec::new(),
            leaves: HashMap::new(),
            keys: HashMap::new(),
            statements: HashMap::new(),
            step,
            base,
            multiline_arrays: false,
            array_lines: HashMap::new(),
        },
        obstacles: Vec::new(),
    };
    let policy = r.value(obj);
    policy.get("Statement")?;
    if let (Expression::Object(o), Some(Value::Array(stmts))) = (obj, policy.get("Statement")) {
        let list = o.iter().find_map(|(k, v)| match k {
            ObjectKey::Ident(i) if i.as_str() == "Statement" => Some(v.expr()),
            _ => None,
        });
        if let Some(Expression::Array(a)) = list {
            for (e, v) in a.iter().zip(stmts) {
                if let Some(sp) = e.span() {
                    r.cx.statements.insert(
                        serde_json::to_string(v).unwrap_or_default(),
                        text[sp].to_string(),
                    );
                }
            }
        }
    }
    Some(Embedded {
        resource: address.to_string(),
        resource_type: ty.to_string(),
        kind,
        form: Form::TerraformJsonencode,
        line: line_of(text, span.start),
        end_line: line_of(text, span.end.saturating_sub(1)),
        policy,
        obstacles: r.obstacles,
        span,
        ctx: Ctx::Jsonencode(r.cx),
    })
}

impl Reader<'_> {
    fn src(&self, e: &Expression) -> (String, usize) {
        match e.span() {
            Some(s) => (self.text[s.clone()].to_string(), s.start),
            None => (String::new(), 0),
        }
    }

    fn opaque(&mut self, src: String) -> Value {
        let n = match self.cx.opaque.iter().position(|o| *o == src) {
            Some(n) => n,
            None => {
                self.cx.opaque.push(src);
                self.cx.opaque.len() - 1
            }
        };
        Value::String(placeholder::opaque_token(n))
    }

    fn leaf(&mut self, v: &Value, src: String) {
        self.cx
            .leaves
            .entry(serde_json::to_string(v).unwrap_or_default())
            .or_insert(src);
    }

    fn value(&mut self, e: &Expression) -> Value {
        let (src, at) = self.src(e);
        match e {
            Expression::Null(_) => Value::Null,
            Expression::Bool(b) => Value::Bool(*b.value()),
            Expression::Number(_) => {
                let v = serde_json::from_str::<Value>(src.trim()).unwrap_or(Value::Null);
                self.leaf(&v, src);
                v
            }
            Expression::String(s) => {
                let v = Value::String(s.value().clone());
                self.leaf(&v, src);
                v
            }
            Expression::StringTemplate(_) => match string_template(&src) {
                Ok(s) => {
                    let v = Value::String(s);
                    self.leaf(&v, src);
                    v
                }
                Err(what) => {
                    self.obstacles.push(Obstacle {
                        line: line_of(self.text, at),
                        what,
                        unreadable: true,
                    });
                    self.opaque(src)
                }
            },
            Expression::Array(a) => {
                if src.contains('\n') {
                    self.cx.multiline_arrays = true;
                }
                Value::Array(a.iter().map(|x| self.value(x)).collect())
            }
            Expression::Object(o) => {
                let mut m = Map::new();
                for (k, v) in o.iter() {
                    let (key, ksrc) = match k {
                        ObjectKey::Ident(i) => (i.as_str().to_string(), i.as_str().to_string()),
                        ObjectKey::Expression(Expression::String(s)) => (
                            s.value().clone(),
                            s.span()
                                .map(|sp| self.text[sp].to_string())
                                .unwrap_or_else(|| format!("{:?}", s.value())),
                        ),
                        ObjectKey::Expression(x) => {
                            let (ks, kat) = self.src(x);
                            self.obstacles.push(Obstacle {
                                line: line_of(self.text, kat),
                                what: format!("a computed key `{ks}`"),
                                unreadable: true,
                            });
                            (ks.clone(), ks)
                        }
                    };
                    self.cx.keys.entry(key.clone()).or_insert(ksrc);
                    if let Expression::Array(_) = v.expr() {
                        let (vs, _) = self.src(v.expr());
                        self.cx
                            .array_lines
                            .entry(key.clone())
                            .or_insert(vs.contains('\n'));
                    }
                    let value = self.value(v.expr());
                    m.insert(key, value);
                }
                Value::Object(m)
            }
            _ => {
                let what = match e {
                    Expression::ForExpr(_) => "a `for` expression",
                    Expression::Traversal(_) | Expression::Variable(_) => "a value from elsewhere",
                    Expression::FuncCall(_) => "a function call",
                    Expression::Conditional(_) => "a conditional",
                    _ => "a computed value",
                };
                self.obstacles.push(Obstacle {
                    line: line_of(self.text, at),
                    what: format!(
                        "{what} (`{}`) that forcemfa cannot read or rewrite",
                        src.trim()
                    ),
                    unreadable: true,
                });
                self.opaque(src)
            }
        }
    }
}

/// An HCL quoted template string (`"arn:aws:iam::${var.account_id}:user/$${aws:username}"`) →
/// resolved string.
pub(crate) fn string_template(src: &str) -> Result<String, String> {
    let inner = src
        .trim()
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or_else(|| format!("a string forcemfa cannot read: {src}"))?;
    let r = template::resolve(&format!("\"{inner}\""));
    if let Some((_, what)) = r.obstacles.first() {
        return Err(format!("the string {src} holds {what}"));
    }
    if !r.opaque.is_empty() {
        return Err(format!(
            "the string {src} holds an interpolation forcemfa cannot keep"
        ));
    }
    serde_json::from_str::<String>(&r.json)
        .map_err(|_| format!("a string forcemfa cannot read: {src}"))
}

/// An HCL quoted string for a resolved string.
fn hcl_string(s: &str) -> String {
    quoted(s, "$${")
}

/// An HCL quoted string for a resolved string: names as `${…}`, text escaped as JSON escapes it,
/// a literal `${` in the text written as `dollar` (`$${`, or `&{` for an IAM policy variable in
/// an `aws_iam_policy_document`) and `%{` as `%%{`, so that nothing becomes an interpolation.
pub(crate) fn quoted(s: &str, dollar: &str) -> String {
    let mut out = String::from("\"");
    for p in placeholder::pieces(s) {
        match p {
            Piece::Name(n) => out.push_str(&format!("${{{}}}", placeholder::source_name(n))),
            Piece::Text(t) => {
                let json = serde_json::to_string(t).unwrap_or_default();
                let inner = json
                    .strip_prefix('"')
                    .and_then(|j| j.strip_suffix('"'))
                    .unwrap_or_default();
                out.push_str(&inner.replace("${", dollar).replace("%{", "%%{"));
            }
        }
    }
    out.push('"');
    out
}

struct Writer<'a> {
    cx: &'a JsonencodeCtx,
}

impl Writer<'_> {
    fn leaf(&self, v: &Value) -> Option<String> {
        let key = serde_json::to_string(v).unwrap_or_default();
        if let Some(src) = self.cx.leaves.get(&key) {
            return Some(src.clone());
        }
        match v {
            Value::String(s) => Some(match placeholder::opaque_index(s) {
                Some(i) => self.cx.opaque.get(i)?.clone(),
                None => hcl_string(s),
            }),
            Value::Array(a) if a.is_empty() => Some("[]".into()),
            Value::Object(m) if m.is_empty() => Some("{}".into()),
            Value::Array(_) | Value::Object(_) => None,
            other => Some(other.to_string()),
        }
    }

    fn key(&self, k: &str) -> String {
        if let Some(s) = self.cx.keys.get(k) {
            return s.clone();
        }
        let ident = k
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if ident {
            k.to_string()
        } else {
            serde_json::to_string(k).unwrap_or_default()
        }
    }

    /// The expression text of `v` whose first line continues a line indented by `ind`; `key` is
    /// the object key it is the value of.
    fn expr(&self, v: &Value, ind: usize, key: Option<&str>) -> String {
        if let Some(s) = self.leaf(v) {
            return s;
        }
        let pad = |n: usize| " ".repeat(n);
        let inner = ind + self.cx.step;
        match v {
            Value::Array(a) => {
                let items: Vec<String> = a.iter().map(|x| self.item(x, inner)).collect();
                let one_line = format!("[{}]", items.join(", "));
                let multiline = key
                    .and_then(|k| self.cx.array_lines.get(k).copied())
                    .unwrap_or(self.cx.multiline_arrays);
                if !multiline && !one_line.contains('\n') && one_line.len() + ind < 100 {
                    return one_line;
                }
                let mut out = String::from("[\n");
                for it in items {
                    out.push_str(&format!("{}{it},\n", pad(inner)));
                }
                out.push_str(&pad(ind));
                out.push(']');
                out
            }
            Value::Object(m) => {
                let rendered: Vec<(String, String)> = m
                    .iter()
                    .map(|(k, x)| (self.key(k), self.expr(x, inner, Some(k))))
                    .collect();
                let mut out = String::from("{\n");
                // `terraform fmt` aligns `=` over runs of one-line items; an item spanning
                // several lines stands alone.
                let mut i = 0;
                while i < rendered.len() {
                    if rendered[i].1.contains('\n') {
                        let (k, x) = &rendered[i];
                        out.push_str(&format!("{}{k} = {x}\n", pad(inner)));
                        i += 1;
                        continue;
                    }
                    let mut j = i;
                    while j < rendered.len() && !rendered[j].1.contains('\n') {
                        j += 1;
                    }
                    let width = rendered[i..j]
                        .iter()
                        .map(|(k, _)| k.len())
                        .max()
                        .unwrap_or(0);
                    for (k, x) in &rendered[i..j] {
                        out.push_str(&format!("{}{k:<width$} = {x}\n", pad(inner)));
                    }
                    i = j;
                }
                out.push_str(&pad(ind));
                out.push('}');
                out
            }
            _ => String::new(),
        }
    }

    fn item(&self, v: &Value, ind: usize) -> String {
        if let Some(src) = self
            .cx
            .statements
            .get(&serde_json::to_string(v).unwrap_or_default())
        {
            return src.clone();
        }
        self.expr(v, ind, None)
    }
}

pub(crate) fn rewrite_jsonencode(
    text: &str,
    e: &Embedded,
    cx: &JsonencodeCtx,
    new: &Value,
) -> Result<String, String> {
    let w = Writer { cx };
    let rendered = w.expr(new, cx.base, None);
    Ok(format!(
        "{}{rendered}{}",
        &text[..e.span.start],
        &text[e.span.end..]
    ))
}

pub(crate) fn opaque(cx: &JsonencodeCtx) -> &[String] {
    &cx.opaque
}
