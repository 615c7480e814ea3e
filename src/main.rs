//! The `forcemfa` binary: parse, run, print the error chain, exit with the documented code.

use clap::{CommandFactory, FromArgMatches};
use forcemfa::error::Exit;
use std::io::Write;

fn main() {
    // Usage errors exit 1, not clap's 2: with --detailed-exitcode, 2 means "changes pending".
    // The matches are kept to tell options given on the command line from defaults, which the
    // config file may fill in.
    let parsed = forcemfa::cli::Cli::command()
        .try_get_matches()
        .and_then(|m| {
            let mut cli = forcemfa::cli::Cli::from_arg_matches(&m)?;
            cli.explicit = forcemfa::cli::config::explicit_args(&m);
            Ok(cli)
        });
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                Exit::Error
            } else {
                Exit::Ok
            };
            let _ = e.print();
            std::process::exit(code as i32);
        }
    };
    let json = cli.global.format == forcemfa::cli::Format::Json;
    let code = match forcemfa::commands::run(cli) {
        Ok(exit) => exit,
        Err(e) => {
            let mut msg = format!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                // A cause the message already quotes is not repeated.
                let text = s.to_string();
                if !msg.contains(&text) {
                    msg.push_str(&format!("\n  caused by: {text}"));
                }
                source = s.source();
            }
            // Error messages quote paths and AWS answers: no control character reaches the
            // terminal.
            let msg = forcemfa::ui::escape_lines(&msg, false);
            let _ = writeln!(std::io::stderr().lock(), "{msg}");
            // A machine reading JSON gets an answer it can parse: the error, as an object.
            if json {
                let object = serde_json::json!({
                    "tool": "forcemfa",
                    "error": {
                        "message": msg.strip_prefix("error: ").unwrap_or(&msg),
                        "exit_code": Exit::Error as i32,
                    },
                });
                if let Ok(text) = serde_json::to_string_pretty(&object) {
                    let _ = writeln!(std::io::stdout().lock(), "{text}");
                }
            }
            Exit::Error
        }
    };
    std::process::exit(code as i32);
}
