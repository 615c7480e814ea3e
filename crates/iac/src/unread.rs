//! Files that mention an MFA condition key but hold no policy forcemfa reads: programs that build
//! a policy in code (CDK, Pulumi, troposphere, CDK for Terraform, an AWS SDK), Pulumi YAML
//! programs, generated output (a CDK `cdk.out` folder, templates carrying `aws:cdk:path`
//! metadata), documentation that quotes a policy, and any other text. They are named, never
//! passed over in silence, and never rewritten.
//!
//! Pure: a path (as text) and the file's text in, a verdict out. [`Scanner`] finds the first
//! mention in a stream of bytes, so that a caller can look through large files without holding
//! them whole.

use serde::Serialize;

/// What is searched for, lower-case: the two MFA condition keys IAM knows, as written and
/// URL-encoded (IAM returns documents URL-encoded). IAM condition keys are case-insensitive.
const NEEDLES: &[&[u8]] = &[
    b"aws:multifactorauthpresent",
    b"aws:multifactorauthage",
    b"aws%3amultifactorauthpresent",
    b"aws%3amultifactorauthage",
];

/// The longest needle, less one: what a chunk must carry over to find a needle split across two.
const CARRY: usize = 27;

/// The 1-based line of the first mention of an MFA condition key, if any.
pub fn first_mention(text: &str) -> Option<usize> {
    let mut s = Scanner::default();
    s.feed(text.as_bytes());
    s.found()
}

/// Finds the first mention of an MFA condition key in bytes fed chunk by chunk (the same answer
/// as [`first_mention`] on the whole text, however the bytes are split).
#[derive(Debug, Clone, Default)]
pub struct Scanner {
    /// Lower-cased bytes not yet searched through (the end of the last chunk).
    tail: Vec<u8>,
    /// Newlines before the first byte of `tail`.
    lines_before_tail: usize,
    found: Option<usize>,
}

impl Scanner {
    /// Search `chunk` (the bytes after the ones fed before). Returns the line once found.
    pub fn feed(&mut self, chunk: &[u8]) -> Option<usize> {
        if self.found.is_some() {
            return self.found;
        }
        let mut buf = std::mem::take(&mut self.tail);
        buf.extend(chunk.iter().map(u8::to_ascii_lowercase));
        if let Some(at) = NEEDLES.iter().filter_map(|n| find(&buf, n)).min() {
            let line = self.lines_before_tail + count_newlines(&buf[..at]) + 1;
            self.found = Some(line);
            return self.found;
        }
        // Keep the last bytes: a needle may start in them and end in the next chunk.
        let keep_from = buf.len().saturating_sub(CARRY);
        self.lines_before_tail += count_newlines(&buf[..keep_from]);
        self.tail = buf.split_off(keep_from);
        None
    }

    /// The line of the first mention, once found.
    pub fn found(&self) -> Option<usize> {
        self.found
    }
}

fn count_newlines(b: &[u8]) -> usize {
    b.iter().filter(|c| **c == b'\n').count()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    (0..hay.len().saturating_sub(needle.len() - 1))
        .find(|&i| hay[i] == first && hay[i..].starts_with(needle))
}

/// The first line (1-based) that mentions an MFA condition key outside every range of `read`
/// (the first and last lines of each policy read from the file), comment lines (`#`, `//`, `/*`,
/// `*`) aside: a policy the reader passed over in a file it otherwise read (a policy written as
/// a JSON string, in a second YAML document, …).
/// A mention in a role's trust policy is not one either: forcemfa reads permission policies.
pub fn mention_outside(text: &str, read: &[(usize, usize)]) -> Option<usize> {
    let trust = trust_context(text);
    mention_lines(text).find(|&n| {
        !read.iter().any(|(a, b)| (*a..=*b).contains(&n))
            && !trust.get(n - 1).copied().unwrap_or(false)
    })
}

/// The lines (1-based) that mention an MFA condition key, comment lines (`#`, `//`, `/*`, `*`)
/// aside.
pub fn mention_lines(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.lines().enumerate().filter_map(|(i, l)| {
        let t = l.trim_start();
        let comment = ["#", "//", "/*", "*"].iter().any(|c| t.starts_with(c));
        (!comment && first_mention(l).is_some()).then_some(i + 1)
    })
}

