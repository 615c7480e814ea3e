//! The commands that fit forcemfa into an operator's tools: `config` (the effective options and
//! where each comes from), `completions SHELL` and `man` (both generated from the clap
//! definitions).

use clap::CommandFactory;

use crate::cli::{Cli, Command, Format, PlanArgs};
use crate::commands::rules::Rules;
use crate::error::{Error, Exit};
use crate::report::json::pretty;
use crate::ui::Ui;

/// Runs `config`, `completions` and `man`; `None` for every other command.
pub fn run(ui: &Ui, cli: &Cli) -> Result<Option<Exit>, Error> {
    match &cli.command {
        Command::Config { args } => {
            config(ui, cli.global.format, args)?;
            Ok(Some(Exit::Ok))
        }
        Command::Completions { shell } => {
            ui.out(&completions(*shell))?;
            Ok(Some(Exit::Ok))
        }
        Command::Man => {
            ui.out(&man_page()?)?;
            Ok(Some(Exit::Ok))
        }
        _ => Ok(None),
    }
}

/// The completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> String {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "forcemfa", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The manual page (roff): the top-level page, then one section per subcommand with its options.
pub fn man_page() -> Result<String, Error> {
    let cmd = Cli::command();
    let mut buf = Vec::new();
    let io = |source| Error::Write {
        path: "standard output".into(),
        source,
    };
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .map_err(io)?;
    // One section per subcommand, its own sections one level down.
    for sub in cmd.get_subcommands() {
        let name = format!("forcemfa {}", sub.get_name());
        let man = clap_mangen::Man::new(sub.clone().bin_name(name.clone()));
        let mut part = Vec::new();
        man.render_synopsis_section(&mut part).map_err(io)?;
        man.render_description_section(&mut part).map_err(io)?;
        man.render_options_section(&mut part).map_err(io)?;
        buf.extend_from_slice(format!(".SH \"{}\"\n", name.to_uppercase()).as_bytes());
        for line in String::from_utf8_lossy(&part).lines() {
            let line = match line.strip_prefix(".SH ") {
                Some(rest) => format!(".SS {rest}"),
                None => line.to_string(),
            };
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn config(ui: &Ui, format: Format, args: &PlanArgs) -> Result<(), Error> {
    let resolved = &args.config;
    // Check what the options name, so that `forcemfa config` finds a bad file before a plan does.
    Rules::new(args, true)?;
    let mut per_source = Vec::new();
    for source in &args.sources {
        let table = resolved.override_for(source);
        let p = resolved.profile(args, table);
        per_source.push((source.display().to_string(), table, p));
    }
    match format {
        Format::Json => {
            let mut v = resolved.to_json();
            v["sources"] = serde_json::Value::Array(
                per_source
                    .iter()
                    .map(|(s, table, p)| {
                        serde_json::json!({
                            "source": s,
                            "paths-table": table.and_then(|i| resolved.paths.get(i)).map(|o| &o.at),
                            "allow-before-mfa": p.allow_before_mfa,
                            "skip-migration": p.skip_migration,
                            "kind": crate::cli::config::kind_name(p.kind),
                        })
                    })
                    .collect(),
            );
            ui.out(&pretty("the effective options", &v)?)?;
        }
        _ => {
            let mut out = resolved.to_text();
            for (s, table, p) in &per_source {
                let from = match table.and_then(|i| resolved.paths.get(i)) {
                    Some(o) => format!("[[paths]] {:?} at {}", o.glob, o.at),
                    None => "the top-level options".into(),
                };
                out.push_str(&format!(
                    "{s}: {from}: allow-before-mfa [{}], skip-migration [{}], kind {}\n",
                    p.allow_before_mfa.join(", "),
                    p.skip_migration.join(", "),
                    crate::cli::config::kind_name(p.kind)
                ));
            }
            ui.out(&out)?;
        }
    }
    Ok(())
}
