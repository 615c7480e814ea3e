//! What the impact is about and what it says: principals, their credential facts, verdicts and
//! losses. Plain data, serialised into plans and reports.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::effect::Context;

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
    pub(super) fn cli_capable(self) -> Option<bool> {
        match self {
            MfaKind::Virtual | MfaKind::Hardware => Some(true),
            MfaKind::Fido => Some(false),
            MfaKind::HardwareOrFido => None,
        }
    }

    pub(super) fn label(self) -> &'static str {
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
    pub(super) fn latest(self, other: LastUsed) -> LastUsed {
        match (self.days_ago, other.days_ago) {
            (Some(a), Some(b)) if b < a => other,
            (None, Some(_)) => other,
            _ => self,
        }
    }

    pub(super) fn phrase(&self) -> String {
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
    /// Its permissions boundary: what any of its policies can allow at most.
    pub boundary: Boundary,
}

/// A principal's permissions boundary, as far as it could be read.
#[derive(Clone, Debug, Default)]
pub enum Boundary {
    /// None set: its policies alone decide.
    #[default]
    None,
    /// A managed policy whose document was read.
    Policy { arn: String, document: Value },
    /// The changed policy is also the boundary: its document before and after bounds the rest.
    Changed { arn: String },
    /// Set, but its document could not be read or parsed: the verdict says so.
    Unreadable { arn: String, why: String },
}

impl Boundary {
    /// What the verdict says of the boundary, or `None` when there is none.
    pub fn describe(&self) -> Option<String> {
        match self {
            Boundary::None => None,
            Boundary::Policy { arn, .. } => Some(format!("{arn} (evaluated)")),
            Boundary::Changed { arn } => Some(format!(
                "{arn} (the changed policy itself; evaluated before and after)"
            )),
            Boundary::Unreadable { arn, why } => Some(format!("{arn} (not evaluated: {why})")),
        }
    }
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
    /// Its permissions boundary, and whether it was evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundary: Option<String>,
}

impl PrincipalImpact {
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
