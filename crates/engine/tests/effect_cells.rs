//! The effect table and the effect diff evaluate a whole universe at once: actions are matched by
//! lookup, actions matched by the same statements share one block of cells, resources are compiled
//! once unless they name an MFA key. These properties hold them to the one-request-at-a-time
//! evaluator ([`Evaluator::evaluate`]), cell by cell, on generated documents that exercise every
//! part of that sharing: literal and wildcard actions in any case, `NotAction`, `NotResource`,
//! policy variables (the user name, an MFA key, an unmodelled key), age conditions, unmodelled
//! conditions and malformed statements.

use proptest::prelude::*;
use serde_json::{json, Value};

use forcemfa_engine::effect::{
    effect_diff, effect_table, resource_arn, universe_for, Context, Evaluator, ResourceKind, View,
};

const ACTIONS: &[&str] = &[
    "iam:CreateVirtualMFADevice",
    "IAM:enablemfadevice",
    "iam:GetUser",
    "iam:ListUsers",
    "iam:*",
    "iam:List*",
    "iam:?etUser",
    "sts:AssumeRole",
    "s3:Get*",
    "s3:GetObject",
    "ec2:RunInstances",
    "*",
];

const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:iam::*:user/${aws:username}",
    "arn:aws:iam::*:mfa/${aws:username}",
    "arn:aws:iam::*:mfa/*",
    "arn:aws:iam::123456789012:user/*",
    "arn:aws:iam::*:user/${aws:MultiFactorAuthPresent}",
    "arn:aws:iam::*:user/${aws:SourceIp}",
    "arn:aws:iam::*:user/${aws:MultiFactorAuthAge, 'none'}",
];

fn condition() -> impl Strategy<Value = Option<Value>> {
    proptest::option::of(prop_oneof![
        Just(json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})),
        Just(json!({"Bool": {"aws:MultiFactorAuthPresent": "true"}})),
        Just(json!({"Null": {"aws:MultiFactorAuthAge": "true"}})),
        Just(json!({"NumericGreaterThan": {"aws:MultiFactorAuthAge": "3600"}})),
        Just(json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})),
        Just(json!({"StringEquals": {"aws:username": "alice"}})),
    ])
}

fn statement() -> impl Strategy<Value = Value> {
    let list = |pool: &'static [&'static str]| {
        proptest::collection::vec(proptest::sample::select(pool), 1..4)
    };
    (
        prop_oneof![4 => Just(Some("Allow")), 4 => Just(Some("Deny")), 1 => Just(None)],
        any::<bool>(),
        list(ACTIONS),
        any::<bool>(),
        list(RESOURCES),
        condition(),
    )
        .prop_map(
            |(effect, not_action, actions, not_resource, resources, cond)| {
                let mut st = serde_json::Map::new();
                if let Some(e) = effect {
                    st.insert("Effect".into(), json!(e));
                }
                let a = if not_action { "NotAction" } else { "Action" };
                st.insert(a.into(), json!(actions));
                let r = if not_resource {
                    "NotResource"
                } else {
                    "Resource"
                };
                st.insert(r.into(), json!(resources));
                if let Some(c) = cond {
                    st.insert("Condition".into(), c);
                }
                Value::Object(st)
            },
        )
}

fn document() -> impl Strategy<Value = Value> {
    (proptest::collection::vec(statement(), 1..5), any::<bool>()).prop_map(|(sts, versioned)| {
        if versioned {
            json!({"Version": "2012-10-17", "Statement": sts})
        } else {
            json!({"Statement": sts})
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn the_effect_table_decides_every_cell_as_one_request_would(doc in document()) {
        let universe = universe_for(&[&doc]);
        let ev = Evaluator::new(&doc, &universe.username);
        let table = effect_table(&doc);
        prop_assert_eq!(table.len(), universe.actions.len() * 40);
        for row in &table {
            let arn = resource_arn(&universe, row.resource);
            let one = ev.evaluate(&row.action, &arn, row.context, row.view);
            prop_assert_eq!(
                row.decision, one.decision,
                "{} on {:?} in {:?} ({:?}) of {}", row.action, row.resource, row.context, row.view, doc
            );
            prop_assert_eq!(&row.unknown, &one.unknown);
        }
    }

    #[test]
    fn the_effect_diff_lists_exactly_the_cells_that_differ(before in document(), after in document()) {
        let universe = universe_for(&[&before, &after]);
        let (b, a) = (
            Evaluator::new(&before, &universe.username),
            Evaluator::new(&after, &universe.username),
        );
        let mut expected = Vec::new();
        for action in &universe.actions {
            for kind in ResourceKind::ALL {
                let arn = resource_arn(&universe, kind);
                for ctx in Context::ALL {
                    for view in View::ALL {
                        let (x, y) = (b.evaluate(action, &arn, ctx, view), a.evaluate(action, &arn, ctx, view));
                        if x.possible != y.possible {
                            expected.push((action.clone(), kind, ctx, view, x.decision, y.decision));
                        }
                    }
                }
            }
        }
        let got: Vec<_> = effect_diff(&before, &after)
            .rows
            .into_iter()
            .map(|r| (r.action, r.resource, r.context, r.view, r.before, r.after))
            .collect();
        prop_assert_eq!(got, expected, "before {}\nafter {}", before, after);
    }
}
