//! CloudFormation and SAM templates, YAML (short-form tags, comments, anchors) and JSON: every
//! `PolicyDocument` of `AWS::IAM::ManagedPolicy`, `AWS::IAM::Policy`, the `Policies` of
//! `AWS::IAM::User|Group|Role`, and policy documents in `AWS::Serverless::*` `Policies`.
//!
//! Both syntaxes are read with one span-aware parser (JSON is YAML's flow syntax), every document
//! of a `---` stream. YAML is written back statement by statement (unchanged statements keep their
//! lines; a changed one keeps its comments and unchanged lines as written, and the anchor on it);
//! JSON is written back as the whole policy object in the template's indentation, like a policy
//! file, and so is a policy given as a JSON string, inside its string. A conditional (`Fn::If`)
//! around an MFA guard is named for review, never resolved.

use std::collections::HashMap;

use forcemfa_engine::policy;
use saphyr_parser::ScalarStyle;
use serde_json::{Map, Value};

use crate::lines::{line_indent, line_of, line_start};
use crate::model::{
    ArnStyle, Ctx, Embedded, Form, IacError, ItemAnchors, JsonCtx, Obstacle, PolicyKind, Resolver,
    StringCtx, StringScalar, YamlCtx,
};
use crate::placeholder::{self, Piece};
use crate::splice;
use crate::suppression::{comment_suppressions, Suppression};
use crate::yaml::{self, Node, V};

pub(crate) fn looks_like_cloudformation(text: &str) -> bool {
    text.contains("AWSTemplateFormatVersion")
        || (text.contains("Resources") && text.contains("AWS::"))
}

pub(crate) fn extract(text: &str) -> Result<Vec<Embedded>, IacError> {
    let stream = yaml::parse_stream(text)?;
    let json = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('{');
    let mut out = Vec::new();
    for (n, root) in stream.docs.iter().enumerate() {
        // Every document of a stream is read; names of the later ones say which document.
        let prefix = if n == 0 {
            String::new()
        } else {
            format!("document {}/", n + 1)
        };
        let t = Template {
            text,
            json,
            stream: &stream,
            prefix,
        };
        t.document(root, &mut out);
    }
    Ok(out)
}

/// One document of a template being read.
struct Template<'a> {
    text: &'a str,
    json: bool,
    stream: &'a yaml::Stream,
    prefix: String,
}

/// The resource a policy belongs to.
struct Resource<'a> {
    ty: &'a str,
}

