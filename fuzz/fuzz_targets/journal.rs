//! The journal reader: any text as a journal file. Never panics; every non-blank line is either
//! a record or classified (torn, corrupt, tampered); sealed records read back as written; the
//! rollback plan only lists publishes of records that were read.
#![no_main]

use forcemfa_formats::journal::{self, Action};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = journal::parse(text);
    let lines = text
        .split('\n')
        .filter(|l| !l.strip_suffix('\r').unwrap_or(l).trim().is_empty())
        .count();
    assert_eq!(parsed.entries.len() + parsed.bad.len(), lines);
    let entries: Vec<_> = parsed.entries.iter().map(|(_, e)| e.clone()).collect();
    for e in &entries {
        let Ok(line) = journal::encode(e) else {
            panic!("a record that was read does not encode");
        };
        let back = journal::parse(std::str::from_utf8(&line).unwrap_or_default());
        assert_eq!(back.entries.len(), 1, "sealed record does not read back");
        assert_eq!(&back.entries[0].1, e);
    }
    for p in journal::rollback_plan(&entries, None) {
        assert_eq!(p.action, Action::Publish);
        assert!(entries.contains(&p));
    }
});