/// Attributes that hold a role's trust policy, in CloudFormation, Terraform and the programs
/// that build them.
const TRUST: &[&str] = &[
    "AssumeRolePolicyDocument",
    "assume_role_policy",
    "assumeRolePolicy",
    "AssumeRolePolicy",
    "trust_policy",
    "TrustPolicy",
];

/// Attributes that hold a permission policy.
const PERMISSION: &[&str] = &[
    "PolicyDocument",
    "Policies",
    "policy =",
    "policy=",
    "policy:",
    "\"policy\"",
    "\"Policy\"",
    "inline_policy",
    "aws_iam_policy_document",
];

/// Whether line `n` (1-based) lies in a role's trust policy: the nearest line at or above it that
/// names a policy attribute names a trust policy.
pub fn in_trust_policy(text: &str, n: usize) -> bool {
    n > 0 && trust_context(text).get(n - 1).copied().unwrap_or(false)
}

/// [`in_trust_policy`] for every line at once, in one pass (a file may mention a key on many
/// lines).
fn trust_context(text: &str) -> Vec<bool> {
    let mut trust = false;
    text.lines()
        .map(|l| {
            // `AssumeRolePolicyDocument` also holds `PolicyDocument`: trust first.
            if TRUST.iter().any(|m| l.contains(m)) {
                trust = true;
            } else if PERMISSION.iter().any(|m| l.contains(m)) {
                trust = false;
            }
            trust
        })
        .collect()
}

const TRUST_REASON: &str = "a role trust policy (who may assume the role): forcemfa reads permission policies, not trust policies; an MFA condition there is not a force-MFA guard, nothing to upgrade";

/// The reason for [`mention_outside`].
pub const OUTSIDE: &str = "mentions an MFA condition key outside the policies forcemfa read in this file (a policy in a shape it does not read: a JSON string, a second YAML document, code carried in the template?); check it by hand";

/// What kind of file was not read, for machines (`unread[].kind` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A program that builds the policy in code.
    Program,
    /// A Pulumi YAML program.
    PulumiYaml,
    /// Generated output: change its source, not it.
    Generated,
    /// Prose that quotes or explains a policy.
    Documentation,
    /// A role's trust policy (who may assume the role): forcemfa reads permission policies only.
    TrustPolicy,
    /// Any other file forcemfa reads no policy from.
    Other,
}

impl Kind {
    /// Whether it is work left for `--detailed-exitcode`: everything but a trust policy, where an
    /// MFA condition limits who may assume the role and there is no force-MFA guard to upgrade.
    pub fn pending(self) -> bool {
        self != Kind::TrustPolicy
    }
}

/// Why a file that mentions an MFA condition key was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub kind: Kind,
    /// One line for the operator: what the file is, and what to do.
    pub reason: String,
    /// The line to point to when it is not the first mention (a template whose first mention
    /// is in a trust policy and a later one elsewhere).
    pub line: Option<usize>,
}

/// Generated output, recognised by where it lies or what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// `AWS CDK` or `CDK for Terraform`.
    pub tool: &'static str,
    /// The construct path (`aws:cdk:path`) of the resource that mentions the MFA key, if known.
    pub construct: Option<String>,
}

/// The folder each generator writes to by default.
const GENERATED_DIRS: &[(&str, &str)] =
    &[("cdk.out", "AWS CDK"), ("cdktf.out", "CDK for Terraform")];

fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split(['/', '\\']).filter(|c| !c.is_empty())
}

fn file_name(path: &str) -> &str {
    components(path).last().unwrap_or("")
}

/// The extension, lower-case (`template.json` → `json`).
fn extension(path: &str) -> String {
    let name = file_name(path);
    match name.rfind('.') {
        Some(i) if i > 0 => name[i + 1..].to_ascii_lowercase(),
        _ => String::new(),
    }
}

/// Whether the path lies in a generator's output folder (`cdk.out`, `cdktf.out`), judged by the
/// path alone: no need to read the file.
pub fn generated_by_path(path: &str) -> Option<&'static str> {
    let dirs: Vec<&str> = components(path).collect();
    let folders = dirs.len().saturating_sub(1);
    dirs[..folders].iter().rev().find_map(|d| {
        GENERATED_DIRS
            .iter()
            .find(|(name, _)| d.eq_ignore_ascii_case(name))
            .map(|(_, tool)| *tool)
    })
}

