//! Why a refused call was refused, after a change was published: the call is evaluated as if it
//! had not been refused, with the principal's old policy set (the other policies and the changed
//! policy before) and its new one (the other policies and the changed policy after).
//!
//! A call the old set allowed in every context its MFA situation allows, and the new set refuses
//! in every one, was refused because of the change ([`Cause::Caused`]). A call the old set did
//! not allow either was never granted; a call the new set allows was refused by something the
//! identity policies do not show (an SCP, a permissions boundary, a resource policy): both are
//! [`Cause::NotCaused`]. Anything the evaluator cannot decide is [`Cause::Unknown`], with why.

use serde::{Deserialize, Serialize};

use super::{contexts, PolicySet, Request};
use crate::effect::combine::{ALLOWED, EXPLICIT};

/// Whether a published change caused a refused call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// Allowed by the old policies, refused by the new ones.
    Caused,
    /// Refused whatever the change: never granted, or refused by something else.
    NotCaused,
    /// Could not be decided (the reason says why).
    Unknown,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Caused => "caused",
            Cause::NotCaused => "not-caused",
            Cause::Unknown => "unknown",
        }
    }
}

impl PolicySet {
    /// Why a refused call was refused: evaluated as if it had not been refused (`req.refused`
    /// is not read), with the old set (others + before) and the new set (others + after).
    /// The string is a short, operator-facing why.
    pub fn cause(&self, req: &Request) -> (Cause, String) {
        if req.no_policy {
            let why = req.action.as_ref().err().cloned().unwrap_or_default();
            return (
                Cause::NotCaused,
                format!("{why}: the change cannot have refused it"),
            );
        }
        let action = match &req.action {
            Ok(a) => a,
            Err(why) => return (Cause::Unknown, why.clone()),
        };
        let ctxs = match contexts(req.mfa, &self.thresholds) {
            Ok(c) => c,
            Err(why) => return (Cause::Unknown, format!("{action}: {why}")),
        };
        let (mut old_allows, mut old_refuses) = (true, true);
        let (mut new_allows, mut new_refuses) = (true, true);
        let mut new_explicit = false;
        let mut reasons: Vec<String> = Vec::new();
        for resource in &req.resources {
            for ctx in &ctxs {
                let (before, after, why) = self.cell(action, resource, *ctx);
                reasons.extend(why);
                old_allows &= before == ALLOWED;
                old_refuses &= before & ALLOWED == 0;
                new_allows &= after == ALLOWED;
                new_refuses &= after & ALLOWED == 0;
                new_explicit |= after == EXPLICIT;
            }
        }
        if req.resources.is_empty() || ctxs.is_empty() {
            return (
                Cause::Unknown,
                format!("{action}: the record names nothing to evaluate"),
            );
        }
        if old_allows && new_refuses {
            return (
                Cause::Caused,
                "allowed by the old policies, refused by the new ones".into(),
            );
        }
        if old_refuses {
            let mut why = String::from("never granted: the old policies did not allow it either");
            if new_explicit {
                // Identity policies never granted it; a resource policy may have, and an
                // explicit deny overrides that.
                why.push_str(
                    " (the new ones deny it explicitly: if a resource policy granted it, the change refused it)",
                );
            }
            return (Cause::NotCaused, why);
        }
        if old_allows && new_allows {
            return (
                Cause::NotCaused,
                "the new policies allow it: refused by something else, e.g. an SCP, a permission boundary or a resource policy"
                    .into(),
            );
        }
        reasons.sort();
        reasons.dedup();
        let why = if reasons.is_empty() {
            "the policies give different decisions in the contexts the call may have been made in"
                .to_string()
        } else {
            reasons.join("; ")
        };
        (Cause::Unknown, format!("{action}: {why}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::super::{request, Caller, Record};
    use super::*;

    const ACCOUNT: &str = "111122223333";

    /// The 2017 "Force_MFA" guard of the IAM User Guide, as published (`BoolIfExists`).
    fn published() -> Value {
        serde_json::from_str(include_str!(
            "../../generations/2017-docs-tutorial-force-mfa.json"
        ))
        .unwrap()
    }

    /// The same guard written with `Bool`, as the legacy copies in the wild have it.
    fn legacy() -> Value {
        let mut doc = published();
        for s in doc["Statement"].as_array_mut().unwrap() {
            if let Some(cond) = s.get_mut("Condition").and_then(Value::as_object_mut) {
                if let Some(v) = cond.remove("BoolIfExists") {
                    cond.insert("Bool".into(), v);
                }
            }
        }
        doc
    }

    fn allow_describe() -> Value {
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}]})
    }

    fn caller() -> Caller<'static> {
        Caller {
            name: "nightly",
            partition: "aws",
            account: ACCOUNT,
        }
    }

    /// A refused call signed with a long-term access key (no session context).
    fn refused_key_call(source: &str, name: &str) -> Record {
        Record::parse(
            &json!({
                "eventVersion": "1.08",
                "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE",
                    "arn": format!("arn:aws:iam::{ACCOUNT}:user/nightly"), "accountId": ACCOUNT,
                    "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": "nightly"},
                "eventTime": "2026-12-06T12:00:00Z", "eventSource": source, "eventName": name,
                "awsRegion": "us-east-1", "errorCode": "Client.UnauthorizedOperation",
                "errorMessage": "You are not authorized to perform this operation.",
                "eventID": "0f5d1a2b-0000-4000-8000-000000000001", "eventType": "AwsApiCall",
                "recipientAccountId": ACCOUNT
            })
            .to_string(),
        )
        .unwrap()
    }

    fn set() -> PolicySet {
        PolicySet::new(&[allow_describe()], &legacy(), &published(), "nightly")
    }

    #[test]
    fn refusal_codes_are_recognised() {
        for code in [
            "AccessDenied",
            "Client.UnauthorizedOperation",
            "AccessDeniedException",
            "UnauthorizedAccess",
        ] {
            assert!(super::super::is_refusal(code), "{code}");
        }
        for code in ["NoSuchEntity", "ValidationError", "ThrottlingException", ""] {
            assert!(!super::super::is_refusal(code), "{code}");
        }
    }

    #[test]
    fn a_key_call_the_old_bool_guard_let_through_is_caused() {
        let req = request(
            &refused_key_call("ec2.amazonaws.com", "DescribeInstances"),
            &caller(),
        );
        assert!(req.refused);
        let (cause, why) = set().cause(&req);
        assert_eq!(cause, Cause::Caused, "{why}");
        assert_eq!(why, "allowed by the old policies, refused by the new ones");
    }

    /// Evidence read before a new rollout: a call refused while a canary wave was published
    /// (and since rolled back) is a loss the change would cause again, never "already refused";
    /// a refusal the policies as they are explain stays "already refused".
    #[test]
    fn a_refusal_the_current_policies_do_not_explain_counts_as_a_loss_in_evidence() {
        use super::super::CallVerdict;
        let caused = request(
            &refused_key_call("ec2.amazonaws.com", "DescribeInstances"),
            &caller(),
        );
        assert_eq!(set().judge(&caused).0, CallVerdict::NewlyDenied);
        let never = request(
            &refused_key_call("iam.amazonaws.com", "CreateUser"),
            &caller(),
        );
        assert_eq!(set().judge(&never).0, CallVerdict::AlreadyRefused);
    }

    #[test]
    fn an_action_no_policy_allows_is_not_caused() {
        let req = request(
            &refused_key_call("iam.amazonaws.com", "CreateUser"),
            &caller(),
        );
        let (cause, why) = set().cause(&req);
        assert_eq!(cause, Cause::NotCaused, "{why}");
        assert!(why.starts_with("never granted"), "{why}");
        // The new guard denies it explicitly, which is said.
        assert!(why.contains("resource policy"), "{why}");
    }

    #[test]
    fn a_call_the_new_policies_allow_was_refused_by_something_else() {
        // With an MFA session the guard denies nothing, before or after.
        let mut r = refused_key_call("ec2.amazonaws.com", "DescribeInstances");
        let id = r.user_identity.as_mut().unwrap();
        id.access_key_id = Some("ASIAEXAMPLE".into());
        id.session_context = Some(
            serde_json::from_value(json!({"attributes": {"mfaAuthenticated": "true"}})).unwrap(),
        );
        let (cause, why) = set().cause(&request(&r, &caller()));
        assert_eq!(cause, Cause::NotCaused, "{why}");
        assert!(why.starts_with("the new policies allow it"), "{why}");
    }

    #[test]
    fn an_unmapped_event_is_unknown_with_why() {
        let req = request(&refused_key_call("example.invalid", "DoThing"), &caller());
        let (cause, why) = set().cause(&req);
        assert_eq!(cause, Cause::Unknown);
        assert!(why.contains("example.invalid"), "{why}");
    }

    #[test]
    fn mixed_contexts_are_unknown() {
        // Temporary credentials without session attributes: `false` or missing. The `Bool`
        // guard refused the first and let the second through.
        let mut r = refused_key_call("ec2.amazonaws.com", "DescribeInstances");
        r.user_identity.as_mut().unwrap().access_key_id = Some("ASIAEXAMPLE".into());
        let (cause, why) = set().cause(&request(&r, &caller()));
        assert_eq!(cause, Cause::Unknown, "{why}");
        assert!(why.starts_with("ec2:DescribeInstances"), "{why}");
    }

    #[test]
    fn a_grant_two_changes_remove_together_is_caused_only_when_judged_together() {
        let grant = allow_describe;
        let empty = || json!({"Version": "2012-10-17", "Statement": []});
        let req = request(
            &refused_key_call("ec2.amazonaws.com", "DescribeInstances"),
            &caller(),
        );
        // Each change alone: the other still grants it.
        let alone = PolicySet::new(&[grant()], &grant(), &empty(), "nightly");
        assert_eq!(alone.cause(&req).0, Cause::NotCaused);
        let (a, b, e) = (grant(), grant(), empty());
        let joint = PolicySet::joint(&[], &[(&a, &e), (&b, &e)], "nightly");
        let (cause, why) = joint.cause(&req);
        assert_eq!(cause, Cause::Caused, "{why}");
    }

    fn arb_doc() -> impl Strategy<Value = Value> {
        let statement = (
            prop::sample::select(vec!["Allow", "Deny"]),
            prop::sample::select(vec![
                "ec2:DescribeInstances",
                "ec2:*",
                "iam:CreateUser",
                "s3:GetObject",
                "*",
            ]),
            prop::sample::select(vec!["Action", "NotAction"]),
            prop::sample::select(vec![
                json!(null),
                json!({"Bool": {"aws:MultiFactorAuthPresent": "false"}}),
                json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}),
                json!({"Null": {"aws:MultiFactorAuthAge": "true"}}),
                json!({"NumericGreaterThan": {"aws:MultiFactorAuthAge": "3600"}}),
                json!({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
            ]),
        )
            .prop_map(|(effect, action, key, cond)| {
                let mut s = json!({"Effect": effect, key: action, "Resource": "*"});
                if !cond.is_null() {
                    s["Condition"] = cond;
                }
                s
            });
        prop::collection::vec(statement, 1..4)
            .prop_map(|s| json!({"Version": "2012-10-17", "Statement": s}))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A change that changes nothing cannot cause a refusal.
        #[test]
        fn equal_documents_never_cause_a_refusal(
            others in prop::collection::vec(arb_doc(), 0..3),
            doc in arb_doc(),
            action in prop::sample::select(vec![
                ("ec2.amazonaws.com", "DescribeInstances"),
                ("iam.amazonaws.com", "CreateUser"),
                ("s3.amazonaws.com", "GetObject"),
                ("example.invalid", "DoThing"),
            ]),
            key in prop::sample::select(vec!["AKIAIOSFODNN7EXAMPLE", "ASIAEXAMPLE"]),
            mfa in prop::sample::select(vec![None, Some("true"), Some("false")]),
        ) {
            let mut r = refused_key_call(action.0, action.1);
            let id = r.user_identity.as_mut().unwrap();
            id.access_key_id = Some(key.into());
            if let Some(flag) = mfa {
                id.session_context = Some(serde_json::from_value(json!({"attributes": {
                    "mfaAuthenticated": flag, "creationDate": "2026-12-06T11:50:00Z"}})).unwrap());
            }
            let set = PolicySet::new(&others, &doc, &doc, "nightly");
            let (cause, why) = set.cause(&request(&r, &caller()));
            prop_assert_ne!(cause, Cause::Caused, "{}", why);
        }
    }
}
