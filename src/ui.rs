//! The one place that writes to the terminal: results to stdout, messages and prompts to
//! stderr. Colour follows `--color`, `NO_COLOR` and whether the stream is a terminal.

use std::io::{IsTerminal, Write};

use crate::cli::ColorChoice;

/// The one escaping helper (see [`crate::engine::escape`]): single-line values from files and
/// accounts (paths, names, tags, messages) go through `escape`; everything printed goes through
/// `escape_lines` in the sink below, so no control character reaches the terminal even when a
/// renderer forgot to escape a value.
pub use crate::engine::escape::{escape, escape_json, escape_lines};

#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub color: bool,
    pub quiet: bool,
    pub verbose: bool,
}

impl Ui {
    pub fn new(choice: ColorChoice, quiet: bool, verbose: bool) -> Ui {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        };
        console::set_colors_enabled(color);
        console::set_colors_enabled_stderr(color);
        Ui {
            color,
            quiet,
            verbose,
        }
    }

    /// Results (stdout). Broken pipes (`| head`) are not errors worth a panic.
    pub fn out(&self, text: &str) -> Result<(), crate::error::Error> {
        // JSON and SARIF reports: JSON escapes, so the output stays valid JSON.
        self.out_piece(text, text.starts_with(['{', '[']))
    }

    /// A piece of a report printed as it is made, escaped as [`Ui::out`] escapes the whole
    /// report (`json`: as JSON, chosen by the report's format, not by the piece's first
    /// character).
    pub fn out_piece(&self, text: &str, json: bool) -> Result<(), crate::error::Error> {
        let text = if json {
            escape_json(text)
        } else {
            std::borrow::Cow::Owned(escape_lines(text, self.color))
        };
        // A report that did not reach its reader is a failed run, never a silent exit 0; a
        // reader that stopped reading (`| head`) is not a failure of the run.
        let mut o = std::io::stdout().lock();
        closed_pipe_is_fine(o.write_all(text.as_bytes()).and_then(|()| o.flush())).map_err(
            |source| crate::error::Error::Write {
                path: "standard output".to_string(),
                source,
            },
        )
    }

    /// A JSON report (stdout), serialised straight to the stream as [`Ui::out`] would print its
    /// text: JSON escapes for the characters serde leaves raw, a final newline, and an error
    /// (never an exit 0) when it cannot be written. `what` names it in a serialisation error.
    pub fn out_json<T: serde::Serialize + ?Sized>(
        &self,
        what: &str,
        value: &T,
    ) -> Result<(), crate::error::Error> {
        // serde writes token by token: the buffer comes first, so that escaping sees blocks.
        let mut w = std::io::BufWriter::with_capacity(
            1 << 16,
            JsonEscaping {
                inner: std::io::stdout().lock(),
                pending: Vec::new(),
            },
        );
        let written = serde_json::to_writer_pretty(&mut w, value);
        let write_error = |source| crate::error::Error::Write {
            path: "standard output".to_string(),
            source,
        };
        match written {
            Ok(()) => {}
            Err(e) if e.is_io() => {
                return closed_pipe_is_fine(Err(std::io::Error::from(e))).map_err(write_error)
            }
            Err(source) => {
                return Err(crate::error::Error::Serialize {
                    what: what.to_string(),
                    source,
                })
            }
        }
        closed_pipe_is_fine(
            w.write_all(b"\n")
                .and_then(|()| w.into_inner().map_err(std::io::IntoInnerError::into_error))
                .and_then(|mut escaping| escaping.finish()),
        )
        .map_err(write_error)
    }

    /// Messages (stderr), suppressed by `--quiet`.
    pub fn info(&self, text: &str) {
        if !self.quiet {
            let text = escape_lines(text, self.color);
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    }

    /// Warnings and errors (stderr), always shown.
    pub fn warn(&self, text: &str) {
        let text = escape_lines(text, self.color);
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}

/// A closed pipe on standard output (`forcemfa plan | head -1`) means the reader has what it
/// wanted: the run ends quietly with its own exit code, not a write error.
fn closed_pipe_is_fine(r: std::io::Result<()>) -> std::io::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// Whether prompts can be shown: both stdin and stderr are terminals.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// The operator's answer to "apply this change?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    All,
    Quit,
    /// Ctrl-C at the prompt: the run stops as if interrupted (exit 130).
    Interrupted,
}

