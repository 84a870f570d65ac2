//! Two CI jobs on one runner: two copies of one configuration, applied at the same moment
//! from two directories, each a bridge named from `hive.id` on a subnet hive chooses
//! (`cidr = "auto"`). Both succeed with their own names and subnets, none of which an
//! address or route of the host already uses, and both destroy cleanly.

use super::{dhcp, guest, udhcpc_script, Netns};
use std::net::Ipv4Addr;
use std::path::Path;

const TWIN: &str = r#"
host "local" {}

bridge "lan" {
  host      = host.local
  name      = "ci-${hive.id}"
  cidr      = "auto"
  cidr_pool = "10.161.0.0/16"
  dhcp {}
  nat = false
}

output "cidr" {
  value = bridge.lan.cidr
}

output "name" {
  value = bridge.lan.name
}
"#;

fn output(host: &Netns, dir: &Path, name: &str) -> String {
    host.ok(dir, &["output", "-raw", name])
        .stdout
        .trim()
        .to_string()
}

fn subnet(cidr: &str) -> (Ipv4Addr, u8) {
    let (ip, prefix) = cidr.split_once('/').expect("ADDRESS/PREFIX");
    (
        ip.parse().expect("an address"),
        prefix.parse().expect("a prefix"),
    )
}

fn network(s: (Ipv4Addr, u8)) -> u32 {
    u32::from(s.0) & (u32::MAX << (32 - u32::from(s.1)))
}

#[test]
fn two_copies_applied_at_once_get_their_own_names_and_subnets() {
    let pid = std::process::id();
    let host = Netns::new(&format!("hvb-a-{pid}"));
    // The pool's first two /24s are taken: one by an address, one by a route.
    host.sh(
        "ip link add busy type veth peer name busy-peer && ip link set busy-peer up && ip addr add 10.161.0.1/24 dev busy && ip link set busy up && \
         ip route add 10.161.1.0/24 dev busy",
    );
    let before = host.snapshot();
    let dirs = [
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    ];
    for d in &dirs {
        std::fs::write(d.path().join("main.hive.hcl"), TWIN).expect("write");
    }

    let running: Vec<_> = dirs
        .iter()
        .map(|d| {
            host.command(d.path(), &["apply", "-auto-approve"])
                .spawn()
                .expect("hive starts")
        })
        .collect();
    for mut child in running {
        assert!(
            child.wait().expect("wait").success(),
            "both applies succeed"
        );
    }

    let [one, two] = &dirs;
    let (name1, name2) = (
        output(&host, one.path(), "name"),
        output(&host, two.path(), "name"),
    );
    assert_ne!(name1, name2, "names from hive.id differ");
    let (cidr1, cidr2) = (
        output(&host, one.path(), "cidr"),
        output(&host, two.path(), "cidr"),
    );
    let (s1, s2) = (subnet(&cidr1), subnet(&cidr2));
    assert_ne!(network(s1), network(s2), "{cidr1} and {cidr2}");
    for (s, cidr) in [(s1, &cidr1), (s2, &cidr2)] {
        assert_eq!(s.1, 24, "{cidr}");
        let net = network(s);
        assert!(
            (u32::from(Ipv4Addr::new(10, 161, 2, 0))..=u32::from(Ipv4Addr::new(10, 161, 255, 0)))
                .contains(&net),
            "{cidr} is in the pool and clear of the address and the route"
        );
        assert_eq!(
            u32::from(s.0),
            net + 1,
            "the gateway is the first address: {cidr}"
        );
    }
    for (name, cidr) in [(&name1, &cidr1), (&name2, &cidr2)] {
        let addr = host.sh(&format!("ip -j -4 addr show dev {name}"));
        let gateway = cidr.split('/').next().unwrap_or_default();
        assert!(addr.contains(&format!("\"local\":\"{gateway}\"")), "{addr}");
        let claim = format!(
            "/var/lib/hive/subnets/{}_24/owner",
            Ipv4Addr::from(network(subnet(cidr)))
        );
        assert!(
            std::fs::read_to_string(&claim).is_ok_and(|o| o.contains("bridge.lan")),
            "{claim}"
        );
    }

    // DHCP gives out the upper half of the chosen subnet.
    let g = guest(&host, &format!("hvb-ag-{pid}"), "vag", "02:00:00:00:0a:01");
    host.sh(&format!("ip link set vag master {name1} up"));
    let script = udhcpc_script(one.path());
    let lease: Ipv4Addr = dhcp(&g, &script).parse().expect("an address");
    let offset = u32::from(lease) - network(s1);
    assert!(
        (128..255).contains(&offset),
        "{lease} in the upper half of {cidr1}"
    );
    drop(g);

    // A third state asking for the first one's bridge by name is refused, naming that state.
    let third = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        third.path().join("main.hive.hcl"),
        TWIN.replace("\"ci-${hive.id}\"", &format!("\"{name1}\"")),
    )
    .expect("write");
    let taken = host.hive(third.path(), &["plan"]);
    assert_eq!(taken.code, 1, "{}", taken.stdout);
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(one.path().join(".hive/state.json")).expect("state"),
    )
    .expect("JSON");
    let lineage = state["lineage"].as_str().expect("a lineage");
    let said = taken
        .stderr
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        said.contains(&format!("of another state (lineage {lineage})")),
        "{said}"
    );

    // The choice is kept: nothing to do on either.
    for d in &dirs {
        let plan = host.hive(d.path(), &["plan", "-detailed-exitcode"]);
        assert_eq!(plan.code, 0, "{}", plan.stdout);
    }
    for d in &dirs {
        host.ok(d.path(), &["destroy", "-auto-approve"]);
    }
    assert_eq!(
        host.snapshot(),
        before,
        "nothing left in the host namespace"
    );
    for cidr in [&cidr1, &cidr2] {
        let claim = format!(
            "/var/lib/hive/subnets/{}_24",
            Ipv4Addr::from(network(subnet(cidr)))
        );
        assert!(!Path::new(&claim).exists(), "{claim} was released");
    }
}
