//! The report of `scan` and `plan` over files, printed as planning finishes each item, in the
//! same order and bytes as [`crate::report::run::emit`] prints it whole, so that memory stays flat
//! in the number of files: only counts are kept (the summary, the overview, what the exit code
//! and the closing note need), never the items.
//!
//! Text is printed item by item. JSON prints `changes` as they come; `unchanged`, `skipped` and
//! `errors` follow them in the report, so they wait in anonymous temporary files, as do
//! Markdown's table rows and change sections (its summary comes first). `--report FILE` is
//! written to a temporary file too and copied to FILE at the end, as the whole report was.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, Write};

use crate::cli::Format;
use crate::engine::plan::{Item, Summary};
use crate::engine::target::TargetKind;
use crate::error::Error;
use crate::report::json::nested;
use crate::report::markdown;
use crate::report::overview::Overview;
use crate::report::run::{from_file_markdown, Report};
use crate::report::summary::summary_line;
use crate::report::text::{item_text, TextOptions};
use crate::sources::unread::Unread;
use crate::ui::Ui;

/// What the run's exit code and closing note need, counted as the items went by.
#[derive(Debug, Default)]
pub struct Tally {
    pub summary: Summary,
    /// A high or critical finding on any item (`scan --detailed-exitcode`).
    pub serious_finding: bool,
    /// The first change to a policy file, for the note that files have no principals.
    pub offline_change: Option<Item>,
}

/// Text written to an anonymous temporary file, read back once at the end.
pub struct Spool {
    file: BufWriter<File>,
    /// Pieces written (JSON items, Markdown rows or sections).
    count: usize,
}

fn spool_error(source: std::io::Error) -> Error {
    Error::Write {
        path: "a temporary file (the report's spool; see TMPDIR)".into(),
        source,
    }
}

impl Spool {
    pub fn new() -> Result<Spool, Error> {
        Ok(Spool {
            file: BufWriter::new(tempfile::tempfile().map_err(spool_error)?),
            count: 0,
        })
    }

    pub fn push(&mut self, text: &str) -> Result<(), Error> {
        self.count += 1;
        self.file.write_all(text.as_bytes()).map_err(spool_error)
    }

    /// How many pieces were written.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The file, flushed and rewound.
    pub fn reader(self) -> Result<BufReader<File>, Error> {
        let mut file = self
            .file
            .into_inner()
            .map_err(|e| spool_error(e.into_error()))?;
        file.rewind().map_err(spool_error)?;
        Ok(BufReader::new(file))
    }
}

/// The JSON groups that follow `changes`, in the report's order.
const GROUPS: [&str; 3] = ["unchanged", "skipped", "errors"];

/// Pieces of the report are written to standard output in blocks of about this size.
const BLOCK: usize = 1 << 16;

/// Where the pieces of a report go: standard output, escaped as JSON or not (see
/// [`Ui::out_piece`]), or a test's buffer.
pub type Out<'a> = Box<dyn FnMut(&str, bool) -> Result<(), Error> + 'a>;

/// A report being printed.
pub struct Stream<'a> {
    ui: &'a Ui,
    out: Out<'a>,
    format: Format,
    report: &'a Report<'a>,
    /// `--report FILE`, spooled until the end.
    file: Option<Spool>,
    /// Whether standard output escapes as JSON (text: chosen by the first piece, as
    /// [`Ui::out`] chooses for a whole report).
    json_escape: Option<bool>,
    tally: Tally,
    overview: Overview,
    /// Changes with an impact: the Markdown summary counts their principals.
    impacts: Vec<Item>,
    /// JSON: changes printed; the groups after them.
    changes: usize,
    groups: Vec<Spool>,
    /// Markdown: table rows and change sections.
    rows: Option<Spool>,
    sections: Option<Spool>,
}

