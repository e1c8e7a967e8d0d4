//! The trials engine: runs every trial of a study in parallel, streams the per-trial rows, and
//! returns the aggregates.
//!
//! This module owns the split of the trial range into fixed blocks of [`BLOCK_TRIALS`] trials and
//! the order in which their results are combined. Blocks run in parallel on the current rayon
//! pool, a bounded wave of them at a time; their moments, mask counts and trial rows are then
//! combined serially in block order. Because block boundaries and the merge order are fixed and
//! each trial's draw comes from the seeding contract alone, every output is bit-identical for
//! any thread count. Memory is bounded by one wave of blocks, whatever the number of trials.
//!
//! A mask scheme on a network of at most [`DENSE_TALLY_UNITS`] hidden units has at most
//! `2^12` distinct masks, so its trials take at most that many distinct values: the engine then
//! runs the network once per mask pattern ([`PatternTable`]), and a trial only draws its mask,
//! counts it and (for trials.csv) writes the pattern's precomputed row. A block's moments follow
//! from its counts by merging, in pattern order, one group of identical values per pattern (Chan,
//! Golub and LeVeque's update with zero spread inside a group): the same sample mean and variance
//! as adding the trials one by one, rounded differently, and as deterministic.
//!
//! The moments at convergence checkpoints come from the same single pass: a block that contains
//! a checkpoint records its partial moments there, and the serial merge adds them to the total
//! of the blocks before it.
//!
//! A run may cover only part of the trial range (a shard, from [`EngineConfig::first_trial`]):
//! its blocks stay aligned to the global trial index, `[b * BLOCK_TRIALS, (b + 1) * BLOCK_TRIALS)`
//! cut to the range, so that the shards of a run together hold exactly the trials of the whole
//! run, grouped on the same block boundaries plus the shard boundaries.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use crate::arithmetic::{Arithmetic, Float};
use crate::dropout::{Draw, Dropout, Mask};
use crate::network::{Network, Workspace};
use crate::seeding::{MaskSampler, TooManyWords, TrialSampler};
use crate::stats::Moments;

/// Trials per block: the unit of parallel work and of the fixed merge order.
pub const BLOCK_TRIALS: u64 = 4096;

/// Masks are counted per pattern up to this many hidden units (`2^20` patterns).
pub const MAX_COUNTED_UNITS: usize = 20;

/// What the engine runs.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// The end of the trial range (exclusive): the number of trials of a whole run.
    pub trials: u64,
    /// The first trial run, below `trials`: 0 for a whole run, the start of a shard's range
    /// otherwise. Totals and checkpoint moments then cover `[first_trial, ...)` only.
    pub first_trial: u64,
    /// The dropout scheme and its parameters, as the run's precision holds them.
    pub dropout: Dropout,
    /// The seed (see the seeding module).
    pub seed: u64,
    /// The run stream (see the seeding module): 0 for a study, the keep_prob's bits in a sweep.
    pub run_stream: u64,
    /// How matrix-product sums round.
    pub arithmetic: Arithmetic,
    /// Trial counts at which to record the running moments, increasing, each in
    /// `(first_trial, trials]`.
    pub checkpoints: Vec<u64>,
}

