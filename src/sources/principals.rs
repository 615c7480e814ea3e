//! Who a policy reaches in an account, and what the account knows of their credentials (§9).
//!
//! Principals come from what `GetAccountAuthorizationDetails` said, which the store already read
//! ([`AwsStore::fetch_with_details`]): users (their groups, inline and attached policies), groups,
//! roles (their trust policy and last use) and the customer managed policy documents. Credentials
//! come from three or four requests whatever the number of users: `GenerateCredentialReport` (again
//! while the report is being generated), `GetCredentialReport` (a CSV: password enabled and last
//! used, MFA active, access keys active and last used) and one paged `ListVirtualMFADevices` (a
//! user with MFA active but no virtual device has a hardware TOTP token or a FIDO key; IAM lists
//! those only per user, so the kind is named only where a serial tells). The verdicts themselves
//! are pure: [`crate::engine::impact`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::task::JoinHandle;

use aws_sdk_iam::types::ReportStateType;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::engine::impact::{
    self, AccessKey, Boundary, Credentials, Impact, LastUsed, MfaKind, PrincipalInput,
    PrincipalKind, RoleTrust, UserCredentials,
};
use crate::engine::plan::Item;
use crate::engine::policy;
use crate::engine::target::{EntityKind, Target, TargetKind};
use crate::sources::aws::details::{rfc3339, EntityRecord};
use crate::sources::aws::{
    AccountDetails, AwsError, AwsStore, Fetched, Iam, MfaDevices, StoreError,
};

/// A user, group or role and the policies attached to or embedded in it.
#[derive(Debug, Clone, Default)]
struct Entity {
    name: String,
    arn: String,
    /// Managed policy ARNs.
    attached: Vec<String>,
    /// (policy name, decoded document)
    inline: Vec<(String, String)>,
    /// The permissions boundary's ARN.
    boundary: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct UserEntry {
    entity: Entity,
    groups: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct RoleEntry {
    entity: Entity,
    trust: String,
    /// RFC 3339.
    last_used: Option<String>,
}

/// Users, groups, roles and managed policy documents of one account.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    users: Vec<UserEntry>,
    groups: BTreeMap<String, Entity>,
    roles: Vec<RoleEntry>,
    /// Customer managed policies: ARN → default version document.
    managed: BTreeMap<String, String>,
}

impl Entity {
    fn of(e: &EntityRecord) -> Entity {
        Entity {
            name: e.name.clone(),
            arn: e.arn.clone(),
            attached: e.attached.clone(),
            inline: e.inline.clone(),
            boundary: e.boundary.clone(),
        }
    }
}

impl Directory {
    /// Builds the directory from what `GetAccountAuthorizationDetails` said.
    pub fn from_details(details: &AccountDetails) -> Directory {
        let mut d = Directory::default();
        for e in &details.entities {
            match e.kind {
                EntityKind::User => d.users.push(UserEntry {
                    entity: Entity::of(e),
                    groups: e.groups.clone(),
                }),
                EntityKind::Group => {
                    d.groups.insert(e.name.clone(), Entity::of(e));
                }
                EntityKind::Role => d.roles.push(RoleEntry {
                    entity: Entity::of(e),
                    trust: e.trust.clone().unwrap_or_default(),
                    last_used: e.last_used.clone(),
                }),
            }
        }
        for p in &details.managed {
            if let Some(doc) = &p.document {
                d.managed.insert(p.arn.clone(), doc.clone());
            }
        }
        d
    }

    /// Documents of an entity's policies except `changed`; unreadable ones go to `missing`.
    fn documents(
        &self,
        e: &Entity,
        changed: &Target,
        kind: EntityKind,
        docs: &mut Vec<Value>,
        missing: &mut Vec<String>,
    ) {
        for arn in &e.attached {
            if matches!(&changed.kind, TargetKind::Managed { arn: a, .. } if a == arn) {
                continue;
            }
            match self.managed.get(arn).map(|t| policy::parse(t)) {
                Some(Ok(p)) => docs.push(p.value),
                Some(Err(_)) => missing.push(format!("{arn} (not valid JSON)")),
                None => missing.push(arn.clone()),
            }
        }
        for (name, text) in &e.inline {
            let is_changed = matches!(&changed.kind, TargetKind::Inline { entity, entity_name, policy_name }
                if *entity == kind && *entity_name == e.name && policy_name == name);
            if is_changed {
                continue;
            }
            match policy::parse(text) {
                Ok(p) => docs.push(p.value),
                Err(_) => missing.push(format!(
                    "inline policy {name:?} of {} {:?} (not valid JSON)",
                    kind.as_str(),
                    e.name
                )),
            }
        }
    }

