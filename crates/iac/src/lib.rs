//! forcemfa-iac: IAM policies inside infrastructure as code, read and written back in the file's
//! own syntax. Pure text in, text out: no disk, no AWS, no terminal, so that it builds, tests and
//! fuzzes on its own.
//!
//! [`extract`] finds every embedded policy document of a CloudFormation template (YAML or JSON)
//! or a Terraform file (`.tf` heredocs, `jsonencode` and `aws_iam_policy_document` blocks, `.tpl`
//! templates) and resolves it to a
//! JSON policy the engine can plan: intrinsic functions and interpolations become placeholder
//! strings (`@@AWS..AccountId@@`, `@@var.account_id@@`; opaque values `{{=N}}`) that the writer
//! turns back exactly. [`rewrite`] puts a new policy back, changing only the policy's lines, or
//! says why it cannot do so faithfully ([`Unfaithful`]): it never guesses. [`suppressions`]
//! reads the migrations an operator keeps off a policy where its resource is written.

mod cfn;
mod document;
mod hcl;
mod hclwrite;
mod placeholder;
mod splice;
mod template;
mod tf011;
mod tfjson;
pub mod unread;
mod yaml;

use std::ops::Range;

use serde_json::Value;

/// Where an embedded policy lives, for the writer (private details per syntax).
#[derive(Debug, Clone)]
pub(crate) enum Ctx {
    CfnYaml(cfn::YamlCtx),
    CfnJson(cfn::JsonCtx),
    /// A CloudFormation policy given as a JSON string in YAML.
    CfnString(cfn::StringCtx),
    Template(template::TemplateCtx),
    Jsonencode(hcl::JsonencodeCtx),
    Document(document::DocumentCtx),
}

/// The syntax a policy is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Form {
    /// A `PolicyDocument` in a CloudFormation (or SAM) YAML template.
    CloudformationYaml,
    /// A `PolicyDocument` in a CloudFormation JSON template.
    CloudformationJson,
    /// `policy = <<EOF … EOF` in a Terraform file.
    TerraformHeredoc,
    /// `policy = jsonencode({ … })` in a Terraform file.
    TerraformJsonencode,
    /// A policy template file used with `templatefile` (`.json.tpl`, `.tpl`).
    TerraformTemplate,
    /// A `data "aws_iam_policy_document"` block.
    TerraformPolicyDocument,
    /// `policy = "{\"Version\": …}"`: a JSON policy in an HCL quoted string.
    TerraformString,
    /// A policy in a Terraform JSON (`.tf.json`) file, as a JSON string or an object.
    TerraformJson,
}

impl Form {
    pub fn as_str(self) -> &'static str {
        match self {
            Form::CloudformationYaml => "CloudFormation YAML",
            Form::CloudformationJson => "CloudFormation JSON",
            Form::TerraformHeredoc => "Terraform heredoc",
            Form::TerraformJsonencode => "Terraform jsonencode",
            Form::TerraformTemplate => "Terraform template",
            Form::TerraformPolicyDocument => "Terraform aws_iam_policy_document",
            Form::TerraformString => "Terraform JSON string",
            Form::TerraformJson => "Terraform JSON syntax",
        }
    }
}

/// What kind of IAM policy the resource deploys, for the size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    Managed,
    InlineUser,
    InlineGroup,
    InlineRole,
    /// Not known from the file alone (a template file, a policy attached elsewhere).
    Unknown,
}

/// Why part of a policy cannot be written back faithfully.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Obstacle {
    /// 1-based line in the file.
    pub line: usize,
    pub what: String,
    /// The policy cannot even be read fully (a computed value), not only not written back.
    pub unreadable: bool,
}

/// One policy document embedded in an IaC file.
#[derive(Debug, Clone)]
pub struct Embedded {
    /// CloudFormation logical id (and policy name), or Terraform address.
    pub resource: String,
    /// The resource type (`AWS::IAM::ManagedPolicy`, `aws_iam_policy`, …).
    pub resource_type: String,
    pub kind: PolicyKind,
    pub form: Form,
    /// 1-based lines of the policy in the file (first and last).
    pub line: usize,
    pub end_line: usize,
    /// The policy with placeholders for intrinsics and interpolations.
    pub policy: Value,
    /// Parts that make a faithful rewrite impossible; planning still reports what should change.
    pub obstacles: Vec<Obstacle>,
    pub(crate) span: Range<usize>,
    pub(crate) ctx: Ctx,
}

impl Embedded {
    /// The resolved policy as JSON text, for the engine.
    pub fn policy_text(&self) -> String {
        serde_json::to_string_pretty(&self.policy).unwrap_or_default() + "\n"
    }

