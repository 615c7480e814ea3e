//! Writing a `jsonencode` object back: the new policy is laid over the old object's text, so that
//! everything the migration did not change keeps its bytes. An unchanged value is pasted as
//! written; a changed object or list written over several lines is rebuilt item by item, each
//! old item keeping its own lines (the comments above it, the comment after it); only changed
//! values, and added items, are printed, in the file's style (indentation unit, `=` or `:`,
//! commas, quoted keys); items the migration removed go with their comments. Line endings
//! follow the object's (CRLF stays CRLF).

use std::ops::Range;

use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::Span;
use serde_json::{Map, Value};

use crate::hclquote::hcl_string;
use crate::lines::line_indent;
use crate::model::JsonencodeCtx;
use crate::placeholder;

/// How an object is written, read from its source.
pub(crate) struct SourceStyle {
    pub sep: String,
    pub commas: bool,
    pub quoted_keys: bool,
    pub trailing_comma: bool,
}

/// The style of the `jsonencode` object `src`.
pub(crate) fn source_style(src: &str) -> SourceStyle {
    let mut st = SourceStyle {
        sep: " = ".into(),
        commas: false,
        quoted_keys: false,
        trailing_comma: true,
    };
    let Ok(expr) = hcl_edit::parser::parse_expr(src) else {
        return st;
    };
    let mut seps: Vec<String> = Vec::new();
    let mut trailing: Option<bool> = None;
    fn visit(
        src: &str,
        e: &Expression,
        seps: &mut Vec<String>,
        counts: &mut [usize; 4],
        trailing: &mut Option<bool>,
    ) {
        match e {
            Expression::Object(o) => {
                let n = o.len();
                for (i, (k, v)) in o.iter().enumerate() {
                    let (Some(ks), Some(vs)) = (k.span(), v.expr().span()) else {
                        continue;
                    };
                    let between = &src[ks.end..vs.start];
                    let sep = if between.contains(':') { ":" } else { "=" };
                    let spaced = between.starts_with([' ', '\t']);
                    seps.push(match (sep, spaced) {
                        ("=", _) => " = ".into(),
                        (_, true) => " : ".into(),
                        _ => ": ".into(),
                    });
                    if matches!(k, ObjectKey::Ident(_)) {
                        counts[1] += 1;
                    } else {
                        counts[0] += 1;
                    }
                    if i + 1 < n {
                        if src[vs.end..]
                            .trim_start_matches([' ', '\t'])
                            .starts_with(',')
                        {
                            counts[2] += 1;
                        } else {
                            counts[3] += 1;
                        }
                    }
                    visit(src, v.expr(), seps, counts, trailing);
                }
            }
            Expression::Array(a) => {
                if let (Some(span), Some(last)) = (a.span(), a.iter().last()) {
                    if src[span].contains('\n') && trailing.is_none() {
                        *trailing = last.span().map(|l| {
                            src[l.end..]
                                .trim_start_matches([' ', '\t'])
                                .starts_with(',')
                        });
                    }
                }
                for x in a.iter() {
                    visit(src, x, seps, counts, trailing);
                }
            }
            _ => {}
        }
    }
    let mut counts = [0usize; 4];
    visit(src, &expr, &mut seps, &mut counts, &mut trailing);
    let [quoted, bare, comma, no_comma] = counts;
    if let Some(first) = seps.first() {
        // The file's most used separator.
        let best = seps
            .iter()
            .max_by_key(|s| seps.iter().filter(|x| x == s).count())
            .unwrap_or(first);
        st.sep = best.clone();
    }
    st.commas = comma > no_comma;
    st.quoted_keys = quoted > bare;
    st.trailing_comma = trailing.unwrap_or(true);
    st
}

/// The new text of the object at `span` of `text`, which reads as `old`, now holding `new`.
pub(crate) fn rewrite(
    text: &str,
    span: Range<usize>,
    cx: &JsonencodeCtx,
    old: &Value,
    new: &Value,
) -> Result<String, String> {
    let src = &text[span.clone()];
    let expr = hcl_edit::parser::parse_expr(src)
        .map_err(|e| format!("the policy no longer parses as HCL: {}", e.message()))?;
    let base = line_indent(text, span.start).to_string();
    let w = Writer { cx, src };
    let out = w.splice(&expr, old, new, &base, None);
    Ok(if src.contains("\r\n") {
        out.replace("\r\n", "\n").replace('\n', "\r\n")
    } else {
        out
    })
}

