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

    /// How reports are rendered for this terminal.
    pub fn text_options(&self) -> crate::report::TextOptions {
        crate::report::TextOptions {
            color: self.color,
            verbose: self.verbose,
        }
    }

    /// Results (stdout). Broken pipes (`| head`) are not errors worth a panic.
    pub fn out(&self, text: &str) -> Result<(), crate::error::Error> {
        // JSON and SARIF reports: JSON escapes, so the output stays valid JSON.
        let text = if text.starts_with(['{', '[']) {
            escape_json(text)
        } else {
            std::borrow::Cow::Owned(escape_lines(text, self.color))
        };
        // A report that did not reach its reader is a failed run, never a silent exit 0.
        let mut o = std::io::stdout().lock();
        o.write_all(text.as_bytes())
            .and_then(|()| o.flush())
            .map_err(|source| crate::error::Error::Write {
                path: "standard output".to_string(),
                source,
            })
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