    /// A principal's permissions boundary: its document when the account read returned it (a
    /// customer managed policy), the changed policy itself, or why it could not be read.
    fn boundary(&self, e: &Entity, changed: &Target) -> Boundary {
        let Some(arn) = &e.boundary else {
            return Boundary::None;
        };
        if matches!(&changed.kind, TargetKind::Managed { arn: a, .. } if a == arn) {
            return Boundary::Changed { arn: arn.clone() };
        }
        let unreadable = |why: &str| Boundary::Unreadable {
            arn: arn.clone(),
            why: why.to_string(),
        };
        match self.managed.get(arn).map(|t| policy::parse(t)) {
            Some(Ok(p)) => Boundary::Policy {
                arn: arn.clone(),
                document: p.value,
            },
            Some(Err(_)) => unreadable("not valid JSON"),
            None if arn.contains(":iam::aws:policy/") => {
                unreadable("an AWS managed policy, which the account read does not return")
            }
            None => unreadable("not in the account read"),
        }
    }

    /// The principals `target` reaches, with every other policy that reaches each of them.
    pub fn principals(&self, target: &Target, facts: &CredentialFacts) -> Vec<PrincipalInput> {
        let mut out = Vec::new();
        let reaches = |e: &Entity, kind: EntityKind| -> Option<&'static str> {
            match &target.kind {
                TargetKind::Managed { arn, .. } => e.attached.contains(arn).then_some("attached"),
                TargetKind::Inline {
                    entity,
                    entity_name,
                    ..
                } => (*entity == kind && *entity_name == e.name).then_some("inline"),
                TargetKind::File { .. } | TargetKind::Embedded { .. } => None,
            }
        };
        for u in &self.users {
            let mut via = Vec::new();
            if let Some(how) = reaches(&u.entity, EntityKind::User) {
                via.push(if how == "attached" { "direct" } else { how }.to_string());
            }
            for g in &u.groups {
                if let Some(how) = self
                    .groups
                    .get(g)
                    .and_then(|e| reaches(e, EntityKind::Group))
                {
                    via.push(if how == "attached" {
                        format!("group {g}")
                    } else {
                        format!("group {g} (inline)")
                    });
                }
            }
            if via.is_empty() {
                continue;
            }
            let (mut docs, mut missing) = (Vec::new(), Vec::new());
            self.documents(&u.entity, target, EntityKind::User, &mut docs, &mut missing);
            for g in &u.groups {
                match self.groups.get(g) {
                    Some(e) => {
                        self.documents(e, target, EntityKind::Group, &mut docs, &mut missing)
                    }
                    None => {
                        missing.push(format!("policies of group {g} (not in the account read)"))
                    }
                }
            }
            out.push(PrincipalInput {
                arn: u.entity.arn.clone(),
                name: u.entity.name.clone(),
                kind: PrincipalKind::User,
                via,
                others: docs,
                missing,
                credentials: facts.user(&u.entity.name, &u.entity.arn),
                boundary: self.boundary(&u.entity, target),
            });
        }
        for r in &self.roles {
            let Some(how) = reaches(&r.entity, EntityKind::Role) else {
                continue;
            };
            let (mut docs, mut missing) = (Vec::new(), Vec::new());
            self.documents(&r.entity, target, EntityKind::Role, &mut docs, &mut missing);
            let mut trust = parse_trust(&r.trust);
            trust.last_used = last_used(r.last_used.as_deref(), facts.now);
            out.push(PrincipalInput {
                arn: r.entity.arn.clone(),
                name: r.entity.name.clone(),
                kind: PrincipalKind::Role,
                via: vec![how.to_string()],
                others: docs,
                missing,
                credentials: Credentials::Role(trust),
                boundary: self.boundary(&r.entity, target),
            });
        }
        out
    }

