//! Two CI jobs on one runner with containers: two copies of one configuration (busybox
//! containers on a bridge with `cidr = "auto"`, every name made from `hive.id`) applied at
//! the same moment from two directories. Both succeed with their own containers, bridges and
//! subnets; both destroy cleanly.

use crate::lab::{ipv4, Lab, IMAGES};
use crate::support::{hive, run};
use std::path::Path;

const TWIN: &str = r#"
host "local" {}

bridge "lan" {
  host      = host.local
  name      = "p${hive.id}"
  cidr      = "auto"
  cidr_pool = "10.162.0.0/16"
  dhcp {}
}

image "busybox" {
  format = "lxd"
  host   = host.local
  source = "IMAGES/busybox.tar.gz"
}

instance "node" {
  count    = 2
  driver   = "lxd"
  host     = host.local
  image    = image.busybox
  name     = "e2ep-${hive.id}-n${count.index}"
  network {
    bridge = bridge.lan
  }
  wait_for = "ip"
}

output "cidr" {
  value = bridge.lan.cidr
}

output "bridge" {
  value = bridge.lan.name
}
"#;

fn hive_in(dir: &Path, args: &[&str]) -> crate::support::Run {
    run(hive().args(args).current_dir(dir))
}

#[test]
fn two_copies_of_a_container_cluster_applied_at_once_do_not_collide() {
    let lab = Lab::new("e2ep", 30);
    let dirs = [
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    ];
    for d in &dirs {
        std::fs::write(
            d.path().join("main.hive.hcl"),
            TWIN.replace("IMAGES", IMAGES),
        )
        .expect("write");
    }
    let running: Vec<_> = dirs
        .iter()
        .map(|d| {
            hive()
                .args(["apply", "-auto-approve"])
                .current_dir(d.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("hive starts")
        })
        .collect();
    for child in running {
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let output = |d: &Path, name: &str| {
        let r = hive_in(d, &["output", "-raw", name]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout.trim().to_string()
    };
    let (one, two) = (dirs[0].path(), dirs[1].path());
    let (cidr1, cidr2) = (output(one, "cidr"), output(two, "cidr"));
    assert_ne!(cidr1, cidr2, "each its own subnet");
    assert_ne!(output(one, "bridge"), output(two, "bridge"));
    let instances = lab.instances();
    assert_eq!(instances.len(), 4, "two containers each: {:?}", lab.names());
    for cidr in [&cidr1, &cidr2] {
        let net = cidr
            .rsplit_once('.')
            .map(|(n, _)| n)
            .unwrap_or_default()
            .to_string();
        let on_it = instances
            .iter()
            .filter(|i| ipv4(i).iter().any(|ip| ip.starts_with(&format!("{net}."))))
            .count();
        assert_eq!(on_it, 2, "two containers on {cidr}: {instances:?}");
    }
    for d in [one, two] {
        let r = hive_in(d, &["destroy", "-auto-approve"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    }
    assert_eq!(lab.names(), Vec::<String>::new(), "no container left");
}
