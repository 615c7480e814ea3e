//! The data the readers produce and the writers consume: an embedded policy, its syntax and kind,
//! what stands in the way of writing it back, and the per-syntax details (`Ctx`) each writer
//! needs. Only data and what reads it: this file calls no reader or writer, so that every one of
//! them can build on it.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use forcemfa_engine::policy::Style;
use serde_json::Value;

use crate::placeholder;

/// Where an embedded policy lives, for the writer (private details per syntax).
#[derive(Debug, Clone)]
pub(crate) enum Ctx {
    CfnYaml(YamlCtx),
    CfnJson(JsonCtx),
    /// A CloudFormation policy given as a JSON string in YAML.
    CfnString(StringCtx),
    Template(TemplateCtx),
    Jsonencode(JsonencodeCtx),
    Document(DocumentCtx),
}

impl Ctx {
    /// The source text of each opaque token (`{{=N}}`) of the policy.
    fn opaque(&self) -> &[String] {
        match self {
            Ctx::CfnYaml(cx) => &cx.res.opaque,
            Ctx::CfnJson(cx) => &cx.res.opaque,
            Ctx::CfnString(cx) => match &cx.inner.ctx {
                Ctx::CfnJson(j) => &j.res.opaque,
                _ => &[],
            },
            Ctx::Template(cx) => &cx.opaque,
            Ctx::Jsonencode(cx) => &cx.opaque,
            Ctx::Document(cx) => &cx.opaque,
        }
    }
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
        let opaque = self.ctx.opaque();
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

// CloudFormation (`cfn.rs`).

/// How strings built from intrinsics were written, so that added ones look the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ArnStyle {
    #[default]
    Sub,
    Join,
}

/// What resolution learned about the policy's source text.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resolver {
    /// Source text of each opaque token.
    pub(crate) opaque: Vec<String>,
    /// Source text of each leaf value, keyed by the resolved value's JSON.
    pub(crate) leaves: HashMap<String, String>,
    /// Source text of each mapping key.
    pub(crate) keys: HashMap<String, String>,
    pub(crate) arn_style: ArnStyle,
    pub(crate) quotes: [usize; 3],
    /// Keys whose value the file writes in flow style (`[a, b]`, `{k: v}`).
    pub(crate) flow_keys: HashSet<String>,
    /// What cannot be read faithfully (a conditional).
    pub(crate) obstacles: Vec<Obstacle>,
}

#[derive(Debug, Clone)]
pub(crate) struct YamlCtx {
    pub(crate) res: Resolver,
    /// Indentation step.
    pub(crate) step: usize,
    /// Block lists indented under their key (`Key:\n  - x`) rather than flush (`Key:\n- x`).
    pub(crate) seq_indented: bool,
    /// Column of the `PolicyDocument` value and whether it is a flow mapping.
    pub(crate) col: usize,
    pub(crate) flow: bool,
    /// Byte ranges (whole lines) of each statement of a block `Statement` list.
    pub(crate) items: Option<Vec<Range<usize>>>,
    /// The anchors each of those statements defines.
    pub(crate) anchors: Vec<ItemAnchors>,
    /// Column of the statements' `-`.
    pub(crate) dash_col: usize,
}

/// Anchors (`&name`) a statement defines.
#[derive(Debug, Clone, Default)]
pub(crate) struct ItemAnchors {
    /// The anchor on the statement itself, kept when the statement is printed afresh.
    pub(crate) own: Option<String>,
    /// An anchor inside the statement (printing it afresh would drop it).
    pub(crate) nested: bool,
    /// An anchor of the statement that an alias uses: (its line, the alias's line).
    pub(crate) used: Option<(usize, usize)>,
}

#[derive(Debug, Clone)]
pub(crate) struct JsonCtx {
    pub(crate) res: Resolver,
    /// Source text of each statement, keyed by its resolved JSON.
    pub(crate) statements: HashMap<String, String>,
}

/// How a policy given as a JSON string is written in the YAML.
#[derive(Debug, Clone)]
pub(crate) enum StringScalar {
    /// `|`: the content's indentation.
    Block { indent: String },
    /// One line in quotes.
    Quoted(char),
}

#[derive(Debug, Clone)]
pub(crate) struct StringCtx {
    /// The string's value: the policy's JSON text.
    pub(crate) content: String,
    /// The policy as found in that JSON text.
    pub(crate) inner: Box<Embedded>,
    pub(crate) scalar: StringScalar,
}

// Terraform templates and heredocs (`template.rs`).

#[derive(Debug, Clone)]
pub(crate) struct TemplateCtx {
    pub(crate) opaque: Vec<String>,
    pub(crate) style: Style,
    /// Indentation added to every line after the first (heredocs inside blocks: `<<-EOF`).
    pub(crate) indent: String,
    /// How the template text is written in the file.
    pub(crate) quote: Quote,
}

/// How a template's text sits in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quote {
    /// As is: a heredoc body or a whole template file (the first line indented like the rest).
    Bare,
    /// As is, starting in the middle of a line (an object value in Terraform JSON syntax): the
    /// first line keeps the text before it.
    Inline,
    /// Inside an HCL quoted string (`policy = "{\"Version\": …}"`).
    Hcl,
    /// Inside a JSON string (`"policy": "{\"Version\": …}"` in a `.tf.json` file).
    Json,
}

// `jsonencode` objects (`hcl.rs`, `hclwrite.rs`).

#[derive(Debug, Clone)]
pub(crate) struct JsonencodeCtx {
    pub(crate) opaque: Vec<String>,
    /// Source text of each scalar value, by its JSON.
    pub(crate) leaves: HashMap<String, String>,
    /// Source text of each key.
    pub(crate) keys: HashMap<String, String>,
    /// One level of indentation (`  `, a tab).
    pub(crate) unit: String,
    /// Between key and value: ` = ` or ` : ` / `: ` (the file's choice).
    pub(crate) sep: String,
    /// Object items separated by commas (`"Effect" : "Deny",`).
    pub(crate) commas: bool,
    /// Keys written quoted (`"Effect"`).
    pub(crate) quoted_keys: bool,
    /// Multi-line lists end with a comma after their last item.
    pub(crate) trailing_comma: bool,
    pub(crate) multiline_arrays: bool,
    /// Per key, whether its list was written over several lines.
    pub(crate) array_lines: HashMap<String, bool>,
}

// `aws_iam_policy_document` blocks (`document.rs`).

#[derive(Debug, Clone)]
pub(crate) struct DocumentCtx {
    pub(crate) opaque: Vec<String>,
    /// Whole-line ranges of each `statement` block.
    pub(crate) items: Vec<Range<usize>>,
    /// Indentation of `statement` and of its attributes.
    pub(crate) indent: String,
    pub(crate) step: String,
    /// Per attribute, whether its list was written over several lines.
    pub(crate) array_lines: HashMap<String, bool>,
    /// Statements written without `effect` (the provider's default, Allow).
    pub(crate) no_effect: Vec<bool>,
    /// Statement blocks separated by a blank line.
    pub(crate) blank_between: bool,
}