/// Whether a template can carry CDK metadata (a program mentioning `aws:cdk:path` is a program).
fn template_like(path: &str) -> bool {
    matches!(
        extension(path).as_str(),
        "json" | "yaml" | "yml" | "template"
    )
}

/// Generated output: in a generator's output folder, or a template carrying the CDK's
/// `aws:cdk:path` metadata (a synthesised template copied elsewhere). Such a file is never
/// rewritten: the next synthesis would overwrite the edit. `line`: the line of interest (a
/// policy's), else the first mention of an MFA condition key, for the construct path.
pub fn generated(path: &str, text: &str, line: Option<usize>) -> Option<Generated> {
    let tool = match generated_by_path(path) {
        Some(tool) => tool,
        None if template_like(path) && text.contains(CDK_PATH) => "AWS CDK",
        None => return None,
    };
    Some(Generated {
        tool,
        construct: line
            .or_else(|| first_mention(text))
            .and_then(|l| construct_near(text, l)),
    })
}

/// What to say about generated output: what made it, and where to make the change instead.
/// `pending`: what its policy needs (the migrations), when forcemfa planned it.
pub fn generated_reason(g: &Generated, pending: Option<&str>) -> String {
    let construct = g
        .construct
        .as_ref()
        .map(|c| format!(", construct {c}"))
        .unwrap_or_default();
    let source = match g.tool {
        "CDK for Terraform" => "the CDK for Terraform program, then run `cdktf synth`",
        _ => "the CDK program, then run `cdk synth`",
    };
    let needs = pending
        .map(|p| format!("its policy needs upgrading ({p}) but is "))
        .unwrap_or_default();
    format!(
        "generated by the {}{construct}: {needs}not rewritten (the next synthesis would undo it); upgrade the policy in {source}",
        g.tool
    )
}

const CDK_PATH: &str = "aws:cdk:path";

/// The construct path of the resource at `line`: the CDK writes a resource's `Metadata` (with
/// `aws:cdk:path`) after its `Properties`, so the first one after the line; failing that, the
/// last one before it.
fn construct_near(text: &str, line: usize) -> Option<String> {
    let at = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum::<usize>();
    let value_at = |i: usize| cdk_path_value(&text[i + CDK_PATH.len()..]);
    text[at..]
        .find(CDK_PATH)
        .map(|i| at + i)
        .or_else(|| text[..at].rfind(CDK_PATH))
        .and_then(value_at)
}

/// The value after `aws:cdk:path` in JSON (`": "Stack/Res"`) or YAML (`: Stack/Res`).
fn cdk_path_value(rest: &str) -> Option<String> {
    let rest = rest.trim_start_matches(['"', '\'']).trim_start();
    let rest = rest.strip_prefix(':')?.trim_start_matches([' ', '\t']);
    let value: String = match rest.strip_prefix(['"', '\'']) {
        Some(quoted) => quoted
            .chars()
            .take_while(|c| !matches!(c, '"' | '\'' | '\n'))
            .collect(),
        None => rest
            .chars()
            .take_while(|c| !matches!(c, '\n' | '\r' | ',' | '}'))
            .collect(),
    };
    let value = value.trim().to_string();
    (!value.is_empty() && value.len() <= 300).then_some(value)
}

/// Languages of programs that can build a policy, by extension.
fn language(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "ts" | "tsx" | "mts" | "cts" => "TypeScript",
        "js" | "jsx" | "mjs" | "cjs" => "JavaScript",
        "py" => "Python",
        "go" => "Go",
        "java" => "Java",
        "cs" => "C#",
        "fs" => "F#",
        "kt" | "kts" => "Kotlin",
        "rb" => "Ruby",
        "rs" => "Rust",
        "php" => "PHP",
        _ => return None,
    })
}

