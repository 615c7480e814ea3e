//! Visible escaping of characters that would act on a terminal or break a line-oriented report:
//! control characters (C0, DEL, C1) and the invisible Unicode formatting characters that reorder
//! or hide text (bidirectional overrides and isolates, zero-width characters). Paths, policy
//! names, tag values and error messages come from files and accounts nobody here controls.
//!
//! The one helper for every output: renderers call [`escape`] on single-line values, the
//! terminal sink calls [`escape_lines`] on everything it prints.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters that must not reach a terminal or report as they are.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}' // zero-width no-break space
        )
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        _ => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// A single-line value (path, name, tag, message): every unsafe character, newlines and tabs
/// included, written as a visible escape (`\n`, `\u{1b}`).
pub fn escape(s: &str) -> String {
    if !s.chars().any(is_unsafe) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Multi-line text (reports, diffs): line breaks and tabs are kept, every other unsafe
/// character is escaped. With `keep_sgr`, colour sequences (`ESC [ digits ; m`) pass, so that
/// the report's own colours survive; a sequence that does anything else is escaped.
pub fn escape_lines(s: &str, keep_sgr: bool) -> String {
    if !s.chars().any(|c| is_unsafe(c) && c != '\n' && c != '\t') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if keep_sgr && c == '\u{1b}' {
            if let Some(len) = sgr_len(rest) {
                out.push_str(&rest[..len]);
                rest = &rest[len..];
                continue;
            }
        }
        if is_unsafe(c) && c != '\n' && c != '\t' {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// JSON text: the unsafe characters serde_json leaves raw (DEL, C1, bidirectional and
/// zero-width characters, which can only occur inside strings) written as JSON escapes
/// (`\u009b`), so the output stays valid JSON and safe to print.
pub fn escape_json(s: &str) -> Cow<'_, str> {
    let Some(first) = first_unsafe_in_json(s) else {
        return Cow::Borrowed(s);
    };
    let (clean, rest) = s.split_at_checked(first).unwrap_or(("", s));
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(clean);
    for c in rest.chars() {
        if unsafe_in_json(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// What [`escape_json`] escapes: [`is_unsafe`] but the line breaks and tabs of the layout.
fn unsafe_in_json(c: char) -> bool {
    is_unsafe(c) && c != '\n' && c != '\t' && c != '\r'
}

/// Where the first character [`escape_json`] must escape starts. Reports are mostly ASCII with
/// the odd arrow or ellipsis: the bytes are scanned for one that may start such a character (a
/// control character, DEL, or the lead byte of a non-ASCII character), and only those characters
/// are decoded and looked at.
fn first_unsafe_in_json(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(off) = bytes
        .get(i..)?
        .iter()
        .position(|&b| b >= 0x7f || (b < 0x20 && !matches!(b, b'\n' | b'\t' | b'\r')))
    {
        // Everything from `i` up to here is ASCII, so a character starts here.
        let at = i + off;
        let c = s.get(at..)?.chars().next()?;
        if unsafe_in_json(c) {
            return Some(at);
        }
        i = at + c.len_utf8();
    }
    None
}

/// The length of a Select Graphic Rendition sequence at the start of `s`, if there is one.
fn sgr_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix("\u{1b}[")?;
    let params = body
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b';')
        .count();
    (body.as_bytes().get(params) == Some(&b'm')).then_some(2 + params + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_invisible_characters_become_visible() {
        assert_eq!(escape("a\u{1b}[2Jb\nc\td"), "a\\u{1b}[2Jb\\nc\\td");
        assert_eq!(escape("x\u{202e}y\u{9b}"), "x\\u{202e}y\\u{9b}");
        assert_eq!(escape("plain/ünïcode.json"), "plain/ünïcode.json");
    }

    #[test]
    fn json_stays_json() {
        let v = serde_json::json!({"p": "a\u{9b}b\u{202e}c\u{1b}"});
        let raw = serde_json::to_string(&v).unwrap_or_default();
        let text = escape_json(&raw);
        assert!(!text.chars().any(is_unsafe), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, v);
    }

    #[test]
    fn json_text_is_borrowed_unless_something_needs_escaping() {
        for clean in ["{\"a\": 1}\n", "{\"p\": \"ünïcode\"}\r\n\t", ""] {
            assert!(matches!(escape_json(clean), Cow::Borrowed(t) if t == clean));
        }
        assert_eq!(escape_json("{\"a\u{7f}\"}"), "{\"a\\u007f\"}");
        assert_eq!(escape_json("{\"ü\u{200b}\"}"), "{\"ü\\u200b\"}");
        // Clean non-ASCII characters before the first one to escape, and after it.
        assert_eq!(
            escape_json("{\"a → b … \u{1b}[2J → \u{202e}\"}"),
            "{\"a → b … \\u001b[2J → \\u202e\"}"
        );
    }

    proptest::proptest! {
        /// Whatever the text, nothing unsafe is left but line breaks and tabs, and text that
        /// needed nothing comes back unchanged.
        #[test]
        fn json_escaping_leaves_nothing_unsafe(s in "\\PC*|[\\x00-\\x7f]*|.*") {
            let out = escape_json(&s);
            let unsafe_left = |t: &str| t.chars().any(|c| is_unsafe(c) && !matches!(c, '\n' | '\t' | '\r'));
            proptest::prop_assert!(!unsafe_left(&out));
            if !unsafe_left(&s) {
                proptest::prop_assert_eq!(out.as_ref(), s.as_str());
            }
        }
    }

    #[test]
    fn lines_keep_breaks_and_only_colour_sequences_when_asked() {
        let s = "\u{1b}[31mred\u{1b}[0m\n\u{1b}]0;title\u{7}\r";
        assert_eq!(
            escape_lines(s, true),
            "\u{1b}[31mred\u{1b}[0m\n\\u{1b}]0;title\\u{7}\\r"
        );
        assert_eq!(
            escape_lines(s, false),
            "\\u{1b}[31mred\\u{1b}[0m\n\\u{1b}]0;title\\u{7}\\r"
        );
    }
}
