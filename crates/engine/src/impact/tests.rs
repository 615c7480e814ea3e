//! Unit and property tests of the verdicts: principals with generated credentials, evaluated over
//! real policy documents (a legacy `Bool` guard and its `BoolIfExists` rewrite).

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::effect::Context;

/// The enrolment set the guard exempts.
fn exempt() -> Value {
    json!([
        "iam:CreateVirtualMFADevice",
        "iam:EnableMFADevice",
        "iam:GetUser",
        "iam:ListMFADevices",
        "iam:ListVirtualMFADevices",
        "iam:ResyncMFADevice",
        "sts:GetSessionToken"
    ])
}

/// A guard-only force-MFA policy with the given condition operator.
fn guard(op: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyAllExceptListedIfNoMFA",
            "Effect": "Deny",
            "NotAction": exempt(),
            "Resource": "*",
            "Condition": {op: {"aws:MultiFactorAuthPresent": "false"}}
        }]
    })
}

fn legacy() -> Value {
    guard("Bool")
}

fn current() -> Value {
    guard("BoolIfExists")
}

fn read_only() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "ec2:Describe*"], "Resource": "*"}]
    })
}

fn admin() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    })
}

fn user(name: &str, creds: UserCredentials, others: Vec<Value>) -> PrincipalInput {
    PrincipalInput {
        arn: format!("arn:aws:iam::111122223333:user/{name}"),
        name: name.into(),
        kind: PrincipalKind::User,
        via: vec!["group devs".into()],
        others,
        missing: Vec::new(),
        credentials: Credentials::User(creds),
        boundary: Boundary::None,
    }
}

fn key(days: Option<i64>) -> AccessKey {
    AccessKey {
        active: true,
        last_used: days.map_or_else(LastUsed::never, |d| {
            LastUsed::days("2026-11-28T10:00:00Z", d)
        }),
    }
}

fn key_user(devices: Vec<MfaKind>) -> UserCredentials {
    UserCredentials {
        password_enabled: false,
        password_last_used: LastUsed::never(),
        mfa_active: !devices.is_empty(),
        mfa_devices: devices,
        access_keys: vec![key(Some(2))],
    }
}

#[test]
fn read_only_key_user_loses_read_only_access_not_everything() {
    let p = user("carol", key_user(vec![]), vec![read_only()]);
    let r = assess(&p, &legacy(), &current());
    assert_eq!(r.verdict, Verdict::LosesAccess, "{r:#?}");
    assert_eq!(r.losses.len(), 1);
    let loss = &r.losses[0];
    assert_eq!(loss.contexts, vec![Context::MfaKeyMissing]);
    assert_eq!(loss.last_used.days_ago, Some(2));
    // What she had: the read-only actions (ec2:Describe* matches the sampled DescribeInstances).
    assert_eq!(loss.actions_before, 2, "{loss:#?}");
    assert_eq!(loss.actions_lost, 2);
    assert_eq!(loss.examples, vec!["ec2:DescribeInstances", "s3:GetObject"]);
    assert!(
        r.because.contains("access key used 2 days ago"),
        "{}",
        r.because
    );
    assert!(r.because.contains("all 2 actions it had"), "{}", r.because);
    assert!(r.because.contains("no MFA device"), "{}", r.because);
    assert!(r.because.contains("loses CLI access"), "{}", r.because);
    assert!(loss.fix.contains("enrol"), "{}", loss.fix);
    assert!(r.recent_loss(90));
    assert!(!r.recent_loss(1));
}

#[test]
fn admin_key_user_loses_all_but_enrolment() {
    let p = user("dave", key_user(vec![]), vec![admin()]);
    let r = assess(&p, &legacy(), &current());
    assert_eq!(r.verdict, Verdict::LosesAccess);
    let loss = &r.losses[0];
    // Everything but the seven exempt actions.
    assert_eq!(loss.actions_lost + 7, loss.actions_before, "{loss:#?}");
    assert!(!loss.examples.iter().any(|a| a == "iam:GetUser"));
}