/// The aggregates of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOutput {
    /// Moments of every quantity, in layout order.
    pub moments: Vec<Moments>,
    /// How often each mask pattern occurred, indexed by pattern index; `None` above
    /// [`MAX_COUNTED_UNITS`] hidden units.
    pub mask_counts: Option<Vec<u64>>,
    /// Trials in which some quantity was NaN or infinite.
    pub nonfinite_trials: u64,
    /// The moments of the trials `[first_trial, c)` at each checkpoint `c`.
    pub checkpoints: Vec<(u64, Vec<Moments>)>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The run needs more random words than one seed provides.
    #[error(transparent)]
    TooManyWords(#[from] TooManyWords),
    /// Writing the trial rows failed.
    #[error("writing trials.csv failed: {0}")]
    Write(#[source] io::Error),
    /// The stop flag given to [`run_until_stopped`] was set before the last wave of blocks.
    #[error("the run was stopped before its last trial")]
    Interrupted,
}

/// Above this many hidden units a block lists its trials' pattern indices instead of holding a
/// count for each of the `2^n` patterns, which would cost more than the block's trials; up to
/// it, mask schemes run through the [`PatternTable`].
pub const DENSE_TALLY_UNITS: usize = 12;

/// Every value a mask scheme's trial can take, computed once per mask pattern.
pub struct PatternTable {
    /// Quantities per pattern.
    quantities: usize,
    /// Pattern-major values, widened to f64.
    values: Vec<f64>,
    /// Whether every quantity of the pattern is finite.
    finite: Vec<bool>,
    /// The pattern's trials.csv row after the trial index: `,mask,v1,...,vq\n`.
    rows: Vec<Vec<u8>>,
}

impl PatternTable {
    /// Runs `network` once per mask pattern under `config`'s dropout.
    pub fn build<T: Float>(network: &Network<T>, config: &EngineConfig) -> Self {
        let units = network.shape().hidden;
        let mut workspace = Workspace::new(network, config.arithmetic);
        let quantities = workspace.layout().len();
        let patterns = 1usize << units;
        let mut table = PatternTable {
            quantities,
            values: Vec::with_capacity(patterns * quantities),
            finite: Vec::with_capacity(patterns),
            rows: Vec::with_capacity(patterns),
        };
        for index in 0..patterns {
            let mask = Mask::from_pattern_index(index as u64, units);
            let values = workspace.run(network, &config.dropout, Draw::Mask(mask.keep()));
            table.values.extend(values.iter().map(|v| v.to_f64()));
            table.finite.push(values.iter().all(|v| v.is_finite()));
            let mut row = vec![b','];
            mask.write_text(&mut row);
            for &v in values {
                row.push(b',');
                v.write_shortest(&mut row);
            }
            row.push(b'\n');
            table.rows.push(row);
        }
        table
    }

    /// The moments of trials whose pattern counts are `counts`: one group of identical values
    /// per pattern, merged in pattern order.
    fn moments(&self, counts: &[u64]) -> Vec<Moments> {
        let mut moments = vec![Moments::default(); self.quantities];
        for (pattern, &count) in counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            let values = &self.values[pattern * self.quantities..(pattern + 1) * self.quantities];
            for (m, &value) in moments.iter_mut().zip(values) {
                // A group of identical finite values has no spread; one that is not finite has
                // none defined, as adding its trials one by one would give (NaN).
                let m2 = if value.is_finite() { 0.0 } else { f64::NAN };
                *m = m.merge(&Moments {
                    count,
                    mean: value,
                    m2,
                });
            }
        }
        moments
    }

    /// Trials among `counts` whose pattern has a value that is not finite.
    fn nonfinite(&self, counts: &[u64]) -> u64 {
        counts
            .iter()
            .zip(&self.finite)
            .filter(|(_, f)| !**f)
            .map(|(c, _)| c)
            .sum()
    }
}

/// The results of one block of trials.
struct Block {
    moments: Vec<Moments>,
    masks: Tally,
    masks_counted: bool,
    nonfinite_trials: u64,
    rows: Vec<u8>,
    /// The block's own moments up to each checkpoint inside it.
    checkpoints: Vec<(u64, Vec<Moments>)>,
}

/// One block's mask patterns.
enum Tally {
    /// A count per pattern index (up to [`DENSE_TALLY_UNITS`] units).
    Dense(Vec<u64>),
    /// The pattern index of each trial (up to [`MAX_COUNTED_UNITS`] units).
    Indices(Vec<u32>),
    /// Patterns are not counted.
    None,
}

impl Tally {
    fn new(units: usize, trials: usize) -> Self {
        if units <= DENSE_TALLY_UNITS {
            Tally::Dense(vec![0; 1 << units])
        } else if units <= MAX_COUNTED_UNITS {
            Tally::Indices(Vec::with_capacity(trials))
        } else {
            Tally::None
        }
    }

    #[inline]
    fn add(&mut self, index: usize) {
        match self {
            Tally::Dense(counts) => counts[index] += 1,
            Tally::Indices(indices) => indices.push(index as u32),
            Tally::None => {}
        }
    }

    fn add_to(self, counts: &mut [u64]) {
        match self {
            Tally::Dense(block) => counts.iter_mut().zip(block).for_each(|(t, b)| *t += b),
            Tally::Indices(indices) => indices.into_iter().for_each(|i| counts[i as usize] += 1),
            Tally::None => {}
        }
    }
}

