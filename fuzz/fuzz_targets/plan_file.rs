//! The saved-plan reader: any text given to `apply --plan`. Reading and checking a plan file
//! never panics, and a plan that reads back serialises to the same plan.
#![no_main]

use forcemfa_engine::migration::{self, Options};
use forcemfa_engine::plan::PlanFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = serde_json::from_str::<PlanFile>(text) else {
        return;
    };
    let Ok(chain) = migration::default_chain() else {
        panic!("embedded migrations do not load");
    };
    let _ = file.check(&chain, None);
    let _ = file.check(&chain, Some(&Options::default()));
    let Ok(again) = serde_json::to_string(&file) else {
        panic!("a plan that was read does not serialise");
    };
    match serde_json::from_str::<PlanFile>(&again) {
        Ok(back) if back == file => {}
        other => panic!("round trip changed the plan: {other:?}"),
    }
});
