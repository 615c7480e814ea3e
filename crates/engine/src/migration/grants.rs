//! The ops that add or widen self-service grants (`ensure-grants`, `widen-grant-resource`,
//! `extend-grant`), with ARNs spelled the way the document spells them (template variables
//! included), each grant checked by evaluating the document.

use serde_json::{json, Value};

use super::edit::{add_action, statement_mut, OpResult};
use super::spec::{self, GrantResource};
use crate::detect::Guard;
use crate::effect::Context;
use crate::pattern;
use crate::policy;

/// The user name used to test grants by evaluation. Any name works: grants are written with
/// `${aws:username}`.
const TEST_USER: &str = "forcemfa-probe-user";

/// Partition and account for ARNs this tool adds: those the policy already uses.
fn arn_parts(doc: &Value) -> (String, String) {
    (
        policy::partition(doc).unwrap_or_else(|| "aws".into()),
        policy::iam_account(doc),
    )
}

/// How ARNs of a document are written and read when the engine asks "is this grant already
/// there?". A policy may come from a template that was not rendered: `arn:${aws_partition}:…`
/// (a template variable), `${var.x}` / `${local.partition}` (Terraform interpolations),
/// `$${aws:username}` (Terraform's escape of the IAM variable) or `&{aws:username}` (the
/// `aws_iam_policy_document` spelling). Evaluated as written, each of these is an unknown policy
/// variable or literal text, so a grant written with them is never "there": the engine would
/// add it again on every run. The question is therefore asked of a view in which each
/// interpolation is a literal name and each escape the IAM variable it stands for, and added
/// ARNs are written in the document's own spelling, so that the next run finds them.
struct ArnSpelling {
    /// The document as evaluated for the question (only `Resource`/`NotResource` differ).
    view: Value,
    /// Partition and account as the document writes them (for added ARNs).
    partition: String,
    account: String,
    /// Partition and account as the view reads them (for the probe).
    view_partition: String,
    view_account: String,
    /// How the document writes `${aws:username}`.
    username: &'static str,
}

