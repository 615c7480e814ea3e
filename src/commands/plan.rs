//! Planning, the same for every source: fetch each part's documents (files from disk, or every
//! IAM policy of each account, accounts concurrently), run the pure engine on each, and report.
//! `scan` and `plan` end here; `plan --out FILE` saves a self-contained plan (its changes and
//! how each account was reached); `apply` goes on from here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cli::{Format, Kind, PlanArgs};
use std::io::Write as _;

use crate::commands::exit::{exit_for_parts, exit_for_summary, scan_exit_for};
use crate::commands::progress::Phase;
use crate::commands::rules::Rules;
use crate::commands::scope::{self, runtime, Accounts, Part};
use crate::engine::migration::{Migration, Options};
use crate::engine::plan::{self, Input, Item, PlanFile, SizeLimit};
use crate::engine::reach::Reach;
use crate::engine::target::{EntityKind, Target, TargetKind};
use crate::error::{Error, Exit};
use crate::report::run::{emit, Report};
use crate::report::stream::{Spool, Stream, Tally};
use crate::report::Mode;
use crate::sources::aws::{self, AwsStore, Fetched};
use crate::sources::files::{self, strip_path};
use crate::sources::reach;
use crate::sources::unread::Unread;
use crate::ui::Ui;

/// A planned run: its parts and, for accounts, how they were reached.
pub struct Planned {
    pub parts: Vec<Part>,
    pub reach: Option<Reach>,
}

/// `scan` and `plan`, for files and accounts alike.
pub fn scan_or_plan(
    ui: &Ui,
    format: Format,
    args: &PlanArgs,
    mode: Mode,
    detailed_exitcode: bool,
    out: Option<&Path>,
) -> Result<Exit, Error> {
    let rules = Arc::new(Rules::new(args, !args.sources.is_empty())?.with_effect_rows(ui.verbose));
    if !args.sources.is_empty() && format != Format::Sarif {
        return scan_or_plan_files(ui, format, args, mode, detailed_exitcode, out, &rules);
    }
    let planned = if args.sources.is_empty() {
        let rt = runtime()?;
        let planned = rt.block_on(plan_accounts(ui, args, rules.clone()));
        rt.shutdown_background();
        planned?
    } else {
        plan_files_part(args, &rules)?
    };
    if let Some(path) = out {
        save_plan(ui, path, args, &planned, &rules)?;
    }
    let report = plan_report(args, mode);
    let views: Vec<_> = planned.parts.iter().map(Part::view).collect();
    emit(ui, format, &views, &report)?;
    if mode == Mode::Plan {
        // Who is affected: files and templates have no principals; said once, beside the report.
        let items: Vec<Item> = planned
            .parts
            .iter()
            .flat_map(|p| p.items.iter().cloned())
            .collect();
        let note = crate::report::impact::offline_note(&items);
        if !note.is_empty() {
            ui.info(note.trim_end());
        }
    }
    let exit = exit_for_parts(&planned.parts, detailed_exitcode);
    if mode == Mode::Scan && exit == Exit::Ok {
        // A high or critical finding is pending work for scan, even on an up-to-date policy.
        let items: Vec<Item> = planned
            .parts
            .iter()
            .flat_map(|p| p.items.iter().cloned())
            .collect();
        return Ok(scan_exit_for(&items, detailed_exitcode));
    }
    Ok(exit)
}

/// `scan` and `plan` of files, the report printed as planning finishes each item, in order:
/// only counts are kept, never the items (a saved plan's changes wait in a temporary file).
fn scan_or_plan_files(
    ui: &Ui,
    format: Format,
    args: &PlanArgs,
    mode: Mode,
    detailed_exitcode: bool,
    out: Option<&Path>,
    rules: &Rules,
) -> Result<Exit, Error> {
    let report = plan_report(args, mode);
    let stream = Stream::begin(ui, format, &report)?;
    let (tally, unread) = stream_files(args, rules, out, ui, stream)?;
    if mode == Mode::Plan {
        // Who is affected: files and templates have no principals; said once, beside the report.
        let note = crate::report::impact::offline_note(tally.offline_change.as_slice());
        if !note.is_empty() {
            ui.info(note.trim_end());
        }
    }
    Ok(files_exit(&tally, &unread, mode, detailed_exitcode))
}

