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
pub use forcemfa_engine::reach::Access;
use forcemfa_engine::reach::PlannedAccount;

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
                match account_of_arn(&arn) {
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

/// The account field of an ARN, when it is a 12-digit account id.
pub fn account_of_arn(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, _, _, account, _] if is_account_id(account) => Some((*account).to_string()),
        _ => None,
    }
}
