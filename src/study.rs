//! A whole study: the trials in the chosen precision, measured against the exact expectation.
//!
//! This module owns the step from a configuration to results: it rounds the network and the keep
//! probability to the working precision, runs the engine, and pairs each quantity's Monte Carlo
//! moments with its no-dropout value and its exact expectation.
//!
//! The reference values are computed in f64 on the network *as the run holds it*: a float32 run's
//! weights and keep probability are first rounded to float32, then widened exactly. The trials
//! differ from those references only by float32 rounding inside a trial (relative `1e-7` or less)
//! and by the mask probability's `2^-33` quantisation (see the seeding module), both far below the
//! standard error of any feasible run.

use std::io::Write;
use std::sync::atomic::AtomicBool;

use crate::arithmetic::{Arithmetic, Float, Precision};
use crate::dropout::{KeepProb, Mask};
use crate::engine::{self, EngineConfig, EngineError};
use crate::expectation::{self, TooManyUnits};
use crate::network::{Layout, Network};
use crate::stats::QuantitySummary;

/// What a study runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StudyConfig {
    /// The number of trials, at least 1.
    pub trials: u64,
    /// The keep probability.
    pub keep_prob: KeepProb,
    /// The seed of the mask stream.
    pub seed: u64,
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

/// The results of a study.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyResult {
    /// One summary per quantity, in layout order.
    pub summaries: Vec<QuantitySummary>,
    /// Every mask pattern in pattern order; `None` when the network has too many hidden units.
    pub masks: Option<Vec<MaskRow>>,
    /// Trials in which some quantity was NaN or infinite.
    pub nonfinite_trials: u64,
    /// The keep probability the run divided by (rounded to its precision).
    pub keep_prob_used: KeepProb,
    /// The dropout penalty `R` on the loss.
    pub penalty: f64,
}

/// Why a study failed.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The exact expectation cannot be enumerated.
    #[error(transparent)]
    TooManyUnits(#[from] TooManyUnits),
}

/// Runs a study of `network` on the current rayon pool; see [`engine::run`] for `rows` and
/// `progress`.
///
/// # Errors
/// [`StudyError`] when the engine fails or the network is too wide to enumerate.
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
    // The network and keep probability as this precision holds them, and their exact twins.
    let working = network.cast::<T>();
    let exact = working.cast::<f64>();
    let keep_prob = config.keep_prob.in_precision::<T>();

    // References first: a network too wide to enumerate fails before any trial runs.
    let expected = expectation::enumerate(&exact, keep_prob)?;
    let no_dropout = expectation::no_dropout(&exact);
    let penalty = expectation::penalty(&exact, keep_prob);

    // The trials.
    let engine_config = EngineConfig {
        trials: config.trials,
        keep_prob,
        seed: config.seed,
        arithmetic: config.arithmetic,
    };
    let output = engine::run_until_stopped(&working, &engine_config, rows, progress, stop)?;

    // Pair each quantity's moments with its references.
    let names = Layout::new(network.shape()).names();
    let summaries = names
        .into_iter()
        .enumerate()
        .map(|(i, quantity)| QuantitySummary {
            quantity,
            moments: output.moments[i],
            no_dropout: no_dropout[i],
            expected: expected[i],
        })
        .collect();
    let units = network.shape().hidden;
    let masks = output.mask_counts.map(|counts| {
        counts
            .into_iter()
            .enumerate()
            .map(|(index, count)| {
                let mask = Mask::from_pattern_index(index as u64, units);
                MaskRow {
                    probability: mask.probability(keep_prob),
                    frequency: count as f64 / config.trials as f64,
                    count,
                    mask,
                }
            })
            .collect()
    });
    Ok(StudyResult {
        summaries,
        masks,
        nonfinite_trials: output.nonfinite_trials,
        keep_prob_used: keep_prob,
        penalty,
    })
}
