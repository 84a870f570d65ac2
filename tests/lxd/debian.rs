//! The Debian image with real cloud-init, imported as a split image: user data writes a
//! file (checked with `lxc exec`), `wait_for = "cloud-init"` waits for it to finish, and
//! `hive ssh` logs in over SSH with hive's key.

use crate::lab::{exec, Lab};

const DEBIAN: &str = r##"
host "local" {}

bridge "lan" {
  host = host.local
  name = "PFX-br"
  cidr = "NET.1/24"
  dhcp {
    range = ["NET.100", "NET.200"]
  }
}

image "debian" {
  format = "lxd"
  host   = host.local
  source = "IMAGES/debian.meta.tar.gz"
  rootfs = "IMAGES/debian.rootfs.squashfs"
}

instance "deb" {
  driver = "lxd"
  host   = host.local
  image  = image.debian
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
    lab.write(DEBIAN);
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

    lab.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
}