/// Runs the trials `[config.first_trial, config.trials)` of `network` in precision `T`.
///
/// When `rows` is given, one CSV line per trial is written to it in trial order
/// (`trial,mask,` then the quantities in layout order, each in the shortest text that reads back
/// to the same value of `T`), without a header. The mask field is empty for the Gaussian scheme.
/// `progress` is called with the number of trials of each block as it completes, from worker
/// threads.
///
/// # Errors
/// [`EngineError`] when the run is longer than one random stream or writing rows fails.
pub fn run<T: Float>(
    network: &Network<T>,
    config: &EngineConfig,
    rows: Option<&mut (dyn Write + Send)>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<EngineOutput, EngineError> {
    run_until_stopped(network, config, rows, progress, &AtomicBool::new(false))
}

/// [`run`], which gives up when `stop` is set (by a signal handler, say).
///
/// The flag is read before each wave of blocks (at most four blocks of [`BLOCK_TRIALS`] trials
/// per thread, milliseconds of work), so a run stops within one wave of the flag being set.
/// Rows already written to `rows` stay written: the caller discards them.
///
/// # Errors
/// As [`run`], and [`EngineError::Interrupted`] when `stop` was set before the last wave.
pub fn run_until_stopped<T: Float>(
    network: &Network<T>,
    config: &EngineConfig,
    mut rows: Option<&mut (dyn Write + Send)>,
    progress: &(dyn Fn(u64) + Sync),
    stop: &AtomicBool,
) -> Result<EngineOutput, EngineError> {
    let units = network.shape().hidden;
    // Checks the run fits in one random stream; each worker then builds its own sampler.
    let sampler = || {
        TrialSampler::new(
            config.seed,
            config.run_stream,
            &config.dropout,
            units,
            config.trials,
        )
    };
    sampler()?;
    let new_sampler = || sampler().expect("checked above");
    let workspace = Workspace::new(network, config.arithmetic);
    let quantities = workspace.layout().len();
    let blocks = config.trials.div_ceil(BLOCK_TRIALS);
    // Blocks before the one holding the first trial are not run.
    let first_block = config.first_trial / BLOCK_TRIALS;
    let keep_rows = rows.is_some();
    // A wave is as many blocks as keep every thread busy between two serial merges; with
    // rows, fewer, to bound the memory the rows of a wave take (about 20 MB at 2 threads).
    let blocks_per_thread = if keep_rows { 16 } else { 256 };
    let wave = (rayon::current_num_threads() as u64 * blocks_per_thread).max(1);
    let table = (config.dropout.scheme.uses_mask() && units <= DENSE_TALLY_UNITS)
        .then(|| PatternTable::build(network, config));

    let mut total = EngineOutput {
        moments: vec![Moments::default(); quantities],
        mask_counts: (units <= MAX_COUNTED_UNITS && config.dropout.scheme.uses_mask())
            .then(|| vec![0; 1 << units]),
        nonfinite_trials: 0,
        checkpoints: Vec::with_capacity(config.checkpoints.len()),
    };
    // Each wave's rows are written while the next wave runs, so that writing trials.csv (copying,
    // hashing, the kernel's page cache) overlaps the trials instead of following them.
    let mut pending_rows: Vec<Vec<u8>> = Vec::new();
    let mut first = first_block;
    while first < blocks {
        if stop.load(Ordering::Relaxed) {
            return Err(EngineError::Interrupted);
        }
        // Run one wave of blocks in parallel, each with its own generator and buffers, and write
        // the previous wave's rows meanwhile.
        let last = (first + wave).min(blocks);
        let run_wave = || -> Vec<Block> {
            (first as usize..last as usize)
                .into_par_iter()
                .map_init(
                    || (new_sampler(), workspace.clone()),
                    |(sampler, workspace), block| {
                        let start = (block as u64 * BLOCK_TRIALS).max(config.first_trial);
                        let end = ((block as u64 + 1) * BLOCK_TRIALS).min(config.trials);
                        let result = match (&table, sampler) {
                            (Some(table), TrialSampler::Mask(sampler)) => {
                                run_block_patterns(table, config, sampler, start..end, keep_rows)
                            }
                            (_, sampler) => run_block(
                                network,
                                config,
                                sampler,
                                workspace,
                                start..end,
                                keep_rows,
                            ),
                        };
                        progress(end - start);
                        result
                    },
                )
                .collect()
        };
        let results = if keep_rows {
            let (results, written) = rayon::join(run_wave, || write_rows(&mut rows, &pending_rows));
            written?;
            results
        } else {
            run_wave()
        };
        pending_rows.clear();

        // Combine in block order, so totals do not depend on which thread ran what.
        for block in results {
            for (count, partial) in block.checkpoints {
                let at = total
                    .moments
                    .iter()
                    .zip(&partial)
                    .map(|(t, b)| t.merge(b))
                    .collect();
                total.checkpoints.push((count, at));
            }
            for (t, b) in total.moments.iter_mut().zip(&block.moments) {
                *t = t.merge(b);
            }
            if let Some(counts) = total.mask_counts.as_mut()
                && block.masks_counted
            {
                block.masks.add_to(counts);
            }
            total.nonfinite_trials += block.nonfinite_trials;
            pending_rows.push(block.rows);
        }
        first = last;
    }
    write_rows(&mut rows, &pending_rows)?;
    Ok(total)
}

/// Writes the rows of a wave's blocks, in block order.
fn write_rows(
    out: &mut Option<&mut (dyn Write + Send)>,
    rows: &[Vec<u8>],
) -> Result<(), EngineError> {
    if let Some(out) = out.as_mut() {
        for block in rows {
            out.write_all(block).map_err(EngineError::Write)?;
        }
    }
    Ok(())
}

/// Runs the trials `range` (within one block) of a mask scheme through the pattern table.
fn run_block_patterns(
    table: &PatternTable,
    config: &EngineConfig,
    sampler: &mut MaskSampler,
    range: std::ops::Range<u64>,
    keep_rows: bool,
) -> Block {
    let trials = (range.end - range.start) as usize;
    let mut counts = vec![0u64; table.finite.len()];
    let mut patterns = vec![0u32; trials];
    let first_checkpoint = config.checkpoints.partition_point(|&c| c <= range.start);
    let mut checkpoints = config.checkpoints[first_checkpoint..].iter().peekable();
    let mut block_checkpoints = Vec::new();
    let mut rows = Vec::with_capacity(if keep_rows { trials * 128 } else { 0 });

    // Draw every mask of the block, then count them.
    sampler.seek(range.start);
    sampler.next_patterns(&mut patterns);
    for (offset, &pattern) in patterns.iter().enumerate() {
        counts[pattern as usize] += 1;
        let done = range.start + offset as u64 + 1;
        if checkpoints.next_if_eq(&&done).is_some() {
            block_checkpoints.push((done, table.moments(&counts)));
        }
    }

    // Rows: the trial index, then the pattern's row.
    if keep_rows {
        let mut itoa = itoa::Buffer::new();
        for (trial, &pattern) in range.clone().zip(&patterns) {
            rows.extend_from_slice(itoa.format(trial).as_bytes());
            rows.extend_from_slice(&table.rows[pattern as usize]);
        }
    }

    Block {
        moments: table.moments(&counts),
        nonfinite_trials: table.nonfinite(&counts),
        masks: Tally::Dense(counts),
        masks_counted: true,
        rows,
        checkpoints: block_checkpoints,
    }
}

/// Runs the trials `range` (within one block) and accumulates them.
fn run_block<T: Float>(
    network: &Network<T>,
    config: &EngineConfig,
    sampler: &mut TrialSampler,
    workspace: &mut Workspace<T>,
    range: std::ops::Range<u64>,
    keep_rows: bool,
) -> Block {
    let units = network.shape().hidden;
    let uses_mask = config.dropout.scheme.uses_mask();
    let (mut keep, mut noise, mut noise_t) =
        (vec![true; units], vec![1.0f64; units], vec![T::ONE; units]);
    let trials = (range.end - range.start) as usize;
    let mut block = Block {
        moments: vec![Moments::default(); workspace.layout().len()],
        masks: if uses_mask {
            Tally::new(units, trials)
        } else {
            Tally::None
        },
        masks_counted: uses_mask && units <= MAX_COUNTED_UNITS,
        nonfinite_trials: 0,
        rows: Vec::with_capacity(if keep_rows { trials * 128 } else { 0 }),
        checkpoints: Vec::new(),
    };
    let first_checkpoint = config.checkpoints.partition_point(|&c| c <= range.start);
    let mut checkpoints = config.checkpoints[first_checkpoint..].iter().peekable();
    let mut itoa = itoa::Buffer::new();

    sampler.seek(range.start);
    for trial in range {
        // Draw and run the trial.
        sampler.next(&mut keep, &mut noise);
        let draw = if uses_mask {
            Draw::Mask(&keep)
        } else {
            noise_t
                .iter_mut()
                .zip(&noise)
                .for_each(|(t, &n)| *t = T::from_f64(n));
            Draw::Noise(&noise_t)
        };
        let values = workspace.run(network, &config.dropout, draw);

        // Aggregate.
        let mut finite = true;
        for (m, &v) in block.moments.iter_mut().zip(values) {
            finite &= v.is_finite();
            m.push(v.to_f64());
        }
        block.nonfinite_trials += u64::from(!finite);
        if block.masks_counted {
            block.masks.add(
                keep.iter()
                    .fold(0usize, |acc, &k| (acc << 1) | usize::from(k)),
            );
        }
        if checkpoints.next_if_eq(&&(trial + 1)).is_some() {
            block.checkpoints.push((trial + 1, block.moments.clone()));
        }

        // Row: trial,mask,values...
        if keep_rows {
            let out = &mut block.rows;
            out.extend_from_slice(itoa.format(trial).as_bytes());
            out.push(b',');
            if uses_mask {
                out.extend(keep.iter().map(|&k| if k { b'1' } else { b'0' }));
            }
            for &v in values {
                out.push(b',');
                v.write_shortest(out);
            }
            out.push(b'\n');
        }
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dropout::{KeepProb, Scheme};

    /// The pattern table and the trial-by-trial loop are two routes to the same trials: the
    /// same rows byte for byte, the same mask counts, and moments equal up to the rounding of
    /// two summation orders over 4096 values (a relative 1e-12 is a thousand times that rounding).
    #[test]
    fn the_pattern_table_gives_the_same_trials_as_the_trial_loop() {
        let network = Network::notebook().cast::<f32>();
        for scheme in [Scheme::Tf1, Scheme::Scale, Scheme::Unscaled] {
            let dropout = Dropout::new(scheme, KeepProb::new(0.3).unwrap()).in_precision::<f32>();
            let config = EngineConfig {
                trials: 3 * BLOCK_TRIALS,
                first_trial: 0,
                dropout,
                seed: 5,
                run_stream: 0,
                arithmetic: Arithmetic::Fma,
                checkpoints: vec![10, 5000, 3 * BLOCK_TRIALS],
            };
            let table = PatternTable::build(&network, &config);
            let range = BLOCK_TRIALS..2 * BLOCK_TRIALS;
            let new_sampler = || MaskSampler::new(5, dropout.keep_prob, 3, config.trials).unwrap();

            let fast = run_block_patterns(&table, &config, &mut new_sampler(), range.clone(), true);
            let mut workspace = Workspace::new(&network, config.arithmetic);
            let mut sampler = TrialSampler::Mask(new_sampler());
            let slow = run_block(&network, &config, &mut sampler, &mut workspace, range, true);

            assert_eq!(fast.rows, slow.rows, "{scheme:?}");
            let (mut a, mut b) = (vec![0; 8], vec![0; 8]);
            fast.masks.add_to(&mut a);
            slow.masks.add_to(&mut b);
            assert_eq!(a, b);
            assert_eq!(
                fast.checkpoints.len(),
                1,
                "the checkpoint at 5000 lies in this block"
            );
            for (f, s) in [
                (&fast.moments, &slow.moments),
                (&fast.checkpoints[0].1, &slow.checkpoints[0].1),
            ] {
                for (f, s) in f.iter().zip(s.iter()) {
                    assert_eq!(f.count, s.count);
                    assert!(
                        (f.mean - s.mean).abs() <= 1e-12 * f.mean.abs().max(1e-300),
                        "{f:?} {s:?}"
                    );
                    assert!(
                        (f.m2 - s.m2).abs() <= 1e-12 * f.m2.abs().max(1e-300),
                        "{f:?} {s:?}"
                    );
                }
            }
        }
    }
}