    /// The impact of a change from `before` to `after` of `target`; `None` for files.
    pub fn impact(
        &self,
        facts: &CredentialFacts,
        target: &Target,
        before: &str,
        after: &str,
    ) -> Option<Impact> {
        if matches!(target.kind, TargetKind::File { .. }) {
            return None;
        }
        let parse = |t: &str| policy::parse(t).map(|p| p.value).ok();
        let (Some(b), Some(a)) = (parse(before), parse(after)) else {
            return Some(Impact {
                summary: "the documents could not be parsed: impact unknown".into(),
                ..Impact::default()
            });
        };
        let principals = self.principals(target, facts);
        let mut notes = Vec::new();
        if let Some(e) = &facts.error {
            notes.push(e.clone());
        }
        Some(impact::impact(
            &principals,
            &b,
            &a,
            facts.as_of_phrase(),
            notes,
        ))
    }
}

/// `LastUsed` from an RFC 3339 time, relative to `now`.
fn last_used(at: Option<&str>, now: OffsetDateTime) -> LastUsed {
    let Some(at) = at else {
        return LastUsed::never();
    };
    match OffsetDateTime::parse(at, &Rfc3339) {
        Ok(t) => LastUsed::days(at, (now - t).whole_days()),
        Err(_) => LastUsed::never(),
    }
}

/// Strings of a JSON string-or-list.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a trust statement's conditions require an MFA session (`Bool` true on
/// `aws:MultiFactorAuthPresent`, or a `NumericLessThan*` limit on `aws:MultiFactorAuthAge`).
fn requires_mfa(statement: &Value) -> bool {
    let Some(Value::Object(cond)) = statement.get("Condition") else {
        return false;
    };
    cond.iter().any(|(op, keys)| {
        let op = op.to_lowercase();
        let Value::Object(keys) = keys else {
            return false;
        };
        keys.iter().any(|(k, v)| {
            let k = k.to_lowercase();
            let values: Vec<String> = match v {
                Value::Array(items) => items.iter().map(|i| i.to_string()).collect(),
                other => vec![other.to_string()],
            };
            (op == "bool"
                && k == "aws:multifactorauthpresent"
                && values.iter().all(|x| x.trim_matches('"') == "true"))
                || (op.starts_with("numericless")
                    && !op.ends_with("ifexists")
                    && k == "aws:multifactorauthage")
        })
    })
}

/// Who may assume a role, from its trust policy.
pub fn parse_trust(text: &str) -> RoleTrust {
    let mut t = RoleTrust::default();
    let doc = match policy::parse(text) {
        Ok(p) => p.value,
        Err(e) => {
            t.unreadable
                .push(format!("trust policy is not valid JSON: {e}"));
            return t;
        }
    };
    let mut aws_all_mfa = true;
    for s in policy::statements(&doc) {
        if policy::effect(s).as_deref() != Some("allow") {
            continue;
        }
        let actions = strings(s.get("Action"));
        if !actions
            .iter()
            .any(|a| a.to_lowercase().starts_with("sts:assumerole") || a == "*" || a == "sts:*")
        {
            continue;
        }
        match s.get("Principal") {
            Some(Value::String(p)) if p == "*" => {
                t.aws.push("*".into());
                aws_all_mfa &= requires_mfa(s);
            }
            Some(Value::Object(map)) => {
                for (k, v) in map {
                    let list = strings(Some(v));
                    match k.to_lowercase().as_str() {
                        "service" => t.services.extend(list),
                        "federated" => t.federated.extend(list),
                        "aws" => {
                            t.aws.extend(list);
                            aws_all_mfa &= requires_mfa(s);
                        }
                        other => t.unreadable.push(format!("principal type {other:?}")),
                    }
                }
            }
            _ => t
                .unreadable
                .push("a statement without a readable Principal".into()),
        }
    }
    t.requires_mfa = !t.aws.is_empty() && aws_all_mfa;
    t.services.sort();
    t.services.dedup();
    t
}

/// What the credential report and the virtual MFA devices say, read once per account.
#[derive(Debug, Clone)]
pub struct CredentialFacts {
    /// When the facts were read (days ago are relative to it).
    pub now: OffsetDateTime,
    /// The report's `GeneratedTime` (RFC 3339).
    pub generated: Option<String>,
    /// User name → credentials.
    users: BTreeMap<String, UserCredentials>,
    /// Why the facts are missing (then every user's credentials are unknown).
    pub error: Option<String>,
    /// Requests made to read them.
    pub requests: usize,
    /// User name → the Regions the report names for the last use of their access keys (where
    /// evidence of their calls is looked for, besides us-east-1).
    pub key_regions: BTreeMap<String, BTreeSet<String>>,
}

