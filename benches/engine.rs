//! `hive plan`, `hive apply` and a no-op re-plan on N `command` resources without `run`, in a
//! chain-and-fan-out shape (resource i refers to resource (i-1)/10), against the same shape in
//! Terraform with `terraform_data` resources. Also N = 1,000 with `run = "true"`.
//!
//! Run with `cargo bench --bench engine`; `HIVE_BENCH_SIZES=100,1000` picks the sizes, and
//! `HIVE_BENCH_TERRAFORM_MAX=N` skips Terraform above N resources (it is slow).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Measure {
    wall: Duration,
    max_rss_kib: i64,
}

fn measure(program: &str, args: &[&str], dir: &Path) -> Measure {
    let start = Instant::now();
    // Reaped below with wait4, which also reports the child's peak memory.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} starts: {e}"));
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child with valid pointers.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    let exit = libc::WEXITSTATUS(status);
    // plan -detailed-exitcode exits 2 when there are changes.
    assert!(
        libc::WIFEXITED(status) && (exit == 0 || exit == 2),
        "{program} {args:?} failed with {exit}"
    );
    Measure {
        wall,
        max_rss_kib: usage.ru_maxrss,
    }
}

fn parent(i: usize) -> Option<usize> {
    (i > 0).then(|| (i - 1) / 10)
}

fn hive_config(n: usize, run: bool) -> String {
    let mut out = String::with_capacity(n * 80);
    for i in 0..n {
        out.push_str(&format!("command \"c{i}\" {{\n"));
        if run {
            out.push_str("  run = \"true\"\n");
        }
        match parent(i) {
            Some(p) => out.push_str(&format!("  input = command.c{p}.id\n")),
            None => out.push_str("  input = \"root\"\n"),
        }
        out.push_str("}\n\n");
    }
    out
}

fn terraform_config(n: usize) -> String {
    let mut out = String::with_capacity(n * 80);
    for i in 0..n {
        out.push_str(&format!("resource \"terraform_data\" \"c{i}\" {{\n"));
        match parent(i) {
            Some(p) => out.push_str(&format!("  input = terraform_data.c{p}.id\n")),
            None => out.push_str("  input = \"root\"\n"),
        }
        out.push_str("}\n\n");
    }
    out
}

fn row(tool: &str, n: usize, what: &str, m: &Measure) {
    println!(
        "{tool:<10} {n:>7} {what:<12} {:>10.3}s {:>9.1}MiB",
        m.wall.as_secs_f64(),
        m.max_rss_kib as f64 / 1024.0
    );
}

fn main() {
    let hive = env!("CARGO_BIN_EXE_hive");
    let sizes: Vec<usize> = std::env::var("HIVE_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 1_000, 10_000]);
    let terraform_max: usize = std::env::var("HIVE_BENCH_TERRAFORM_MAX")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    let terraform = Command::new("terraform")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    println!(
        "{:<10} {:>7} {:<12} {:>11} {:>12}",
        "tool", "N", "step", "wall", "peak RSS"
    );
    let mut ratios = Vec::new();
    for &n in &sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("main.hive.hcl"), hive_config(n, false)).expect("write");
        let plan = measure(hive, &["plan", "-detailed-exitcode"], dir.path());
        row("hive", n, "plan", &plan);
        let apply = measure(hive, &["apply", "-auto-approve"], dir.path());
        row("hive", n, "apply", &apply);
        let noop = measure(hive, &["plan", "-detailed-exitcode"], dir.path());
        row("hive", n, "no-op plan", &noop);
        if terraform && n <= terraform_max {
            let tf = tempfile::tempdir().expect("temp dir");
            std::fs::write(tf.path().join("main.tf"), terraform_config(n)).expect("write");
            measure("terraform", &["init", "-input=false"], tf.path());
            let tplan = measure(
                "terraform",
                &["plan", "-input=false", "-detailed-exitcode"],
                tf.path(),
            );
            row("terraform", n, "plan", &tplan);
            let tapply = measure(
                "terraform",
                &["apply", "-input=false", "-auto-approve"],
                tf.path(),
            );
            row("terraform", n, "apply", &tapply);
            let tnoop = measure(
                "terraform",
                &["plan", "-input=false", "-detailed-exitcode"],
                tf.path(),
            );
            row("terraform", n, "no-op plan", &tnoop);
            for (what, h, t) in [
                ("plan", &plan, &tplan),
                ("apply", &apply, &tapply),
                ("no-op plan", &noop, &tnoop),
            ] {
                ratios.push((
                    n,
                    what,
                    t.wall.as_secs_f64() / h.wall.as_secs_f64().max(1e-6),
                ));
            }
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("main.hive.hcl"), hive_config(1_000, true)).expect("write");
    let apply = measure(hive, &["apply", "-auto-approve"], dir.path());
    row("hive", 1_000, "apply run=true", &apply);
    if !ratios.is_empty() {
        println!("\nTerraform time / hive time (target: at least 20x):");
        for (n, what, ratio) in ratios {
            println!("  N={n:<7} {what:<12} {ratio:>8.1}x");
        }
    }
}
