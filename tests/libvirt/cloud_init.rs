//! The Debian guest with real cloud-init: hive's seed (hostname, keys) and the user's
//! `user_data` are both applied, checked over SSH.

use crate::lab::{Lab, BASE};
use std::path::Path;

pub const DEBIAN: &str = "/var/cache/hive-test/debian/current";

#[test]
fn user_data_is_applied_by_real_cloud_init() {
    let lab = Lab::new("e2eu", 9);
    assert!(
        Path::new(DEBIAN).join("debian.qcow2").exists(),
        "no Debian test guest at {DEBIAN}: run `bash lab/setup.sh`"
    );
    // The lab's host and bridge (and its tiny image, unused here).
    let hcl = r##"
image "debian" {
  host    = host.local
  source  = "DEBIAN/debian.qcow2"
  kernel  = "DEBIAN/vmlinuz"
  initrd  = "DEBIAN/initrd.img"
  cmdline = "root=/dev/vda console=ttyS0"
}

instance "vm" {
  driver = "libvirt"
  host   = host.local
  image  = image.debian
  name   = "PFX-vm"
  type   = "t3.micro"
  disk {
    size = "3GiB"
  }
  network {
    bridge = bridge.net
  }
  cloud_init {
    hostname  = "PFX-debian"
    user_data = <<-EOT
      #cloud-config
      write_files:
        - path: /root/written-by-cloud-init
          content: "hello from user data\n"
    EOT
  }
  wait_for     = "ssh"
  wait_timeout = "10m"
}
"##
    .replace("DEBIAN", DEBIAN);
    lab.write(&format!("{BASE}{hcl}"));
    lab.ok(&["apply", "-auto-approve"]);
    // SSH answers before cloud-init has run its last stage: wait for it in the guest.
    let done = lab.ok(&[
        "ssh",
        "instance.vm",
        "--",
        "cloud-init status --wait >/dev/null; cloud-init status",
    ]);
    assert!(done.stdout.contains("done"), "{}", done.stdout);
    let file = lab.ok(&[
        "ssh",
        "instance.vm",
        "--",
        "cat /root/written-by-cloud-init",
    ]);
    assert_eq!(file.stdout, "hello from user data\n");
    let name = lab.ok(&["ssh", "instance.vm", "--", "hostname"]);
    assert_eq!(name.stdout.trim(), "e2eu-debian");
    // The root disk is an overlay grown to the size asked for.
    let size = lab.ok(&["ssh", "instance.vm", "--", "cat /sys/block/vda/size"]);
    assert_eq!(size.stdout.trim(), (3u64 << 30 >> 9).to_string());
    lab.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
}
