//! CloudFormation written back. YAML statement by statement: unchanged statements keep their
//! lines; a changed one keeps its comments and unchanged lines as written, and the anchor on it.
//! JSON as the whole policy object in the template's indentation, like a policy file, and so is
//! a policy given as a JSON string, inside its string. Intrinsics go back as the template wrote
//! them (`!Sub`, `Fn::Join`).

use forcemfa_engine::policy;
use serde_json::{Map, Value};

use crate::cfn::plain_value;
use crate::lines::{line_indent, line_of};
use crate::model::{ArnStyle, Ctx, Embedded, JsonCtx, StringCtx, StringScalar, YamlCtx};
use crate::placeholder::{self, Piece};
use crate::splice;

pub(crate) fn rewrite_string(
    text: &str,
    e: &Embedded,
    cx: &StringCtx,
    new: &Value,
) -> Result<String, String> {
    let Ctx::CfnJson(jcx) = &cx.inner.ctx else {
        return Err("the policy string could not be read back".into());
    };
    let json = rewrite_json(&cx.content, &cx.inner, jcx, new)?;
    let scalar = match &cx.scalar {
        StringScalar::Block { indent } => {
            let body: Vec<String> = json
                .trim_end_matches('\n')
                .split('\n')
                .map(|l| {
                    if l.trim().is_empty() {
                        String::new()
                    } else {
                        format!("{indent}{l}")
                    }
                })
                .collect();
            body.join("\n")
        }
        StringScalar::Quoted(q) => {
            // One line as the author spaced it (`{"a": 1, "b": 2}`) or compact.
            let json = if cx.content.contains("\": ") {
                one_line(new)
            } else {
                json
            };
            if json.contains('\n') {
                return Err(
                    "the policy would no longer fit on the one line of its quoted string".into(),
                );
            }
            quote(&json, *q)
        }
    };
    Ok(format!(
        "{}{scalar}{}",
        &text[..e.span.start],
        &text[e.span.end..]
    ))
}

