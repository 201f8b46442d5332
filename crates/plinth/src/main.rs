//! The `plinth` binary: parses the command line, loads the configuration, opens the
//! backends and hands them to `plinth_api::serve`. Everything else lives in the library
//! crates; errors are reported here, on one line, with a non-zero exit code.

mod cli;
mod commands;
mod sandbox;
mod serve;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // One line, no backtrace: the message names the culprit.
            eprintln!("error: {}", failure.message.replace('\n', " "));
            ExitCode::from(failure.exit_code)
        }
    }
}
