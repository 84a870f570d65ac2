//! `hive validate` on generated configurations of 1,000 and 10,000 resources, written out as
//! explicit blocks and as `count`-expanded ones. Reports wall time (best of 5) and peak
//! memory of the real binary. Run with `cargo bench --bench validate`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Target from the foundation issue: 10,000 resources validate in under this.
const TARGET: Duration = Duration::from_millis(300);

/// Explicit blocks: a chain with fan-out. Each command refers to the one at half its index,
/// so the graph is a binary tree of references with interpolated strings.
fn explicit(n: usize) -> String {
    let mut out = String::from("variable \"prefix\" {\n  default = \"bench\"\n}\n\n");
    for i in 0..n {
        out.push_str(&format!(
            "command \"c{i}\" {{\n  input = {{\n    name = \"${{var.prefix}}-{i}\"\n"
        ));
        if i > 0 {
            out.push_str(&format!("    parent = command.c{}.input.name\n", i / 2));
        }
        out.push_str("  }\n}\n\n");
    }
    out
}

/// The same count of resources from two `count` blocks, the second referring to the first.
fn counted(n: usize) -> String {
    format!(
        "variable \"prefix\" {{\n  default = \"bench\"\n}}\n\n\
         command \"a\" {{\n  count = {half}\n  input = {{\n    name = \"${{var.prefix}}-${{count.index}}\"\n  }}\n}}\n\n\
         command \"b\" {{\n  count = {half}\n  input = {{\n    parent = command.a[count.index].input.name\n    all = length(command.a)\n  }}\n}}\n",
        half = n / 2
    )
}

struct Measure {
    wall: Duration,
    max_rss_kib: i64,
}

fn run_validate(dir: &Path) -> Measure {
    let start = Instant::now();
    // Reaped below with wait4, which also reports the child's peak memory.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_hive"))
        .args(["validate"])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("hive starts");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child with valid pointers.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "validate failed"
    );
    Measure {
        wall,
        max_rss_kib: usage.ru_maxrss,
    }
}

fn main() {
    println!("hive validate: wall time (best of 5) and peak memory");
    println!(
        "{:<10} {:>9} {:>10} {:>10} {:>10}",
        "shape", "resources", "file", "wall", "peak RSS"
    );
    let mut worst_10k = Duration::ZERO;
    for n in [1_000, 10_000] {
        for (shape, text) in [("explicit", explicit(n)), ("count", counted(n))] {
            let dir = tempfile::tempdir().expect("temp dir");
            std::fs::write(dir.path().join("main.hive.hcl"), &text).expect("write config");
            let runs: Vec<Measure> = (0..5).map(|_| run_validate(dir.path())).collect();
            let best = runs.iter().map(|m| m.wall).min().unwrap_or_default();
            let rss = runs.iter().map(|m| m.max_rss_kib).max().unwrap_or_default();
            if n == 10_000 {
                worst_10k = worst_10k.max(best);
            }
            println!(
                "{shape:<10} {n:>9} {:>8}KB {:>8.1}ms {:>7.1}MiB",
                text.len() / 1024,
                best.as_secs_f64() * 1000.0,
                rss as f64 / 1024.0
            );
        }
    }
    let ratio = worst_10k.as_secs_f64() / TARGET.as_secs_f64();
    println!(
        "10,000 resources: {:.1}ms, {:.2}x the {}ms target ({})",
        worst_10k.as_secs_f64() * 1000.0,
        ratio,
        TARGET.as_millis(),
        if ratio <= 1.0 { "met" } else { "MISSED" }
    );
}
