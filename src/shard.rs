//! Splitting a run into shards and merging them back: the slice of the trial range a shard
//! covers, the partial state it records in `shard.json`, and the checks and arithmetic of the
//! merge.
//!
//! This module owns:
//!
//! - [`ShardSpec`]: shard `K` of `N` covers the trials
//!   `[floor(K * trials / N), floor((K + 1) * trials / N))`, so the `N` slices tile the run;
//! - [`ShardRecord`]: what `shard.json` holds: the run's identity (everything that decides its
//!   trials' values), the shard's range, the moments of every quantity over that range, the mask
//!   counts, the moments at each convergence checkpoint inside the range (over
//!   `[start, checkpoint)`, since a shard cannot know the trials before it), and the SHA-256 of its
//!   `trials.csv`;
//! - [`network_sha256`]: the hash that ties the shards to one network, as the run's precision
//!   holds it;
//! - [`merge`]: the checks that shards belong to one run and tile its range exactly, and the
//!   merge of their moments in shard order (Chan, Golub and LeVeque's pairwise update, as the
//!   engine merges blocks).
//!
//! Every float of `shard.json` is written in the shortest text that reads back to the same f64
//! (serde_json, with its exact float parsing), so a merge starts from the very values the shards
//! computed. A NaN or infinite moment (a shard run with `--allow-nonfinite`) is written as the
//! string `"NaN"`, `"inf"` or `"-inf"`, which JSON numbers cannot hold.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::arithmetic::Float;
use crate::engine::EngineOutput;
use crate::network::Network;
use crate::stats::Moments;
use crate::study::checkpoints;

/// Which shard of a run: the `index`-th (from 0) of `count` equal slices of its trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    /// `K`, from 0.
    pub index: u64,
    /// `N`, at least 1.
    pub count: u64,
}

