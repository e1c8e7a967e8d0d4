//! `dropout-study`: parse the command line, run the study, `sweep` or `reproduce`, map errors to exit
//! codes (0 success, 1 a failure during the run, 2 a bad flag or output folder).

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let outcome = match cli.command {
        Some(cli::Command::Reproduce(args)) => commands::reproduce(&args),
        Some(cli::Command::Sweep(args)) => commands::sweep(&args),
        None => commands::study(&cli.study),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
