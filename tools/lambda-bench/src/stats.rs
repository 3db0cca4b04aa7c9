//! Figures from samples: milliseconds, percentiles, medians, MiB.

use std::time::Duration;

/// One warm invocation: (total, time waiting downstream).
pub type Sample = (Duration, Duration);

pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    percentile(v, 0.5)
}

pub fn mib(bytes: u64) -> f64 {
    (bytes as f64 / 1_048_576.0 * 100.0).round() / 100.0
}
