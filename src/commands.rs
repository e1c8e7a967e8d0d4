//! The commands: the study (trials, output files, table and finding) or one shard of it,
//! `merge` of the shards, `sweep`, `reproduce` and `verify`.
//!
//! This module owns the order of a study's steps and how each failure is reported: which exit
//! code, and which message.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use clap::ValueEnum;
use dropout_study::arithmetic::{Arithmetic, Precision};
use dropout_study::dropout::{Dropout, KeepProb, Mask, Scheme};
use dropout_study::engine::{BLOCK_TRIALS, MAX_COUNTED_UNITS};
use dropout_study::export::{
    self, ExportError, OutputDir, RunRecord, StagedFile, SweepRecord, SweepRow,
};
use dropout_study::network::{Layout, Network};
use dropout_study::seeding::{GENERATOR, MAIN_RUN_STREAM, sweep_run_stream};
use dropout_study::shard::{self, LoadedShard, RunIdentity, ShardIdentity, ShardRecord, ShardSpec};
use dropout_study::study::{self, StudyConfig, StudyError, StudyResult};
use dropout_study::{network_file, report, reproduce};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::cli::{Format, MergeArgs, ReproduceArgs, StudyArgs, SweepArgs, VerifyArgs};
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
    if let Some(shard) = args.shard {
        return study_shard(args, shard);
    }
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let clock = Instant::now();
    let run = &args.run;
    let (network, network_name) = load_network(run.network.as_deref(), run.precision)?;
    let names = Layout::new(network.shape()).names();
    let config = study_config(args);

    // Signals only set a flag from here on, so that nothing half-written is left.
    let interrupt = Interrupt::install(&run.out)?;
    // The output folder and the thread pool, before any work.
    let mut out = OutputDir::prepare(&run.out).map_err(AppError::OutDir)?;
    let pool = thread_pool(run.threads)?;
    let threads = pool.current_num_threads();
    let progress = progress_bar(args.trials, run.quiet);

    // The trials, streamed to trials.csv as they complete.
    let mut trials_csv = open_trials_csv(&mut out, &names, args.no_trials_csv)?;
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
    write_result_files(&mut out, &result, &config, &mut sha256)?;
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
        shards: None,
        merge: None,
    };
    write_json_file(&mut out, "run.json", &record)?;

    // Everything is complete: replace the previous results, and remove what this run does not
    // replace (a trials.csv or masks.csv of an earlier run would not match this run.json, and a
    // shard.json belongs to a shard, not to a whole run).
    let (folder, removed) = replace_results(
        out,
        &interrupt,
        &record.sha256,
        &["trials.csv", "masks.csv", "shard.json"],
    )?;
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
        print_findings(&network, &config, &result);
    }
    Ok(())
}

/// The study's configuration from its flags.
fn study_config(args: &StudyArgs) -> StudyConfig {
    StudyConfig {
        trials: args.trials,
        keep_prob: args.keep_prob,
        scheme: args.run.scheme,
        seed: args.run.seed,
        run_stream: MAIN_RUN_STREAM,
        precision: args.run.precision,
        arithmetic: args.run.arithmetic,
    }
}

/// Starts trials.csv with its header, unless `skip` (--no-trials-csv).
fn open_trials_csv(
    out: &mut OutputDir,
    names: &[String],
    skip: bool,
) -> Result<Option<StagedFile>, AppError> {
    if skip {
        return Ok(None);
    }
    let mut file = out.create("trials.csv")?;
    file.write_all(export::trials_header(names).as_bytes())
        .map_err(|source| AppError::Io {
            context: "trials.csv",
            source,
        })?;
    Ok(Some(file))
}

