//! The output files of a study, written so that a failure never leaves a partial result.
//!
//! This module owns the files in `--out` and their formats:
//!
//! - `trials.csv`: one row per trial (header from [`trials_header`], rows from the engine);
//! - `summary.csv`: one row per quantity ([`SummaryRow`]);
//! - `convergence.csv`: one row per checkpoint and quantity ([`ConvergenceRow`]);
//! - `masks.csv`: one row per mask pattern ([`MaskRowOut`]);
//! - `run.json`: the run's parameters, timing and the SHA-256 of every CSV ([`RunRecord`]);
//! - `shard.json`: a shard's partial state (its record is owned by the shard module);
//! - `sweep.csv` and `sweep.json`, from `dropout-study sweep` ([`SweepRow`], [`SweepRecord`]).
//!
//! Every file is first written under a hidden temporary name in the output folder
//! (`.NAME.tmp-PID`), hashed as it is written, flushed and synced; only when all files are
//! complete are they renamed to their final names, `run.json` last. A run that fails before that
//! removes its temporary files and leaves the previous results untouched. A field with no defined
//! value (a standard deviation of one trial, a z-score of a quantity that never varies) is an
//! empty CSV field, which pandas and R read as missing.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::dropout::Scheme;
use crate::report::relation;
use crate::stats::{ChiSquareTest, QuantitySummary, holm};
use crate::study::{Checkpoint, MaskRow};

/// An I/O failure, with the path it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct ExportError {
    /// What was being done ("cannot create the output folder", ...).
    pub action: &'static str,
    /// The path concerned.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

