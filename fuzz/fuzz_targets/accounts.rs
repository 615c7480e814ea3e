//! The accounts file (`--accounts FILE`): any text. Never panics; accepted files name only
//! 12-digit account ids, and errors name the file.
#![no_main]

use forcemfa_formats::accounts::{self, RoleSettings, DEFAULT_ROLE_NAME};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cli = RoleSettings {
        role_name: DEFAULT_ROLE_NAME.into(),
        external_id: None,
        session_name: "forcemfa".into(),
        duration_seconds: None,
    };
    match accounts::parse(Path::new("accounts.toml"), text, &cli) {
        Ok(list) => {
            for a in &list {
                assert!(accounts::is_account_id(&a.id), "bad id accepted: {:?}", a.id);
            }
        }
        Err(e) => assert_eq!(e.path, "accounts.toml"),
    }
});