/// Ask y/n/a/q on the terminal. An interrupted or failed prompt counts as quit, so nothing
/// more is written.
pub fn confirm(question: &str) -> Answer {
    let input = dialoguer::Input::<String>::new()
        .with_prompt(format!("{} [y]es/[n]o/[a]ll/[q]uit", escape(question)))
        .validate_with(|s: &String| -> Result<(), &str> {
            match s.trim().to_ascii_lowercase().as_str() {
                "y" | "yes" | "n" | "no" | "a" | "all" | "q" | "quit" => Ok(()),
                _ => Err("answer y, n, a or q"),
            }
        })
        .interact_text();
    match input.map(|s| s.trim().to_ascii_lowercase()) {
        Ok(s) if s.starts_with('y') => Answer::Yes,
        Ok(s) if s.starts_with('n') => Answer::No,
        Ok(s) if s.starts_with('a') => Answer::All,
        Ok(_) => Answer::Quit,
        // The prompt reads keys raw, so Ctrl-C arrives as a key, not a signal.
        Err(dialoguer::Error::IO(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
            Answer::Interrupted
        }
        Err(_) => Answer::Quit,
    }
}

/// A writer that passes JSON text through [`escape_json`] on its way to `inner`. A character
/// split between two writes waits in `pending` for its other bytes; bytes that can never be UTF-8
/// are refused (serde_json writes none).
struct JsonEscaping<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> JsonEscaping<W> {
    /// Flushes `inner`; a character still incomplete at the end is an error.
    fn finish(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the report ends inside a character",
            ));
        }
        self.inner.flush()
    }
}

impl<W: Write> Write for JsonEscaping<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let joined;
        let bytes = if self.pending.is_empty() {
            buf
        } else {
            self.pending.extend_from_slice(buf);
            joined = std::mem::take(&mut self.pending);
            joined.as_slice()
        };
        let (text, rest) = match std::str::from_utf8(bytes) {
            Ok(text) => (text, &[][..]),
            // Incomplete at the end: write what is whole, keep the rest for the next write.
            Err(e) if e.error_len().is_none() => {
                let (whole, rest) = bytes.split_at(e.valid_up_to());
                (std::str::from_utf8(whole).unwrap_or_default(), rest)
            }
            Err(e) => {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e));
            }
        };
        self.inner.write_all(escape_json(text).as_bytes())?;
        self.pending = rest.to_vec();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written in any pieces, even splitting characters, the text comes out as `escape_json`
    /// gives it whole.
    #[test]
    fn json_escaping_writer_matches_escape_json_whatever_the_pieces() {
        let text = "{\"a\": \"x → y \u{1b}[2J … \u{202e}z\u{7f}\"}";
        let bytes = text.as_bytes();
        for size in 1..=bytes.len() {
            let mut w = JsonEscaping {
                inner: Vec::new(),
                pending: Vec::new(),
            };
            for piece in bytes.chunks(size) {
                w.write_all(piece).unwrap_or_else(|e| panic!("{size}: {e}"));
            }
            assert!(w.finish().is_ok(), "{size}");
            assert_eq!(
                String::from_utf8_lossy(&w.inner),
                escape_json(text),
                "pieces of {size}"
            );
        }
        let mut w = JsonEscaping {
            inner: Vec::new(),
            pending: Vec::new(),
        };
        assert!(w.write_all(b"\"\xff\"").is_err());
        let mut w = JsonEscaping {
            inner: Vec::new(),
            pending: Vec::new(),
        };
        assert!(w
            .write_all("→".as_bytes().get(..2).unwrap_or_default())
            .is_ok());
        assert!(w.finish().is_err());
    }
}
