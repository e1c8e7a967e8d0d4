//! The commands: the study (trials, output files, table and finding), `sweep`, `reproduce` and
//! `verify`.
//!
//! This module owns the order of a study's steps and how each failure is reported: which exit
//! code, and which message.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::time::{Instant, SystemTime};

use dropout_study::arithmetic::Precision;
use dropout_study::dropout::{Dropout, KeepProb, Mask};
use dropout_study::engine::{BLOCK_TRIALS, MAX_COUNTED_UNITS};
use dropout_study::export::{self, ExportError, OutputDir, RunRecord, SweepRecord, SweepRow};
use dropout_study::network::{Layout, Network};
use dropout_study::seeding::{GENERATOR, MAIN_RUN_STREAM, sweep_run_stream};
use dropout_study::study::{self, StudyConfig, StudyError};
use dropout_study::{network_file, report, reproduce};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{Format, ReproduceArgs, StudyArgs, SweepArgs, VerifyArgs};
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
    #[error("cannot write {context}: {source}")]
    Io {
        /// The file being written.
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

/// The network to run and its name for `run.json`: the file given, or the notebook's.
fn load_network(
    path: Option<&Path>,
    precision: Precision,
) -> Result<(Network<f64>, String), AppError> {
    let Some(path) = path else {
        return Ok((Network::notebook(), "notebook".to_string()));
    };
    let network = network_file::load(path).map_err(|e| AppError::Usage(e.to_string()))?;
    match precision {
        Precision::F32 => network_file::check_fits::<f32>(&network, path),
        Precision::F64 => network_file::check_fits::<f64>(&network, path),
    }
    .map_err(|e| AppError::Usage(e.to_string()))?;
    Ok((network, path.display().to_string()))
}

/// A rayon pool of `threads` workers (all cores when `None`).
fn thread_pool(threads: Option<usize>) -> Result<rayon::ThreadPool, AppError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .build()
        .map_err(|e| AppError::Usage(format!("cannot start the worker threads: {e}")))
}