impl ExportError {
    fn new(action: &'static str, path: &Path, source: io::Error) -> Self {
        ExportError {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// An output folder whose files are staged under temporary names until [`OutputDir::commit`].
#[derive(Debug)]
pub struct OutputDir {
    dir: PathBuf,
    /// (temporary path, final name) of every finished file, in the order they were finished.
    staged: Vec<(PathBuf, String)>,
    /// Temporary files still being written, removed on drop.
    open: Vec<PathBuf>,
    committed: bool,
}

impl OutputDir {
    /// Creates `dir` (and its parents) if needed and checks that a file can be written in it.
    ///
    /// # Errors
    /// [`ExportError`] when `dir` is a file, or cannot be created or written.
    pub fn prepare(dir: &Path) -> Result<Self, ExportError> {
        if dir.exists() && !dir.is_dir() {
            return Err(ExportError::new(
                "--out must be a folder, but this is a file:",
                dir,
                io::Error::other("give a folder path, such as results"),
            ));
        }
        fs::create_dir_all(dir)
            .map_err(|e| ExportError::new("cannot create the output folder", dir, e))?;
        let probe = dir.join(format!(".write-test.tmp-{}", std::process::id()));
        File::create(&probe)
            .and_then(|_| fs::remove_file(&probe))
            .map_err(|e| ExportError::new("cannot write in the output folder", dir, e))?;
        Ok(OutputDir {
            dir: dir.to_path_buf(),
            staged: Vec::new(),
            open: Vec::new(),
            committed: false,
        })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Starts the file `name` under a temporary name.
    ///
    /// # Errors
    /// [`ExportError`] when the temporary file cannot be created.
    pub fn create(&mut self, name: &str) -> Result<StagedFile, ExportError> {
        let temp = self.dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let file = File::create(&temp).map_err(|e| ExportError::new("cannot create", &temp, e))?;
        self.open.push(temp.clone());
        Ok(StagedFile {
            name: name.to_string(),
            temp,
            writer: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
        })
    }

    /// Flushes, syncs and hashes a finished file; it is renamed on [`OutputDir::commit`].
    /// Returns its SHA-256 as lowercase hex.
    ///
    /// # Errors
    /// [`ExportError`] when flushing or syncing fails (a full disk shows here).
    pub fn finish(&mut self, file: StagedFile) -> Result<String, ExportError> {
        let StagedFile {
            name,
            temp,
            writer,
            hasher,
        } = file;
        // Errors name the file's final name, the one its reader knows.
        let target = self.dir.join(&name);
        let file = writer
            .into_inner()
            .map_err(|e| ExportError::new("cannot write", &target, e.into_error()))?;
        file.sync_all()
            .map_err(|e| ExportError::new("cannot write", &target, e))?;
        self.staged.push((temp, name));
        Ok(hex(&hasher.finalize()))
    }

    /// Renames every finished file to its final name, in the order they were finished.
    ///
    /// # Errors
    /// [`ExportError`] when a rename fails; files already renamed stay.
    pub fn commit(mut self) -> Result<(), ExportError> {
        for (temp, name) in std::mem::take(&mut self.staged) {
            let target = self.dir.join(&name);
            fs::rename(&temp, &target).map_err(|e| ExportError::new("cannot rename", &temp, e))?;
            self.open.retain(|p| p != &temp);
        }
        self.committed = true;
        Ok(())
    }

    /// Removes `name` from the folder if it is there (a file an earlier run wrote that this run
    /// does not replace). Returns whether it was there.
    ///
    /// # Errors
    /// [`ExportError`] when it exists and cannot be removed.
    pub fn remove_stale(&self, name: &str) -> Result<bool, ExportError> {
        let path = self.dir.join(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(ExportError::new("cannot remove the stale", &path, e)),
        }
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        // Whatever was not committed is removed: the previous results stay as they were.
        for temp in &self.open {
            let _ = fs::remove_file(temp);
        }
    }
}

/// A file being written under its temporary name; every byte is hashed on the way.
#[derive(Debug)]
pub struct StagedFile {
    name: String,
    temp: PathBuf,
    writer: BufWriter<File>,
    hasher: Sha256,
}

impl Write for StagedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.writer.write(buf)?;
        self.hasher.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The header line of `trials.csv`: `trial,mask,` then the quantity names.
pub fn trials_header(names: &[String]) -> String {
    format!("trial,mask,{}\n", names.join(","))
}

/// One row of `summary.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    /// The quantity (a trials.csv column).
    pub quantity: String,
    /// Trials averaged.
    pub trials: u64,
    /// Monte Carlo mean.
    pub mean: f64,
    /// Sample standard deviation over trials (n - 1 denominator); empty for one trial.
    pub std: Option<f64>,
    /// Standard error of the mean, std / sqrt(trials).
    pub std_error: Option<f64>,
    /// Lower end of the 95% interval of the mean (Student's t).
    pub ci95_low: Option<f64>,
    /// Upper end of the 95% interval.
    pub ci95_high: Option<f64>,
    /// The value without dropout.
    pub no_dropout: f64,
    /// The exact expectation over draws.
    pub expected: f64,
    /// mean - expected.
    pub mean_minus_expected: f64,
    /// (mean - expected) / std_error; empty where the standard error is 0 or undefined.
    pub z_vs_expected: Option<f64>,
    /// expected - no_dropout.
    pub expected_minus_no_dropout: f64,
    /// The gradient of the dropout penalty R (0 for quantities that are not weight gradients);
    /// empty for schemes with no penalty form (`unscaled`).
    pub penalty_gradient: Option<f64>,
    /// Two-sided p-value of H0 "mean = expected" (Student's t).
    pub p_vs_expected: Option<f64>,
    /// p_vs_expected, Holm-adjusted over the quantities with a defined p-value.
    pub p_vs_expected_holm: Option<f64>,
    /// (mean - no_dropout) / std_error.
    pub z_vs_no_dropout: Option<f64>,
    /// Two-sided p-value of H0 "mean = no_dropout" (Student's t).
    pub p_vs_no_dropout: Option<f64>,
    /// p_vs_no_dropout, Holm-adjusted over the quantities with a defined p-value.
    pub p_vs_no_dropout_holm: Option<f64>,
    /// equal, penalised, shifted or constant (see the report module).
    pub relation: &'static str,
    /// Trials a two-sided test at level 0.05 needs to detect expected - no_dropout with power
    /// 0.8; empty where they are equal.
    pub trials_to_detect: Option<u64>,
    /// The dropout scheme.
    pub scheme: &'static str,
}

/// The rows of `summary.csv`, with Holm's adjustment across the quantities.
pub fn summary_rows(summaries: &[QuantitySummary], scheme: Scheme) -> Vec<SummaryRow> {
    let p_expected: Vec<Option<f64>> = summaries.iter().map(|s| s.p_vs_expected()).collect();
    let p_no_dropout: Vec<Option<f64>> = summaries.iter().map(|s| s.p_vs_no_dropout()).collect();
    let (holm_expected, holm_no_dropout) = (holm(&p_expected), holm(&p_no_dropout));
    summaries
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let ci = s.ci95();
            SummaryRow {
                quantity: s.quantity.clone(),
                trials: s.moments.count,
                mean: s.moments.mean,
                std: s.moments.std(),
                std_error: s.moments.std_error(),
                ci95_low: ci.map(|c| c.0),
                ci95_high: ci.map(|c| c.1),
                no_dropout: s.no_dropout,
                expected: s.expected,
                mean_minus_expected: s.moments.mean - s.expected,
                z_vs_expected: s.z_vs_expected(),
                expected_minus_no_dropout: s.expected - s.no_dropout,
                penalty_gradient: s.penalty_gradient,
                p_vs_expected: p_expected[i],
                p_vs_expected_holm: holm_expected[i],
                z_vs_no_dropout: s.z_vs_no_dropout(),
                p_vs_no_dropout: p_no_dropout[i],
                p_vs_no_dropout_holm: holm_no_dropout[i],
                relation: relation(s, scheme.preserves_mean()).name(),
                trials_to_detect: s.trials_to_detect(),
                scheme: scheme.name(),
            }
        })
        .collect()
}

/// One row of `convergence.csv`: a quantity after the first `checkpoint_trials` trials.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConvergenceRow {
    /// Trials so far.
    pub checkpoint_trials: u64,
    /// The quantity.
    pub quantity: String,
    /// Running mean.
    pub mean: f64,
    /// Its standard error; empty before two trials.
    pub std_error: Option<f64>,
    /// Lower end of the running 95% interval.
    pub ci95_low: Option<f64>,
    /// Upper end of the running 95% interval.
    pub ci95_high: Option<f64>,
    /// The exact expectation.
    pub expected: f64,
    /// The no-dropout value.
    pub no_dropout: f64,
    /// mean - expected.
    pub mean_minus_expected: f64,
}

