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
mod cfnwrite;
mod document;
mod hcl;
mod hclquote;
mod hclwrite;
mod lines;
mod model;
mod placeholder;
mod splice;
mod suppression;
mod template;
mod tf011;
mod tfjson;
pub mod unread;
mod yaml;

use std::ops::Range;

use serde_json::Value;

use crate::lines::line_start;
use crate::model::Ctx;
pub use crate::model::{Embedded, Form, IacError, Obstacle, PolicyKind};
pub use crate::suppression::{comment_suppressions, Suppression};

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
        Ctx::CfnYaml(cx) => cfnwrite::rewrite_yaml(text, embedded, cx, new_policy),
        Ctx::CfnJson(cx) => cfnwrite::rewrite_json(text, embedded, cx, new_policy),
        Ctx::CfnString(cx) => cfnwrite::rewrite_string(text, embedded, cx, new_policy),
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
