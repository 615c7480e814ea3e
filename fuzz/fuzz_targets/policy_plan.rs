//! Policy text -> plan: parse, detect, migrate, verify, render, for any text. Never panics; a
//! change that is not blocked is idempotent (planning its output changes nothing) and every
//! item serialises (the JSON report and saved plans depend on it).
#![no_main]

use forcemfa_engine::migration::{self, Options};
use forcemfa_engine::plan::{self, Input, Item, PlanFile, SizeLimit};
use forcemfa_engine::target::Target;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(chain) = migration::default_chain() else {
        panic!("embedded migrations do not load");
    };
    let options = Options::default();
    let input = Input::file(Target::file("fuzz.json"), text.to_string(), SizeLimit::Managed);
    let item = plan::plan_one(&input, &chain, &options);
    if serde_json::to_string(&item).is_err() {
        panic!("item does not serialise: {item:?}");
    }
    if let Item::Change(c) = &item {
        if !c.is_blocked() {
            let again = Input::file(Target::file("fuzz.json"), c.after.clone(), SizeLimit::Managed);
            if let Item::Change(d) = plan::plan_one(&again, &chain, &options) {
                panic!("not idempotent: {:?}", d.diff.unified);
            }
        }
        let file = PlanFile::new(std::slice::from_ref(&item), &chain, &options, String::new());
        if serde_json::to_string(&file).is_err() {
            panic!("plan file does not serialise");
        }
    }
});
