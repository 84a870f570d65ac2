//! Time from `hive apply` to 1, 5 and 20 running busybox containers with addresses, against
//! the same containers launched by a plain shell loop of `lxc launch` (then polled until
//! every one has an address). Both put the containers on the LXD network `hivelxd0`, from
//! the lab's busybox image. Prints each time, the ratio (loop / hive: above 1 means hive's
//! parallel walk is faster), and the image's size. Each time is the median of three rounds.
//!
//! Run with `cargo bench --bench lxd` (as root, with `bash lab/setup.sh` done).

#[path = "support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{hive, median};

const IMAGE: &str = "/var/cache/hive-test/lxd/current/busybox.tar.gz";

fn config(n: usize) -> String {
    format!(
        r#"
host "local" {{}}

image "busybox" {{
  format = "lxd"
  host   = host.local
  source = "{IMAGE}"
}}

instance "c" {{
  count    = {n}
  driver   = "lxd"
  host     = host.local
  image    = image.busybox
  name     = "hvb-hive-${{count.index}}"
  memory   = "64MiB"
  network {{
    bridge = "hivelxd0"
  }}
  wait_for = "ip"
}}
"#
    )
}

fn sh(script: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "failed: {script}");
}

/// How many of the loop's containers have an IPv4 address.
fn addressed(prefix: &str) -> usize {
    let out = Command::new("lxc")
        .args(["list", prefix, "--format", "csv", "-c", "n4"])
        .output()
        .expect("lxc runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split(',').nth(1).is_some_and(|ip| !ip.trim().is_empty()))
        .count()
}

fn shell_loop(n: usize, fingerprint: &str) -> Duration {
    let start = Instant::now();
    sh(&format!(
        "for i in $(seq 0 {}); do lxc launch {fingerprint} hvb-loop-$i -c limits.memory=64MiB || exit 1; done",
        n - 1
    ));
    let deadline = Instant::now() + Duration::from_secs(300);
    while addressed("hvb-loop-") < n {
        assert!(
            Instant::now() < deadline,
            "the loop's containers got no addresses"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = start.elapsed();
    sh("lxc list hvb-loop- --format csv -c n | xargs -r lxc delete --force");
    took
}

/// Rounds per size, of which the median is shown.
const ROUNDS: usize = 3;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let size = std::fs::metadata(IMAGE).map(|m| m.len()).unwrap_or(0);
    // Import the image once (and learn its fingerprint) so neither side pays for it.
    std::fs::write(dir.path().join("main.hive.hcl"), config(1)).expect("write");
    hive(dir.path(), &["apply", "-auto-approve"]);
    let fingerprint =
        hive_provider_lxd::image::fingerprint(&[IMAGE.into()]).expect("the image is readable");
    hive(
        dir.path(),
        &["destroy", "-auto-approve", "--target", "instance.c"],
    );
    println!(
        "busybox image: {:.2} MiB (unified tarball)",
        size as f64 / (1u64 << 20) as f64
    );
    println!("containers  hive apply  lxc launch loop  loop/hive  (medians of {ROUNDS} rounds)");
    for n in [1usize, 5, 20] {
        std::fs::write(dir.path().join("main.hive.hcl"), config(n)).expect("write");
        let mut by_hive = Vec::new();
        let mut by_loop = Vec::new();
        for _ in 0..ROUNDS {
            by_hive.push(hive(dir.path(), &["apply", "-auto-approve"]).0);
            hive(
                dir.path(),
                &["destroy", "-auto-approve", "--target", "instance.c"],
            );
            by_loop.push(shell_loop(n, &fingerprint));
        }
        let (by_hive, by_loop) = (median(by_hive), median(by_loop));
        println!(
            "{n:>10}  {:>9.2}s  {:>14.2}s  {:>8.2}x",
            by_hive.as_secs_f64(),
            by_loop.as_secs_f64(),
            by_loop.as_secs_f64() / by_hive.as_secs_f64()
        );
    }
    noop_plan(dir.path(), 50);
    hive(dir.path(), &["destroy", "-auto-approve"]);
}

/// A plan with nothing to do over `n` recorded containers: hive reads each one back from
/// LXD (refresh). Against one `lxc list` of the same containers, what a script would ask.
fn noop_plan(dir: &std::path::Path, n: usize) {
    std::fs::write(dir.join("main.hive.hcl"), config(n)).expect("write");
    hive(dir, &["apply", "-auto-approve"]);
    let mut by_hive = Vec::new();
    let mut by_list = Vec::new();
    for _ in 0..ROUNDS {
        let (took, out) = hive(dir, &["plan"]);
        assert!(out.contains("No changes"), "not a no-op plan:\n{out}");
        by_hive.push(took);
        let start = Instant::now();
        sh("lxc list hvb-hive- --format json");
        by_list.push(start.elapsed());
    }
    let (by_hive, by_list) = (median(by_hive), median(by_list));
    println!(
        "no-op plan over {n} containers: hive plan {:.2}s, lxc list {:.2}s ({:.2}x)",
        by_hive.as_secs_f64(),
        by_list.as_secs_f64(),
        by_hive.as_secs_f64() / by_list.as_secs_f64()
    );
}