    /// A message about the resolved policy with its placeholders shown as the file writes them
    /// (`{{=0}}` → `var.exempt`, `@@var.account_id@@` → `${var.account_id}`).
    pub fn show(&self, message: &str) -> String {
        let opaque: &[String] = match &self.ctx {
            Ctx::CfnYaml(cx) => cfn::yaml_opaque(cx),
            Ctx::CfnJson(cx) => cfn::json_opaque(cx),
            Ctx::CfnString(cx) => cfn::string_opaque(cx),
            Ctx::Template(cx) => template::opaque(cx),
            Ctx::Jsonencode(cx) => hcl::opaque(cx),
            Ctx::Document(cx) => document::opaque(cx),
        };
        let mut out = message.to_string();
        for (i, src) in opaque.iter().enumerate() {
            out = out.replace(&placeholder::opaque_token(i), src.trim());
        }
        placeholder::pieces(&out)
            .iter()
            .map(|p| match p {
                placeholder::Piece::Name(n) => format!("${{{}}}", placeholder::source_name(n)),
                placeholder::Piece::Text(t) => (*t).to_string(),
            })
            .collect()
    }

    /// A key that names this policy within its file across rewrites.
    pub fn key(&self) -> &str {
        &self.resource
    }
}

/// The file could not be read as the IaC format its name or content says it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IacError {
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    /// Not an error in the file: a form forcemfa does not read (Terraform 0.11 syntax), named
    /// so that a person reviews it.
    #[error("{message}")]
    NeedsReview { line: usize, message: String },
}

/// A rewrite that could not be done faithfully: where, and what should change instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: cannot rewrite {resource} faithfully: {reason}")]
pub struct Unfaithful {
    pub resource: String,
    pub line: usize,
    pub reason: String,
}

/// Which reader a file needs, judged by its name and (for YAML/JSON) its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    CloudFormation,
    Terraform,
    TerraformTemplate,
    /// Terraform's JSON syntax (`*.tf.json`).
    TerraformJson,
}

/// The IaC kind of a file, or `None` when it is not one this crate reads (plain policy JSON is
/// not: the files source reads that).
pub fn classify(file_name: &str, text: &str) -> Option<FileKind> {
    let lower = file_name.to_ascii_lowercase();
    if lower.ends_with(".tf") {
        return Some(FileKind::Terraform);
    }
    if lower.ends_with(".tf.json") {
        return Some(FileKind::TerraformJson);
    }
    if lower.ends_with(".tpl") || lower.ends_with(".tftpl") {
        return Some(FileKind::TerraformTemplate);
    }
    let yamlish = [".yaml", ".yml", ".template", ".json"]
        .iter()
        .any(|e| lower.ends_with(e));
    if yamlish && cfn::looks_like_cloudformation(text) {
        return Some(FileKind::CloudFormation);
    }
    // A JSON policy with template variables (`${aws_partition}`, `$${aws:username}`) is a
    // Terraform template (`templatefile`, `template_file`), whatever its name.
    if lower.ends_with(".json") && template::looks_like_template(text) {
        return Some(FileKind::TerraformTemplate);
    }
    None
}

/// Every policy document embedded in `text`. `file_name` decides the syntax (see [`classify`]);
/// a file of no IaC kind has none.
pub fn extract(file_name: &str, text: &str) -> Result<Vec<Embedded>, IacError> {
    let found = match classify(file_name, text) {
        Some(FileKind::CloudFormation) => cfn::extract(text)?,
        Some(FileKind::Terraform) => hcl::extract(text)?,
        Some(FileKind::TerraformTemplate) => template::extract_file(text)?,
        Some(FileKind::TerraformJson) => tfjson::extract(text)?,
        None => Vec::new(),
    };
    // A policy is found again at apply time by its resource address: two policies with the same
    // address (a duplicated logical id, which CloudFormation and Terraform refuse anyway) could
    // send a change to the wrong one, so such a file is refused whole.
    for (i, e) in found.iter().enumerate() {
        if let Some(twin) = found[..i].iter().find(|x| x.resource == e.resource) {
            return Err(IacError::Syntax {
                line: e.line,
                message: format!(
                    "{} is defined twice (also at line {}); fix the duplicate first",
                    e.resource, twin.line
                ),
            });
        }
    }
    Ok(found)
}

/// The policy of a Terraform template file whatever its name (a `.json` named by a
/// `templatefile` call or a `template_file` data source).
pub fn extract_template(text: &str) -> Result<Vec<Embedded>, IacError> {
    template::extract_file(text)
}

