//! The policy document model: parse (plain or URL-encoded JSON), classify, inspect and print back.
//!
//! Documents are kept as `serde_json::Value` with key order preserved (`preserve_order`), so
//! unknown keys and the author's ordering survive a round trip. Typed accessors read the
//! string-or-list shapes IAM accepts; mutation helpers keep the author's choice of form (a
//! single string stays a string while it holds one value).

use serde_json::{Map, Value};

/// Why a text could not be used as a policy document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not valid JSON at all.
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// The same key twice in one object: JSON parsers keep one of them silently, so the
    /// document would not say what its author sees (IAM Access Analyzer flags it too).
    #[error("duplicate key {key:?} at line {line}, column {column}: only one of the two values would survive a rewrite; remove one of them")]
    DuplicateKey {
        key: String,
        line: usize,
        column: usize,
    },
}

/// How a document was written, so that it can be printed back the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Style {
    /// `None` for compact (single-line) JSON, else the indentation unit (`"  "`, `"    "`, `"\t"`).
    pub indent: Option<String>,
    /// The text ended with a newline.
    pub final_newline: bool,
    /// The text was URL-encoded (as IAM returns documents).
    pub url_encoded: bool,
    /// Windows line endings.
    pub crlf: bool,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            indent: Some("    ".to_string()),
            final_newline: true,
            url_encoded: false,
            crlf: false,
        }
    }
}

/// A parsed JSON text and how it was written.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub value: Value,
    pub style: Style,
}

/// Decode IAM's URL-encoding, only when the text is not already JSON. Percent-decoding, not form
/// decoding: `+` is a literal plus in IAM documents.
pub fn decode_document(text: &str) -> (String, bool) {
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.starts_with('{') || trimmed.starts_with('[') || !trimmed.contains('%') {
        return (text.trim_start_matches('\u{feff}').to_string(), false);
    }
    match percent_encoding::percent_decode_str(trimmed).decode_utf8() {
        Ok(decoded) => (decoded.into_owned(), true),
        Err(_) => (text.to_string(), false),
    }
}

/// Parse a JSON text (plain or URL-encoded) and remember its style.
pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    let (decoded, url_encoded) = decode_document(text);
    let value: Value = serde_json::from_str(&decoded).map_err(|e| ParseError::Json {
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    })?;
    reject_duplicate_keys(&decoded)?;
    let style = Style {
        indent: detect_indent(&decoded),
        final_newline: decoded.ends_with('\n'),
        url_encoded,
        crlf: decoded.contains("\r\n"),
    };
    Ok(Parsed { value, style })
}

/// Refuse a text with a key repeated in one object; the error names the key and where. This is
/// a second pass over the raw text, since `serde_json::Value` keeps only the last value of a
/// repeated key.
fn reject_duplicate_keys(text: &str) -> Result<(), ParseError> {
    let mut de = serde_json::Deserializer::from_str(text);
    match serde::de::Deserializer::deserialize_any(&mut de, NoDuplicates) {
        Ok(()) => Ok(()),
        Err(e) => {
            let message = strip_position(&e.to_string());
            match message.strip_prefix(DUPLICATE) {
                Some(key) => Err(ParseError::DuplicateKey {
                    key: key.to_string(),
                    line: e.line(),
                    column: e.column(),
                }),
                None => Err(ParseError::Json {
                    line: e.line(),
                    column: e.column(),
                    message,
                }),
            }
        }
    }
}

const DUPLICATE: &str = "\u{0}duplicate:";

/// Walks any JSON value, failing on the first object that repeats a key.
struct NoDuplicates;

impl<'de> serde::de::DeserializeSeed<'de> for NoDuplicates {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(NoDuplicates)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicates {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(NoDuplicates)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(serde::de::Error::custom(format!("{DUPLICATE}{key}")));
            }
            map.next_value_seed(NoDuplicates)?;
            seen.insert(key);
        }
        Ok(())
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// The indentation unit of a pretty-printed JSON text: the leading whitespace of its first
/// indented line. `None` when the object is written on one line.
fn detect_indent(text: &str) -> Option<String> {
    let body = text.trim();
    if !body.contains('\n') {
        return None;
    }
    body.lines()
        .skip(1)
        .find(|l| !l.trim().is_empty())
        .map(|l| {
            l.chars()
                .take_while(|c| *c == ' ' || *c == '\t')
                .collect::<String>()
        })
        .filter(|s| !s.is_empty())
        .or_else(|| Some("    ".to_string()))
}

