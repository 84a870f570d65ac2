//! A tiny libvirt guest on a Linux bridge hive owns (in the root namespace, where libvirtd
//! is, on a uniquely named bridge and a test subnet): it gets its reserved address from
//! hive's dnsmasq and answers SSH; destroy removes the bridge and its dnsmasq.

use crate::lab::Lab;
use std::path::Path;
use std::process::Command;

#[test]
fn a_guest_on_a_linux_bridge_gets_its_reserved_address() {
    let lab = Lab::new("e2eb", 11);
    lab.write(
        r#"
host "local" {}

bridge "lan" {
  host = host.local
  name = "PFX-br"
  cidr = "NET.1/24"
  dhcp {
    range = ["NET.100", "NET.200"]
  }
}

image "tiny" {
  host    = host.local
  format  = "kernel"
  kernel  = "TINY/vmlinuz"
  initrd  = "TINY/initrd.img"
  cmdline = "console=ttyS0 quiet"
}

instance "vm" {
  driver = "libvirt"
  host   = host.local
  image  = image.tiny
  name   = "PFX-vm"
  type   = "t3.nano"
  network {
    bridge = bridge.lan
    ip     = "NET.42"
  }
  wait_for     = "ssh"
  wait_timeout = "2m"
}
"#,
    );
    lab.ok(&["apply", "-auto-approve"]);
    let shown = lab.ok(&["state", "show", "instance.vm"]).stdout;
    assert!(
        shown.contains("10.231.11.42"),
        "the reserved address: {shown}"
    );
    let who = lab.ok(&["ssh", "instance.vm", "--", "ip -4 addr show eth0"]);
    assert!(who.stdout.contains("10.231.11.42"), "{}", who.stdout);
    assert_eq!(lab.hive(&["plan", "-detailed-exitcode"]).code, 0);

    lab.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
    let link = Command::new("ip")
        .args(["link", "show", "dev", "e2eb-br"])
        .output()
        .expect("ip runs");
    assert!(!link.status.success(), "the bridge is gone");
    assert!(!Path::new("/var/lib/hive/bridges/e2eb-br").exists());
}