/// Runs the study: trials, output files, then the table and the finding on stdout.
pub fn study(args: &StudyArgs) -> Result<(), AppError> {
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let clock = Instant::now();
    let run = &args.run;
    let (network, network_name) = load_network(run.network.as_deref(), run.precision)?;
    let names = Layout::new(network.shape()).names();
    let config = StudyConfig {
        trials: args.trials,
        keep_prob: args.keep_prob,
        scheme: run.scheme,
        seed: run.seed,
        run_stream: MAIN_RUN_STREAM,
        precision: run.precision,
        arithmetic: run.arithmetic,
    };

    // Signals only set a flag from here on, so that nothing half-written is left.
    let interrupt = Interrupt::install(&run.out)?;
    // The output folder and the thread pool, before any work.
    let mut out = OutputDir::prepare(&run.out).map_err(AppError::OutDir)?;
    let pool = thread_pool(run.threads)?;
    let threads = pool.current_num_threads();
    let progress = progress_bar(args.trials, run.quiet);

    // The trials, streamed to trials.csv as they complete.
    let mut trials_csv = if args.no_trials_csv {
        None
    } else {
        let mut file = out.create("trials.csv")?;
        file.write_all(export::trials_header(&names).as_bytes())
            .map_err(|source| AppError::Io {
                context: "trials.csv",
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
    let mut sha256 = BTreeMap::new();
    if let Some(file) = trials_csv {
        sha256.insert("trials.csv".to_string(), out.finish(file)?);
    }
    let summary = export::summary_rows(&result.summaries, run.scheme);
    sha256.insert(
        "summary.csv".into(),
        write_csv_file(&mut out, "summary.csv", &summary)?,
    );
    let convergence = export::convergence_rows(&result.checkpoints);
    sha256.insert(
        "convergence.csv".into(),
        write_csv_file(&mut out, "convergence.csv", &convergence)?,
    );
    if let Some(masks) = &result.masks {
        let rows = export::mask_rows(masks, args.trials);
        sha256.insert(
            "masks.csv".into(),
            write_csv_file(&mut out, "masks.csv", &rows)?,
        );
    }
    let wall_seconds = clock.elapsed().as_secs_f64();
    let record = RunRecord {
        crate_version: env!("CARGO_PKG_VERSION"),
        git_commit: export::git_commit(),
        seed: run.seed,
        trials: args.trials,
        keep_prob: args.keep_prob.get(),
        keep_prob_used: result.dropout.keep_prob.get(),
        scheme: run.scheme.name(),
        network: network_name,
        expectation_method: result.method.name(),
        penalty: result.penalty,
        mask_chi_square: result.mask_chi_square,
        precision: run.precision.name(),
        arithmetic: run.arithmetic.name(),
        threads,
        block_trials: BLOCK_TRIALS,
        generator: GENERATOR,
        nonfinite_trials: result.nonfinite_trials,
        started_at,
        wall_seconds,
        trials_per_second: args.trials as f64 / wall_seconds,
        sha256,
    };
    write_json_file(&mut out, "run.json", &record)?;

    // Everything is complete: replace the previous results, and remove what this run does not
    // replace (a trials.csv or masks.csv of an earlier run would not match this run.json). A
    // signal from here on lets the replacement finish (see the interrupt module).
    interrupt.check(false)?;
    let folder = out.path().to_path_buf();
    let mut removed = Vec::new();
    for stale in ["trials.csv", "masks.csv"] {
        if !record.sha256.contains_key(stale) && out.remove_stale(stale)? {
            removed.push(stale);
        }
    }
    out.commit()?;
    interrupt.check(true)?;
    if !run.quiet {
        let written: Vec<&str> = record.sha256.keys().map(String::as_str).collect();
        eprintln!(
            "wrote {} and run.json to {} ({:.2} s, {:.3e} trials/s, {threads} threads){}",
            written.join(", "),
            folder.display(),
            wall_seconds,
            record.trials_per_second,
            if removed.is_empty() {
                String::new()
            } else {
                format!("; removed the previous run's {}", removed.join(" and "))
            }
        );
        if result.masks.is_none() && run.scheme.uses_mask() {
            eprintln!(
                "masks.csv is not written: {} hidden units have 2^{} patterns, more than are counted (2^{})",
                network.shape().hidden,
                network.shape().hidden,
                MAX_COUNTED_UNITS
            );
        }
        let mut context = format!(
            "keep_prob {}, scheme {}, seed {}",
            args.keep_prob,
            run.scheme.name(),
            run.seed
        );
        if let Some(r) = result.penalty {
            context += &format!(", penalty R = {r:.6}");
        }
        context += &format!(
            ", exact expectation by {}",
            result.method.name().replace('_', " ")
        );
        print_stdout(&format!(
            "{}\n{}",
            report::table(&result.summaries),
            report::finding(&result.summaries, run.scheme.preserves_mean(), &context)
        ));
    }
    Ok(())
}

/// Runs `sweep`: the study at every keep probability, each on its own run stream, into
/// sweep.csv and sweep.json.
pub fn sweep(args: &SweepArgs) -> Result<(), AppError> {
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let clock = Instant::now();
    let run = &args.run;
    let (network, network_name) = load_network(run.network.as_deref(), run.precision)?;
    let interrupt = Interrupt::install(&run.out)?;
    let mut out = OutputDir::prepare(&run.out).map_err(AppError::OutDir)?;
    let pool = thread_pool(run.threads)?;
    let keep_probs = &args.keep_probs.0;
    let progress = progress_bar(
        args.trials.saturating_mul(keep_probs.len() as u64),
        run.quiet,
    );

    // One study per keep probability.
    let mut rows = Vec::new();
    let mut lines = String::new();
    for &keep_prob in keep_probs {
        let config = StudyConfig {
            trials: args.trials,
            keep_prob,
            scheme: run.scheme,
            seed: run.seed,
            run_stream: sweep_run_stream(keep_prob),
            precision: run.precision,
            arithmetic: run.arithmetic,
        };
        let result = pool.install(|| {
            let progress = &|n| progress.inc(n);
            study::run_until_stopped(&network, &config, None, progress, interrupt.flag())
        });
        interrupt.check(false)?;
        let result = result?;
        if result.nonfinite_trials > 0 {
            return Err(AppError::NonFinite(result.nonfinite_trials));
        }
        let worst = result
            .summaries
            .iter()
            .filter_map(|s| s.z_vs_expected().map(|z| (s.quantity.as_str(), z)))
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()));
        lines += &format!(
            "keep_prob {:<6} penalty R {:<12} largest |z| vs exact {}\n",
            keep_prob.to_string(),
            result
                .penalty
                .map_or("-".to_string(), |r| format!("{r:.6}")),
            worst.map_or("-".to_string(), |(q, z)| format!("{:.2} ({q})", z.abs()))
        );
        rows.extend(result.summaries.iter().map(|s| SweepRow {
            keep_prob: keep_prob.get(),
            quantity: s.quantity.clone(),
            trials: s.moments.count,
            expected: s.expected,
            no_dropout: s.no_dropout,
            penalty: result.penalty,
            penalty_gradient: s.penalty_gradient,
            mean: s.moments.mean,
            std_error: s.moments.std_error(),
            z_vs_expected: s.z_vs_expected(),
            scheme: run.scheme.name(),
        }));
    }
    progress.finish_and_clear();

    // sweep.csv, then sweep.json with its hash.
    let mut sha256 = BTreeMap::new();
    sha256.insert(
        "sweep.csv".to_string(),
        write_csv_file(&mut out, "sweep.csv", &rows)?,
    );
    let record = SweepRecord {
        crate_version: env!("CARGO_PKG_VERSION"),
        git_commit: export::git_commit(),
        seed: run.seed,
        trials: args.trials,
        keep_probs: keep_probs.iter().map(|p| p.get()).collect(),
        scheme: run.scheme.name(),
        precision: run.precision.name(),
        arithmetic: run.arithmetic.name(),
        network: network_name,
        threads: pool.current_num_threads(),
        generator: GENERATOR,
        started_at,
        wall_seconds: clock.elapsed().as_secs_f64(),
        sha256,
    };
    write_json_file(&mut out, "sweep.json", &record)?;
    let folder = out.path().to_path_buf();
    interrupt.check(false)?;
    out.commit()?;
    interrupt.check(true)?;
    if !run.quiet {
        eprintln!("wrote sweep.csv and sweep.json to {}", folder.display());
        print_stdout(&lines);
    }
    Ok(())
}

/// Runs `reproduce`: the notebook's two runs, or one run with a given mask.
pub fn reproduce(args: &ReproduceArgs) -> Result<(), AppError> {
    let (network, _) = load_network(args.network.as_deref(), args.precision)?;
    let units = network.shape().hidden;
    if !args.scheme.uses_mask() {
        return Err(AppError::Usage(format!(
            "--scheme {} draws noise, not a mask; reproduce runs a given mask with tf1, scale or unscaled",
            args.scheme.name()
        )));
    }

    // Which runs: the notebook's two (its network only), or the one asked for.
    let cases: Vec<(KeepProb, Mask)> = match (&args.mask, args.keep_prob) {
        (None, None) if args.network.is_none() => reproduce::notebook_cases().to_vec(),
        (None, None) => vec![(KeepProb::ONE, Mask::all_kept(units))],
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
        let dropout = Dropout::new(args.scheme, *p);
        match (args.format, args.precision) {
            (Format::Json, Precision::F32) => {
                text += &reproduce::run::<f32>(&network, &dropout, mask, args.arithmetic).to_json();
                text.push('\n');
            }
            (Format::Json, Precision::F64) => {
                text += &reproduce::run::<f64>(&network, &dropout, mask, args.arithmetic).to_json();
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
                text +=
                    &reproduce::run::<f32>(&network, &dropout, mask, args.arithmetic).to_notebook();
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

/// Writes `rows` as the CSV file `name` and returns its SHA-256.
fn write_csv_file<R: serde::Serialize>(
    out: &mut OutputDir,
    name: &'static str,
    rows: &[R],
) -> Result<String, AppError> {
    let mut file = out.create(name)?;
    export::write_csv(&mut file, rows).map_err(|e| AppError::Io {
        context: name,
        source: e.into(),
    })?;
    Ok(out.finish(file)?)
}

/// Writes `record` as the pretty-printed JSON file `name`.
fn write_json_file<R: serde::Serialize>(
    out: &mut OutputDir,
    name: &'static str,
    record: &R,
) -> Result<(), AppError> {
    let mut file = out.create(name)?;
    serde_json::to_writer_pretty(&mut file, record)
        .map_err(io::Error::from)
        .and_then(|()| file.write_all(b"\n"))
        .map_err(|source| AppError::Io {
            context: name,
            source,
        })?;
    out.finish(file)?;
    Ok(())
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