impl CredentialFacts {
    /// Facts that could not be read.
    pub fn unavailable(now: OffsetDateTime, why: String) -> CredentialFacts {
        CredentialFacts {
            now,
            generated: None,
            users: BTreeMap::new(),
            error: Some(why),
            requests: 0,
            key_regions: BTreeMap::new(),
        }
    }

    /// What the report says of one user.
    pub fn user_credentials(&self, name: &str) -> Option<&UserCredentials> {
        self.users.get(name)
    }

    fn user(&self, name: &str, _arn: &str) -> Credentials {
        match (&self.error, self.users.get(name)) {
            (_, Some(u)) => Credentials::User(u.clone()),
            (Some(e), None) => Credentials::Unknown { why: e.clone() },
            (None, None) => Credentials::Unknown {
                why: "not in the credential report (created after it was generated?)".into(),
            },
        }
    }

    /// "credential report of 2026-11-30T01:00:00Z (2 hours old)".
    pub fn as_of_phrase(&self) -> Option<String> {
        let g = self.generated.as_deref()?;
        let age = OffsetDateTime::parse(g, &Rfc3339)
            .ok()
            .map(|t| self.now - t);
        Some(match age {
            Some(a) if a.whole_days() >= 1 => {
                format!("credential report of {g} ({} days old)", a.whole_days())
            }
            Some(a) if a.whole_hours() >= 1 => {
                format!("credential report of {g} ({} hours old)", a.whole_hours())
            }
            Some(a) => format!(
                "credential report of {g} ({} minutes old)",
                a.whole_minutes().max(0)
            ),
            None => format!("credential report of {g}"),
        })
    }

    /// Parses the CSV credential report and merges the virtual MFA devices (user → serials).
    pub fn from_report(
        csv_text: &str,
        virtual_devices: &BTreeMap<String, Vec<String>>,
        generated: Option<String>,
        now: OffsetDateTime,
    ) -> Result<CredentialFacts, String> {
        let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| format!("the credential report has no header line: {e}"))?
            .clone();
        let col = |name: &str| headers.iter().position(|h| h == name);
        let need = |name: &str| {
            col(name).ok_or_else(|| format!("the credential report has no column {name:?}"))
        };
        let (user_i, pw_i, mfa_i) = (
            need("user")?,
            need("password_enabled")?,
            need("mfa_active")?,
        );
        let pw_used_i = col("password_last_used");
        let keys: Vec<(Option<usize>, Option<usize>)> = (1..=2)
            .map(|n| {
                (
                    col(&format!("access_key_{n}_active")),
                    col(&format!("access_key_{n}_last_used_date")),
                )
            })
            .collect();
        let region_cols: Vec<usize> = (1..=2)
            .filter_map(|n| col(&format!("access_key_{n}_last_used_region")))
            .collect();
        let mut key_regions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut users = BTreeMap::new();
        for (line, record) in reader.records().enumerate() {
            let record = record.map_err(|e| format!("credential report line {}: {e}", line + 2))?;
            let get = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("");
            let name = get(Some(user_i));
            if name.is_empty() || name == "<root_account>" {
                continue;
            }
            for r in region_cols.iter().map(|i| get(Some(*i))) {
                // A Region name; the report writes N/A (never used) or no_information.
                if !r.is_empty()
                    && r.contains('-')
                    && r.bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                {
                    key_regions
                        .entry(name.to_string())
                        .or_default()
                        .insert(r.to_string());
                }
            }
            let mfa_active = get(Some(mfa_i)) == "true";
            let mut devices: Vec<MfaKind> = virtual_devices
                .get(name)
                .map(|serials| serials.iter().map(|s| mfa_kind(s)).collect())
                .unwrap_or_default();
            if mfa_active && devices.is_empty() {
                devices.push(MfaKind::HardwareOrFido);
            }
            let date = |v: &str| last_used(Some(v).filter(|v| v.contains('T')), now);
            users.insert(
                name.to_string(),
                UserCredentials {
                    password_enabled: get(Some(pw_i)) == "true",
                    password_last_used: date(get(pw_used_i)),
                    mfa_active,
                    mfa_devices: devices,
                    access_keys: keys
                        .iter()
                        .filter(|(a, _)| a.is_some())
                        .map(|(a, u)| AccessKey {
                            active: get(*a) == "true",
                            last_used: date(get(*u)),
                        })
                        .filter(|k| k.active || k.last_used.at.is_some())
                        .collect(),
                },
            );
        }
        Ok(CredentialFacts {
            now,
            generated,
            users,
            error: None,
            requests: 0,
            key_regions,
        })
    }
}

