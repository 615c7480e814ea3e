//! Who is affected by a change (§9): a verdict per principal, derived by evaluation.
//!
//! A principal (user or role) reaches AWS through **channels**: a console password, long-term
//! access keys, MFA sessions, role sessions started by a service, a federation or other AWS
//! principals. Each channel fixes the MFA situation of its requests (the [`Context`]s it can be in):
//! a request signed with a long-term key carries no MFA key, a console sign-in without a device
//! carries `false`, a FIDO-only user can never make a CLI MFA session, a session a service starts
//! never carries MFA. Channels come from the credential facts, nothing else.
//!
//! For every channel the principal's **whole policy set** (its inline and attached policies and its
//! groups', with the changed policy before and then after) is evaluated over the effect universe
//! ([`crate::effect::universe_for`], the principal's own name and account), in the channel's contexts,
//! with AWS's combining logic (an explicit deny in any policy wins, else an allow in any policy
//! allows). What was allowed before and is not after is what the principal loses through that
//! channel. The verdict follows: something certainly lost on a channel the principal has =
//! `loses-access`; something that might be lost (the evaluator met a condition it does not model)
//! = `unknown`; otherwise `unaffected`. No table of cases: a read-only user loses read-only
//! actions because those are what evaluation finds allowed before and denied after.
//!
//! When the set cannot be read whole (an AWS managed policy, which the account read does not
//! return), the changed policy is evaluated on its own beside an allow-everything policy (the
//! effect diff's second view: what its guard takes away), and the verdict says so.
//!
//! Pure: times come in as "days ago" computed by the caller from its clock.

/// How recent a use of access counts as "in use" when `apply --yes` decides what to hold back
/// (`--recent-days`), in days.
pub const DEFAULT_RECENT_DAYS: i64 = 90;

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::effect::{resource_arn, universe_for, Context, Decision, Evaluator, ResourceKind, View};

/// User or role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrincipalKind {
    User,
    Role,
}

/// The kind of an MFA device, as far as the account tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MfaKind {
    /// A virtual (TOTP app) device: usable for CLI sessions.
    Virtual,
    /// A hardware TOTP token: usable for CLI sessions.
    Hardware,
    /// A FIDO security key (passkey, U2F): console only, no CLI MFA session possible.
    Fido,
    /// Not virtual; hardware TOTP or FIDO, the account does not say which.
    HardwareOrFido,
}

impl MfaKind {
    /// Whether `sts get-session-token` can be called with this device.
    fn cli_capable(self) -> Option<bool> {
        match self {
            MfaKind::Virtual | MfaKind::Hardware => Some(true),
            MfaKind::Fido => Some(false),
            MfaKind::HardwareOrFido => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            MfaKind::Virtual => "virtual MFA",
            MfaKind::Hardware => "hardware MFA",
            MfaKind::Fido => "FIDO security key",
            MfaKind::HardwareOrFido => "hardware or FIDO MFA",
        }
    }
}

/// When a credential was last used.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUsed {
    /// RFC 3339, as the account reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Whole days between `at` and when the facts were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_ago: Option<i64>,
}

impl LastUsed {
    pub fn never() -> LastUsed {
        LastUsed::default()
    }

    pub fn days(at: &str, days_ago: i64) -> LastUsed {
        LastUsed {
            at: Some(at.to_string()),
            days_ago: Some(days_ago.max(0)),
        }
    }

    /// The more recent of two.
    fn latest(self, other: LastUsed) -> LastUsed {
        match (self.days_ago, other.days_ago) {
            (Some(a), Some(b)) if b < a => other,
            (None, Some(_)) => other,
            _ => self,
        }
    }

    fn phrase(&self) -> String {
        match self.days_ago {
            Some(0) => "used today".into(),
            Some(1) => "used yesterday".into(),
            Some(d) => format!("used {d} days ago"),
            None => "never used".into(),
        }
    }
}

/// One access key of a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    pub active: bool,
    pub last_used: LastUsed,
}

/// What the account knows of a user's credentials (credential report, MFA devices).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCredentials {
    pub password_enabled: bool,
    pub password_last_used: LastUsed,
    pub mfa_active: bool,
    pub mfa_devices: Vec<MfaKind>,
    pub access_keys: Vec<AccessKey>,
}

