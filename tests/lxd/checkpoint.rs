//! Cluster checkpoints with containers: a file written in each of three containers (and in
//! the custom volume the first has attached) after `hive checkpoint save` is gone after
//! `restore`, a file written before is there, the
//! containers run with their addresses and a plan is empty; a restore is refused once the
//! state changed; delete removes the snapshots. Prints restore against destroy and apply.

use crate::lab::{exec, lxc, Lab, BASE};
use std::time::Instant;

const NODES: &str = r#"
volume "PFX_data" {
  driver = "lxd"
  host   = host.local
  size   = "8MiB"
}

instance "node" {
  count    = COUNT
  driver   = "lxd"
  host     = host.local
  image    = image.busybox
  name     = "PFX-${count.index}"
  attach   = count.index == 0 ? [volume.PFX_data] : []
  network {
    bridge = bridge.lan
    ip     = "NET.${10 + count.index}"
  }
  wait_for = "ip"
}
"#;

#[test]
fn a_checkpoint_restores_three_containers_as_they_were() {
    let lab = Lab::new("e2ek", 31);
    let config = |n: usize| format!("{BASE}{}", NODES.replace("COUNT", &n.to_string()));
    lab.write(&config(3));
    let started = Instant::now();
    lab.ok(&["apply", "-auto-approve"]);
    let apply = started.elapsed();
    let names = lab.names();
    assert_eq!(names.len(), 3, "{names:?}");
    for n in &names {
        assert_eq!(exec(n, &["sh", "-c", "echo kept > /root/before"]).0, 0);
    }
    let in_volume = |script: &str| {
        exec(
            &names[0],
            &["sh", "-c", &format!("cd /mnt/$(ls /mnt) && {script}")],
        )
    };
    assert_eq!(in_volume("echo kept > before").0, 0);
    let saved = lab.ok(&["checkpoint", "save", "clean"]);
    assert!(
        saved
            .stdout
            .contains("Saved checkpoint clean: 3 instance(s)"),
        "{}",
        saved.stdout
    );
    for n in &names {
        assert_eq!(exec(n, &["sh", "-c", "echo lost > /root/after"]).0, 0);
        let snapshots = lxc(&["query", &format!("/1.0/instances/{n}/snapshots")]);
        assert!(snapshots.contains("hive-clean"), "{snapshots}");
    }
    assert_eq!(in_volume("echo lost > after").0, 0);
    let listed = lab.ok(&["checkpoint", "list"]).stdout;
    assert!(listed.starts_with("clean  "), "{listed}");

    let started = Instant::now();
    lab.ok(&["checkpoint", "restore", "clean"]);
    let restore = started.elapsed();
    for n in &names {
        assert_eq!(exec(n, &["cat", "/root/before"]), (0, "kept\n".to_string()));
        assert_ne!(
            exec(n, &["test", "-e", "/root/after"]).0,
            0,
            "{n}: /root/after is gone"
        );
    }
    assert_eq!(in_volume("cat before"), (0, "kept\n".to_string()));
    assert_ne!(
        in_volume("test -e after").0,
        0,
        "the volume is back as it was"
    );
    for (i, n) in names.iter().enumerate() {
        let (code, addr) = exec(n, &["ip", "-4", "-o", "addr", "show", "eth0"]);
        assert_eq!(code, 0);
        assert!(addr.contains(&format!("{}.{}/", lab.net, 10 + i)), "{addr}");
    }
    let plan = lab.hive(&["plan", "-detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);

    // The state changes: the checkpoint no longer describes it.
    lab.write(&config(2));
    lab.ok(&["apply", "-auto-approve"]);
    let refused = lab.hive(&["checkpoint", "restore", "clean"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("it changed since"),
        "{}",
        refused.stderr
    );
    lab.ok(&["checkpoint", "delete", "clean"]);
    assert!(lab.ok(&["checkpoint", "list"]).stdout.trim().is_empty());
    let missing = lab.hive(&["checkpoint", "restore", "clean"]);
    assert!(
        missing.stderr.contains("no checkpoint named clean"),
        "{}",
        missing.stderr
    );

    let started = Instant::now();
    lab.ok(&["destroy", "-auto-approve"]);
    let destroy = started.elapsed();
    lab.assert_clean();
    eprintln!(
        "checkpoint restore of 3 containers: {:.2}s; destroy + apply instead: {:.2}s ({:.1}x)",
        restore.as_secs_f64(),
        (destroy + apply).as_secs_f64(),
        (destroy + apply).as_secs_f64() / restore.as_secs_f64()
    );
}

/// A `hive test` file resets its cluster between runs with a checkpoint: a run saves one, the
/// next dirties the containers, the third restores it and finds them clean; the teardown
/// removes the checkpoint with the containers.
#[test]
fn hive_test_runs_reset_the_cluster_with_a_checkpoint() {
    let lab = Lab::new("e2eh", 32);
    lab.write(&format!("{BASE}{}", NODES.replace("COUNT", "2")));
    let test = r#"
run "up" {
  save_checkpoint = "clean"
}

run "dirty" {
  exec "write" {
    instance = instance.node
    command  = "echo dirt > /root/dirt"
  }
}

run "reset" {
  restore_checkpoint = "clean"
  exec "clean" {
    instance  = instance.node
    command   = "test -e /root/dirt"
    exit_code = 1
  }
}
"#;
    std::fs::write(lab.dir.path().join("reset.hivetest.hcl"), test).expect("write");
    let r = lab.hive(&["test"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for run in ["up", "dirty", "reset"] {
        assert!(
            r.stdout.contains(&format!("run \"{run}\"... pass")),
            "{}",
            r.stdout
        );
    }
    lab.assert_clean();
    let left = std::fs::read_dir(lab.dir.path().join(".hive/test"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(
        left, 0,
        "nothing of the test's state or checkpoints is left"
    );
}
