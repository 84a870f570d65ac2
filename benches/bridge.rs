//! A Linux bridge with DHCP and NAT, in a network namespace of its own: time of `hive apply`,
//! a no-op `hive plan` (refresh: `ip -j`, `nft -j`, dnsmasq's pid) and `hive destroy`, as
//! medians of five rounds.
//!
//! Run with `cargo bench --bench bridge` (as root: it makes and removes the namespace).

#[path = "support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::median;

const CONFIG: &str = r#"
host "local" {}
bridge "lan" {
  host = host.local
  name = "hvbench0"
  cidr = "10.246.0.1/24"
  dhcp {
    range = ["10.246.0.100", "10.246.0.200"]
  }
  nat = true
}
"#;

fn timed(ns: &str, hive: &str, dir: &std::path::Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let status = Command::new("ip")
        .args(["netns", "exec", ns, hive, "-C"])
        .arg(dir)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("ip netns exec: {e}"));
    let took = start.elapsed();
    assert!(status.success(), "hive {args:?} failed");
    took
}

fn main() {
    let hive = env!("CARGO_BIN_EXE_hive");
    let ns = format!("hvbench-{}", std::process::id());
    let made = Command::new("ip").args(["netns", "add", &ns]).status();
    assert!(made.is_ok_and(|s| s.success()), "ip netns add (needs root)");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("main.hive.hcl"), CONFIG).expect("write");
    let (mut apply, mut plan, mut destroy) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        apply.push(timed(&ns, hive, dir.path(), &["apply", "-auto-approve"]));
        plan.push(timed(
            &ns,
            hive,
            dir.path(),
            &["plan", "-detailed-exitcode"],
        ));
        destroy.push(timed(&ns, hive, dir.path(), &["destroy", "-auto-approve"]));
    }
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    println!("step | median of 5");
    println!("---|---");
    for (name, v) in [
        ("apply (bridge, dnsmasq, nft table)", apply),
        ("no-op plan", plan),
        ("destroy", destroy),
    ] {
        println!("{name} | {:.0} ms", median(v).as_secs_f64() * 1000.0);
    }
}
