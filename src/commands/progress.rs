//! Progress of a phase over many accounts: a bar on a terminal, a log line per account
//! otherwise, nothing with `--quiet`. Results never go here (they go to stdout, once).

use std::io::IsTerminal;

use crate::ui::Ui;

#[derive(Clone)]
pub struct Phase {
    ui: Ui,
    name: &'static str,
    bar: Option<indicatif::ProgressBar>,
}

impl Phase {
    pub fn new(ui: Ui, name: &'static str, len: usize) -> Phase {
        let bar = (!ui.quiet && len > 1 && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(len as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{prefix:>8} [{bar:30}] {pos}/{len} accounts  {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(name);
            bar
        });
        Phase { ui, name, bar }
    }

    pub fn done(&self, account: &str, what: &str) {
        match &self.bar {
            Some(b) => {
                b.inc(1);
                b.set_message(format!("{account}: {what}"));
            }
            None => self
                .ui
                .info(&format!("{}: account {account}: {what}", self.name)),
        }
    }

    pub fn warn(&self, text: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| self.ui.warn(text)),
            None => self.ui.warn(text),
        }
    }

    /// A line of progress within an account (a long read), above the bar.
    pub fn note(&self, text: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| self.ui.info(text)),
            None => self.ui.info(text),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
