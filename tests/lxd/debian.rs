//! The Debian image with real cloud-init, imported as a split image: user data writes a
//! file (checked with `lxc exec`), `wait_for = "cloud-init"` waits for it to finish, and
//! `hive ssh` logs in over SSH with hive's key. Another image then replaces the instance.

use crate::lab::{config_key, exec, fingerprint, Lab, BASE, IMAGES};

const DEBIAN: &str = r##"
image "debian" {
  format = "lxd"
  host   = host.local
  source = "IMAGES/debian.meta.tar.gz"
  rootfs = "IMAGES/debian.rootfs.squashfs"
}

instance "deb" {
  driver = "lxd"
  host   = host.local
  image  = image.THE_IMAGE
  name   = "PFX-deb"
  network {
    bridge = bridge.lan
    ip     = "NET.50"
  }
  cloud_init {
    user_data = <<-EOT
      #cloud-config
      write_files:
        - path: /root/hello
          content: "written by cloud-init for hive\n"
    EOT
  }
  wait_for = "cloud-init"
}
"##;

#[test]
fn cloud_init_user_data_writes_a_file_and_ssh_logs_in() {
    let lab = Lab::new("e2ed", 2);
    lab.write(&format!("{BASE}{DEBIAN}").replace("THE_IMAGE", "debian"));
    let applied = lab.ok(&["apply", "-auto-approve"]);
    assert!(
        applied.stdout.contains("cloud-init done after"),
        "{}",
        applied.stdout
    );
    let (code, hello) = exec("e2ed-deb", &["cat", "/root/hello"]);
    assert_eq!(code, 0, "no /root/hello");
    assert_eq!(hello, "written by cloud-init for hive\n");
    let (_, status) = exec("e2ed-deb", &["cloud-init", "status"]);
    assert!(status.contains("done"), "{status}");
    let (_, addr) = exec("e2ed-deb", &["ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(
        addr.contains(&format!("{}.50/", lab.net)),
        "reserved address not used: {addr}"
    );

    // The instance answers SSH with hive's key: hive ssh goes that way, and says so.
    let ssh = lab.hive(&["ssh", "instance.deb", "--", "cat", "/root/hello"]);
    assert_eq!(ssh.code, 0, "{}", ssh.stderr);
    assert_eq!(ssh.stdout, "written by cloud-init for hive\n");
    assert!(ssh.stderr.contains("over SSH"), "{}", ssh.stderr);

    // Ansible reaches it from hive's inventory, with a real module (the image has Python).
    let inventory = lab.dir.path().join("inventory.yml");
    std::fs::write(&inventory, lab.ok(&["output", "-format", "ansible"]).stdout).expect("write");
    let said =
        crate::support::ansible_module(&inventory, "ansible.builtin.command", "cat /root/hello");
    assert!(
        said.contains("e2ed-deb | CHANGED | rc=0 >>\nwritten by cloud-init for hive"),
        "{said}"
    );

    // Another image replaces the instance: a new container, made from the busybox image.
    let debian_uuid = config_key("e2ed-deb", "volatile.uuid");
    lab.write(
        &format!("{BASE}{DEBIAN}")
            .replace("THE_IMAGE", "busybox")
            .replace("\"cloud-init\"", "\"ip\""),
    );
    let plan = lab.ok(&["plan"]).stdout;
    assert!(plan.contains("must be replaced"), "{plan}");
    assert!(plan.contains("forces replacement"), "{plan}");
    lab.ok(&["apply", "-auto-approve"]);
    let busybox = fingerprint(&[&format!("{IMAGES}/busybox.tar.gz")]);
    assert_eq!(config_key("e2ed-deb", "volatile.base_image"), busybox);
    assert_ne!(config_key("e2ed-deb", "volatile.uuid"), debian_uuid);

    lab.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
}
