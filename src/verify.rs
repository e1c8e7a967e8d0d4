//! Checking a results folder after the fact: `dropout-study verify DIR`.
//!
//! This module owns the checks of a study's output files against `run.json` and against each
//! other:
//!
//! - every CSV against the SHA-256 that `run.json` records for it, and no CSV that it does not
//!   list;
//! - `summary.csv`: one row per quantity of the network's layout, each with the run's `trials`,
//!   and its derived columns (`std_error`, the interval, `mean_minus_expected`, `z_vs_expected`,
//!   `expected_minus_no_dropout`) consistent with its `mean`, `std`, `expected` and `no_dropout`;
//! - `masks.csv`: `2^n` rows in pattern order whose counts sum to the trials, with each
//!   frequency `count / trials` and each probability that of the run's keep probability;
//! - `trials.csv`, when present: one row per trial in trial order, the summary's `mean`, `std`,
//!   `std_error`, interval, `mean_minus_expected` and `z_vs_expected` recomputed from it, the mask
//!   counts recounted from it, and `run.json`'s `nonfinite_trials` recounted.
//!
//! Columns are found by name, so a `summary.csv` with more columns than these passes as long as
//! these agree. A failure is one line naming the file, the line (counted from 1, the header
//! being line 1) or column, and the values found and expected.
//!
//! Tolerances: every float in these files is the shortest text that reads back to the value
//! written, so reading gives back exactly the f64 (or, in `trials.csv` of an f32 run, the f32)
//! that the run held. The recomputation repeats the run's own operations in the run's own order
//! (Welford's update within blocks of `block_trials` trials, blocks merged in order, the same
//! formulas for the standard error, the interval and z), so an untouched folder agrees exactly.
//! The tolerances leave room only for statistics grouped in another order: blocked summation of
//! n values with blocks of b differs from any other blocked order by at most about
//! `(b + n / b) * 2^-52` times the largest magnitude, `3e-12` of it for 10^8 trials. Values
//! recomputed from `trials.csv` must therefore agree within `1e-9` of the quantity's largest
//! magnitude (divided by the standard error for z); values derived within `summary.csv` within
//! `1e-12` of their operands' magnitude. Any edit of a printed digit above those levels is caught,
//! and every edit at all is caught by the SHA-256 unless `run.json` is edited to match.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::dropout::Scheme;
use crate::dropout::{KeepProb, Mask};
use crate::export::summary_rows;
use crate::network::{Layout, Shape};
use crate::stats::{Moments, QuantitySummary};

/// Relative tolerance of a value recomputed from `trials.csv` (see the module documentation).
const RECOMPUTED: f64 = 1e-9;
/// Relative tolerance of a value derived from other values of `summary.csv`.
const DERIVED: f64 = 1e-12;
/// At most this many failures are listed per file; the rest are counted.
const LISTED_PER_FILE: usize = 20;

/// The columns of `summary.csv` that are checked, by name.
const SUMMARY_COLUMNS: [&str; 12] = [
    "quantity",
    "trials",
    "mean",
    "std",
    "std_error",
    "ci95_low",
    "ci95_high",
    "no_dropout",
    "expected",
    "mean_minus_expected",
    "z_vs_expected",
    "expected_minus_no_dropout",
];

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// What was checked, in one line (meaningful when there are no failures).
    pub checked: String,
    /// One line per failure: file, line or column, found and expected values (at most
    /// twenty per file, then a line counting the rest).
    pub failures: Vec<String>,
    /// The number of failures, listed or not.
    pub failed: usize,
}

/// The parameters of the run, from `run.json`.
struct Run {
    trials: u64,
    precision_f32: bool,
    keep_prob_used: f64,
    block_trials: u64,
    nonfinite_trials: u64,
    sha256: BTreeMap<String, String>,
}

/// One row of `summary.csv`, the checked columns only.
struct SummaryLine {
    line: usize,
    quantity: String,
    trials: u64,
    values: BTreeMap<&'static str, Option<f64>>,
}