/// Writes summary.csv, convergence.csv and masks.csv (when masks are counted) of a whole run's
/// results, adding their SHA-256 to `sha256`.
fn write_result_files(
    out: &mut OutputDir,
    result: &StudyResult,
    config: &StudyConfig,
    sha256: &mut BTreeMap<String, String>,
) -> Result<(), AppError> {
    let summary = export::summary_rows(&result.summaries, config.scheme);
    sha256.insert(
        "summary.csv".into(),
        write_csv_file(out, "summary.csv", &summary)?,
    );
    let convergence = export::convergence_rows(&result.checkpoints);
    sha256.insert(
        "convergence.csv".into(),
        write_csv_file(out, "convergence.csv", &convergence)?,
    );
    if let Some(masks) = &result.masks {
        let rows = export::mask_rows(masks, config.trials);
        sha256.insert("masks.csv".into(), write_csv_file(out, "masks.csv", &rows)?);
    }
    Ok(())
}

/// Removes each of `names` that this run did not write (not in `written`) and an earlier run
/// left in the folder; returns those removed.
/// Replaces the previous contents of the output folder with the staged files: removes the files
/// among `stale` that this run did not write (`written`), then renames the staged ones. A signal
/// before this point aborts with nothing replaced; one during it lets the replacement finish
/// (see the interrupt module). Returns the folder and the stale files removed.
fn replace_results(
    out: OutputDir,
    interrupt: &Interrupt,
    written: &BTreeMap<String, String>,
    stale: &[&'static str],
) -> Result<(PathBuf, Vec<&'static str>), AppError> {
    interrupt.check(false)?;
    let folder = out.path().to_path_buf();
    let removed = remove_stale(&out, written, stale)?;
    out.commit()?;
    interrupt.check(true)?;
    Ok((folder, removed))
}

fn remove_stale(
    out: &OutputDir,
    written: &BTreeMap<String, String>,
    names: &[&'static str],
) -> Result<Vec<&'static str>, AppError> {
    let mut removed = Vec::new();
    for &stale in names {
        if !written.contains_key(stale) && out.remove_stale(stale)? {
            removed.push(stale);
        }
    }
    Ok(removed)
}

/// Prints the table and the finding of a whole run's results (stdout), and why masks.csv is
/// missing when it is (stderr).
fn print_findings(network: &Network<f64>, config: &StudyConfig, result: &StudyResult) {
    if result.masks.is_none() && config.scheme.uses_mask() {
        eprintln!(
            "masks.csv is not written: {} hidden units have 2^{} patterns, more than are counted (2^{})",
            network.shape().hidden,
            network.shape().hidden,
            MAX_COUNTED_UNITS
        );
    }
    let mut context = format!(
        "keep_prob {}, scheme {}, seed {}",
        config.keep_prob,
        config.scheme.name(),
        config.seed
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
        report::finding(&result.summaries, config.scheme.preserves_mean(), &context)
    ));
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
    let (folder, _) = replace_results(out, &interrupt, &record.sha256, &[])?;
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

/// Runs one shard of the study (`--shard K/N`): its trials into trials.csv and its partial state
/// into shard.json. It writes no summary.csv: a shard's statistics are not the run's, and
/// `merge` writes the run's from every shard.
fn study_shard(args: &StudyArgs, shard: ShardSpec) -> Result<(), AppError> {
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let clock = Instant::now();
    let run = &args.run;
    if shard.count > args.trials {
        return Err(AppError::Usage(format!(
            "--shard {shard}: {} shards of {} trials would leave some shards without trials; \
             give N at most {} (the --trials)",
            shard.count, args.trials, args.trials
        )));
    }
    let (network, network_name) = load_network(run.network.as_deref(), run.precision)?;
    let names = Layout::new(network.shape()).names();
    let config = study_config(args);
    let range = shard.range(args.trials);

    let interrupt = Interrupt::install(&run.out)?;
    let mut out = OutputDir::prepare(&run.out).map_err(AppError::OutDir)?;
    let pool = thread_pool(run.threads)?;
    let threads = pool.current_num_threads();
    let progress = progress_bar(range.end - range.start, run.quiet);

    let mut trials_csv = open_trials_csv(&mut out, &names, args.no_trials_csv)?;
    let rows = trials_csv.as_mut().map(|f| f as &mut (dyn Write + Send));
    let output = pool.install(|| {
        let progress = &|n| progress.inc(n);
        study::run_range(
            &network,
            &config,
            range.clone(),
            rows,
            progress,
            interrupt.flag(),
        )
    });
    progress.finish_and_clear();
    interrupt.check(false)?;
    let output = output?;
    if output.nonfinite_trials > 0 && !args.allow_nonfinite {
        return Err(AppError::NonFinite(output.nonfinite_trials));
    }
    if output.nonfinite_trials > 0 {
        eprintln!(
            "warning: {} of the shard's {} trials produced NaN or infinite values; shard.json \
             counts them in nonfinite_trials, and the merged statistics they enter will be NaN \
             or infinite",
            output.nonfinite_trials,
            range.end - range.start
        );
    }

    let trials_sha256 = trials_csv.map(|file| out.finish(file)).transpose()?;
    let identity = ShardIdentity {
        run: RunIdentity {
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: export::git_commit().map(str::to_string),
            seed: run.seed,
            trials: args.trials,
            keep_prob: args.keep_prob.get(),
            scheme: run.scheme.name().to_string(),
            precision: run.precision.name().to_string(),
            arithmetic: run.arithmetic.name().to_string(),
            network: network_name,
            network_sha256: network_hash(&network, run.precision),
        },
        spec: shard,
        threads,
        started_at,
        wall_seconds: clock.elapsed().as_secs_f64(),
        trials_sha256,
    };
    let record = ShardRecord::new(identity, &names, &output);
    write_json_file(&mut out, "shard.json", &record)?;

    // Replace the previous contents: files of a whole run, or a trials.csv this shard does not
    // write, would not belong to this shard.json.
    let mut written = BTreeMap::new();
    if let Some(hash) = &record.trials_sha256 {
        written.insert("trials.csv".to_string(), hash.clone());
    }
    let (folder, removed) = replace_results(
        out,
        &interrupt,
        &written,
        &[
            "trials.csv",
            "summary.csv",
            "convergence.csv",
            "masks.csv",
            "run.json",
        ],
    )?;
    if !run.quiet {
        let wall = record.wall_seconds;
        eprintln!(
            "wrote {}shard.json to {} ({wall:.2} s, {:.3e} trials/s, {threads} threads){}",
            if written.is_empty() {
                ""
            } else {
                "trials.csv and "
            },
            folder.display(),
            (range.end - range.start) as f64 / wall,
            if removed.is_empty() {
                String::new()
            } else {
                format!("; removed the previous {}", removed.join(", "))
            }
        );
        print_stdout(&format!(
            "shard {shard}: trials [{}, {}) of {}; when all {} shards are done, combine them with \
             `dropout-study merge DIR... --out DIR`\n",
            range.start, range.end, args.trials, shard.count
        ));
    }
    Ok(())
}

/// The network's SHA-256 as `precision` holds it (see the shard module).
fn network_hash(network: &Network<f64>, precision: Precision) -> String {
    match precision {
        Precision::F32 => shard::network_sha256::<f32>(network),
        Precision::F64 => shard::network_sha256::<f64>(network),
    }
}

/// A run parameter of shard.json read back as its type.
fn shard_parameter<T: ValueEnum>(dir: &Path, field: &str, value: &str) -> Result<T, AppError> {
    T::from_str(value, false).map_err(|_| {
        AppError::Usage(format!(
            "merge: {}: shard.json's {field} '{value}' is not one this version knows; merge with \
             the version that ran the shards",
            dir.display()
        ))
    })
}

/// Runs `merge`: reads the shards' shard.json, checks that they are the shards of one run and
/// tile its trials, merges them, and writes the files of a single run.
pub fn merge(args: &MergeArgs) -> Result<(), AppError> {
    // The shards' records.
    let mut shards = Vec::with_capacity(args.dirs.len());
    for dir in &args.dirs {
        let path = dir.join("shard.json");
        let text = fs::read_to_string(&path).map_err(|e| {
            AppError::Usage(format!(
                "merge: cannot read {} ({e}); give the --out folders of studies run with \
                 --shard K/N",
                path.display()
            ))
        })?;
        let record: ShardRecord = serde_json::from_str(&text).map_err(|e| {
            AppError::Usage(format!(
                "merge: {} is not a shard record ({e}); run that shard again",
                path.display()
            ))
        })?;
        shards.push(LoadedShard {
            dir: dir.clone(),
            record,
        });
    }
    if let Some(shard) = shards.iter().find(|s| same_folder(&s.dir, &args.out)) {
        return Err(AppError::Usage(format!(
            "merge: --out {} is the shard folder {}; give a folder of its own for the merged \
             results",
            args.out.display(),
            shard.dir.display()
        )));
    }
    let (shards, output) =
        shard::merge(shards).map_err(|e| AppError::Usage(format!("merge: {e}")))?;
    let first = &shards[0];
    let record0 = &first.record;

    // The run they are shards of, and its network.
    let scheme: Scheme = shard_parameter(&first.dir, "scheme", &record0.run.scheme)?;
    let precision: Precision = shard_parameter(&first.dir, "precision", &record0.run.precision)?;
    let arithmetic: Arithmetic =
        shard_parameter(&first.dir, "arithmetic", &record0.run.arithmetic)?;
    let keep_prob = KeepProb::new(record0.run.keep_prob).map_err(|e| {
        AppError::Usage(format!(
            "merge: {}: shard.json's keep_prob: {e}; run the shard again",
            first.dir.display()
        ))
    })?;
    if args.network.is_none() && record0.run.network != "notebook" {
        return Err(AppError::Usage(format!(
            "merge: the shards ran the network file {}; give it to merge with --network {}",
            record0.run.network, record0.run.network
        )));
    }
    let (network, network_name) = load_network(args.network.as_deref(), precision)?;
    let hash = network_hash(&network, precision);
    if hash != record0.run.network_sha256 {
        return Err(AppError::Usage(format!(
            "merge: {} is not the network the shards ran (in {} its SHA-256 is {hash}, the \
             shards' network_sha256 is {}); give the shards' network file with --network{}",
            args.network
                .as_ref()
                .map_or("the notebook's network".to_string(), |p| format!(
                    "--network {}",
                    p.display()
                )),
            precision.name(),
            record0.run.network_sha256,
            if record0.run.network == "notebook" {
                ", or omit it for the notebook's network".to_string()
            } else {
                format!(" (they recorded {})", record0.run.network)
            }
        )));
    }
    let names = Layout::new(network.shape()).names();
    let config = StudyConfig {
        trials: record0.run.trials,
        keep_prob,
        scheme,
        seed: record0.run.seed,
        run_stream: MAIN_RUN_STREAM,
        precision,
        arithmetic,
    };

    let interrupt = Interrupt::install(&args.out)?;
    let mut out = OutputDir::prepare(&args.out).map_err(AppError::OutDir)?;

    // trials.csv: the shards' files one after the other, each checked against its hash.
    let mut sha256 = BTreeMap::new();
    let header = export::trials_header(&names);
    if shards.iter().all(|s| s.record.trials_sha256.is_some()) {
        let mut file = out.create("trials.csv")?;
        file.write_all(header.as_bytes())
            .map_err(|source| AppError::Io {
                context: "trials.csv",
                source,
            })?;
        for shard in &shards {
            append_shard_trials(shard, &header, &mut file)?;
            interrupt.check(false)?;
        }
        sha256.insert("trials.csv".to_string(), out.finish(file)?);
    } else if !args.quiet && shards.iter().any(|s| s.record.trials_sha256.is_some()) {
        eprintln!(
            "trials.csv is not written: some shards ran with --no-trials-csv, so the trials of \
             their ranges are not on disk"
        );
    }

    // The statistics of the whole run, written as a single run writes them.
    let result = study::summarise(&network, &config, output);
    if result.nonfinite_trials > 0 {
        eprintln!(
            "warning: {} of {} trials produced NaN or infinite values; the statistics they enter \
             are NaN or infinite, and run.json counts them in nonfinite_trials",
            result.nonfinite_trials, config.trials
        );
    }
    write_result_files(&mut out, &result, &config, &mut sha256)?;
    let wall_seconds: f64 = shards.iter().map(|s| s.record.wall_seconds).sum();
    let folders: Vec<String> = shards.iter().map(|s| s.dir.display().to_string()).collect();
    let record = RunRecord {
        crate_version: env!("CARGO_PKG_VERSION"),
        git_commit: export::git_commit(),
        seed: config.seed,
        trials: config.trials,
        keep_prob: keep_prob.get(),
        keep_prob_used: result.dropout.keep_prob.get(),
        scheme: scheme.name(),
        network: network_name,
        expectation_method: result.method.name(),
        penalty: result.penalty,
        mask_chi_square: result.mask_chi_square,
        precision: precision.name(),
        arithmetic: arithmetic.name(),
        threads: shards.iter().map(|s| s.record.threads).max().unwrap_or(1),
        block_trials: BLOCK_TRIALS,
        generator: GENERATOR,
        nonfinite_trials: result.nonfinite_trials,
        started_at: shards
            .iter()
            .map(|s| s.record.started_at.clone())
            .min()
            .unwrap_or_default(),
        wall_seconds,
        trials_per_second: config.trials as f64 / wall_seconds,
        sha256,
        shards: Some(record0.shards),
        merge: Some(format!(
            "merged from {} shards, in order: {}; threads is the most any shard used, started_at \
             the earliest shard's start, wall_seconds the sum of the shards' wall times",
            record0.shards,
            folders.join(", ")
        )),
    };
    write_json_file(&mut out, "run.json", &record)?;

    let (folder, removed) = replace_results(
        out,
        &interrupt,
        &record.sha256,
        &["trials.csv", "masks.csv", "shard.json"],
    )?;
    if !args.quiet {
        let written: Vec<&str> = record.sha256.keys().map(String::as_str).collect();
        eprintln!(
            "merged {} shards of {} trials: wrote {} and run.json to {}{}",
            record0.shards,
            config.trials,
            written.join(", "),
            folder.display(),
            if removed.is_empty() {
                String::new()
            } else {
                format!("; removed the previous {}", removed.join(" and "))
            }
        );
        print_findings(&network, &config, &result);
    }
    Ok(())
}

/// Whether two paths name the same existing folder.
fn same_folder(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Appends the rows of a shard's trials.csv (without its header) to `out`, checking its header
/// and its SHA-256 against shard.json.
fn append_shard_trials(
    shard: &LoadedShard,
    header: &str,
    out: &mut StagedFile,
) -> Result<(), AppError> {
    let path = shard.dir.join("trials.csv");
    let refuse = |problem: String| {
        AppError::Usage(format!(
            "merge: {} {problem}; run that shard again, or merge without its trials.csv",
            path.display()
        ))
    };
    let file = fs::File::open(&path).map_err(|e| refuse(format!("cannot be read ({e})")))?;
    let mut reader = io::BufReader::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut first_line = Vec::new();
    reader
        .read_until(b'\n', &mut first_line)
        .map_err(|e| refuse(format!("cannot be read ({e})")))?;
    hasher.update(&first_line);
    if first_line != header.as_bytes() {
        return Err(refuse(format!(
            "does not start with the header {:?}",
            header.trim_end()
        )));
    }
    loop {
        let chunk = reader
            .fill_buf()
            .map_err(|e| refuse(format!("cannot be read ({e})")))?;
        if chunk.is_empty() {
            break;
        }
        hasher.update(chunk);
        out.write_all(chunk).map_err(|source| AppError::Io {
            context: "trials.csv",
            source,
        })?;
        let n = chunk.len();
        reader.consume(n);
    }
    let found: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let recorded = shard.record.trials_sha256.as_deref().unwrap_or_default();
    if found != recorded {
        return Err(refuse(format!(
            "has SHA-256 {found}, but its shard.json records {recorded}: the file changed after \
             the shard ran"
        )));
    }
    Ok(())
}
