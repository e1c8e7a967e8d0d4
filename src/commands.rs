//! The two commands: the study (trials, output files, table and finding) and `reproduce`.
//!
//! This module owns the order of a study's steps and how each failure is reported: which exit
//! code, and which message.

use std::io::{self, IsTerminal, Write};
use std::time::{Instant, SystemTime};

use dropout_study::arithmetic::Precision;
use dropout_study::dropout::{KeepProb, Mask};
use dropout_study::engine::BLOCK_TRIALS;
use dropout_study::export::{self, ExportError, MaskRowOut, OutputDir, RunRecord, SummaryRow};
use dropout_study::network::{Layout, Network};
use dropout_study::reproduce;
use dropout_study::seeding::GENERATOR;
use dropout_study::study::{self, StudyConfig, StudyError};
use dropout_study::{report, stats::QuantitySummary};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{Format, ReproduceArgs, StudyArgs, VerifyArgs};
use crate::faults;
use crate::interrupt::Interrupt;

/// A failure, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A flag's value cannot be used (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The output folder cannot be used (exit 2).
    #[error(transparent)]
    OutDir(ExportError),
    /// Writing an output file failed (exit 1).
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The study failed (exit 1).
    #[error(transparent)]
    Study(#[from] StudyError),
    /// Some trials produced NaN or infinite values (exit 1).
    #[error(
        "{0} trials produced NaN or infinite values; no results were written \
         (give --allow-nonfinite to write them anyway, counted in run.json's nonfinite_trials)"
    )]
    NonFinite(u64),
    /// SIGINT or SIGTERM arrived during the study (exit 128 + the signal's number).
    #[error(
        "interrupted by {}: {}",
        signal_name(*signal),
        if *committed {
            format!("the new results had been written and now replace the previous ones in {}", dir.display())
        } else {
            format!("no results were written; the previous results in {} are unchanged", dir.display())
        }
    )]
    Interrupted {
        /// The signal's number.
        signal: i32,
        /// The output folder.
        dir: std::path::PathBuf,
        /// Whether the signal came while the new results were replacing the previous ones,
        /// which then completed.
        committed: bool,
    },
    /// The results folder given to `verify` fails a check (exit 1); the failures are printed.
    #[error("{0}")]
    Verify(String),
    /// Another I/O failure (exit 1).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The error.
        source: io::Error,
    },
}

impl AppError {
    /// 2 for a bad flag or output folder, 1 for a failure during the run.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Usage(_) | AppError::OutDir(_) => 2,
            AppError::Interrupted { signal, .. } => 128 + *signal as u8,
            _ => 1,
        }
    }

    /// What to do about a full disk, when this failure is one.
    pub fn hint(&self) -> Option<&'static str> {
        faults::is_disk_full(self).then_some(
            "the disk holding the output folder is full: free some space there, or give --out a \
             folder on another disk; the previous results in it are unchanged",
        )
    }
}

fn signal_name(signal: i32) -> &'static str {
    signal_hook::low_level::signal_name(signal).unwrap_or("a signal")
}