/// The kind of a device from its serial: `…:u2f/…` is a FIDO security key, `…:mfa/…` virtual.
pub fn mfa_kind(serial: &str) -> MfaKind {
    if serial.contains(":u2f/") {
        MfaKind::Fido
    } else if serial.contains(":mfa/") {
        MfaKind::Virtual
    } else {
        MfaKind::HardwareOrFido
    }
}

/// How long to wait for the credential report to be generated.
#[derive(Debug, Clone, Copy)]
pub struct Polling {
    pub first_delay: Duration,
    pub attempts: u32,
}

impl Default for Polling {
    fn default() -> Self {
        // 0.5 + 1 + 2 + 4 + 8 + 8 + … seconds: about a minute in all.
        Polling {
            first_delay: Duration::from_millis(500),
            attempts: 10,
        }
    }
}

/// Why a credential request failed, with the permissions to grant when it was denied.
fn report_error(what: &str, e: &AwsError) -> String {
    let hint = if matches!(e.code(), Some("AccessDenied" | "AccessDeniedException")) {
        ": grant iam:GenerateCredentialReport, iam:GetCredentialReport and iam:ListVirtualMFADevices (docs/permissions.md) to see who each change affects"
    } else {
        ""
    };
    format!("{what} failed ({}){hint}", e.chain())
}

/// Reads the credential report (generating it if needed) and the virtual MFA devices.
/// Never fails: what could not be read becomes [`CredentialFacts::error`].
pub async fn read_credentials(store: &AwsStore, polling: Polling) -> CredentialFacts {
    let now = OffsetDateTime::now_utc();
    let account = store.account_id();
    let report = match credential_report(store.iam(), polling).await {
        Ok(r) => r,
        Err(why) => return CredentialFacts::unavailable(now, why),
    };
    let devices: MfaDevices = match store.iam().virtual_mfa_devices().await {
        Ok(d) => d,
        Err(e) => {
            let what = format!("iam:ListVirtualMFADevices in account {account}");
            return CredentialFacts::unavailable(now, report_error(&what, &e));
        }
    };
    match CredentialFacts::from_report(&report.text, &devices.serials, report.generated, now) {
        Ok(mut f) => {
            f.requests = report.requests + devices.requests;
            f
        }
        Err(e) => CredentialFacts::unavailable(
            now,
            format!("the credential report of account {account} could not be read: {e}"),
        ),
    }
}

/// The credential report's text and time, and the requests reading it took.
struct Report {
    text: String,
    generated: Option<String>,
    requests: usize,
}

/// One `GenerateCredentialReport` (IAM reuses a report up to 4 hours old and answers COMPLETE);
/// when it starts a new one, wait, then ask for it, waiting longer while it is in progress. So an
/// account costs 2 requests here, more only while IAM is still generating.
async fn credential_report(iam: &Iam, polling: Polling) -> Result<Report, String> {
    let account = iam.account();
    let mut delay = polling.first_delay;
    let mut wait = || {
        let now = delay;
        delay = (delay * 2).min(Duration::from_secs(8));
        tokio::time::sleep(now)
    };
    let state = iam.generate_credential_report().await.map_err(|e| {
        report_error(
            &format!("iam:GenerateCredentialReport in account {account}"),
            &e,
        )
    })?;
    let mut requests = 1;
    if state != Some(ReportStateType::Complete) {
        wait().await;
    }
    let attempts = polling.attempts.max(1);
    for attempt in 0..attempts {
        requests += 1;
        match iam.credential_report().await {
            Ok(out) => {
                return Ok(Report {
                    text: out
                        .content()
                        .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
                        .unwrap_or_default(),
                    generated: out.generated_time().and_then(rfc3339),
                    requests,
                })
            }
            Err(e) => {
                let retry = matches!(e.code(), Some("ReportInProgress" | "ReportNotPresent"));
                if !retry || attempt + 1 == attempts {
                    let what = format!("iam:GetCredentialReport in account {account}");
                    return Err(report_error(&what, &e));
                }
                wait().await;
            }
        }
    }
    Err(format!(
        "the credential report of account {account} was not ready in time: run again in a minute"
    ))
}