/// The new text of the JSON template object at `span` of `text` (a heredoc body, a template
/// file), which reads as `old`: the same item-by-item rewrite, fresh items printed as JSON
/// with `${…}` interpolations. JSON is HCL object syntax, so `hcl-edit` gives the spans; a
/// template it cannot parse is `None` (the caller prints the policy whole).
pub(crate) fn rewrite_json(
    text: &str,
    span: Range<usize>,
    opaque: &[String],
    old: &Value,
    new: &Value,
) -> Option<String> {
    let src = &text[span.clone()];
    let expr = hcl_edit::parser::parse_expr(src).ok()?;
    let base = line_indent(text, span.start).to_string();
    let unit = src
        .lines()
        .nth(1)
        .map(|l| &l[..l.len() - l.trim_start_matches([' ', '\t']).len()])
        .and_then(|l| l.strip_prefix(base.as_str()))
        .filter(|u| !u.is_empty())
        .unwrap_or("  ")
        .to_string();
    let mut array_lines = std::collections::HashMap::new();
    fn visit(src: &str, e: &Expression, out: &mut std::collections::HashMap<String, bool>) {
        match e {
            Expression::Object(o) => {
                for (k, v) in o.iter() {
                    let key = match k {
                        ObjectKey::Ident(i) => i.as_str().to_string(),
                        ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                        ObjectKey::Expression(_) => continue,
                    };
                    if let (Expression::Array(_), Some(sp)) = (v.expr(), v.expr().span()) {
                        out.entry(key).or_insert(src[sp].contains('\n'));
                    }
                    visit(src, v.expr(), out);
                }
            }
            Expression::Array(a) => a.iter().for_each(|x| visit(src, x, out)),
            _ => {}
        }
    }
    visit(src, &expr, &mut array_lines);
    let cx = JsonencodeCtx {
        opaque: opaque.to_vec(),
        leaves: Default::default(),
        keys: Default::default(),
        unit,
        sep: ": ".into(),
        commas: true,
        quoted_keys: true,
        trailing_comma: false,
        multiline_arrays: true,
        array_lines,
    };
    let w = Writer { cx: &cx, src };
    let out = w.splice(&expr, old, new, &base, None);
    // A template holds no interpolation the writer would not print back as it was read.
    Some(if src.contains("\r\n") {
        out.replace("\r\n", "\n").replace('\n', "\r\n")
    } else {
        out
    })
}

struct Writer<'a> {
    cx: &'a JsonencodeCtx,
    src: &'a str,
}

/// One item of a multi-line object or list, cut along line boundaries.
struct Chunk<'a> {
    /// From the end of the previous item's line to the item (comments above it, indentation).
    pre: &'a str,
    /// The key and what separates it from the value (objects only).
    key: Option<Range<usize>>,
    between: &'a str,
    value: Range<usize>,
    /// After the value to the end of its line, the comma taken out.
    after: String,
    comma: bool,
}

