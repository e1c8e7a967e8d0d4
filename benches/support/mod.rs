//! A criterion measurement of the process's CPU time (user + system, all threads), read with
//! `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)` in nanoseconds.
//!
//! The machines this study is benchmarked on are shared: other processes take turns on the same
//! cores, which stretches wall time by however long this process waits. CPU time counts only the
//! time this process actually ran, so a single-threaded benchmark reads the same whatever else
//! runs; for a multi-threaded one it is the sum over threads (the work done, not the wall time a
//! user waits). Throughput is then per CPU second.

use std::time::Duration;

use criterion::Throughput;
use criterion::measurement::{Measurement, ValueFormatter};

/// Process CPU time, in nanoseconds.
pub struct CpuTime;

fn process_cpu_nanos() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec and the clock id is a constant Linux defines.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "the process CPU clock is readable");
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        process_cpu_nanos()
    }

    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(process_cpu_nanos() - start)
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuTimeFormatter
    }
}

/// Formats nanoseconds of CPU time, and throughput per CPU second.
struct CpuTimeFormatter;

impl ValueFormatter for CpuTimeFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if typical < 1e3 {
            (1.0, "ns cpu")
        } else if typical < 1e6 {
            (1e-3, "µs cpu")
        } else if typical < 1e9 {
            (1e-6, "ms cpu")
        } else {
            (1e-9, "s cpu")
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }

    fn scale_throughputs(
        &self,
        typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let (count, noun) = match *throughput {
            Throughput::Elements(n) | Throughput::ElementsAndBytes { elements: n, .. } => {
                (n as f64, "elem")
            }
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => (n as f64, "B"),
            Throughput::Bits(n) => (n as f64, "bit"),
        };
        // Per CPU second: count / (nanoseconds / 1e9).
        let per_second = count * 1e9 / typical;
        let (factor, unit) = match (per_second, noun) {
            (r, "elem") if r >= 1e9 => (1e-9, "Gelem/cpu-s"),
            (r, "elem") if r >= 1e6 => (1e-6, "Melem/cpu-s"),
            (_, "elem") => (1e-3, "Kelem/cpu-s"),
            (r, _) if r >= 1e9 => (1e-9, "G/cpu-s"),
            (r, _) if r >= 1e6 => (1e-6, "M/cpu-s"),
            _ => (1e-3, "K/cpu-s"),
        };
        values
            .iter_mut()
            .for_each(|v| *v = count * 1e9 / *v * factor);
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}