impl ShardSpec {
    /// The trials of this shard in a run of `trials` trials:
    /// `[floor(K * trials / N), floor((K + 1) * trials / N))`, computed without overflow.
    pub fn range(&self, trials: u64) -> std::ops::Range<u64> {
        let at = |k: u64| (u128::from(k) * u128::from(trials) / u128::from(self.count)) as u64;
        at(self.index)..at(self.index + 1)
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for ShardSpec {
    type Err = String;

    /// Parses `K/N` with `0 <= K < N` and `N >= 1`.
    fn from_str(text: &str) -> Result<Self, String> {
        let usage = "give K/N, shard K (from 0) of N, such as 0/64";
        let (k, n) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("'{text}' has no '/'; {usage}"))?;
        let number = |part: &str, what: &str| {
            part.trim().parse::<u64>().map_err(|_| {
                format!(
                    "{what} '{}' is not a whole number from 0; {usage}",
                    part.trim()
                )
            })
        };
        let (index, count) = (number(k, "K")?, number(n, "N")?);
        if count == 0 {
            return Err(format!("N is 0, but a run has at least 1 shard; {usage}"));
        }
        if index >= count {
            return Err(format!(
                "K = {index} is not below N = {count}; shards are numbered 0 to {}",
                count - 1
            ));
        }
        Ok(ShardSpec { index, count })
    }
}

/// The SHA-256 (lowercase hex) of `network` as precision `T` holds it: the shape (inputs, hidden
/// units, outputs as u64) and then every value of `x`, `y`, `w1` and `w2` in that order, row-major,
/// each rounded to `T` and widened to f64, all little-endian. Two networks hash alike exactly when
/// a run in `T` computes the same trials on both.
pub fn network_sha256<T: Float>(network: &Network<f64>) -> String {
    let held = network.cast::<T>().cast::<f64>();
    let mut hasher = Sha256::new();
    let shape = held.shape();
    for size in [shape.inputs, shape.hidden, shape.outputs] {
        hasher.update((size as u64).to_le_bytes());
    }
    for matrix in [held.x(), held.y(), held.w1(), held.w2()] {
        for row in matrix.row_iter() {
            for value in row.iter() {
                hasher.update(value.to_bits().to_le_bytes());
            }
        }
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The moments of one quantity, as `shard.json` holds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantityMoments {
    /// The quantity (a `trials.csv` column).
    pub quantity: String,
    /// Trials counted.
    pub count: u64,
    /// Their mean.
    #[serde(with = "exact_f64")]
    pub mean: f64,
    /// Their sum of squared deviations from the mean.
    #[serde(with = "exact_f64")]
    pub m2: f64,
}

impl QuantityMoments {
    fn list(names: &[String], moments: &[Moments]) -> Vec<Self> {
        names
            .iter()
            .zip(moments)
            .map(|(quantity, m)| QuantityMoments {
                quantity: quantity.clone(),
                count: m.count,
                mean: m.mean,
                m2: m.m2,
            })
            .collect()
    }

    fn moments(&self) -> Moments {
        Moments {
            count: self.count,
            mean: self.mean,
            m2: self.m2,
        }
    }
}

/// The moments at one convergence checkpoint inside a shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardCheckpoint {
    /// The checkpoint: the run's trial count `c` at which its running moments are reported.
    pub checkpoint_trials: u64,
    /// The shard's own moments over `[first_trial, c)`.
    pub moments: Vec<QuantityMoments>,
}

/// What a shard's command line and build say about the run it is part of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunIdentity {
    /// This crate's version (shards of different versions are not merged).
    pub crate_version: String,
    /// The git commit the binary was built from, when known.
    pub git_commit: Option<String>,
    /// The seed.
    pub seed: u64,
    /// The trials of the whole run.
    pub trials: u64,
    /// The keep probability asked for.
    pub keep_prob: f64,
    /// The dropout scheme.
    pub scheme: String,
    /// f32 or f64.
    pub precision: String,
    /// plain or fma.
    pub arithmetic: String,
    /// The network: `notebook`, or the path of the network file.
    pub network: String,
    /// [`network_sha256`] of the network in the run's precision.
    pub network_sha256: String,
}

/// The content of `shard.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// The run this shard is part of (its fields stand at the top level of the JSON).
    #[serde(flatten)]
    pub run: RunIdentity,
    /// Trials per block (the engine's fixed grouping).
    pub block_trials: u64,
    /// The random generator and key layout (the seeding contract).
    pub generator: String,
    /// `K`, this shard's index from 0.
    pub shard: u64,
    /// `N`, the number of shards of the run.
    pub shards: u64,
    /// The first trial of this shard.
    pub first_trial: u64,
    /// The end of this shard's range (exclusive).
    pub end_trial: u64,
    /// Moments of every quantity over the shard's range, in layout order.
    pub moments: Vec<QuantityMoments>,
    /// How often each mask pattern occurred in the range, by pattern index; null when masks are
    /// not counted.
    pub mask_counts: Option<Vec<u64>>,
    /// The run's convergence checkpoints inside `(first_trial, end_trial]`, with the shard's
    /// moments up to each.
    pub checkpoints: Vec<ShardCheckpoint>,
    /// Trials of the range in which some quantity was NaN or infinite.
    pub nonfinite_trials: u64,
    /// SHA-256 of the shard's `trials.csv`; null when it was not written.
    pub trials_sha256: Option<String>,
    /// Worker threads.
    pub threads: usize,
    /// When the shard started, RFC 3339 UTC.
    pub started_at: String,
    /// Wall time of the shard, seconds.
    #[serde(with = "exact_f64")]
    pub wall_seconds: f64,
}

/// The fields of a [`ShardRecord`] that are not the engine's output.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardIdentity {
    /// The run this shard is part of.
    pub run: RunIdentity,
    /// Which shard.
    pub spec: ShardSpec,
    /// Worker threads.
    pub threads: usize,
    /// When the shard started.
    pub started_at: String,
    /// Its wall time.
    pub wall_seconds: f64,
    /// The SHA-256 of its trials.csv, if written.
    pub trials_sha256: Option<String>,
}