#[test]
fn virtual_device_user_is_told_to_use_session_tokens() {
    let p = user("erin", key_user(vec![MfaKind::Virtual]), vec![read_only()]);
    let r = assess(&p, &legacy(), &current());
    assert_eq!(r.verdict, Verdict::LosesAccess);
    assert_eq!(r.losses.len(), 1, "MFA sessions keep their access: {r:#?}");
    assert!(r.losses[0].fix.contains("get-session-token"));
    assert!(r.because.contains("virtual MFA"));
}

#[test]
fn fido_only_user_loses_cli_access_with_no_session_fix() {
    let p = user("frank", key_user(vec![MfaKind::Fido]), vec![read_only()]);
    let r = assess(&p, &legacy(), &current());
    assert_eq!(r.verdict, Verdict::LosesAccess);
    assert!(r.losses[0].fix.contains("FIDO"), "{}", r.losses[0].fix);
    assert!(r.because.contains("FIDO security key"));
}

#[test]
fn console_user_with_mfa_is_unaffected() {
    let creds = UserCredentials {
        password_enabled: true,
        password_last_used: LastUsed::days("2026-11-29T08:00:00Z", 1),
        mfa_active: true,
        mfa_devices: vec![MfaKind::Virtual],
        access_keys: vec![],
    };
    let p = user("alice", creds, vec![read_only()]);
    let r = assess(&p, &legacy(), &current());
    assert_eq!(r.verdict, Verdict::Unaffected, "{r:#?}");
    assert!(r.because.contains("keeps every access"));
}

#[test]
fn console_user_without_mfa_was_already_denied_by_a_bool_guard() {
    // `Bool` already denies console sessions without MFA: going to BoolIfExists changes nothing
    // for them. Evaluation finds that; a table of cases keyed on "no MFA device" would not.
    let creds = UserCredentials {
        password_enabled: true,
        password_last_used: LastUsed::days("2026-11-29T08:00:00Z", 1),
        ..UserCredentials::default()
    };
    let p = user("gina", creds.clone(), vec![read_only()]);
    assert_eq!(
        assess(&p, &legacy(), &current()).verdict,
        Verdict::Unaffected
    );
    // Introducing a guard where there was none does cut her off.
    let r = assess(
        &p,
        &json!({"Version": "2012-10-17", "Statement": []}),
        &current(),
    );
    assert_eq!(r.verdict, Verdict::LosesAccess);
    assert!(r.because.contains("loses console access"), "{}", r.because);
}

#[test]
fn a_deny_elsewhere_means_nothing_is_lost() {
    // The user's other policy already denies everything: the guard takes away nothing more.
    let deny_all = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "*", "Resource": "*"}]});
    let p = user("hank", key_user(vec![]), vec![read_only(), deny_all]);
    assert_eq!(
        assess(&p, &legacy(), &current()).verdict,
        Verdict::Unaffected
    );
}

#[test]
fn service_role_loses_what_the_guard_denies() {
    let p = PrincipalInput {
        arn: "arn:aws:iam::111122223333:role/build".into(),
        name: "build".into(),
        kind: PrincipalKind::Role,
        via: vec!["attached".into()],
        others: vec![read_only()],
        missing: Vec::new(),
        credentials: Credentials::Role(RoleTrust {
            services: vec!["ec2.amazonaws.com".into()],
            last_used: LastUsed::days("2026-11-29T00:00:00Z", 1),
            ..RoleTrust::default()
        }),
        boundary: Boundary::None,
    };
    let r = assess(&p, &legacy(), &current());
    assert_eq!(r.verdict, Verdict::LosesAccess, "{r:#?}");
    assert!(r.losses[0].what.contains("ec2.amazonaws.com"));
    assert!(r.because.contains("role assumed by ec2.amazonaws.com"));
}

#[test]
fn role_whose_trust_requires_mfa_is_unaffected() {
    let p = PrincipalInput {
        arn: "arn:aws:iam::111122223333:role/admin".into(),
        name: "admin".into(),
        kind: PrincipalKind::Role,
        via: vec!["attached".into()],
        others: vec![admin()],
        missing: Vec::new(),
        credentials: Credentials::Role(RoleTrust {
            aws: vec!["arn:aws:iam::111122223333:root".into()],
            requires_mfa: true,
            ..RoleTrust::default()
        }),
        boundary: Boundary::None,
    };
    assert_eq!(
        assess(&p, &legacy(), &current()).verdict,
        Verdict::Unaffected
    );
}