/// Who may assume a role (its trust policy).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleTrust {
    /// Service principals (`ec2.amazonaws.com`): their sessions never carry MFA.
    pub services: Vec<String>,
    /// Web-identity and SAML providers: their sessions never carry MFA.
    pub federated: Vec<String>,
    /// AWS principals (accounts, users, roles).
    pub aws: Vec<String>,
    /// Every statement that lets AWS principals assume the role requires MFA.
    pub requires_mfa: bool,
    /// Statements of the trust policy the reader could not classify.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
    pub last_used: LastUsed,
}

/// Credential facts of a principal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Credentials {
    User(UserCredentials),
    Role(RoleTrust),
    /// The facts could not be read (the reason).
    Unknown {
        why: String,
    },
}

/// One principal the changed policy reaches, with every policy that reaches it.
#[derive(Clone, Debug)]
pub struct PrincipalInput {
    pub arn: String,
    pub name: String,
    pub kind: PrincipalKind,
    /// How the changed policy reaches it: `direct`, `group devs`, `inline`, `attached`.
    pub via: Vec<String>,
    /// Every other policy document that reaches it (its inline and attached policies, its groups').
    pub others: Vec<Value>,
    /// Policies that reach it but whose documents are not known (e.g. AWS managed policies): when
    /// non-empty the whole set cannot be evaluated.
    pub missing: Vec<String>,
    pub credentials: Credentials,
}

/// The verdict for one principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Unaffected,
    LosesAccess,
    Unknown,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Unaffected => "unaffected",
            Verdict::LosesAccess => "loses-access",
            Verdict::Unknown => "unknown",
        }
    }
}

/// What a principal loses through one channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loss {
    /// The channel, e.g. "requests with long-term access keys without an MFA session".
    pub what: String,
    /// Short form for one-line reports ("CLI access", "console access").
    pub short: String,
    pub contexts: Vec<Context>,
    /// Actions allowed on some resource through this channel before the change.
    pub actions_before: usize,
    /// Of those, the actions no longer allowed on some resource.
    pub actions_lost: usize,
    /// A few of the lost actions.
    pub examples: Vec<String>,
    /// A few of the actions it keeps through this channel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
    pub last_used: LastUsed,
    pub fix: String,
    /// Only possibly lost (evaluation met conditions it does not model).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uncertain: bool,
}

/// The impact of a change on one principal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalImpact {
    pub arn: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: PrincipalKind,
    pub via: Vec<String>,
    pub credentials: Credentials,
    pub verdict: Verdict,
    /// The one line an operator reads.
    pub because: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub losses: Vec<Loss>,
    /// Set when the whole policy set could not be evaluated: why, and that only the changed
    /// policy's own effect (beside an allow-everything policy) was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// What the principal's recorded calls show (CloudTrail), when evidence was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<crate::evidence::Evidence>,
}

impl PrincipalImpact {
    /// The most recent use of anything this principal loses (or might lose).
    pub fn lost_use(&self) -> LastUsed {
        self.losses
            .iter()
            .fold(LastUsed::never(), |acc, l| acc.latest(l.last_used.clone()))
    }

    /// Loses (or might lose) access that was used within `days`.
    pub fn recent_loss(&self, days: i64) -> bool {
        // Evidence of the calls made decides when it says something (calls that would fail, or
        // every call read staying allowed); otherwise the credentials' last use does.
        if let Some(hold) = self.evidence.as_ref().and_then(|e| e.holds()) {
            return hold;
        }
        self.verdict != Verdict::Unaffected
            && self
                .losses
                .iter()
                .any(|l| l.last_used.days_ago.is_some_and(|d| d <= days))
    }
}

