//! A stable-Rust driver for the fuzz targets' checks, where `cargo fuzz` (nightly) is not at hand.
//!
//! For each target it runs every file of `fuzz/corpus/<target>/`, then a number of inputs made by
//! mutating them (flipping, inserting, deleting and duplicating bytes, splicing two inputs, and
//! inserting JSON tokens such as `[`, `1e309` or `"w1":`), from a fixed seed so that a run is
//! repeatable. It has no coverage feedback, so it explores far less than libFuzzer does; it checks
//! that the targets build, that the seed corpus passes, and that near misses of it do not panic.
//! An input that panics is written to `fuzz/artifacts/<target>/replay-<n>` and the driver exits 1.
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example replay -- 5000   # iterations per target
//! ```

use std::panic;
use std::path::{Path, PathBuf};

/// A target's check: one input, a panic if the parser breaks its promises.
type Check = fn(&[u8]);

/// Byte strings a mutation may insert: the tokens that move a near-miss JSON input around.
const TOKENS: &[&[u8]] = &[
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b":",
    b"\"",
    b"-",
    b"0",
    b"1",
    b".",
    b"e",
    b"1e309",
    b"-1e309",
    b"1e308",
    b"1e-400",
    b"[]",
    b"[[]]",
    b"null",
    b"true",
    b"\"x\":",
    b"\"y\":",
    b"\"w1\":",
    b"\"w2\":",
    b"\"b\":",
    b"NaN",
    b"\xff",
    b"\xe2\x82\xac",
];

/// SplitMix64: a small, fixed, dependency-free generator; the mutations need no better.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (`bound > 0`).
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

fn mutate(rng: &mut SplitMix, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => out.insert(at, rng.next() as u8),
            2 if at < out.len() => {
                let end = (at + 1 + rng.below(8)).min(out.len());
                out.drain(at..end);
            }
            3 if at < out.len() => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                let piece = out[at..end].to_vec();
                out.splice(at..at, piece);
            }
            4 => {
                let from = rng.below(other.len() + 1);
                out.truncate(at);
                out.extend_from_slice(&other[from..]);
            }
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.iter().copied());
            }
        }
    }
    out
}

fn read_corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).expect("a corpus file"))
        .collect()
}

/// Runs `check` on `input`; on a panic, saves the input and returns false.
fn survives(check: Check, input: &[u8], target: &str, n: usize) -> bool {
    if panic::catch_unwind(|| check(input)).is_ok() {
        return true;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("artifacts")
        .join(target);
    std::fs::create_dir_all(&dir).expect("the artifacts folder");
    let file = dir.join(format!("replay-{n}"));
    std::fs::write(&file, input).expect("the artifact");
    eprintln!("{target}: input {n} panicked; saved as {}", file.display());
    false
}

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .map_or(5000, |a| a.parse().expect("iterations: a whole number"));
    let targets: [(&str, Check); 2] = [
        ("network_file", dropout_study_fuzz::network_file),
        ("mask", dropout_study_fuzz::mask),
    ];
    let mut failed = false;
    for (target, check) in targets {
        let corpus = read_corpus(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("corpus")
                .join(target),
        );
        assert!(!corpus.is_empty(), "the {target} corpus is empty");
        let mut ok = corpus
            .iter()
            .enumerate()
            .all(|(n, input)| survives(check, input, target, n));
        let mut rng = SplitMix(0x5eed);
        for n in 0..iterations {
            let input = &corpus[rng.below(corpus.len())];
            let other = &corpus[rng.below(corpus.len())];
            let mutated = mutate(&mut rng, input, other);
            ok &= survives(check, &mutated, target, corpus.len() + n);
        }
        println!(
            "{target}: {} corpus inputs and {iterations} mutations, {}",
            corpus.len(),
            if ok { "no panic" } else { "PANICKED" }
        );
        failed |= !ok;
    }
    if failed {
        std::process::exit(1);
    }
}