impl ShardRecord {
    /// The record of a shard whose engine run gave `output`; `names` are the quantities in
    /// layout order.
    pub fn new(identity: ShardIdentity, names: &[String], output: &EngineOutput) -> Self {
        let range = identity.spec.range(identity.run.trials);
        ShardRecord {
            run: identity.run,
            block_trials: crate::engine::BLOCK_TRIALS,
            generator: crate::seeding::GENERATOR.to_string(),
            shard: identity.spec.index,
            shards: identity.spec.count,
            first_trial: range.start,
            end_trial: range.end,
            moments: QuantityMoments::list(names, &output.moments),
            mask_counts: output.mask_counts.clone(),
            checkpoints: output
                .checkpoints
                .iter()
                .map(|(c, moments)| ShardCheckpoint {
                    checkpoint_trials: *c,
                    moments: QuantityMoments::list(names, moments),
                })
                .collect(),
            nonfinite_trials: output.nonfinite_trials,
            trials_sha256: identity.trials_sha256,
            threads: identity.threads,
            started_at: identity.started_at,
            wall_seconds: identity.wall_seconds,
        }
    }

    /// The fields that make two shards parts of the same run, by name, with their values as
    /// text.
    fn run_identity(&self) -> [(&'static str, String); 11] {
        [
            ("seed", self.run.seed.to_string()),
            ("trials", self.run.trials.to_string()),
            ("keep_prob", self.run.keep_prob.to_string()),
            ("scheme", self.run.scheme.clone()),
            ("precision", self.run.precision.clone()),
            ("arithmetic", self.run.arithmetic.clone()),
            ("network_sha256", self.run.network_sha256.clone()),
            ("crate_version", self.run.crate_version.clone()),
            ("block_trials", self.block_trials.to_string()),
            ("generator", self.generator.clone()),
            ("shards (N)", self.shards.to_string()),
        ]
    }
}

/// A shard folder and the `shard.json` read from it.
#[derive(Debug, Clone)]
pub struct LoadedShard {
    /// The shard's folder.
    pub dir: PathBuf,
    /// Its record.
    pub record: ShardRecord,
}

/// Why shards cannot be merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    /// Two shards come from different runs.
    #[error(
        "{first} and {second} are shards of different runs: {field} is {first_value} in {first} \
         but {second_value} in {second}; merge only the shards of one run"
    )]
    DifferentRuns {
        /// The first shard's folder.
        first: String,
        /// The other shard's folder.
        second: String,
        /// The field that differs.
        field: &'static str,
        /// Its value in the first.
        first_value: String,
        /// Its value in the other.
        second_value: String,
    },
    /// Two folders hold the same shard.
    #[error("{first} and {second} both hold shard {shard}: give each shard once")]
    Duplicate {
        /// One folder.
        first: String,
        /// The other.
        second: String,
        /// The shard, `K/N`.
        shard: ShardSpec,
    },
    /// Shards are missing.
    #[error(
        "shard(s) {missing} of {count} are missing (trials {ranges} are not covered); give the \
         folder of every shard 0 to {last}"
    )]
    Missing {
        /// The missing indices, comma-separated.
        missing: String,
        /// `N`.
        count: u64,
        /// Their trial ranges.
        ranges: String,
        /// `N - 1`.
        last: u64,
    },
    /// A shard's record does not agree with itself or with the run's layout.
    #[error("{dir}: shard.json {problem}; run the shard again")]
    Inconsistent {
        /// The shard's folder.
        dir: String,
        /// What is wrong.
        problem: String,
    },
}