/// The framework a program uses to build AWS resources, by its imports. CDK for Terraform first:
/// its programs also use the CDK's `constructs`.
fn framework(text: &str) -> Option<&'static str> {
    const KNOWN: &[(&str, &[&str])] = &[
        (
            "CDK for Terraform",
            &["cdktf", "terraform-cdk", "HashiCorp.Cdktf"],
        ),
        (
            "AWS CDK",
            &[
                "aws-cdk-lib",
                "@aws-cdk/",
                "aws_cdk",
                "aws-cdk-go/awscdk",
                "software.amazon.awscdk",
                "Amazon.CDK",
            ],
        ),
        (
            "Pulumi",
            &[
                "@pulumi/",
                "import pulumi",
                "pulumi_aws",
                "github.com/pulumi/",
                "com.pulumi",
                "using Pulumi",
                "Pulumi.Aws",
            ],
        ),
        ("troposphere", &["troposphere", "awacs"]),
        (
            "AWS SDK",
            &[
                "boto3",
                "botocore",
                "@aws-sdk/",
                "aws-sdk",
                "aws-sdk-go",
                "software.amazon.awssdk",
                "Amazon.IdentityManagement",
                "aws_sdk_iam",
            ],
        ),
    ];
    KNOWN
        .iter()
        .find(|(_, marks)| marks.iter().any(|m| text.contains(m)))
        .map(|(name, _)| *name)
}

const BY_HAND: &str =
    "to see what should change, save the policy as JSON and run `forcemfa plan FILE`";

/// Why `path` (which mentions an MFA condition key, and from which forcemfa read no policy) was
/// not read, and what to do. `text` is the file's text (or its beginning, for a large file).
pub fn classify(path: &str, text: &str) -> Verdict {
    let verdict = |kind, reason: String| Verdict {
        kind,
        reason,
        line: None,
    };
    if let Some(g) = generated(path, text, None) {
        return verdict(Kind::Generated, generated_reason(&g, None));
    }
    let ext = extension(path);
    let name = file_name(path).to_ascii_lowercase();
    if let Some(lang) = language(&ext) {
        let what = match framework(text) {
            Some(f) => format!("{f}, {lang}"),
            None => format!("{lang} program"),
        };
        return verdict(
            Kind::Program,
            format!(
                "policy built in code ({what}): forcemfa does not run programs and never rewrites them; upgrade the policy in the program by hand ({BY_HAND})"
            ),
        );
    }
    if matches!(ext.as_str(), "yaml" | "yml") && pulumi_yaml(&name, text) {
        return verdict(
            Kind::PulumiYaml,
            format!(
                "a Pulumi YAML program: forcemfa reads CloudFormation and Terraform, not Pulumi programs; upgrade the policy in the program by hand ({BY_HAND})"
            ),
        );
    }
    let template = matches!(
        ext.as_str(),
        "json" | "yaml" | "yml" | "template" | "tf" | "tpl" | "tftpl"
    );
    let mut mentions = mention_lines(text).peekable();
    let mut line = None;
    if template && mentions.peek().is_some() {
        let trust = trust_context(text);
        match mentions.find(|&n| !trust.get(n - 1).copied().unwrap_or(false)) {
            None => return verdict(Kind::TrustPolicy, TRUST_REASON.into()),
            Some(n) => line = Some(n),
        }
    }
    let mut v = classify_other(&ext, &name, text);
    v.line = line;
    v
}

