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

/// Runs the AWS CLI (installed by `lab/s3.sh awscli`) against the lab's server on `port`
/// with the lab's credentials: how long it took.
pub fn aws(port: u16, args: &[&str]) -> Duration {
    let start = std::time::Instant::now();
    let out = Command::new("/opt/hive-test/awscli/bin/aws")
        .arg("--endpoint-url")
        .arg(format!("http://127.0.0.1:{port}"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", S3_KEY)
        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap_or_else(|e| panic!("aws starts: {e}"));
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

/// The image size a benchmark uses: `HIVE_BENCH_MIB`, else 1 GiB.
pub fn bench_mib() -> u64 {
    std::env::var("HIVE_BENCH_MIB")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(1024)
}

/// The AWS CLI installed, and a lab S3 server on `port` with `bucket`; the server's data
/// directory (stop it with `s3_lab(&["stop", dir])`).
pub fn s3_server(port: u16, bucket: &str) -> tempfile::TempDir {
    s3_lab(&["awscli"]);
    let server = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    s3_lab(&[
        "start",
        &server.path().display().to_string(),
        &port.to_string(),
    ]);
    s3_lab(&["bucket", &port.to_string(), bucket]);
    server
}
