//! IAM wildcard patterns (`*` = any run of characters, `?` = exactly one character), compiled once.
//!
//! Actions match case-insensitively, resources and ARN condition values case-sensitively; callers
//! choose by lowercasing both sides (actions) or not (resources). Policy variables are resolved before
//! compilation by [`Template`], so that a substituted value (or an escape such as `${*}`) is a literal and
//! never a wildcard: AWS documents `${*}`, `${?}` and `${$}` exactly so that a literal `*` can be written.

/// One compiled pattern element.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `*`: zero or more characters.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A compiled wildcard pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    toks: Vec<Tok>,
    /// `*` alone: the overwhelmingly common case, answered without looking at the text.
    match_all: bool,
}

impl Glob {
    /// Compiles pattern text where `*` and `?` are wildcards and every other character is literal.
    pub fn new(pattern: &str) -> Glob {
        let toks: Vec<Tok> = pattern
            .chars()
            .map(|c| match c {
                '*' => Tok::Star,
                '?' => Tok::One,
                c => Tok::Lit(c),
            })
            .collect();
        Glob::from_toks(toks)
    }

    /// A pattern matching exactly `text`, whatever characters it contains.
    pub fn literal(text: &str) -> Glob {
        Glob::from_toks(text.chars().map(Tok::Lit).collect())
    }

    fn from_toks(mut toks: Vec<Tok>) -> Glob {
        // Collapse runs of `*`: same language, less backtracking.
        toks.dedup_by(|a, b| *a == Tok::Star && *b == Tok::Star);
        let match_all = toks == [Tok::Star];
        Glob { toks, match_all }
    }

    /// Whether the pattern matches all of `text` (given as chars, precomputed by the caller).
    pub fn matches(&self, text: &[char]) -> bool {
        if self.match_all {
            return true;
        }
        // Classic linear-backtracking wildcard match: remember the last `*` and retry from there.
        let (mut p, mut t) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.toks.get(p) {
                Some(Tok::Star) => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(Tok::One) => {
                    p += 1;
                    t += 1;
                }
                Some(Tok::Lit(c)) if text.get(t) == Some(c) => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.toks[p.min(self.toks.len())..]
            .iter()
            .all(|tok| *tok == Tok::Star)
    }

    /// Convenience for one-off matches.
    pub fn matches_str(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        self.matches(&chars)
    }

    fn extend(&mut self, other: Glob) {
        self.toks.extend(other.toks);
    }
}

/// Text containing policy variables (`${aws:username}`, `${*}`, …), before they are resolved.
pub enum Piece {
    /// Wildcard-bearing policy text.
    Pattern(String),
    /// A literal character string (an escape or a resolved variable).
    Literal(String),
    /// A policy variable: the key (as written) and its optional default (`${key, 'default'}`).
    Var(String, Option<String>),
}

/// Splits policy text into literal pattern text and `${…}` variables.
pub fn parse_template(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        if start > 0 {
            out.push(Piece::Pattern(rest[..start].to_string()));
        }
        let inner = &rest[start + 2..start + len];
        match inner {
            "*" | "?" | "$" => out.push(Piece::Literal(inner.to_string())),
            _ => {
                // `${aws:username, 'fallback'}`: AWS's default-value form.
                let (key, default) = match inner.split_once(',') {
                    Some((k, d)) => {
                        let d = d.trim();
                        let d = d
                            .strip_prefix('\'')
                            .and_then(|d| d.strip_suffix('\''))
                            .unwrap_or(d);
                        (k.trim(), Some(d.to_string()))
                    }
                    None => (inner.trim(), None),
                };
                out.push(Piece::Var(key.to_string(), default));
            }
        }
        rest = &rest[start + len + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Pattern(rest.to_string()));
    }
    out
}

/// Outcome of resolving a template against request-context values.
pub enum Resolved {
    Glob(Glob),
    /// A variable whose key is not present in the request context: AWS then treats the element as not
    /// matching (there is no value to compare with).
    Missing,
    /// A variable naming a key the evaluator does not model.
    Unknown(String),
}