/// Files that are neither programs nor Pulumi YAML nor generated.
fn classify_other(ext: &str, name: &str, text: &str) -> Verdict {
    let verdict = |kind, reason: String| Verdict {
        kind,
        reason,
        line: None,
    };
    let other = |what: &str| verdict(Kind::Other, format!("{what}; check it by hand ({BY_HAND})"));
    match ext {
        "md" | "markdown" | "rst" | "txt" | "adoc" | "asciidoc" | "org" | "html" | "htm"
        | "tex" => verdict(
            Kind::Documentation,
            "mentions an MFA condition key; not a policy file (documentation): a policy it quotes is not upgraded, update it by hand if it should be".into(),
        ),
        "sh" | "bash" | "zsh" | "ps1" | "psm1" | "bat" | "cmd" => verdict(
            Kind::Program,
            format!("policy built in code (a script): forcemfa never rewrites scripts; upgrade the policy in the script by hand ({BY_HAND})"),
        ),
        "json" if name.ends_with(".tf.json") => {
            other("Terraform JSON syntax (.tf.json): forcemfa found no policy it reads in it")
        }
        "json" => other(
            "JSON that is neither an IAM policy document nor a CloudFormation template forcemfa reads (a policy wrapped in another document, a JSON string inside JSON?)",
        ),
        "tf" => other("a Terraform file in which forcemfa found no policy it reads"),
        "tpl" | "tftpl" => other("a Terraform template in which forcemfa found no policy it reads"),
        "tfvars" | "hcl" => other("Terraform variables or Terragrunt configuration: a policy passed as a value is not read"),
        "yaml" | "yml" | "template" if text.contains("AWSTemplateFormatVersion") || text.contains("AWS::") => {
            other("a CloudFormation template in which forcemfa found no policy it reads")
        }
        "yaml" | "yml" if name.starts_with("serverless.") => other(
            "a Serverless Framework file with the MFA condition outside its `resources:` block (`provider.iam`?), which forcemfa does not read",
        ),
        "yaml" | "yml" => other(
            "YAML that is not a CloudFormation template (Ansible, Kubernetes, a CI workflow?)",
        ),
        "" => other("mentions an MFA condition key in a file forcemfa reads no policy from"),
        _ => other(&format!(
            "mentions an MFA condition key in a .{ext} file, which forcemfa reads no policy from"
        )),
    }
}

