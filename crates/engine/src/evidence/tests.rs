//! Records shaped like AWS's documented examples (a long-term key call, a console session with
//! MFA, a `GetSessionToken` session with MFA, an assumed role, a refused call, a data event),
//! judged against a legacy `Bool` guard and its upgrade by the real migration chain.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::impact::{
    with_evidence, AccessKey, Credentials, LastUsed, PrincipalImpact, PrincipalKind,
    UserCredentials, Verdict,
};

const ACCOUNT: &str = "111122223333";
const NOW: &str = "2026-12-06T12:00:00Z";

/// A legacy guard written with `Bool` that also exempts `iam:ListAccessKeys` before MFA.
fn legacy() -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "AllowManageOwn", "Effect": "Allow",
         "Action": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:GetUser",
                    "iam:ListMFADevices", "iam:ResyncMFADevice", "iam:ListAccessKeys"],
         "Resource": ["arn:aws:iam::*:mfa/${aws:username}", "arn:aws:iam::*:user/${aws:username}"]},
        {"Sid": "DenyAllExceptListedIfNoMFA", "Effect": "Deny",
         "NotAction": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:GetUser",
                       "iam:ListMFADevices", "iam:ListVirtualMFADevices", "iam:ResyncMFADevice",
                       "sts:GetSessionToken", "iam:ListAccessKeys"],
         "Resource": "*",
         "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}}
    ]})
}

fn read_only() -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "ec2:Describe*"], "Resource": "*"}]})
}

/// The legacy policy after the default migration chain.
fn upgraded() -> Value {
    use crate::migration::{default_chain, Options};
    use crate::plan::{plan_one, Input, Item, SizeLimit};
    let input = Input::file(
        crate::target::Target::file("legacy.json"),
        legacy().to_string(),
        SizeLimit::Managed,
    );
    match plan_one(&input, &default_chain().unwrap(), &Options::default()) {
        Item::Change(c) => serde_json::from_str(&c.after).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn caller(name: &str) -> Caller<'_> {
    Caller {
        name,
        partition: "aws",
        account: ACCOUNT,
    }
}

fn window() -> Window {
    Window::days_before(parse_time(NOW).unwrap(), 90)
}

fn set(name: &str) -> PolicySet {
    PolicySet::new(&[read_only()], &legacy(), &upgraded(), name)
}

/// A call signed with a long-term access key (no session context).
fn key_call(user: &str, source: &str, name: &str, time: &str) -> Record {
    Record::parse(
        &json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE",
                "arn": format!("arn:aws:iam::{ACCOUNT}:user/{user}"), "accountId": ACCOUNT,
                "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": user},
            "eventTime": time, "eventSource": source, "eventName": name,
            "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.1", "userAgent": "aws-cli/2",
            "requestParameters": null, "responseElements": null,
            "eventID": "3e4bd2a1-0000-4000-8000-000000000001", "readOnly": true,
            "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": ACCOUNT
        })
        .to_string(),
    )
    .unwrap()
}

/// A call made with temporary credentials of an IAM user (a console session, or a
/// `GetSessionToken` session), with the session's attributes.
fn session_call(
    user: &str,
    mfa: &str,
    created: &str,
    source: &str,
    name: &str,
    time: &str,
) -> Record {
    Record::parse(
        &json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE",
                "arn": format!("arn:aws:iam::{ACCOUNT}:user/{user}"), "accountId": ACCOUNT,
                "accessKeyId": "ASIAEXAMPLE2", "userName": user,
                "sessionContext": {"sessionIssuer": {}, "webIdFederationData": {},
                    "attributes": {"creationDate": created, "mfaAuthenticated": mfa}}},
            "eventTime": time, "eventSource": source, "eventName": name,
            "awsRegion": "eu-west-1", "requestParameters": {}, "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT
        })
        .to_string(),
    )
    .unwrap()
}

fn judge(name: &str, r: &Record) -> CallVerdict {
    set(name).judge(&request(r, &caller(name))).0
}