impl SummaryLine {
    fn get(&self, column: &str) -> Option<f64> {
        self.values.get(column).copied().flatten()
    }
}

/// What `trials.csv` adds up to.
struct Recount {
    moments: Vec<Moments>,
    /// The largest magnitude of each quantity's finite values.
    largest: Vec<f64>,
    mask_counts: Option<Vec<u64>>,
    nonfinite_trials: u64,
    rows: u64,
}

/// Collects failures, at most [`LISTED_PER_FILE`] listed per file.
#[derive(Default)]
struct Failures {
    lines: Vec<String>,
    per_file: BTreeMap<String, usize>,
}

impl Failures {
    fn add(&mut self, file: &str, text: String) {
        let count = self.per_file.entry(file.to_string()).or_insert(0);
        *count += 1;
        if *count <= LISTED_PER_FILE {
            self.lines.push(format!("{file}: {text}"));
        }
    }

    fn count(&self) -> usize {
        self.per_file.values().sum()
    }

    fn finish(mut self) -> Vec<String> {
        for (file, count) in &self.per_file {
            if *count > LISTED_PER_FILE {
                self.lines.push(format!(
                    "{file}: {} more failures not listed",
                    count - LISTED_PER_FILE
                ));
            }
        }
        self.lines
    }
}

/// Checks the results folder `dir` (see the module documentation).
pub fn verify(dir: &Path) -> Report {
    let mut failures = Failures::default();
    let mut checked = Vec::new();
    let Some(run) = read_run(dir, &mut failures) else {
        return Report {
            checked: String::new(),
            failed: failures.count(),
            failures: failures.finish(),
        };
    };

    // Hashes: every file run.json lists, and no CSV it does not list.
    for (name, recorded) in &run.sha256 {
        // trials.csv may be left out (it is large, and the run's command regenerates it byte for
        // byte); every other file run.json lists must be there.
        if name == "trials.csv" && !dir.join(name).exists() {
            checked.push(
                "no trials.csv (listed in run.json: rerun the study's command with the same seed \
                 and trials to regenerate it, then verify again to check it)"
                    .to_string(),
            );
            continue;
        }
        match sha256_of(&dir.join(name)) {
            Ok(found) if &found == recorded => {}
            Ok(found) => failures.add(
                name,
                format!("SHA-256 is {found}, but run.json records {recorded}"),
            ),
            Err(e) => failures.add(name, format!("cannot read it ({e}), but run.json lists it")),
        }
    }
    // A sweep written into the same folder lists its own CSV in sweep.json.
    let sweep = read_sweep_hashes(dir, &mut failures);
    for (name, recorded) in &sweep {
        match sha256_of(&dir.join(name)) {
            Ok(found) if &found == recorded => {}
            Ok(found) => failures.add(
                name,
                format!("SHA-256 is {found}, but sweep.json records {recorded}"),
            ),
            Err(e) => failures.add(
                name,
                format!("cannot read it ({e}), but sweep.json lists it"),
            ),
        }
    }
    if !sweep.is_empty() {
        checked.push(format!(
            "sweep.json ({})",
            sweep.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".csv")
                && !name.starts_with('.')
                && !run.sha256.contains_key(&name)
                && !sweep.contains_key(&name)
            {
                failures.add(
                    &name,
                    "is not listed in run.json's sha256: it does not belong to this run".into(),
                );
            }
        }
    }
    checked.push("run.json".to_string());

    // summary.csv: read, check the layout and the derived columns.
    let summary = read_summary(&dir.join("summary.csv"), &run, &mut failures);
    if let Some(rows) = &summary {
        check_layout(rows, &mut failures);
        for row in rows {
            check_derived(row, &mut failures);
        }
        checked.push(format!("summary.csv ({} quantities)", rows.len()));
    }

    // trials.csv: recount, then set the summary and the run against the recount.
    let trials_path = dir.join("trials.csv");
    let recount = if trials_path.exists() {
        let names: Option<Vec<String>> = summary
            .as_ref()
            .map(|rows| rows.iter().map(|r| r.quantity.clone()).collect());
        recount_trials(&trials_path, &run, names.as_deref(), &mut failures)
    } else {
        None
    };
    if let Some(recount) = &recount {
        if recount.rows != run.trials {
            failures.add(
                "trials.csv",
                format!(
                    "has {} rows, but run.json says trials = {}",
                    recount.rows, run.trials
                ),
            );
        }
        if recount.nonfinite_trials != run.nonfinite_trials {
            failures.add(
                "run.json",
                format!(
                    "nonfinite_trials is {}, but trials.csv has {} rows with NaN or infinite values",
                    run.nonfinite_trials, recount.nonfinite_trials
                ),
            );
        }
        if let Some(rows) = &summary {
            check_recomputed(rows, recount, &mut failures);
        }
        checked.push(format!("trials.csv ({} rows)", recount.rows));
    }

    // masks.csv.
    let masks_path = dir.join("masks.csv");
    if masks_path.exists() {
        let counts = recount.as_ref().and_then(|r| r.mask_counts.as_deref());
        if let Some(rows) = check_masks(&masks_path, &run, counts, &mut failures) {
            checked.push(format!("masks.csv ({rows} masks)"));
        }
    }

    let what = if recount.is_some() {
        "agree with their SHA-256 in run.json, with the run's parameters and with the \
         statistics and mask counts recomputed from trials.csv"
    } else {
        "agree with their SHA-256 in run.json, with the run's parameters and with each other \
         (no trials.csv to recompute from)"
    };
    Report {
        checked: format!("{}: {} {what}", dir.display(), checked.join(", ")),
        failed: failures.count(),
        failures: failures.finish(),
    }
}