/// The rows of `convergence.csv`, checkpoint by checkpoint, quantities in layout order.
pub fn convergence_rows(checkpoints: &[Checkpoint]) -> Vec<ConvergenceRow> {
    checkpoints
        .iter()
        .flat_map(|c| {
            c.summaries.iter().map(move |s| {
                let ci = s.ci95();
                ConvergenceRow {
                    checkpoint_trials: c.trials,
                    quantity: s.quantity.clone(),
                    mean: s.moments.mean,
                    std_error: s.moments.std_error(),
                    ci95_low: ci.map(|c| c.0),
                    ci95_high: ci.map(|c| c.1),
                    expected: s.expected,
                    no_dropout: s.no_dropout,
                    mean_minus_expected: s.moments.mean - s.expected,
                }
            })
        })
        .collect()
}

/// One row of `sweep.csv`: a quantity at one keep probability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepRow {
    /// The keep probability.
    pub keep_prob: f64,
    /// The quantity.
    pub quantity: String,
    /// Trials at this keep probability.
    pub trials: u64,
    /// The exact expectation.
    pub expected: f64,
    /// The no-dropout value.
    pub no_dropout: f64,
    /// The dropout penalty R on the loss at this keep probability (the same on every row of it);
    /// empty for schemes with no penalty form.
    pub penalty: Option<f64>,
    /// The gradient of R for this quantity (0 for non-gradients).
    pub penalty_gradient: Option<f64>,
    /// Monte Carlo mean.
    pub mean: f64,
    /// Its standard error.
    pub std_error: Option<f64>,
    /// (mean - expected) / std_error; empty where it is undefined.
    pub z_vs_expected: Option<f64>,
    /// The dropout scheme.
    pub scheme: &'static str,
}

/// One row of `masks.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaskRowOut {
    /// The mask, one 0/1 character per hidden unit, unit 1 first.
    pub mask: String,
    /// Trials that drew it.
    pub count: u64,
    /// count / trials.
    pub frequency: f64,
    /// Its probability under the keep probability.
    pub probability: f64,
    /// probability * trials.
    pub expected_count: f64,
    /// (count - expected_count)^2 / expected_count: this pattern's term of the chi-square
    /// statistic; empty for a pattern of probability 0.
    pub chi_square_term: Option<f64>,
}

/// The rows of `masks.csv` for a run of `trials` trials.
pub fn mask_rows(masks: &[MaskRow], trials: u64) -> Vec<MaskRowOut> {
    masks
        .iter()
        .map(|m| {
            let expected_count = m.probability * trials as f64;
            MaskRowOut {
                mask: m.mask.to_string(),
                count: m.count,
                frequency: m.frequency,
                probability: m.probability,
                expected_count,
                chi_square_term: (m.probability > 0.0)
                    .then(|| (m.count as f64 - expected_count).powi(2) / expected_count),
            }
        })
        .collect()
}

/// Writes `rows` as CSV with a header to `out`.
///
/// # Errors
/// The CSV writer's error when writing or flushing fails.
pub fn write_csv<R: Serialize>(out: &mut dyn Write, rows: &[R]) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(out);
    for row in rows {
        writer.serialize(row)?;
    }
    // The csv writer ignores flush errors on drop: flush here so they are seen.
    writer.flush()?;
    Ok(())
}

