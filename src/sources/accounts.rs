//! Which accounts a batch covers: the accounts file (`--accounts FILE`) and the filters.
//!
//! The parsing is pure and lives in `forcemfa-formats` (so that it can be fuzzed without the AWS
//! SDK); this module re-exports it and adds reading the file from disk.

pub use forcemfa_formats::accounts::*;

use std::path::Path;

/// Read and parse an accounts file.
pub fn load(path: &Path, cli: &RoleSettings) -> Result<Vec<Account>, AccountsError> {
    let text = std::fs::read_to_string(path).map_err(|e| AccountsError {
        path: path.display().to_string(),
        message: format!("cannot read the accounts file: {e}"),
    })?;
    parse(path, &text, cli)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cli() -> RoleSettings {
        RoleSettings {
            role_name: DEFAULT_ROLE_NAME.into(),
            external_id: None,
            session_name: "forcemfa".into(),
            duration_seconds: None,
        }
    }

    fn parse_str(text: &str) -> Result<Vec<Account>, AccountsError> {
        parse(Path::new("accounts.toml"), text, &cli())
    }

    #[test]
    fn defaults_role_arn_profile_and_both_tag_forms() {
        let a = parse_str(
            r#"
[defaults]
role_name = "ForceMfaAudit"
external_id = "ext-1"
session_name = "change-1234"
duration_seconds = 1800

[[account]]
id = "111111111111"
name = "prod"
tags = { env = "prod" }

[[account]]
id = "222222222222"
role_arn = "arn:aws:iam::222222222222:role/Other"
tags = ["team=payments", "pci"]

[[account]]
id = "333333333333"
profile = "sandbox"
"#,
        )
        .unwrap();
        assert_eq!(
            a[0].access,
            Access::AssumeRole {
                role_arn: "arn:aws:iam::111111111111:role/ForceMfaAudit".into(),
                external_id: Some("ext-1".into()),
                session_name: "change-1234".into(),
                duration_seconds: Some(1800),
            }
        );
        assert_eq!(a[0].label(), "111111111111 (prod)");
        assert_eq!(a[0].tags.get("env").map(String::as_str), Some("prod"));
        assert!(
            matches!(&a[1].access, Access::AssumeRole { role_arn, .. } if role_arn.ends_with("role/Other"))
        );
        assert_eq!(a[1].tags.get("team").map(String::as_str), Some("payments"));
        assert_eq!(a[1].tags.get("pci").map(String::as_str), Some(""));
        assert_eq!(
            a[2].access,
            Access::Profile {
                profile: "sandbox".into()
            }
        );
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let e = parse_str("[[account]]\nid = \"111111111111\"\nrole_name = \"x\"\n").unwrap_err();
        assert!(e.message.contains("line 3"), "{}", e.message);
        assert!(e.message.contains("role_name"), "{}", e.message);

        let e = parse_str("[[account]]\nid = \"111111111111\"\n\n[[account]]\nid = \"12345\"\n")
            .unwrap_err();
        assert!(e.message.contains("line 5: field `id`"), "{}", e.message);

        let e = parse_str("[[account]]\nid = 111111111111\n").unwrap_err();
        assert!(e.message.contains("line 2"), "{}", e.message);

        let e = parse_str(
            "[[account]]\nid = \"111111111111\"\nrole_arn = \"arn:aws:iam::222222222222:role/x\"\n",
        )
        .unwrap_err();
        assert!(
            e.message.contains("line 3: field `role_arn`"),
            "{}",
            e.message
        );

        let e =
            parse_str("[[account]]\nid = \"111111111111\"\n[[account]]\nid = \"111111111111\"\n")
                .unwrap_err();
        assert!(e.message.contains("listed twice"), "{}", e.message);

        assert!(parse_str("[defaults]\nrole_name = \"x\"\n").is_err());
    }

    #[test]
    fn the_fixture_files_parse_or_fail_as_documented() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/accounts");
        let a = load(&dir.join("example.toml"), &cli()).unwrap();
        assert_eq!(a.len(), 3);
        let e = load(&dir.join("unknown-field.toml"), &cli()).unwrap_err();
        assert!(
            e.message.contains("line 6") && e.message.contains("rolearn"),
            "{}",
            e.message
        );
    }

    #[test]
    fn filters_include_exclude_and_tags() {
        let a = parse_str(
            "[[account]]\nid = \"333333333333\"\ntags = { env = \"prod\" }\n[[account]]\nid = \"111111111111\"\ntags = { env = \"dev\" }\n[[account]]\nid = \"222222222222\"\ntags = { env = \"prod\" }\n",
        )
        .unwrap();
        let f = Filter::new(&[], &["333333333333".into()], &["env=prod".into()]).unwrap();
        let (kept, unknown) = f.apply(a.clone());
        assert_eq!(
            kept.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
            ["222222222222"]
        );
        assert!(unknown.is_empty());
        let f = Filter::new(&["111111111111".into(), "999999999999".into()], &[], &[]).unwrap();
        let (kept, unknown) = f.apply(a);
        assert_eq!(kept.len(), 1);
        assert_eq!(unknown, ["999999999999"]);
        assert!(Filter::new(&["12".into()], &[], &[]).is_err());
        assert!(Filter::new(&[], &[], &["novalue".into()]).is_err());
    }
}
