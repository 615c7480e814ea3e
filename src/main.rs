//! The `forcemfa` binary: parse, run, print the error chain, exit with the documented code.

use clap::Parser;
use forcemfa::error::Exit;
use std::io::Write;

fn main() {
    let cli = forcemfa::cli::Cli::parse();
    let code = match forcemfa::app::run(cli) {
        Ok(exit) => exit,
        Err(e) => {
            let mut msg = format!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(&format!("\n  caused by: {s}"));
                source = s.source();
            }
            let _ = writeln!(std::io::stderr().lock(), "{msg}");
            Exit::Error
        }
    };
    std::process::exit(code as i32);
}