#[test]
fn the_table_is_well_formed_and_cites_a_source_for_every_row() {
    let rows = actions::rows().unwrap();
    assert!(rows.len() >= 20, "{}", rows.len());
    for (src, name, action, _) in &rows {
        assert!(src.ends_with(".amazonaws.com"), "{src}");
        assert!(
            action == "-" || (name == "*") != action.contains(':'),
            "{src} {name} {action}"
        );
    }
}

#[test]
fn event_names_map_to_the_actions_that_authorise_them() {
    let a = |s: &str, n: &str| map(s, n);
    assert_eq!(
        a("s3.amazonaws.com", "ListBuckets"),
        Mapped::Action("s3:ListAllMyBuckets".into())
    );
    assert_eq!(
        a("s3.amazonaws.com", "HeadObject"),
        Mapped::Action("s3:GetObject".into())
    );
    assert_eq!(
        a("ec2.amazonaws.com", "DescribeInstances"),
        Mapped::Action("ec2:DescribeInstances".into())
    );
    assert_eq!(
        a("monitoring.amazonaws.com", "GetMetricData"),
        Mapped::Action("cloudwatch:GetMetricData".into())
    );
    assert_eq!(
        a("lambda.amazonaws.com", "ListFunctions20150331"),
        Mapped::Action("lambda:ListFunctions".into())
    );
    assert_eq!(
        a("lambda.amazonaws.com", "GetFunction20150331v2"),
        Mapped::Action("lambda:GetFunction".into())
    );
    assert_eq!(
        a("cloudfront.amazonaws.com", "GetDistribution2020_05_31"),
        Mapped::Action("cloudfront:GetDistribution".into())
    );
    assert!(matches!(
        a("sts.amazonaws.com", "GetCallerIdentity"),
        Mapped::NoPolicy(_)
    ));
    assert!(matches!(
        a("signin.amazonaws.com", "ConsoleLogin"),
        Mapped::NoPolicy(_)
    ));
    assert!(matches!(a("example.com", "Foo"), Mapped::Unknown(_)));
    assert!(matches!(
        a("ec2.amazonaws.com", "Describe Instances"),
        Mapped::Unknown(_)
    ));
}

#[test]
fn times_are_read_as_cloudtrail_writes_them() {
    assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_time("2026-12-06T12:00:00Z"), Some(1_796_558_400));
    assert_eq!(
        parse_time("2026-12-06T13:00:00.250+01:00"),
        Some(1_796_558_400)
    );
    assert_eq!(format_time(1_796_558_400), "2026-12-06T12:00:00Z");
    for bad in [
        "",
        "yesterday",
        "2026-13-01T00:00:00Z",
        "2026-12-06T12:00:00",
    ] {
        assert_eq!(parse_time(bad), None, "{bad}");
    }
}

#[test]
fn a_long_term_key_call_carries_no_mfa_key_and_is_newly_denied() {
    let r = key_call(
        "dave",
        "ec2.amazonaws.com",
        "DescribeInstances",
        "2026-12-05T02:00:00Z",
    );
    let req = request(&r, &caller("dave"));
    assert_eq!(req.mfa, Mfa::KeyMissing);
    assert_eq!(req.resources, vec!["*".to_string()]);
    assert_eq!(judge("dave", &r), CallVerdict::NewlyDenied);
    // ListBuckets is authorised as s3:ListAllMyBuckets, which nothing here grants: the call
    // went through (granted elsewhere), and the new explicit deny refuses it.
    let r = key_call(
        "dave",
        "s3.amazonaws.com",
        "ListBuckets",
        "2026-12-05T02:00:00Z",
    );
    assert_eq!(
        request(&r, &caller("dave")).action,
        Ok("s3:ListAllMyBuckets".into())
    );
    assert_eq!(judge("dave", &r), CallVerdict::NewlyDenied);
}

#[test]
fn a_key_call_exempt_before_mfa_in_the_old_policy_is_newly_denied() {
    let r = key_call(
        "gina",
        "iam.amazonaws.com",
        "ListAccessKeys",
        "2026-12-05T02:00:00Z",
    );
    let req = request(&r, &caller("gina"));
    assert_eq!(
        req.resources,
        vec![format!("arn:aws:iam::{ACCOUNT}:user/gina")],
        "IAM acts on the caller's own user"
    );
    assert_eq!(judge("gina", &r), CallVerdict::NewlyDenied);
}