/// What `run.json` records about a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    /// This crate's version.
    pub crate_version: &'static str,
    /// The git commit the binary was built from, when it was built in a git checkout.
    pub git_commit: Option<&'static str>,
    /// The seed of the mask stream.
    pub seed: u64,
    /// Trials run.
    pub trials: u64,
    /// The keep probability asked for.
    pub keep_prob: f64,
    /// The keep probability in the run's precision, which trials divide by.
    pub keep_prob_used: f64,
    /// The dropout scheme.
    pub scheme: &'static str,
    /// The network: `notebook`, or the path of the network file.
    pub network: String,
    /// How the exact expectation was computed: `enumeration` or `closed_form`.
    pub expectation_method: &'static str,
    /// The dropout penalty R on the loss; null for schemes with no penalty form.
    pub penalty: Option<f64>,
    /// The chi-square test of masks.csv's counts; null when no masks were counted.
    pub mask_chi_square: Option<ChiSquareTest>,
    /// f32 or f64.
    pub precision: &'static str,
    /// plain or fma.
    pub arithmetic: &'static str,
    /// Worker threads.
    pub threads: usize,
    /// Trials per block (the fixed merge order).
    pub block_trials: u64,
    /// The random generator and key layout (the seeding contract).
    pub generator: &'static str,
    /// Trials in which some quantity was NaN or infinite.
    pub nonfinite_trials: u64,
    /// When the run started, RFC 3339 UTC.
    pub started_at: String,
    /// Wall time of the whole run, seconds.
    pub wall_seconds: f64,
    /// trials / wall_seconds.
    pub trials_per_second: f64,
    /// SHA-256 (lowercase hex) of every CSV written, by file name.
    pub sha256: std::collections::BTreeMap<String, String>,
    /// The number of shards merged into these results; absent for a run made in one piece.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<u64>,
    /// How these results were merged (the shard folders, and what `threads`, `started_at` and
    /// `wall_seconds` mean then); absent for a run made in one piece.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge: Option<String>,
}

/// What `sweep.json` records about a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepRecord {
    /// This crate's version.
    pub crate_version: &'static str,
    /// The git commit the binary was built from, when it was built in a git checkout.
    pub git_commit: Option<&'static str>,
    /// The seed; each keep probability reads its own run stream (see the seeding contract).
    pub seed: u64,
    /// Trials per keep probability.
    pub trials: u64,
    /// The keep probabilities, in the order given.
    pub keep_probs: Vec<f64>,
    /// The dropout scheme.
    pub scheme: &'static str,
    /// f32 or f64.
    pub precision: &'static str,
    /// plain or fma.
    pub arithmetic: &'static str,
    /// The network: `notebook`, or the path of the network file.
    pub network: String,
    /// Worker threads.
    pub threads: usize,
    /// The random generator and key layout.
    pub generator: &'static str,
    /// When the sweep started, RFC 3339 UTC.
    pub started_at: String,
    /// Wall time, seconds.
    pub wall_seconds: f64,
    /// SHA-256 of sweep.csv.
    pub sha256: std::collections::BTreeMap<String, String>,
}

/// The git commit recorded at build time, if any.
pub fn git_commit() -> Option<&'static str> {
    option_env!("DROPOUT_STUDY_GIT_COMMIT").filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_left_when_a_run_is_dropped_before_commit() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("summary.csv"), "old").unwrap();
        {
            let mut out = OutputDir::prepare(dir.path()).unwrap();
            let mut file = out.create("summary.csv").unwrap();
            file.write_all(b"new").unwrap();
            out.finish(file).unwrap();
            let mut half = out.create("masks.csv").unwrap();
            half.write_all(b"half").unwrap();
        }
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["summary.csv"]);
        assert_eq!(
            fs::read_to_string(dir.path().join("summary.csv")).unwrap(),
            "old"
        );
    }

    #[test]
    fn commit_renames_and_hashes_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = OutputDir::prepare(dir.path()).unwrap();
        let mut file = out.create("a.csv").unwrap();
        file.write_all(b"abc").unwrap();
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            out.finish(file).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        out.commit().unwrap();
        assert_eq!(fs::read_to_string(dir.path().join("a.csv")).unwrap(), "abc");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_out_path_that_is_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("results");
        fs::write(&file, "x").unwrap();
        let err = OutputDir::prepare(&file).unwrap_err();
        assert!(err.to_string().contains("--out must be a folder"), "{err}");
    }
}
