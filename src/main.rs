//! The `cinder` binary: a thin shell over the library's daemons, launcher and job API.

mod commands;
mod train;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cinder::daemon::maybe_run_daemon();
    let cli = cinder::cli::Cli::parse();
    cinder::logging::init_logging(&cli.log_level);
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            cinder::hold_if_interrupted();
            eprintln!("error: {}", error_chain(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line, skipping causes the message already spells out.
fn error_chain(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}
