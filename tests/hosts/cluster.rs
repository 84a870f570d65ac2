//! A cluster over three lab hosts, reached only over SSH: one bridge across the three
//! (VXLAN, one DHCP server), six tiny VMs spread two per host, every VM reaching every other
//! across hosts, `hive ssh` into each (through the bridge's home host), a no-op plan, a
//! seventh VM placed without moving the six, and destroy leaving nothing on any host (each
//! checked with its own tools, over SSH).

use super::{host_block, hosts_up, on, remove_leftovers, KNOWN, TINY, TINY_ON_A};
use crate::support::Workdir;
use std::collections::BTreeMap;

fn config(hosts: &[(String, String)], count: usize) -> String {
    let blocks: String = ["a", "b", "c"]
        .iter()
        .zip(hosts)
        .map(|(name, (_, address))| host_block(name, address, KNOWN, ""))
        .collect();
    format!(
        "{blocks}{}",
        r#"
bridge "lan" {
  hosts = [host.a, host.b, host.c]
  name  = "hvr-span"
  cidr  = "10.232.20.1/24"
  dhcp {
    range = ["10.232.20.100", "10.232.20.199"]
  }
  nat = false
}

TINY_ON_A

instance "node" {
  count  = COUNT
  driver = "libvirt"
  hosts  = [host.a, host.b, host.c]
  image  = image.tiny
  name   = "hvr-node-${count.index}"
  memory = "256MiB"
  network {
    bridge = bridge.lan
  }
  wait_for     = "ssh"
  wait_timeout = "5m"
}

output "placed" {
  value = { for n in instance.node : n.name => n.host.name }
}

output "ips" {
  value = { for n in instance.node : n.name => n.ip }
}
"#
        .replace("COUNT", &count.to_string())
        .replace("TINY_ON_A", TINY_ON_A)
    )
}

fn remove_cluster_leftovers(hosts: &[(String, String)]) {
    for (_, address) in hosts {
        on(
            address,
            "for d in $(virsh -q list --all --name | grep '^hvr-node-'); do virsh -q destroy $d; virsh -q undefine $d; done 2>/dev/null; \
             for l in $(ip -br link | awk '$1 ~ /^hvx-/ {sub(/@.*/, \"\", $1); print $1}'); do ip link del $l; done; true",
        );
        remove_leftovers(address, "hvr-span");
    }
}

fn output_map(w: &Workdir, name: &str) -> BTreeMap<String, String> {
    let text = w.ok(&["output", "-json", name]).stdout;
    let doc: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text}"));
    let value = doc.get("value").cloned().unwrap_or(doc);
    serde_json::from_value(value).unwrap_or_else(|e| panic!("{name}: {e}: {text}"))
}

#[test]
fn six_vms_over_three_hosts_on_one_network() {
    let (_turn, hosts) = hosts_up(3);
    let hosts: Vec<(String, String)> = hosts.into_iter().take(3).collect();
    remove_cluster_leftovers(&hosts);
    let w = Workdir::new(vec![("TINY", TINY.to_string())]);
    w.write(&config(&hosts, 6));
    let started = std::time::Instant::now();
    w.ok(&["apply", "-auto-approve"]);
    eprintln!("six VMs over three hosts: {:?}", started.elapsed());

    // Two per host, by hive's placement and by each host's own libvirtd.
    let placed = output_map(&w, "placed");
    let mut per_host: BTreeMap<&str, usize> = BTreeMap::new();
    for host in placed.values() {
        *per_host.entry(host.as_str()).or_default() += 1;
    }
    assert_eq!(
        per_host,
        BTreeMap::from([("a", 2), ("b", 2), ("c", 2)]),
        "{placed:?}"
    );
    for ((name, address), letter) in hosts.iter().zip(["a", "b", "c"]) {
        let (_, running) = on(address, "virsh -q list --name");
        let mut here: Vec<&str> = running
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("hvr-node-"))
            .collect();
        here.sort();
        let mut expected: Vec<&str> = placed
            .iter()
            .filter(|(_, h)| h.as_str() == letter)
            .map(|(n, _)| n.as_str())
            .collect();
        expected.sort();
        assert_eq!(here, expected, "on {name}");
    }

    // One network: every VM reaches every other, across hosts; the plan shows placement.
    let ips = output_map(&w, "ips");
    assert_eq!(ips.len(), 6, "{ips:?}");
    for i in 0..6 {
        let others: Vec<&String> = ips
            .iter()
            .filter(|(n, _)| **n != format!("hvr-node-{i}"))
            .map(|(_, ip)| ip)
            .collect();
        let script = others
            .iter()
            .map(|ip| format!("ping -c 1 -W 5 {ip} >/dev/null && echo ok {ip}"))
            .collect::<Vec<_>>()
            .join("; ");
        let r = w.ok(&["ssh", &format!("instance.node[{i}]"), "--", &script]);
        assert_eq!(
            r.stdout.lines().filter(|l| l.starts_with("ok ")).count(),
            5,
            "node {i} reaches the five others: {}",
            r.stdout
        );
    }
    assert_eq!(
        w.ok(&["plan", "-detailed-exitcode"]).code,
        0,
        "nothing to do"
    );

    // A seventh is placed; the six stay.
    w.write(&config(&hosts, 7));
    let plan = w.hive(&["plan", "-detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.stdout);
    assert!(
        plan.stdout.contains("instance.node[6] will be created"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("(placed)"), "{}", plan.stdout);
    assert!(
        !plan.stdout.contains("must be replaced") && !plan.stdout.contains("updated in place"),
        "{}",
        plan.stdout
    );
    w.ok(&["apply", "-auto-approve"]);
    let again = output_map(&w, "placed");
    for (name, host) in &placed {
        assert_eq!(again.get(name), Some(host), "{name} did not move");
    }
    assert_eq!(again.len(), 7);

    w.ok(&["destroy", "-auto-approve"]);
    for (name, address) in &hosts {
        let (_, left) = on(
            address,
            "virsh -q list --all --name | grep hvr-node; ip -br link | grep -E 'hvr-span|hvx-'; true",
        );
        assert_eq!(left.trim(), "", "nothing is left on {name}");
    }
}
