//! Three busybox containers on a Linux bridge made by hive: addresses, ping, a volume, a
//! memory limit and a NIC changed in place, drift (stopped, deleted, a limit and a device
//! changed) repaired, and a destroy that leaves nothing hive made.

use crate::lab::{
    config_key, exec, fingerprint, forget_image, images, ipv4, kernel_memory_limit, lxc,
    lxc_status, Lab, BASE, IMAGES,
};

const THREE: &str = r##"
volume "e2el_data" {
  driver = "lxd"
  host   = host.local
  size   = "VOLUME_SIZE"
}

instance "node" {
  count  = 3
  driver = "lxd"
  host   = host.local
  image  = image.busybox
  name   = "PFX-${count.index}"
  memory = "MEMORY"
  disk {
    size = "DISK_SIZE"
  }
  attach = count.index == 0 ? [volume.e2el_data] : []
  network {
    bridge = bridge.lan
  }
  SECOND_NIC
  wait_for = "ip"
}

output "ips" { value = instance.node[*].ip }
"##;

/// The cluster with this memory limit, its volume and root disks grown (64 MiB to 128 MiB,
/// 512 MiB to 1 GiB) or not, and a second NIC or not.
fn config(memory: &str, grown: bool, second_nic: bool) -> String {
    let nic = if second_nic {
        "network {\n    bridge = bridge.lan\n  }"
    } else {
        ""
    };
    format!("{BASE}{THREE}")
        .replace("MEMORY", memory)
        .replace("VOLUME_SIZE", if grown { "128MiB" } else { "64MiB" })
        .replace("DISK_SIZE", if grown { "1GiB" } else { "512MiB" })
        .replace("SECOND_NIC", nic)
}

/// The volume's size and e2el-0's root disk size, as LXD has them.
fn sizes(volume: &str) -> (String, String) {
    (
        lxc(&["storage", "volume", "get", "default", volume, "size"])
            .trim()
            .to_string(),
        lxc(&["config", "device", "get", "e2el-0", "root", "size"])
            .trim()
            .to_string(),
    )
}