#[test]
fn a_console_session_with_mfa_stays_allowed() {
    let r = session_call(
        "alice",
        "true",
        "2026-12-05T08:00:00Z",
        "ec2.amazonaws.com",
        "DescribeInstances",
        "2026-12-05T08:30:00Z",
    );
    let req = request(&r, &caller("alice"));
    assert_eq!(req.mfa, Mfa::Present(Some(1800)));
    assert_eq!(judge("alice", &r), CallVerdict::StillAllowed);
}

#[test]
fn a_get_session_token_session_with_mfa_stays_allowed_and_so_does_getting_it() {
    let get = key_call(
        "carol",
        "sts.amazonaws.com",
        "GetSessionToken",
        "2026-12-05T07:59:00Z",
    );
    assert_eq!(judge("carol", &get), CallVerdict::StillAllowed);
    let work = session_call(
        "carol",
        "true",
        "2026-12-05T07:59:00Z",
        "s3.amazonaws.com",
        "GetObject",
        "2026-12-05T09:00:00Z",
    );
    assert_eq!(judge("carol", &work), CallVerdict::StillAllowed);
    // The same session without MFA was refused before and stays refused: no change.
    let no_mfa = session_call(
        "carol",
        "false",
        "2026-12-05T07:59:00Z",
        "ec2.amazonaws.com",
        "DescribeInstances",
        "2026-12-05T09:00:00Z",
    );
    assert_eq!(request(&no_mfa, &caller("carol")).mfa, Mfa::Absent);
    assert_eq!(judge("carol", &no_mfa), CallVerdict::StillAllowed);
}

#[test]
fn an_assumed_role_is_named_by_its_issuer_and_judged_by_its_session() {
    let r = Record::parse(
        &json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "AssumedRole",
                "principalId": "AROAEXAMPLE:build-session",
                "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/build/build-session"),
                "accountId": ACCOUNT, "accessKeyId": "ASIAEXAMPLE3",
                "sessionContext": {
                    "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE",
                        "arn": format!("arn:aws:iam::{ACCOUNT}:role/build"),
                        "accountId": ACCOUNT, "userName": "build"},
                    "attributes": {"creationDate": "2026-12-05T01:00:00Z", "mfaAuthenticated": "false"}}},
            "eventTime": "2026-12-05T01:05:00Z", "eventSource": "ec2.amazonaws.com",
            "eventName": "DescribeInstances", "awsRegion": "us-east-1", "eventType": "AwsApiCall"
        })
        .to_string(),
    )
    .unwrap();
    assert_eq!(r.role_arn(), Some("arn:aws:iam::111122223333:role/build"));
    assert_eq!(request(&r, &caller("build")).mfa, Mfa::Absent);
    // `false` was denied by the Bool guard already: nothing changes for this call.
    assert_eq!(judge("build", &r), CallVerdict::StillAllowed);
}

#[test]
fn a_refused_call_is_no_loss_but_another_error_is_judged() {
    let mut r = key_call(
        "erin",
        "iam.amazonaws.com",
        "CreateUser",
        "2026-12-05T02:00:00Z",
    );
    r.error_code = Some("AccessDenied".into());
    assert_eq!(judge("erin", &r), CallVerdict::AlreadyRefused);
    let mut r = key_call(
        "dave",
        "ec2.amazonaws.com",
        "DescribeInstances",
        "2026-12-05T02:00:00Z",
    );
    r.error_code = Some("InvalidInstanceID.NotFound".into());
    assert_eq!(judge("dave", &r), CallVerdict::NewlyDenied);
}

#[test]
fn a_data_event_is_judged_on_its_object() {
    let mut r = key_call(
        "dave",
        "s3.amazonaws.com",
        "GetObject",
        "2026-12-05T03:00:00Z",
    );
    r.resources = Some(vec![
        record::RecordResource {
            arn: Some("arn:aws:s3:::reports/2026/12/05.csv".into()),
            account_id: None,
            kind: Some("AWS::S3::Object".into()),
        },
        record::RecordResource {
            arn: Some("arn:aws:s3:::reports".into()),
            account_id: Some(ACCOUNT.into()),
            kind: Some("AWS::S3::Bucket".into()),
        },
    ]);
    let req = request(&r, &caller("dave"));
    assert_eq!(req.resources, vec!["arn:aws:s3:::reports/2026/12/05.csv"]);
    assert_eq!(judge("dave", &r), CallVerdict::NewlyDenied);
}

