//! Which accounts a batch covers: an accounts file (`--accounts FILE`, TOML) or the accounts of
//! an AWS Organization (`--org`), narrowed by `--account`, `--exclude-account` and `--tag`.
//!
//! The file is parsed strictly (unknown fields are errors) because a misspelt `role_arn` would
//! otherwise silently fall back to the default role, in the wrong account set-up.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The role `--org` assumes unless `--role-name` says otherwise: the one AWS Organizations
/// creates in every account it creates.
pub const DEFAULT_ROLE_NAME: &str = "OrganizationAccountAccessRole";

/// How to reach one account: engine vocabulary, since saved plans and journals record it.
pub use crate::engine::reach::Access;
use crate::engine::reach::PlannedAccount;

/// One account of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: Option<String>,
    pub access: Access,
    pub tags: BTreeMap<String, String>,
}

impl Account {
    /// What a saved plan records of the account.
    pub fn planned(&self) -> PlannedAccount {
        PlannedAccount {
            id: self.id.clone(),
            name: self.name.clone(),
            access: self.access.clone(),
            tags: self.tags.clone(),
        }
    }

    /// The account as a saved plan recorded it.
    pub fn from_planned(p: &PlannedAccount) -> Account {
        Account {
            id: p.id.clone(),
            name: p.name.clone(),
            access: p.access.clone(),
            tags: p.tags.clone(),
        }
    }

    /// `123456789012 (prod)` or just the id.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) if !n.is_empty() => format!("{} ({n})", self.id),
            _ => self.id.clone(),
        }
    }
}

/// Settings that are not per account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSettings {
    pub role_name: String,
    pub external_id: Option<String>,
    pub session_name: String,
    pub duration_seconds: Option<i32>,
}

impl RoleSettings {
    fn role_arn(&self, partition: &str, id: &str) -> String {
        format!("arn:{partition}:iam::{id}:role/{}", self.role_name)
    }

    pub fn assume(&self, partition: &str, id: &str) -> Access {
        Access::AssumeRole {
            role_arn: self.role_arn(partition, id),
            external_id: self.external_id.clone(),
            session_name: self.session_name.clone(),
            duration_seconds: self.duration_seconds,
        }
    }
}

