//! `rollback --journal FILE`: restore what an apply changed, in every account the journal
//! covers (`--account` to pick some), each reached the way the apply reached it (the journal
//! records the route: profile, role, session name; never secrets). Journals written before
//! routes were recorded are rolled back with the current credentials.
//!
//! Steps: read the journal and choose what to undo ([`todo`]); reach each account; confirm
//! each change; restore it ([`crate::sources::aws::AwsStore::rollback`]); report.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cli::ConnectArgs;
use crate::commands::scope::{aws_options, runtime};
use crate::engine::reach::Route;
use crate::error::{Error, Exit};
use crate::sources::accounts::{Access, Account};
use crate::sources::aws::AwsStore;
use crate::sources::journal::{self, Journal, JournalEntry};
use crate::sources::reach::{self, Base};
use crate::ui::{self, Answer, Ui};

/// What to undo in one account, latest first.
struct AccountTodo {
    account: Account,
    entries: Vec<JournalEntry>,
}

/// `rollback`.
pub fn rollback(
    ui: &Ui,
    journal_file: &Path,
    change: Option<&str>,
    accounts: &[String],
    yes: bool,
    connect_args: &ConnectArgs,
) -> Result<Exit, Error> {
    if !yes && !ui::interactive() {
        return Err(Error::NeedsTerminal);
    }
    let (todo, routes) = todo(ui, journal_file, change, accounts)?;
    if todo.is_empty() {
        if let Some(id) = change {
            // Asked for one change that is not there: not done, so not a success.
            return Err(Error::Input {
                path: journal_file.display().to_string(),
                message: format!(
                    "no change {id:?} to roll back (unknown, not applied, or already rolled back); `forcemfa rollback --journal FILE` without --change lists what can be"
                ),
            });
        }
        ui.out("Nothing to roll back.\n")?;
        return Ok(Exit::Ok);
    }
    let options = aws_options(&operator(connect_args, &routes, journal_file)?)?;
    let rt = runtime()?;
    let out = rt.block_on(async {
        let base = Base::load(options).await?;
        let mut journal = Journal::open(journal_file)?;
        let mut tally = Tally::default();
        let mut all = yes;
        for t in &todo {
            match reach::connect(&base, &t.account).await {
                Ok(store) => {
                    let go_on = restore(&store, t, &mut journal, &mut all, &mut tally).await;
                    if !go_on {
                        break;
                    }
                }
                Err(e) => {
                    for entry in &t.entries {
                        tally.failed(format!(
                            "error: change {} ({}): account {} could not be reached: {e}",
                            entry.change_id, entry.target, t.account.id
                        ));
                    }
                }
            }
        }
        Ok::<_, Error>(tally)
    });
    rt.shutdown_background();
    let tally = out?;
    ui.out(&format!(
        "{}Rolled back {}, failed {}.\n",
        tally.lines, tally.done, tally.failed
    ))?;
    Ok(if tally.failed > 0 {
        Exit::Error
    } else {
        Exit::Ok
    })
}

/// The publishes to undo, by account (in account order), and how each account was reached.
fn todo(
    ui: &Ui,
    journal_file: &Path,
    change: Option<&str>,
    accounts: &[String],
) -> Result<(Vec<AccountTodo>, Vec<Route>), Error> {
    let contents = journal::read_entries(journal_file)?;
    if let Some(w) = journal::torn_warning(journal_file, &contents.torn_lines) {
        ui.warn(&w);
    }
    // The latest route recorded for each account.
    let mut routes: BTreeMap<String, Route> = BTreeMap::new();
    for e in &contents.entries {
        if let Some(r) = &e.reached {
            routes.insert(e.account.clone(), r.clone());
        }
    }
    let mut by_account: BTreeMap<String, Vec<JournalEntry>> = BTreeMap::new();
    for e in journal::rollback_plan(&contents.entries, change) {
        if accounts.is_empty() || accounts.contains(&e.account) {
            by_account.entry(e.account.clone()).or_default().push(e);
        }
    }
    for id in accounts {
        if !by_account.contains_key(id) {
            ui.warn(&format!(
                "warning: --account {id}: the journal has nothing to roll back in that account"
            ));
        }
    }
    let used: Vec<Route> = by_account
        .keys()
        .filter_map(|id| routes.get(id).cloned())
        .collect();
    let todo = by_account
        .into_iter()
        .map(|(id, entries)| AccountTodo {
            account: Account {
                access: routes
                    .get(&id)
                    .map_or(Access::Current, |r| r.access.clone()),
                id,
                name: None,
                tags: BTreeMap::new(),
            },
            entries,
        })
        .collect();
    Ok((todo, used))
}

/// The operator's own connection: as the journal recorded it (profile, MFA device, session
/// name), with region and endpoint from the command line. Options that contradict the journal
/// are refused.
fn operator(c: &ConnectArgs, routes: &[Route], journal_file: &Path) -> Result<ConnectArgs, Error> {
    let Some(first) = routes.first() else {
        return Ok(c.clone());
    };
    let refuse = |message: String| Error::Input {
        path: journal_file.display().to_string(),
        message,
    };
    if routes
        .iter()
        .any(|r| r.profile != first.profile || r.mfa_serial != first.mfa_serial)
    {
        return Err(refuse(
            "the accounts to roll back were reached with different profiles or MFA devices; roll them back one at a time with --account".into(),
        ));
    }
    if c.profile.is_some() && c.profile != first.profile {
        return Err(refuse(format!(
            "--profile {} contradicts the journal, which reached these accounts with {}; drop --profile",
            c.profile.as_deref().unwrap_or_default(),
            first
                .profile
                .as_deref()
                .map_or("the default credentials".to_string(), |p| format!("profile {p}"))
        )));
    }
    Ok(ConnectArgs {
        profile: first.profile.clone(),
        mfa_serial: first.mfa_serial.clone().or_else(|| c.mfa_serial.clone()),
        session_name: first.session_name.clone(),
        ..c.clone()
    })
}