/// What `fetch` read: the account's details, and its credential facts, read beside them.
#[derive(Debug)]
pub struct AccountRead {
    pub details: AccountDetails,
    facts: Mutex<Option<JoinHandle<CredentialFacts>>>,
}

impl AccountRead {
    /// The credential facts, waiting for their read to finish; `None` once taken.
    async fn facts(&self) -> Option<CredentialFacts> {
        let handle = self.facts.lock().ok()?.take()?;
        let now = OffsetDateTime::now_utc();
        Some(handle.await.unwrap_or_else(|e| {
            CredentialFacts::unavailable(now, format!("reading the credential report failed ({e})"))
        }))
    }

    /// Stops the credential read when nothing needs it.
    fn abandon(&self) {
        if let Some(handle) = self.facts.lock().ok().and_then(|mut h| h.take()) {
            handle.abort();
        }
    }
}

/// Every policy of the account, with who it reaches; the credential report and MFA devices are
/// read at the same time (they do not depend on the policies), so that an account costs the
/// longest of the two chains of requests, not their sum.
pub async fn fetch(store: &AwsStore) -> Result<(Vec<Fetched>, AccountRead), StoreError> {
    let reader = store.clone();
    let facts = tokio::spawn(async move { read_credentials(&reader, Polling::default()).await });
    // Let the credential read send its first request before this task sends its own.
    tokio::task::yield_now().await;
    let read = match store.fetch_with_details().await {
        Ok(r) => r,
        Err(e) => {
            facts.abort();
            return Err(e);
        }
    };
    let (fetched, details) = read;
    Ok((
        fetched,
        AccountRead {
            details,
            facts: Mutex::new(Some(facts)),
        },
    ))
}

/// Reads who each account change of `items` affects (the credentials `fetch` read, used only
/// when there is a change) and sets its impact. Returns the directory and the credential facts
/// (the evidence of calls is judged with them), and warnings for the operator.
pub async fn read_impacts(
    read: &AccountRead,
    items: &mut [Item],
) -> Option<(Directory, CredentialFacts, Vec<String>)> {
    let has_change = items
        .iter()
        .any(|i| matches!(i, Item::Change(c) if !matches!(c.target.kind, TargetKind::File { .. })));
    if !has_change {
        read.abandon();
        return None;
    }
    let dir = Directory::from_details(&read.details);
    let facts = read.facts().await?;
    let mut warnings = Vec::new();
    if let Some(e) = &facts.error {
        warnings.push(format!("warning: {e}; verdicts on users are unknown"));
    }
    for item in items.iter_mut() {
        if let Item::Change(c) = item {
            c.impact = dir.impact(&facts, &c.target, &c.before, &c.after);
        }
    }
    Some((dir, facts, warnings))
}

/// The saved changes of this account with their impact now, and the directory and credential
/// facts read for it (for `apply --plan`: the account is read again, with the credentials).
pub type CurrentState<'a> = (
    Directory,
    CredentialFacts,
    Vec<(&'a crate::engine::plan::PlannedChange, Impact)>,
);