/// The SHA-256 of each file `sweep.json` lists, when the folder holds a sweep too.
fn read_sweep_hashes(dir: &Path, failures: &mut Failures) -> BTreeMap<String, String> {
    let Ok(text) = fs::read_to_string(dir.join("sweep.json")) else {
        return BTreeMap::new();
    };
    let json: serde_json::Value = match serde_json::from_str(&text) {
        Ok(json) => json,
        Err(e) => {
            failures.add("sweep.json", format!("is not valid JSON: {e}"));
            return BTreeMap::new();
        }
    };
    json["sha256"]
        .as_object()
        .map(|files| {
            files
                .iter()
                .filter_map(|(name, hash)| Some((name.clone(), hash.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn read_run(dir: &Path, failures: &mut Failures) -> Option<Run> {
    let text = match fs::read_to_string(dir.join("run.json")) {
        Ok(text) => text,
        Err(e) => {
            failures.add(
                "run.json",
                format!("cannot read it ({e}); is this the --out folder of a study?"),
            );
            return None;
        }
    };
    let json: serde_json::Value = match serde_json::from_str(&text) {
        Ok(json) => json,
        Err(e) => {
            failures.add("run.json", format!("is not valid JSON: {e}"));
            return None;
        }
    };
    let mut missing = |field: &str, what: &str| {
        failures.add(
            "run.json",
            format!("field {field} is missing or not {what}"),
        );
    };
    let trials = json["trials"].as_u64();
    let precision = json["precision"].as_str();
    let keep_prob_used = json["keep_prob_used"].as_f64();
    let block_trials = json["block_trials"].as_u64().filter(|&b| b > 0);
    let nonfinite_trials = json["nonfinite_trials"].as_u64();
    let sha256: Option<BTreeMap<String, String>> = json["sha256"].as_object().map(|files| {
        files
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect()
    });
    let precision_f32 = match precision {
        Some("f32") => Some(true),
        Some("f64") => Some(false),
        _ => None,
    };
    let checks = [
        (trials.is_none(), "trials", "a whole number"),
        (precision_f32.is_none(), "precision", "\"f32\" or \"f64\""),
        (keep_prob_used.is_none(), "keep_prob_used", "a number"),
        (
            block_trials.is_none(),
            "block_trials",
            "a positive whole number",
        ),
        (
            nonfinite_trials.is_none(),
            "nonfinite_trials",
            "a whole number",
        ),
        (
            sha256.is_none(),
            "sha256",
            "an object of file names and hashes",
        ),
    ];
    let mut complete = true;
    for (bad, field, what) in checks {
        if bad {
            missing(field, what);
            complete = false;
        }
    }
    complete.then(|| Run {
        trials: trials.unwrap_or_default(),
        precision_f32: precision_f32.unwrap_or_default(),
        keep_prob_used: keep_prob_used.unwrap_or_default(),
        block_trials: block_trials.unwrap_or(1),
        nonfinite_trials: nonfinite_trials.unwrap_or_default(),
        sha256: sha256.unwrap_or_default(),
    })
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Reads a float field: empty is `None` (undefined), anything else must parse.
fn parse_field(text: &str) -> Result<Option<f64>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<f64>()
        .map(Some)
        .map_err(|_| format!("{text:?} is not a number"))
}

fn read_summary(path: &Path, run: &Run, failures: &mut Failures) -> Option<Vec<SummaryLine>> {
    const FILE: &str = "summary.csv";
    let mut reader = match csv::Reader::from_path(path) {
        Ok(reader) => reader,
        Err(e) => {
            failures.add(FILE, format!("cannot read it: {e}"));
            return None;
        }
    };
    let headers = match reader.headers() {
        Ok(headers) => headers.clone(),
        Err(e) => {
            failures.add(FILE, format!("cannot read its header: {e}"));
            return None;
        }
    };
    let mut index = BTreeMap::new();
    for column in SUMMARY_COLUMNS {
        match headers.iter().position(|h| h == column) {
            Some(i) => {
                index.insert(column, i);
            }
            None => failures.add(FILE, format!("line 1: column {column} is missing")),
        }
    }
    if index.len() < SUMMARY_COLUMNS.len() {
        return None;
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                failures.add(FILE, format!("line {line}: {e}"));
                continue;
            }
        };
        let quantity = record
            .get(index["quantity"])
            .unwrap_or_default()
            .to_string();
        let at = format!("line {line} ({quantity})");
        let trials = record.get(index["trials"]).unwrap_or_default();
        let trials = match trials.parse::<u64>() {
            Ok(t) => t,
            Err(_) => {
                failures.add(
                    FILE,
                    format!("{at}, trials: {trials:?} is not a whole number"),
                );
                continue;
            }
        };
        if trials != run.trials {
            failures.add(
                FILE,
                format!("{at}, trials: {trials}, but run.json says {}", run.trials),
            );
        }
        let mut values = BTreeMap::new();
        let mut parsed = true;
        for column in &SUMMARY_COLUMNS[2..] {
            match parse_field(record.get(index[column]).unwrap_or_default()) {
                Ok(v) => {
                    values.insert(*column, v);
                }
                Err(e) => {
                    failures.add(FILE, format!("{at}, {column}: {e}"));
                    parsed = false;
                }
            }
        }
        if parsed {
            rows.push(SummaryLine {
                line,
                quantity,
                trials,
                values,
            });
        }
    }
    Some(rows)
}

/// The quantities must be those of a network layout, in its order.
fn check_layout(rows: &[SummaryLine], failures: &mut Failures) {
    let count = |prefix: &str| {
        rows.iter()
            .filter(|r| r.quantity.starts_with(prefix))
            .count()
    };
    let hidden = count("hidden_");
    let outputs = count("output");
    let inputs = count("grad_w1_").checked_div(hidden).unwrap_or(0);
    let shape = Shape {
        inputs,
        hidden,
        outputs,
    };
    let expected = Layout::new(shape).names();
    let found: Vec<&str> = rows.iter().map(|r| r.quantity.as_str()).collect();
    if found != expected {
        failures.add(
            "summary.csv",
            format!(
                "the quantities {} are not one row per quantity of a network with {inputs} \
                 inputs, {hidden} hidden units and {outputs} outputs ({})",
                found.join(","),
                expected.join(",")
            ),
        );
    }
}

/// Whether `found` agrees with `want` within `tolerance`; NaN agrees with NaN and an infinity
/// with itself.
fn agrees(found: Option<f64>, want: Option<f64>, tolerance: f64) -> bool {
    match (found, want) {
        (None, None) => true,
        (Some(f), Some(w)) => f == w || (f.is_nan() && w.is_nan()) || (f - w).abs() <= tolerance,
        _ => false,
    }
}

fn show(value: Option<f64>) -> String {
    value.map_or_else(|| "empty".to_string(), |v| v.to_string())
}

/// The columns derived from others in the same row.
fn check_derived(row: &SummaryLine, failures: &mut Failures) {
    let mean = row.get("mean");
    let std = row.get("std");
    let expected = row.get("expected");
    let no_dropout = row.get("no_dropout");
    let n = row.trials as f64;
    let std_error = std.map(|s| s / n.sqrt());
    let t = crate::stats::t_quantile_975(row.trials);
    let se_found = row.get("std_error");
    let half = se_found.zip(t).map(|(se, t)| t * se);
    let diff = mean.zip(expected).map(|(m, e)| m - e);
    let magnitude = |values: &[Option<f64>]| -> f64 {
        values.iter().flatten().map(|v| v.abs()).fold(0.0, f64::max) * DERIVED
    };
    let z = diff
        .zip(se_found)
        .and_then(|(d, se)| (se > 0.0).then(|| d / se));
    let checks = [
        ("std_error", std_error, magnitude(&[std])),
        (
            "ci95_low",
            mean.zip(half).map(|(m, h)| m - h),
            magnitude(&[mean, half]),
        ),
        (
            "ci95_high",
            mean.zip(half).map(|(m, h)| m + h),
            magnitude(&[mean, half]),
        ),
        ("mean_minus_expected", diff, magnitude(&[mean, expected])),
        (
            "z_vs_expected",
            z,
            magnitude(&[mean, expected]) / se_found.unwrap_or(1.0).max(f64::MIN_POSITIVE),
        ),
        (
            "expected_minus_no_dropout",
            expected.zip(no_dropout).map(|(e, d)| e - d),
            magnitude(&[expected, no_dropout]),
        ),
    ];
    for (column, want, tolerance) in checks {
        let found = row.get(column);
        if !agrees(found, want, tolerance) {
            failures.add(
                "summary.csv",
                format!(
                    "line {} ({}), {column}: {} in the file, but its other columns give {}",
                    row.line,
                    row.quantity,
                    show(found),
                    show(want)
                ),
            );
        }
    }
}

/// Reads `trials.csv` once: row checks, moments in the engine's block order, mask counts.
fn recount_trials(
    path: &Path,
    run: &Run,
    names: Option<&[String]>,
    failures: &mut Failures,
) -> Option<Recount> {
    const FILE: &str = "trials.csv";
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) => {
            failures.add(FILE, format!("cannot read it: {e}"));
            return None;
        }
    };
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        failures.add(FILE, "line 1: cannot read the header".into());
        return None;
    }
    let header: Vec<&str> = line.trim_end_matches('\n').split(',').collect();
    if header.len() < 3 || header[0] != "trial" || header[1] != "mask" {
        failures.add(
            FILE,
            format!(
                "line 1: header {:?} does not start with trial,mask,",
                line.trim_end()
            ),
        );
        return None;
    }
    let quantities: Vec<String> = header[2..].iter().map(|s| s.to_string()).collect();
    if let Some(names) = names
        && names != quantities.as_slice()
    {
        failures.add(
            FILE,
            format!(
                "line 1: the quantities {} differ from summary.csv's rows {}",
                quantities.join(","),
                names.join(",")
            ),
        );
    }
    let q = quantities.len();
    let mut total = vec![Moments::default(); q];
    let mut block = vec![Moments::default(); q];
    let mut largest = vec![0.0f64; q];
    let mut units: Option<usize> = None;
    let mut counts: Option<Vec<u64>> = None;
    let mut nonfinite = 0;
    let mut rows = 0u64;
    let mut order_reported = false;
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                failures.add(FILE, format!("line {}: cannot read it: {e}", rows + 2));
                return None;
            }
        }
        let at = rows + 2;
        let fields: Vec<&str> = line.trim_end_matches('\n').split(',').collect();
        if fields.len() != q + 2 {
            failures.add(
                FILE,
                format!(
                    "line {at}: {} fields, but the header has {}",
                    fields.len(),
                    q + 2
                ),
            );
            rows += 1;
            continue;
        }
        if fields[0].parse::<u64>() != Ok(rows) && !order_reported {
            failures.add(
                FILE,
                format!(
                    "line {at}: trial {:?} where trial {rows} belongs (a row is missing, extra or \
                     out of order)",
                    fields[0]
                ),
            );
            order_reported = true;
        }
        let mask = fields[1];
        let width = *units.get_or_insert(mask.len());
        if mask.len() != width || !mask.bytes().all(|b| b == b'0' || b == b'1') {
            failures.add(
                FILE,
                format!("line {at}, mask: {mask:?} is not {width} characters 0 or 1"),
            );
        } else if width <= crate::engine::MAX_COUNTED_UNITS {
            let counts = counts.get_or_insert_with(|| vec![0; 1 << width]);
            counts[usize::from_str_radix(mask, 2).unwrap_or(0)] += 1;
        }
        let mut finite = true;
        for (i, text) in fields[2..].iter().enumerate() {
            let value = if run.precision_f32 {
                text.parse::<f32>().map(f64::from)
            } else {
                text.parse::<f64>()
            };
            match value {
                Ok(v) => {
                    finite &= v.is_finite();
                    if v.is_finite() {
                        largest[i] = largest[i].max(v.abs());
                    }
                    block[i].push(v);
                }
                Err(_) => {
                    failures.add(
                        FILE,
                        format!("line {at}, {}: {text:?} is not a number", quantities[i]),
                    );
                }
            }
        }
        nonfinite += u64::from(!finite);
        rows += 1;
        // The engine's order: Welford within a block, blocks merged in trial order.
        if rows.is_multiple_of(run.block_trials) {
            for (t, b) in total.iter_mut().zip(block.iter_mut()) {
                *t = t.merge(b);
                *b = Moments::default();
            }
        }
    }
    for (t, b) in total.iter_mut().zip(&block) {
        *t = t.merge(b);
    }
    Some(Recount {
        moments: total,
        largest,
        mask_counts: counts,
        nonfinite_trials: nonfinite,
        rows,
    })
}

