//! The journal reader: any text as a journal file. Never panics; every non-blank line is either
//! a record or classified (torn, corrupt, tampered); sealed records read back as written; the
//! rollback plan only lists publishes of records that were read; rollout records read back as
//! written, and where a rollout stands is told from any of them without a panic.
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
    assert_eq!(
        parsed.entries.len() + parsed.rollouts.len() + parsed.bad.len(),
        lines
    );
    let rollouts: Vec<_> = parsed.rollouts.iter().map(|(_, r)| r.clone()).collect();
    for r in &rollouts {
        let Ok(line) = journal::encode_rollout(r) else {
            panic!("a rollout record that was read does not encode");
        };
        let back = journal::parse(std::str::from_utf8(&line).unwrap_or_default());
        assert_eq!(back.rollouts.len(), 1, "sealed rollout record does not read back");
        assert_eq!(&back.rollouts[0].1, r);
    }
    for r in &rollouts {
        if let forcemfa_formats::rollout::Event::Began {
            plan_sha256: Some(d),
            ..
        } = &r.event
        {
            if let Some(p) = forcemfa_formats::rollout::progress(&rollouts, d) {
                assert_eq!(p.states.len(), p.waves.len());
            }
        }
    }
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
