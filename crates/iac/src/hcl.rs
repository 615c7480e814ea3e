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

use crate::lines::{line_indent, line_of};
use crate::model::{Ctx, Embedded, Form, IacError, JsonencodeCtx, Obstacle, PolicyKind, Quote};
use crate::placeholder;
use crate::template;

pub(crate) fn extract(text: &str) -> Result<Vec<Embedded>, IacError> {
    let body = match hcl_edit::parser::parse_body(text) {
        Ok(b) => b,
        Err(e) => {
            if let Some((line, what)) = crate::tf011::marker(text) {
                return Err(crate::tf011::needs_review(line, &what));
            }
            return Err(IacError::Syntax {
                line: e.location().line(),
                message: e.message().to_string(),
            });
        }
    };
    if let Some((line, what)) = crate::tf011::marker_in(text, &body) {
        return Err(crate::tf011::needs_review(line, &what));
    }
    let uses = policy_uses(text, &body);
    let mut out = Vec::new();
    for s in body.iter() {
        let Structure::Block(b) = s else { continue };
        let labels: Vec<&str> = b.labels.iter().map(label).collect();
        match (b.ident.as_str(), labels.as_slice()) {
            ("locals", []) => {
                // A policy kept in a local (`policy = local.x`) is read where it is written.
                for a in b.body.attributes() {
                    let address = format!("local.{}", a.key.as_str());
                    let (ty, kind) = used_by(&uses, &address);
                    if let Some(e) = policy_value(text, &a.value, &address, &ty, kind, true)? {
                        out.push(e);
                    }
                }
            }
            ("variable", [name]) => {
                let address = format!("var.{name}");
                let (ty, kind) = used_by(&uses, &address);
                for a in b.body.attributes() {
                    if a.key.as_str() == "default" {
                        if let Some(e) = policy_value(text, &a.value, &address, &ty, kind, true)? {
                            out.push(e);
                        }
                    }
                }
            }
            ("data", ["aws_iam_policy_document", name]) => {
                let address = format!("data.aws_iam_policy_document.{name}");
                out.extend(crate::document::extract(text, b, &address));
            }
            ("data", ["template_file", name]) => {
                // An inline template; a `file(…)` one is read as its own file.
                let address = format!("data.template_file.{name}");
                for a in b.body.attributes() {
                    if a.key.as_str() == "template" {
                        if let Some(e) = policy_value(
                            text,
                            &a.value,
                            &address,
                            "template_file",
                            PolicyKind::Unknown,
                            true,
                        )? {
                            out.push(e);
                        }
                    }
                }
            }
            ("module", [name]) => {
                // A policy handed to a module as an input (`policy = <<-EOT`).
                for a in b.body.attributes() {
                    let address = format!("module.{name}.{}", a.key.as_str());
                    if let Some(e) = policy_value(
                        text,
                        &a.value,
                        &address,
                        "module",
                        PolicyKind::Unknown,
                        true,
                    )? {
                        out.push(e);
                    }
                }
            }
            ("resource", [ty, name]) => {
                let address = format!("{ty}.{name}");
                walk(text, &b.body, &address, ty, kind_of(ty), &mut out)?;
            }
            ("data", [ty, name]) => {
                let address = format!("data.{ty}.{name}");
                walk(text, &b.body, &address, ty, kind_of(ty), &mut out)?;
            }
            _ => {}
        }
    }
    Ok(out)
}

fn kind_of(ty: &str) -> PolicyKind {
    match ty {
        "aws_iam_policy" => PolicyKind::Managed,
        "aws_iam_user_policy" => PolicyKind::InlineUser,
        "aws_iam_group_policy" => PolicyKind::InlineGroup,
        "aws_iam_role_policy" | "aws_iam_role" => PolicyKind::InlineRole,
        _ => PolicyKind::Unknown,
    }
}

