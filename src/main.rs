//! `dropout-study`: parse the command line, run the study (or a shard of it), `merge`, `sweep`,
//! `reproduce` or `verify`, map errors to exit codes (0 success, 1 a failure during the run, 2 a
//! bad flag, output folder or input, 130 or 143 interrupted by SIGINT or SIGTERM).

mod cli;
mod commands;
mod faults;
mod interrupt;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let outcome = match cli.command {
        Some(cli::Command::Reproduce(args)) => commands::reproduce(&args),
        Some(cli::Command::Sweep(args)) => commands::sweep(&args),
        Some(cli::Command::Verify(args)) => commands::verify(&args),
        Some(cli::Command::Merge(args)) => commands::merge(&args),
        None => commands::study(&cli.study),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            if let Some(hint) = error.hint() {
                eprintln!("{hint}");
            }
            ExitCode::from(error.exit_code())
        }
    }
}