/// A malformed accounts file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{path}: {message}")]
pub struct AccountsError {
    pub path: String,
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDefaults {
    role_name: Option<String>,
    external_id: Option<String>,
    session_name: Option<String>,
    duration_seconds: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Tags {
    /// `["prod", "team=payments"]`: a bare word is a tag with an empty value.
    List(Vec<String>),
    /// `{ env = "prod" }`
    Table(BTreeMap<String, String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAccount {
    id: toml::Spanned<String>,
    name: Option<String>,
    role_arn: Option<toml::Spanned<String>>,
    profile: Option<String>,
    tags: Option<Tags>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsFile {
    defaults: Option<FileDefaults>,
    #[serde(default)]
    account: Vec<FileAccount>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

pub fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// Parse an accounts file. `cli` holds the command line's role settings, which the file's
/// `[defaults]` override (the file describes its accounts better than a generic flag).
pub fn parse(path: &Path, text: &str, cli: &RoleSettings) -> Result<Vec<Account>, AccountsError> {
    let err = |message: String| AccountsError {
        path: path.display().to_string(),
        message,
    };
    // toml's messages carry the line, column and field name already.
    let file: AccountsFile = toml::from_str(text).map_err(|e| {
        err(format!(
            "{}\n(expected `[defaults]` with role_name, external_id, session_name, duration_seconds, and `[[account]]` entries with id, name, role_arn or profile, tags)",
            e.to_string().trim_end()
        ))
    })?;
    let mut role = cli.clone();
    if let Some(d) = file.defaults {
        if let Some(v) = d.role_name {
            role.role_name = v;
        }
        if d.external_id.is_some() {
            role.external_id = d.external_id;
        }
        if let Some(v) = d.session_name {
            role.session_name = v;
        }
        if d.duration_seconds.is_some() {
            role.duration_seconds = d.duration_seconds;
        }
    }
    if file.account.is_empty() {
        return Err(err(
            "no `[[account]]` entries; add one per account (id = \"123456789012\")".into(),
        ));
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for a in file.account {
        let line = line_of(text, a.id.span().start);
        let id = a.id.into_inner();
        if !is_account_id(&id) {
            return Err(err(format!(
                "line {line}: field `id`: {id:?} is not an AWS account id (12 digits, quoted)"
            )));
        }
        if let Some(first) = seen.insert(id.clone(), line) {
            return Err(err(format!(
                "line {line}: field `id`: account {id} is listed twice (first on line {first})"
            )));
        }
        let access = match (a.role_arn, a.profile) {
            (Some(arn), Some(_)) => {
                return Err(err(format!(
                "line {}: fields `role_arn` and `profile`: give one or the other for account {id}",
                line_of(text, arn.span().start)
            )))
            }
            (Some(arn), None) => {
                let arn_line = line_of(text, arn.span().start);
                let arn = arn.into_inner();
                match crate::sources::aws::account_of_arn(&arn) {
                    Some(acct) if acct == id => {}
                    Some(acct) => {
                        return Err(err(format!(
                            "line {arn_line}: field `role_arn`: {arn} is in account {acct}, not {id}"
                        )))
                    }
                    None => {
                        return Err(err(format!(
                            "line {arn_line}: field `role_arn`: {arn:?} is not a role ARN (arn:aws:iam::{id}:role/NAME)"
                        )))
                    }
                }
                Access::AssumeRole {
                    role_arn: arn,
                    external_id: role.external_id.clone(),
                    session_name: role.session_name.clone(),
                    duration_seconds: role.duration_seconds,
                }
            }
            (None, Some(p)) => Access::Profile { profile: p },
            (None, None) => role.assume("aws", &id),
        };
        let tags = match a.tags {
            None => BTreeMap::new(),
            Some(Tags::Table(t)) => t,
            Some(Tags::List(l)) => l
                .into_iter()
                .map(|t| match t.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (t, String::new()),
                })
                .collect(),
        };
        out.push(Account {
            id,
            name: a.name,
            access,
            tags,
        });
    }
    Ok(out)
}

/// Read and parse an accounts file.
pub fn load(path: &Path, cli: &RoleSettings) -> Result<Vec<Account>, AccountsError> {
    let text = std::fs::read_to_string(path).map_err(|e| AccountsError {
        path: path.display().to_string(),
        message: format!("cannot read the accounts file: {e}"),
    })?;
    parse(path, &text, cli)
}

/// `--account`, `--exclude-account`, `--tag KEY=VALUE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub tags: Vec<(String, String)>,
}

impl Filter {
    /// Parse `KEY=VALUE` tags and check account ids.
    pub fn new(include: &[String], exclude: &[String], tags: &[String]) -> Result<Filter, String> {
        for id in include.iter().chain(exclude) {
            if !is_account_id(id) {
                return Err(format!(
                    "--account/--exclude-account {id:?}: not an AWS account id (12 digits)"
                ));
            }
        }
        let tags = tags
            .iter()
            .map(|t| {
                t.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| format!("--tag {t:?}: expected KEY=VALUE"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filter {
            include: include.to_vec(),
            exclude: exclude.to_vec(),
            tags,
        })
    }

    pub fn has_tags(&self) -> bool {
        !self.tags.is_empty()
    }

    /// Every `--tag` must match (AND); `--account` given means only those; exclusions win.
    pub fn keeps(&self, a: &Account) -> bool {
        (self.include.is_empty() || self.include.contains(&a.id))
            && !self.exclude.contains(&a.id)
            && self
                .tags
                .iter()
                .all(|(k, v)| a.tags.get(k).is_some_and(|have| have == v))
    }

    /// Accounts kept, sorted by id (the order of prompts and reports). `--account` ids that
    /// match nothing are returned too, so the operator hears about a typo.
    pub fn apply(&self, accounts: Vec<Account>) -> (Vec<Account>, Vec<String>) {
        let unknown = self
            .include
            .iter()
            .filter(|id| !accounts.iter().any(|a| &a.id == *id))
            .cloned()
            .collect();
        let mut kept: Vec<Account> = accounts.into_iter().filter(|a| self.keeps(a)).collect();
        kept.sort_by(|a, b| a.id.cmp(&b.id));
        (kept, unknown)
    }
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
