//! Many hosts, on the lab's hosts (`bash lab/hosts.sh up 3`: network namespaces with their
//! own sshd and libvirtd), so the cost of going remote is known.
//!
//! 1. Six tiny VMs (wait_for = "ssh") spread over three hosts on one bridge across them, against
//!    the same six on this machine's libvirt on a local bridge: apply and destroy times.
//! 2. What one remote step costs: 20 `command` resources on a remote host against 20 on this
//!    machine (apply, then a refresh-only plan), and against what a script does instead, 20
//!    `ssh host true` one after another.
//!
//! Prints each time and the ratios. Run with `cargo bench --bench hosts` (as root, with
//! `bash lab/setup.sh` done).

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::hive;

const KEY: &str = "/var/lib/hive-lab-hosts/id_ed25519";
const KNOWN: &str = "/var/lib/hive-lab-hosts/known_hosts";
const TINY: &str = "/var/cache/hive-test/tiny/current";

fn lab_hosts() -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/hosts.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(["up", "3"])
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "lab/hosts.sh up 3 failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

fn host_block(name: &str, address: &str) -> String {
    format!(
        "host \"{name}\" {{\n  address     = \"{address}\"\n  ssh_key     = \"{KEY}\"\n  known_hosts = \"{KNOWN}\"\n}}\n"
    )
}

const VMS: &str = r#"
image "tiny" {
  host    = HOME
  format  = "kernel"
  kernel  = "TINY/vmlinuz"
  initrd  = "TINY/initrd.img"
  cmdline = "console=ttyS0 quiet"
}

instance "node" {
  count    = 6
  driver   = "libvirt"
  PLACE
  image    = image.tiny
  name     = "hvb-node-${count.index}"
  memory   = "256MiB"
  network {
    bridge = bridge.lan
  }
  wait_for     = "ssh"
  wait_timeout = "10m"
}
"#;

fn six_vms(dir: &Path, remote: Option<&[String]>) -> (Duration, Duration) {
    let config = match remote {
        Some(addresses) => {
            let hosts: String = ["a", "b", "c"]
                .iter()
                .zip(addresses)
                .map(|(n, a)| host_block(n, a))
                .collect();
            format!(
                "{hosts}bridge \"lan\" {{\n  hosts = [host.a, host.b, host.c]\n  name  = \"hvb-span\"\n  cidr  = \"10.232.30.1/24\"\n  dhcp {{\n    range = [\"10.232.30.100\", \"10.232.30.199\"]\n  }}\n}}\n{}",
                VMS.replace("HOME", "host.a")
                    .replace("PLACE", "hosts    = [host.a, host.b, host.c]")
            )
        }
        None => format!(
            "host \"local\" {{}}\nbridge \"lan\" {{\n  host = host.local\n  name = \"hvb-local\"\n  cidr = \"10.232.31.1/24\"\n  dhcp {{\n    range = [\"10.232.31.100\", \"10.232.31.199\"]\n  }}\n}}\n{}",
            VMS.replace("HOME", "host.local")
                .replace("PLACE", "host     = host.local")
        ),
    }
    .replace("TINY", TINY);
    std::fs::write(dir.join("main.hive.hcl"), config).expect("write");
    let (up, _) = hive(dir, &["apply", "-auto-approve"]);
    let (down, _) = hive(dir, &["destroy", "-auto-approve"]);
    (up, down)
}

fn commands(dir: &Path, host: &str) -> (Duration, Duration) {
    let config = format!(
        "{host}command \"step\" {{\n  count = 20\n  host  = HOST\n  run   = \"true\"\n}}\n"
    );
    let target = if host.is_empty() { "null" } else { "host.a" };
    std::fs::write(dir.join("main.hive.hcl"), config.replace("HOST", target)).expect("write");
    let (apply, _) = hive(dir, &["apply", "-auto-approve", "-parallelism", "1"]);
    let (plan, _) = hive(dir, &["plan"]);
    hive(dir, &["destroy", "-auto-approve"]);
    (apply, plan)
}

/// `times` runs of `ssh host true`; `shared`: over one multiplexed connection (OpenSSH's
/// ControlMaster), as a careful script does.
fn ssh_loop(address: &str, times: usize, shared: bool) -> Duration {
    let control = tempfile::tempdir().expect("temp dir");
    let mux: Vec<String> = if shared {
        vec![
            "-o".into(),
            "ControlMaster=auto".into(),
            "-o".into(),
            format!("ControlPath={}/cm", control.path().display()),
            "-o".into(),
            "ControlPersist=60".into(),
        ]
    } else {
        Vec::new()
    };
    let start = Instant::now();
    for _ in 0..times {
        let ok = Command::new("ssh")
            .args(["-i", KEY, "-o", "BatchMode=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={KNOWN}"))
            .args(&mux)
            .arg(format!("root@{address}"))
            .arg("true")
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ssh {address} true");
    }
    start.elapsed()
}

fn main() {
    let hosts = lab_hosts();
    assert!(hosts.len() >= 3, "three lab hosts: {hosts:?}");
    let secs = |d: Duration| d.as_secs_f64();

    let remote_dir = tempfile::tempdir().expect("temp dir");
    let local_dir = tempfile::tempdir().expect("temp dir");
    let (remote_up, remote_down) = six_vms(remote_dir.path(), Some(&hosts[..3]));
    let (local_up, local_down) = six_vms(local_dir.path(), None);
    println!("six tiny VMs, to SSH-ready:");
    println!(
        "  over three hosts (one bridge across them): apply {:.1} s, destroy {:.1} s",
        secs(remote_up),
        secs(remote_down)
    );
    println!(
        "  on this machine:                           apply {:.1} s, destroy {:.1} s",
        secs(local_up),
        secs(local_down)
    );
    println!(
        "  remote / local: apply {:.2}x, destroy {:.2}x",
        secs(remote_up) / secs(local_up),
        secs(remote_down) / secs(local_down)
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let (local_apply, local_plan) = commands(dir.path(), "");
    let dir = tempfile::tempdir().expect("temp dir");
    let (remote_apply, remote_plan) = commands(dir.path(), &host_block("a", &hosts[0]));
    let loop_time = ssh_loop(&hosts[0], 20, false);
    let shared_time = ssh_loop(&hosts[0], 20, true);
    println!("20 command steps one at a time (-parallelism 1):");
    println!(
        "  on this machine: apply {:.2} s, refresh {:.2} s",
        secs(local_apply),
        secs(local_plan)
    );
    println!(
        "  on a remote host: apply {:.2} s, refresh {:.2} s",
        secs(remote_apply),
        secs(remote_plan)
    );
    println!(
        "  cost of going remote: {:.0} ms per step",
        (secs(remote_apply) - secs(local_apply)) * 1000.0 / 20.0
    );
    println!(
        "  a script's 20 `ssh host true`: {:.2} s ({:.0} ms each); hive's remote apply is {:.2}x its time",
        secs(loop_time),
        secs(loop_time) * 1000.0 / 20.0,
        secs(remote_apply) / secs(loop_time)
    );
    println!(
        "  the same over one multiplexed ssh connection: {:.2} s ({:.0} ms each); hive is {:.2}x its time",
        secs(shared_time),
        secs(shared_time) * 1000.0 / 20.0,
        secs(remote_apply) / secs(shared_time)
    );
}
