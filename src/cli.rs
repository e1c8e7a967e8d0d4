//! The command line: flags, their checks, and the commands (the study, `sweep`, `reproduce`,
//! `verify`, `merge`).
//!
//! Every flag is checked while it is parsed, before anything is written: a bad value stops the
//! program with exit code 2 and a message naming the flag, the value and what is accepted.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use dropout_study::arithmetic::{Arithmetic, Precision};
use dropout_study::dropout::{KeepProb, Scheme};
use dropout_study::shard::ShardSpec;

/// Seeded Monte Carlo study of inverted dropout on the network of the notebook "Dropout in a
/// minute": many dropout masks, their losses and gradients, and the exact expectation.
#[derive(Debug, Parser)]
#[command(
    name = "dropout-study",
    version,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A command other than the study.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The study's flags.
    #[command(flatten)]
    pub study: StudyArgs,
}

/// Commands other than the study itself.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Reproduce the notebook's single runs exactly (no options), or run one given mask.
    Reproduce(ReproduceArgs),
    /// Run the study at several keep probabilities into sweep.csv.
    Sweep(SweepArgs),
    /// Check a results folder: hashes, row counts, and the summary and mask counts recomputed
    /// from trials.csv.
    Verify(VerifyArgs),
    /// Merge the shards of a run (folders written with --shard K/N) into the files of a single
    /// run.
    Merge(MergeArgs),
}

/// Flags every run shares: what is run, and how.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Seed of the random streams, an integer from 0 to 18446744073709551615.
    #[arg(long, value_name = "S", default_value = "0", value_parser = parse_seed, allow_hyphen_values = true)]
    pub seed: u64,
    /// Worker threads, at least 1 [default: all cores]. Results do not depend on it.
    #[arg(long, value_name = "T", value_parser = parse_threads, allow_hyphen_values = true)]
    pub threads: Option<usize>,
    /// Folder for the output files; created if missing.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub out: PathBuf,
    /// Dropout scheme: tf1 (divide, then mask), scale (multiply by the rounded 1/p, then mask),
    /// gaussian (multiplicative N(1, (1-p)/p) noise) or unscaled (mask only).
    #[arg(long, value_enum, default_value_t = Scheme::Tf1)]
    pub scheme: Scheme,
    /// A network file (JSON with x, y, w1, w2 as lists of rows) [default: the notebook's].
    #[arg(long, value_name = "FILE")]
    pub network: Option<PathBuf>,
    /// Per-trial arithmetic precision (statistics always accumulate in f64).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
    /// How matrix-product sums round: plain (TensorFlow 1.5.0) or fma (TensorFlow 2.x on FMA CPUs).
    #[arg(long, value_enum, default_value_t = Arithmetic::Plain)]
    pub arithmetic: Arithmetic,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Flags of `sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Keep probabilities, comma-separated, each in (0, 1], no repeats.
    #[arg(
        long,
        value_name = "P,P,...",
        default_value = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0",
        value_parser = parse_keep_probs,
        allow_hyphen_values = true
    )]
    pub keep_probs: KeepProbs,
    /// Trials per keep probability, at least 1.
    #[arg(long, value_name = "N", default_value = "100000", value_parser = parse_trials, allow_hyphen_values = true)]
    pub trials: u64,
    /// What is run, and how.
    #[command(flatten)]
    pub run: RunArgs,
}

/// A list of distinct keep probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct KeepProbs(pub Vec<KeepProb>);

/// Flags of the study (the command with no name).
#[derive(Debug, Args)]
pub struct StudyArgs {
    /// Number of trials (dropout masks), at least 1.
    #[arg(long, value_name = "N", default_value = "100000", value_parser = parse_trials, allow_hyphen_values = true)]
    pub trials: u64,
    /// Probability that a hidden unit is kept, in (0, 1].
    #[arg(long, value_name = "P", default_value = "0.5", value_parser = parse_keep_prob, allow_hyphen_values = true)]
    pub keep_prob: KeepProb,
    /// Do not write trials.csv (a stale one from an earlier run is removed).
    #[arg(long)]
    pub no_trials_csv: bool,
    /// Write the results even when some trials produce NaN or infinite values (with a warning;
    /// run.json counts them in nonfinite_trials).
    #[arg(long)]
    pub allow_nonfinite: bool,
    /// Run only shard K (from 0) of N equal slices of the trials, into trials.csv and shard.json;
    /// `dropout-study merge` combines the N shard folders into the results of the whole run.
    #[arg(long, value_name = "K/N", value_parser = parse_shard, allow_hyphen_values = true)]
    pub shard: Option<ShardSpec>,
    /// What is run, and how.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Arguments of `merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shard folders (each a --out of a study run with --shard K/N), in any order.
    #[arg(value_name = "DIR", required = true, num_args = 1..)]
    pub dirs: Vec<PathBuf>,
    /// Folder for the merged results; created if missing.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The network file the shards ran [default: the notebook's network].
    #[arg(long, value_name = "FILE")]
    pub network: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The results folder to check (a study's --out).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Flags of `reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// Keep probability of the run, in (0, 1] [default: 0.5 with --mask; both omitted: the
    /// notebook's two runs].
    #[arg(long, value_name = "P", value_parser = parse_keep_prob, allow_hyphen_values = true)]
    pub keep_prob: Option<KeepProb>,
    /// Dropout mask, one 0/1 character per hidden unit, first unit first (100: keep unit 1 only).
    #[arg(long, value_name = "BITS")]
    pub mask: Option<String>,
    /// Dropout scheme of the run (a mask scheme: tf1, scale or unscaled).
    #[arg(long, value_enum, default_value_t = Scheme::Tf1)]
    pub scheme: Scheme,
    /// A network file [default: the notebook's network].
    #[arg(long, value_name = "FILE")]
    pub network: Option<PathBuf>,
    /// Output form: the notebook's print lines, or one JSON object per run.
    #[arg(long, value_enum, default_value_t = Format::Notebook)]
    pub format: Format,
    /// Arithmetic precision of the run.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
    /// How matrix-product sums round.
    #[arg(long, value_enum, default_value_t = Arithmetic::Plain)]
    pub arithmetic: Arithmetic,
}

