//! What a dead CI job left in libvirt, found and reaped: a guest with an attached volume on
//! a libvirt network whose subnet hive chose, applied with `-ttl 1s`, whose state directory
//! is then deleted. `hive scan` lists the domain, its seed, the volume, the network and the
//! subnet claim as orphaned; `-reap` removes them (checked with `virsh`), and a live
//! state's volume is listed as live and left.

use crate::lab::{virsh, Lab};
use crate::support::Workdir;
use serde_json::Value as Json;
use std::path::Path;

const DEAD: &str = r#"
host "local" {}

image "tiny" {
  host    = host.local
  format  = "kernel"
  kernel  = "TINY/vmlinuz"
  initrd  = "TINY/initrd.img"
  cmdline = "console=ttyS0 quiet"
}

bridge "net" {
  driver    = "libvirt"
  host      = host.local
  name      = "PFX"
  cidr      = "auto"
  cidr_pool = "10.166.0.0/16"
  nat       = false
  dhcp {}
}

volume "e2sv_data" {
  host = host.local
  size = "16MiB"
}

instance "vm" {
  host     = host.local
  image    = image.tiny
  memory   = "128MiB"
  name     = "PFX-vm"
  attach   = [volume.e2sv_data]
  network {
    bridge = bridge.net
  }
  wait_for = "running"
}
"#;

const LIVE: &str = r#"
host "local" {}

volume "e2sv_kept" {
  host = host.local
  size = "8MiB"
}
"#;

fn state_path(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .expect("canonical")
        .join(".hive/state.json")
        .display()
        .to_string()
}

fn of_state(objects: &[Json], state: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = objects
        .iter()
        .filter(|o| o["state"].as_str() == Some(state))
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or_default().to_string(),
                o["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_dead_jobs_guest_volume_seed_and_network_are_reaped_and_a_live_volume_is_kept() {
    let lab = Lab::new("e2sv", 41);
    lab.write(DEAD);
    lab.ok(&["apply", "-auto-approve", "-ttl", "1s"]);
    let dead = state_path(lab.dir.path());
    let live = Workdir::new(vec![]);
    live.write(LIVE);
    live.ok(&["apply", "-auto-approve"]);
    let kept = state_path(live.dir.path());
    std::fs::remove_dir_all(lab.dir.path().join(".hive")).expect("remove the state");

    let r = live.hive(&["scan", "-json"]);
    let doc: Json = serde_json::from_str(&r.stdout).expect("JSON");
    let objects = doc["objects"].as_array().cloned().unwrap_or_default();
    let orphaned = |kind: &str| (kind.to_string(), "orphaned".to_string());
    assert_eq!(
        of_state(&objects, &dead),
        vec![
            orphaned("libvirt domain"),
            orphaned("libvirt network"),
            orphaned("libvirt seed"),
            orphaned("libvirt volume"),
            orphaned("subnet claim"),
        ],
        "{objects:#?}"
    );
    assert_eq!(
        of_state(&objects, &kept),
        vec![("libvirt volume".to_string(), "live".to_string())]
    );

    let r = live.hive(&["scan", "-reap", "-auto-approve", "-json"]);
    let doc: Json = serde_json::from_str(&r.stdout).expect("JSON");
    let removed = doc["reaped"]["removed"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(of_state(&removed, &dead).len(), 5, "{doc:#}");
    let failed = doc["reaped"]["failed"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        failed
            .iter()
            .all(|f| f["object"]["state"].as_str() != Some(&dead)),
        "{doc:#}"
    );
    assert_eq!(lab.domains(), Vec::<String>::new());
    assert_eq!(lab.networks(), Vec::<String>::new());
    let volumes = lab.volumes();
    assert!(
        volumes.len() == 1 && volumes[0].starts_with("e2sv_kept-"),
        "only the live job's volume: {volumes:?}"
    );
    let pool = virsh(&["vol-list", "hive"]);
    assert!(!pool.contains("e2sv-vm-seed-"), "{pool}");
    assert!(!pool.contains("e2sv_data-"), "{pool}");
    assert!(pool.contains("e2sv_kept-"), "the live job's volume: {pool}");
    live.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
}
