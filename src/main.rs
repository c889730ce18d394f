//! The `cinder` binary: a thin shell over the library's daemons, launcher and job API.

mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cinder::daemon::maybe_run_daemon();
    let cli = cinder::cli::Cli::parse();
    cinder::logging::init_logging(&cli.log_level);
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
