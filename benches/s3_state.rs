//! `hive apply`, a no-op `hive plan` and `hive destroy` on N `command` resources (the engine
//! bench's chain-and-fan-out shape) with the state in S3 against the same with the state in a
//! local file, and against Terraform's S3 backend (with its S3 lock file) on the same server
//! where Terraform is installed. The server is the lab's SeaweedFS on loopback.
//!
//! Run with `cargo bench --bench s3_state`; `HIVE_BENCH_SIZES=100,1000` picks the sizes.

#[path = "support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{hive, median, s3_lab, S3_KEY, S3_SECRET};

const ROUNDS: usize = 3;

fn hive_resources(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let input = match i {
            0 => "\"root\"".to_string(),
            _ => format!("command.c{}.id", (i - 1) / 10),
        };
        out.push_str(&format!("command \"c{i}\" {{\n  input = {input}\n}}\n"));
    }
    out
}

fn terraform_resources(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let input = match i {
            0 => "\"root\"".to_string(),
            _ => format!("terraform_data.c{}.id", (i - 1) / 10),
        };
        out.push_str(&format!(
            "resource \"terraform_data\" \"c{i}\" {{\n  input = {input}\n}}\n"
        ));
    }
    out
}

fn hive_s3_block(port: u16, bucket: &str, key: &str) -> String {
    format!(
        "hive {{\n  state {{\n    backend = \"s3\"\n    endpoint = \"http://127.0.0.1:{port}\"\n    bucket = \"{bucket}\"\n    key = \"{key}\"\n    access_key = \"{S3_KEY}\"\n    secret_key = \"{S3_SECRET}\"\n  }}\n}}\n"
    )
}

fn terraform_s3_block(port: u16, bucket: &str, key: &str) -> String {
    format!(
        "terraform {{\n  backend \"s3\" {{\n    bucket = \"{bucket}\"\n    key = \"{key}\"\n    region = \"us-east-1\"\n    endpoints = {{ s3 = \"http://127.0.0.1:{port}\" }}\n    access_key = \"{S3_KEY}\"\n    secret_key = \"{S3_SECRET}\"\n    use_path_style = true\n    use_lockfile = true\n    skip_credentials_validation = true\n    skip_region_validation = true\n    skip_requesting_account_id = true\n    skip_metadata_api_check = true\n    skip_s3_checksum = true\n  }}\n}}\n"
    )
}

fn terraform(dir: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let out = Command::new("terraform")
        .args(args)
        .current_dir(dir)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .expect("terraform starts");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "terraform {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// Apply, no-op plan and destroy, each the median of the rounds.
struct Times {
    apply: Duration,
    plan: Duration,
    destroy: Duration,
}

fn rounds(mut one: impl FnMut() -> (Duration, Duration, Duration)) -> Times {
    let (mut a, mut p, mut d) = (vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        let (apply, plan, destroy) = one();
        a.push(apply);
        p.push(plan);
        d.push(destroy);
    }
    Times {
        apply: median(a),
        plan: median(p),
        destroy: median(d),
    }
}

fn row(what: &str, n: usize, t: &Times, base: Option<&Times>) {
    let ratio = |x: Duration, b: Option<Duration>| {
        b.map_or(String::new(), |b| {
            format!(" ({:.2}x)", x.as_secs_f64() / b.as_secs_f64())
        })
    };
    println!(
        "{what:<26} {n:>6} {:>8.3}s{:<9} {:>8.3}s{:<9} {:>8.3}s{}",
        t.apply.as_secs_f64(),
        ratio(t.apply, base.map(|b| b.apply)),
        t.plan.as_secs_f64(),
        ratio(t.plan, base.map(|b| b.plan)),
        t.destroy.as_secs_f64(),
        ratio(t.destroy, base.map(|b| b.destroy)),
    );
}

fn main() {
    let sizes: Vec<usize> = std::env::var("HIVE_BENCH_SIZES")
        .unwrap_or_else(|_| "100,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let server = tempfile::tempdir().expect("temp dir");
    let port = 23400u16;
    s3_lab(&[
        "start",
        &server.path().display().to_string(),
        &port.to_string(),
    ]);
    let bucket = "bench";
    s3_lab(&["bucket", &port.to_string(), bucket]);
    let has_terraform = Command::new("terraform")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    println!("state backends, medians of {ROUNDS} rounds (ratio: against hive with local state)");
    println!(
        "{:<26} {:>6} {:>19} {:>19} {:>9}",
        "", "N", "apply", "no-op plan", "destroy"
    );
    for &n in &sizes {
        let local = tempfile::tempdir().expect("temp dir");
        std::fs::write(local.path().join("main.hive.hcl"), hive_resources(n)).expect("write");
        let base = rounds(|| hive_cycle(local.path()));
        row("hive, local state", n, &base, None);
        let remote = tempfile::tempdir().expect("temp dir");
        let text = format!(
            "{}{}",
            hive_s3_block(port, bucket, &format!("hive/{n}.json")),
            hive_resources(n)
        );
        std::fs::write(remote.path().join("main.hive.hcl"), text).expect("write");
        let s3 = rounds(|| hive_cycle(remote.path()));
        row("hive, S3 state", n, &s3, Some(&base));
        if has_terraform {
            let tf: PathBuf = tempfile::tempdir().expect("temp dir").keep();
            let text = format!(
                "{}{}",
                terraform_s3_block(port, bucket, &format!("tf/{n}.tfstate")),
                terraform_resources(n)
            );
            std::fs::write(tf.join("main.tf"), text).expect("write");
            terraform(&tf, &["init", "-input=false"]);
            let t = rounds(|| {
                let apply = terraform(
                    &tf,
                    &["apply", "-auto-approve", "-input=false", "-parallelism=10"],
                );
                let plan = terraform(&tf, &["plan", "-input=false", "-detailed-exitcode"]);
                let destroy = terraform(&tf, &["destroy", "-auto-approve", "-input=false"]);
                (apply, plan, destroy)
            });
            row("terraform, S3 state", n, &t, Some(&base));
            let _ = std::fs::remove_dir_all(&tf);
        }
    }
    s3_lab(&["stop", &server.path().display().to_string()]);
}

fn hive_cycle(dir: &Path) -> (Duration, Duration, Duration) {
    let (apply, _) = hive(dir, &["apply", "-auto-approve"]);
    let (plan, out) = hive(dir, &["plan"]);
    assert!(out.contains("No changes"), "{out}");
    let (destroy, _) = hive(dir, &["destroy", "-auto-approve"]);
    (apply, plan, destroy)
}