#[test]
fn unknown_mappings_and_conditions_are_unknown_with_why() {
    let r = key_call(
        "dave",
        "example.internal",
        "Frobnicate",
        "2026-12-05T03:00:00Z",
    );
    let (v, why) = set("dave").judge(&request(&r, &caller("dave")));
    assert_eq!(v, CallVerdict::Unknown);
    assert!(why.unwrap().contains("no known IAM service prefix"));
    // An Allow the evaluator cannot decide (an unmodelled key) makes the call unknown.
    let cond = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "ec2:DescribeInstances", "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}]});
    let s = PolicySet::new(&[cond], &legacy(), &upgraded(), "dave");
    let r = key_call(
        "dave",
        "ec2.amazonaws.com",
        "DescribeInstances",
        "2026-12-05T03:00:00Z",
    );
    let (v, why) = s.judge(&request(&r, &caller("dave")));
    // The upgraded guard denies it whatever the condition: a definite loss.
    assert_eq!(v, CallVerdict::NewlyDenied, "{why:?}");
    let r = session_call(
        "dave",
        "true",
        "2026-12-05T02:00:00Z",
        "ec2.amazonaws.com",
        "DescribeInstances",
        "2026-12-05T03:00:00Z",
    );
    let before = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*",
        "Resource": "*", "Condition": {"NumericGreaterThan": {"aws:MultiFactorAuthAge": "7200"}}}]});
    let after = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*",
        "Resource": "*", "Condition": {"NumericGreaterThan": {"aws:MultiFactorAuthAge": "1800"}}}]});
    let s = PolicySet::new(&[read_only()], &before, &after, "dave");
    let (v, why) = s.judge(&request(&r, &caller("dave")));
    assert_eq!(v, CallVerdict::Unknown);
    assert!(why.unwrap().contains("MFA age"));
}

fn principal(name: &str) -> PrincipalImpact {
    PrincipalImpact {
        arn: format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
        name: name.into(),
        kind: PrincipalKind::User,
        via: vec!["group devs".into()],
        credentials: Credentials::User(UserCredentials {
            access_keys: vec![AccessKey {
                active: true,
                last_used: LastUsed::days("2026-12-06T00:00:00Z", 0),
            }],
            ..UserCredentials::default()
        }),
        verdict: Verdict::LosesAccess,
        because: "access key used today, no MFA device: loses CLI access".into(),
        losses: vec![crate::impact::Loss {
            what: "requests with long-term access keys without an MFA session".into(),
            short: "CLI access".into(),
            contexts: vec![Context::MfaKeyMissing],
            actions_before: 3,
            actions_lost: 3,
            examples: vec!["ec2:DescribeInstances".into()],
            kept: vec![],
            last_used: LastUsed::days("2026-12-06T00:00:00Z", 0),
            fix: "use an MFA session".into(),
            uncertain: false,
        }],
        fallback: None,
        evidence: None,
        boundary: None,
    }
}

fn evidence_of(name: &str, records: &[Record]) -> Evidence {
    let refs: Vec<&Record> = records.iter().collect();
    assess(
        &set(name),
        &caller(name),
        &refs,
        window(),
        Source::EventHistory,
        None,
    )
}