/// The report settings of `scan` and `plan` (files or accounts).
fn plan_report(args: &PlanArgs, mode: Mode) -> Report<'_> {
    Report {
        mode,
        journal: None,
        saved_plan: None,
        show_items: true,
        file: args.batch.report.as_deref(),
        effective_options: Some(args.config.to_json()),
        from_file: args.config.from_file(),
        rollout: None,
    }
}

/// Plan the files into `stream` (and the plan saved to `out`), as [`plan_files_part`] plans
/// them; the counts and the files not read.
fn stream_files(
    args: &PlanArgs,
    rules: &Rules,
    out: Option<&Path>,
    ui: &Ui,
    mut stream: Stream,
) -> Result<(Tally, Vec<Unread>), Error> {
    let mut saved = out.map(|_| SavedChanges::new()).transpose()?;
    let mut settle = crate::sources::unread::Settle::default();
    each_file_item(args, rules, |item| {
        // Changes to generated output leave the report (listed as not read instead).
        let Some(item) = settle.item(item) else {
            return Ok(());
        };
        if let Some(saved) = saved.as_mut() {
            saved.add(&item, rules)?;
        }
        stream.item(&item)
    })?;
    let unread = settle.finish(&args.sources);
    let tally = stream.finish(&unread)?;
    // Written once the report is whole, so that it never stops short of its summary.
    if let (Some(path), Some(saved)) = (out, saved) {
        saved.save(ui, path, args, rules)?;
    }
    Ok((tally, unread))
}

/// As `exit_for_parts` over the one files part (and `scan_exit_for` after it), from the counts.
fn files_exit(tally: &Tally, unread: &[Unread], mode: Mode, detailed: bool) -> Exit {
    let exit = match exit_for_summary(&tally.summary, detailed) {
        Exit::Ok if detailed && unread.iter().any(|u| u.kind.pending()) => Exit::Pending,
        e => e,
    };
    if mode == Mode::Scan && exit == Exit::Ok && detailed && tally.serious_finding {
        return Exit::Pending;
    }
    exit
}

/// The changes of a plan being saved, as they will be written (each a block of JSON in a
/// temporary file), and the blocked ones listed.
struct SavedChanges {
    changes: Spool,
    blocked: Vec<String>,
}

impl SavedChanges {
    fn new() -> Result<SavedChanges, Error> {
        Ok(SavedChanges {
            changes: Spool::new()?,
            blocked: Vec::new(),
        })
    }

    fn add(&mut self, item: &Item, rules: &Rules) -> Result<(), Error> {
        if !matches!(item, Item::Change(_)) {
            return Ok(());
        }
        let one = PlanFile::new(
            std::slice::from_ref(item),
            &[],
            rules.options(),
            String::new(),
        );
        self.blocked.extend(one.blocked);
        for c in &one.changes {
            let text = crate::report::json::nested(c, "    ")?;
            let sep = if self.changes.count() == 0 {
                "    "
            } else {
                ",\n    "
            };
            self.changes.push(&format!("{sep}{text}"))?;
        }
        Ok(())
    }

    /// Writes the plan as [`save_plan`] does.
    fn save(self, ui: &Ui, path: &Path, args: &PlanArgs, rules: &Rules) -> Result<(), Error> {
        let mut file = PlanFile::new(
            &[],
            &rules.chain,
            rules.options(),
            crate::sources::journal::now_rfc3339(),
        );
        file.blocked = self.blocked;
        let text = plan_text(path, args, &file)?;
        // The changes go where the plan without them has an empty list.
        let empty = "\n  \"changes\": []";
        let Some((head, tail)) = text.split_once(empty) else {
            return Err(Error::Input {
                path: path.display().to_string(),
                message: "internal error: the saved plan has no list of changes (a bug in forcemfa: please report it)".into(),
            });
        };
        let count = self.changes.count();
        let write_error = |source| Error::Write {
            path: path.display().to_string(),
            source,
        };
        let mut spool = self.changes.reader()?;
        let mut to = std::io::BufWriter::new(std::fs::File::create(path).map_err(write_error)?);
        let mut write = || -> std::io::Result<()> {
            to.write_all(head.as_bytes())?;
            if count == 0 {
                to.write_all(empty.as_bytes())?;
            } else {
                to.write_all(b"\n  \"changes\": [\n")?;
                std::io::copy(&mut spool, &mut to)?;
                to.write_all(b"\n  ]")?;
            }
            to.write_all(tail.as_bytes())?;
            to.write_all(b"\n")?;
            to.flush()
        };
        write().map_err(write_error)?;
        ui.info(&format!(
            "plan saved to {} ({count} changes); apply it with `forcemfa apply --plan {}`",
            path.display(),
            path.display()
        ));
        Ok(())
    }
}