impl ArnSpelling {
    fn of(doc: &Value) -> ArnSpelling {
        let view = template_view(doc);
        let (partition, account) = arn_parts(doc);
        let (view_partition, view_account) = arn_parts(&view);
        let resources = policy::statements(doc)
            .iter()
            .flat_map(|s| {
                ["Resource", "NotResource"]
                    .into_iter()
                    .filter_map(|k| policy::string_list(s, k).and_then(Result::ok))
                    .flatten()
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<String>>();
        let username = if resources.iter().any(|r| r.contains("$${aws:username}")) {
            "$${aws:username}"
        } else if resources.iter().any(|r| r.contains("&{aws:username}")) {
            "&{aws:username}"
        } else {
            "${aws:username}"
        };
        ArnSpelling {
            view,
            partition,
            account,
            view_partition,
            view_account,
            username,
        }
    }

    fn grant_arn(&self, kind: GrantResource) -> String {
        grant_arn(kind, &self.partition, &self.account).replace("${aws:username}", self.username)
    }

    fn probe_arn(&self, kind: GrantResource) -> String {
        probe_arn(kind, &self.view_partition, &self.view_account)
    }
}

/// `doc` with every `Resource`/`NotResource` string read as a rendered template would be (see
/// [`ArnSpelling`]).
fn template_view(doc: &Value) -> Value {
    let mut view = doc.clone();
    let one = |v: &mut Value| {
        if let Value::String(s) = v {
            if s.contains(['{']) {
                *s = read_template_text(s);
            }
        }
    };
    let mut fix = |st: &mut Value| {
        for key in ["Resource", "NotResource"] {
            match st.get_mut(key) {
                Some(Value::Array(items)) => items.iter_mut().for_each(one),
                Some(v) => one(v),
                None => {}
            }
        }
    };
    match view.get_mut("Statement") {
        Some(Value::Array(items)) => items.iter_mut().for_each(&mut fix),
        Some(st) => fix(st),
        None => {}
    }
    view
}

/// One resource string as a rendered template reads: `$${x}` and `&{x}` are the IAM variable
/// `${x}`; `${name}` that is not an IAM policy variable (`aws:username`, `${*}`, …) is the
/// literal `@@name@@` (colons as dots, so that ARNs still split into their parts).
pub(crate) fn read_template_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['$', '&']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$${").or_else(|| tail.strip_prefix("&{")) {
            out.push_str("${");
            rest = after;
            continue;
        }
        if let Some(after) = tail.strip_prefix("${") {
            if let Some(end) = after.find('}') {
                let name = &after[..end];
                if !policy::is_iam_variable(name) {
                    out.push_str(&format!("@@{}@@", name.trim().replace(':', ".")));
                    rest = &after[end + 1..];
                    continue;
                }
            }
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

fn grant_arn(kind: GrantResource, partition: &str, account: &str) -> String {
    match kind {
        GrantResource::User => format!("arn:{partition}:iam::{account}:user/${{aws:username}}"),
        GrantResource::MfaAny => format!("arn:{partition}:iam::{account}:mfa/*"),
        GrantResource::All => "*".into(),
    }
}

/// A concrete resource to test a grant on. A free-form device name stands for `mfa/*`.
fn probe_arn(kind: GrantResource, partition: &str, account: &str) -> String {
    let account = if account == "*" {
        "123456789012"
    } else {
        account
    };
    match kind {
        GrantResource::User => format!("arn:{partition}:iam::{account}:user/{TEST_USER}"),
        GrantResource::MfaAny => format!("arn:{partition}:iam::{account}:mfa/my-phone-2"),
        GrantResource::All => "*".into(),
    }
}

/// An Allow statement that new grants of this kind may join: plain `Action` list, no
/// condition, and exactly the one resource the grant needs.
/// A statement a grant of `action` on `resource` may be added to: a plain Allow of that one
/// resource that already grants something of the same service. An operator's statement of
/// other services (`s3:Get*` on `*`) is a customisation and never grows IAM actions.
fn joinable(st: &Value, resource: &str, action: &str) -> bool {
    let service = |a: &str| a.split(':').next().unwrap_or("").to_ascii_lowercase();
    policy::effect(st).as_deref() == Some("allow")
        && st.get("Condition").is_none()
        && st.get("NotAction").is_none()
        && st.get("NotResource").is_none()
        && matches!(policy::string_list(st, "Action"), Some(Ok(a)) if a.iter().any(|a| service(a) == service(action)))
        && matches!(policy::string_list(st, "Resource"), Some(Ok(r)) if r.len() == 1 && r[0] == resource)
}

fn unique_sid(doc: &Value, base: &str) -> String {
    let taken: Vec<String> = policy::statements(doc)
        .iter()
        .filter_map(|s| s.get("Sid").and_then(Value::as_str).map(str::to_string))
        .collect();
    if !taken.iter().any(|t| t == base) {
        return base.to_string();
    }
    (2..)
        .map(|n| format!("{base}{n}"))
        .find(|c| !taken.contains(c))
        .unwrap_or_else(|| base.to_string())
}

pub(super) fn ensure_grants(doc: &mut Value, guard: &Guard, grants: &[spec::Grant]) -> OpResult {
    let mut r = OpResult::default();
    let has_allow = policy::statements(doc)
        .iter()
        .any(|s| policy::effect(s).as_deref() == Some("allow"));
    if !has_allow {
        return r; // A guard-only policy stays guard-only.
    }
    let spelling = ArnSpelling::of(doc);
    let mut guard_index = guard.index;
    // Compiling is the costly part, so the document is compiled once, and again only when a
    // grant added since could answer the question: adding a concrete action to an Allow changes
    // only what is decided for that action, a pattern (never in the shipped migrations) anything.
    let mut evaluator: Option<crate::effect::Evaluator> = None;
    let mut added: Vec<&str> = Vec::new();
    for g in grants {
        let probe = spelling.probe_arn(g.resource);
        if added
            .iter()
            .any(|a| a.contains(['*', '?']) || a.eq_ignore_ascii_case(&g.action))
        {
            evaluator = None;
            added.clear();
        }
        let ev = evaluator
            .get_or_insert_with(|| crate::effect::Evaluator::new(&template_view(doc), TEST_USER));
        if ev.allows(&g.action, &probe, Context::MfaAbsent) {
            continue;
        }
        added.push(&g.action);
        let arn = spelling.grant_arn(g.resource);
        // Prefer the joinable statement that already holds most of these grants' actions.
        let best = policy::statements(doc)
            .iter()
            .enumerate()
            .filter(|(_, s)| joinable(s, &arn, &g.action))
            .max_by_key(|(i, s)| {
                let actions = policy::string_list(s, "Action")
                    .and_then(Result::ok)
                    .unwrap_or_default();
                let score = grants
                    .iter()
                    .filter(|x| actions.iter().any(|a| a.eq_ignore_ascii_case(&x.action)))
                    .count();
                (score, std::cmp::Reverse(*i))
            })
            .map(|(i, _)| i);
        match best {
            Some(i) => {
                if let Some(st) = statement_mut(doc, i) {
                    let mut actions = policy::string_list(st, "Action")
                        .and_then(Result::ok)
                        .unwrap_or_default();
                    add_action(&mut actions, &g.action);
                    policy::set_string_list(st, "Action", &actions);
                    let sid = st
                        .get("Sid")
                        .and_then(Value::as_str)
                        .map(|s| format!("{s:?}"))
                        .unwrap_or_else(|| format!("statement {}", i + 1));
                    r.changes
                        .push(format!("{sid}: now grants {} on {arn}", g.action));
                }
            }
            None => {
                let base = match g.resource {
                    GrantResource::User => "AllowManageOwnUserMFA",
                    GrantResource::MfaAny => "AllowManageOwnVirtualMFADevice",
                    GrantResource::All => "AllowViewAccountInfo",
                };
                let sid = unique_sid(doc, base);
                let st = json!({
                    "Sid": sid,
                    "Effect": "Allow",
                    "Action": [g.action],
                    "Resource": arn,
                });
                policy::insert_statement(doc, guard_index, st);
                guard_index += 1;
                r.changes.push(format!(
                    "new statement {sid:?}: grants {} on {arn}",
                    g.action
                ));
            }
        }
        r.touched.push(g.action.clone());
    }
    r
}

pub(super) fn widen_grant_resource(doc: &mut Value, o: &spec::WidenGrantResource) -> OpResult {
    let mut r = OpResult::default();
    let suffix = format!(":{}", o.from);
    let widen = |resources: &[String]| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for res in resources {
            let new = match res.strip_suffix(&suffix) {
                Some(prefix) if prefix.starts_with("arn:") && prefix.contains(":iam:") => {
                    format!("{prefix}:{}", o.to)
                }
                _ => res.clone(),
            };
            if !out.contains(&new) {
                out.push(new);
            }
        }
        out
    };
    let mut index = 0;
    while index < policy::statements(doc).len() {
        let st = policy::statements(doc)[index].clone();
        index += 1;
        if policy::effect(&st).as_deref() != Some("allow") {
            continue;
        }
        let (Some(Ok(actions)), Some(Ok(resources))) = (
            policy::string_list(&st, "Action"),
            policy::string_list(&st, "Resource"),
        ) else {
            continue;
        };
        if !actions.iter().any(|a| a.eq_ignore_ascii_case(&o.action))
            || !resources.iter().any(|x| x.ends_with(&suffix))
        {
            continue;
        }
        let widened = widen(&resources);
        let sid_text = st
            .get("Sid")
            .and_then(Value::as_str)
            .map(|s| format!("{s:?}"))
            .unwrap_or_else(|| format!("statement {index}"));
        if actions.len() == 1 {
            if let Some(s) = statement_mut(doc, index - 1) {
                policy::set_string_list(s, "Resource", &widened);
            }
            r.changes.push(format!(
                "{sid_text}: {} allowed on {} instead of {}",
                o.action, o.to, o.from
            ));
        } else {
            let rest: Vec<String> = actions
                .iter()
                .filter(|a| !a.eq_ignore_ascii_case(&o.action))
                .cloned()
                .collect();
            let mut split = st.clone();
            let sid = unique_sid(doc, "AllowCreateVirtualMFADevice");
            if let Some(obj) = split.as_object_mut() {
                if obj.contains_key("Sid") {
                    obj.insert("Sid".into(), Value::String(sid.clone()));
                } else {
                    policy::insert_key_at(obj, 0, "Sid", Value::String(sid.clone()));
                }
            }
            policy::set_string_list(&mut split, "Action", std::slice::from_ref(&o.action));
            policy::set_string_list(&mut split, "Resource", &widened);
            if let Some(s) = statement_mut(doc, index - 1) {
                policy::set_string_list(s, "Action", &rest);
            }
            policy::insert_statement(doc, index, split);
            index += 1;
            r.changes.push(format!(
                "{sid_text}: {} split out into new statement {sid:?} on {} instead of {} (other actions keep their resources)",
                o.action, o.to, o.from
            ));
        }
        if !r.touched.contains(&o.action) {
            r.touched.push(o.action.clone());
        }
    }
    r
}

/// Add `o.add` to the first Allow statement that grants at least `o.min` of `o.beside` (plain
/// `Action` list) on the user's own ARN, unless the policy already grants `o.add` there.
pub(super) fn extend_grant(doc: &mut Value, o: &spec::ExtendGrant) -> OpResult {
    let mut r = OpResult::default();
    let spelling = ArnSpelling::of(doc);
    let probe = spelling.probe_arn(GrantResource::User);
    let evaluator = crate::effect::Evaluator::new(&spelling.view, TEST_USER);
    if evaluator.allows(&o.add, &probe, Context::MfaPresent) {
        return r;
    }
    // Only where the guard still denies it before MFA: a grant must never open it without MFA.
    let guarded = Context::WITHOUT_MFA.iter().all(|ctx| {
        evaluator
            .evaluate(&o.add, &probe, *ctx, crate::effect::View::BesideAllowAll)
            .decision
            == crate::effect::Decision::ExplicitDeny
    });
    if !guarded {
        return r;
    }
    let own_user = |st: &Value| -> bool {
        let Some(Ok(resources)) = policy::string_list(st, "Resource") else {
            return false;
        };
        resources.iter().any(|res| {
            let res = read_template_text(res).replace("${aws:username}", TEST_USER);
            pattern::matches(&res, &probe, false)
        })
    };
    let target = policy::statements(doc).iter().position(|st| {
        policy::effect(st).as_deref() == Some("allow")
            && st.get("NotAction").is_none()
            && st.get("NotResource").is_none()
            && own_user(st)
            && policy::string_list(st, "Action")
                .and_then(Result::ok)
                .is_some_and(|actions| {
                    o.beside
                        .iter()
                        .filter(|b| actions.iter().any(|a| a.eq_ignore_ascii_case(b)))
                        .count()
                        >= o.min
                })
    });
    let Some(index) = target else {
        return r;
    };
    if let Some(st) = statement_mut(doc, index) {
        let mut actions = policy::string_list(st, "Action")
            .and_then(Result::ok)
            .unwrap_or_default();
        add_action(&mut actions, &o.add);
        policy::set_string_list(st, "Action", &actions);
        let sid = st
            .get("Sid")
            .and_then(Value::as_str)
            .map(|s| format!("{s:?}"))
            .unwrap_or_else(|| format!("statement {}", index + 1));
        r.changes.push(format!(
            "{sid}: now also grants {} (as AWS's example does today)",
            o.add
        ));
        r.touched.push(o.add.clone());
    }
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::migration::{migrate, Migration, Options};

    fn chain() -> Vec<Migration> {
        super::super::default_chain().unwrap()
    }

    /// A policy from an unrendered template: partition and account are template variables,
    /// the user variable is escaped the way the template escapes it.
    fn template_doc(partition: &str, account: &str, user: &str) -> Value {
        let arn = format!("arn:{partition}:iam::{account}:user/{user}");
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "AllowOwn", "Effect": "Allow", "Action": ["iam:ChangePassword"], "Resource": arn},
                {"Sid": "DenyWithoutMFA", "Effect": "Deny",
                 "NotAction": ["iam:ChangePassword", "iam:CreateVirtualMFADevice", "iam:EnableMFADevice",
                               "iam:GetUser", "iam:ListMFADevices", "iam:ListVirtualMFADevices",
                               "iam:ResyncMFADevice", "sts:GetSessionToken"],
                 "Resource": "*",
                 "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}
            ]
        })
    }