impl Template<'_> {
    fn document(&self, root: &Node, out: &mut Vec<Embedded>) {
        // Serverless Framework files keep CloudFormation under `resources:`.
        let resources = root
            .get("Resources")
            .or_else(|| root.get("resources").and_then(|r| r.get("Resources")));
        let Some(Node {
            v: V::Map(resources),
            ..
        }) = resources
        else {
            return;
        };
        for (k, r) in resources {
            let Some(id) = k.str() else { continue };
            let Some(ty) = r.get("Type").and_then(Node::str) else {
                continue;
            };
            let Some(props) = r.get("Properties") else {
                continue;
            };
            let res = Resource { ty };
            let id = format!("{}{id}", self.prefix);
            self.resource(&id, &res, props, out);
        }
    }

    fn resource(&self, id: &str, res: &Resource, props: &Node, out: &mut Vec<Embedded>) {
        match res.ty {
            "AWS::IAM::ManagedPolicy" => self.policy(
                props.get("PolicyDocument"),
                id.to_string(),
                res,
                PolicyKind::Managed,
                out,
            ),
            "AWS::IAM::Policy" => {
                let kind = if props.get("Users").is_some() {
                    PolicyKind::InlineUser
                } else if props.get("Groups").is_some() {
                    PolicyKind::InlineGroup
                } else if props.get("Roles").is_some() {
                    PolicyKind::InlineRole
                } else {
                    PolicyKind::Unknown
                };
                self.policy(props.get("PolicyDocument"), id.to_string(), res, kind, out)
            }
            "AWS::IAM::User" | "AWS::IAM::Group" | "AWS::IAM::Role" => {
                let kind = match res.ty {
                    "AWS::IAM::User" => PolicyKind::InlineUser,
                    "AWS::IAM::Group" => PolicyKind::InlineGroup,
                    _ => PolicyKind::InlineRole,
                };
                self.inline_policies(id, res, props, kind, out)
            }
            t if t.starts_with("AWS::Serverless::") => match props.get("Policies") {
                Some(p @ Node { v: V::Map(_), .. }) => self.policy(
                    Some(p),
                    format!("{id}/Policies"),
                    res,
                    PolicyKind::InlineRole,
                    out,
                ),
                Some(Node {
                    v: V::Seq(items), ..
                }) => {
                    for (i, p) in items.iter().enumerate() {
                        // Names of managed policies and SAM policy templates are not documents.
                        if p.get("Statement").is_some() || self.conditional_mfa(p) {
                            self.policy(
                                Some(p),
                                format!("{id}/Policies/{i}"),
                                res,
                                PolicyKind::InlineRole,
                                out,
                            );
                        }
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// The `Policies` list of a user, group or role: each entry's `PolicyDocument`.
    fn inline_policies(
        &self,
        id: &str,
        res: &Resource,
        props: &Node,
        kind: PolicyKind,
        out: &mut Vec<Embedded>,
    ) {
        let Some(Node {
            v: V::Seq(items), ..
        }) = props.get("Policies")
        else {
            return;
        };
        for (i, p) in items.iter().enumerate() {
            let name = p
                .get("PolicyName")
                .and_then(Node::str)
                .map_or_else(|| format!("{i}"), str::to_string);
            let resource = format!("{id}/Policies/{name}");
            if self.conditional_mfa(p) {
                // `- !If [Cond, {PolicyName, PolicyDocument}, !Ref AWS::NoValue]`
                out.push(self.unreadable(p, resource, res, kind, CONDITIONAL));
                continue;
            }
            self.policy(p.get("PolicyDocument"), resource, res, kind, out);
        }
    }

    /// One `PolicyDocument` value, in whichever form it is written.
    fn policy(
        &self,
        doc: Option<&Node>,
        resource: String,
        res: &Resource,
        kind: PolicyKind,
        out: &mut Vec<Embedded>,
    ) {
        let Some(doc) = doc else { return };
        if is_conditional(doc) {
            if self.conditional_mfa(doc) {
                out.push(self.unreadable(doc, resource, res, kind, CONDITIONAL));
            }
            return;
        }
        if doc.tag.is_none() && doc.get("Statement").is_some() {
            // A whole policy aliased elsewhere (`PolicyDocument: *doc`) is the same document
            // there, so its rewrite is the one the alias's own plan asks for.
            out.push(embedded(
                self.text,
                doc,
                resource,
                res.ty,
                kind,
                self.json,
                &self.stream.aliases,
            ));
            return;
        }
        if let Some(e) = string_policy(self.text, doc, &resource, res.ty, kind) {
            out.push(e);
        } else if mentions_mfa(&self.text[doc.start..doc.end.max(doc.start)]) {
            // Never passed over: a policy forcemfa cannot read that tests MFA is named.
            out.push(self.unreadable(doc, resource, res, kind, UNREAD_STRING));
        }
    }

    /// A conditional (`Fn::If`) that mentions an MFA condition key.
    fn conditional_mfa(&self, n: &Node) -> bool {
        is_conditional(n) && mentions_mfa(&self.text[n.start..n.end.max(n.start)])
    }

    /// A policy forcemfa cannot read (which branch of a condition is deployed, a computed
    /// string): named with its location and `what`, for a person to review; never written.
    fn unreadable(
        &self,
        n: &Node,
        resource: String,
        res: &Resource,
        kind: PolicyKind,
        what: &str,
    ) -> Embedded {
        let mut res_ = Resolver::default();
        let policy = serde_json::json!({"Version": "2012-10-17", "Statement": []});
        let _ = res_.opaque(&self.text[n.start..n.end.max(n.start)]);
        Embedded {
            resource,
            resource_type: res.ty.to_string(),
            kind,
            form: if self.json {
                Form::CloudformationJson
            } else {
                Form::CloudformationYaml
            },
            line: n.line,
            end_line: line_of(self.text, n.end.saturating_sub(1).max(n.start)),
            policy,
            obstacles: vec![Obstacle {
                line: n.line,
                what: what.into(),
                unreadable: true,
            }],
            span: n.start..n.end,
            ctx: Ctx::CfnYaml(yaml_ctx(self.text, n, res_, &[])),
        }
    }
}

/// Inline suppressions of the resource holding policy `resource` (as [`extract`] names it):
/// `Metadata: forcemfa: skip: [...]` and `# forcemfa:skip=ID reason` comments on the resource
/// (its lines and the comment lines right above its logical id).
pub(crate) fn suppressions(text: &str, resource: &str) -> Vec<Suppression> {
    let Ok(stream) = yaml::parse_stream(text) else {
        return Vec::new();
    };
    for (n, root) in stream.docs.iter().enumerate() {
        let prefix = if n == 0 {
            String::new()
        } else {
            format!("document {}/", n + 1)
        };
        let Some(rest) = resource.strip_prefix(prefix.as_str()) else {
            continue;
        };
        let resources = root
            .get("Resources")
            .or_else(|| root.get("resources").and_then(|r| r.get("Resources")));
        let Some(Node {
            v: V::Map(resources),
            ..
        }) = resources
        else {
            continue;
        };
        for (k, r) in resources {
            let Some(id) = k.str() else { continue };
            if rest == id || rest.starts_with(&format!("{id}/")) {
                let mut out = metadata_suppressions(r.get("Metadata"));
                let start = comment_block_start(text, k.start);
                // The resource's last line, its trailing comment included.
                let end = splice::whole_lines(text, r.start, r.end.max(r.start)).end;
                out.extend(comment_suppressions(text, start..end));
                return out;
            }
        }
    }
    Vec::new()
}

const UNREAD_STRING: &str = "a policy built by an intrinsic function (`Fn::Sub`, `Fn::Join`) or written as a multi-line quoted string, which forcemfa does not read or rewrite; review it by hand";

const CONDITIONAL: &str = "a conditional (`Fn::If`) decides what this policy holds, so forcemfa cannot tell which branch is deployed; review both branches by hand";

fn is_conditional(n: &Node) -> bool {
    n.tag.as_deref() == Some("If")
        || matches!(&n.v, V::Map(e) if e.len() == 1 && e[0].0.str() == Some("Fn::If"))
}

fn mentions_mfa(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.contains("multifactorauthpresent") || l.contains("multifactorauthage")
}

/// Where the comment lines directly above the line holding `offset` start.
fn comment_block_start(text: &str, offset: usize) -> usize {
    let mut start = line_start(text, offset);
    while start > 0 {
        let prev = line_start(text, start - 1);
        if !text[prev..start].trim_start().starts_with('#') {
            break;
        }
        start = prev;
    }
    start
}

/// `Metadata: {forcemfa: {skip: [ID, …] | [{id: ID, reason: …}, …], reason: …}}`.
fn metadata_suppressions(meta: Option<&Node>) -> Vec<Suppression> {
    let Some(f) = meta.and_then(|m| m.get("forcemfa")) else {
        return Vec::new();
    };
    let common = f
        .get("reason")
        .and_then(Node::str)
        .map(str::to_string)
        .unwrap_or_default();
    let items: Vec<&Node> = match f.get("skip").map(|s| &s.v) {
        Some(V::Seq(items)) => items.iter().collect(),
        Some(V::Scalar(..)) => f.get("skip").into_iter().collect(),
        _ => Vec::new(),
    };
    items
        .into_iter()
        .filter_map(|item| {
            let (id, reason) = match item.str() {
                Some(id) => (id.to_string(), common.clone()),
                None => (
                    item.get("id")
                        .or_else(|| item.get("migration"))
                        .and_then(Node::str)?
                        .to_string(),
                    item.get("reason")
                        .and_then(Node::str)
                        .map_or_else(|| common.clone(), str::to_string),
                ),
            };
            Some(Suppression {
                migration: id,
                reason,
                line: item.line,
            })
        })
        .collect()
}

fn embedded(
    text: &str,
    doc: &Node,
    resource: String,
    ty: &str,
    kind: PolicyKind,
    json: bool,
    aliases: &[(usize, usize)],
) -> Embedded {
    let mut res = Resolver::default();
    let policy = res.resolve(text, doc);
    let line = line_of(text, doc.start);
    let end_line = line_of(text, doc.end.saturating_sub(1).max(doc.start));
    let mut obstacles: Vec<Obstacle> = std::mem::take(&mut res.obstacles);
    let (form, ctx) = if json {
        let mut statements = HashMap::new();
        if let (
            Some(Node {
                v: V::Seq(items), ..
            }),
            Some(Value::Array(values)),
        ) = (doc.get("Statement"), policy.get("Statement"))
        {
            for (n, v) in items.iter().zip(values) {
                statements.insert(
                    serde_json::to_string(v).unwrap_or_default(),
                    text[n.start..n.end].to_string(),
                );
            }
        }
        (
            Form::CloudformationJson,
            Ctx::CfnJson(JsonCtx { res, statements }),
        )
    } else {
        (
            Form::CloudformationYaml,
            Ctx::CfnYaml(yaml_ctx(text, doc, res, aliases)),
        )
    };
    if doc.alias {
        obstacles.push(Obstacle {
            line,
            what: "the policy is a YAML alias of a document written elsewhere in the file; change it where its anchor is".into(),
            unreadable: false,
        });
    }
    Embedded {
        resource,
        resource_type: ty.to_string(),
        kind,
        form,
        line,
        end_line,
        policy,
        obstacles,
        span: content_start(doc)..doc.end,
        ctx,
    }
}

/// A `PolicyDocument` written as a JSON string (`PolicyDocument: |` or a quoted string), which
/// CloudFormation accepts too: read as the JSON it holds, written back inside the same scalar.
fn string_policy(
    text: &str,
    doc: &Node,
    resource: &str,
    ty: &str,
    kind: PolicyKind,
) -> Option<Embedded> {
    let V::Scalar(content, style) = &doc.v else {
        return None;
    };
    if doc.tag.is_some() || !content.trim_start().starts_with('{') {
        return None;
    }
    let stream = yaml::parse_stream(content).ok()?;
    let root = stream.docs.first()?;
    root.get("Statement")?;
    let inner = embedded(content, root, resource.to_string(), ty, kind, true, &[]);
    let raw = &text[doc.start..doc.end.max(doc.start)];
    let (scalar, span) = match style {
        ScalarStyle::Literal => {
            // The content lines only (the `|` header stays as written): from the first
            // non-blank line after the header to the end of the last non-blank one.
            let after_header = if raw.starts_with('|') {
                doc.start + raw.find('\n')? + 1
            } else {
                line_start(text, doc.start)
            };
            let body = &text[after_header..doc.end.max(after_header)];
            let lead = body.len() - body.trim_start_matches(['\r', '\n']).len();
            let first = after_header + lead;
            let line = &text[first..];
            let indent =
                line[..line.len() - line.trim_start_matches([' ', '\t']).len()].to_string();
            let end = first + text[first..doc.end.max(first)].trim_end().len();
            (StringScalar::Block { indent }, first..end)
        }
        ScalarStyle::SingleQuoted if !content.contains('\n') => {
            (StringScalar::Quoted('\''), doc.start..doc.end)
        }
        ScalarStyle::DoubleQuoted if !content.contains('\n') => {
            (StringScalar::Quoted('"'), doc.start..doc.end)
        }
        _ => return None,
    };
    let mut obstacles = inner.obstacles.clone();
    obstacles.iter_mut().for_each(|o| o.line += doc.line);
    let Ctx::CfnJson(_) = &inner.ctx else {
        return None;
    };
    Some(Embedded {
        resource: resource.to_string(),
        resource_type: ty.to_string(),
        kind,
        form: Form::CloudformationYaml,
        line: doc.line,
        end_line: line_of(text, span.end.saturating_sub(1).max(span.start)),
        policy: inner.policy.clone(),
        obstacles,
        span,
        ctx: Ctx::CfnString(StringCtx {
            content: content.clone(),
            inner: Box::new(inner),
            scalar,
        }),
    })
}

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

/// Where a block mapping's entries start (after an anchor or tag on the key's line).
fn content_start(doc: &Node) -> usize {
    match (&doc.v, doc.flow) {
        (V::Map(entries), false) => entries.first().map_or(doc.start, |(k, _)| k.start),
        _ => doc.start,
    }
}

fn col(text: &str, offset: usize) -> usize {
    text[line_start(text, offset)..offset].chars().count()
}

fn yaml_ctx(text: &str, doc: &Node, res: Resolver, aliases: &[(usize, usize)]) -> YamlCtx {
    let doc_col = col(text, content_start(doc));
    let key_col = line_indent(text, doc.start).len();
    let mut step = if doc.flow || doc_col <= key_col {
        2
    } else {
        doc_col - key_col
    };
    let mut seq_indented = true;
    let mut items = None;
    let mut anchors = Vec::new();
    let mut dash_col = doc_col + step;
    if let (Some(V::Map(entries)), false) = (Some(&doc.v), doc.flow) {
        if let Some((k, s)) = entries.iter().find(|(k, _)| k.str() == Some("Statement")) {
            if let (V::Seq(list), false) = (&s.v, s.flow) {
                let mut ranges = Vec::new();
                let mut ok = !list.is_empty();
                for item in list {
                    let ls = line_start(text, item.start);
                    let prefix = &text[ls..item.start];
                    let trimmed = prefix.trim_start();
                    if !(trimmed.starts_with('-') && trimmed[1..].trim().is_empty()) {
                        ok = false;
                        break;
                    }
                    ranges.push(splice::whole_lines(text, item.start, item.end));
                    anchors.push(item_anchors(text, item, aliases));
                }
                if let Some(first) = list.first() {
                    let ls = line_start(text, first.start);
                    dash_col = text[ls..first.start].find('-').unwrap_or(0);
                    let kc = col(text, k.start);
                    seq_indented = dash_col > kc;
                    if dash_col > kc && step == 2 && dash_col - kc != 2 {
                        step = dash_col - kc;
                    }
                }
                if ok {
                    items = Some(ranges);
                }
            }
        }
    }
    YamlCtx {
        res,
        step,
        seq_indented,
        col: doc_col,
        flow: doc.flow,
        items,
        anchors,
        dash_col,
    }
}

/// The anchors a statement defines, for a rewrite that must not lose one in use.
fn item_anchors(text: &str, item: &Node, aliases: &[(usize, usize)]) -> ItemAnchors {
    let mut found = Vec::new();
    yaml::anchors_in(item, &mut found);
    let used = found.iter().find_map(|(id, line)| {
        aliases
            .iter()
            .find(|(a, _)| a == id)
            .map(|(_, alias_line)| (*line, *alias_line))
    });
    ItemAnchors {
        own: (item.anchor > 0)
            .then(|| yaml::anchor_name(&text[item.start..]).map(str::to_string))
            .flatten(),
        nested: found.iter().any(|(id, _)| *id != item.anchor),
        used,
    }
}

impl Resolver {
    fn resolve(&mut self, text: &str, n: &Node) -> Value {
        let src = &text[n.start..n.end.max(n.start)];
        if let Some(tag) = &n.tag {
            return self.intrinsic(text, tag, n, src);
        }
        match &n.v {
            V::Map(entries) if entries.len() == 1 => {
                let (k, v) = &entries[0];
                match k.str() {
                    Some("Ref") => self.intrinsic(text, "Ref", v, src),
                    Some(f) if f.starts_with("Fn::") => self.intrinsic(text, &f[4..], v, src),
                    _ => self.map(text, entries),
                }
            }
            V::Map(entries) => self.map(text, entries),
            V::Seq(items) => Value::Array(items.iter().map(|i| self.resolve(text, i)).collect()),
            V::Scalar(s, style) => {
                let v = if *style == ScalarStyle::Plain {
                    plain_value(s)
                } else {
                    Value::String(s.clone())
                };
                if v.is_string() {
                    let slot = match style {
                        ScalarStyle::Plain => 0,
                        ScalarStyle::SingleQuoted => 1,
                        _ => 2,
                    };
                    self.quotes[slot] += 1;
                }
                self.leaf(&v, src);
                v
            }
        }
    }

    fn map(&mut self, text: &str, entries: &[(Node, Node)]) -> Value {
        let mut m = Map::new();
        for (k, v) in entries {
            let key = match &k.v {
                V::Scalar(s, _) => s.clone(),
                _ => text[k.start..k.end].to_string(),
            };
            self.keys
                .entry(key.clone())
                .or_insert_with(|| text[k.start..k.end].to_string());
            if v.flow && v.tag.is_none() {
                self.flow_keys.insert(key.clone());
            }
            let value = self.resolve(text, v);
            m.insert(key, value);
        }
        Value::Object(m)
    }

    fn leaf(&mut self, v: &Value, src: &str) {
        let key = serde_json::to_string(v).unwrap_or_default();
        // An anchor is defined once: a value printed again from its source goes without it.
        let src = match src.strip_prefix('&') {
            Some(rest) => rest
                .split_once(char::is_whitespace)
                .map_or("", |(_, v)| v.trim_start()),
            None => src,
        };
        if src.is_empty() {
            return;
        }
        self.leaves.entry(key).or_insert_with(|| src.to_string());
    }

    fn opaque(&mut self, src: &str) -> Value {
        if let Some(i) = self.opaque.iter().position(|s| s == src) {
            return Value::String(placeholder::opaque_token(i));
        }
        self.opaque.push(src.to_string());
        Value::String(placeholder::opaque_token(self.opaque.len() - 1))
    }

    fn intrinsic(&mut self, text: &str, name: &str, arg: &Node, src: &str) -> Value {
        if name == "If" {
            // Which branch is deployed depends on the stack: never guessed. Only a conditional
            // that touches MFA makes the policy unreadable; any other one only blocks a rewrite.
            self.obstacles.push(Obstacle {
                line: line_of(text, arg.start),
                what: if mentions_mfa(src) {
                    CONDITIONAL.into()
                } else {
                    "a conditional (`Fn::If`) in the policy, which forcemfa does not rewrite".into()
                },
                unreadable: mentions_mfa(src),
            });
        }
        let resolved = match (name, &arg.v) {
            ("Sub", V::Scalar(s, _)) => Some((from_sub(s), ArnStyle::Sub)),
            ("Join", V::Seq(args)) => join(args).map(|s| (s, ArnStyle::Join)),
            _ => None,
        };
        match resolved {
            Some((s, style)) => {
                if placeholder::has_names(&s) {
                    self.arn_style = style;
                }
                let v = Value::String(s);
                self.leaf(&v, src);
                v
            }
            None => self.opaque(src),
        }
    }
}

/// YAML 1.2 core schema for plain scalars: booleans, null and integers are not strings.
fn plain_value(s: &str) -> Value {
    match s {
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        "null" | "Null" | "NULL" | "~" | "" => Value::Null,
        _ => match s.parse::<i64>() {
            Ok(n) if !(s.starts_with('+') || (s.len() > 1 && s.starts_with('0'))) => {
                Value::Number(n.into())
            }
            _ => Value::String(s.to_string()),
        },
    }
}

/// `Fn::Sub` text → resolved string: `${Name}` → `{{Name}}`, `${!Literal}` → `${Literal}`.
fn from_sub(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find('}') {
            Some(j) => {
                let inner = &after[..j];
                match inner.strip_prefix('!') {
                    Some(lit) => out.push_str(&format!("${{{lit}}}")),
                    // `${aws:username}` in a !Sub is an IAM variable CloudFormation leaves
                    // alone only when written `${!aws:username}`; keep what the author wrote.
                    None if inner.contains(':') && !inner.contains("::") => {
                        out.push_str(&format!("${{{inner}}}"))
                    }
                    None if placeholder::name_ok(inner) => out.push_str(&placeholder::name(inner)),
                    None => out.push_str(&format!("${{{inner}}}")),
                }
                rest = &after[j + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
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

/// `Fn::Join [delim, [parts]]` whose parts are strings and `Ref`s → resolved string.
fn join(args: &[Node]) -> Option<String> {
    let [delim, parts] = args else { return None };
    let delim = match &delim.v {
        V::Scalar(s, _) if delim.tag.is_none() => s.clone(),
        _ => return None,
    };
    let V::Seq(parts) = &parts.v else { return None };
    let mut out = Vec::new();
    for p in parts {
        match (&p.tag, &p.v) {
            (None, V::Scalar(s, _)) => out.push(s.clone()),
            (Some(t), V::Scalar(s, _)) if t == "Ref" && placeholder::name_ok(s) => {
                out.push(placeholder::name(s))
            }
            (None, V::Map(e)) if e.len() == 1 && e[0].0.str() == Some("Ref") => {
                let s = e[0].1.str().filter(|s| placeholder::name_ok(s))?;
                out.push(placeholder::name(s))
            }
            _ => return None,
        }
    }
    Some(out.join(&delim))
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
