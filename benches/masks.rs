//! Where the masks come from, and how fast they can come.
//!
//! `masks/next_mask_n3` times `MaskSampler::next_mask` alone over one block of 4096 trials of 3
//! hidden units (a seek to the block's first word, then 3 ChaCha8 words and 3 threshold
//! comparisons per trial): the rate the engine cannot exceed, since every trial needs its mask.
//! `masks/pattern_count_n3` adds what an aggregate-only run would need if it tallied mask
//! patterns instead of running the network per trial (the pattern index and one counter
//! increment), which bounds that approach. `chacha8/*` is the raw word rate of rand's
//! `ChaCha8Rng`, one word at a time (`next_u32`) and in bulk (`fill_bytes`), for reference.
//!
//! Mask benchmarks report trials per CPU second, ChaCha8 benchmarks 32-bit words per CPU second:
//! time is the process's CPU time (see `support`), so the numbers hold on a machine other work
//! shares, and on an idle core they are per second.

mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dropout_study::dropout::KeepProb;
use dropout_study::seeding::MaskSampler;
use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use support::CpuTime;

/// Trials per iteration: one engine block.
const BLOCK: u64 = 4096;
/// Hidden units of the notebook network.
const UNITS: usize = 3;

fn masks(c: &mut Criterion<CpuTime>) {
    let keep_prob = KeepProb::new(0.5).unwrap();
    let mut sampler = MaskSampler::new(0, keep_prob, UNITS, u64::MAX / 4).unwrap();
    let mut group = c.benchmark_group("masks");
    group.throughput(Throughput::Elements(BLOCK));

    let mut block = 0u64;
    group.bench_function("next_mask_n3", |b| {
        b.iter(|| {
            sampler.seek(block * BLOCK);
            block += 1;
            let mut keep = [false; UNITS];
            let mut kept = 0u32;
            for _ in 0..BLOCK {
                sampler.next_mask(&mut keep);
                kept += u32::from(keep[0]);
            }
            black_box((keep, kept))
        })
    });

    let mut block = 0u64;
    group.bench_function("pattern_count_n3", |b| {
        b.iter(|| {
            sampler.seek(block * BLOCK);
            block += 1;
            let mut keep = [false; UNITS];
            let mut counts = [0u64; 1 << UNITS];
            for _ in 0..BLOCK {
                sampler.next_mask(&mut keep);
                let index = keep
                    .iter()
                    .fold(0usize, |acc, &k| (acc << 1) | usize::from(k));
                counts[index] += 1;
            }
            black_box(counts)
        })
    });

    // The engine's pattern path: a block's masks drawn in bulk as pattern indices, then counted.
    let mut block = 0u64;
    let mut patterns = vec![0u32; BLOCK as usize];
    group.bench_function("next_patterns_count_n3", |b| {
        b.iter(|| {
            sampler.seek(block * BLOCK);
            block += 1;
            sampler.next_patterns(&mut patterns);
            let mut counts = [0u64; 1 << UNITS];
            for &pattern in &patterns {
                counts[pattern as usize] += 1;
            }
            black_box(counts)
        })
    });
    group.finish();
}

fn chacha8(c: &mut Criterion<CpuTime>) {
    let words = BLOCK as usize * UNITS;
    let mut rng = ChaCha8Rng::from_seed([0; 32]);
    let mut group = c.benchmark_group("chacha8");
    group.throughput(Throughput::Elements(words as u64));

    group.bench_function("next_u32", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for _ in 0..words {
                acc ^= rng.next_u32();
            }
            black_box(acc)
        })
    });

    let mut buffer = vec![0u8; words * 4];
    group.bench_function("fill_bytes", |b| {
        b.iter(|| {
            rng.fill_bytes(&mut buffer);
            black_box(buffer[0])
        })
    });
    group.finish();
}

fn config() -> Criterion<CpuTime> {
    Criterion::default()
        .with_measurement(CpuTime)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = masks, chacha8
}
criterion_main!(benches);
