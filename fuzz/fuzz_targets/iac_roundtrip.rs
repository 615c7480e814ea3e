//! IaC extraction and write-back on any text, under every file name the source reads: never a
//! panic; writing a policy back unchanged gives a file from which the same policy is extracted
//! again, for the same resource.
#![no_main]

use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 6] = [
    "template.yaml",
    "template.json",
    "main.tf",
    "policy.json.tpl",
    "stack.template",
    "policy.tftpl",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let name = NAMES[usize::from(pick) % NAMES.len()];
    let Ok(found) = forcemfa_iac::extract(name, text) else {
        return;
    };
    for e in &found {
        let Ok(policy) = serde_json::from_str::<serde_json::Value>(&e.policy_text()) else {
            continue;
        };
        let Ok(written) = forcemfa_iac::rewrite(text, e, &policy) else {
            continue;
        };
        let again = forcemfa_iac::extract(name, &written)
            .unwrap_or_else(|err| panic!("a written-back file no longer reads: {err}"));
        let same = again.iter().find(|x| x.resource == e.resource).map(|x| {
            serde_json::from_str::<serde_json::Value>(&x.policy_text()).ok() == Some(policy.clone())
        });
        assert_eq!(same, Some(true), "the policy of {} changed on a round trip", e.resource);
    }
});