/// The summary's statistics against those recomputed from `trials.csv`.
fn check_recomputed(rows: &[SummaryLine], recount: &Recount, failures: &mut Failures) {
    for (row, (moments, largest)) in rows
        .iter()
        .zip(recount.moments.iter().zip(&recount.largest))
    {
        let (Some(expected), Some(no_dropout)) = (row.get("expected"), row.get("no_dropout"))
        else {
            continue;
        };
        let recomputed = QuantitySummary {
            quantity: row.quantity.clone(),
            moments: *moments,
            no_dropout,
            expected,
            exact_std: None,
            penalty_gradient: None,
        };
        // Only the columns computed from the moments are compared; the scheme does not enter them.
        let want = summary_rows(std::slice::from_ref(&recomputed), Scheme::Tf1).remove(0);
        let tolerance = RECOMPUTED * largest.max(expected.abs());
        let z_tolerance = tolerance / want.std_error.unwrap_or(1.0).max(f64::MIN_POSITIVE)
            + RECOMPUTED * want.z_vs_expected.unwrap_or(0.0).abs();
        let checks = [
            ("mean", Some(want.mean), tolerance),
            ("std", want.std, tolerance),
            ("std_error", want.std_error, tolerance),
            ("ci95_low", want.ci95_low, tolerance),
            ("ci95_high", want.ci95_high, tolerance),
            (
                "mean_minus_expected",
                Some(want.mean_minus_expected),
                tolerance,
            ),
            ("z_vs_expected", want.z_vs_expected, z_tolerance),
        ];
        for (column, want, tolerance) in checks {
            let found = row.get(column);
            if !agrees(found, want, tolerance) {
                failures.add(
                    "summary.csv",
                    format!(
                        "line {} ({}), {column}: {} in the file, {} recomputed from trials.csv",
                        row.line,
                        row.quantity,
                        show(found),
                        show(want)
                    ),
                );
            }
        }
    }
}

