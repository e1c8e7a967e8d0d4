//! A whole study: the trials in the chosen precision, measured against the exact expectation.
//!
//! This module owns the step from a configuration to results: it rounds the network and the
//! dropout parameters to the working precision, runs the engine (over all trials, or over one
//! shard's range of them), and pairs each quantity's Monte Carlo moments (at the end and at every
//! convergence checkpoint) with its no-dropout value and its exact expectation.
//!
//! The reference values are computed in f64 on the network *as the run holds it*: a float32 run's
//! weights, keep probability and (for `scale`) `1/keep_prob` are first rounded to float32, then
//! widened exactly. The trials differ from those references only by float32 rounding inside a
//! trial (relative `1e-7` or less) and by the mask probability's `2^-33` quantisation (see the
//! seeding module), both far below the standard error of any feasible run.

use std::io::Write;
use std::ops::Range;
use std::sync::atomic::AtomicBool;

use crate::arithmetic::{Arithmetic, Float, Precision};
use crate::dropout::{Dropout, KeepProb, Mask, Scheme};
use crate::engine::{self, EngineConfig, EngineError, EngineOutput};
use crate::expectation::{self, Method};
use crate::network::{Layout, Network};
use crate::stats::{ChiSquareTest, Moments, QuantitySummary, chi_square_goodness_of_fit};

/// What a study runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StudyConfig {
    /// The number of trials, at least 1.
    pub trials: u64,
    /// The keep probability.
    pub keep_prob: KeepProb,
    /// The dropout scheme.
    pub scheme: Scheme,
    /// The seed.
    pub seed: u64,
    /// The run stream of the seeding contract: 0 for a study, the keep_prob's bits in a sweep.
    pub run_stream: u64,
    /// The per-trial precision.
    pub precision: Precision,
    /// How matrix-product sums round.
    pub arithmetic: Arithmetic,
}

/// One row of the mask table.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskRow {
    /// The mask pattern.
    pub mask: Mask,
    /// Trials that drew it.
    pub count: u64,
    /// `count / trials`.
    pub frequency: f64,
    /// Its probability, `p^kept (1-p)^dropped` with the run's keep probability.
    pub probability: f64,
}

/// The running summaries after the first `trials` trials.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Trials so far.
    pub trials: u64,
    /// One summary per quantity, in layout order.
    pub summaries: Vec<QuantitySummary>,
}

/// The results of a study.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyResult {
    /// One summary per quantity, in layout order.
    pub summaries: Vec<QuantitySummary>,
    /// The summaries at the convergence checkpoints ([`checkpoints`]).
    pub checkpoints: Vec<Checkpoint>,
    /// Every mask pattern in pattern order; `None` for the Gaussian scheme and above 20 hidden
    /// units.
    pub masks: Option<Vec<MaskRow>>,
    /// The chi-square test of the mask counts against their probabilities.
    pub mask_chi_square: Option<ChiSquareTest>,
    /// Trials in which some quantity was NaN or infinite.
    pub nonfinite_trials: u64,
    /// The dropout as the run computed it (parameters rounded to its precision).
    pub dropout: Dropout,
    /// The dropout penalty `R` on the loss, for the schemes that keep the mean.
    pub penalty: Option<f64>,
    /// How the exact expectation was computed.
    pub method: Method,
}

/// Why a study failed.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The convergence checkpoints of a run of `trials` trials: 10, 20, 50, 100, 200, 500, ... below
/// `trials`, then `trials` itself.
pub fn checkpoints(trials: u64) -> Vec<u64> {
    let mut points = Vec::new();
    let mut decade = 10u64;
    'outer: loop {
        for factor in [1, 2, 5] {
            match decade.checked_mul(factor) {
                Some(c) if c < trials => points.push(c),
                _ => break 'outer,
            }
        }
        match decade.checked_mul(10) {
            Some(next) => decade = next,
            None => break,
        }
    }
    points.push(trials);
    points
}