#[test]
fn dave_loses_access_naming_his_calls() {
    let mut records = Vec::new();
    for d in 0..130 {
        let day = 1 + d % 28;
        records.push(key_call(
            "dave",
            "ec2.amazonaws.com",
            "DescribeInstances",
            &format!("2026-11-{day:02}T02:00:00Z"),
        ));
    }
    for d in 0..5 {
        records.push(key_call(
            "dave",
            "s3.amazonaws.com",
            "ListBuckets",
            &format!("2026-12-0{}T02:00:00Z", d + 1),
        ));
    }
    // Outside the window: never counted.
    records.push(key_call(
        "dave",
        "ec2.amazonaws.com",
        "DescribeInstances",
        "2026-08-01T02:00:00Z",
    ));
    let ev = evidence_of("dave", &records);
    assert_eq!((ev.calls, ev.newly_denied, ev.unknown), (135, 135, 0));
    assert_eq!(ev.bracket, [135, 135]);
    assert_eq!(ev.first_seen.as_deref(), Some("2026-11-01T02:00:00Z"));
    assert_eq!(ev.last_seen.as_deref(), Some("2026-12-05T02:00:00Z"));
    assert_eq!(
        ev.line(),
        "135 calls in 90 days with the access key alone (CloudTrail event history); 135 would be refused (ec2:DescribeInstances \u{d7}130, s3:ListAllMyBuckets \u{d7}5)"
    );
    let mut p = principal("dave");
    with_evidence::apply(&mut p, ev);
    assert_eq!(p.verdict, Verdict::LosesAccess);
    assert!(p.recent_loss(90));
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["evidence"]["source"], "event-history");
    assert_eq!(json["evidence"]["actions"][0]["verdict"], "newly-denied");
    assert_eq!(json["evidence"]["actions"][0]["calls"], 130);
}

#[test]
fn carol_erin_and_alice_are_unaffected_with_evidence() {
    let carol = vec![
        key_call(
            "carol",
            "sts.amazonaws.com",
            "GetSessionToken",
            "2026-12-05T07:59:00Z",
        ),
        session_call(
            "carol",
            "true",
            "2026-12-05T07:59:00Z",
            "ec2.amazonaws.com",
            "DescribeInstances",
            "2026-12-05T08:10:00Z",
        ),
        session_call(
            "carol",
            "true",
            "2026-12-05T07:59:00Z",
            "s3.amazonaws.com",
            "GetObject",
            "2026-12-05T08:20:00Z",
        ),
    ];
    let mut refused = key_call(
        "erin",
        "iam.amazonaws.com",
        "CreateUser",
        "2026-12-05T02:00:00Z",
    );
    refused.error_code = Some("AccessDenied".into());
    let erin = vec![
        refused.clone(),
        refused,
        key_call(
            "erin",
            "sts.amazonaws.com",
            "GetSessionToken",
            "2026-12-05T03:00:00Z",
        ),
    ];
    let alice = vec![session_call(
        "alice",
        "true",
        "2026-12-05T08:00:00Z",
        "ec2.amazonaws.com",
        "DescribeInstances",
        "2026-12-05T08:05:00Z",
    )];
    for (name, records, refused) in [("carol", carol, 0), ("erin", erin, 2), ("alice", alice, 0)] {
        let ev = evidence_of(name, &records);
        assert_eq!(ev.newly_denied, 0, "{name}: {ev:?}");
        assert_eq!(ev.unknown, 0, "{name}: {ev:?}");
        assert_eq!(ev.already_refused, refused, "{name}");
        let mut p = principal(name);
        with_evidence::apply(&mut p, ev);
        assert_eq!(p.verdict, Verdict::Unaffected, "{name}: {}", p.because);
        assert!(p.because.contains("none would be refused"), "{}", p.because);
        assert!(!p.recent_loss(90), "{name}");
    }
}

#[test]
fn no_calls_or_a_partial_read_leave_the_rule_and_say_so() {
    let mut p = principal("frank");
    with_evidence::apply(&mut p, evidence_of("frank", &[]));
    assert_eq!(p.verdict, Verdict::LosesAccess);
    assert!(
        p.because
            .contains("evidence does not decide: no calls found in 90 days"),
        "{}",
        p.because
    );
    assert!(p.recent_loss(90), "today's rule: key used today");

    let records = [key_call(
        "frank",
        "sts.amazonaws.com",
        "GetSessionToken",
        "2026-12-05T07:59:00Z",
    )];
    let refs: Vec<&Record> = records.iter().collect();
    let ev = assess(
        &set("frank"),
        &caller("frank"),
        &refs,
        window(),
        Source::EventHistory,
        Some("us-west-2 stopped after 3 pages (throttled)".into()),
    );
    assert!(ev.partial && !ev.decisive());
    let mut p = principal("frank");
    with_evidence::apply(&mut p, ev);
    assert_eq!(p.verdict, Verdict::LosesAccess);
    assert!(p.because.contains("partial read"), "{}", p.because);
    assert!(p.recent_loss(90));

    let mut p = principal("frank");
    with_evidence::apply(
        &mut p,
        Evidence::none(
            Source::CredentialReport,
            90,
            Some("cloudtrail:LookupEvents was denied".into()),
        ),
    );
    assert_eq!(p.verdict, Verdict::LosesAccess);
    assert!(
        p.because
            .contains("no evidence of calls (cloudtrail:LookupEvents was denied)"),
        "{}",
        p.because
    );
}

