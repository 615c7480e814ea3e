//! Benchmark of `effect_diff` on the largest published policy against a migrated variant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use forcemfa::engine::effect::{effect_diff, effect_table};
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/policies/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).unwrap()
}

/// The 2019 "deny all except listed" policy with the seed-variant exemptions added (what the
/// migration removes), and the 2019 policy itself as the migrated form.
fn pair() -> (Value, Value) {
    let after = fixture("2019-docs-deny-all-except-listed.json");
    let mut before = after.clone();
    for s in before["Statement"].as_array_mut().unwrap() {
        if s["Effect"] == "Deny" {
            let list = s["NotAction"].as_array_mut().unwrap();
            list.extend(
                [
                    "iam:ListUsers",
                    "iam:DeleteVirtualMFADevice",
                    "iam:ChangePassword",
                ]
                .map(|a| json!(a)),
            );
            s["Condition"] = json!({"Bool": {"aws:MultiFactorAuthPresent": "false"}});
        }
    }
    (before, after)
}

fn bench(c: &mut Criterion) {
    let (before, after) = pair();
    c.bench_function("effect_diff 2019 deny-all-except-listed vs migrated", |b| {
        b.iter(|| effect_diff(std::hint::black_box(&before), std::hint::black_box(&after)))
    });
    let seed = fixture("2019-seed-variant.json");
    c.bench_function("effect_table 2019 seed variant", |b| {
        b.iter(|| effect_table(std::hint::black_box(&seed)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
