//! A YAML (and JSON, which is YAML's flow syntax) tree with byte spans, built from
//! `saphyr-parser`'s spanned events. Spans are what the writer replaces; everything outside them
//! is never touched.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};

use crate::model::IacError;

#[derive(Debug, Clone)]
pub(crate) enum V {
    Scalar(String, ScalarStyle),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub v: V,
    /// Byte range of the node's text (tag and anchor included, trailing comments excluded).
    pub start: usize,
    pub end: usize,
    /// 1-based line and 0-based column (characters) of the start.
    pub line: usize,
    /// Local tag (`Sub` for `!Sub`), if any.
    pub tag: Option<String>,
    /// A flow collection (`[…]`, `{…}`).
    pub flow: bool,
    /// An alias (`*name`): the value is the anchored node's, the span the alias's.
    pub alias: bool,
    /// The parser's id of the anchor this node defines (`&name`), 0 when none.
    pub anchor: usize,
}

/// Every document of a YAML stream, and where each anchor is used.
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    pub docs: Vec<Node>,
    /// Each alias: the id of its anchor and its 1-based line.
    pub aliases: Vec<(usize, usize)>,
}

/// Anchors defined in `n` or below it: (id, 1-based line).
pub(crate) fn anchors_in(n: &Node, out: &mut Vec<(usize, usize)>) {
    if n.alias {
        return;
    }
    if n.anchor > 0 {
        out.push((n.anchor, n.line));
    }
    match &n.v {
        V::Seq(items) => items.iter().for_each(|i| anchors_in(i, out)),
        V::Map(entries) => entries.iter().for_each(|(k, v)| {
            anchors_in(k, out);
            anchors_in(v, out);
        }),
        V::Scalar(..) => {}
    }
}

/// The name of the anchor written at the start of `text` (`&guard` → `guard`), after a tag.
pub(crate) fn anchor_name(text: &str) -> Option<&str> {
    text.split_whitespace()
        .take(2)
        .find_map(|t| t.strip_prefix('&'))
        .filter(|n| !n.is_empty())
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.v {
            V::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.v, V::Scalar(s, _) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn str(&self) -> Option<&str> {
        match &self.v {
            V::Scalar(s, _) if self.tag.is_none() => Some(s),
            _ => None,
        }
    }
}

/// Parse the first document of `text` (Terraform JSON is one document).
pub(crate) fn parse(text: &str) -> Result<Node, IacError> {
    parse_stream(text)?
        .docs
        .into_iter()
        .next()
        .ok_or_else(|| IacError::Syntax {
            line: 1,
            message: "empty document".into(),
        })
}

/// Parse every document of `text` (a `---`-separated stream; usually one).
pub(crate) fn parse_stream(text: &str) -> Result<Stream, IacError> {
    let mut events = Vec::new();
    for ev in Parser::new_from_str(text) {
        let (e, span) = ev.map_err(|e| IacError::Syntax {
            line: e.marker().line(),
            message: e.info().to_string(),
        })?;
        events.push((e, span));
    }
    let bytes = ByteIndex::new(text);
    let mut b = Builder {
        text,
        bytes,
        events,
        pos: 0,
        anchors: HashMap::new(),
        aliases: Vec::new(),
    };
    let mut docs = Vec::new();
    while b.pos < b.events.len() {
        if matches!(
            b.events[b.pos].0,
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..)
        ) {
            docs.push(b.node()?);
        } else {
            b.pos += 1;
        }
    }
    if docs.is_empty() {
        return Err(IacError::Syntax {
            line: 1,
            message: "empty document".into(),
        });
    }
    Ok(Stream {
        docs,
        aliases: b.aliases,
    })
}

struct ByteIndex {
    /// `None` when the text is ASCII (character index = byte index).
    table: Option<Vec<usize>>,
    len: usize,
}

impl ByteIndex {
    fn new(text: &str) -> ByteIndex {
        let table = (!text.is_ascii()).then(|| text.char_indices().map(|(i, _)| i).collect());
        ByteIndex {
            table,
            len: text.len(),
        }
    }
    fn at(&self, char_index: usize) -> usize {
        match &self.table {
            None => char_index.min(self.len),
            Some(t) => t.get(char_index).copied().unwrap_or(self.len),
        }
    }
}

struct Builder<'a> {
    text: &'a str,
    bytes: ByteIndex,
    events: Vec<(Event<'a>, saphyr_parser::Span)>,
    pos: usize,
    anchors: HashMap<usize, Node>,
    aliases: Vec<(usize, usize)>,
}