/// The files part of a run.
pub fn plan_files_part(args: &PlanArgs, rules: &Rules) -> Result<Planned, Error> {
    let mut part = Part::files();
    part.items = plan_files(args, rules);
    // Nothing passed over in silence: files that mention an MFA key and were not read.
    part.unread = crate::sources::unread::settle(&args.sources, &mut part.items);
    Ok(Planned {
        parts: vec![part],
        reach: None,
    })
}

/// Resolve the accounts (current credentials, accounts file, Organization) and plan each.
pub async fn plan_accounts(ui: &Ui, args: &PlanArgs, rules: Arc<Rules>) -> Result<Planned, Error> {
    let (accounts, unknown) = scope::resolve(args).await?;
    for id in &unknown {
        ui.warn(&format!(
            "warning: --account {id} is not among the accounts of the batch"
        ));
    }
    let reach = accounts.reach.clone();
    let parts = plan_each(*ui, accounts, rules, usize::from(args.batch.concurrency)).await;
    Ok(Planned {
        parts,
        reach: Some(reach),
    })
}

/// Save the plan: its changes, the chain and options it was made with, and how each account
/// was reached.
fn save_plan(
    ui: &Ui,
    path: &Path,
    args: &PlanArgs,
    planned: &Planned,
    rules: &Rules,
) -> Result<(), Error> {
    let items: Vec<Item> = planned
        .parts
        .iter()
        .flat_map(|p| p.items.iter().cloned())
        .collect();
    let mut file = PlanFile::new(
        &items,
        &rules.chain,
        rules.options(),
        crate::sources::journal::now_rfc3339(),
    );
    file.reach = planned.reach.clone();
    let text = plan_text(path, args, &file)?;
    std::fs::write(path, text + "\n").map_err(|source| Error::Write {
        path: path.display().to_string(),
        source,
    })?;
    ui.info(&format!(
        "plan saved to {} ({} changes); apply it with `forcemfa apply --plan {}`",
        path.display(),
        file.changes.len(),
        path.display()
    ));
    Ok(())
}

/// The saved plan as text: the plan, the effective options and where each came from, and the
/// folders and files it was made from. Never a plan that could not be serialised whole.
fn plan_text(path: &Path, args: &PlanArgs, file: &PlanFile) -> Result<String, Error> {
    let mut value = serde_json::to_value(file).map_err(|e| Error::Serialize {
        what: format!("the plan for {}", path.display()),
        source: e,
    })?;
    value["effective_options"] = args.config.to_json();
    // The folders and files the plan was made from: its file changes are written only inside.
    if !args.sources.is_empty() {
        value[crate::commands::saved::ROOTS_KEY] =
            serde_json::json!(crate::commands::saved::roots_of(&args.sources));
    }
    serde_json::to_string_pretty(&value).map_err(|e| Error::Serialize {
        what: format!("the plan for {}", path.display()),
        source: e,
    })
}

/// Plan every account, at most `concurrency` at once, in account order. Each part keeps its
/// store for an apply that follows.
pub async fn plan_each(
    ui: Ui,
    accounts: Accounts,
    rules: Arc<Rules>,
    concurrency: usize,
) -> Vec<Part> {
    let phase = Phase::new(ui, "plan", accounts.accounts.len());
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = JoinSet::new();
    for a in accounts.accounts {
        let (gate, base, rules, phase) = (
            gate.clone(),
            accounts.base.clone(),
            rules.clone(),
            phase.clone(),
        );
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let mut part = Part::account(a);
            plan_one_account(&mut part, &base, &rules, &phase).await;
            part
        });
    }
    let mut parts = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(part) => parts.push(part),
            // A panic in one account's task must not take the batch down; it cannot be
            // attributed to an account here, so it is reported as a warning.
            Err(e) => ui.warn(&format!("error: an account's task failed: {e}")),
        }
    }
    phase.finish();
    parts.sort_by(|a, b| a.key().cmp(b.key()));
    for p in &mut parts {
        p.items.sort_by(|a, b| a.target().cmp(b.target()));
    }
    parts
}