/// Checks that `shards` are the shards of one run, each once, and that their ranges tile
/// `[0, trials)` exactly; then merges them in shard order. Returns the shards sorted by index
/// and the engine output of the whole run: moments merged with [`Moments::merge`] in shard order,
/// mask counts and non-finite trials added, and each checkpoint's moments rebuilt as the merge of
/// the shards before it and the shard's own moments up to the checkpoint.
///
/// # Errors
/// [`MergeError`] naming the shard folders and what does not fit.
pub fn merge(mut shards: Vec<LoadedShard>) -> Result<(Vec<LoadedShard>, EngineOutput), MergeError> {
    let name = |s: &LoadedShard| s.dir.display().to_string();
    let first = shards.first().expect("at least one shard is given").clone();

    // One run.
    for other in &shards[1..] {
        let (a, b) = (first.record.run_identity(), other.record.run_identity());
        if let Some(((field, x), (_, y))) = a.into_iter().zip(b).find(|(x, y)| x.1 != y.1) {
            return Err(MergeError::DifferentRuns {
                first: name(&first),
                second: name(other),
                field,
                first_value: x,
                second_value: y,
            });
        }
    }

    // Each shard once, every shard there.
    shards.sort_by_key(|s| s.record.shard);
    for pair in shards.windows(2) {
        if pair[0].record.shard == pair[1].record.shard {
            return Err(MergeError::Duplicate {
                first: name(&pair[0]),
                second: name(&pair[1]),
                shard: ShardSpec {
                    index: pair[0].record.shard,
                    count: pair[0].record.shards,
                },
            });
        }
    }
    let (trials, count) = (first.record.run.trials, first.record.shards);
    let missing: Vec<u64> = (0..count)
        .filter(|k| shards.binary_search_by_key(k, |s| s.record.shard).is_err())
        .collect();
    if !missing.is_empty() {
        let range = |k: u64| ShardSpec { index: k, count }.range(trials);
        return Err(MergeError::Missing {
            missing: missing
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            count,
            ranges: missing
                .iter()
                .map(|&k| format!("[{}, {})", range(k).start, range(k).end))
                .collect::<Vec<_>>()
                .join(", "),
            last: count - 1,
        });
    }

    // Each shard's own record: its range, its counts and its checkpoints.
    let all_checkpoints = checkpoints(trials);
    let quantities = first.record.moments.len();
    let mut end = 0;
    for shard in &shards {
        let r = &shard.record;
        let bad = |problem: String| MergeError::Inconsistent {
            dir: name(shard),
            problem,
        };
        let range = ShardSpec {
            index: r.shard,
            count: r.shards,
        }
        .range(trials);
        if r.shard >= r.shards || (r.first_trial, r.end_trial) != (range.start, range.end) {
            return Err(bad(format!(
                "gives shard {}/{} the trials [{}, {}), but shard {}/{} of {trials} trials covers \
                 [{}, {})",
                r.shard,
                r.shards,
                r.first_trial,
                r.end_trial,
                r.shard,
                r.shards,
                range.start,
                range.end
            )));
        }
        if r.first_trial != end {
            return Err(bad(format!(
                "starts at trial {}, but the shards before it end at {end}",
                r.first_trial
            )));
        }
        end = r.end_trial;
        let size = r.end_trial - r.first_trial;
        if r.moments.len() != quantities
            || r.moments
                .iter()
                .zip(&first.record.moments)
                .any(|(m, f)| m.quantity != f.quantity || m.count != size)
        {
            return Err(bad(format!(
                "does not hold {size} trials of each of the {quantities} quantities of {}",
                name(&first)
            )));
        }
        let inside: Vec<u64> = all_checkpoints
            .iter()
            .copied()
            .filter(|&c| r.first_trial < c && c <= r.end_trial)
            .collect();
        let held: Vec<u64> = r.checkpoints.iter().map(|c| c.checkpoint_trials).collect();
        if held != inside
            || r.checkpoints.iter().any(|c| {
                c.moments.len() != quantities
                    || c.moments
                        .iter()
                        .any(|m| m.count != c.checkpoint_trials - r.first_trial)
            })
        {
            return Err(bad(format!(
                "holds the checkpoints {held:?}, but the run's checkpoints in its range are \
                 {inside:?}, each over the trials from {}",
                r.first_trial
            )));
        }
        let masks_ok = match (&r.mask_counts, &first.record.mask_counts) {
            (Some(a), Some(b)) => a.len() == b.len() && a.iter().sum::<u64>() == size,
            (None, None) => true,
            _ => false,
        };
        if !masks_ok {
            return Err(bad(format!(
                "holds mask counts that do not sum to its {size} trials in the patterns of {}",
                name(&first)
            )));
        }
    }
    debug_assert_eq!(end, trials);

    // The merge, in shard order.
    let mut total = EngineOutput {
        moments: vec![Moments::default(); quantities],
        mask_counts: first.record.mask_counts.as_ref().map(|m| vec![0; m.len()]),
        nonfinite_trials: 0,
        checkpoints: Vec::with_capacity(all_checkpoints.len()),
    };
    for shard in &shards {
        let r = &shard.record;
        for checkpoint in &r.checkpoints {
            let at = total
                .moments
                .iter()
                .zip(&checkpoint.moments)
                .map(|(t, m)| t.merge(&m.moments()))
                .collect();
            total.checkpoints.push((checkpoint.checkpoint_trials, at));
        }
        for (t, m) in total.moments.iter_mut().zip(&r.moments) {
            *t = t.merge(&m.moments());
        }
        if let (Some(total), Some(counts)) = (total.mask_counts.as_mut(), &r.mask_counts) {
            total.iter_mut().zip(counts).for_each(|(t, c)| *t += c);
        }
        total.nonfinite_trials += r.nonfinite_trials;
    }
    Ok((shards, total))
}

