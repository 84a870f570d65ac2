//! NICs added to and removed from a running guest: in place (hot-plugged, or a restart when
//! the guest refuses), never a replacement; the guest sees the change. The NICs come from a
//! `dynamic "network"` block over a variable, so its value is how many the guest has.

use crate::lab::{virsh, Lab, BASE};

const VM: &str = r#"
variable "nics" {
  type    = number
  default = 1
}

instance "vm" {
  driver = "libvirt"
  host   = host.local
  image  = image.tiny
  name   = "PFX-vm"
  type   = "t3.nano"
  dynamic "network" {
    for_each = range(var.nics)
    content {
      bridge = bridge.net
    }
  }
  wait_for = "ssh"
}
"#;

fn with(nics: usize) -> [String; 2] {
    ["-var".to_string(), format!("nics={nics}")]
}

/// The NICs libvirt gives the domain.
fn domain_nics(name: &str) -> usize {
    virsh(&["domiflist", name])
        .lines()
        .filter(|l| l.contains("network") || l.contains("bridge"))
        .count()
}

/// How long a guest may take to see a NIC come or go.
const SEEN: std::time::Duration = std::time::Duration::from_secs(60);

#[test]
fn nics_are_added_and_removed_in_place() {
    let lab = Lab::new("e2en", 12);
    lab.write(&format!("{BASE}{VM}"));
    let run = |args: &[&str], nics: usize| {
        let vars = with(nics);
        let mut all: Vec<&str> = args.to_vec();
        all.extend(vars.iter().map(String::as_str));
        lab.ok(&all)
    };
    run(&["apply", "-auto-approve"], 1);
    let uuid = lab.uuid("e2en-vm");
    let nics = |lab: &Lab| {
        lab.ok(&["ssh", "instance.vm", "--", "ls /sys/class/net"])
            .stdout
            .split_whitespace()
            .filter(|n| n.starts_with("eth"))
            .count()
    };
    assert_eq!(nics(&lab), 1);
    assert_eq!(domain_nics("e2en-vm"), 1);

    let plan = run(&["plan"], 2).stdout;
    assert!(
        plan.contains("instance.vm will be updated in place"),
        "{plan}"
    );
    assert!(plan.contains("hot-plugs"), "{plan}");
    run(&["apply", "-auto-approve"], 2);
    assert_eq!(lab.uuid("e2en-vm"), uuid, "the same domain");
    assert_eq!(
        domain_nics("e2en-vm"),
        2,
        "as many NICs as the variable says"
    );
    // The guest's kernel takes in a hot-plugged device in its own time (slowly under TCG).
    crate::support::eventually("the guest sees its second NIC", SEEN, || nics(&lab) == 2);
    assert_eq!(run(&["plan", "-detailed-exitcode"], 2).code, 0);

    run(&["apply", "-auto-approve"], 1);
    assert_eq!(lab.uuid("e2en-vm"), uuid);
    crate::support::eventually("the guest sees one NIC again", SEEN, || nics(&lab) == 1);

    lab.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
}
