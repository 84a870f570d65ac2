//! Linux bridges end to end, inside network namespaces each test makes and removes: hive runs
//! in a "host" namespace, guests are veth ends in namespaces of their own that ask for DHCP
//! leases with busybox's udhcpc. One test puts a real libvirt guest on a Linux bridge in the
//! root namespace (libvirtd lives there), on a uniquely named bridge and a test subnet.

mod auto;
#[path = "../support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use support::{run, Run};

/// A network namespace, removed (with everything in it) when dropped.
struct Netns(String);

impl Netns {
    fn new(name: &str) -> Netns {
        let _ = Command::new("ip").args(["netns", "del", name]).status();
        sh(&format!(
            "ip netns add {name} && ip -n {name} link set lo up"
        ));
        Netns(name.to_string())
    }

    /// Runs a shell command inside the namespace; insists on success.
    fn sh(&self, script: &str) -> String {
        sh(&format!(
            "ip netns exec {} sh -c '{}'",
            self.0,
            script.replace('\'', "'\\''")
        ))
    }

    /// `hive -C dir ARGS` in the namespace.
    fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut full = Command::new("ip");
        full.args(["netns", "exec", &self.0, env!("CARGO_BIN_EXE_hive"), "-C"])
            .arg(dir)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::var_os("HOME").unwrap_or_default())
            .env("NO_COLOR", "1");
        full
    }

    fn hive(&self, dir: &Path, args: &[&str]) -> Run {
        run(&mut self.command(dir, args))
    }

    fn ok(&self, dir: &Path, args: &[&str]) -> Run {
        let r = self.hive(dir, args);
        assert_eq!(r.code, 0, "hive {args:?}:\n{}\n{}", r.stdout, r.stderr);
        r
    }

    /// Interface names and the nft ruleset: what "as it was" means for a namespace.
    fn snapshot(&self) -> (Vec<String>, String) {
        let links: serde_json::Value =
            serde_json::from_str(&self.sh("ip -j link")).expect("ip -j link is JSON");
        let mut names: Vec<String> = links
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["ifname"].as_str().map(str::to_string))
            .collect();
        names.sort();
        (names, self.sh("nft -j list ruleset"))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn sh(script: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", script])
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "`{script}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A guest: a namespace with a veth whose other end is in `host`, named `veth` there.
fn guest(host: &Netns, name: &str, veth: &str, mac: &str) -> Netns {
    let g = Netns::new(name);
    sh(&format!(
        "ip link add {veth} netns {} type veth peer name eth0 netns {name} && \
         ip -n {name} link set eth0 address {mac} && ip -n {name} link set eth0 up",
        host.0
    ));
    g
}

/// Asks for a lease with udhcpc and returns the address it got.
fn dhcp(g: &Netns, script: &Path) -> String {
    let out = g.sh(&format!(
        "busybox udhcpc -i eth0 -n -q -t 10 -T 1 -s {} 2>&1",
        script.display()
    ));
    out.lines()
        .find_map(|l| {
            l.split("lease of ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
        })
        .unwrap_or_else(|| panic!("no lease in: {out}"))
        .to_string()
}

fn udhcpc_script(dir: &Path) -> std::path::PathBuf {
    let script = dir.join("udhcpc.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n[ \"$1\" = bound ] && ip addr add \"$ip/$mask\" dev \"$interface\"\nexit 0\n",
    )
    .expect("write script");
    sh(&format!("chmod +x {}", script.display()));
    script
}

fn dnsmasq_running_for(bridge: &str) -> bool {
    let pid = std::fs::read_to_string(format!("/var/lib/hive/bridges/{bridge}/dnsmasq.pid"))
        .unwrap_or_default();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", pid.trim())).unwrap_or_default();
    String::from_utf8_lossy(&cmdline).contains(&format!("bridges/{bridge}/dnsmasq.conf"))
}

const BRIDGE: &str = r#"
host "local" {}

bridge "lan" {
  host = host.local
  name   = "hvbr-e2e1"
  cidr   = "10.242.1.1/24"
  mtu    = 1400
  uplink = "vup"
  dhcp {
    range        = ["10.242.1.100", "10.242.1.150"]
    reservations = [{ mac = "02:00:00:00:01:01", ip = "10.242.1.7" }]
  }
  nat = true
}
"#;

#[test]
fn a_bridge_serves_dhcp_and_nat_survives_drift_and_leaves_nothing() {
    let pid = std::process::id();
    let host = Netns::new(&format!("hvb-h-{pid}"));
    let g1 = guest(&host, &format!("hvb-g1-{pid}"), "vg1", "02:00:00:00:01:01");
    let g2 = guest(&host, &format!("hvb-g2-{pid}"), "vg2", "02:00:00:00:01:02");
    host.sh("ip link add vup type veth peer name vup-peer");
    let before = host.snapshot();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("main.hive.hcl"), BRIDGE).expect("write");
    let script = udhcpc_script(dir.path());

    host.ok(dir.path(), &["apply", "-auto-approve"]);
    let bridge = host.sh("ip -j link show dev hvbr-e2e1");
    assert!(bridge.contains("\"mtu\":1400"), "{bridge}");
    assert!(host
        .sh("ip -j link show dev vup")
        .contains("\"master\":\"hvbr-e2e1\""));
    host.sh("ip link set vg1 master hvbr-e2e1 up && ip link set vg2 master hvbr-e2e1 up");
    assert_eq!(dhcp(&g1, &script), "10.242.1.7", "the reservation by MAC");
    let second: std::net::Ipv4Addr = dhcp(&g2, &script).parse().expect("an address");
    let range: std::ops::Range<std::net::Ipv4Addr> =
        "10.242.1.100".parse().expect("ip").."10.242.1.151".parse().expect("ip");
    assert!(range.contains(&second), "{second} is in the range");

    // NAT: hive's table (named after the bridge) masquerades the subnet.
    let tables = host.sh("nft -j list tables");
    let table = tables
        .split('"')
        .find(|w| w.starts_with("hive_hvbr_e2e1"))
        .unwrap_or_else(|| panic!("no hive table in {tables}"))
        .to_string();
    let nat = host.sh(&format!("nft -j list table ip {table}"));
    assert!(
        nat.contains("masquerade") && nat.contains("10.242.1.0"),
        "{nat}"
    );
    assert_eq!(host.sh("cat /proc/sys/net/ipv4/ip_forward").trim(), "1");

    // A second apply has nothing to do.
    let again = host.hive(dir.path(), &["plan", "-detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    let shown = host.ok(dir.path(), &["apply", "-auto-approve"]).stdout;
    assert!(shown.contains("No changes"), "{shown}");

    // Without its uplink, the bridge lets it go; with it again, takes it back.
    std::fs::write(
        dir.path().join("main.hive.hcl"),
        BRIDGE.replace("  uplink = \"vup\"\n", ""),
    )
    .expect("write");
    host.ok(dir.path(), &["apply", "-auto-approve"]);
    assert!(!host.sh("ip -j link show dev vup").contains("\"master\""));
    std::fs::write(dir.path().join("main.hive.hcl"), BRIDGE).expect("write");
    host.ok(dir.path(), &["apply", "-auto-approve"]);
    assert!(host
        .sh("ip -j link show dev vup")
        .contains("\"master\":\"hvbr-e2e1\""));

    // Drift: dnsmasq killed, NAT table flushed, address removed. Plan finds all three;
    // apply repairs them in place.
    sh("kill $(cat /var/lib/hive/bridges/hvbr-e2e1/dnsmasq.pid)");
    host.sh(&format!(
        "nft flush table ip {table} && ip addr del 10.242.1.1/24 dev hvbr-e2e1"
    ));
    let plan = host.hive(dir.path(), &["plan", "-detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}\n{}", plan.stdout, plan.stderr);
    for seen in ["lost its address", "dnsmasq is not running", "NAT table"] {
        assert!(plan.stdout.contains(seen), "{seen}: {}", plan.stdout);
    }
    assert!(plan.stdout.contains("updated in place"), "{}", plan.stdout);
    host.ok(dir.path(), &["apply", "-auto-approve"]);
    assert!(dnsmasq_running_for("hvbr-e2e1"));
    assert!(host
        .sh(&format!("nft -j list table ip {table}"))
        .contains("masquerade"));
    assert!(host
        .sh("ip -j addr show dev hvbr-e2e1")
        .contains("10.242.1.1"));
    assert_eq!(
        host.hive(dir.path(), &["plan", "-detailed-exitcode"]).code,
        0
    );

    // The bridge deleted out of band (its dnsmasq and table remain): repaired, and DHCP
    // works on the new bridge.
    host.sh("ip link del hvbr-e2e1");
    let plan = host.hive(dir.path(), &["plan"]).stdout;
    assert!(
        plan.contains("the bridge hvbr-e2e1 itself is gone"),
        "{plan}"
    );
    host.ok(dir.path(), &["apply", "-auto-approve"]);
    assert!(host.sh("ip -j link show dev hvbr-e2e1").contains("hive:"));
    host.sh("ip link set vg2 master hvbr-e2e1 up");
    g2.sh("ip addr flush dev eth0");
    let renewed: std::net::Ipv4Addr = dhcp(&g2, &script).parse().expect("an address");
    assert!(range.contains(&renewed), "{renewed} after the repair");

    // Destroy leaves the namespace as it was: no bridge, dnsmasq, lease file or table.
    host.ok(dir.path(), &["destroy", "-auto-approve"]);
    assert_eq!(host.snapshot(), before);
    assert!(!dnsmasq_running_for("hvbr-e2e1"));
    assert!(!Path::new("/var/lib/hive/bridges/hvbr-e2e1").exists());
    drop((g1, g2));
}

#[test]
fn validate_and_plan_catch_bad_bridges_before_anything_is_made() {
    let pid = std::process::id();
    let host = Netns::new(&format!("hvb-v-{pid}"));
    // An interface hive does not own (no modules here, so a bridge rather than a dummy).
    host.sh("ip link add taken0 type bridge");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("main.hive.hcl"),
        r#"
host "local" {}
bridge "a" {
  host = host.local
  name = "taken0"
  cidr = "10.244.0.1/16"
}
bridge "b" {
  host = host.local
  name = "hvb-b"
  cidr = "10.244.3.1/24"
  dhcp {
    range = ["10.244.3.10", "10.244.4.20"]
  }
}
bridge "c" {
  host = host.local
  name = "much-too-long-name"
  cidr = "10.300.0.1/24"
}
bridge "d" {
  host = host.local
  name = "hvb-b"
  cidr = "10.245.9.1/24"
}
"#,
    )
    .expect("write");
    let before = host.snapshot();
    // validate asks no backend: the host's interfaces are the plan's to look at.
    let r = host.hive(dir.path(), &["validate"]);
    assert_eq!(r.code, 1);
    let said = r.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(!said.contains("taken0 is already used"), "{said}");
    assert!(
        said.contains("bridge.b: dhcp range address 10.244.4.20"),
        "{said}"
    );
    let r = host.hive(dir.path(), &["plan"]);
    assert_eq!(r.code, 1);
    let said = r.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    for expected in [
        "bridge.a: name: taken0 is already used by an interface hive does not own",
        "bridge.b: dhcp range address 10.244.4.20 is outside cidr 10.244.3.1/24",
        "bridge.b: cidr 10.244.3.1/24 overlaps bridge.a's 10.244.0.1/16 on the same host",
        "bridge.c: name = \"much-too-long-name\"",
        "bridge.c: cidr = \"10.300.0.1/24\"",
        "bridge.d: name \"hvb-b\" is already bridge.b's on the same host",
        "main.hive.hcl:13:13",
    ] {
        assert!(said.contains(expected), "{expected}: {said}");
    }
    // Nothing was made, and apply refuses the same way.
    let applied = host.hive(dir.path(), &["apply", "-auto-approve"]);
    assert_eq!(applied.code, 1);
    assert_eq!(host.snapshot(), before);
}
