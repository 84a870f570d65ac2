//! `hive scan` over 200 hive-made objects (100 libvirt volumes, 100 LXD custom volumes),
//! against listing the same backends with their own tools (which says nothing of whose an
//! object is); and reaping them once their state is gone, against a shell loop of `virsh
//! vol-delete` and `lxc storage volume delete` over names the script already knows.
//!
//! Needs the lab (`bash lab/setup.sh`). Run with `cargo bench --bench scan`.

#[path = "support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::{hive, median};

const EACH: usize = 100;

fn config() -> String {
    format!(
        r#"
volume "hvscan_v" {{
  count = {EACH}
  size  = "1MiB"
}}

volume "hvscan_l" {{
  count  = {EACH}
  driver = "lxd"
  size   = "8MiB"
}}
"#
    )
}

fn sh(script: &str) -> Duration {
    let started = Instant::now();
    let ok = Command::new("sh")
        .args(["-c", script])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{script}");
    started.elapsed()
}

fn count_in(scan_json: &str, status: &str) -> usize {
    let doc: serde_json::Value = serde_json::from_str(scan_json).expect("scan -json");
    doc["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| {
            o["status"] == status
                && o["address"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("volume.hvscan_"))
        })
        .count()
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("main.hive.hcl"), config()).expect("write");
    let (apply, _) = hive(
        dir.path(),
        &["apply", "-auto-approve", "-parallelism", "20"],
    );
    let scans: Vec<Duration> = (0..3)
        .map(|_| {
            let (took, out) = hive(dir.path(), &["scan", "-json"]);
            assert_eq!(count_in(&out, "live"), 2 * EACH, "every volume found, live");
            took
        })
        .collect();
    let scan = median(scans);
    let listing = median(
        (0..3)
            .map(|_| {
                sh(
                    "virsh -q -c qemu:///system vol-list hive --details >/dev/null && \
                    lxc storage volume list default --format json >/dev/null",
                )
            })
            .collect(),
    );

    // The job dies: its state goes; hive reaps what it left.
    std::fs::remove_dir_all(dir.path().join(".hive")).expect("remove the state");
    let (_, out) = hive(dir.path(), &["scan", "-json"]);
    assert_eq!(count_in(&out, "orphaned"), 2 * EACH);
    let (reap, _) = hive(dir.path(), &["scan", "-reap", "-auto-approve"]);
    let (_, out) = hive(dir.path(), &["scan", "-json"]);
    assert_eq!(count_in(&out, "orphaned"), 0, "all reaped");

    // The same objects again, removed by a script that knows their names.
    hive(
        dir.path(),
        &["apply", "-auto-approve", "-parallelism", "20"],
    );
    let script = sh(
        "virsh -q -c qemu:///system vol-list hive | awk '$1 ~ /^hvscan_v/ {print $1}' | \
           while read -r v; do virsh -q -c qemu:///system vol-delete --pool hive \"$v\" >/dev/null; done && \
         lxc storage volume list default --format csv -c n | grep '^hvscan-l' | \
           while read -r v; do lxc storage volume delete default \"$v\" >/dev/null; done",
    );
    std::fs::remove_dir_all(dir.path().join(".hive")).expect("remove the state");
    let (_, out) = hive(dir.path(), &["scan", "-json"]);
    assert_eq!(count_in(&out, "orphaned"), 0, "the script removed them all");

    let objects = 2 * EACH;
    println!(
        "{objects} hive-made objects ({EACH} libvirt volumes, {EACH} LXD volumes), made in {:.1}s",
        apply.as_secs_f64()
    );
    println!(
        "hive scan (each object with its state, judged):  {:.2}s, {:.1} ms per object",
        scan.as_secs_f64(),
        scan.as_secs_f64() * 1000.0 / objects as f64
    );
    println!(
        "virsh vol-list + lxc storage volume list (names only): {:.2}s",
        listing.as_secs_f64()
    );
    println!(
        "scan / listing: {:.2}x",
        scan.as_secs_f64() / listing.as_secs_f64()
    );
    println!(
        "hive scan -reap of the {objects} orphans: {:.1}s; a virsh/lxc delete loop: {:.1}s ({:.2}x)",
        reap.as_secs_f64(),
        script.as_secs_f64(),
        reap.as_secs_f64() / script.as_secs_f64()
    );
}
