//! Event source + event name → the IAM action that authorises the call, from the data table
//! `event_names.txt` (embedded at build time; each row cites its source).

use std::collections::HashMap;
use std::sync::OnceLock;

/// The table as written.
pub const TABLE: &str = include_str!("event_names.txt");

/// What authorises an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mapped {
    /// The IAM action (`s3:ListAllMyBuckets`).
    Action(String),
    /// Not decided by identity policies (sign-in, `sts:GetCallerIdentity`): the guard cannot
    /// refuse it.
    NoPolicy(String),
    /// No action can be named, and why.
    Unknown(String),
}

#[derive(Debug, Default)]
struct Table {
    /// (event source, event name) → action or `-`, with its source.
    names: HashMap<(String, String), (String, String)>,
    /// event source → service prefix or `-`, with its source.
    prefixes: HashMap<String, (String, String)>,
}

/// One row of the table: `(event source, event name or *, action/prefix/-, source)`.
pub fn rows() -> Result<Vec<(String, String, String, String)>, String> {
    let mut out = Vec::new();
    for (i, line) in TABLE.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(" | ").map(str::trim).collect();
        let [src, name, action, source] = f.as_slice() else {
            return Err(format!(
                "event_names.txt line {}: expected 4 fields separated by \" | \"",
                i + 1
            ));
        };
        if !source.starts_with("https://") {
            return Err(format!(
                "event_names.txt line {}: the source must be an https address",
                i + 1
            ));
        }
        out.push((
            src.to_string(),
            name.to_string(),
            action.to_string(),
            source.to_string(),
        ));
    }
    Ok(out)
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = Table::default();
        // A malformed row is caught by the unit test on the embedded table; here it is skipped.
        for (src, name, action, source) in rows().unwrap_or_default() {
            if name == "*" {
                t.prefixes.insert(src.to_lowercase(), (action, source));
            } else {
                t.names
                    .insert((src.to_lowercase(), name.to_lowercase()), (action, source));
            }
        }
        t
    })
}

/// An event name without an API-version suffix (`ListFunctions20150331`,
/// `GetFunction20150331v2`, `GetDistribution2020_05_31`): some services (Lambda, CloudFront)
/// record the versioned operation name.
pub fn strip_version(name: &str) -> &str {
    let mut end = name.len();
    let b = name.as_bytes();
    // A trailing `v<digits>`.
    let digits = b.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 && digits < end && b[end - digits - 1] == b'v' {
        let before = end - digits - 1;
        if before >= 8 && b[before - 8..before].iter().all(u8::is_ascii_digit) {
            end = before;
        }
    }
    let s = &b[..end];
    if s.len() > 8 && s[s.len() - 8..].iter().all(u8::is_ascii_digit) {
        return &name[..end - 8];
    }
    if s.len() > 10 {
        let tail = &s[s.len() - 10..];
        let shape = tail.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'_',
            _ => c.is_ascii_digit(),
        });
        if shape {
            return &name[..end - 10];
        }
    }
    &name[..end]
}

/// The IAM action of an event.
pub fn map(event_source: &str, event_name: &str) -> Mapped {
    let t = table();
    let src = event_source.trim().to_lowercase();
    let name = strip_version(event_name.trim());
    if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Mapped::Unknown(format!(
            "event name {event_name:?} is not an API operation name"
        ));
    }
    if let Some((action, _)) = t.names.get(&(src.clone(), name.to_lowercase())) {
        return if action == "-" {
            Mapped::NoPolicy(format!(
                "{event_source} {event_name} is not decided by identity policies"
            ))
        } else {
            Mapped::Action(action.clone())
        };
    }
    let prefix = match t.prefixes.get(&src) {
        Some((p, _)) if p == "-" => {
            return Mapped::NoPolicy(format!(
                "{event_source} events are not decided by identity policies"
            ))
        }
        Some((p, _)) => p.clone(),
        None => match src.strip_suffix(".amazonaws.com") {
            Some(p) if !p.is_empty() && !p.contains('.') => p.to_string(),
            _ => {
                return Mapped::Unknown(format!(
                    "event source {event_source:?} has no known IAM service prefix"
                ))
            }
        },
    };
    Mapped::Action(format!("{prefix}:{name}"))
}
