//! Terraform template JSON: the body of a `policy = <<EOF … EOF` heredoc, and `.json.tpl` /
//! `.tpl` files rendered with `templatefile`. `${expr}` inside a JSON string becomes `@@expr@@`;
//! outside a string (a computed value) an opaque token; `$${` is a literal `${` (an IAM policy
//! variable). Written back as the whole policy in the template's own JSON layout, escapes restored.

use forcemfa_engine::policy;
use serde_json::Value;

use crate::lines::line_of;
use crate::model::{Ctx, Embedded, Form, IacError, Obstacle, PolicyKind, Quote, TemplateCtx};
use crate::placeholder;

/// Whether a JSON text is a Terraform template rather than a plain policy: it holds `$${`
/// (an escaped IAM variable), a `%{` directive or a `${name}` that is not an IAM policy
/// variable (`${aws_partition}`, `${var.account_id}`), and no bare IAM variable
/// (`${aws:username}` would be a broken reference in a Terraform template: such a file is
/// filled by another tool and read as the policy it is).
pub(crate) fn looks_like_template(text: &str) -> bool {
    let mut template = text.contains("%{");
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("${").map(|x| x + i) {
        let escaped = at > 0 && bytes[at - 1] == b'$';
        let after = &text[at + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        match (escaped, forcemfa_engine::policy::is_iam_variable(name)) {
            (true, _) => template = true,
            (false, true) => return false,
            (false, false) => template = true,
        }
        i = at + 2;
    }
    template
}

/// The text of an HCL quoted string's inside with its backslash escapes decoded (template
/// sequences `${…}`, `$${` stay as written: they are the template's).
pub(crate) fn hcl_unescape(inner: &str) -> Option<String> {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            'U' => {
                let hex: String = chars.by_ref().take(8).collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// `s` written inside an HCL quoted string.
fn hcl_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

/// The JSON text of a template, its opaque values, and what cannot be read.
pub(crate) struct Resolved {
    pub json: String,
    pub opaque: Vec<String>,
    pub obstacles: Vec<(usize, String)>,
}

/// Resolve a template text; offsets in obstacles are byte offsets into `body`.
pub(crate) fn resolve(body: &str) -> Resolved {
    let mut json = String::with_capacity(body.len());
    let mut opaque: Vec<String> = Vec::new();
    let mut obstacles = Vec::new();
    let bytes = body.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if (c == b'$' || c == b'%')
            && body[i..].starts_with(&format!("{}{}{{", c as char, c as char))
        {
            // `$${` / `%%{`: a literal `${` / `%{`.
            json.push(c as char);
            json.push('{');
            i += 3;
            continue;
        }
        if (c == b'$' || c == b'%') && bytes.get(i + 1) == Some(&b'{') {
            let Some(len) = closing(&body[i + 2..]) else {
                obstacles.push((i, "an unterminated template sequence".into()));
                json.push_str(&body[i..]);
                break;
            };
            let expr = &body[i + 2..i + 2 + len];
            let whole = &body[i..i + 3 + len];
            if c == b'%' {
                obstacles.push((i, format!("a template directive `{}`", whole.trim())));
                json.push_str(if in_string { "" } else { "null" });
            } else if in_string {
                let e = expr.trim();
                if !placeholder::name_ok(e) || e.contains(':') {
                    obstacles.push((
                        i,
                        format!("an interpolation too complex to keep: `{whole}`"),
                    ));
                }
                json.push_str(&placeholder::name(e));
            } else {
                let n = match opaque.iter().position(|o| o == whole) {
                    Some(n) => n,
                    None => {
                        opaque.push(whole.to_string());
                        opaque.len() - 1
                    }
                };
                json.push('"');
                json.push_str(&placeholder::opaque_token(n));
                json.push('"');
            }
            i += 3 + len;
            continue;
        }
        if c == b'"' {
            in_string = !in_string;
        } else if c == b'\\' && in_string {
            json.push('\\');
            if let Some(next) = body[i + 1..].chars().next() {
                json.push(next);
                i += 1 + next.len_utf8();
            } else {
                i += 1;
            }
            continue;
        }
        let ch = body[i..].chars().next().unwrap_or(' ');
        json.push(ch);
        i += ch.len_utf8();
    }
    Resolved {
        json,
        opaque,
        obstacles,
    }
}

/// Length of a template sequence's inside, up to its matching `}` (nested braces and quoted
/// strings skipped).
fn closing(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quoted = false;
    let mut prev = ' ';
    for (i, c) in s.char_indices() {
        match c {
            '"' if prev != '\\' => quoted = !quoted,
            '{' if !quoted => depth += 1,
            '}' if !quoted => {
                if depth == 0 {
                    return Some(i);
                }
                depth -= 1;
            }
            _ => {}
        }
        prev = c;
    }
    None
}

/// Build the embedded policy of a template at `span` in `text` (`body`: its text, dedented).
#[allow(clippy::too_many_arguments)]
pub(crate) fn embedded(
    text: &str,
    span: std::ops::Range<usize>,
    body: &str,
    indent: &str,
    resource: String,
    resource_type: String,
    kind: PolicyKind,
    form: Form,
) -> Result<Option<Embedded>, IacError> {
    embedded_quoted(
        text,
        span,
        body,
        indent,
        Quote::Bare,
        resource,
        resource_type,
        kind,
        form,
    )
}

/// [`embedded`] for a template written as `quote` says.
#[allow(clippy::too_many_arguments)]
pub(crate) fn embedded_quoted(
    text: &str,
    span: std::ops::Range<usize>,
    body: &str,
    indent: &str,
    quote: Quote,
    resource: String,
    resource_type: String,
    kind: PolicyKind,
    form: Form,
) -> Result<Option<Embedded>, IacError> {
    let offset = span.start;
    let line_at =
        |at: usize| line_of(text, offset) + body[..at.min(body.len())].matches('\n').count();
    let r = resolve(body);
    let parsed = match policy::parse(&r.json) {
        Ok(p) => p,
        Err(e) if r.obstacles.is_empty() => {
            return Err(IacError::Syntax {
                line: line_of(text, offset),
                message: format!("the policy of {resource} is not JSON: {e}"),
            })
        }
        Err(_) => {
            let (at, what) = &r.obstacles[0];
            return Err(IacError::Syntax {
                line: line_at(*at),
                message: format!("the policy of {resource} cannot be read: it holds {what}"),
            });
        }
    };
    if parsed.value.get("Statement").is_none() {
        return Ok(None);
    }
    let obstacles = r
        .obstacles
        .iter()
        .map(|(at, what)| Obstacle {
            line: line_at(*at),
            what: format!("the policy holds {what}"),
            unreadable: true,
        })
        .collect();
    Ok(Some(Embedded {
        resource,
        resource_type,
        kind,
        form,
        line: line_of(text, offset),
        end_line: line_at(body.trim_end().len()),
        policy: parsed.value,
        obstacles,
        span,
        ctx: Ctx::Template(TemplateCtx {
            opaque: r.opaque,
            style: parsed.style,
            indent: indent.to_string(),
            quote,
        }),
    }))
}

/// A whole `.tpl` file.
pub(crate) fn extract_file(text: &str) -> Result<Vec<Embedded>, IacError> {
    Ok(embedded(
        text,
        0..text.len(),
        text,
        "",
        "template".into(),
        "templatefile".into(),
        PolicyKind::Unknown,
        Form::TerraformTemplate,
    )?
    .into_iter()
    .collect())
}

/// The template text of `new` in the original layout.
pub(crate) fn render(cx: &TemplateCtx, new: &Value) -> String {
    let rendered = policy::render(new, &cx.style);
    let mut out = rendered.replace("${", "$${").replace("%{", "%%{");
    for (n, src) in cx.opaque.iter().enumerate() {
        out = out.replace(&format!("\"{}\"", placeholder::opaque_token(n)), src);
    }
    // `@@expr@@` → `${expr}`.
    let result: String = placeholder::pieces(&out)
        .iter()
        .map(|p| match p {
            placeholder::Piece::Name(n) => format!("${{{}}}", placeholder::source_name(n)),
            placeholder::Piece::Text(t) => (*t).to_string(),
        })
        .collect();
    crate::cfnwrite::reindent(&result, "", &cx.indent)
}

pub(crate) fn rewrite(
    text: &str,
    e: &Embedded,
    cx: &TemplateCtx,
    new: &Value,
) -> Result<String, String> {
    let mut body = render(cx, new);
    // A string holding a template written over several lines: the same item-by-item rewrite
    // on the decoded text.
    if cx.style.indent.is_some() && matches!(cx.quote, Quote::Hcl | Quote::Json) {
        let src = &text[e.span.clone()];
        let decoded = match cx.quote {
            Quote::Json => serde_json::from_str::<String>(src).ok(),
            _ => src
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .and_then(hcl_unescape),
        };
        if let Some(decoded) = decoded {
            if let (Some(open), Some(close)) = (decoded.find('{'), decoded.rfind('}')) {
                let at = open..close + 1;
                if let Some(out) =
                    crate::hclwrite::rewrite_json(&decoded, at.clone(), &cx.opaque, &e.policy, new)
                {
                    body = format!("{}{out}{}", &decoded[..at.start], &decoded[at.end..]);
                }
            }
        }
    }
    match cx.quote {
        Quote::Hcl => {
            return Ok(format!(
                "{}\"{}\"{}",
                &text[..e.span.start],
                hcl_escape(&body),
                &text[e.span.end..]
            ))
        }
        Quote::Json => {
            return Ok(format!(
                "{}{}{}",
                &text[..e.span.start],
                serde_json::to_string(&body).map_err(|err| err.to_string())?,
                &text[e.span.end..]
            ))
        }
        Quote::Bare | Quote::Inline => {}
    }
    // A template written over several lines is rewritten item by item (unchanged statements
    // and lines keep their bytes); a compact one is printed whole.
    if cx.style.indent.is_some() {
        let original = &text[e.span.clone()];
        if let (Some(open), Some(close)) = (original.find('{'), original.rfind('}')) {
            let at = e.span.start + open..e.span.start + close + 1;
            if let Some(out) =
                crate::hclwrite::rewrite_json(text, at.clone(), &cx.opaque, &e.policy, new)
            {
                return Ok(format!("{}{out}{}", &text[..at.start], &text[at.end..]));
            }
        }
    }
    // Keep the first line's indentation (a heredoc body's first line).
    if !cx.indent.is_empty() && cx.quote == Quote::Bare {
        body = format!("{}{body}", cx.indent);
    }
    let original = &text[e.span.clone()];
    let kept_tail = &original[original.trim_end().len()..];
    let body = body.trim_end();
    Ok(format!(
        "{}{body}{kept_tail}{}",
        &text[..e.span.start],
        &text[e.span.end..]
    ))
}

/// An HCL quoted template string (`"arn:aws:iam::${var.account_id}:user/$${aws:username}"`) →
/// resolved string.
pub(crate) fn string_template(src: &str) -> Result<String, String> {
    let inner = src
        .trim()
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or_else(|| format!("a string forcemfa cannot read: {src}"))?;
    let r = resolve(&format!("\"{inner}\""));
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