/// The impact of one change: every principal it reaches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Impact {
    pub principals: Vec<PrincipalImpact>,
    pub summary: String,
    /// When the credential facts were produced (the credential report's time), and why they may
    /// be missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_as_of: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Impact {
    pub fn count(&self, v: Verdict) -> usize {
        self.principals.iter().filter(|p| p.verdict == v).count()
    }

    /// Principals that lose (or might lose) access used within `days`, by name.
    pub fn recent_losses(&self, days: i64) -> Vec<&PrincipalImpact> {
        self.principals
            .iter()
            .filter(|p| p.recent_loss(days))
            .collect()
    }

    /// ARNs of principals that are not unaffected, with their verdict.
    pub fn affected(&self) -> BTreeSet<(String, Verdict)> {
        self.principals
            .iter()
            .filter(|p| p.verdict != Verdict::Unaffected)
            .map(|p| (p.arn.clone(), p.verdict))
            .collect()
    }

    /// What `now` shows that `self` (what was reviewed) did not: principals newly affected, or
    /// affected in a worse way, or losing more actions. Empty when the impact did not grow.
    pub fn growth(&self, now: &Impact) -> Vec<String> {
        let mut out = Vec::new();
        for p in &now.principals {
            if p.verdict == Verdict::Unaffected {
                continue;
            }
            let before = self.principals.iter().find(|q| q.arn == p.arn);
            let grew = match before {
                None => true,
                Some(q) if q.verdict == Verdict::Unaffected => true,
                Some(q) => {
                    let lost = |x: &PrincipalImpact| -> usize {
                        x.losses.iter().map(|l| l.actions_lost).sum()
                    };
                    lost(p) > lost(q) || p.losses.len() > q.losses.len()
                }
            };
            if grew {
                out.push(format!("{}: {}", p.name, p.because));
            }
        }
        out
    }

    /// Builds the summary line from the principals.
    pub fn summarize(&mut self) {
        let n = self.principals.len();
        self.summary = if n == 0 {
            "reaches no user or role".into()
        } else {
            format!(
                "{} principal{}: {} lose{} access, {} unknown, {} unaffected",
                n,
                if n == 1 { "" } else { "s" },
                self.count(Verdict::LosesAccess),
                if self.count(Verdict::LosesAccess) == 1 {
                    "s"
                } else {
                    ""
                },
                self.count(Verdict::Unknown),
                self.count(Verdict::Unaffected)
            )
        };
    }
}

/// A way a principal makes requests.
struct Channel {
    what: String,
    short: &'static str,
    contexts: Vec<Context>,
    last_used: LastUsed,
    fix: String,
}

/// The channels of a principal, from its credential facts.
fn channels(credentials: &Credentials) -> Result<Vec<Channel>, String> {
    match credentials {
        Credentials::User(u) => Ok(user_channels(u)),
        Credentials::Role(r) => Ok(role_channels(r)),
        Credentials::Unknown { why } => Err(why.clone()),
    }
}

fn user_channels(u: &UserCredentials) -> Vec<Channel> {
    let mut out = Vec::new();
    let has_mfa = u.mfa_active || !u.mfa_devices.is_empty();
    // Some(true): a CLI MFA session is possible; Some(false): not (FIDO only); None: unknown.
    let cli_mfa = if !has_mfa {
        Some(false)
    } else if u.mfa_devices.is_empty() {
        None
    } else if u.mfa_devices.iter().any(|d| d.cli_capable() == Some(true)) {
        Some(true)
    } else if u.mfa_devices.iter().all(|d| d.cli_capable() == Some(false)) {
        Some(false)
    } else {
        None
    };
    if u.password_enabled {
        if has_mfa {
            out.push(Channel {
                what: "console sign-in with MFA".into(),
                short: "console access",
                contexts: vec![Context::MfaPresent],
                last_used: u.password_last_used.clone(),
                fix: "review the change: it takes away access even with MFA".into(),
            });
        } else {
            out.push(Channel {
                what: "console sign-in without MFA".into(),
                short: "console access",
                contexts: vec![Context::MfaAbsent],
                last_used: u.password_last_used.clone(),
                fix: "enrol an MFA device (virtual, hardware or security key) before the change"
                    .into(),
            });
        }
    }
    let active: Vec<&AccessKey> = u.access_keys.iter().filter(|k| k.active).collect();
    if !active.is_empty() {
        let last = active
            .iter()
            .fold(LastUsed::never(), |acc, k| acc.latest(k.last_used.clone()));
        let fix = match cli_mfa {
            Some(true) => "use `aws sts get-session-token --serial-number MFA_ARN --token-code CODE` and sign requests with the session, or move the automation to a role".to_string(),
            Some(false) if has_mfa => "a FIDO security key cannot make a CLI MFA session: register a virtual or hardware TOTP device too, or move the automation to a role".to_string(),
            Some(false) => "enrol a virtual MFA device and use `aws sts get-session-token` with it, or move the automation to a role".to_string(),
            None => "if the device is a hardware TOTP token use `aws sts get-session-token` with it; a FIDO key cannot: register a virtual device or move the automation to a role".to_string(),
        };
        out.push(Channel {
            what: "requests with long-term access keys without an MFA session".into(),
            short: "CLI access",
            contexts: vec![Context::MfaKeyMissing],
            last_used: last.clone(),
            fix,
        });
        if cli_mfa != Some(false) {
            out.push(Channel {
                what: "CLI sessions with MFA (`sts get-session-token`)".into(),
                short: "CLI access with MFA",
                contexts: vec![Context::MfaPresent],
                last_used: last,
                fix: "review the change: it takes away access even with MFA".into(),
            });
        }
    }
    out
}

