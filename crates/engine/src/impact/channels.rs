//! The channels of a principal: the ways it makes requests, each with the MFA situation its
//! requests can be in, read from the credential facts and nothing else.

use std::collections::BTreeSet;

use super::model::{AccessKey, Credentials, LastUsed, RoleTrust, UserCredentials};
use crate::effect::Context;

/// A way a principal makes requests.
pub(super) struct Channel {
    pub what: String,
    pub short: &'static str,
    pub contexts: Vec<Context>,
    pub last_used: LastUsed,
    pub fix: String,
}

/// The channels of a principal, from its credential facts.
pub(super) fn channels(credentials: &Credentials) -> Result<Vec<Channel>, String> {
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
