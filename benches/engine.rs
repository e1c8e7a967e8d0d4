//! The whole trials engine, `dropout_study::engine::run`, on the notebook network in f32 with
//! plain arithmetic, one million trials per iteration.
//!
//! It runs with the trial rows written to `std::io::sink()` (everything `trials.csv` costs but
//! the disk) and without rows (aggregate-only, as `--no-trials-csv`), each on a local rayon pool
//! of 1 thread and of 2 threads, so the rate of each mode and the scaling from 1 to 2 threads
//! can be read directly. Set against the `kernel` and `masks` benches it shows what the engine
//! adds to the per-trial work.
//!
//! Each case is measured twice: `engine/*` in wall time (trials per second, what a user waits
//! for) and `engine_cpu/*` in the process's CPU time over all threads (trials per CPU second; see
//! `support`). On an idle machine a 2-thread run that scales perfectly shows twice the wall rate
//! and the same CPU rate as 1 thread; on a shared machine the wall rate drops with the time the
//! threads wait for a core, while the CPU rate does not.

mod support;

use std::io::Write;
use std::time::Duration;

use criterion::measurement::{Measurement, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dropout_study::arithmetic::Arithmetic;
use dropout_study::dropout::{Dropout, KeepProb, Scheme};
use dropout_study::engine::{self, EngineConfig};
use dropout_study::network::Network;
use support::CpuTime;

/// Trials per iteration.
const TRIALS: u64 = 1_000_000;

fn engine_runs<M: Measurement>(c: &mut Criterion<M>, group_name: &str) {
    let network = Network::notebook().cast::<f32>();
    let config = EngineConfig {
        trials: TRIALS,
        first_trial: 0,
        dropout: Dropout::new(Scheme::Tf1, KeepProb::new(0.5).unwrap()).in_precision::<f32>(),
        seed: 0,
        run_stream: 0,
        arithmetic: Arithmetic::Plain,
        checkpoints: dropout_study::study::checkpoints(TRIALS),
    };
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(TRIALS));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(7));

    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool");
        group.bench_function(format!("no_rows_{threads}_threads"), |b| {
            b.iter(|| {
                pool.install(|| engine::run(&network, &config, None, &|_| {}))
                    .expect("the run succeeds")
            })
        });
        group.bench_function(format!("rows_to_sink_{threads}_threads"), |b| {
            b.iter(|| {
                let mut sink = std::io::sink();
                let rows: &mut (dyn Write + Send) = &mut sink;
                pool.install(|| engine::run(&network, &config, Some(rows), &|_| {}))
                    .expect("the run succeeds")
            })
        });
    }
    group.finish();
}

fn engine_wall(c: &mut Criterion<WallTime>) {
    engine_runs(c, "engine");
}

fn engine_cpu(c: &mut Criterion<CpuTime>) {
    engine_runs(c, "engine_cpu");
}

criterion_group!(wall, engine_wall);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(CpuTime);
    targets = engine_cpu
}
criterion_main!(wall, cpu);