/// The template files a Terraform file names (`templatefile("${path.module}/x.json", …)`,
/// `template = file("x.json")` in a `template_file` data source), as paths relative to the
/// file's folder. Paths computed from anything but `path.module` are not followed.
pub fn template_references(text: &str) -> Vec<String> {
    hcl::template_references(text)
}

/// `text` with `embedded`'s policy replaced by `new_policy` (placeholders as [`extract`] made
/// them), written in the file's own syntax; only the policy's lines change. Unchanged policy:
/// the text comes back byte for byte.
pub fn rewrite(text: &str, embedded: &Embedded, new_policy: &Value) -> Result<String, Unfaithful> {
    if *new_policy == embedded.policy {
        return Ok(text.to_string());
    }
    let unfaithful = |reason: String| Unfaithful {
        resource: embedded.resource.clone(),
        line: embedded.line,
        reason,
    };
    if let Some(o) = embedded.obstacles.first() {
        return Err(Unfaithful {
            resource: embedded.resource.clone(),
            line: o.line,
            reason: o.what.clone(),
        });
    }
    placeholder::check_opaque_kept(&embedded.policy, new_policy).map_err(unfaithful)?;
    let replacement = match &embedded.ctx {
        Ctx::CfnYaml(cx) => cfn::rewrite_yaml(text, embedded, cx, new_policy),
        Ctx::CfnJson(cx) => cfn::rewrite_json(text, embedded, cx, new_policy),
        Ctx::CfnString(cx) => cfn::rewrite_string(text, embedded, cx, new_policy),
        Ctx::Template(cx) => template::rewrite(text, embedded, cx, new_policy),
        Ctx::Jsonencode(cx) => hcl::rewrite_jsonencode(text, embedded, cx, new_policy),
        Ctx::Document(cx) => document::rewrite(text, embedded, cx, new_policy),
    }
    .map_err(unfaithful)?;
    Ok(line_endings_kept(text, replacement))
}

/// `new` (a rewrite of `text`) with the lines it changed ending the way `text`'s lines end: a
/// CRLF file stays CRLF throughout, never mixed.
fn line_endings_kept(text: &str, new: String) -> String {
    let crlf = text.matches("\r\n").count();
    if crlf == 0 || crlf * 2 < text.matches('\n').count() {
        return new;
    }
    let (a, b) = (text.as_bytes(), new.as_bytes());
    let mut p = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    // Never split a CRLF pair (or a character) between the kept prefix and the changed middle.
    while p > 0 && (b[p - 1] == b'\r' || !new.is_char_boundary(p)) {
        p -= 1;
    }
    let max_s = a.len().min(b.len()) - p;
    let mut s = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max_s)
        .take_while(|(x, y)| x == y)
        .count();
    // A line ending the changed part shares its LF with the old text, not its CR: take the LF in.
    if s > 0 && b.len() - s > p && b[b.len() - s] == b'\n' && b[b.len() - s - 1] != b'\r' {
        s -= 1;
    }
    while s > 0 && !new.is_char_boundary(b.len() - s) {
        s -= 1;
    }
    let (head, rest) = new.split_at(p);
    let (middle, tail) = rest.split_at(rest.len() - s);
    let middle = middle.replace("\r\n", "\n").replace('\n', "\r\n");
    format!("{head}{middle}{tail}")
}

/// A migration an operator keeps off one policy, written on its resource: a comment
/// `# forcemfa:skip=ID[,ID] reason` (`//` too), or CloudFormation `Metadata: forcemfa: skip`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Suppression {
    /// The migration as written (id, name or file stem).
    pub migration: String,
    /// Why, as written ("" when none was given).
    pub reason: String,
    /// 1-based line where it is written.
    pub line: usize,
}

/// The `forcemfa:skip=ID[,ID][:]reason` comments in `text[span]` (`#` or `//` comments), for
/// any syntax: callers pass the span of the resource a policy belongs to.
pub fn comment_suppressions(text: &str, span: Range<usize>) -> Vec<Suppression> {
    const MARK: &str = "forcemfa:skip=";
    let start = line_start(text, span.start.min(text.len()));
    let end = span.end.min(text.len());
    let mut out = Vec::new();
    let mut offset = start;
    for line in text[start..end].split_inclusive('\n') {
        let at = offset;
        offset += line.len();
        let Some(c) = line.find('#').or_else(|| line.find("//")) else {
            continue;
        };
        let Some(i) = line[c..].find(MARK) else {
            continue;
        };
        let rest = line[c + i + MARK.len()..].trim_end();
        let ids_end = rest
            .find(|ch: char| ch.is_whitespace() || ch == ':')
            .unwrap_or(rest.len());
        let reason = rest[ids_end..]
            .trim_start_matches(|ch: char| ch.is_whitespace() || ch == ':')
            .trim()
            .to_string();
        for id in rest[..ids_end].split(',').filter(|x| !x.is_empty()) {
            out.push(Suppression {
                migration: id.to_string(),
                reason: reason.clone(),
                line: line_of(text, at),
            });
        }
    }
    out
}