/// Resolves `text` with `lookup(key_lowercase) -> Ok(Some(value)) | Ok(None) (absent) | Err(()) (not
/// modelled)` and compiles it; `lower` lowercases pattern text (case-insensitive matching).
pub fn resolve(
    text: &str,
    lower: bool,
    lookup: &dyn Fn(&str) -> Result<Option<String>, ()>,
) -> Resolved {
    let fold = |s: &str| {
        if lower {
            s.to_lowercase()
        } else {
            s.to_string()
        }
    };
    if !text.contains("${") {
        return Resolved::Glob(Glob::new(&fold(text)));
    }
    let mut glob = Glob::from_toks(Vec::new());
    for piece in parse_template(text) {
        match piece {
            Piece::Pattern(p) => glob.extend(Glob::new(&fold(&p))),
            Piece::Literal(l) => glob.extend(Glob::literal(&fold(&l))),
            Piece::Var(key, default) => match lookup(&key.to_ascii_lowercase()) {
                Ok(Some(v)) => glob.extend(Glob::literal(&fold(&v))),
                Ok(None) => match default {
                    Some(d) => glob.extend(Glob::literal(&fold(&d))),
                    None => return Resolved::Missing,
                },
                // Not modelled: its value is unknown (even with a default we cannot tell which applies).
                Err(()) => return Resolved::Unknown(key),
            },
        }
    }
    Resolved::Glob(Glob::from_toks(glob.toks))
}

/// Matches an ARN against an ARN pattern the way IAM does for `Resource` and `Arn*` conditions: each of
/// the six colon-separated components separately (so a `*` in the account never swallows the `:` that
/// follows it), the last component taking the rest of the text. Non-ARN patterns match as plain globs.
pub struct ArnGlob {
    whole: Glob,
    parts: Option<Vec<Glob>>,
}

impl ArnGlob {
    pub fn new(g: Glob) -> ArnGlob {
        // Split the compiled tokens at the first five literal colons.
        let mut parts: Vec<Vec<Tok>> = vec![Vec::new()];
        for tok in &g.toks {
            if *tok == Tok::Lit(':') && parts.len() < 6 {
                parts.push(Vec::new());
            } else if let Some(last) = parts.last_mut() {
                last.push(tok.clone());
            }
        }
        let is_arn = parts.len() == 6
            && parts
                .first()
                .is_some_and(|p| *p == "arn".chars().map(Tok::Lit).collect::<Vec<_>>());
        ArnGlob {
            parts: is_arn.then(|| parts.into_iter().map(Glob::from_toks).collect()),
            whole: g,
        }
    }

    pub fn matches(&self, text: &[char]) -> bool {
        let Some(parts) = &self.parts else {
            return self.whole.matches(text);
        };
        let mut segs = text.splitn(6, |c| *c == ':');
        for part in parts {
            match segs.next() {
                Some(seg) if part.matches(seg) => {}
                _ => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Glob::new(p).matches_str(t)
    }

    #[test]
    fn wildcards() {
        assert!(m("*", ""));
        assert!(m("iam:list*", "iam:listusers"));
        assert!(!m("iam:list*", "iam:getuser"));
        assert!(m("iam:list?sers", "iam:listusers"));
        assert!(!m("iam:list?sers", "iam:listsers"));
        assert!(m("*:*", "s3:getobject"));
        assert!(m("a*b*c", "aXXbYYbc"));
        assert!(!m("a*b*c", "aXXbYYb"));
        assert!(m("a**", "a"));
        assert!(!m("", "a"));
    }

    #[test]
    fn escapes_are_literal() {
        let lookup = |k: &str| {
            if k == "aws:username" {
                Ok(Some("al*ce".to_string()))
            } else {
                Err(())
            }
        };
        let Resolved::Glob(g) = resolve("user/${aws:username}${*}", false, &lookup) else {
            panic!("expected glob");
        };
        assert!(g.matches_str("user/al*ce*"));
        assert!(!g.matches_str("user/alice*"));
        assert!(!g.matches_str("user/al*ce-x"));
        assert!(matches!(
            resolve("${aws:SourceIp}", false, &lookup),
            Resolved::Unknown(_)
        ));
    }

    #[test]
    fn arn_components() {
        let a =
            |p: &str, t: &str| ArnGlob::new(Glob::new(p)).matches(&t.chars().collect::<Vec<_>>());
        assert!(a("arn:aws:iam::*:user/bob", "arn:aws:iam::123:user/bob"));
        assert!(a("arn:aws:iam::*:*", "arn:aws:iam::123:user/bob:x"));
        assert!(!a(
            "arn:aws:iam::*:user/bob",
            "arn:aws-cn:iam::123:user/bob"
        ));
        assert!(a("*", "anything"));
    }
}
