//! libvirt guests on a remote lab host: its libvirtd reached over libvirt's SSH transport,
//! the image copied to it over SFTP (resumed, checked by digest), the guest's lease read on
//! the host and its SSH reached through the host. Checked on the host with its own tools,
//! over SSH.

use super::{host_block, hosts, on, remove_leftovers, KNOWN, TINY, TINY_ON_A};
use crate::support::Workdir;

fn config(address: &str) -> String {
    format!(
        "{}{}",
        host_block("a", address, KNOWN, ""),
        r#"
bridge "lan" {
  host = host.a
  name = "hvr-vmlan"
  cidr = "10.232.10.1/24"
  dhcp {
    range = ["10.232.10.100", "10.232.10.150"]
  }
  nat = false
}

TINY_ON_A

instance "vm" {
  driver = "libvirt"
  host   = host.a
  image  = image.tiny
  name   = "hvr-vm"
  type   = "t3.nano"
  network {
    bridge = bridge.lan
  }
  wait_for     = "ssh"
  wait_timeout = "3m"
}
"#
        .replace("TINY_ON_A", TINY_ON_A)
    )
}

fn sha256_of(path: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

/// The directory of the host's storage pool `hive`, as a shell expression run there.
const POOL: &str = "$(virsh -q pool-dumpxml hive | sed -n 's:.*<path>\\(.*\\)</path>.*:\\1:p')";

/// What a failed earlier run left of the guest on the host.
fn remove_guest_leftovers(address: &str) {
    on(
        address,
        &format!(
            "virsh -q destroy hvr-vm 2>/dev/null; virsh -q undefine hvr-vm 2>/dev/null; \
             rm -f {POOL}/hvr-vm-* /var/lib/hive/console/hvr-vm.log; \
             virsh -q pool-refresh hive >/dev/null 2>&1; true"
        ),
    );
    remove_leftovers(address, "hvr-vmlan");
}

#[test]
fn a_guest_on_a_remote_host_over_ssh_only() {
    let (_turn, hosts) = hosts();
    let a = &hosts[0];
    remove_guest_leftovers(&a.1);
    let kernel_digest = sha256_of(&format!("{TINY}/vmlinuz"));
    let initrd_digest = sha256_of(&format!("{TINY}/initrd.img"));
    // An earlier copy of the kernel, cut short: picked up where it stopped. One of the
    // initrd that went wrong: its digest refuses it, and the next apply starts over.
    let prefix = on(
        &a.1,
        &format!(
            "rm -f {POOL}/kernel-{kernel_digest} {POOL}/initrd-{initrd_digest}; \
             mkdir -p /var/lib/hive/tmp && head -c 1000000 {TINY}/vmlinuz > /var/lib/hive/tmp/.kernel-{kernel_digest}.part && \
             head -c 500000 /dev/zero > /var/lib/hive/tmp/.initrd-{initrd_digest}.part && virsh -q pool-refresh hive"
        ),
    );
    assert_eq!(prefix.0, 0, "{}", prefix.1);

    let w = Workdir::new(vec![("TINY", TINY.to_string())]);
    w.write(&config(&a.1));
    let first = w.hive(&["apply", "-auto-approve"]);
    assert_eq!(first.code, 1, "the bad partial copy: {}", first.stderr);
    assert!(
        first.stderr.contains(&format!("not {initrd_digest}")),
        "{}",
        first.stderr
    );
    w.ok(&["apply", "-auto-approve"]);

    // The guest runs on host a, per host a's libvirtd, and nowhere else.
    let (_, listed) = on(&a.1, "virsh -q list --name");
    assert!(listed.lines().any(|l| l.trim() == "hvr-vm"), "{listed}");
    assert!(
        !std::process::Command::new("virsh")
            .args(["-c", "qemu:///system", "-q", "dominfo", "hvr-vm"])
            .output()
            .expect("virsh runs")
            .status
            .success(),
        "not on this machine"
    );
    // The images were copied whole: their digests on the host are the files'.
    let (_, sums) = on(&a.1, &format!("cd {POOL} && sha256sum kernel-* initrd-*"));
    assert!(
        sums.contains(&format!("{kernel_digest}  kernel-{kernel_digest}"))
            && sums.contains(&format!("{initrd_digest}  initrd-{initrd_digest}")),
        "{sums}"
    );
    let (_, parts) = on(&a.1, "ls -A /var/lib/hive/tmp");
    assert!(!parts.contains(".part"), "no partial copy left: {parts}");

    // Its address came from the bridge's dnsmasq on host a; SSH reaches it through the host.
    let shown = w.ok(&["state", "show", "instance.vm"]).stdout;
    assert!(shown.contains("10.232.10."), "{shown}");
    let inside = w.ok(&["ssh", "instance.vm", "--", "ip -4 addr show eth0"]);
    assert!(inside.stdout.contains("10.232.10."), "{}", inside.stdout);
    assert!(
        inside
            .stderr
            .contains(&format!("through host root@{}", a.1)),
        "{}",
        inside.stderr
    );
    // The inventories go through the host too.
    let inventory = w.dir.path().join("inventory.yml");
    std::fs::write(&inventory, w.ok(&["output", "-format", "ansible"]).stdout).expect("write");
    let said = crate::support::ansible_raw(&inventory, "ip -4 addr show eth0");
    assert!(
        said.contains("hvr-vm | CHANGED | rc=0") && said.contains("10.232.10."),
        "{said}"
    );
    let config = w.dir.path().join("ssh_config");
    std::fs::write(&config, w.ok(&["output", "-format", "ssh-config"]).stdout).expect("write");
    let answer = crate::support::ssh_with_config(&config, "hvr-vm", "ip -4 addr show eth0");
    assert!(answer.contains("10.232.10."), "{answer}");
    assert_eq!(
        w.ok(&["plan", "-detailed-exitcode"]).code,
        0,
        "nothing to do"
    );

    w.ok(&["destroy", "-auto-approve"]);
    let (_, left) = on(
        &a.1,
        &format!("virsh -q list --all --name | grep hvr-vm; ls {POOL} | grep hvr-vm; ls /var/lib/hive/console | grep hvr-vm; ip link show dev hvr-vmlan 2>/dev/null; true"),
    );
    assert_eq!(left.trim(), "", "nothing of it is left on host a");
}
