//! CloudFormation and SAM templates, YAML (short-form tags, comments, anchors) and JSON: every
//! `PolicyDocument` of `AWS::IAM::ManagedPolicy`, `AWS::IAM::Policy`, the `Policies` of
//! `AWS::IAM::User|Group|Role`, and policy documents in `AWS::Serverless::*` `Policies`.
//!
//! Both syntaxes are read with one span-aware parser (JSON is YAML's flow syntax), every document
//! of a `---` stream; what the writer needs to write a policy back the way it is written is kept
//! (`cfnwrite.rs` writes it). A conditional (`Fn::If`) around an MFA guard is named for review,
//! never resolved.

use std::collections::HashMap;

use saphyr_parser::ScalarStyle;
use serde_json::{Map, Value};

use crate::lines::{line_indent, line_of, line_start};
use crate::model::{
    ArnStyle, Ctx, Embedded, Form, IacError, ItemAnchors, JsonCtx, Obstacle, PolicyKind, Resolver,
    StringCtx, StringScalar, YamlCtx,
};
use crate::placeholder;
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
pub(crate) fn plain_value(s: &str) -> Value {
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