/// Runs the study: trials, output files, then the table and the finding on stdout.
pub fn study(args: &StudyArgs) -> Result<(), AppError> {
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let clock = Instant::now();
    let network = Network::notebook();
    let names = Layout::new(network.shape()).names();
    let config = StudyConfig {
        trials: args.trials,
        keep_prob: args.keep_prob,
        seed: args.seed,
        precision: args.precision,
        arithmetic: args.arithmetic,
    };

    // Signals only set a flag from here on, so that nothing half-written is left.
    let interrupt = Interrupt::install(&args.out)?;
    // The output folder and the thread pool, before any work.
    let mut out = OutputDir::prepare(&args.out).map_err(AppError::OutDir)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .map_err(|e| AppError::Usage(format!("cannot start the worker threads: {e}")))?;
    let threads = pool.current_num_threads();
    let progress = progress_bar(args.trials, args.quiet);

    // The trials, streamed to trials.csv as they complete.
    let mut trials_csv = if args.no_trials_csv {
        None
    } else {
        let mut file = out.create("trials.csv")?;
        file.write_all(export::trials_header(&names).as_bytes())
            .map_err(|source| AppError::Io {
                context: "cannot write trials.csv",
                source,
            })?;
        Some(file)
    };
    let rows = trials_csv.as_mut().map(|f| f as &mut (dyn Write + Send));
    let result = pool.install(|| {
        let progress = &|n| progress.inc(n);
        study::run_until_stopped(&network, &config, rows, progress, interrupt.flag())
    });
    progress.finish_and_clear();
    interrupt.check(false)?;
    let result = result?;
    if result.nonfinite_trials > 0 && !args.allow_nonfinite {
        return Err(AppError::NonFinite(result.nonfinite_trials));
    }
    if result.nonfinite_trials > 0 {
        eprintln!(
            "warning: {} of {} trials produced NaN or infinite values; the statistics they enter \
             are NaN or infinite, and run.json counts them in nonfinite_trials",
            result.nonfinite_trials, args.trials
        );
    }

    // The other files, each hashed as it is written.
    let mut sha256 = std::collections::BTreeMap::new();
    if let Some(file) = trials_csv {
        sha256.insert("trials.csv".to_string(), out.finish(file)?);
    }
    let summary: Vec<SummaryRow> = result.summaries.iter().map(SummaryRow::from).collect();
    sha256.insert(
        "summary.csv".to_string(),
        write_csv_file(&mut out, "summary.csv", &summary)?,
    );
    if let Some(masks) = &result.masks {
        let rows: Vec<MaskRowOut> = masks.iter().map(MaskRowOut::from).collect();
        sha256.insert(
            "masks.csv".to_string(),
            write_csv_file(&mut out, "masks.csv", &rows)?,
        );
    }
    let wall_seconds = clock.elapsed().as_secs_f64();
    let record = RunRecord {
        crate_version: env!("CARGO_PKG_VERSION"),
        git_commit: export::git_commit(),
        seed: args.seed,
        trials: args.trials,
        keep_prob: args.keep_prob.get(),
        keep_prob_used: result.keep_prob_used.get(),
        precision: args.precision.name(),
        arithmetic: args.arithmetic.name(),
        threads,
        block_trials: BLOCK_TRIALS,
        generator: GENERATOR,
        nonfinite_trials: result.nonfinite_trials,
        started_at,
        wall_seconds,
        trials_per_second: args.trials as f64 / wall_seconds,
        sha256,
    };
    let mut file = out.create("run.json")?;
    serde_json::to_writer_pretty(&mut file, &record).map_err(|e| AppError::Io {
        context: "cannot write run.json",
        source: e.into(),
    })?;
    file.write_all(b"\n").map_err(|source| AppError::Io {
        context: "cannot write run.json",
        source,
    })?;
    out.finish(file)?;

    // Everything is complete: replace the previous results. A signal from here on lets the
    // replacement finish (see the interrupt module).
    interrupt.check(false)?;
    let folder = out.path().to_path_buf();
    let stale_trials = args.no_trials_csv && out.remove_stale("trials.csv")?;
    out.commit()?;
    interrupt.check(true)?;
    if !args.quiet {
        let written: Vec<&str> = record.sha256.keys().map(String::as_str).collect();
        eprintln!(
            "wrote {} and run.json to {} ({:.2} s, {:.3e} trials/s, {threads} threads){}",
            written.join(", "),
            folder.display(),
            wall_seconds,
            record.trials_per_second,
            if stale_trials {
                "; removed the previous run's trials.csv"
            } else {
                ""
            }
        );
        print_stdout(&summary_text(&result.summaries, args.keep_prob, args.seed));
    }
    Ok(())
}

