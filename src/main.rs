//! The `cinder` binary: a thin shell over the library's daemons, launcher and job API.

mod commands;
mod evaluate;
mod inputs;
mod train;
mod train_estimators;
mod train_pipeline;
mod train_trees;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    cinder::daemon::maybe_run_daemon();
    let matches = cinder::cli::Cli::command().get_matches();
    let cli = cinder::cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Err(message) = check_usage(&cli, &matches) {
        let mut command = cinder::cli::Cli::command();
        command
            .error(clap::error::ErrorKind::ValueValidation, message)
            .exit();
    }
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

/// Checks the whole command line before anything starts (usage errors exit 2).
fn check_usage(cli: &cinder::cli::Cli, matches: &clap::ArgMatches) -> Result<(), String> {
    use cinder::cli::Command;
    use cinder::cli_check::{check_log_level, check_predict, check_train};
    check_log_level(&cli.log_level)?;
    match (&cli.command, matches.subcommand()) {
        (Command::Train(args), Some((_, m))) => check_train(args, m),
        (Command::Predict(args), Some((_, m))) => check_predict(args, m),
        _ => Ok(()),
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