impl<'a> Stream<'a> {
    /// Starts the report of a scan or plan in `format` (text, JSON or Markdown; SARIF is
    /// rendered whole by `emit`).
    pub fn begin(ui: &'a Ui, format: Format, report: &'a Report<'a>) -> Result<Stream<'a>, Error> {
        Stream::begin_to(
            ui,
            format,
            report,
            Box::new(|text, json| ui.out_piece(text, json)),
        )
    }

    /// [`Stream::begin`], the pieces going to `out` instead of standard output.
    pub fn begin_to(
        ui: &'a Ui,
        format: Format,
        report: &'a Report<'a>,
        out: Out<'a>,
    ) -> Result<Stream<'a>, Error> {
        let mut s = Stream {
            ui,
            out,
            format,
            report,
            file: report.file.map(|_| Spool::new()).transpose()?,
            json_escape: match format {
                Format::Json | Format::Sarif => Some(true),
                Format::Markdown => Some(false),
                Format::Text => None,
            },
            tally: Tally::default(),
            overview: Overview::default(),
            impacts: Vec::new(),
            changes: 0,
            groups: Vec::new(),
            rows: None,
            sections: None,
        };
        match format {
            Format::Json => {
                for _ in GROUPS {
                    s.groups.push(Spool::new()?);
                }
                let head = format!(
                    "{{\n  \"tool\": \"forcemfa\",\n  \"version\": {},\n  \"command\": {},\n  \"changes\": ",
                    nested(&env!("CARGO_PKG_VERSION"), "")?,
                    nested(&report.mode.command(), "")?
                );
                s.put(&head, None)?;
            }
            Format::Markdown => {
                s.rows = Some(Spool::new()?);
                s.sections = Some(Spool::new()?);
            }
            Format::Text | Format::Sarif => {}
        }
        Ok(s)
    }

    /// Prints (or spools) one item, in the order planning gives them.
    pub fn item(&mut self, item: &Item) -> Result<(), Error> {
        self.count(item);
        let mode = self.report.mode;
        match self.format {
            Format::Text => {
                let ui = self.ui;
                if ui.quiet {
                    if let Item::Error { target, error } = item {
                        self.put(&format!("error: {target}: {error}\n"), None)?;
                    }
                } else {
                    let opts = TextOptions {
                        color: ui.color,
                        verbose: ui.verbose,
                    };
                    let shown = item_text(item, mode, opts);
                    // The report file never has colour.
                    let plain = (ui.color && self.file.is_some()).then(|| {
                        item_text(
                            item,
                            mode,
                            TextOptions {
                                color: false,
                                ..opts
                            },
                        )
                    });
                    self.put(&shown, plain.as_deref())?;
                }
            }
            Format::Json => {
                let text = nested(item, "    ")?;
                match item {
                    Item::Change(_) => {
                        let sep = if self.changes == 0 {
                            "[\n    "
                        } else {
                            ",\n    "
                        };
                        self.changes += 1;
                        self.put(&format!("{sep}{text}"), None)?;
                    }
                    _ => {
                        let i = match item {
                            Item::Unchanged { .. } => 0,
                            Item::Skipped { .. } => 1,
                            _ => 2,
                        };
                        if let Some(g) = self.groups.get_mut(i) {
                            let sep = if g.count == 0 { "    " } else { ",\n    " };
                            g.push(&format!("{sep}{text}"))?;
                        }
                    }
                }
            }
            Format::Markdown => {
                if let Some(rows) = self.rows.as_mut() {
                    rows.push(&markdown::table_row(item))?;
                }
                if let (Item::Change(c), Some(sections)) = (item, self.sections.as_mut()) {
                    sections.push(&markdown::change_section(c, mode))?;
                }
            }
            Format::Sarif => {}
        }
        Ok(())
    }

    /// What the closing lines and the exit code need from one item.
    fn count(&mut self, item: &Item) {
        let t = &mut self.tally;
        t.summary.add(item);
        t.serious_finding |= item.has_serious_finding();
        if let Item::Change(c) = item {
            if t.offline_change.is_none() && matches!(c.target.kind, TargetKind::File { .. }) {
                t.offline_change = Some(item.clone());
            }
            if c.impact.is_some() {
                self.impacts.push(item.clone());
            }
        }
        self.overview.add(item);
    }