/// Print a document in the given style. Untouched values print back identically for a given
/// style, which is what makes diffs of rewritten documents minimal.
pub fn render(value: &Value, style: &Style) -> String {
    let mut out = match &style.indent {
        None => serde_json::to_string(value).unwrap_or_default(),
        Some(indent) => {
            let mut buf = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
            if serde::Serialize::serialize(value, &mut ser).is_err() {
                return String::new();
            }
            String::from_utf8(buf).unwrap_or_default()
        }
    };
    if style.final_newline {
        out.push('\n');
    }
    if style.crlf {
        out = out.replace('\n', "\r\n");
    }
    out
}

/// Render as IAM receives a document: compact JSON (whitespace does not count toward limits
/// anyway, and compact keeps requests small).
pub fn render_compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Why a JSON value is not an identity policy document, or `None` if it is one.
pub fn not_a_policy_reason(value: &Value) -> Option<String> {
    let Some(obj) = value.as_object() else {
        return Some("top-level JSON value is not an object".into());
    };
    let Some(statement) = obj.get("Statement") else {
        return Some("no \"Statement\" element".into());
    };
    let statements: Vec<&Value> = match statement {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![statement],
        _ => return Some("\"Statement\" is neither an object nor an array".into()),
    };
    for (i, s) in statements.iter().enumerate() {
        let Some(s) = s.as_object() else {
            return Some(format!("statement {} is not an object", i + 1));
        };
        if !matches!(s.get("Effect").and_then(Value::as_str), Some(e) if e.eq_ignore_ascii_case("allow") || e.eq_ignore_ascii_case("deny"))
        {
            return Some(format!(
                "statement {} has no Effect of Allow or Deny",
                i + 1
            ));
        }
    }
    None
}

/// The statements of a policy document, whether `Statement` is one object or an array.
pub fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => Vec::new(),
    }
}

/// Mutable access to the statements. A single `Statement` object is turned into an array only
/// when a statement has to be added (see [`insert_statement`]).
pub fn statements_mut(doc: &mut Value) -> Vec<&mut Value> {
    match doc.get_mut("Statement") {
        Some(Value::Array(items)) => items.iter_mut().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => Vec::new(),
    }
}

/// Insert a statement at `index` (statement order), converting a single-object `Statement`
/// into an array.
pub fn insert_statement(doc: &mut Value, index: usize, statement: Value) {
    let Some(obj) = doc.as_object_mut() else {
        return;
    };
    match obj.get_mut("Statement") {
        Some(slot) => {
            if slot.is_object() {
                let single = slot.take();
                *slot = Value::Array(vec![single]);
            }
            if let Value::Array(items) = slot {
                let at = index.min(items.len());
                items.insert(at, statement);
            }
        }
        None => {
            obj.insert("Statement".into(), Value::Array(vec![statement]));
        }
    }
}

/// A statement's `Effect`, lowercased.
pub fn effect(statement: &Value) -> Option<String> {
    statement
        .get("Effect")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
}

/// Read a string-or-list element. `None` when absent; `Some(Err(()))` when present but not of
/// that shape.
pub fn string_list(statement: &Value, key: &str) -> Option<Result<Vec<String>, ()>> {
    let v = statement.get(key)?;
    Some(match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or(()))
            .collect(),
        _ => Err(()),
    })
}

/// A condition value as a lowercase scalar string, if it is one value (or a one-element list):
/// what a condition key is compared with, as text.
pub fn condition_scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_ascii_lowercase()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) if items.len() == 1 => condition_scalar(&items[0]),
        _ => None,
    }
}

/// Write a string-or-list element, keeping the existing form: a single value stays a plain
/// string if it was one; anything else becomes an array.
pub fn set_string_list(statement: &mut Value, key: &str, values: &[String]) {
    let Some(obj) = statement.as_object_mut() else {
        return;
    };
    let was_string = matches!(obj.get(key), Some(Value::String(_)));
    let new = if was_string && values.len() == 1 {
        Value::String(values[0].clone())
    } else {
        Value::Array(values.iter().cloned().map(Value::String).collect())
    };
    if let Some(slot) = obj.get_mut(key) {
        *slot = new;
    } else {
        obj.insert(key.to_string(), new);
    }
}

/// Rename a key of an object in place, keeping its position.
pub fn rename_key(map: &mut Map<String, Value>, from: &str, to: &str) {
    if from == to || !map.contains_key(from) {
        return;
    }
    let old = std::mem::take(map);
    for (k, v) in old {
        if k == from {
            map.insert(to.to_string(), v);
        } else {
            map.insert(k, v);
        }
    }
}

/// Insert a key at a given position of an ordered object.
pub fn insert_key_at(map: &mut Map<String, Value>, index: usize, key: &str, value: Value) {
    let old = std::mem::take(map);
    let mut inserted = false;
    for (i, (k, v)) in old.into_iter().enumerate() {
        if i == index && !inserted {
            map.insert(key.to_string(), value.clone());
            inserted = true;
        }
        map.insert(k, v);
    }
    if !inserted {
        map.insert(key.to_string(), value);
    }
}

