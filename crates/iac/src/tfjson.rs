//! Terraform's JSON syntax (`*.tf.json`): a policy is the `policy` of a `resource` (or the
//! `default` of a `variable`, a value in `locals`), written as a JSON string (a Terraform
//! template: `${var.x}` interpolations, `$${` escapes) or as an object. Read with the YAML/JSON
//! reader (spans), the policy handed to [`crate::template`]; written back as a JSON string
//! again, or as the object in the file's own layout.

use crate::lines::{line_indent, line_of};
use crate::model::{Embedded, Form, IacError, Obstacle, PolicyKind, Quote};
use crate::template;
use crate::yaml::{self, Node, V};

pub(crate) fn extract(text: &str) -> Result<Vec<Embedded>, IacError> {
    let root = yaml::parse(text)?;
    let mut out = Vec::new();
    // `"resource": {TYPE: {NAME: {...}}}`, or a list of such objects.
    for section in blocks(&root, "resource") {
        for (ty, by_name) in entries(section) {
            for (name, body) in entries(by_name) {
                let address = format!("{ty}.{name}");
                let kind = match ty.as_str() {
                    "aws_iam_policy" => PolicyKind::Managed,
                    "aws_iam_user_policy" => PolicyKind::InlineUser,
                    "aws_iam_group_policy" => PolicyKind::InlineGroup,
                    "aws_iam_role_policy" | "aws_iam_role" => PolicyKind::InlineRole,
                    _ => PolicyKind::Unknown,
                };
                for b in each(body) {
                    if let Some(v) = b.get("policy") {
                        if let Some(e) = policy(text, v, &address, &ty, kind)? {
                            out.push(e);
                        }
                    }
                }
            }
        }
    }
    for section in blocks(&root, "locals") {
        for (name, v) in entries(section) {
            if let Some(e) = policy(
                text,
                v,
                &format!("local.{name}"),
                "locals",
                PolicyKind::Unknown,
            )? {
                out.push(e);
            }
        }
    }
    for section in blocks(&root, "variable") {
        for (name, body) in entries(section) {
            for b in each(body) {
                if let Some(v) = b.get("default") {
                    if let Some(e) = policy(
                        text,
                        v,
                        &format!("var.{name}"),
                        "variable",
                        PolicyKind::Unknown,
                    )? {
                        out.push(e);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The objects of a top-level key (an object, or a list of objects).
fn blocks<'a>(root: &'a Node, key: &str) -> Vec<&'a Node> {
    root.get(key).map(each).unwrap_or_default()
}

fn each(n: &Node) -> Vec<&Node> {
    match &n.v {
        V::Seq(items) => items.iter().collect(),
        V::Map(_) => vec![n],
        V::Scalar(..) => Vec::new(),
    }
}

fn entries(n: &Node) -> Vec<(String, &Node)> {
    let mut out = Vec::new();
    for m in each(n) {
        if let V::Map(items) = &m.v {
            for (k, v) in items {
                if let Some(k) = k.str() {
                    out.push((k.to_string(), v));
                }
            }
        }
    }
    out
}

fn policy(
    text: &str,
    v: &Node,
    address: &str,
    ty: &str,
    kind: PolicyKind,
) -> Result<Option<Embedded>, IacError> {
    let span = v.start..v.end;
    match &v.v {
        V::Scalar(s, _) => {
            if !s.contains("Statement") {
                return Ok(None);
            }
            if let Some(inner) = s
                .trim()
                .strip_prefix("${")
                .and_then(|x| x.strip_suffix('}'))
            {
                return Ok(interpolated(text, v, inner, address, ty, kind));
            }
            if !s.trim_start().starts_with('{') {
                return Ok(None);
            }
            template::embedded_quoted(
                text,
                span,
                s,
                "",
                Quote::Json,
                address.to_string(),
                ty.to_string(),
                kind,
                Form::TerraformJson,
            )
        }
        V::Map(_) if v.get("Statement").is_some() => {
            let indent = line_indent(text, v.start).to_string();
            let body = crate::cfnwrite::reindent(&text[span.clone()], &indent, "");
            template::embedded_quoted(
                text,
                span,
                &body,
                &indent,
                Quote::Inline,
                address.to_string(),
                ty.to_string(),
                kind,
                Form::TerraformJson,
            )
        }
        _ => Ok(None),
    }
}

/// `"policy": "${jsonencode({…})}"`: HCL inside a JSON string. Read (so that it is checked and
/// what should change is said), never written: a rewrite would have to print HCL inside JSON
/// escapes, and a person does that better.
fn interpolated(
    text: &str,
    v: &Node,
    inner: &str,
    address: &str,
    ty: &str,
    kind: PolicyKind,
) -> Option<Embedded> {
    let expr = hcl_edit::parser::parse_expr(inner).ok()?;
    let mut e = crate::hcl::policy_expr(inner, &expr, address, ty, kind)?;
    let line = line_of(text, v.start);
    e.obstacles.insert(
        0,
        Obstacle {
            line,
            what: "a policy written as HCL inside a Terraform JSON string (`\"${jsonencode(…)}\"`): forcemfa reads it but does not rewrite it".into(),
            unreadable: true,
        },
    );
    e.line = line;
    e.end_line = line_of(text, v.end.saturating_sub(1));
    e.span = v.start..v.end;
    e.form = Form::TerraformJson;
    Some(e)
}
