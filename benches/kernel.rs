//! The per-trial work of the engine, piece by piece, on the notebook network (3 hidden units).
//!
//! `kernel/*` times `Workspace::run`, one trial's forward and backward pass, in each arithmetic
//! the study offers: f32 with plain (rounded) products, f32 with fused multiply-adds, and f64.
//! `trial_parts/*` times the two other things the engine does with every trial: the Welford
//! update of the 12 running moments, and the formatting of one `trials.csv` row. Together with
//! the `masks` bench (where the masks come from) these split a trial's cost between kernel,
//! generator, statistics and CSV text, so the `engine` bench's rate can be accounted for.
//!
//! Every benchmark runs one block of 4096 trials per iteration, with masks drawn from the
//! seeding contract beforehand. Time is the process's CPU time (see `support`), so the numbers
//! hold on a machine other work shares; throughput is trials per CPU second, which on an idle
//! core is trials per second.

mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dropout_study::arithmetic::{Arithmetic, Float};
use dropout_study::dropout::{Draw, Dropout, KeepProb, Scheme};
use dropout_study::network::{Network, Workspace};
use dropout_study::seeding::MaskSampler;
use dropout_study::stats::Moments;
use support::CpuTime;

/// Trials per iteration: one engine block.
const BLOCK: usize = 4096;

/// The masks of the first block of seed 0 at keep probability 0.5.
fn block_masks() -> Vec<[bool; 3]> {
    let mut sampler = MaskSampler::new(0, KeepProb::new(0.5).unwrap(), 3, BLOCK as u64).unwrap();
    (0..BLOCK)
        .map(|_| {
            let mut keep = [false; 3];
            sampler.next_mask(&mut keep);
            keep
        })
        .collect()
}

fn bench_run<T: Float>(c: &mut Criterion<CpuTime>, name: &str, arithmetic: Arithmetic) {
    let network = Network::notebook().cast::<T>();
    let dropout = Dropout::new(Scheme::Tf1, KeepProb::new(0.5).unwrap()).in_precision::<T>();
    let masks = block_masks();
    let mut workspace = Workspace::new(&network, arithmetic);
    let mut group = c.benchmark_group("kernel");
    group.throughput(Throughput::Elements(BLOCK as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            for keep in &masks {
                let values = workspace.run(&network, &dropout, Draw::Mask(black_box(keep)));
                black_box(values);
            }
        })
    });
    group.finish();
}

fn kernel(c: &mut Criterion<CpuTime>) {
    bench_run::<f32>(c, "f32_plain", Arithmetic::Plain);
    bench_run::<f32>(c, "f32_fma", Arithmetic::Fma);
    bench_run::<f64>(c, "f64_plain", Arithmetic::Plain);
}

fn trial_parts(c: &mut Criterion<CpuTime>) {
    // The 12 quantities of each trial of the block, as the kernel returns them.
    let network = Network::notebook().cast::<f32>();
    let mut workspace = Workspace::new(&network, Arithmetic::Plain);
    let masks = block_masks();
    let dropout = Dropout::new(Scheme::Tf1, KeepProb::new(0.5).unwrap()).in_precision::<f32>();
    let records: Vec<Vec<f32>> = masks
        .iter()
        .map(|keep| workspace.run(&network, &dropout, Draw::Mask(keep)).to_vec())
        .collect();
    let quantities = records[0].len();

    let mut group = c.benchmark_group("trial_parts");
    group.throughput(Throughput::Elements(BLOCK as u64));

    // What the engine does with each record when aggregating: a finiteness check and a Welford
    // update per quantity.
    group.bench_function("welford_12_quantities", |b| {
        b.iter(|| {
            let mut moments = vec![Moments::default(); quantities];
            let mut nonfinite = 0u64;
            for record in &records {
                let mut finite = true;
                for (m, &v) in moments.iter_mut().zip(black_box(record)) {
                    finite &= v.is_finite();
                    m.push(v.to_f64());
                }
                nonfinite += u64::from(!finite);
            }
            black_box((moments, nonfinite))
        })
    });

    // One trials.csv row per trial, formatted as the engine formats it.
    let mut out = Vec::with_capacity(BLOCK * 128);
    group.bench_function("csv_row_f32", |b| {
        b.iter(|| {
            out.clear();
            let mut itoa = itoa::Buffer::new();
            for (trial, (keep, record)) in masks.iter().zip(&records).enumerate() {
                out.extend_from_slice(itoa.format(trial).as_bytes());
                out.push(b',');
                out.extend(keep.iter().map(|&k| if k { b'1' } else { b'0' }));
                for &v in black_box(record) {
                    out.push(b',');
                    v.write_shortest(&mut out);
                }
                out.push(b'\n');
            }
            black_box(out.len())
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
    targets = kernel, trial_parts
}
criterion_main!(benches);