fn role_channels(r: &RoleTrust) -> Vec<Channel> {
    let mut out = Vec::new();
    // AWS documents the MFA key of sessions without MFA both as `false` and as absent depending on
    // how they were made; both contexts are evaluated and a loss in either counts.
    let no_mfa = vec![Context::MfaAbsent, Context::MfaKeyMissing];
    let mut never_mfa: Vec<String> = r.services.clone();
    never_mfa.extend(r.federated.iter().cloned());
    if !never_mfa.is_empty() {
        out.push(Channel {
            what: format!(
                "sessions started by {} (never carry MFA)",
                never_mfa.join(", ")
            ),
            short: "role sessions",
            contexts: no_mfa.clone(),
            last_used: r.last_used.clone(),
            fix: "this role cannot present MFA: keep the policy off the role (attach it to users or groups only)".into(),
        });
    }
    if !r.aws.is_empty() {
        if r.requires_mfa {
            out.push(Channel {
                what: format!("sessions assumed with MFA by {}", r.aws.join(", ")),
                short: "role sessions with MFA",
                contexts: vec![Context::MfaPresent],
                last_used: r.last_used.clone(),
                fix: "review the change: it takes away access even with MFA".into(),
            });
        } else {
            out.push(Channel {
                what: format!("sessions assumed without MFA by {}", r.aws.join(", ")),
                short: "role sessions without MFA",
                contexts: no_mfa,
                last_used: r.last_used.clone(),
                fix: "assume the role with `--serial-number`/`--token-code` (and require MFA in its trust policy), or keep the policy off the role".into(),
            });
            out.push(Channel {
                what: format!("sessions assumed with MFA by {}", r.aws.join(", ")),
                short: "role sessions with MFA",
                contexts: vec![Context::MfaPresent],
                last_used: r.last_used.clone(),
                fix: "review the change: it takes away access even with MFA".into(),
            });
        }
    }
    out
}

/// The possible decisions of a policy set, as a bit set (1 allowed, 2 explicit deny, 4 implicit).
const ALLOWED: u8 = 1;
const EXPLICIT: u8 = 2;
const IMPLICIT: u8 = 4;

fn bits(possible: &[Decision]) -> u8 {
    possible.iter().fold(0, |acc, d| {
        acc | match d {
            Decision::Allowed => ALLOWED,
            Decision::ExplicitDeny => EXPLICIT,
            Decision::ImplicitDeny => IMPLICIT,
            Decision::Unknown => ALLOWED | EXPLICIT | IMPLICIT,
        }
    })
}

/// AWS's combination of identity policies: an explicit deny in any wins; else an allow in any
/// allows; else implicit deny. Over possible-decision sets (each policy resolved independently):
/// explicit is possible when some policy may deny; allowed when some policy may allow and none
/// certainly denies; implicit when every policy may be implicit.
fn combine(sets: &[u8]) -> u8 {
    let explicit = sets.iter().any(|s| s & EXPLICIT != 0);
    let certain_deny = sets.contains(&EXPLICIT);
    let allowed = !certain_deny && sets.iter().any(|s| s & ALLOWED != 0);
    let implicit = !certain_deny && sets.iter().all(|s| s & IMPLICIT != 0);
    let mut out = 0;
    if explicit {
        out |= EXPLICIT;
    }
    if allowed {
        out |= ALLOWED;
    }
    if implicit {
        out |= IMPLICIT;
    }
    out
}