#[test]
fn unreadable_policies_fall_back_to_the_changed_policy_and_say_so() {
    let mut p = user("ivy", key_user(vec![]), vec![]);
    p.missing = vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()];
    let r = assess(&p, &legacy(), &current());
    assert_eq!(r.verdict, Verdict::LosesAccess);
    assert!(r.fallback.as_deref().unwrap().contains("ReadOnlyAccess"));
    assert!(r.because.contains("changed policy alone"));
    // Without the fallback she has nothing to lose (no policy grants her anything).
    p.missing.clear();
    assert_eq!(
        assess(&p, &legacy(), &current()).verdict,
        Verdict::Unaffected
    );
}

#[test]
fn unmodelled_conditions_make_the_verdict_unknown() {
    let conditional = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]});
    let p = user("jack", key_user(vec![]), vec![conditional]);
    let r = assess(&p, &legacy(), &current());
    assert_eq!(r.verdict, Verdict::Unknown, "{r:#?}");
    assert!(r.because.contains("may lose"));
}

#[test]
fn unknown_credentials_give_an_unknown_verdict() {
    let mut p = user("kim", key_user(vec![]), vec![read_only()]);
    p.credentials = Credentials::Unknown {
        why: "no credential report".into(),
    };
    let r = assess(&p, &legacy(), &current());
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(r.because.contains("no credential report"));
}

#[test]
fn impact_orders_worst_first_and_summarises() {
    let ps = vec![
        user("zed", key_user(vec![]), vec![read_only()]),
        user("amy", UserCredentials::default(), vec![read_only()]),
    ];
    let i = impact(&ps, &legacy(), &current(), None, vec![]);
    assert_eq!(i.principals[0].name, "zed");
    assert_eq!(
        i.summary,
        "2 principals: 1 loses access, 0 unknown, 1 unaffected"
    );
    assert_eq!(i.recent_losses(90).len(), 1);
    // Growth: compared with a review that saw nobody affected.
    let reviewed = impact(&ps[1..], &legacy(), &current(), None, vec![]);
    assert_eq!(reviewed.growth(&i).len(), 1);
    assert!(i.growth(&i).is_empty());
    // Round trip through JSON (saved plans carry it).
    let back: Impact = serde_json::from_value(serde_json::to_value(&i).unwrap()).unwrap();
    assert_eq!(back, i);
}

fn arb_devices() -> impl Strategy<Value = Vec<MfaKind>> {
    prop::collection::vec(
        prop_oneof![
            Just(MfaKind::Virtual),
            Just(MfaKind::Hardware),
            Just(MfaKind::Fido),
            Just(MfaKind::HardwareOrFido)
        ],
        0..3,
    )
}

fn arb_last_used() -> impl Strategy<Value = LastUsed> {
    prop_oneof![
        Just(LastUsed::never()),
        (0i64..400).prop_map(|d| LastUsed::days("2026-01-01T00:00:00Z", d)),
    ]
}