    #[test]
    fn grants_written_with_template_variables_are_found_again() {
        for (partition, account, user) in [
            ("${aws_partition}", "*", "$${aws:username}"),
            ("${var.partition}", "${var.account_id}", "${aws:username}"),
            ("${local.partition}", "*", "&{aws:username}"),
            (
                "aws",
                "${data.aws_caller_identity.current.account_id}",
                "$${aws:username}",
            ),
        ] {
            let doc = template_doc(partition, account, user);
            let first = migrate(&doc, &chain(), &Options::default());
            assert!(first.changed(), "{partition} {account} {user}");
            let text = first.document.to_string();
            // Added ARNs use the document's own spelling of partition, account and user.
            assert!(
                text.contains(&format!("arn:{partition}:iam::{account}:mfa/*")),
                "{text}"
            );
            assert!(!text.contains("AllowManageOwnUserMFA2"), "{text}");
            if user != "${aws:username}" {
                assert!(!text.contains("/${aws:username}"), "{text}");
            }
            let second = migrate(&first.document, &chain(), &Options::default());
            assert!(
                !second.changed(),
                "{partition} {account} {user}: {:?}",
                second
                    .applied
                    .iter()
                    .map(|a| &a.changes)
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn template_text_is_read_as_rendered() {
        assert_eq!(
            read_template_text("arn:${aws_partition}:iam::${var.a}:user/$${aws:username}"),
            "arn:@@aws_partition@@:iam::@@var.a@@:user/${aws:username}"
        );
        assert_eq!(
            read_template_text("arn:aws:iam::*:user/&{aws:username}${*}"),
            "arn:aws:iam::*:user/${aws:username}${*}"
        );
        assert_eq!(
            read_template_text("arn:${AWS::Partition}:s3:::b/${aws:userid, 'x'}"),
            "arn:@@AWS..Partition@@:s3:::b/${aws:userid, 'x'}"
        );
        assert_eq!(read_template_text("a$b&c${"), "a$b&c${");
    }
}