/// Resolved string → `Fn::Sub` text.
fn to_sub(s: &str) -> String {
    placeholder::pieces(s)
        .iter()
        .map(|p| match p {
            Piece::Name(n) => format!("${{{}}}", placeholder::source_name(n)),
            Piece::Text(t) => t.replace("${", "${!"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// YAML writer

fn plain_safe(s: &str) -> bool {
    if s.is_empty() || s.trim() != s || !plain_value(s).is_string() {
        return false;
    }
    if s.parse::<f64>().is_ok()
        || matches!(
            s.to_ascii_lowercase().as_str(),
            "yes" | "no" | "on" | "off" | "y" | "n"
        )
    {
        return false;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    !(s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.contains('\n'))
}

fn quote(s: &str, q: char) -> String {
    if q == '"' {
        serde_json::to_string(s).unwrap_or_default()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

struct YamlWriter<'a> {
    cx: &'a YamlCtx,
}

impl YamlWriter<'_> {
    fn quote_char(&self) -> char {
        if self.cx.res.quotes[2] > self.cx.res.quotes[1] {
            '"'
        } else {
            '\''
        }
    }

    fn prefers_plain(&self) -> bool {
        let q = &self.cx.res.quotes;
        q[0] >= q[1] + q[2]
    }

    fn leaf(&self, v: &Value) -> Option<String> {
        let key = serde_json::to_string(v).unwrap_or_default();
        if let Some(src) = self.cx.res.leaves.get(&key).filter(|s| !s.contains('\n')) {
            return Some(src.clone());
        }
        Some(match v {
            Value::String(s) => {
                if let Some(i) = placeholder::opaque_index(s) {
                    return self.cx.res.opaque.get(i).cloned();
                }
                if placeholder::has_names(s) {
                    match self.cx.res.arn_style {
                        ArnStyle::Sub => format!("!Sub {}", quote(&to_sub(s), self.quote_char())),
                        ArnStyle::Join => {
                            let parts: Vec<String> = placeholder::pieces(s)
                                .iter()
                                .map(|p| match p {
                                    Piece::Name(n) => {
                                        format!("!Ref {}", placeholder::source_name(n))
                                    }
                                    Piece::Text(t) => quote(t, self.quote_char()),
                                })
                                .collect();
                            format!("!Join ['', [{}]]", parts.join(", "))
                        }
                    }
                } else if self.prefers_plain() && plain_safe(s) {
                    s.clone()
                } else {
                    quote(s, self.quote_char())
                }
            }
            Value::Array(a) if a.is_empty() => "[]".into(),
            Value::Object(m) if m.is_empty() => "{}".into(),
            Value::Array(_) | Value::Object(_) => return None,
            other => other.to_string(),
        })
    }

    fn key(&self, k: &str) -> String {
        match self.cx.res.keys.get(k) {
            Some(src) => src.clone(),
            None if plain_safe(k) => k.to_string(),
            None => quote(k, self.quote_char()),
        }
    }

    /// The lines of a mapping's entries at column `ind`.
    fn map_body(&self, m: &Map<String, Value>, ind: usize, out: &mut String) {
        for (k, v) in m {
            out.push_str(&" ".repeat(ind));
            out.push_str(&self.key(k));
            out.push(':');
            self.entry_value(Some(k), v, ind, out);
        }
    }

    /// `v` in flow style, when all its leaves can be written on one line.
    fn flow(&self, v: &Value) -> Option<String> {
        match v {
            Value::Array(a) => Some(format!(
                "[{}]",
                a.iter()
                    .map(|x| self.flow(x))
                    .collect::<Option<Vec<_>>>()?
                    .join(", ")
            )),
            Value::Object(m) => Some(format!(
                "{{{}}}",
                m.iter()
                    .map(|(k, x)| Some(format!("{}: {}", self.key(k), self.flow(x)?)))
                    .collect::<Option<Vec<_>>>()?
                    .join(", ")
            )),
            other => self.leaf(other).filter(|s| !s.contains('\n')),
        }
    }

    fn entry_value(&self, key: Option<&str>, v: &Value, ind: usize, out: &mut String) {
        if let Some(s) = key
            .filter(|k| self.cx.res.flow_keys.contains(*k))
            .and_then(|_| self.flow(v))
        {
            out.push(' ');
            out.push_str(&s);
            out.push('\n');
            return;
        }
        if let Some(s) = self.leaf(v) {
            out.push(' ');
            out.push_str(&s);
            out.push('\n');
            return;
        }
        out.push('\n');
        match v {
            Value::Object(m) => self.map_body(m, ind + self.cx.step, out),
            Value::Array(a) => {
                let ind = if self.cx.seq_indented {
                    ind + self.cx.step
                } else {
                    ind
                };
                self.seq_body(a, ind, out)
            }
            _ => {}
        }
    }

    fn seq_body(&self, a: &[Value], ind: usize, out: &mut String) {
        for item in a {
            self.item(item, ind, out);
        }
    }

    /// One list item whose `-` is at column `ind`, carrying the anchor `own` if any
    /// (`- &name` on a line of its own, the mapping below it).
    fn item_anchored(&self, v: &Value, ind: usize, own: Option<&str>, out: &mut String) {
        let (Some(name), Value::Object(m)) = (own, v) else {
            return self.item(v, ind, out);
        };
        out.push_str(&" ".repeat(ind));
        out.push_str(&format!("- &{name}\n"));
        self.map_body(m, ind + 2, out);
    }

    /// One list item whose `-` is at column `ind`.
    fn item(&self, v: &Value, ind: usize, out: &mut String) {
        out.push_str(&" ".repeat(ind));
        out.push('-');
        if let Some(s) = self.leaf(v) {
            out.push(' ');
            out.push_str(&s);
            out.push('\n');
            return;
        }
        match v {
            Value::Object(m) => {
                let mut body = String::new();
                self.map_body(m, ind + 2, &mut body);
                out.push(' ');
                out.push_str(&body[ind + 2..]);
            }
            Value::Array(a) => {
                out.push('\n');
                self.seq_body(a, ind + 2, out);
            }
            _ => out.push('\n'),
        }
    }
}

pub(crate) fn rewrite_yaml(
    text: &str,
    e: &Embedded,
    cx: &YamlCtx,
    new: &Value,
) -> Result<String, String> {
    let w = YamlWriter { cx };
    let old_rest = without_statement(&e.policy);
    let new_rest = without_statement(new);
    if let (Some(items), true, Some(Value::Array(old)), Some(Value::Array(newer))) = (
        &cx.items,
        old_rest == new_rest,
        e.policy.get("Statement"),
        new.get("Statement"),
    ) {
        let render = |v: &Value, _first: bool, replaces: Option<usize>| {
            let mut s = String::new();
            let own = replaces.and_then(|k| cx.anchors.get(k)?.own.as_deref());
            w.item_anchored(v, cx.dash_col, own, &mut s);
            // What the old statement's comments described keeps them.
            match replaces.and_then(|k| items.get(k)) {
                Some(range) => splice::keep_comments(&text[range.clone()], &s, &["#"]),
                None => s,
            }
        };
        if let Some(sp) = splice::splice_items(text, items, old, newer, &render) {
            check_anchors(cx, &sp.rewritten, text, items)?;
            return Ok(format!(
                "{}{}{}",
                &text[..sp.range.start],
                sp.text,
                &text[sp.range.end..]
            ));
        }
    }
    // The whole policy is printed afresh: refused when that would lose an anchor in use.
    let whole: Vec<usize> = (0..cx.anchors.len()).collect();
    if let Some(items) = &cx.items {
        check_anchors(cx, &whole, text, items)?;
    }
    // Whole policy: a block mapping at the policy's column.
    let Value::Object(m) = new else {
        return Err("the new policy is not a JSON object".into());
    };
    let mut body = String::new();
    let (ind, lead) = if cx.flow {
        let ind = line_indent(text, e.span.start).len() + cx.step;
        (ind, "\n".to_string())
    } else {
        (cx.col, String::new())
    };
    w.map_body(m, ind, &mut body);
    let body = if cx.flow {
        body
    } else {
        body[ind.min(body.len())..].to_string()
    };
    let body = body.strip_suffix('\n').unwrap_or(&body);
    Ok(format!(
        "{}{lead}{body}{}",
        &text[..e.span.start],
        &text[e.span.end..]
    ))
}

/// A statement printed afresh loses the anchors inside it: refused when an alias uses one (the
/// alias's copy would change unplanned, or dangle) or when one would be dropped.
fn check_anchors(
    cx: &YamlCtx,
    rewritten: &[usize],
    text: &str,
    items: &[std::ops::Range<usize>],
) -> Result<(), String> {
    for &k in rewritten {
        let Some(a) = cx.anchors.get(k) else { continue };
        let at = items.get(k).map_or(1, |r| line_of(text, r.start));
        if let Some((line, alias)) = a.used {
            return Err(format!(
                "the statement at line {at} carries a YAML anchor (line {line}) that line {alias} uses as an alias; rewriting the statement would change that copy too, unplanned: change both by hand, or write the alias out in full first"
            ));
        }
        if a.nested {
            return Err(format!(
                "the statement at line {at} carries a YAML anchor inside it, which printing it afresh would drop; change it by hand"
            ));
        }
    }
    Ok(())
}

fn without_statement(v: &Value) -> Value {
    let mut v = v.clone();
    if let Value::Object(m) = &mut v {
        m.shift_remove("Statement");
    }
    v
}

// ---------------------------------------------------------------------------------------------
// JSON writer

/// Texts that replace marker strings after the engine printed the policy: statements and
/// intrinsics keep (or get) their own compact layout.
struct Markers(Vec<String>);

impl Markers {
    fn mark(&mut self, src: String) -> Value {
        self.0.push(src);
        Value::String(format!("@@=src{}@@", self.0.len() - 1))
    }

    fn restore(&self, rendered: &str) -> String {
        let mut out = rendered.to_string();
        for (i, src) in self.0.iter().enumerate().rev() {
            out = out.replace(&format!("\"@@=src{i}@@\""), src);
        }
        out
    }
}

/// `v` on one line, spaced after `:` and `,` (`{"a": [1, 2]}`).
fn one_line(v: &Value) -> String {
    match v {
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(one_line).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, x)| format!(
                    "{}: {}",
                    serde_json::to_string(k).unwrap_or_default(),
                    one_line(x)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// `v` in the compact, spaced layout CloudFormation JSON authors use for intrinsics.
fn spaced(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(spaced).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, x)| format!(
                    "{}: {}",
                    serde_json::to_string(k).unwrap_or_default(),
                    spaced(x)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// The resolved value turned back into CloudFormation JSON, intrinsics and untouched statements
/// as markers for their source text.
fn to_source(v: &Value, cx: &JsonCtx, top: bool, m: &mut Markers) -> Value {
    let res = &cx.res;
    match v {
        Value::String(s) => {
            let key = serde_json::to_string(v).unwrap_or_default();
            if let Some(src) = res.leaves.get(&key).filter(|t| !t.starts_with('"')) {
                return m.mark(src.clone());
            }
            if let Some(i) = placeholder::opaque_index(s) {
                if let Some(src) = res.opaque.get(i) {
                    return m.mark(src.clone());
                }
            }
            if !placeholder::has_names(s) {
                return v.clone();
            }
            let obj = match res.arn_style {
                ArnStyle::Sub => serde_json::json!({ "Fn::Sub": to_sub(s) }),
                ArnStyle::Join => {
                    let parts: Vec<Value> = placeholder::pieces(s)
                        .iter()
                        .map(|p| match p {
                            Piece::Name(n) => {
                                serde_json::json!({ "Ref": placeholder::source_name(n) })
                            }
                            Piece::Text(t) => Value::String((*t).to_string()),
                        })
                        .collect();
                    serde_json::json!({ "Fn::Join": ["", parts] })
                }
            };
            m.mark(spaced(&obj))
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| to_source(x, cx, false, m)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, x)| {
                    let x = match (top && k == "Statement", x) {
                        (true, Value::Array(items)) => Value::Array(
                            items
                                .iter()
                                .map(|s| {
                                    match cx
                                        .statements
                                        .get(&serde_json::to_string(s).unwrap_or_default())
                                    {
                                        Some(src) => m.mark(src.clone()),
                                        None => to_source(s, cx, false, m),
                                    }
                                })
                                .collect(),
                        ),
                        _ => to_source(x, cx, false, m),
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

pub(crate) fn rewrite_json(
    text: &str,
    e: &Embedded,
    cx: &JsonCtx,
    new: &Value,
) -> Result<String, String> {
    let base = line_indent(text, e.span.start).to_string();
    let original = &text[e.span.clone()];
    let dedented = reindent(original, &base, "");
    let style = policy::parse(&dedented)
        .map(|p| p.style)
        .unwrap_or_default();
    let style = policy::Style {
        final_newline: false,
        ..style
    };
    let mut markers = Markers(Vec::new());
    let source = to_source(new, cx, true, &mut markers);
    let rendered = reindent(policy::render(&source, &style).trim_end(), "", &base);
    let rendered = markers.restore(&rendered);
    Ok(format!(
        "{}{rendered}{}",
        &text[..e.span.start],
        &text[e.span.end..]
    ))
}

/// Lines after the first: `from` prefix removed (where present), `to` prefix added.
pub(crate) fn reindent(s: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            if !line.trim().is_empty() {
                out.push_str(to);
            }
            out.push_str(line.strip_prefix(from).unwrap_or(line));
        } else {
            out.push_str(line);
        }
    }
    out
}