/// Connect to one account and plan its policies; failures end up in the part.
async fn plan_one_account(part: &mut Part, base: &reach::Base, rules: &Rules, phase: &Phase) {
    let Some(account) = part.account.clone() else {
        return;
    };
    let fail = |part: &mut Part, e: String| {
        phase.warn(&format!("error: account {}: {e}", account.label()));
        phase.done(&account.id, "failed");
        part.error = Some(e);
    };
    let store = match reach::connect(base, &account).await {
        Ok(s) => s,
        Err(e) => return fail(part, e),
    };
    let progress: crate::sources::aws::cloudtrail::Progress = {
        let phase = phase.clone();
        std::sync::Arc::new(move |line: String| phase.note(&line))
    };
    let evidence = (&rules.evidence, Some(progress));
    match plan_account_items(&store, &rules.chain, rules.options(), evidence).await {
        Ok((mut items, warnings)) => {
            note_kept_in_account(&mut items, rules);
            for w in &warnings {
                phase.warn(&format!("account {}: {w}", account.id));
            }
            let s = plan::summarize(&items);
            phase.done(
                &account.id,
                &format!("{} to change, {} unchanged", s.changes, s.unchanged),
            );
            part.items = items.into_iter().map(|i| rules.kept(i)).collect();
        }
        Err(e) => fail(part, e.to_string()),
    }
    part.store = Some(store);
}

/// Findings for migrations skipped by choice, on the account's policies (see
/// [`Rules::note_kept`]).
fn note_kept_in_account(items: &mut [Item], rules: &Rules) {
    for item in items.iter_mut() {
        let text = match &*item {
            Item::Change(c) => c.before.clone(),
            _ => continue,
        };
        rules.note_kept(item, &text, 0);
    }
}

fn input_for(f: &Fetched) -> Input {
    let limit = match &f.target.kind {
        TargetKind::Inline { entity, .. } => SizeLimit::Inline {
            entity: *entity,
            others: f.entity_inline_sizes,
        },
        _ => SizeLimit::Managed,
    };
    Input {
        target: f.target.clone(),
        text: f.text.clone(),
        limit,
        version_id: f.version_id.clone(),
        attachments: f.attachments.clone(),
        iac_managed: f.iac_managed.clone(),
        style: None,
    }
}

/// Fetch and plan every policy of the account; warnings are returned, not printed, so that a
/// batch can show them without breaking its progress bars. Tags are read only for policies
/// that would change, so an account costs a handful of requests.
pub async fn plan_account_items(
    store: &AwsStore,
    chain: &[Migration],
    options: &Options,
    evidence: (
        &crate::sources::evidence::Options,
        Option<crate::sources::aws::cloudtrail::Progress>,
    ),
) -> Result<(Vec<Item>, Vec<String>), Error> {
    let (fetched, read) = crate::sources::principals::fetch(store).await?;
    let mut items: Vec<Item> = fetched
        .iter()
        .map(|f| plan::plan_one(&input_for(f), chain, options))
        .collect();
    // The tags of the managed policies that would change, asked for together.
    let changed: Vec<(usize, &str)> = fetched
        .iter()
        .enumerate()
        .filter_map(|(i, f)| match (&items[i], &f.target.kind) {
            (Item::Change(_), TargetKind::Managed { arn, .. }) => Some((i, arn.as_str())),
            _ => None,
        })
        .collect();
    let arns: Vec<&str> = changed.iter().map(|(_, arn)| *arn).collect();
    let tags = store.managed_policies_tags(&arns).await;
    let mut warnings = Vec::new();
    for ((i, arn), tags) in changed.into_iter().zip(tags) {
        let mut input = input_for(&fetched[i]);
        match tags {
            Ok(tags) => match aws::iac_reason(&tags) {
                Some(why) => input.iac_managed = Some(why),
                None => continue,
            },
            // Fail closed: without its tags, forcemfa cannot tell whether a deployment owns
            // this policy, so it is treated as IaC-managed (shown, not published unless
            // --include-iac-managed).
            Err(e) => {
                warnings.push(format!(
                    "warning: could not read the tags of {arn} ({e}); treating it as managed by infrastructure as code: it is planned but not published without --include-iac-managed. Grant iam:ListPolicyTags (docs/permissions/plan-policy.json) to tell"
                ));
                input.iac_managed = Some(
                    "unknown: its tags could not be read; grant iam:ListPolicyTags to tell".into(),
                );
            }
        }
        items[i] = plan::plan_one(&input, chain, options);
    }
    // Who each change affects: principals and their credentials.
    warnings.extend(
        crate::sources::evidence::attach_impacts(store, &read, &mut items, evidence.0, evidence.1)
            .await,
    );
    Ok((items, warnings))
}