/// Records generated over a small vocabulary of actions, MFA situations and outcomes.
fn arb_record() -> impl Strategy<Value = Record> {
    let calls = prop::sample::select(vec![
        ("ec2.amazonaws.com", "DescribeInstances"),
        ("s3.amazonaws.com", "ListBuckets"),
        ("s3.amazonaws.com", "GetObject"),
        ("sts.amazonaws.com", "GetSessionToken"),
        ("sts.amazonaws.com", "GetCallerIdentity"),
        ("iam.amazonaws.com", "ListAccessKeys"),
        ("iam.amazonaws.com", "CreateUser"),
        ("iam.amazonaws.com", "GetUser"),
        ("example.internal", "Frobnicate"),
    ]);
    let mfa = prop::sample::select(vec!["key", "true", "false", "none"]);
    let error = prop::sample::select(vec!["", "", "AccessDenied", "NoSuchEntity"]);
    (calls, mfa, error, 0i64..120, 0i64..7200).prop_map(|((src, name), mfa, err, day, age)| {
        let t = parse_time(NOW).unwrap() - day * 86_400;
        let time = format_time(t);
        let mut r = if mfa == "key" {
            key_call("pat", src, name, &time)
        } else {
            session_call("pat", mfa, &format_time(t - age), src, name, &time)
        };
        if mfa == "none" {
            if let Some(u) = r.user_identity.as_mut() {
                u.session_context = None;
            }
        }
        if !err.is_empty() {
            r.error_code = Some(err.into());
        }
        r
    })
}

fn arb_other() -> impl Strategy<Value = Vec<Value>> {
    prop::sample::subsequence(
        vec![
            read_only(),
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}]}),
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}]}),
        ],
        0..=3,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The verdict from evidence never says `unaffected` (nor lets `apply --yes` through) when a
    /// recorded call in the window would be newly denied: checked against each record judged on
    /// its own.
    #[test]
    fn never_unaffected_when_a_recorded_call_would_be_newly_denied(
        records in prop::collection::vec(arb_record(), 0..12),
        others in arb_other(),
    ) {
        let set = PolicySet::new(&others, &legacy(), &upgraded(), "pat");
        let refs: Vec<&Record> = records.iter().collect();
        let ev = assess(&set, &caller("pat"), &refs, window(), Source::TrailFiles, None);
        let in_window: Vec<&Record> = records.iter().filter(|r| window().contains(r.time().unwrap())).collect();
        let denied = in_window
            .iter()
            .filter(|r| set.judge(&request(r, &caller("pat"))).0 == CallVerdict::NewlyDenied)
            .count();
        let unknown = in_window
            .iter()
            .filter(|r| set.judge(&request(r, &caller("pat"))).0 == CallVerdict::Unknown)
            .count();
        prop_assert_eq!(ev.calls, in_window.len());
        prop_assert_eq!(ev.newly_denied, denied);
        prop_assert_eq!(ev.bracket, [denied, denied + unknown]);
        let mut p = principal("pat");
        p.verdict = Verdict::Unaffected;
        with_evidence::apply(&mut p, ev);
        if denied > 0 {
            prop_assert_eq!(p.verdict, Verdict::LosesAccess);
            prop_assert!(p.recent_loss(90));
        }
        if unknown > 0 {
            prop_assert_ne!(p.verdict, Verdict::Unaffected);
            prop_assert!(p.recent_loss(90));
        }
    }
}
