//! What the benchmarks share (each uses a part of it).
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The middle one of some timings: a single run swings by a third on a busy 2-core machine.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Runs this build's hive in `dir`: how long it took, and what it printed. A failure ends
/// the benchmark with hive's output.
pub fn hive(dir: &Path, args: &[&str]) -> (Duration, String) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_hive"))
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("hive starts: {e}"));
    let took = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "hive {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (took, stdout)
}

/// The lab's S3 test credentials (`lab/s3.sh`).
pub const S3_KEY: &str = "hivetest";
pub const S3_SECRET: &str = "hivetestsecret";

/// Runs `lab/s3.sh` with `args`; a failure ends the benchmark with its output.
pub fn s3_lab(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/s3.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("bash starts: {e}"));
    assert!(
        out.status.success(),
        "lab/s3.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