fn limit_for(kind: Kind) -> SizeLimit {
    let inline = |entity| SizeLimit::Inline { entity, others: 0 };
    match kind {
        Kind::Managed => SizeLimit::Managed,
        Kind::User => inline(EntityKind::User),
        Kind::Group => inline(EntityKind::Group),
        Kind::Role => inline(EntityKind::Role),
    }
}

/// Plan every file named by the sources.
pub fn plan_files(args: &PlanArgs, rules: &Rules) -> Vec<Item> {
    let mut items = Vec::new();
    let done: Result<(), std::convert::Infallible> = each_file_item(args, rules, |item| {
        items.push(item);
        Ok(())
    });
    match done {
        Ok(()) => items,
        Err(never) => match never {},
    }
}

/// Plan every file named by the sources, each item handed to `sink` as soon as it and those
/// before it are planned: policy files in discovery order, then templates. An error from `sink`
/// stops the planning and is returned.
fn each_file_item<E>(
    args: &PlanArgs,
    rules: &Rules,
    mut sink: impl FnMut(Item) -> Result<(), E>,
) -> Result<(), E> {
    let found = files::discover(&args.sources);
    // IaC templates (CloudFormation, Terraform) are planned by their own source.
    let (found, iac_files) = crate::sources::iac::split(found, &args.sources);
    let plan_one = |found: &Result<PathBuf, files::FileError>| match found {
        // Reported, never dropped without a word (a symlinked folder, say).
        Err(files::FileError::Skipped { path, reason }) => Item::Skipped {
            target: Target::file(path),
            reason: reason.clone(),
            findings: Vec::new(),
            needs_review: false,
        },
        Err(e) => Item::Error {
            target: Target::file(e.path()),
            error: strip_path(&e.to_string()),
        },
        Ok(path) => match files::read(path) {
            Err(e) => Item::Error {
                target: Target::file(path),
                error: strip_path(&e.to_string()),
            },
            Ok(text) => {
                // Options per file: forcemfa.toml's [[paths]] overrides.
                let profile = rules.profile_for(path);
                let (options, kind) = rules.of(profile);
                let mut item = plan::plan_one(
                    &Input::file(Target::file(path), text.clone(), limit_for(kind)),
                    &rules.chain,
                    options,
                );
                rules.note_kept(&mut item, &text, profile);
                rules.kept(item)
            }
        },
    };
    // Planning is pure and CPU-bound (the effect diff dominates): spread over the cores, results
    // kept in discovery order, never a file lost silently, even to a bug.
    crate::sources::parallel::for_each_in_order(
        &found,
        plan_one,
        |f| Item::Error {
            target: Target::file(f.as_ref().map(|p| p.as_path()).unwrap_or(Path::new("?"))),
            error: "internal error while planning (a bug in forcemfa: please report it)".into(),
        },
        &mut sink,
    )?;
    // Templates take their options from `[[paths]]` as policy files do.
    let profile = |p: &Path| (rules.chain.as_slice(), rules.of(rules.profile_for(p)).0);
    crate::sources::iac::plan_each(&iac_files, &profile, |items| {
        items.into_iter().try_for_each(|i| sink(rules.kept(i)))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use std::cell::RefCell;
    use std::path::Path;

    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::report::run::whole;

    /// A folder of several files: policies that change and that do not, a policy that is not
    /// JSON, one that is not UTF-8, a JSON file that is no policy, a template, a folder inside,
    /// generated output (a CDK `cdk.out`) and program files that mention an MFA key.
    fn folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let copy = |from: &str, to: &str| {
            let to = dir.path().join(to);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(root.join(from), to).unwrap();
        };
        copy("policies/2015-blog-force-mfa.json", "a.json");
        copy("policies/current-docs-mfa-only.json", "b.json");
        copy("policies/2019-docs-mfa-only.json", "sub/c.json");
        copy("policies/current-docs-self-manage.json", "sub/d.json");
        copy("iac/cloudformation/styles.yaml", "stack.yaml");
        copy("unread/cdk-app/cdk.json", "app/cdk.json");
        copy(
            "unread/cdk-app/cdk.out/MfaStack.template.json",
            "app/cdk.out/MfaStack.template.json",
        );
        copy("unread/cdk-app/lib/mfa-stack.ts", "app/lib/mfa-stack.ts");
        copy("unread/csharp/MfaStack.cs", "MfaStack.cs");
        std::fs::write(
            dir.path().join("broken.json"),
            "{\"Version\": \"2012-10-17\", [",
        )
        .unwrap();
        std::fs::write(dir.path().join("latin.json"), b"{\"a\": \"\xff\"}").unwrap();
        std::fs::write(dir.path().join("other.json"), "{\"a\": 1}").unwrap();
        dir
    }

    fn plan_args(dir: &Path, flags: &[&str]) -> PlanArgs {
        let mut argv = vec!["forcemfa"];
        argv.extend_from_slice(flags);
        let path = dir.display().to_string();
        argv.push(&path);
        let mut cli = Cli::try_parse_from(argv).unwrap();
        crate::cli::config::apply(&mut cli).unwrap();
        match cli.command {
            Command::Plan { args, .. } | Command::Scan { args, .. } => args,
            _ => panic!("not plan or scan"),
        }
    }

    /// The report printed as planning goes is the report `emit` prints whole, byte for byte and
    /// in the same order, in every format streamed, for plan and scan, plain, quiet and verbose;
    /// the exit code from the counts is the one from the items; a saved plan is written whole.
    #[test]
    fn the_streamed_report_is_the_whole_report_and_the_same_exit_code() {
        let dir = folder();
        let cases: [(&str, Mode); 2] = [("plan", Mode::Plan), ("scan", Mode::Scan)];
        for (command, mode) in cases {
            for format in [Format::Text, Format::Json, Format::Markdown] {
                for (quiet, verbose) in [(false, false), (true, false), (false, true)] {
                    let ui = Ui {
                        color: false,
                        quiet,
                        verbose,
                    };
                    let args = plan_args(dir.path(), &[command]);
                    let rules = Rules::new(&args, true).unwrap().with_effect_rows(verbose);
                    let report = plan_report(&args, mode);
                    let planned = plan_files_part(&args, &rules).unwrap();
                    let views: Vec<_> = planned.parts.iter().map(Part::view).collect();
                    let expected = whole(&ui, format, &views, &report).unwrap();

                    let printed = RefCell::new(String::new());
                    let out = Box::new(|text: &str, _json: bool| {
                        printed.borrow_mut().push_str(text);
                        Ok(())
                    });
                    let stream = Stream::begin_to(&ui, format, &report, out).unwrap();
                    let saved = dir.path().join("..").join(format!(
                        "{}-saved.json",
                        dir.path().file_name().unwrap().to_string_lossy()
                    ));
                    let (tally, unread) =
                        stream_files(&args, &rules, Some(&saved), &ui, stream).unwrap();
                    let what = format!("{command} {format:?} quiet {quiet} verbose {verbose}");
                    assert_eq!(printed.into_inner(), expected, "{what}");
                    assert_eq!(unread, planned.parts[0].unread, "{what}");
                    // The folder has what the report must keep in order: changes, errors (not
                    // JSON, not UTF-8), templates, generated output and files not read.
                    let s = &tally.summary;
                    assert!(
                        s.changes > 2 && s.errors == 2 && s.skipped > 0,
                        "{what}: {s:?}"
                    );
                    assert!(unread.len() >= 2, "{what}: {unread:?}");
                    for detailed in [false, true] {
                        let held = match exit_for_parts(&planned.parts, detailed) {
                            Exit::Ok if mode == Mode::Scan => {
                                scan_exit_for(&planned.parts[0].items, detailed)
                            }
                            e => e,
                        };
                        assert_eq!(files_exit(&tally, &unread, mode, detailed), held, "{what}");
                    }
                    // The saved plan holds every change, as one saved from the items does.
                    let text = std::fs::read_to_string(&saved).unwrap();
                    std::fs::remove_file(&saved).unwrap();
                    let mut read: serde_json::Value = serde_json::from_str(&text).unwrap();
                    let mut from_items = serde_json::to_value(PlanFile::new(
                        &planned.parts[0].items,
                        &rules.chain,
                        rules.options(),
                        String::new(),
                    ))
                    .unwrap();
                    read["created"] = serde_json::Value::Null;
                    from_items["created"] = serde_json::Value::Null;
                    assert_eq!(read["changes"], from_items["changes"], "{what}");
                    assert_eq!(read["blocked"], from_items["blocked"], "{what}");
                    assert!(!from_items["changes"].as_array().unwrap().is_empty());
                }
            }
        }
    }
}