fn arb_user() -> impl Strategy<Value = UserCredentials> {
    (
        any::<bool>(),
        arb_last_used(),
        arb_devices(),
        prop::collection::vec((any::<bool>(), arb_last_used()), 0..3),
    )
        .prop_map(
            |(password_enabled, password_last_used, devices, keys)| UserCredentials {
                password_enabled,
                password_last_used,
                mfa_active: !devices.is_empty(),
                mfa_devices: devices,
                access_keys: keys
                    .into_iter()
                    .map(|(active, last_used)| AccessKey { active, last_used })
                    .collect(),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Going from `Bool` to `BoolIfExists` changes only requests without the MFA key: exactly the
    /// users with an active access key and something granted lose access, whatever else they hold.
    #[test]
    fn bool_to_bool_if_exists_cuts_exactly_the_key_users(creds in arb_user(), grant in any::<bool>()) {
        let others = if grant { vec![read_only()] } else { vec![] };
        let p = user("pat", creds.clone(), others);
        let r = assess(&p, &legacy(), &current());
        let has_key = creds.access_keys.iter().any(|k| k.active);
        let expected = if has_key && grant { Verdict::LosesAccess } else { Verdict::Unaffected };
        prop_assert_eq!(r.verdict, expected, "{:#?}", r);
        if expected == Verdict::LosesAccess {
            prop_assert_eq!(r.losses.len(), 1);
            let loss = &r.losses[0];
            prop_assert_eq!(&loss.contexts, &vec![Context::MfaKeyMissing]);
            // The last use reported is the latest of the active keys.
            let latest = creds.access_keys.iter().filter(|k| k.active)
                .filter_map(|k| k.last_used.days_ago).min();
            prop_assert_eq!(loss.last_used.days_ago, latest);
            let fido_only = !creds.mfa_devices.is_empty()
                && creds.mfa_devices.iter().all(|d| *d == MfaKind::Fido);
            prop_assert_eq!(loss.fix.contains("FIDO security key cannot"), fido_only);
        }
    }

    /// An unchanged policy affects nobody, and a user without any way in is never affected.
    #[test]
    fn no_change_or_no_channel_means_unaffected(creds in arb_user()) {
        let p = user("quinn", creds.clone(), vec![admin()]);
        prop_assert_eq!(assess(&p, &current(), &current()).verdict, Verdict::Unaffected);
        let mut none = creds;
        none.password_enabled = false;
        none.access_keys.iter_mut().for_each(|k| k.active = false);
        let p = user("quinn", none, vec![admin()]);
        prop_assert_eq!(assess(&p, &json!({"Version":"2012-10-17","Statement":[]}), &current()).verdict, Verdict::Unaffected);
    }

    /// Introducing a guard: without a device the console and the keys are cut; with MFA the
    /// console keeps its access (MFA-present requests are never denied by the guard).
    #[test]
    fn a_new_guard_cuts_every_channel_without_mfa(creds in arb_user()) {
        let p = user("rui", creds.clone(), vec![read_only()]);
        let r = assess(&p, &json!({"Version":"2012-10-17","Statement":[]}), &current());
        let has_mfa = !creds.mfa_devices.is_empty();
        let console_cut = creds.password_enabled && !has_mfa;
        let keys_cut = creds.access_keys.iter().any(|k| k.active);
        prop_assert_eq!(r.verdict == Verdict::LosesAccess, console_cut || keys_cut, "{:#?}", r);
        prop_assert!(r.losses.iter().all(|l| !l.contexts.contains(&Context::MfaPresent)));
    }
}

#[test]
fn shared_evaluations_give_the_same_verdicts_as_separate_ones() {
    // 30 users with the same policies share one evaluation; one whose name a policy mentions is
    // evaluated on its own, and all agree with assessing each alone.
    let named = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::bucket-of-user7/*"}]});
    let mut ps: Vec<PrincipalInput> = (0..30)
        .map(|i| {
            user(
                &format!("user{i}"),
                key_user(vec![]),
                vec![read_only(), named.clone()],
            )
        })
        .collect();
    ps.push(user(
        "erin",
        key_user(vec![MfaKind::Virtual]),
        vec![read_only()],
    ));
    let together = impact(&ps, &legacy(), &current(), None, vec![]);
    for p in &ps {
        let alone = assess(p, &legacy(), &current());
        let shared = together
            .principals
            .iter()
            .find(|x| x.name == p.name)
            .unwrap();
        assert_eq!(&alone, shared, "{}", p.name);
    }
    let user7 = together
        .principals
        .iter()
        .find(|x| x.name == "user7")
        .unwrap();
    assert_eq!(user7.verdict, Verdict::LosesAccess);
}

/// The service role of `service_role_loses_what_the_guard_denies`, within `boundary`.
fn bounded_role(boundary: Boundary) -> PrincipalInput {
    PrincipalInput {
        arn: "arn:aws:iam::111122223333:role/build".into(),
        name: "build".into(),
        kind: PrincipalKind::Role,
        via: vec!["attached".into()],
        others: vec![read_only()],
        missing: Vec::new(),
        credentials: Credentials::Role(RoleTrust {
            services: vec!["ec2.amazonaws.com".into()],
            last_used: LastUsed::days("2026-11-29T00:00:00Z", 1),
            ..RoleTrust::default()
        }),
        boundary,
    }
}

fn allow_only(actions: Value) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]
    })
}

fn lost_actions(r: &PrincipalImpact) -> Vec<String> {
    r.losses.iter().flat_map(|l| l.examples.clone()).collect()
}

#[test]
fn a_role_loses_only_what_its_boundary_allowed_before() {
    let unbounded = assess(&bounded_role(Boundary::None), &legacy(), &current());
    assert!(
        lost_actions(&unbounded)
            .iter()
            .any(|a| a.starts_with("ec2:")),
        "{unbounded:#?}"
    );
    let p = bounded_role(Boundary::Policy {
        arn: "arn:aws:iam::111122223333:policy/boundary".into(),
        document: allow_only(json!(["s3:GetObject"])),
    });
    let r = assess(&p, &legacy(), &current());
    assert_eq!(r.verdict, Verdict::LosesAccess, "{r:#?}");
    let lost = lost_actions(&r);
    assert_eq!(lost, ["s3:GetObject"], "{r:#?}");
    assert!(r.losses.iter().all(|l| l.actions_lost == 1), "{r:#?}");
    assert_eq!(
        r.boundary.as_deref(),
        Some("arn:aws:iam::111122223333:policy/boundary (evaluated)")
    );
}

#[test]
fn a_role_whose_boundary_never_allowed_what_the_guard_denies_is_unaffected() {
    let p = bounded_role(Boundary::Policy {
        arn: "arn:aws:iam::111122223333:policy/boundary".into(),
        document: allow_only(json!(["sqs:ListQueues"])),
    });
    let r = assess(&p, &legacy(), &current());
    assert_eq!(r.verdict, Verdict::Unaffected, "{r:#?}");
    assert!(r.losses.is_empty());
}

#[test]
fn an_unreadable_boundary_makes_a_loss_unknown_and_says_why() {
    let p = bounded_role(Boundary::Unreadable {
        arn: "arn:aws:iam::aws:policy/PowerUserAccess".into(),
        why: "an AWS managed policy, not in the account read".into(),
    });
    let r = assess(&p, &legacy(), &current());
    assert_eq!(r.verdict, Verdict::Unknown, "{r:#?}");
    assert!(
        r.because.contains(
            "permissions boundary arn:aws:iam::aws:policy/PowerUserAccess could not be evaluated"
        ),
        "{}",
        r.because
    );
    assert!(r.boundary.as_deref().unwrap().contains("not evaluated"));
    // Nothing lost without the boundary is nothing lost with it.
    let same = assess(&p, &current(), &current());
    assert_eq!(same.verdict, Verdict::Unaffected);
}

#[test]
fn the_changed_policy_as_boundary_is_evaluated_before_and_after() {
    // A boundary that allows everything except what the guard denies: before (Bool) it lets
    // long-term-key requests through, after (BoolIfExists) it does not.
    let p = bounded_role(Boundary::Changed {
        arn: "arn:aws:iam::111122223333:policy/guard".into(),
    });
    let r = assess(&p, &legacy(), &current());
    // A guard-only policy allows nothing, so as a boundary it never allowed anything.
    assert_eq!(r.verdict, Verdict::Unaffected, "{r:#?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// A boundary only takes away: what a bounded principal loses is lost without the boundary too.
    #[test]
    fn a_boundary_never_adds_a_loss(keep in proptest::sample::subsequence(vec!["s3:GetObject", "ec2:DescribeInstances", "sqs:ListQueues", "iam:GetUser"], 0..4)) {
        let lost = |r: &PrincipalImpact| r.losses.iter().map(|l| l.actions_lost).sum::<usize>();
        let unbounded = assess(&bounded_role(Boundary::None), &legacy(), &current());
        let p = bounded_role(Boundary::Policy {
            arn: "arn:aws:iam::111122223333:policy/boundary".into(),
            document: allow_only(json!(keep)),
        });
        let r = assess(&p, &legacy(), &current());
        prop_assert!(lost(&r) <= lost(&unbounded));
        for a in lost_actions(&r) {
            prop_assert!(keep.iter().any(|k| *k == a), "{} lost although the boundary never allowed it", a);
        }
        let expected = keep.iter().any(|k| *k == "s3:GetObject" || *k == "ec2:DescribeInstances");
        prop_assert_eq!(r.verdict == Verdict::LosesAccess, expected);
    }
}