/// See [`CurrentState`].
pub async fn current_state<'a>(
    store: &AwsStore,
    changes: &'a [crate::engine::plan::PlannedChange],
) -> Result<Option<CurrentState<'a>>, StoreError> {
    let wanted: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.target.account.as_deref() == Some(store.account_id()))
        .map(|c| c.id.as_str())
        .collect();
    if wanted.is_empty() {
        return Ok(None);
    }
    let (_, read) = fetch(store).await?;
    let dir = Directory::from_details(&read.details);
    let Some(facts) = read.facts().await else {
        return Ok(None);
    };
    let now = changes
        .iter()
        .filter(|c| wanted.contains(c.id.as_str()))
        .filter_map(|c| {
            dir.impact(&facts, &c.target, &c.before, &c.after)
                .map(|i| (c, i))
        })
        .collect();
    Ok(Some((dir, facts, now)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const REPORT: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated
<root_account>,arn:aws:iam::111122223333:root,2020-01-01T00:00:00+00:00,not_supported,2026-11-01T00:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
alice,arn:aws:iam::111122223333:user/alice,2020-01-01T00:00:00+00:00,true,2026-11-29T08:00:00+00:00,2020-01-01T00:00:00+00:00,N/A,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
carol,arn:aws:iam::111122223333:user/carol,2020-01-01T00:00:00+00:00,false,not_supported,N/A,N/A,false,true,2020-01-01T00:00:00+00:00,2026-11-28T10:00:00+00:00,us-east-1,s3,true,2020-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A
frank,arn:aws:iam::111122223333:user/frank,2020-01-01T00:00:00+00:00,false,not_supported,N/A,N/A,true,true,2020-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
";

    fn now() -> OffsetDateTime {
        OffsetDateTime::parse("2026-11-30T10:00:00Z", &Rfc3339).unwrap()
    }

    #[test]
    fn the_report_names_the_regions_keys_were_last_used_in() {
        let f = CredentialFacts::from_report(REPORT, &BTreeMap::new(), None, now()).unwrap();
        let carol: Vec<&String> = f.key_regions["carol"].iter().collect();
        assert_eq!(carol, ["us-east-1"]);
        // N/A (never used) is no Region.
        assert!(!f.key_regions.contains_key("frank"));
        assert!(!f.key_regions.contains_key("alice"));
    }

    #[test]
    fn the_report_gives_passwords_devices_and_keys() {
        let mut devices = BTreeMap::new();
        devices.insert(
            "alice".to_string(),
            vec!["arn:aws:iam::111122223333:mfa/alice-phone".to_string()],
        );
        let f = CredentialFacts::from_report(
            REPORT,
            &devices,
            Some("2026-11-30T08:00:00Z".into()),
            now(),
        )
        .unwrap();
        let Credentials::User(alice) = f.user("alice", "") else {
            panic!()
        };
        assert!(alice.password_enabled);
        assert_eq!(alice.password_last_used.days_ago, Some(1));
        assert_eq!(alice.mfa_devices, vec![MfaKind::Virtual]);
        let Credentials::User(carol) = f.user("carol", "") else {
            panic!()
        };
        assert_eq!(carol.access_keys.len(), 2);
        assert_eq!(carol.access_keys[0].last_used.days_ago, Some(2));
        assert_eq!(carol.access_keys[1].last_used.days_ago, None);
        assert!(carol.mfa_devices.is_empty());
        let Credentials::User(frank) = f.user("frank", "") else {
            panic!()
        };
        assert_eq!(frank.mfa_devices, vec![MfaKind::HardwareOrFido]);
        assert!(matches!(
            f.user("<root_account>", ""),
            Credentials::Unknown { .. }
        ));
        assert_eq!(
            f.as_of_phrase().unwrap(),
            "credential report of 2026-11-30T08:00:00Z (2 hours old)"
        );
    }

    #[test]
    fn a_report_without_its_columns_is_an_error_naming_the_column() {
        let e = CredentialFacts::from_report("user,arn\nbob,x\n", &BTreeMap::new(), None, now())
            .unwrap_err();
        assert!(e.contains("password_enabled"), "{e}");
    }

    #[test]
    fn serials_name_the_kind_where_they_can() {
        assert_eq!(
            mfa_kind("arn:aws:iam::1:u2f/user/frank/key-ABC"),
            MfaKind::Fido
        );
        assert_eq!(mfa_kind("arn:aws:iam::1:mfa/phone"), MfaKind::Virtual);
        assert_eq!(mfa_kind("GAHT12345678"), MfaKind::HardwareOrFido);
    }

    #[test]
    fn trust_policies_say_who_assumes_and_whether_mfa_is_required() {
        let t = parse_trust(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com"]},"Action":"sts:AssumeRole"}]}"#,
        );
        assert_eq!(t.services, vec!["ec2.amazonaws.com"]);
        assert!(t.aws.is_empty() && !t.requires_mfa);
        let t = parse_trust(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"sts:AssumeRole","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}"#,
        );
        assert!(t.requires_mfa);
        let t = parse_trust(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"sts:AssumeRole","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}}]}"#,
        );
        assert!(!t.requires_mfa, "IfExists lets long-term keys through");
        let t = parse_trust(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity"}]}"#,
        );
        assert_eq!(t.federated.len(), 1);
    }
}
