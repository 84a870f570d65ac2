//! Remote hosts, end to end, on the lab's hosts (`bash lab/hosts.sh up 2`: network namespaces
//! with their own sshd, host key and libvirtd). hive reaches them only over SSH, and the
//! tests look at what exists on a host only over SSH too, with the host's own tools.

mod cluster;
#[path = "../s3/lab.rs"]
#[allow(dead_code)]
mod s3lab;
mod scan;
mod stored;
#[path = "../support/mod.rs"]
mod support;
mod vms;

use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use support::Workdir;

const KEY: &str = "/var/lib/hive-lab-hosts/id_ed25519";
/// The lab's tiny guest (`lab/tiny-guest.sh`), and an image of it on host a.
const TINY: &str = "/var/cache/hive-test/tiny/current";
const TINY_ON_A: &str = r#"
image "tiny" {
  host    = host.a
  format  = "kernel"
  kernel  = "TINY/vmlinuz"
  initrd  = "TINY/initrd.img"
  cmdline = "console=ttyS0 quiet"
}
"#;
const KNOWN: &str = "/var/lib/hive-lab-hosts/known_hosts";

/// One test at a time: they share the lab's hosts.
static HOSTS: Mutex<()> = Mutex::new(());

/// Two of the lab's hosts, up: (name, address) each.
fn hosts() -> (MutexGuard<'static, ()>, Vec<(String, String)>) {
    hosts_up(2)
}

/// `n` of the lab's hosts, up: (name, address) each.
fn hosts_up(n: usize) -> (MutexGuard<'static, ()>, Vec<(String, String)>) {
    let turn = HOSTS.lock().unwrap_or_else(|e| e.into_inner());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/lab/hosts.sh");
    let out = Command::new("bash")
        .args([script, "up", &n.to_string()])
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "lab/hosts.sh up {n}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(fields.len(), 4, "NAME ADDRESS USER KEY_FILE: {l}");
            assert_eq!((fields[2], fields[3]), ("root", KEY));
            (fields[0].to_string(), fields[1].to_string())
        })
        .collect();
    (turn, lines)
}