/// The cells of one evaluation: actions × resources × the given contexts.
struct Cells<'a> {
    actions: &'a [String],
    resources: Vec<String>,
    contexts: &'a [Context],
}

impl Cells<'_> {
    fn evaluate(&self, doc: &Value, username: &str, view: View) -> Vec<u8> {
        let ev = Evaluator::new(doc, username);
        let mut out =
            Vec::with_capacity(self.actions.len() * self.resources.len() * self.contexts.len());
        for a in self.actions {
            for r in &self.resources {
                for c in self.contexts {
                    out.push(bits(&ev.evaluate(a, r, *c, view).possible));
                }
            }
        }
        out
    }

    fn action_of(&self, i: usize) -> &str {
        let per = self.resources.len() * self.contexts.len();
        self.actions.get(i / per).map_or("", String::as_str)
    }
}

/// What evaluation finds for one channel.
#[derive(Clone)]
struct ChannelEval {
    actions_before: BTreeSet<String>,
    lost: BTreeSet<String>,
    maybe_lost: BTreeSet<String>,
}

fn evaluate_channel(
    p: &PrincipalInput,
    before: &Value,
    after: &Value,
    contexts: &[Context],
    fallback: bool,
) -> ChannelEval {
    let mut docs: Vec<&Value> = vec![before, after];
    if !fallback {
        docs.extend(p.others.iter());
    }
    let mut universe = universe_for(&docs);
    let (partition, account) = arn_parts(&p.arn);
    if let Some(part) = partition {
        universe.partition = part;
    }
    if let Some(acct) = account {
        universe.account = acct;
    }
    universe.username = p.name.clone();
    if universe.other_username == p.name {
        universe.other_username = format!("{}-other", p.name);
    }
    if universe.device_name == p.name {
        universe.device_name = format!("{}-device", p.name);
    }
    let cells = Cells {
        actions: &universe.actions,
        resources: ResourceKind::ALL
            .iter()
            .map(|k| resource_arn(&universe, *k))
            .collect(),
        contexts,
    };
    let view = if fallback {
        View::BesideAllowAll
    } else {
        View::Alone
    };
    let others: Vec<Vec<u8>> = if fallback {
        Vec::new()
    } else {
        p.others
            .iter()
            .map(|d| cells.evaluate(d, &p.name, View::Alone))
            .collect()
    };
    let b = cells.evaluate(before, &p.name, view);
    let a = cells.evaluate(after, &p.name, view);
    let mut out = ChannelEval {
        actions_before: BTreeSet::new(),
        lost: BTreeSet::new(),
        maybe_lost: BTreeSet::new(),
    };
    let mut sets = Vec::with_capacity(others.len() + 1);
    for i in 0..b.len() {
        sets.clear();
        sets.extend(others.iter().map(|o| o[i]));
        sets.push(b[i]);
        let before_set = combine(&sets);
        if let Some(last) = sets.last_mut() {
            *last = a[i];
        }
        let after_set = combine(&sets);
        if before_set & ALLOWED == 0 {
            continue;
        }
        let action = cells.action_of(i).to_string();
        if before_set == ALLOWED {
            out.actions_before.insert(action.clone());
        }
        if after_set == ALLOWED {
            continue;
        }
        if before_set == ALLOWED && after_set & ALLOWED == 0 {
            out.lost.insert(action);
        } else if before_set != after_set {
            out.maybe_lost.insert(action);
        }
    }
    out
}

/// `(partition, account)` of an ARN.
fn arn_parts(arn: &str) -> (Option<String>, Option<String>) {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let get = |i: usize| {
        parts
            .get(i)
            .filter(|s| !s.is_empty())
            .map(|s| s.to_string())
    };
    if parts.first() != Some(&"arn") {
        return (None, None);
    }
    (get(1), get(4))
}

