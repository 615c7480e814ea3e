//! The CloudTrail record, as AWS documents it ("CloudTrail record contents for management,
//! data, and network activity events",
//! <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>,
//! and "CloudTrail userIdentity element",
//! <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html>).
//! Only the fields evidence reads are modelled; the rest is ignored. Every field is optional:
//! a record missing one is still read, and what it lacks makes its request `unknown`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One CloudTrail record (an element of a log file's `Records`, or a `LookupEvents` event's
/// `CloudTrailEvent`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    #[serde(rename = "eventID", default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub event_source: Option<String>,
    #[serde(default)]
    pub event_name: Option<String>,
    /// RFC 3339 in UTC (`2026-12-06T10:00:00Z`).
    #[serde(default)]
    pub event_time: Option<String>,
    #[serde(default)]
    pub aws_region: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub user_identity: Option<UserIdentity>,
    #[serde(default)]
    pub resources: Option<Vec<RecordResource>>,
    #[serde(default)]
    pub request_parameters: Option<Value>,
    #[serde(default)]
    pub recipient_account_id: Option<String>,
    /// `AwsApiCall`, `AwsConsoleSignIn`, `AwsServiceEvent`, …
    #[serde(default)]
    pub event_type: Option<String>,
}

/// `userIdentity`: who made the call and with which credentials.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// `IAMUser`, `AssumedRole`, `Root`, `FederatedUser`, `AWSService`, …
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    /// `AKIA…` for a long-term key, `ASIA…` for temporary credentials.
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub session_context: Option<SessionContext>,
}

/// `userIdentity.sessionContext`: present for temporary credentials.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    #[serde(default)]
    pub attributes: Option<Attributes>,
    #[serde(default)]
    pub session_issuer: Option<SessionIssuer>,
}

/// `sessionContext.attributes`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attributes {
    /// `"true"` or `"false"` (a string in CloudTrail; a JSON boolean is read too).
    #[serde(default)]
    pub mfa_authenticated: Option<Value>,
    /// When the session was created (RFC 3339).
    #[serde(default)]
    pub creation_date: Option<String>,
}

/// `sessionContext.sessionIssuer`: the role (or user) whose session this is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub user_name: Option<String>,
}

/// An element of `resources`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordResource {
    #[serde(rename = "ARN", default)]
    pub arn: Option<String>,
    #[serde(rename = "accountId", default)]
    pub account_id: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

impl Record {
    /// Parses one record from JSON text.
    pub fn parse(text: &str) -> Result<Record, String> {
        serde_json::from_str(text).map_err(|e| format!("not a CloudTrail record: {e}"))
    }

    /// The records of a CloudTrail log file (`{"Records": [...]}`); a record that is not an
    /// object of the documented shape is counted in the second value, never dropped silently.
    pub fn from_log_file(text: &str) -> Result<(Vec<Record>, usize), String> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| format!("not a CloudTrail log file: {e}"))?;
        let Some(items) = v.get("Records").and_then(Value::as_array) else {
            return Err("not a CloudTrail log file: no `Records` list".into());
        };
        let mut out = Vec::with_capacity(items.len());
        let mut bad = 0;
        for item in items {
            match serde_json::from_value::<Record>(item.clone()) {
                Ok(r) => out.push(r),
                Err(_) => bad += 1,
            }
        }
        Ok((out, bad))
    }

    /// Seconds since the Unix epoch of `eventTime`.
    pub fn time(&self) -> Option<i64> {
        self.event_time.as_deref().and_then(parse_time)
    }

    pub fn identity_type(&self) -> &str {
        self.user_identity
            .as_ref()
            .and_then(|u| u.kind.as_deref())
            .unwrap_or("")
    }

    pub fn access_key_id(&self) -> Option<&str> {
        self.user_identity
            .as_ref()
            .and_then(|u| u.access_key_id.as_deref())
            .filter(|k| !k.is_empty())
    }

    pub fn user_name(&self) -> Option<&str> {
        self.user_identity
            .as_ref()
            .and_then(|u| u.user_name.as_deref())
    }

    /// The ARN of the role whose session made the call (assumed roles).
    pub fn role_arn(&self) -> Option<&str> {
        let u = self.user_identity.as_ref()?;
        if u.kind.as_deref() != Some("AssumedRole") {
            return None;
        }
        u.session_context
            .as_ref()?
            .session_issuer
            .as_ref()?
            .arn
            .as_deref()
    }

    fn attributes(&self) -> Option<&Attributes> {
        self.user_identity
            .as_ref()?
            .session_context
            .as_ref()?
            .attributes
            .as_ref()
    }

    /// `sessionContext.attributes.mfaAuthenticated`: `Some(true/false)`, `None` when absent.
    pub fn mfa_authenticated(&self) -> Option<bool> {
        match self.attributes()?.mfa_authenticated.as_ref()? {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// Seconds between the session's `creationDate` and the event: an approximation of
    /// `aws:MultiFactorAuthAge` (the MFA was presented when the session was made).
    pub fn session_age(&self) -> Option<i64> {
        let created = parse_time(self.attributes()?.creation_date.as_deref()?)?;
        Some((self.time()? - created).max(0))
    }
}

/// Seconds since the Unix epoch of an RFC 3339 time (`2026-12-06T10:00:00Z`,
/// `2026-12-06T10:00:00.123+01:00`); `None` when it is not one.
pub fn parse_time(text: &str) -> Option<i64> {
    let t = text.trim();
    let b = t.as_bytes();
    if b.len() < 20 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
        return None;
    }
    let num = |s: &str| -> Option<i64> {
        if s.bytes().all(|c| c.is_ascii_digit()) && !s.is_empty() {
            s.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(t.get(0..4)?)?, num(t.get(5..7)?)?, num(t.get(8..10)?)?);
    let (h, mi, s) = (
        num(t.get(11..13)?)?,
        num(t.get(14..16)?)?,
        num(t.get(17..19)?)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = t.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = frac.get(digits..)?;
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let oh = num(rest.get(1..3)?)?;
            let om = num(rest.get(4..6)?)?;
            if rest.len() != 6 || rest.as_bytes().get(3) != Some(&b':') {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a day number (the inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// RFC 3339 (UTC, seconds) of an epoch time.
pub fn format_time(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}