/// The inline suppressions that apply to `embedded`'s policy: those written on its resource.
pub fn suppressions(file_name: &str, text: &str, embedded: &Embedded) -> Vec<Suppression> {
    match classify(file_name, text) {
        Some(FileKind::CloudFormation) => cfn::suppressions(text, &embedded.resource),
        Some(FileKind::Terraform) => comment_suppressions(
            text,
            terraform_block_start(text, embedded)..embedded.span.end,
        ),
        // A template file has no resource: the comments of the whole file.
        Some(FileKind::TerraformTemplate) => comment_suppressions(text, 0..text.len()),
        // JSON has no comments to carry a suppression.
        Some(FileKind::TerraformJson) | None => Vec::new(),
    }
}

/// Where the Terraform block declaring `embedded` starts (with the comment lines right above
/// it), found by its address (`aws_iam_policy.x`, `data.aws_iam_policy_document.y`).
fn terraform_block_start(text: &str, embedded: &Embedded) -> usize {
    let address = embedded.resource.as_str();
    let (keyword, rest) = match address.strip_prefix("data.") {
        Some(r) => ("data", r),
        None => ("resource", address),
    };
    let Some((ty, name)) = rest.split_once('.') else {
        return line_start(text, embedded.span.start);
    };
    let name = name.split(['.', '[']).next().unwrap_or(name);
    let head = format!("{keyword} \"{ty}\" \"{name}\"");
    let Some(at) = text[..embedded.span.start.min(text.len())].rfind(&head) else {
        return line_start(text, embedded.span.start);
    };
    let mut start = line_start(text, at);
    while start > 0 {
        let prev = line_start(text, start - 1);
        let l = text[prev..start].trim_start();
        if !(l.starts_with('#') || l.starts_with("//")) {
            break;
        }
        start = prev;
    }
    start
}

/// The outcome of carrying one planned change over to the file as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transplant {
    /// The new text to write.
    Write(String),
    /// The file already holds the planned policy.
    AlreadyApplied,
    /// The policy changed since the plan was made (or is gone).
    Stale(String),
}

/// Carry the change of `resource`'s policy from `before` → `after` (whole-file texts of the plan)
/// over to `current` (the file now, maybe with other policies already rewritten): the policy's
/// current text must equal its planned `before` text.
pub fn transplant(
    file_name: &str,
    current: &str,
    before: &str,
    after: &str,
    resource: &str,
) -> Transplant {
    if current == after {
        return Transplant::AlreadyApplied;
    }
    if current == before {
        return Transplant::Write(after.to_string());
    }
    let find = |text: &str| -> Option<Range<usize>> {
        match classify(file_name, text) {
            Some(_) => extract(file_name, text),
            // A file the IaC source reads without a kind of its own: a template named by a
            // `templatefile` call.
            None => extract_template(text),
        }
        .ok()?
        .into_iter()
        .find(|e| e.resource == resource)
        .map(|e| e.span)
    };
    let (Some(cur), Some(b), Some(a)) = (find(current), find(before), find(after)) else {
        return Transplant::Stale(format!("{resource} is no longer in the file"));
    };
    let (cur_text, b_text, a_text) = (&current[cur.clone()], &before[b], &after[a]);
    if cur_text == a_text {
        return Transplant::AlreadyApplied;
    }
    if cur_text != b_text {
        return Transplant::Stale(format!("the policy of {resource} changed since the plan"));
    }
    let mut out = String::with_capacity(current.len() + a_text.len());
    out.push_str(&current[..cur.start]);
    out.push_str(a_text);
    out.push_str(&current[cur.end..]);
    Transplant::Write(out)
}

/// 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Byte offset where the line holding `offset` starts.
pub(crate) fn line_start(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1)
}

/// The leading whitespace of the line holding `offset`.
pub(crate) fn line_indent(text: &str, offset: usize) -> &str {
    let start = line_start(text, offset);
    let rest = &text[start..];
    let n = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    &rest[..n]
}