/// A short description of the credentials, for the one-line verdict.
pub fn credentials_phrase(c: &Credentials) -> String {
    match c {
        Credentials::User(u) => {
            let mut parts = Vec::new();
            if u.password_enabled {
                parts.push(format!(
                    "console password {}",
                    u.password_last_used.phrase()
                ));
            }
            let active: Vec<&AccessKey> = u.access_keys.iter().filter(|k| k.active).collect();
            match active.len() {
                0 => {}
                1 => parts.push(format!("access key {}", active[0].last_used.phrase())),
                n => {
                    let last = active
                        .iter()
                        .fold(LastUsed::never(), |acc, k| acc.latest(k.last_used.clone()));
                    parts.push(format!("{n} access keys, last {}", last.phrase()));
                }
            }
            if u.mfa_devices.is_empty() {
                parts.push(if u.mfa_active {
                    "an MFA device of unknown kind".into()
                } else {
                    "no MFA device".into()
                });
            } else {
                let kinds: BTreeSet<&str> = u.mfa_devices.iter().map(|d| d.label()).collect();
                parts.push(kinds.into_iter().collect::<Vec<_>>().join(" + "));
            }
            if !u.password_enabled && active.is_empty() {
                parts.insert(0, "no password, no active access key".into());
            }
            parts.join(", ")
        }
        Credentials::Role(r) => {
            let mut who: Vec<String> = r.services.clone();
            who.extend(r.federated.iter().cloned());
            who.extend(r.aws.iter().cloned());
            let mut s = if who.is_empty() {
                "role nobody can assume".to_string()
            } else {
                format!("role assumed by {}", who.join(", "))
            };
            if r.requires_mfa {
                s.push_str(" (trust requires MFA)");
            }
            s.push_str(&format!(", {}", r.last_used.phrase()));
            s
        }
        Credentials::Unknown { why } => format!("credentials unknown ({why})"),
    }
}

const EXAMPLES: usize = 4;

/// Evaluations shared between principals of one change: principals with the same policy set,
/// account and channel contexts get the same answer unless a document names one of them (then
/// `${aws:username}` and literal ARNs could tell them apart, and they are evaluated on their own).
#[derive(Default)]
pub struct Cache {
    evals: HashMap<(String, Vec<Context>, bool), ChannelEval>,
}

/// The verdict for one principal of a change from `before` to `after` (the changed policy).
pub fn assess(p: &PrincipalInput, before: &Value, after: &Value) -> PrincipalImpact {
    assess_cached(p, before, after, &mut Cache::default())
}

/// The cache key of a principal's policy set, or `None` when a document names the principal.
fn cache_key(p: &PrincipalInput, before: &Value, after: &Value) -> Option<String> {
    let mut key = format!("{:?}\u{0}", arn_parts(&p.arn));
    for d in [before, after].into_iter().chain(p.others.iter()) {
        key.push_str(&d.to_string());
        key.push('\u{0}');
    }
    let name = p.name.to_lowercase();
    (!name.is_empty() && !key.to_lowercase().contains(&name)).then_some(key)
}

