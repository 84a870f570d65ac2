//! Real guests on real libvirt (QEMU TCG): time from `hive apply` to every guest answering
//! SSH, for 1, 3 and 5 tiny guests, against one guest alone; hive's own overhead (the
//! apply's wall time minus the longest wait on a guest, which the provider reports); and the
//! cost of creating a volume on a 100 MB and a 2 GB image.
//!
//! Needs the lab (`bash lab/setup.sh`). Run with `cargo bench --bench libvirt`;
//! `HIVE_BENCH_GUESTS=1,3` picks the sizes.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use support::hive;

const TINY: &str = "/var/cache/hive-test/tiny/current";

/// From `-json` events: the longest "after waiting N s for the guest", and each step's time.
fn waits_and_steps(json_lines: &str) -> (f64, Vec<(String, f64)>) {
    let mut longest_wait: f64 = 0.0;
    let mut steps = Vec::new();
    for line in json_lines.lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let message = event["@message"].as_str().unwrap_or_default();
        if let Some(rest) = message.split("after waiting ").nth(1) {
            if let Some(seconds) = rest.split(' ').next().and_then(|s| s.parse::<f64>().ok()) {
                longest_wait = longest_wait.max(seconds);
            }
        }
        if event["type"] == "apply_complete" {
            let hook = &event["hook"];
            steps.push((
                hook["address"].as_str().unwrap_or_default().to_string(),
                hook["elapsed_seconds"].as_f64().unwrap_or(0.0),
            ));
        }
    }
    (longest_wait, steps)
}

fn guests_config(n: usize) -> String {
    format!(
        r#"
host "local" {{}}
bridge "net" {{
  driver = "libvirt"
  host   = host.local
  name   = "hive-bench"
  cidr   = "10.232.0.1/24"
  dhcp {{
    range = ["10.232.0.100", "10.232.0.200"]
  }}
  nat = false
}}
image "tiny" {{
  host    = host.local
  format  = "kernel"
  kernel  = "{TINY}/vmlinuz"
  initrd  = "{TINY}/initrd.img"
  cmdline = "console=ttyS0 quiet"
}}
instance "g" {{
  count    = {n}
  driver   = "libvirt"
  host     = host.local
  image    = image.tiny
  name     = "hive-bench-${{count.index}}"
  type     = "t3.nano"
  network {{
    bridge = bridge.net
  }}
  wait_for = "ssh"
}}
"#
    )
}

fn bench_guests() {
    let sizes: Vec<usize> = std::env::var("HIVE_BENCH_GUESTS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 3, 5]);
    println!("guests | apply to all SSH-ready | longest guest wait | hive's overhead | vs 1 guest | destroy");
    println!("---|---|---|---|---|---");
    let mut one = None;
    for n in sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("main.hive.hcl"), guests_config(n)).expect("write");
        let (took, events) = hive(dir.path(), &["apply", "-auto-approve", "-json"]);
        let (wait, _) = waits_and_steps(&events);
        let (destroy, _) = hive(dir.path(), &["destroy", "-auto-approve"]);
        let total = took.as_secs_f64();
        let base = *one.get_or_insert(total);
        println!(
            "{n} | {total:.1} s | {wait:.1} s | {:.2} s | {:.2}x | {:.1} s",
            total - wait,
            total / base,
            destroy.as_secs_f64()
        );
    }
}

/// A qcow2 image holding `mib` MiB of data (not sparse: the data is really there).
fn image_with_data(dir: &Path, mib: usize) -> std::path::PathBuf {
    let raw = dir.join(format!("{mib}.raw"));
    let qcow = dir.join(format!("{mib}.qcow2"));
    let status = Command::new("dd")
        .args(["if=/dev/urandom", "bs=1M", "status=none"])
        .arg(format!("of={}", raw.display()))
        .arg(format!("count={mib}"))
        .status()
        .expect("dd");
    assert!(status.success());
    let status = Command::new("qemu-img")
        .args(["convert", "-q", "-f", "raw", "-O", "qcow2"])
        .arg(&raw)
        .arg(&qcow)
        .status()
        .expect("qemu-img");
    assert!(status.success());
    let _ = std::fs::remove_file(&raw);
    qcow
}

fn bench_volumes() {
    println!();
    println!("image | image cached (first apply) | volume on it (overlay) | volume step");
    println!("---|---|---|---");
    for mib in [100, 2048] {
        let dir = tempfile::tempdir().expect("temp dir");
        let image = image_with_data(dir.path(), mib);
        let base = format!(
            "host \"local\" {{}}\nimage \"big\" {{\n  host = host.local\n  source = \"{}\"\n}}\n",
            image.display()
        );
        std::fs::write(dir.path().join("main.hive.hcl"), &base).expect("write");
        let (cached, _) = hive(dir.path(), &["apply", "-auto-approve"]);
        let with_volume = format!(
            "{base}volume \"v\" {{\n  host = host.local\n  image = image.big\n  size = \"4GiB\"\n}}\n"
        );
        std::fs::write(dir.path().join("main.hive.hcl"), with_volume).expect("write");
        let (took, events) = hive(dir.path(), &["apply", "-auto-approve", "-json"]);
        let (_, steps) = waits_and_steps(&events);
        let step = steps
            .iter()
            .find(|(a, _)| a == "volume.v")
            .map_or(0.0, |s| s.1);
        println!(
            "{} | {:.2} s | {:.3} s | {:.1} ms",
            if mib >= 1024 {
                format!("{} GB", mib / 1024)
            } else {
                format!("{mib} MB")
            },
            cached.as_secs_f64(),
            took.as_secs_f64(),
            step * 1000.0
        );
        hive(dir.path(), &["destroy", "-auto-approve"]);
    }
}

fn main() {
    if !Path::new(TINY).join("vmlinuz").exists() {
        eprintln!("no tiny test guest at {TINY}: run `bash lab/setup.sh` first");
        std::process::exit(1);
    }
    bench_guests();
    bench_volumes();
}