/// Runs `reproduce`: the notebook's two runs, or one run with a given mask.
pub fn reproduce(args: &ReproduceArgs) -> Result<(), AppError> {
    let network = Network::notebook();
    let units = network.shape().hidden;

    // Which runs: the notebook's two, or the one asked for.
    let cases: Vec<(KeepProb, Mask)> = match (&args.mask, args.keep_prob) {
        (None, None) => reproduce::notebook_cases().to_vec(),
        (None, Some(p)) if p.is_one() => vec![(p, Mask::all_kept(units))],
        (None, Some(p)) => {
            return Err(AppError::Usage(format!(
                "--keep-prob {p} needs --mask: give one 0/1 character per hidden unit, such as --mask 100"
            )));
        }
        (Some(text), p) => {
            let mask =
                Mask::parse(text, units).map_err(|e| AppError::Usage(format!("--mask: {e}")))?;
            let p = p.unwrap_or(KeepProb::new(0.5).expect("in range"));
            if p.is_one() && mask.kept() != units {
                return Err(AppError::Usage(format!(
                    "--mask {mask} drops units, but --keep-prob 1 keeps every unit (no dropout); \
                     give --keep-prob below 1 or --mask {}",
                    Mask::all_kept(units)
                )));
            }
            vec![(p, mask)]
        }
    };

    // Print each run.
    let mut text = String::new();
    for (i, (p, mask)) in cases.iter().enumerate() {
        match (args.format, args.precision) {
            (Format::Json, Precision::F32) => {
                text += &reproduce::run::<f32>(&network, *p, mask, args.arithmetic).to_json();
                text.push('\n');
            }
            (Format::Json, Precision::F64) => {
                text += &reproduce::run::<f64>(&network, *p, mask, args.arithmetic).to_json();
                text.push('\n');
            }
            (Format::Notebook, Precision::F32) => {
                if i > 0 {
                    text.push('\n');
                }
                let title = if p.is_one() {
                    "no dropout (keep_prob 1)".to_string()
                } else {
                    format!("dropout (keep_prob {p}, mask {mask})")
                };
                text += &format!("### {title}\n");
                text += &reproduce::run::<f32>(&network, *p, mask, args.arithmetic).to_notebook();
            }
            (Format::Notebook, Precision::F64) => {
                return Err(AppError::Usage(
                    "--format notebook prints float32 as the notebook did; use --precision f32, \
                     or --format json for float64"
                        .into(),
                ));
            }
        }
    }
    print_stdout(&text);
    Ok(())
}

/// The table and the finding.
fn summary_text(summaries: &[QuantitySummary], keep_prob: KeepProb, seed: u64) -> String {
    format!(
        "{}\n{}",
        report::table(summaries),
        report::finding(summaries, keep_prob.get(), seed)
    )
}

fn write_csv_file<R: serde::Serialize>(
    out: &mut OutputDir,
    name: &'static str,
    rows: &[R],
) -> Result<String, AppError> {
    let mut file = out.create(name)?;
    export::write_csv(&mut file, rows).map_err(|e| AppError::Io {
        context: match name {
            "summary.csv" => "cannot write summary.csv",
            _ => "cannot write masks.csv",
        },
        source: e.into(),
    })?;
    Ok(out.finish(file)?)
}

/// A progress bar on stderr, hidden when stderr is not a terminal or with --quiet.
fn progress_bar(trials: u64, quiet: bool) -> ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(trials), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {human_pos}/{human_len} trials  {per_sec}  eta {eta}",
        )
        .expect("valid template"),
    );
    bar
}

/// Writes to stdout; a reader that went away (`| head`) ends the output quietly.
fn print_stdout(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// Runs `verify`: checks a results folder, prints `ok: ...` or one line per failure.
pub fn verify(args: &VerifyArgs) -> Result<(), AppError> {
    if !args.dir.is_dir() {
        return Err(AppError::Usage(format!(
            "verify: {} is not a folder; give the --out folder of a study, such as results",
            args.dir.display()
        )));
    }
    let report = dropout_study::verify::verify(&args.dir);
    if report.failures.is_empty() {
        print_stdout(&format!("ok: {}\n", report.checked));
        Ok(())
    } else {
        let mut text = String::new();
        for failure in &report.failures {
            text += &format!("{failure}\n");
        }
        print_stdout(&text);
        Err(AppError::Verify(format!(
            "{} failed {} check(s); its files do not agree with run.json or with each other",
            args.dir.display(),
            report.failed
        )))
    }
}