#[test]
fn three_containers_on_a_hive_bridge_reach_each_other_then_change_in_place() {
    let lab = Lab::new("e2el", 1);
    let busybox = fingerprint(&[&format!("{IMAGES}/busybox.tar.gz")]);
    // So that this test sees hive import it, and remove it again.
    forget_image(&busybox);
    lab.write(&config("128MiB", false, false));
    let applied = lab.ok(&["apply", "-auto-approve"]);
    assert!(images().contains(&busybox), "image not imported");

    let instances = lab.instances();
    assert_eq!(lab.names(), ["e2el-0", "e2el-1", "e2el-2"]);
    let mut ips = Vec::new();
    for i in &instances {
        assert_eq!(i["status"], "Running", "{}", i["name"]);
        let mine = ipv4(i);
        assert_eq!(mine.len(), 1, "{}: {mine:?}", i["name"]);
        assert!(mine[0].starts_with(&format!("{}.", lab.net)), "{mine:?}");
        assert!(
            applied.stdout.contains(&mine[0]),
            "output lacks {}",
            mine[0]
        );
        ips.push(mine[0].clone());
    }
    for (i, name) in lab.names().iter().enumerate() {
        let other = &ips[(i + 1) % ips.len()];
        let (code, out) = exec(name, &["ping", "-c", "1", "-W", "3", other]);
        assert_eq!(code, 0, "{name} cannot ping {other}: {out}");
    }
    // The volume is mounted in the first container, and only there.
    let (code, _) = exec("e2el-0", &["sh", "-c", "echo kept > /mnt/$(ls /mnt)/file"]);
    assert_eq!(code, 0, "volume not writable in e2el-0");
    assert_eq!(lab.volumes().len(), 1);
    let volume = &lab.volumes()[0];
    assert_eq!(sizes(volume), ("64MiB".into(), "512MiB".into()));
    let (code, listing) = exec("e2el-1", &["sh", "-c", "ls /mnt 2>/dev/null; true"]);
    assert!(
        code == 0 && listing.trim().is_empty(),
        "e2el-1 has {listing}"
    );
    assert_eq!(
        lab.hive(&["plan", "-detailed-exitcode"]).code,
        0,
        "a second plan should have nothing to do"
    );

    // A new memory limit and bigger disks are updates in place: same container, still
    // running, same volume.
    let before = config_key("e2el-1", "volatile.uuid");
    lab.write(&config("192MiB", true, false));
    let plan = lab.ok(&["plan"]).stdout;
    assert!(plan.contains("updated in place"), "{plan}");
    assert!(plan.contains("\"128MiB\" -> \"192MiB\""), "{plan}");
    assert!(plan.contains("\"64MiB\" -> \"128MiB\""), "{plan}");
    assert!(plan.contains("\"512MiB\" -> \"1GiB\""), "{plan}");
    assert!(
        plan.contains("Plan: 0 to add, 4 to change, 0 to destroy."),
        "{plan}"
    );
    lab.ok(&["apply", "-auto-approve"]);
    assert_eq!(
        lab.volumes(),
        std::slice::from_ref(volume),
        "the volume was replaced"
    );
    assert_eq!(sizes(volume), ("128MiB".into(), "1024MiB".into()));
    let (_, kept) = exec("e2el-0", &["sh", "-c", "cat /mnt/*/file"]);
    assert_eq!(kept, "kept\n", "the volume's data after growing it");
    assert_eq!(config_key("e2el-1", "limits.memory"), "192MiB");
    assert_eq!(
        config_key("e2el-1", "volatile.uuid"),
        before,
        "the container was replaced"
    );
    assert_eq!(
        kernel_memory_limit("e2el-1"),
        (192u64 << 20).to_string(),
        "the kernel's limit on the running container"
    );

    // A second NIC appears in the running container, in place.
    lab.write(&config("192MiB", true, true));
    lab.ok(&["apply", "-auto-approve"]);
    assert_eq!(
        config_key("e2el-1", "volatile.uuid"),
        before,
        "the container was replaced"
    );
    let (code, _) = exec("e2el-1", &["ip", "link", "show", "eth1"]);
    assert_eq!(code, 0, "no eth1 in e2el-1");
    lab.write(&config("192MiB", true, false));
    lab.ok(&["apply", "-auto-approve"]);
    let (code, _) = exec("e2el-1", &["ip", "link", "show", "eth1"]);
    assert_ne!(code, 0, "eth1 still in e2el-1");

    // Drift: one stopped and its volume detached, one deleted, one's limit changed behind
    // hive's back.
    assert!(lxc_status(&["stop", "--force", "e2el-0"]));
    assert!(lxc_status(&["delete", "--force", "e2el-1"]));
    assert!(lxc_status(&[
        "config",
        "set",
        "e2el-2",
        "limits.memory",
        "300MiB"
    ]));
    let volume_device = format!("vol-{}", lab.volumes()[0]);
    assert!(lxc_status(&[
        "config",
        "device",
        "remove",
        "e2el-0",
        &volume_device
    ]));
    let plan = lab.ok(&["plan"]).stdout;
    assert!(plan.contains("devices were changed outside hive"), "{plan}");
    assert!(plan.contains("instance.node[1] will be created"), "{plan}");
    assert!(plan.contains("\"300MiB\" -> \"192MiB\""), "{plan}");
    assert!(plan.contains("\"stopped\""), "{plan}");
    lab.ok(&["apply", "-auto-approve"]);
    for i in lab.instances() {
        assert_eq!(i["status"], "Running", "{}", i["name"]);
    }
    assert_eq!(config_key("e2el-2", "limits.memory"), "192MiB");
    // The volume is back in e2el-0, with what was written on it.
    let (_, kept) = exec("e2el-0", &["sh", "-c", "cat /mnt/*/file"]);
    assert_eq!(kept, "kept\n", "the volume's data in e2el-0");
    assert_eq!(lab.hive(&["plan", "-detailed-exitcode"]).code, 0);

    // hive ssh on a container without an SSH server goes through LXD exec, and says so.
    let ssh = lab.hive(&["ssh", "instance.node[2]", "--", "hostname"]);
    assert_eq!(ssh.code, 0, "{}", ssh.stderr);
    assert_eq!(ssh.stdout.trim(), "e2el-2");
    assert!(ssh.stderr.contains("using LXD exec"), "{}", ssh.stderr);

    lab.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
    // The image hive imported goes too, unless someone else's container was made from it.
    let used_elsewhere = lxc(&["list", "--format", "json"]).contains(&busybox);
    assert_eq!(
        images().contains(&busybox),
        used_elsewhere,
        "the image hive imported is left (or removed while in use)"
    );
}