/// Checks `masks.csv`; returns its number of rows when it could be read.
fn check_masks(
    path: &Path,
    run: &Run,
    recounted: Option<&[u64]>,
    failures: &mut Failures,
) -> Option<usize> {
    const FILE: &str = "masks.csv";
    let mut reader = match csv::Reader::from_path(path) {
        Ok(reader) => reader,
        Err(e) => {
            failures.add(FILE, format!("cannot read it: {e}"));
            return None;
        }
    };
    let headers = reader.headers().ok()?.clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let (Some(mask_at), Some(count_at), Some(frequency_at), Some(probability_at)) = (
        column("mask"),
        column("count"),
        column("frequency"),
        column("probability"),
    ) else {
        failures.add(
            FILE,
            "line 1: the columns mask, count, frequency and probability are not all there".into(),
        );
        return None;
    };
    let keep_prob = KeepProb::new(run.keep_prob_used).ok();
    let mut total = 0u64;
    let mut rows = 0usize;
    let mut width = None;
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        rows += 1;
        let Ok(record) = record else {
            failures.add(FILE, format!("line {line}: cannot be read as CSV"));
            continue;
        };
        let text = record.get(mask_at).unwrap_or_default();
        let units = *width.get_or_insert(text.len());
        let Ok(mask) = Mask::parse(text, units) else {
            failures.add(
                FILE,
                format!("line {line}, mask: {text:?} is not a mask of {units} units"),
            );
            continue;
        };
        if mask.pattern_index() != i as u64 {
            failures.add(
                FILE,
                format!(
                    "line {line}, mask: {mask} where {} belongs (patterns run in order from all 0)",
                    Mask::from_pattern_index(i as u64, units)
                ),
            );
        }
        let count_text = record.get(count_at).unwrap_or_default();
        let Ok(count) = count_text.parse::<u64>() else {
            failures.add(
                FILE,
                format!("line {line} ({mask}), count: {count_text:?} is not a whole number"),
            );
            continue;
        };
        total += count;
        if let Some(&want) = recounted.and_then(|c| c.get(i))
            && count != want
        {
            failures.add(
                FILE,
                format!(
                    "line {line} ({mask}), count: {count} in the file, but {want} trials in \
                     trials.csv drew it"
                ),
            );
        }
        let frequency = parse_field(record.get(frequency_at).unwrap_or_default())
            .ok()
            .flatten();
        let want = count as f64 / run.trials as f64;
        if !agrees(frequency, Some(want), DERIVED * want) {
            failures.add(
                FILE,
                format!(
                    "line {line} ({mask}), frequency: {} in the file, but count / trials = {want}",
                    show(frequency)
                ),
            );
        }
        if let Some(p) = keep_prob {
            let probability = parse_field(record.get(probability_at).unwrap_or_default())
                .ok()
                .flatten();
            let want = mask.probability(p);
            if !agrees(probability, Some(want), DERIVED * want) {
                failures.add(
                    FILE,
                    format!(
                        "line {line} ({mask}), probability: {} in the file, but keep_prob_used {} gives {want}",
                        show(probability),
                        run.keep_prob_used
                    ),
                );
            }
        }
    }
    let units = width.unwrap_or(0);
    if units >= 63 || rows as u64 != 1u64 << units {
        failures.add(
            FILE,
            format!("has {rows} rows, but masks of {units} units have 2^{units} patterns"),
        );
    }
    if let Some(recounted) = recounted
        && recounted.len() != rows
    {
        failures.add(
            FILE,
            format!(
                "has {rows} rows, but the masks in trials.csv have {} patterns",
                recounted.len()
            ),
        );
    }
    if total != run.trials {
        failures.add(
            FILE,
            format!(
                "the counts sum to {total}, but run.json says trials = {}",
                run.trials
            ),
        );
    }
    Some(rows)
}
