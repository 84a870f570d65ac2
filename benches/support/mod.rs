//! What the benchmarks share.

use std::time::Duration;

/// The middle one of some timings: a single run swings by a third on a busy 2-core machine.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
