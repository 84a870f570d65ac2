//! multipass, against the stand-in of its CLI (tests/support/multipass: LXD containers from
//! the lab's Debian image with real cloud-init).
//!
//! 1. Time from `hive apply` to 3 instances with addresses, against a shell loop of
//!    `multipass launch` (each launch returns once cloud-init is done and the instance has an
//!    address), then one `multipass list` for the addresses. Medians of three rounds.
//! 2. The `examples/lxd-cluster` apply (a master and two members forming an LXD cluster),
//!    against a shell script doing the same steps one after another, as the scripts hive
//!    replaces do. One round each; both end with every member online.
//!
//! Prints each time and the ratio (script / hive: above 1 means hive is faster). Run with
//! `cargo bench --bench multipass` (as root, with `bash lab/setup.sh` done).

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{hive, median};

fn multipass() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support/multipass")
        .display()
        .to_string()
}

/// Runs a script with the stand-in as `$MP`: what it printed.
fn sh(script: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("MP", multipass())
        .stderr(Stdio::inherit())
        .output()
        .expect("sh runs");
    assert!(out.status.success(), "failed: {script}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn config() -> String {
    format!(
        r#"
host "local" {{
  multipass {{
    path = "{}"
  }}
}}

instance "node" {{
  count    = 3
  driver   = "multipass"
  host     = host.local
  image    = "22.04"
  name     = "hvm-hive-${{count.index}}"
  memory   = "256MiB"
  wait_for = "ip"
}}
"#,
        multipass()
    )
}

fn purge(prefix: &str) {
    sh(&format!(
        "$MP list --format json | python3 -c 'import json,sys; [print(i[\"name\"]) for i in json.load(sys.stdin)[\"list\"] if i[\"name\"].startswith(\"{prefix}\")]' | xargs -r $MP delete --purge"
    ));
}

fn shell_loop() -> Duration {
    let start = Instant::now();
    sh("for i in 0 1 2; do $MP launch 22.04 -n hvm-loop-$i -m 256M >/dev/null || exit 1; done");
    let listed = sh("$MP list --format json");
    let took = start.elapsed();
    assert_eq!(listed.matches("hvm-loop-").count(), 3, "{listed}");
    purge("hvm-loop-");
    took
}

/// What `examples/lxd-cluster` does, as a script does it: one step after another.
const CLUSTER_SCRIPT: &str = r#"
set -e
ip() { $MP info "$1" --format json | python3 -c "import json,sys; print(json.load(sys.stdin)['info']['$1']['ipv4'][0])"; }
$MP launch 22.04 -n hvs-master -m 1G -d 4G >/dev/null
m=$(ip hvs-master)
$MP exec hvs-master -- lxd init --preseed <<EOF
config:
  core.https_address: "$m:8443"
cluster:
  server_name: hvs-master
  enabled: true
storage_pools:
  - name: local
    driver: dir
profiles:
  - name: default
    devices:
      root: {path: /, pool: local, type: disk}
EOF
for n in member1 member2; do
  $MP launch 22.04 -n hvs-$n -m 1G -d 4G >/dev/null
  token=$($MP exec hvs-master -- lxc cluster add hvs-$n --quiet)
  a=$(ip hvs-$n)
  $MP exec hvs-$n -- lxd init --preseed <<EOF
cluster:
  enabled: true
  server_name: hvs-$n
  server_address: "$a:8443"
  cluster_token: $token
  member_config:
    - entity: storage-pool
      name: local
      key: source
      value: ""
EOF
done
$MP exec hvs-master -- lxc cluster list --format csv
"#;

const ROUNDS: usize = 3;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    purge("hvm-");
    purge("hvs-");
    std::fs::write(dir.path().join("main.hive.hcl"), config()).expect("write");
    // The stand-in imports its image at the first launch: neither side pays for it.
    sh("$MP launch 22.04 -n hvm-warm -m 256M >/dev/null && $MP delete --purge hvm-warm");
    let mut by_hive = Vec::new();
    let mut by_loop = Vec::new();
    for _ in 0..ROUNDS {
        by_hive.push(hive(dir.path(), &["apply", "-auto-approve"]).0);
        hive(dir.path(), &["destroy", "-auto-approve"]);
        by_loop.push(shell_loop());
    }
    let (by_hive, by_loop) = (median(by_hive), median(by_loop));
    println!("3 multipass instances with addresses (medians of {ROUNDS} rounds):");
    println!(
        "  hive apply {:.1}s, multipass launch loop {:.1}s: loop/hive {:.2}x",
        by_hive.as_secs_f64(),
        by_loop.as_secs_f64(),
        by_loop.as_secs_f64() / by_hive.as_secs_f64()
    );

    let example = dir.path().join("lxd-cluster");
    std::fs::create_dir_all(&example).expect("mkdir");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lxd-cluster/main.hive.hcl"),
        example.join("main.hive.hcl"),
    )
    .expect("copy the example");
    let var = format!("multipass={}", multipass());
    let vars = ["-var", var.as_str(), "-var", "prefix=hvc"];
    let apply: Vec<&str> = ["apply", "-auto-approve"].into_iter().chain(vars).collect();
    let (by_hive, out) = hive(&example, &apply);
    assert_eq!(out.matches("ONLINE").count(), 3, "{out}");
    let destroy: Vec<&str> = ["destroy", "-auto-approve"]
        .into_iter()
        .chain(vars)
        .collect();
    hive(&example, &destroy);
    let start = Instant::now();
    let listed = sh(CLUSTER_SCRIPT);
    let by_script = start.elapsed();
    assert_eq!(listed.matches("ONLINE").count(), 3, "{listed}");
    purge("hvs-");
    println!("examples/lxd-cluster (a master and 2 members, every member online):");
    println!(
        "  hive apply {:.1}s, step-by-step script {:.1}s: script/hive {:.2}x",
        by_hive.as_secs_f64(),
        by_script.as_secs_f64(),
        by_script.as_secs_f64() / by_hive.as_secs_f64()
    );
}