/// [`assess`], sharing evaluations through `cache`.
pub fn assess_cached(
    p: &PrincipalInput,
    before: &Value,
    after: &Value,
    cache: &mut Cache,
) -> PrincipalImpact {
    let phrase = credentials_phrase(&p.credentials);
    let mut result = PrincipalImpact {
        arn: p.arn.clone(),
        name: p.name.clone(),
        kind: p.kind,
        via: p.via.clone(),
        credentials: p.credentials.clone(),
        verdict: Verdict::Unaffected,
        because: String::new(),
        losses: Vec::new(),
        fallback: None,
        evidence: None,
    };
    let chans = match channels(&p.credentials) {
        Ok(c) => c,
        Err(why) => {
            result.verdict = Verdict::Unknown;
            result.because = format!("credentials could not be read ({why})");
            return result;
        }
    };
    let fallback = !p.missing.is_empty();
    if fallback {
        result.fallback = Some(format!(
            "not every policy of this principal could be read ({}): judged by the changed policy alone, beside an allow-everything policy (what its guard takes away, an upper bound)",
            p.missing.join(", ")
        ));
    }
    let key = cache_key(p, before, after);
    for ch in &chans {
        let ev = match &key {
            Some(k) => {
                let slot = (k.clone(), ch.contexts.clone(), fallback);
                match cache.evals.get(&slot) {
                    Some(ev) => ev.clone(),
                    None => {
                        let ev = evaluate_channel(p, before, after, &ch.contexts, fallback);
                        cache.evals.insert(slot, ev.clone());
                        ev
                    }
                }
            }
            None => evaluate_channel(p, before, after, &ch.contexts, fallback),
        };
        let (set, uncertain) = if !ev.lost.is_empty() {
            (&ev.lost, false)
        } else if !ev.maybe_lost.is_empty() {
            (&ev.maybe_lost, true)
        } else {
            continue;
        };
        let what = if fallback {
            format!("{} (what the changed policy's guard denies there)", ch.what)
        } else {
            ch.what.clone()
        };
        result.losses.push(Loss {
            what,
            short: ch.short.to_string(),
            contexts: ch.contexts.clone(),
            actions_before: ev.actions_before.len(),
            actions_lost: set.len(),
            examples: set.iter().take(EXAMPLES).cloned().collect(),
            kept: ev
                .actions_before
                .iter()
                .filter(|a| !set.contains(*a))
                .take(EXAMPLES)
                .cloned()
                .collect(),
            last_used: ch.last_used.clone(),
            fix: ch.fix.clone(),
            uncertain,
        });
    }
    let certain: Vec<&Loss> = result.losses.iter().filter(|l| !l.uncertain).collect();
    let maybe: Vec<&Loss> = result.losses.iter().filter(|l| l.uncertain).collect();
    let describe = |l: &Loss| -> String {
        let more = |shown: usize, n: usize| if n > shown { ", …" } else { "" };
        let kept_n = l.actions_before.saturating_sub(l.actions_lost);
        let scope = if fallback {
            format!("up to {} actions", l.actions_lost)
        } else if kept_n == 0 {
            format!("all {} actions it had", l.actions_lost)
        } else {
            format!("{} of {} actions it had", l.actions_lost, l.actions_before)
        };
        let kept = if kept_n > 0 && !fallback {
            format!(
                "; keeps {kept_n}: {}{}",
                l.kept.join(", "),
                more(l.kept.len(), kept_n)
            )
        } else {
            String::new()
        };
        format!(
            "{} {} ({scope}: {}{}{kept}); fix: {}",
            if l.uncertain { "may lose" } else { "loses" },
            l.short,
            l.examples.join(", "),
            more(l.examples.len(), l.actions_lost),
            l.fix
        )
    };
    if !certain.is_empty() {
        result.verdict = Verdict::LosesAccess;
        let lines: Vec<String> = certain.iter().map(|l| describe(l)).collect();
        result.because = format!("{phrase}: {}", lines.join("; "));
    } else if !maybe.is_empty() {
        result.verdict = Verdict::Unknown;
        let lines: Vec<String> = maybe.iter().map(|l| describe(l)).collect();
        result.because = format!(
            "{phrase}: {} (the evaluator met conditions it does not model)",
            lines.join("; ")
        );
    } else if chans.is_empty() {
        result.because = format!("{phrase}: no way to sign in or make requests");
    } else {
        result.because = format!("{phrase}: keeps every access it has");
    }
    if fallback && result.verdict != Verdict::Unaffected {
        result
            .because
            .push_str(" [changed policy alone: other policies not readable]");
    }
    result
}

/// The impact of a change on every principal it reaches.
pub fn impact(
    principals: &[PrincipalInput],
    before: &Value,
    after: &Value,
    credentials_as_of: Option<String>,
    notes: Vec<String>,
) -> Impact {
    let mut cache = Cache::default();
    let mut out = Impact {
        principals: principals
            .iter()
            .map(|p| assess_cached(p, before, after, &mut cache))
            .collect(),
        summary: String::new(),
        credentials_as_of,
        notes,
    };
    // Worst first, then by name: what the operator must read comes first.
    out.principals.sort_by(|a, b| {
        let rank = |v: Verdict| match v {
            Verdict::LosesAccess => 0,
            Verdict::Unknown => 1,
            Verdict::Unaffected => 2,
        };
        rank(a.verdict)
            .cmp(&rank(b.verdict))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.arn.cmp(&b.arn))
    });
    out.summarize();
    out
}

pub mod with_evidence;

#[cfg(test)]
mod tests;