/// How `reproduce` prints a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The notebook's print lines (numpy float32 at precision 2), then the units the gradient
    /// flows through.
    Notebook,
    /// One JSON object per run, every float in its shortest exact text.
    Json,
}

fn parse_trials(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("a study needs at least 1 trial; give a whole number such as 100000".into()),
        Ok(n) => Ok(n),
        Err(_) if text.trim().starts_with('-') => Err(
            "the number of trials cannot be negative; give a whole number such as 100000".into(),
        ),
        Err(_) if !text.trim().is_empty() && text.trim().bytes().all(|b| b.is_ascii_digit()) => {
            Err(format!(
                "at most {} trials fit in a run; give a smaller whole number",
                u64::MAX
            ))
        }
        Err(_) => Err("not a whole number; give the number of trials, such as 100000".into()),
    }
}

fn parse_shard(text: &str) -> Result<ShardSpec, String> {
    text.parse::<ShardSpec>()
}

fn parse_keep_prob(text: &str) -> Result<KeepProb, String> {
    text.parse::<KeepProb>().map_err(|e| e.to_string())
}

fn parse_keep_probs(text: &str) -> Result<KeepProbs, String> {
    if text.trim().is_empty() {
        return Err(
            "the list is empty; give keep probabilities separated by commas, such as 0.1,0.5,0.9"
                .into(),
        );
    }
    let mut list: Vec<KeepProb> = Vec::new();
    for item in text.split(',') {
        let p = item
            .parse::<KeepProb>()
            .map_err(|e| format!("'{}': {e}", item.trim()))?;
        if list.contains(&p) {
            return Err(format!(
                "{} appears twice; give each keep probability once",
                item.trim()
            ));
        }
        list.push(p);
    }
    Ok(KeepProbs(list))
}

fn parse_seed(text: &str) -> Result<u64, String> {
    text.trim().parse::<u64>().map_err(|_| {
        format!(
            "a seed is a whole number from 0 to {}, such as 0 or 42",
            u64::MAX
        )
    })
}

fn parse_threads(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("at least 1 thread is needed; omit --threads to use every core".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("not a whole number; give a thread count such as 2, or omit --threads to use every core".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_name_the_fix() {
        assert_eq!(parse_trials("12"), Ok(12));
        assert!(parse_trials("0").unwrap_err().contains("at least 1 trial"));
        assert!(
            parse_trials("-3")
                .unwrap_err()
                .contains("cannot be negative")
        );
        assert!(
            parse_trials("99999999999999999999")
                .unwrap_err()
                .contains("at most")
        );
        assert!(
            parse_trials("1e5")
                .unwrap_err()
                .contains("not a whole number")
        );
        assert!(parse_seed("-1").unwrap_err().contains("from 0 to"));
        assert!(parse_threads("0").unwrap_err().contains("omit --threads"));
        assert!(parse_keep_prob("0").unwrap_err().contains("(0, 1]"));
        assert_eq!(parse_keep_probs("0.5,1").unwrap().0.len(), 2);
        assert!(parse_keep_probs("").unwrap_err().contains("empty"));
        assert!(
            parse_keep_probs("0.5,0.50")
                .unwrap_err()
                .contains("appears twice")
        );
        assert!(parse_keep_probs("0.5,1.5").unwrap_err().contains("'1.5'"));
        assert!(
            parse_keep_probs("0.5,,0.6")
                .unwrap_err()
                .contains("is not a number")
        );
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
