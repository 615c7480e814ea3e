//! The `forcemfa` binary: parse, run, print the error chain, exit with the documented code.

use clap::Parser;
use forcemfa::error::Exit;
use std::io::Write;

fn main() {
    // Usage errors exit 1, not clap's 2: with --detailed-exitcode, 2 means "changes pending".
    let cli = match forcemfa::cli::Cli::try_parse() {
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
    let code = match forcemfa::commands::run(cli) {
        Ok(exit) => exit,
        Err(e) => {
            let mut msg = format!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(&format!("\n  caused by: {s}"));
                source = s.source();
            }
            // Error messages quote paths and AWS answers: no control character reaches the
            // terminal.
            let msg = forcemfa::ui::escape_lines(&msg, false);
            let _ = writeln!(std::io::stderr().lock(), "{msg}");
            Exit::Error
        }
    };
    std::process::exit(code as i32);
}