impl Builder<'_> {
    fn err(&self, message: &str) -> IacError {
        let line = self.events.get(self.pos).map_or(1, |(_, s)| s.start.line());
        IacError::Syntax {
            line,
            message: message.into(),
        }
    }

    fn node(&mut self) -> Result<Node, IacError> {
        let Some((ev, span)) = self.events.get(self.pos).cloned() else {
            return Err(self.err("unexpected end of document"));
        };
        self.pos += 1;
        let start = self.bytes.at(span.start.index());
        let line = span.start.line();
        let tag_of = |t: &Option<std::borrow::Cow<'_, saphyr_parser::Tag>>| {
            t.as_ref()
                .filter(|t| t.handle == "!")
                .map(|t| t.suffix.clone())
        };
        let (node, anchor) = match ev {
            Event::Alias(id) => {
                let mut n = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| self.err("alias to an unknown anchor"))?;
                n.start = start;
                n.end = self.plain_end(start, self.bytes.at(span.end.index()));
                n.line = line;
                n.alias = true;
                n.anchor = 0;
                self.aliases.push((id, line));
                (n, 0)
            }
            Event::Scalar(value, style, anchor, tag) => {
                let raw_end = self.bytes.at(span.end.index());
                let end = match style {
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                        self.quoted_end(start, style).unwrap_or(raw_end)
                    }
                    ScalarStyle::Plain => self.plain_end(start, raw_end),
                    _ => raw_end,
                };
                (
                    Node {
                        v: V::Scalar(value.into_owned(), style),
                        start,
                        end,
                        line,
                        tag: tag_of(&tag),
                        flow: false,
                        alias: false,
                        anchor,
                    },
                    anchor,
                )
            }
            Event::SequenceStart(anchor, tag) => {
                let flow = self.text[start..self.bytes.at(span.end.index())]
                    .trim_end()
                    .ends_with('[');
                let (v, end) = self.seq(start, flow)?;
                let node = Node {
                    v,
                    start,
                    end,
                    line,
                    tag: tag_of(&tag),
                    flow,
                    alias: false,
                    anchor,
                };
                (node, anchor)
            }
            Event::MappingStart(anchor, tag) => {
                let flow = self.text[start..self.bytes.at(span.end.index())]
                    .trim_end()
                    .ends_with('{');
                let (v, end) = self.map(start, flow)?;
                let node = Node {
                    v,
                    start,
                    end,
                    line,
                    tag: tag_of(&tag),
                    flow,
                    alias: false,
                    anchor,
                };
                (node, anchor)
            }
            _ => return Err(self.err("unexpected YAML event")),
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    /// A sequence's items up to its end event, and where it ends.
    fn seq(&mut self, start: usize, flow: bool) -> Result<(V, usize), IacError> {
        let mut items: Vec<Node> = Vec::new();
        loop {
            match self.events.get(self.pos) {
                Some((Event::SequenceEnd, s)) => {
                    let s = *s;
                    self.pos += 1;
                    let end = if flow {
                        self.bytes.at(s.end.index())
                    } else {
                        items.last().map_or(start, |n| n.end)
                    };
                    return Ok((V::Seq(items), end));
                }
                Some(_) => items.push(self.node()?),
                None => return Err(self.err("unterminated sequence")),
            }
        }
    }

    /// A mapping's entries up to its end event (a key written twice is an error), and where
    /// it ends.
    fn map(&mut self, start: usize, flow: bool) -> Result<(V, usize), IacError> {
        let mut entries: Vec<(Node, Node)> = Vec::new();
        loop {
            match self.events.get(self.pos) {
                Some((Event::MappingEnd, s)) => {
                    let s = *s;
                    self.pos += 1;
                    let end = if flow {
                        self.bytes.at(s.end.index())
                    } else {
                        entries.last().map_or(start, |(_, v)| v.end)
                    };
                    return Ok((V::Map(entries), end));
                }
                Some(_) => {
                    let k = self.node()?;
                    let v = self.node()?;
                    duplicate_key(&entries, &k)?;
                    entries.push((k, v));
                }
                None => return Err(self.err("unterminated mapping")),
            }
        }
    }

    /// The end of a quoted scalar: its closing quote (the parser's end can run past comments).
    fn quoted_end(&self, start: usize, style: ScalarStyle) -> Option<usize> {
        let q = if style == ScalarStyle::SingleQuoted {
            b'\''
        } else {
            b'"'
        };
        let bytes = self.text.as_bytes();
        let open = start + bytes[start..].iter().position(|b| *b == q)?;
        let mut i = open + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if q == b'"' => i += 2,
                b'\'' if q == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
                b if b == q => return Some(i + 1),
                _ => i += 1,
            }
        }
        None
    }

    /// A plain scalar's end without trailing blanks or a comment.
    fn plain_end(&self, start: usize, end: usize) -> usize {
        let end = end.max(start).min(self.text.len());
        let s = &self.text[start..end];
        let s = match s.find(" #") {
            Some(i) => &s[..i],
            None => s,
        };
        start + s.trim_end().len()
    }
}

/// A key written twice in one mapping: YAML parsers keep one of the values silently (and which one
/// differs between them), so the file is refused, as IAM Access Analyzer refuses such a policy.
fn duplicate_key(entries: &[(Node, Node)], k: &Node) -> Result<(), IacError> {
    let V::Scalar(key, _) = &k.v else {
        return Ok(());
    };
    if key == "<<" || k.alias {
        return Ok(());
    }
    match entries
        .iter()
        .find(|(prev, _)| matches!(&prev.v, V::Scalar(p, _) if p == key))
    {
        Some((prev, _)) => Err(IacError::Syntax {
            line: k.line,
            message: format!(
                "duplicate key {key:?} (also at line {}): only one of the values would be used; remove the duplicate",
                prev.line
            ),
        }),
        None => Ok(()),
    }
}