/// A Pulumi YAML program (`Pulumi.yaml` with `runtime: yaml`, or YAML that declares Pulumi
/// resources: `type: aws:iam:Policy`, built-ins such as `fn::toJSON`).
fn pulumi_yaml(name: &str, text: &str) -> bool {
    name.starts_with("pulumi.")
        || text.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with("runtime: yaml")
                || l.starts_with("type: aws:")
                || l.starts_with("type: \"aws:")
                || l.starts_with("fn::toJSON")
                || l.starts_with("fn::invoke")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_found_case_insensitively_with_their_line() {
        assert_eq!(
            first_mention("a\nb\n\"AWS:multifactorAUTHpresent\""),
            Some(3)
        );
        assert_eq!(first_mention("x aws:MultiFactorAuthAge"), Some(1));
        assert_eq!(
            first_mention("Condition=aws%3AMultiFactorAuthPresent"),
            Some(1)
        );
        assert_eq!(
            first_mention("aws:MultiFactorAuth and MultiFactorAuthPresent"),
            None
        );
        assert_eq!(first_mention(""), None);
    }

    #[test]
    fn a_needle_split_across_chunks_is_found() {
        let text = "line one\nline two aws:MultiFactorAuthPresent\n";
        for split in 0..text.len() {
            let mut s = Scanner::default();
            let (a, b) = text.as_bytes().split_at(split);
            s.feed(a);
            s.feed(b);
            assert_eq!(s.found(), Some(2), "split at {split}");
        }
    }

    #[test]
    fn generated_output_is_known_by_folder_or_metadata() {
        assert_eq!(
            generated_by_path("app/cdk.out/Stack.template.json"),
            Some("AWS CDK")
        );
        assert_eq!(
            generated_by_path("cdktf.out/stacks/a/cdk.tf.json"),
            Some("CDK for Terraform")
        );
        assert_eq!(generated_by_path("app/cdk.out"), None);
        assert_eq!(generated_by_path("lib/stack.ts"), None);
        let t = "{\"Resources\": {\"P\": {\"Properties\": {\"c\": \"aws:MultiFactorAuthPresent\"},\n \"Metadata\": {\"aws:cdk:path\": \"Sec/Mfa/Resource\"}}}}";
        let g = generated("templates/sec.json", t, None).unwrap_or_else(|| panic!("not generated"));
        assert_eq!(g.construct.as_deref(), Some("Sec/Mfa/Resource"));
        let yaml = "Metadata:\n  aws:cdk:path: Sec/Other/Resource\nx: aws:MultiFactorAuthAge\n";
        assert_eq!(
            generated("t.yaml", yaml, None)
                .and_then(|g| g.construct)
                .as_deref(),
            Some("Sec/Other/Resource")
        );
        // A program that mentions the metadata key is a program, not output.
        assert!(generated("lib/stack.ts", "// aws:cdk:path", None).is_none());
    }

    #[test]
    fn a_mention_outside_the_policies_read_is_found_comments_aside() {
        let text = "a\n# aws:MultiFactorAuthPresent\nP: aws:MultiFactorAuthPresent\nQ: |\n  {\"aws:MultiFactorAuthAge\": 1}\n";
        assert_eq!(mention_outside(text, &[(3, 3)]), Some(5));
        assert_eq!(mention_outside(text, &[(3, 5)]), None);
        assert_eq!(mention_outside(text, &[]), Some(3));
    }

    #[test]
    fn trust_policies_are_told_apart_from_permission_policies() {
        let tf = "resource \"aws_iam_role\" \"r\" {\n  assume_role_policy = <<EOF\n{\"Condition\": {\"Bool\": {\"aws:MultiFactorAuthPresent\": \"true\"}}}\nEOF\n}\n";
        assert!(in_trust_policy(tf, 3));
        let v = classify("roles.tf", tf);
        assert_eq!(v.kind, Kind::TrustPolicy);
        assert!(!v.kind.pending());
        assert_eq!(mention_outside(tf, &[]), None);
        let cfn = "Resources:\n  R:\n    Properties:\n      AssumeRolePolicyDocument:\n        Statement:\n          - Condition: {Bool: {aws:MultiFactorAuthPresent: true}}\n      Policies:\n        - PolicyDocument:\n            Statement:\n              - Condition: {Bool: {aws:MultiFactorAuthAge: 1}}\n";
        assert!(in_trust_policy(cfn, 6));
        assert!(!in_trust_policy(cfn, 10));
        assert_eq!(mention_outside(cfn, &[]), Some(10));
        assert_eq!(classify("stack.yaml", cfn).kind, Kind::Other);
        assert_eq!(classify("stack.yaml", cfn).line, Some(10));
    }

    #[test]
    fn programs_are_named_with_their_framework() {
        let v = classify("lib/s.ts", "import * as iam from 'aws-cdk-lib/aws-iam';");
        assert_eq!(v.kind, Kind::Program);
        assert!(
            v.reason
                .starts_with("policy built in code (AWS CDK, TypeScript)"),
            "{}",
            v.reason
        );
        let v = classify("s.py", "from troposphere import Template");
        assert!(v.reason.contains("(troposphere, Python)"), "{}", v.reason);
        let v = classify(
            "main.go",
            "import \"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam\"",
        );
        assert!(v.reason.contains("(Pulumi, Go)"), "{}", v.reason);
        let v = classify(
            "a.ts",
            "import { App } from 'cdktf'; import { Construct } from 'constructs';",
        );
        assert!(
            v.reason.contains("(CDK for Terraform, TypeScript)"),
            "{}",
            v.reason
        );
        let v = classify("Stack.cs", "using Amazon.CDK;");
        assert!(v.reason.contains("(AWS CDK, C#)"), "{}", v.reason);
        let v = classify("x.js", "const k = 'aws:MultiFactorAuthPresent'");
        assert!(v.reason.contains("(JavaScript program)"), "{}", v.reason);
    }

    #[test]
    fn other_files_say_what_they_are() {
        assert_eq!(
            classify("Pulumi.yaml", "runtime: yaml\n").kind,
            Kind::PulumiYaml
        );
        assert_eq!(
            classify("main.yml", "resources:\n  p:\n    type: aws:iam:Policy\n").kind,
            Kind::PulumiYaml
        );
        assert_eq!(classify("README.md", "").kind, Kind::Documentation);
        assert!(classify("main.tf.json", "{}").reason.contains(".tf.json"));
        assert!(classify("x.yml", "a: b")
            .reason
            .starts_with("YAML that is not"));
        assert!(classify("serverless.yml", "provider:")
            .reason
            .contains("Serverless"));
        assert!(classify("notes", "").reason.contains("reads no policy"));
        assert!(classify("a.cfg", "").reason.contains(".cfg file"));
        let v = classify("cdk.out/x.template.json", "aws:MultiFactorAuthAge");
        assert_eq!(v.kind, Kind::Generated);
        assert!(v.reason.contains("cdk synth"), "{}", v.reason);
    }
}
