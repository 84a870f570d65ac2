//! `kill -9` of hive while it makes five containers: the next apply finishes the job with
//! no duplicates and no "already exists".

use crate::lab::{eventually, Lab, BASE};
use std::time::Duration;

const FIVE: &str = r##"
instance "node" {
  count  = 5
  driver = "lxd"
  host   = host.local
  image  = image.busybox
  name   = "PFX-${count.index}"
  network {
    bridge = bridge.lan
  }
  wait_for = "ip"
}
"##;

#[test]
fn kill_9_during_an_apply_of_five_containers_then_apply_again() {
    let lab = Lab::new("e2ek", 3);
    lab.write(&format!("{BASE}{FIVE}"));
    let mut child = lab.spawn(&["apply", "-auto-approve"]);
    eventually("a container to exist", Duration::from_secs(60), || {
        !lab.names().is_empty()
    });
    child.kill().expect("kill -9");
    let _ = child.wait();

    // The dead apply's lock is taken over: the next apply says so and finishes the job.
    let dead_pid = child.id();
    let again = lab.hive(&["apply", "-auto-approve"]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    let all = format!("{}{}", again.stdout, again.stderr);
    assert!(!all.contains("already exists"), "{all}");
    assert!(
        all.contains(&format!(
            "previous holder of the state lock died (pid {dead_pid}"
        )),
        "{all}"
    );
    assert_eq!(
        lab.names(),
        ["e2ek-0", "e2ek-1", "e2ek-2", "e2ek-3", "e2ek-4"]
    );
    for i in lab.instances() {
        assert_eq!(i["status"], "Running", "{}", i["name"]);
    }
    assert_eq!(lab.hive(&["plan", "-detailed-exitcode"]).code, 0);
    lab.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
}