impl<'a> Writer<'a> {
    fn text(&self, r: &Range<usize>) -> &'a str {
        &self.src[r.clone()]
    }

    /// Position after the end of the line holding `at`.
    fn line_end(&self, at: usize) -> usize {
        self.src[at..]
            .find('\n')
            .map_or(self.src.len(), |i| at + i + 1)
    }

    /// Cut a container's items (`(key span, value span)`) into line chunks, or `None` when two
    /// of them share a line (a one-line container is printed whole).
    fn chunks(
        &self,
        open: usize,
        close: usize,
        items: &[(Option<Range<usize>>, Range<usize>)],
    ) -> Option<(Vec<Chunk<'a>>, &'a str, &'a str)> {
        let mut out = Vec::new();
        let mut start = self.line_end(open);
        let first = items.first()?;
        if start > first.0.as_ref().unwrap_or(&first.1).start {
            return None;
        }
        for (i, (key, value)) in items.iter().enumerate() {
            let item_start = key.as_ref().unwrap_or(value).start;
            if item_start < start {
                return None;
            }
            let end = self.line_end(value.end);
            let next_start = items
                .get(i + 1)
                .map(|(k, v)| k.as_ref().unwrap_or(v).start)
                .unwrap_or(close);
            if end > next_start {
                return None;
            }
            let rest = &self.src[value.end..end];
            let lead = rest.len() - rest.trim_start_matches([' ', '\t']).len();
            let (after, comma) = match rest[lead..].strip_prefix(',') {
                Some(tail) => (format!("{}{tail}", &rest[..lead]), true),
                None => (rest.to_string(), false),
            };
            let between = match key {
                Some(k) => &self.src[k.end..value.start],
                None => "",
            };
            out.push(Chunk {
                pre: &self.src[start..item_start],
                key: key.clone(),
                between,
                value: value.clone(),
                after,
                comma,
            });
            start = end;
        }
        Some((
            out,
            &self.src[open..self.line_end(open)],
            &self.src[start..close],
        ))
    }

    /// The text of `new` where `expr` (reading `old`) was; `ind` is the indentation of the line
    /// the expression starts on.
    fn splice(
        &self,
        expr: &Expression,
        old: &Value,
        new: &Value,
        ind: &str,
        key: Option<&str>,
    ) -> String {
        let Some(span) = expr.span() else {
            return self.fresh(new, ind, key);
        };
        if old == new {
            return self.text(&span).to_string();
        }
        match (expr, old, new) {
            (Expression::Object(o), Value::Object(om), Value::Object(nm))
                if o.len() == om.len() =>
            {
                let items: Vec<(Option<Range<usize>>, Range<usize>)> = o
                    .iter()
                    .filter_map(|(k, v)| Some((Some(k.span()?), v.expr().span()?)))
                    .collect();
                let exprs: Vec<&Expression> = o.iter().map(|(_, v)| v.expr()).collect();
                if items.len() == o.len() {
                    if let Some(text) =
                        self.splice_object(&span, &items, exprs.clone(), om, nm, ind)
                    {
                        return text;
                    }
                    if let Some(text) = self.splice_inline(&span, &items, &exprs, om, nm, ind) {
                        return text;
                    }
                }
                self.fresh(new, ind, key)
            }
            (Expression::Array(a), Value::Array(oa), Value::Array(na)) if a.len() == oa.len() => {
                let items: Vec<(Option<Range<usize>>, Range<usize>)> =
                    a.iter().filter_map(|v| Some((None, v.span()?))).collect();
                if items.len() == a.len() {
                    if let Some(text) =
                        self.splice_array(&span, &items, a.iter().collect(), oa, na, ind, key)
                    {
                        return text;
                    }
                }
                self.fresh(new, ind, key)
            }
            _ => self.fresh(new, ind, key),
        }
    }

    fn item_indent(&self, chunks: &[Chunk], ind: &str) -> String {
        chunks
            .first()
            .map(|c| {
                let at = c.key.as_ref().unwrap_or(&c.value).start;
                line_indent(self.src, at).to_string()
            })
            .unwrap_or_else(|| format!("{ind}{}", self.cx.unit))
    }

    fn splice_object(
        &self,
        span: &Range<usize>,
        items: &[(Option<Range<usize>>, Range<usize>)],
        exprs: Vec<&Expression>,
        om: &Map<String, Value>,
        nm: &Map<String, Value>,
        ind: &str,
    ) -> Option<String> {
        let (chunks, head, tail) = self.chunks(span.start, span.end - 1, items)?;
        let item_ind = self.item_indent(&chunks, ind);
        let old_keys: Vec<&String> = om.keys().collect();
        let mut used = vec![false; chunks.len()];
        let mut out = String::from(head);
        let n = nm.len();
        let last_comma = chunks.last().is_some_and(|c| c.comma);
        let commas = chunks.iter().any(|c| c.comma) || (chunks.len() <= 1 && self.cx.commas);
        for (j, (k, nv)) in nm.iter().enumerate() {
            let comma = if j + 1 < n { commas } else { last_comma };
            let comma = if comma { "," } else { "" };
            // The same key, or a renamed one holding the same value (`Bool` → `BoolIfExists`).
            let found = old_keys.iter().position(|ok| *ok == k).or_else(|| {
                old_keys.iter().enumerate().position(|(i, ok)| {
                    !used[i] && !nm.contains_key(ok.as_str()) && om.get(ok.as_str()) == Some(nv)
                })
            });
            match found {
                Some(i) if !used[i] => {
                    used[i] = true;
                    let c = &chunks[i];
                    let ov = &om[old_keys[i].as_str()];
                    let value_ind = line_indent(self.src, c.value.start).to_string();
                    let value = self.splice(exprs[i], ov, nv, &value_ind, Some(k));
                    let (key_text, between) = if old_keys[i] == k {
                        (
                            self.text(c.key.as_ref()?).to_string(),
                            c.between.to_string(),
                        )
                    } else {
                        let old_key = self.text(c.key.as_ref()?);
                        let new_key = self.key(k);
                        (new_key.clone(), realign(c.between, old_key, &new_key))
                    };
                    out.push_str(&format!(
                        "{}{key_text}{between}{value}{comma}{}",
                        c.pre, c.after
                    ));
                }
                _ => {
                    // Width of the neighbours' aligned keys, for `=` style.
                    let width = chunks
                        .iter()
                        .filter_map(|c| {
                            let k = self.text(c.key.as_ref()?);
                            let pad = c.between.len() - c.between.trim_start().len();
                            Some(k.len() + pad)
                        })
                        .next()
                        .unwrap_or(0);
                    let key_text = self.key(k);
                    let value = self.fresh(nv, &item_ind, Some(k));
                    let sep = self.cx.sep.as_str();
                    let line = if sep.trim() == "=" && key_text.len() < width {
                        format!("{item_ind}{key_text:<width$}= {value}{comma}\n")
                    } else {
                        format!("{item_ind}{key_text}{sep}{value}{comma}\n")
                    };
                    out.push_str(&line);
                }
            }
        }
        out.push_str(tail);
        out.push('}');
        Some(out)
    }

    /// An object written on one line whose keys stay (or are renamed holding the same value):
    /// each key and value replaced in place, the rest of the line kept.
    fn splice_inline(
        &self,
        span: &Range<usize>,
        items: &[(Option<Range<usize>>, Range<usize>)],
        exprs: &[&Expression],
        om: &Map<String, Value>,
        nm: &Map<String, Value>,
        ind: &str,
    ) -> Option<String> {
        if om.len() != nm.len() {
            return None;
        }
        let mut out = String::new();
        let mut at = span.start;
        for (i, ((ok, ov), (nk, nv))) in om.iter().zip(nm.iter()).enumerate() {
            if ok != nk && ov != nv {
                return None;
            }
            let (key, value) = (items[i].0.as_ref()?, &items[i].1);
            out.push_str(&self.src[at..key.start]);
            if ok == nk {
                out.push_str(self.text(key));
            } else {
                out.push_str(&self.key(nk));
            }
            out.push_str(&self.src[key.end..value.start]);
            out.push_str(&self.splice(exprs[i], ov, nv, ind, Some(nk)));
            at = value.end;
        }
        out.push_str(&self.src[at..span.end]);
        Some(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn splice_array(
        &self,
        span: &Range<usize>,
        items: &[(Option<Range<usize>>, Range<usize>)],
        exprs: Vec<&Expression>,
        oa: &[Value],
        na: &[Value],
        ind: &str,
        key: Option<&str>,
    ) -> Option<String> {
        let (chunks, head, tail) = self.chunks(span.start, span.end - 1, items)?;
        let item_ind = self.item_indent(&chunks, ind);
        let last_comma = chunks.last().is_some_and(|c| c.comma);
        let old_keys: Vec<String> = oa.iter().map(|v| v.to_string()).collect();
        let new_keys: Vec<String> = na.iter().map(|v| v.to_string()).collect();
        // For each new item: the old item it continues (equal, or the same statement changed).
        let mut from: Vec<Option<usize>> = vec![None; na.len()];
        let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &old_keys, &new_keys);
        for op in ops {
            match op {
                similar::DiffOp::Equal {
                    old_index,
                    new_index,
                    len,
                } => {
                    for d in 0..len {
                        from[new_index + d] = Some(old_index + d);
                    }
                }
                similar::DiffOp::Replace {
                    old_index,
                    old_len,
                    new_index,
                    new_len,
                } => {
                    let mut taken = vec![false; old_len];
                    for nj in new_index..new_index + new_len {
                        let pick = (0..old_len)
                            .find(|&d| !taken[d] && same_item(&oa[old_index + d], &na[nj]));
                        if let Some(d) = pick {
                            taken[d] = true;
                            from[nj] = Some(old_index + d);
                        }
                    }
                }
                _ => {}
            }
        }
        let mut out = String::from(head);
        let n = na.len();
        // An added item is indented like the item before it (files are not always regular).
        let mut neighbour = item_ind;
        for (j, nv) in na.iter().enumerate() {
            let comma = j + 1 < n || last_comma;
            let comma = if comma { "," } else { "" };
            match from[j] {
                Some(i) => {
                    let c = &chunks[i];
                    let value_ind = line_indent(self.src, c.value.start).to_string();
                    let value = self.splice(exprs[i], &oa[i], nv, &value_ind, key);
                    out.push_str(&format!("{}{value}{comma}{}", c.pre, c.after));
                    neighbour = value_ind;
                }
                None => {
                    let value = self.fresh(nv, &neighbour, None);
                    out.push_str(&format!("{neighbour}{value}{comma}\n"));
                }
            }
        }
        out.push_str(tail);
        out.push(']');
        Some(out)
    }

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
        if ident && !self.cx.quoted_keys {
            k.to_string()
        } else {
            serde_json::to_string(k).unwrap_or_default()
        }
    }

    /// `v` printed anew, its first line continuing a line indented by `ind`; `key` is the
    /// object key it is the value of.
    fn fresh(&self, v: &Value, ind: &str, key: Option<&str>) -> String {
        if let Some(s) = self.leaf(v) {
            return s;
        }
        let inner = format!("{ind}{}", self.cx.unit);
        match v {
            Value::Array(a) => {
                let items: Vec<String> = a.iter().map(|x| self.fresh(x, &inner, None)).collect();
                let one_line = format!("[{}]", items.join(", "));
                // A list keeps the layout the file gave this key's lists; one the file has no
                // example of is one line when short.
                let written = key.and_then(|k| self.cx.array_lines.get(k).copied());
                let one = match written {
                    Some(multi) => !multi,
                    None => !self.cx.multiline_arrays && one_line.len() + ind.len() < 100,
                };
                if one && !one_line.contains('\n') {
                    return one_line;
                }
                let mut out = String::from("[\n");
                let n = items.len();
                for (i, it) in items.into_iter().enumerate() {
                    let comma = if i + 1 < n || self.cx.trailing_comma {
                        ","
                    } else {
                        ""
                    };
                    out.push_str(&format!("{inner}{it}{comma}\n"));
                }
                out.push_str(ind);
                out.push(']');
                out
            }
            Value::Object(m) => {
                let rendered: Vec<(String, String)> = m
                    .iter()
                    .map(|(k, x)| (self.key(k), self.fresh(x, &inner, Some(k))))
                    .collect();
                let mut out = String::from("{\n");
                let n = rendered.len();
                let comma = |i: usize| if self.cx.commas && i + 1 < n { "," } else { "" };
                if self.cx.sep.trim() != "=" {
                    for (i, (k, x)) in rendered.iter().enumerate() {
                        out.push_str(&format!("{inner}{k}{}{x}{}\n", self.cx.sep, comma(i)));
                    }
                } else {
                    // `terraform fmt` aligns `=` over runs of one-line items; an item spanning
                    // several lines stands alone.
                    let mut i = 0;
                    while i < n {
                        if rendered[i].1.contains('\n') {
                            let (k, x) = &rendered[i];
                            out.push_str(&format!("{inner}{k} = {x}{}\n", comma(i)));
                            i += 1;
                            continue;
                        }
                        let mut j = i;
                        while j < n && !rendered[j].1.contains('\n') {
                            j += 1;
                        }
                        let width = rendered[i..j]
                            .iter()
                            .map(|(k, _)| k.len())
                            .max()
                            .unwrap_or(0);
                        for (d, (k, x)) in rendered[i..j].iter().enumerate() {
                            out.push_str(&format!("{inner}{k:<width$} = {x}{}\n", comma(i + d)));
                        }
                        i = j;
                    }
                }
                out.push_str(ind);
                out.push('}');
                out
            }
            _ => String::new(),
        }
    }
}

/// Whether a new list item is the old one changed (a statement with the same `Sid`, or
/// without one and with the same `Effect`), rather than a new item.
fn same_item(old: &Value, new: &Value) -> bool {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => match (o.get("Sid"), n.get("Sid")) {
            (Some(a), Some(b)) => a == b,
            (None, None) => o.get("Effect") == n.get("Effect"),
            _ => false,
        },
        _ => false,
    }
}

/// The text between a renamed key and its value: `=` stays in the column it was in when the
/// new key fits.
fn realign(between: &str, old_key: &str, new_key: &str) -> String {
    let pad = between.len() - between.trim_start().len();
    let rest = between.trim_start();
    if !rest.starts_with('=') {
        return between.to_string();
    }
    let column = old_key.len() + pad;
    let spaces = column.saturating_sub(new_key.len()).max(1);
    format!("{}{rest}", " ".repeat(spaces))
}