    /// The rest of the report: what followed the items (the overview and summary, the files not
    /// read, the options from a config file), then `--report FILE`. Returns the counts.
    pub fn finish(mut self, unread: &[Unread]) -> Result<Tally, Error> {
        let unread: Vec<&Unread> = unread.iter().collect();
        let mode = self.report.mode;
        let line = summary_line(&self.tally.summary, mode);
        match self.format {
            Format::Text => {
                if !self.ui.quiet {
                    let overview = std::mem::take(&mut self.overview).finish();
                    self.put(&overview, None)?;
                }
                self.put(&format!("{line}\n"), None)?;
                self.put(&crate::report::unread::text(&unread), None)?;
                let options: String = self
                    .report
                    .from_file
                    .iter()
                    .map(|(what, at)| format!("option from {at}: {what}\n"))
                    .collect();
                self.put(&options, None)?;
            }
            Format::Json => {
                self.put(if self.changes == 0 { "[]" } else { "\n  ]" }, None)?;
                let groups = std::mem::take(&mut self.groups);
                for (name, g) in GROUPS.iter().zip(groups) {
                    if g.count == 0 {
                        self.put(&format!(",\n  \"{name}\": []"), None)?;
                    } else {
                        self.put(&format!(",\n  \"{name}\": [\n"), None)?;
                        self.copy(g)?;
                        self.put("\n  ]", None)?;
                    }
                }
                let summary = nested(&self.tally.summary, "  ")?;
                self.put(&format!(",\n  \"summary\": {summary}"), None)?;
                if let Some(eo) = &self.report.effective_options {
                    let eo = nested(eo, "  ")?;
                    self.put(&format!(",\n  \"effective_options\": {eo}"), None)?;
                }
                if !unread.is_empty() {
                    let list = nested(&unread, "  ")?;
                    self.put(&format!(",\n  \"unread\": {list}"), None)?;
                }
                self.put("\n}\n", None)?;
            }
            Format::Markdown => {
                let impact = crate::report::impact::markdown_summary(&self.impacts);
                let head = markdown::head(&self.tally.summary, &impact, mode);
                self.put(&head, None)?;
                for spool in [self.rows.take(), self.sections.take()]
                    .into_iter()
                    .flatten()
                {
                    self.copy(spool)?;
                }
                self.put(&crate::report::unread::markdown(&unread), None)?;
                self.put(&from_file_markdown(&self.report.from_file), None)?;
            }
            Format::Sarif => {}
        }
        if let (Some(path), Some(spool)) = (self.report.file, self.file.take()) {
            let write_error = |source| Error::Write {
                path: path.display().to_string(),
                source,
            };
            let mut from = spool.reader()?;
            let mut to = File::create(path).map_err(write_error)?;
            std::io::copy(&mut from, &mut to).map_err(write_error)?;
            self.ui
                .info(&format!("report written to {}", path.display()));
        }
        Ok(self.tally)
    }

    /// Prints a piece of the report and adds it to `--report FILE` (`plain`: the piece without
    /// colour, when it differs).
    fn put(&mut self, shown: &str, plain: Option<&str>) -> Result<(), Error> {
        if shown.is_empty() {
            return Ok(());
        }
        let json = *self
            .json_escape
            .get_or_insert_with(|| shown.starts_with(['{', '[']));
        (self.out)(shown, json)?;
        if let Some(f) = self.file.as_mut() {
            f.push(plain.unwrap_or(shown))?;
        }
        Ok(())
    }

    /// Prints what a spool holds, in blocks of whole lines.
    fn copy(&mut self, spool: Spool) -> Result<(), Error> {
        let mut from = spool.reader()?;
        let mut block = String::new();
        loop {
            let n = from.read_line(&mut block).map_err(spool_error)?;
            if n == 0 || block.len() >= BLOCK {
                let piece = std::mem::take(&mut block);
                self.put(&piece, None)?;
            }
            if n == 0 {
                return Ok(());
            }
        }
    }
}