/// Runs a study of `network` on the current rayon pool; see [`engine::run`] for `rows` and
/// `progress`.
///
/// # Errors
/// [`StudyError`] when the engine fails.
pub fn run(
    network: &Network<f64>,
    config: &StudyConfig,
    rows: Option<&mut (dyn Write + Send)>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<StudyResult, StudyError> {
    run_until_stopped(network, config, rows, progress, &AtomicBool::new(false))
}

/// [`run`], which gives up with [`EngineError::Interrupted`] soon after `stop` is set; see
/// [`engine::run_until_stopped`].
///
/// # Errors
/// As [`run`], and [`StudyError::Engine`] with [`EngineError::Interrupted`] when stopped.
pub fn run_until_stopped(
    network: &Network<f64>,
    config: &StudyConfig,
    rows: Option<&mut (dyn Write + Send)>,
    progress: &(dyn Fn(u64) + Sync),
    stop: &AtomicBool,
) -> Result<StudyResult, StudyError> {
    match config.precision {
        Precision::F32 => run_in::<f32>(network, config, rows, progress, stop),
        Precision::F64 => run_in::<f64>(network, config, rows, progress, stop),
    }
}

fn run_in<T: Float>(
    network: &Network<f64>,
    config: &StudyConfig,
    rows: Option<&mut (dyn Write + Send)>,
    progress: &(dyn Fn(u64) + Sync),
    stop: &AtomicBool,
) -> Result<StudyResult, StudyError> {
    let output = run_range_in::<T>(network, config, 0..config.trials, rows, progress, stop)?;
    Ok(summarise_in::<T>(network, config, output))
}

/// Runs the trials `range` of the study `config` (a shard of it): the same trials, with the same
/// draws, as the whole run holds in that range, on blocks aligned to the global trial index.
/// The output's moments cover `range` only, and its checkpoints are those of the whole run
/// ([`checkpoints`]) in `(range.start, range.end]`, each with the moments of
/// `[range.start, checkpoint)`.
///
/// # Errors
/// [`StudyError`] when the engine fails.
///
/// # Panics
/// When `range` is empty or ends after `config.trials`.
pub fn run_range(
    network: &Network<f64>,
    config: &StudyConfig,
    range: Range<u64>,
    rows: Option<&mut (dyn Write + Send)>,
    progress: &(dyn Fn(u64) + Sync),
    stop: &AtomicBool,
) -> Result<EngineOutput, StudyError> {
    match config.precision {
        Precision::F32 => run_range_in::<f32>(network, config, range, rows, progress, stop),
        Precision::F64 => run_range_in::<f64>(network, config, range, rows, progress, stop),
    }
}

fn run_range_in<T: Float>(
    network: &Network<f64>,
    config: &StudyConfig,
    range: Range<u64>,
    rows: Option<&mut (dyn Write + Send)>,
    progress: &(dyn Fn(u64) + Sync),
    stop: &AtomicBool,
) -> Result<EngineOutput, StudyError> {
    assert!(
        range.start < range.end && range.end <= config.trials,
        "the range {range:?} is not a non-empty part of the run's {} trials",
        config.trials
    );
    let working = network.cast::<T>();
    let engine_config = EngineConfig {
        trials: range.end,
        first_trial: range.start,
        dropout: Dropout::new(config.scheme, config.keep_prob).in_precision::<T>(),
        seed: config.seed,
        run_stream: config.run_stream,
        arithmetic: config.arithmetic,
        checkpoints: checkpoints(config.trials)
            .into_iter()
            .filter(|c| range.start < *c && *c <= range.end)
            .collect(),
    };
    Ok(engine::run_until_stopped(
        &working,
        &engine_config,
        rows,
        progress,
        stop,
    )?)
}

/// The results of the study `config` from the aggregates of all its trials: each quantity's
/// moments (at the end and at every checkpoint) paired with its no-dropout value and its exact
/// expectation, and the mask table with its test. `output` covers `[0, config.trials)`: a whole
/// run's engine output, or the merge of its shards'.
pub fn summarise(
    network: &Network<f64>,
    config: &StudyConfig,
    output: EngineOutput,
) -> StudyResult {
    match config.precision {
        Precision::F32 => summarise_in::<f32>(network, config, output),
        Precision::F64 => summarise_in::<f64>(network, config, output),
    }
}

fn summarise_in<T: Float>(
    network: &Network<f64>,
    config: &StudyConfig,
    output: EngineOutput,
) -> StudyResult {
    // The network and dropout as this precision holds them, and their exact twins.
    let exact = network.cast::<T>().cast::<f64>();
    let dropout = Dropout::new(config.scheme, config.keep_prob).in_precision::<T>();

    // References.
    let expected = expectation::exact(&exact, &dropout);
    let no_dropout = expectation::no_dropout(&exact);
    let penalty_gradient = expectation::penalty_gradient(&exact, &dropout);
    let penalty = expectation::penalty(&exact, &dropout);

    // Pair each quantity's moments with its references.
    let names = Layout::new(network.shape()).names();
    let summarise = |moments: &[Moments]| -> Vec<QuantitySummary> {
        names
            .iter()
            .enumerate()
            .map(|(i, quantity)| QuantitySummary {
                quantity: quantity.clone(),
                moments: moments[i],
                no_dropout: no_dropout[i],
                expected: expected.mean[i],
                exact_std: expected.std(i),
                penalty_gradient: penalty_gradient.as_ref().map(|g| g[i]),
            })
            .collect()
    };
    let summaries = summarise(&output.moments);
    let checkpoints = output
        .checkpoints
        .iter()
        .map(|(trials, moments)| Checkpoint {
            trials: *trials,
            summaries: summarise(moments),
        })
        .collect();

    // The mask table and its test.
    let units = network.shape().hidden;
    let masks: Option<Vec<MaskRow>> = output.mask_counts.map(|counts| {
        counts
            .into_iter()
            .enumerate()
            .map(|(index, count)| {
                let mask = Mask::from_pattern_index(index as u64, units);
                MaskRow {
                    probability: mask.probability(dropout.keep_prob),
                    frequency: count as f64 / config.trials as f64,
                    count,
                    mask,
                }
            })
            .collect()
    });
    let mask_chi_square = masks.as_ref().and_then(|rows| {
        let counts: Vec<u64> = rows.iter().map(|r| r.count).collect();
        let probabilities: Vec<f64> = rows.iter().map(|r| r.probability).collect();
        chi_square_goodness_of_fit(&counts, &probabilities)
    });

    StudyResult {
        summaries,
        checkpoints,
        masks,
        mask_chi_square,
        nonfinite_trials: output.nonfinite_trials,
        dropout,
        penalty,
        method: expected.method,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_log_spaced_and_end_at_the_trial_count() {
        assert_eq!(checkpoints(1), vec![1]);
        assert_eq!(checkpoints(10), vec![10]);
        assert_eq!(
            checkpoints(100_000),
            vec![
                10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000
            ]
        );
        assert_eq!(checkpoints(150), vec![10, 20, 50, 100, 150]);
        assert_eq!(*checkpoints(u64::MAX).last().unwrap(), u64::MAX);
    }
}