/// Which resource types use `local.x` / `var.x` as their `policy` in this file.
fn policy_uses(text: &str, body: &Body) -> HashMap<String, Vec<String>> {
    fn visit(text: &str, body: &Body, ty: &str, out: &mut HashMap<String, Vec<String>>) {
        for s in body.iter() {
            match s {
                Structure::Attribute(a) if a.key.as_str() == "policy" => {
                    // `policy = local.x`, or `policy = jsonencode(local.x)` of an object.
                    let reference = match &a.value {
                        Expression::FuncCall(f) if f.name.name.as_str() == "jsonencode" => {
                            f.args.iter().next()
                        }
                        other => Some(other),
                    };
                    if let Some(r @ Expression::Traversal(_)) = reference {
                        if let Some(sp) = r.span() {
                            out.entry(text[sp].trim().to_string())
                                .or_default()
                                .push(ty.to_string());
                        }
                    }
                }
                Structure::Block(b) => visit(text, &b.body, ty, out),
                _ => {}
            }
        }
    }
    let mut out = HashMap::new();
    for b in body.blocks() {
        if b.ident.as_str() == "resource" {
            if let Some(ty) = b.labels.first() {
                visit(text, &b.body, label(ty), &mut out);
            }
        }
    }
    out
}

/// The resource type and policy kind of a policy kept in `address` (`local.x`), from the
/// resources of the file that use it (unknown when none, or several kinds, do).
fn used_by(uses: &HashMap<String, Vec<String>>, address: &str) -> (String, PolicyKind) {
    let tys = uses.get(address).cloned().unwrap_or_default();
    let kinds: Vec<PolicyKind> = tys.iter().map(|t| kind_of(t)).collect();
    match (tys.first(), kinds.first()) {
        (Some(ty), Some(k)) if kinds.iter().all(|x| x == k) => (ty.clone(), *k),
        _ => (
            if address.starts_with("var.") {
                "variable".into()
            } else {
                "locals".into()
            },
            PolicyKind::Unknown,
        ),
    }
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
                if let Some(e) = policy_value(text, &a.value, address, ty, kind, false)? {
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

/// The policy written as `value`: a heredoc, `jsonencode({…})`, a quoted JSON string, or (in
/// a local or variable, `lenient`) a bare object; a conditional between such policies is read
/// and never written. `lenient`: a value that does not look like a policy is not one.
fn policy_value(
    text: &str,
    value: &Expression,
    address: &str,
    ty: &str,
    kind: PolicyKind,
    lenient: bool,
) -> Result<Option<Embedded>, IacError> {
    let Some(span) = value.span() else {
        return Ok(None);
    };
    match value {
        Expression::HeredocTemplate(_) => {
            if lenient && !text[span.clone()].contains("Statement") {
                return Ok(None);
            }
            heredoc(text, span, address, ty, kind)
        }
        Expression::FuncCall(f) if f.name.name.as_str() == "jsonencode" => {
            match f.args.iter().next() {
                Some(obj @ Expression::Object(_)) => Ok(jsonencode(text, obj, address, ty, kind)),
                _ => Ok(None),
            }
        }
        Expression::Object(_) if lenient => Ok(jsonencode(text, value, address, ty, kind)),
        Expression::String(_) | Expression::StringTemplate(_) => {
            quoted_json(text, span, address, ty, kind)
        }
        Expression::Conditional(c) => {
            let mut found = None;
            for branch in [&c.true_expr, &c.false_expr] {
                if let Ok(Some(e)) = policy_value(text, branch, address, ty, kind, lenient) {
                    found = Some(e);
                    break;
                }
            }
            let Some(mut e) = found else {
                return Ok(None);
            };
            let cond = c
                .cond_expr
                .span()
                .map(|r| text[r].trim().to_string())
                .unwrap_or_default();
            e.obstacles.insert(
                0,
                Obstacle {
                    line: line_of(text, span.start),
                    what: format!(
                        "a Terraform conditional (`{cond} ? … : …`) chooses the policy: each branch must be reviewed and changed by hand"
                    ),
                    unreadable: true,
                },
            );
            e.line = line_of(text, span.start);
            e.end_line = line_of(text, span.end.saturating_sub(1));
            e.span = span;
            Ok(Some(e))
        }
        _ => Ok(None),
    }
}

/// The policy an expression of `text` writes (`jsonencode({…})`, a heredoc, a quoted JSON
/// string), for readers that find HCL elsewhere (inside a `.tf.json` string).
pub(crate) fn policy_expr(
    text: &str,
    value: &Expression,
    address: &str,
    ty: &str,
    kind: PolicyKind,
) -> Option<Embedded> {
    policy_value(text, value, address, ty, kind, true)
        .ok()
        .flatten()
}

/// `policy = "{\"Version\": …}"`: a JSON policy inside an HCL quoted string (one line).
fn quoted_json(
    text: &str,
    span: std::ops::Range<usize>,
    address: &str,
    ty: &str,
    kind: PolicyKind,
) -> Result<Option<Embedded>, IacError> {
    let src = &text[span.clone()];
    let Some(inner) = src.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return Ok(None);
    };
    if !inner.trim_start().starts_with('{') || !inner.contains("Statement") {
        return Ok(None);
    }
    let Some(decoded) = template::hcl_unescape(inner) else {
        return Err(IacError::Syntax {
            line: line_of(text, span.start),
            message: format!("the policy of {address} is a string with an unknown escape"),
        });
    };
    template::embedded_quoted(
        text,
        span,
        &decoded,
        "",
        Quote::Hcl,
        address.to_string(),
        ty.to_string(),
        kind,
        Form::TerraformString,
    )
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
    let base = line_indent(text, span.start);
    let src = &text[span.clone()];
    let unit = src
        .lines()
        .nth(1)
        .map(|l| &l[..l.len() - l.trim_start_matches([' ', '\t']).len()])
        .and_then(|l| l.strip_prefix(base))
        .filter(|u| !u.is_empty())
        .unwrap_or("  ")
        .to_string();
    let style = crate::hclwrite::source_style(src);
    let mut r = Reader {
        text,
        cx: JsonencodeCtx {
            opaque: Vec::new(),
            leaves: HashMap::new(),
            keys: HashMap::new(),
            unit,
            sep: style.sep,
            commas: style.commas,
            quoted_keys: style.quoted_keys,
            trailing_comma: style.trailing_comma,
            multiline_arrays: false,
            array_lines: HashMap::new(),
        },
        obstacles: Vec::new(),
    };
    let policy = r.value(obj);
    policy.get("Statement")?;
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
            Expression::StringTemplate(_) => match template::string_template(&src) {
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

pub(crate) fn rewrite_jsonencode(
    text: &str,
    e: &Embedded,
    cx: &JsonencodeCtx,
    new: &Value,
) -> Result<String, String> {
    let rendered = crate::hclwrite::rewrite(text, e.span.clone(), cx, &e.policy, new)?;
    Ok(format!(
        "{}{rendered}{}",
        &text[..e.span.start],
        &text[e.span.end..]
    ))
}

/// See [`crate::template_references`].
pub(crate) fn template_references(text: &str) -> Vec<String> {
    fn path_of(text: &str, e: &Expression) -> Option<String> {
        let src = text[e.span()?].trim();
        let inner = src.strip_prefix('"')?.strip_suffix('"')?;
        let rel = inner
            .strip_prefix("${path.module}/")
            .unwrap_or(inner)
            .trim_start_matches("./");
        (!rel.is_empty() && !rel.contains("${") && !rel.contains('\\')).then(|| rel.to_string())
    }
    fn visit_expr(text: &str, e: &Expression, out: &mut Vec<String>) {
        match e {
            Expression::FuncCall(f) => {
                let name = f.name.name.as_str();
                let args: Vec<&Expression> = f.args.iter().collect();
                if name == "templatefile" {
                    if let Some(p) = args.first().and_then(|a| path_of(text, a)) {
                        out.push(p);
                    }
                }
                for a in args {
                    visit_expr(text, a, out);
                }
            }
            Expression::Object(o) => o.iter().for_each(|(_, v)| visit_expr(text, v.expr(), out)),
            Expression::Array(a) => a.iter().for_each(|v| visit_expr(text, v, out)),
            Expression::Conditional(c) => {
                visit_expr(text, &c.true_expr, out);
                visit_expr(text, &c.false_expr, out);
            }
            Expression::Parenthesis(p) => visit_expr(text, p.inner(), out),
            _ => {}
        }
    }
    fn visit_body(text: &str, body: &Body, template_file: bool, out: &mut Vec<String>) {
        for s in body.iter() {
            match s {
                Structure::Attribute(a) => {
                    if template_file && a.key.as_str() == "template" {
                        if let Expression::FuncCall(f) = &a.value {
                            if f.name.name.as_str() == "file" {
                                if let Some(p) = f.args.iter().next().and_then(|x| path_of(text, x))
                                {
                                    out.push(p);
                                }
                            }
                        }
                    }
                    visit_expr(text, &a.value, out);
                }
                Structure::Block(b) => {
                    let tf = b.ident.as_str() == "data"
                        && b.labels.first().map(label) == Some("template_file");
                    visit_body(text, &b.body, tf, out);
                }
            }
        }
    }
    let Ok(body) = hcl_edit::parser::parse_body(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    visit_body(text, &body, false, &mut out);
    out.sort();
    out.dedup();
    out
}