#[derive(Default)]
struct Tally {
    lines: String,
    done: usize,
    failed: usize,
}

impl Tally {
    fn failed(&mut self, line: String) {
        self.failed += 1;
        self.lines.push_str(&line);
        self.lines.push('\n');
    }
}

/// Confirm and restore one account's changes. Returns false when the operator quit.
async fn restore(
    store: &AwsStore,
    t: &AccountTodo,
    journal: &mut Journal,
    all: &mut bool,
    tally: &mut Tally,
) -> bool {
    let run_id = journal::new_run_id();
    for entry in &t.entries {
        // Verified rollback: the journal is a file, so what it asks to publish is shown as a diff
        // from the live document and checked like any new document before anything is written.
        let preview = match store.current(&entry.target).await {
            Ok(live) => rollback_preview(entry, &live.text, false),
            Err(e) => {
                tally.failed(format!("error: change {}: {e}", entry.change_id));
                continue;
            }
        };
        if let Some(problem) = preview.refused {
            tally.failed(format!(
                "error: change {} ({}): {problem}",
                entry.change_id, entry.target
            ));
            continue;
        }
        if !*all {
            let text = preview.text.clone();
            let _ = tokio::task::spawn_blocking(move || {
                crate::ui::Ui::new(crate::cli::ColorChoice::Never, false, false).warn(&text)
            })
            .await;
            let question = format!(
                "Roll back change {} ({}, applied {})?",
                entry.change_id, entry.target, entry.time
            );
            let answer = tokio::task::spawn_blocking(move || ui::confirm(&question))
                .await
                .unwrap_or(Answer::Quit);
            match answer {
                Answer::Yes => {}
                Answer::All => *all = true,
                Answer::No => continue,
                Answer::Quit | Answer::Interrupted => return false,
            }
        }
        match store.rollback(entry, journal, &run_id).await {
            Ok(r) => {
                tally.done += 1;
                tally.lines.push_str(&format!(
                    "rolled back {} (change {}): {}\n",
                    entry.target,
                    entry.change_id,
                    crate::commands::rollout::undo::how(r)
                ));
            }
            Err(e) => tally.failed(format!("error: {e}")),
        }
    }
    true
}

/// Why the journalled original must not be published, when forcemfa does not derive the live
/// document from it (the digest only catches accidents: anyone who can edit the journal can
/// reseal it). A managed policy may still go back to a version IAM holds, which the store
/// checks against the record; the preview says so.
fn untrusted(
    entry: &JournalEntry,
    original: &str,
    live: &str,
    text: &mut String,
) -> Option<String> {
    use crate::engine::target::TargetKind;
    let chain = match crate::engine::migration::default_chain() {
        Ok(chain) => chain,
        Err(e) => return Some(e.to_string()),
    };
    let why = crate::engine::restore::derives(&entry.target, original, live, &chain).err()?;
    match (&entry.target.kind, &entry.previous_default_version_id) {
        (TargetKind::Managed { .. }, Some(version)) => {
            text.push_str(&format!(
                "  restored only by making version {version} the default again, if IAM still holds it with the journalled document: {why}\n"
            ));
            None
        }
        _ => Some(format!("{why}; nothing was written")),
    }
}

/// What the operator sees before a rollback, and why it must not go ahead, if it must not.
struct RollbackPreview {
    text: String,
    refused: Option<String>,
}

/// The diff from the live document to the journalled original, and the checks IAM would
/// apply (the journal is a file: what it asks to publish is checked like any new document).
fn rollback_preview(entry: &JournalEntry, live: &str, color: bool) -> RollbackPreview {
    use crate::engine::policy;
    let original = entry.before.as_deref().unwrap_or_default();
    let d = crate::report::text::normalized_diff(live, original);
    let mut text = format!(
        "{}  [rollback of change {}]\n",
        entry.target, entry.change_id
    );
    let unified = if color {
        crate::report::text::colorize(&d.unified)
    } else {
        d.unified.clone()
    };
    for line in unified.lines() {
        text.push_str(&format!("  {line}\n"));
    }
    let mut refused = None;
    match policy::parse(original) {
        Err(e) => {
            refused = Some(format!(
                "the journalled document is not a policy ({e}); nothing was written"
            ))
        }
        Ok(parsed) => {
            let compact = policy::render_compact(&parsed.value);
            let size = policy::iam_size(&compact);
            let limit = match &entry.target.kind {
                crate::engine::target::TargetKind::Inline { entity, .. } => entity.inline_limit(),
                _ => crate::engine::target::MANAGED_LIMIT,
            };
            let chars = policy::disallowed_characters(original);
            text.push_str(&format!(
                "  checks: size {size}/{limit} non-whitespace characters, {}\n",
                if chars.is_empty() {
                    "characters ok".to_string()
                } else {
                    format!("characters IAM refuses: {chars:?}")
                }
            ));
            if size > limit {
                refused = Some(format!("the journalled document has {size} non-whitespace characters, over the limit of {limit}; nothing was written"));
            } else if !chars.is_empty() {
                refused = Some(format!("the journalled document has characters IAM refuses ({chars:?}); nothing was written"));
            }
            if refused.is_none() {
                refused = untrusted(entry, original, live, &mut text);
            }
        }
    }
    RollbackPreview { text, refused }
}
