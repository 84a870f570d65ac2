//! `kill -9` of hive in the middle of creating three VMs: the next apply finishes the job
//! with no duplicates and no "already exists".

use crate::lab::{eventually, Lab, BASE};
use std::time::Duration;

const THREE: &str = r##"
instance "node" {
  count  = 3
  driver = "libvirt"
  host   = host.local
  image  = image.tiny
  name   = "PFX-${count.index}"
  type   = "t3.nano"
  network {
    bridge = bridge.net
  }
  wait_for = "ssh"
}
"##;

#[test]
fn kill_9_during_an_apply_of_three_vms_then_apply_again() {
    let lab = Lab::new("e2ek", 2);
    lab.write(&format!("{BASE}{THREE}"));
    let mut child = lab.spawn(&["apply", "-auto-approve"]);
    // Killed while the guests are being made: at least one domain defined, not all ready.
    eventually("a domain to be defined", Duration::from_secs(60), || {
        !lab.domains().is_empty()
    });
    child.kill().expect("kill -9");
    let _ = child.wait();

    // The killed hive's lock is taken over: the next apply says whose it was, and what was
    // left unfinished, and finishes it.
    let dead_pid = child.id();
    let again = lab.hive(&["apply", "-auto-approve"]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(
        again.stderr.contains(&format!(
            "previous holder of the state lock died (pid {dead_pid}"
        )),
        "{}",
        again.stderr
    );
    let all = format!("{}{}", again.stdout, again.stderr);
    assert!(!all.contains("already exists"), "{all}");
    let mut domains = lab.domains();
    domains.sort();
    assert_eq!(domains, ["e2ek-0", "e2ek-1", "e2ek-2"]);
    let listed = lab.ok(&["state", "list"]).stdout;
    assert_eq!(
        listed
            .lines()
            .filter(|l| l.starts_with("instance."))
            .count(),
        3,
        "{listed}"
    );
    for i in 0..3 {
        lab.ok(&["ssh", &format!("instance.node[{i}]"), "--", "true"]);
    }
    assert_eq!(
        lab.hive(&["plan", "-detailed-exitcode"]).code,
        0,
        "nothing left to do"
    );
    lab.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
}