/// The partition used by the document's ARNs (`aws`, `aws-cn`, `aws-us-gov`, …), if any.
pub fn partition(doc: &Value) -> Option<String> {
    arns(doc).into_iter().find_map(|arn| {
        let mut parts = arn.splitn(3, ':');
        match (parts.next(), parts.next()) {
            (Some("arn"), Some(p)) if !p.is_empty() && !p.contains('*') => Some(p.to_string()),
            _ => None,
        }
    })
}

/// The account component shared by the document's IAM ARNs, or `*` when they disagree or
/// there are none (AWS's published policies use `*`).
pub fn iam_account(doc: &Value) -> String {
    let mut found: Option<String> = None;
    for arn in arns(doc) {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() >= 6 && parts[0] == "arn" && parts[2] == "iam" {
            let account = parts[4].to_string();
            match &found {
                None => found = Some(account),
                Some(a) if *a == account => {}
                Some(_) => return "*".into(),
            }
        }
    }
    found.unwrap_or_else(|| "*".into())
}

fn arns(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for s in statements(doc) {
        for key in ["Resource", "NotResource"] {
            if let Some(Ok(list)) = string_list(s, key) {
                out.extend(list.into_iter().filter(|r| r.starts_with("arn:")));
            }
        }
    }
    out
}

/// Characters IAM accepts in a policy document: tab, LF, CR and U+0020–U+00FF.
pub fn disallowed_characters(text: &str) -> Vec<char> {
    let mut bad: Vec<char> = text
        .chars()
        .filter(|c| !matches!(*c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}'))
        .collect();
    bad.sort_unstable();
    bad.dedup();
    bad
}

/// Size as IAM counts it against its limits: characters other than whitespace.
pub fn iam_size(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// Whether `${name}` is an IAM policy variable: a condition key (`aws:username`, `saml:sub`,
/// with an optional `, 'default'`) or one of the escapes `*`, `?`, `$`.
pub fn is_iam_variable(name: &str) -> bool {
    let key = name.split(',').next().unwrap_or("").trim();
    if matches!(key, "*" | "?" | "$") {
        return true;
    }
    let Some((prefix, rest)) = key.split_once(':') else {
        return false;
    };
    !prefix.is_empty()
        && !rest.is_empty()
        && !rest.contains(':')
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_/.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoded_documents_decode_with_percent_not_form_rules() {
        let enc = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGet%2B%22%2C%22Resource%22%3A%22*%22%7D%5D%7D";
        let p = parse(enc).unwrap_or_else(|e| panic!("{e}"));
        assert!(p.style.url_encoded);
        assert_eq!(p.value["Statement"][0]["Action"], "s3:Get+");
    }

    #[test]
    fn plain_json_with_percent_sign_is_not_decoded() {
        let p = parse("{\"Statement\":[],\"Id\":\"100%25\"}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.value["Id"], "100%25");
        assert!(!p.style.url_encoded);
    }

    #[test]
    fn invalid_json_reports_line_and_column() {
        let err = parse("{\n  \"Statement\": [\n  }\n").err();
        match err {
            Some(ParseError::Json { line, .. }) => assert_eq!(line, 3),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn style_round_trips_indentation_and_newline() {
        for text in [
            "{\n  \"A\": 1,\n  \"B\": [\n    \"x\"\n  ]\n}\n",
            "{\n    \"A\": 1\n}",
            "{\n\t\"A\": 1\n}\n",
            "{\"A\":1,\"B\":[\"x\"]}",
        ] {
            let p = parse(text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(render(&p.value, &p.style), text);
        }
    }

    #[test]
    fn set_string_list_keeps_string_form_for_one_value() {
        let mut s = serde_json::json!({"Action": "iam:GetUser"});
        set_string_list(&mut s, "Action", &["iam:ListUsers".into()]);
        assert_eq!(s["Action"], "iam:ListUsers");
        set_string_list(&mut s, "Action", &["a:b".into(), "c:d".into()]);
        assert_eq!(s["Action"], serde_json::json!(["a:b", "c:d"]));
    }

    #[test]
    fn account_and_partition_come_from_iam_arns() {
        let d = serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "iam:GetUser",
            "Resource": ["arn:aws-cn:iam::123456789012:user/${aws:username}"]}]});
        assert_eq!(partition(&d).as_deref(), Some("aws-cn"));
        assert_eq!(iam_account(&d), "123456789012");
    }

    #[test]
    fn iam_character_rules() {
        assert!(disallowed_characters("{\"a\": \"é\"}").is_empty());
        assert_eq!(disallowed_characters("{\"a\": \"€\"}"), vec!['€']);
        assert_eq!(iam_size("{ \"a\" :\n 1 }"), 7);
    }
}