/// A command on a host, over SSH with the lab's key: (exit code, stdout).
fn on(address: &str, command: &str) -> (i32, String) {
    let out = Command::new("ssh")
        .args([
            "-i",
            KEY,
            "-o",
            "BatchMode=yes",
            "-o",
            &format!("UserKnownHostsFile={KNOWN}"),
            "-o",
            "StrictHostKeyChecking=yes",
            &format!("root@{address}"),
            command,
        ])
        .output()
        .expect("ssh runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn host_block(name: &str, address: &str, known_hosts: &str, extra: &str) -> String {
    format!(
        r#"
host "{name}" {{
  address     = "{address}"
  user        = "root"
  ssh_key     = "{KEY}"
  known_hosts = "{known_hosts}"
  {extra}
}}
"#
    )
}

/// The fingerprint `ssh-keygen -l` gives the host key of the lab host `name`.
fn fingerprint_of(name: &str) -> String {
    let out = Command::new("ssh-keygen")
        .args([
            "-l",
            "-f",
            &format!("/var/lib/hive-lab-hosts/{name}/ssh_host_ed25519_key.pub"),
        ])
        .output()
        .expect("ssh-keygen runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("a fingerprint")
        .to_string()
}

/// What an earlier, failed run of a test left of a bridge on a host.
fn remove_leftovers(address: &str, bridge: &str) {
    on(
        address,
        &format!(
            "ip link del {bridge} 2>/dev/null; pkill -f '[d]nsmasq.*{bridge}'; rm -rf /var/lib/hive/bridges/{bridge}; \
             nft list tables | grep 'hive_{}_' | while read -r _ family name; do nft delete table \"$family\" \"$name\"; done; true",
            bridge.replace('-', "_")
        ),
    );
}

/// A rendered diagnostic as one line: without the margin's `│` and the line breaks.
fn flat(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_bridge_and_commands_on_remote_hosts_over_ssh() {
    let (_turn, hosts) = hosts();
    let (a, b) = (&hosts[0], &hosts[1]);
    remove_leftovers(&a.1, "hvr-lan");
    let w = Workdir::new(vec![]);
    let config = format!(
        "{}{}{}",
        host_block("a", &a.1, KNOWN, ""),
        host_block("b", &b.1, KNOWN, ""),
        r#"
bridge "lan" {
  host = host.a
  name = "hvr-lan"
  cidr = "10.232.7.1/24"
  dhcp {
    range = ["10.232.7.100", "10.232.7.150"]
  }
  nat = false
}

command "where" {
  host        = host.b
  run         = "hostname; echo \"$GREETING from $(pwd)\""
  environment = { GREETING = "hello 'there'" }
  working_dir = "/tmp"
}

output "where" {
  value = command.where.stdout
}
"#
    );
    w.write(&config);
    w.ok(&["apply", "-auto-approve"]);

    let (code, link) = on(&a.1, "ip -j link show dev hvr-lan");
    assert_eq!(code, 0, "the bridge is on host a");
    assert!(link.contains("\"ifalias\":\"hive:"), "{link}");
    let (code, _) = on(&b.1, "ip link show dev hvr-lan");
    assert_ne!(code, 0, "and only there");
    assert!(
        !Command::new("ip")
            .args(["link", "show", "dev", "hvr-lan"])
            .output()
            .expect("ip runs")
            .status
            .success(),
        "not on this machine"
    );
    // Sockets are per network namespace: host a's own `ss` shows its dnsmasq serving DHCP.
    // (Only this bridge's: another test's may run there too.)
    let dhcp_of_lan = "ss -H -lunp 'sport = :67' | grep \"$(cat /var/lib/hive/bridges/hvr-lan/dnsmasq.pid 2>/dev/null || echo none)\"";
    let (_, sockets) = on(&a.1, dhcp_of_lan);
    assert!(
        sockets.contains("dnsmasq"),
        "its dnsmasq runs on host a: {sockets}"
    );
    assert!(!on(&b.1, dhcp_of_lan).1.contains("dnsmasq"));
    let said = w.ok(&["output", "--raw", "where"]).stdout;
    assert_eq!(said.trim_end(), format!("{}\nhello 'there' from /tmp", b.0));

    assert_eq!(
        w.ok(&["plan", "-detailed-exitcode"]).code,
        0,
        "nothing to do"
    );
    // Changed on the host behind hive's back: the plan sees it, over SSH.
    assert_eq!(on(&a.1, "ip link set hvr-lan down").0, 0);
    let plan = w.hive(&["plan", "-detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.stdout);
    w.ok(&["apply", "-auto-approve"]);
    assert!(on(&a.1, "ip -j link show dev hvr-lan").1.contains("\"UP\""));

    w.ok(&["destroy", "-auto-approve"]);
    assert_ne!(
        on(&a.1, "ip link show dev hvr-lan").0,
        0,
        "removed from host a"
    );
    assert!(
        !on(&a.1, "pgrep -af '[d]nsmasq.*hvr-lan'")
            .1
            .contains("dnsmasq"),
        "its dnsmasq too"
    );
}

#[test]
fn an_unknown_or_changed_host_key_is_refused_with_its_fingerprints() {
    let (_turn, hosts) = hosts();
    let (a, b) = (&hosts[0], &hosts[1]);
    let w = Workdir::new(vec![]);
    let a_key = fingerprint_of(&a.0);
    let b_key = fingerprint_of(&b.0);
    let bridge = r#"
bridge "lan" {
  host = host.a
  name = "hvr-keys"
  cidr = "10.232.8.1/24"
  nat  = false
}
"#;

    // Not in known_hosts at all.
    let empty = w.dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "").expect("write");
    w.write(&format!(
        "{}{bridge}",
        host_block("a", &a.1, &empty.display().to_string(), "")
    ));
    let plan = w.hive(&["plan"]);
    assert_eq!(plan.code, 1, "{}", plan.stderr);
    let said = flat(&plan.stderr);
    assert!(
        said.contains(&format!("unknown host key {a_key}")),
        "{said}"
    );
    assert!(said.contains("main.hive.hcl:"), "{said}");

    // known_hosts says the address has another key (b's): changed.
    let wrong = w.dir.path().join("wrong_known_hosts");
    let b_line = std::fs::read_to_string(KNOWN)
        .expect("the lab's known_hosts")
        .lines()
        .find(|l| l.starts_with(&format!("{} ", b.1)))
        .expect("b's line")
        .replacen(&b.1, &a.1, 1);
    std::fs::write(&wrong, format!("{b_line}\n")).expect("write");
    w.write(&format!(
        "{}{bridge}",
        host_block("a", &a.1, &wrong.display().to_string(), "")
    ));
    let said = flat(&w.hive(&["plan"]).stderr);
    assert!(said.contains("the host key changed"), "{said}");
    assert!(
        said.contains(&b_key) && said.contains(&a_key),
        "both fingerprints: {said}"
    );

    // Pinned: the wrong key refused, the right one taken (no known_hosts entry needed).
    w.write(&format!(
        "{}{bridge}",
        host_block(
            "a",
            &a.1,
            &empty.display().to_string(),
            &format!("host_key = \"{b_key}\"")
        )
    ));
    let said = flat(&w.hive(&["plan"]).stderr);
    assert!(
        said.contains(&format!("pinned {b_key}, shown {a_key}")),
        "{said}"
    );
    w.write(&format!(
        "{}{bridge}",
        host_block(
            "a",
            &a.1,
            &empty.display().to_string(),
            &format!("host_key = \"{a_key}\"")
        )
    ));
    w.ok(&["plan"]);
    let _ = b;
}

#[test]
fn an_unreachable_host_fails_the_plan_quickly() {
    let (_turn, _hosts) = hosts();
    let w = Workdir::new(vec![]);
    // An address on the lab's bridge that no host has.
    w.write(&format!(
        "{}{}",
        host_block("gone", "10.231.0.99", KNOWN, ""),
        r#"
bridge "lan" {
  host = host.gone
  name = "hvr-gone"
  cidr = "10.232.9.1/24"
  nat  = false
}
"#
    ));
    let start = std::time::Instant::now();
    let plan = w.hive(&["plan"]);
    let took = start.elapsed();
    assert_eq!(plan.code, 1);
    let said = flat(&plan.stderr);
    assert!(said.contains("root@10.231.0.99:22: connecting"), "{said}");
    assert!(
        took < std::time::Duration::from_secs(20),
        "bounded: {took:?}"
    );
}

#[test]
fn hive_hosts_says_up_or_down_with_the_reason_and_capacity() {
    let (_turn, hosts) = hosts();
    let (a, b) = (&hosts[0], &hosts[1]);
    let w = Workdir::new(vec![]);
    w.write(&format!(
        "{}{}{}",
        host_block("a", &a.1, KNOWN, ""),
        host_block(
            "b",
            &b.1,
            KNOWN,
            "capacity {\n    memory = \"3GiB\"\n    cpus   = 2\n  }"
        ),
        host_block("gone", "10.231.0.99", KNOWN, ""),
    ));
    let start = std::time::Instant::now();
    let r = w.hive(&["hosts", "-json"]);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "bounded"
    );
    assert_eq!(r.code, 1, "a host is DOWN: {}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    let by_name = |name: &str| {
        doc["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|h| h["address"] == format!("host.{name}"))
            .cloned()
            .unwrap_or_else(|| panic!("host.{name} listed: {doc}"))
    };
    let up = by_name("a");
    assert_eq!(up["status"], "UP", "{up}");
    assert!(up["memory_mib"].as_u64().is_some_and(|m| m > 0), "{up}");
    assert_eq!(up["capacity_declared"], false);
    let declared = by_name("b");
    assert_eq!(
        (
            &declared["status"],
            &declared["memory_mib"],
            &declared["cpus"]
        ),
        (&"UP".into(), &3072.into(), &2.into()),
        "{declared}"
    );
    let gone = by_name("gone");
    assert_eq!(gone["status"], "DOWN");
    assert!(
        gone["reason"]
            .as_str()
            .is_some_and(|r| r.contains("root@10.231.0.99:22: connecting")),
        "{gone}"
    );
    let text = w.hive(&["hosts"]).stdout;
    assert!(
        text.contains("host.gone") && text.contains("DOWN"),
        "{text}"
    );
}

#[test]
fn a_down_host_leaves_only_its_own_resources_out() {
    let (_turn, hosts) = hosts();
    let (a, b) = (hosts[0].clone(), hosts[1].clone());
    remove_leftovers(&a.1, "hvr-up");
    remove_leftovers(&b.1, "hvr-down");
    let w = Workdir::new(vec![]);
    let base = format!(
        "{}{}{}",
        host_block("a", &a.1, KNOWN, ""),
        host_block("b", &b.1, KNOWN, ""),
        r#"
bridge "up" {
  host = host.a
  name = "hvr-up"
  cidr = "10.232.11.1/24"
  nat  = false
}

bridge "down" {
  host = host.b
  name = "hvr-down"
  cidr = "10.232.12.1/24"
  nat  = false
}
"#
    );
    w.write(&base);
    w.ok(&["apply", "-auto-approve"]);

    // Host b's sshd stops.
    let lab = "/var/lib/hive-lab-hosts";
    let stopped = Command::new("sh")
        .args(["-c", &format!("kill $(cat {lab}/{}/sshd.pid)", b.0)])
        .status()
        .expect("sh runs");
    assert!(stopped.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect((b.1.as_str(), 22)).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "sshd of b still answers"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let listed = w.hive(&["hosts"]);
    assert_eq!(listed.code, 1);
    let line = listed
        .stdout
        .lines()
        .find(|l| l.contains("host.b"))
        .unwrap_or_default()
        .to_string();
    assert!(
        line.contains("DOWN") && line.contains("connecting"),
        "{}",
        listed.stdout
    );

    // New work on a, some of it needing b: the part on a goes ahead.
    w.write(&format!(
        "{base}{}",
        r#"
command "on_a" {
  host = host.a
  run  = "echo done on a"
}

command "needs_b" {
  host = host.a
  run  = "echo ${bridge.down.name}"
}
"#
    ));
    let start = std::time::Instant::now();
    let plan = w.hive(&["plan"]);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(30),
        "bounded: {:?}",
        start.elapsed()
    );
    assert_eq!(plan.code, 1, "{}", plan.stdout);
    assert!(plan.stdout.contains("command.on_a"), "{}", plan.stdout);
    let said = flat(&plan.stderr);
    assert!(
        said.contains("bridge.down is left out of this run")
            && said.contains("host.b is DOWN")
            && said.contains("command.needs_b is left out of this run")
            && said.contains("it needs bridge.down"),
        "{said}"
    );
    assert!(!said.contains("bridge.up is left out"), "{said}");

    let apply = w.hive(&["apply", "-auto-approve"]);
    assert_eq!(apply.code, 1, "{}", apply.stdout);
    let output = w.ok(&["state", "list"]).stdout;
    assert!(
        output.contains("command.on_a") && !output.contains("command.needs_b"),
        "{output}"
    );
    assert!(
        flat(&apply.stderr).contains("bridge.down is left out of this run"),
        "{}",
        apply.stderr
    );

    // Back up (a new host, with a new key the lab records): everything converges.
    drop(hosts);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/lab/hosts.sh");
    assert!(Command::new("bash")
        .args([script, "up", "2"])
        .status()
        .expect("bash runs")
        .success());
    w.ok(&["apply", "-auto-approve"]);
    w.ok(&["destroy", "-auto-approve"]);
    assert_ne!(on(&a.1, "ip link show dev hvr-up").0, 0);
    assert_ne!(on(&b.1, "ip link show dev hvr-down").0, 0);
}