/// Serde of an f64 that keeps every value: a JSON number for a finite value (shortest text that
/// reads back to it), the strings `"NaN"`, `"inf"`, `"-inf"` otherwise.
mod exact_f64 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        if value.is_finite() {
            serializer.serialize_f64(*value)
        } else if value.is_nan() {
            serializer.serialize_str("NaN")
        } else if *value > 0.0 {
            serializer.serialize_str("inf")
        } else {
            serializer.serialize_str("-inf")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Number(f64),
        Word(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        match Text::deserialize(deserializer)? {
            Text::Number(v) => Ok(v),
            Text::Word(w) => match w.as_str() {
                "NaN" => Ok(f64::NAN),
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                _ => Err(D::Error::custom(format!(
                    "'{w}' is not a number (a non-finite value is \"NaN\", \"inf\" or \"-inf\")"
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_ranges_tile_the_run() {
        for (trials, count) in [(20_000u64, 3u64), (7, 7), (10, 4), (u64::MAX, 64)] {
            let mut end = 0;
            for index in 0..count {
                let r = ShardSpec { index, count }.range(trials);
                assert_eq!(r.start, end);
                assert!(r.end > r.start);
                end = r.end;
            }
            assert_eq!(end, trials);
        }
        assert_eq!(ShardSpec { index: 1, count: 3 }.range(20_000), 6666..13_333);
    }

    #[test]
    fn shard_syntax_is_checked() {
        assert_eq!(
            "2/3".parse::<ShardSpec>(),
            Ok(ShardSpec { index: 2, count: 3 })
        );
        assert!(
            "3/3"
                .parse::<ShardSpec>()
                .unwrap_err()
                .contains("not below")
        );
        assert!("0/0".parse::<ShardSpec>().unwrap_err().contains("N is 0"));
        assert!("1".parse::<ShardSpec>().unwrap_err().contains("no '/'"));
        assert!(
            "-1/3"
                .parse::<ShardSpec>()
                .unwrap_err()
                .contains("whole number")
        );
    }

    #[test]
    fn moments_round_trip_exactly_through_json() {
        let values = [
            0.1,
            -0.792_000_000_000_001,
            1.0 / 3.0,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for &v in &values {
            let m = QuantityMoments {
                quantity: "loss".into(),
                count: 3,
                mean: v,
                m2: v * 0.7,
            };
            let back: QuantityMoments =
                serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
            let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
            assert!(same(back.mean, m.mean) && same(back.m2, m.m2), "{v}");
        }
    }

    #[test]
    fn the_network_hash_follows_the_precision() {
        let notebook = Network::notebook();
        assert_eq!(
            network_sha256::<f32>(&notebook),
            network_sha256::<f32>(&notebook.cast::<f32>().cast::<f64>())
        );
        assert_ne!(
            network_sha256::<f32>(&notebook),
            network_sha256::<f64>(&notebook)
        );
    }
}
