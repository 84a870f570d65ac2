//! NICs added to and removed from a running guest: in place (hot-plugged, or a restart when
//! the guest refuses), never a replacement; the guest sees the change.

use crate::lab::{Lab, BASE};

fn config(nics: usize) -> String {
    let extra = "  network {\n    bridge = bridge.net\n  }\n".repeat(nics - 1);
    format!(
        "{BASE}\ninstance \"vm\" {{\n  driver = \"libvirt\"\n  host = host.local\n  image = image.tiny\n  name = \"PFX-vm\"\n  type = \"t3.nano\"\n  network {{\n    bridge = bridge.net\n  }}\n{extra}  wait_for = \"ssh\"\n}}\n"
    )
}

/// How long a guest may take to see a NIC come or go.
const SEEN: std::time::Duration = std::time::Duration::from_secs(60);

#[test]
fn nics_are_added_and_removed_in_place() {
    let lab = Lab::new("e2en", 12);
    lab.write(&config(1));
    lab.ok(&["apply", "-auto-approve"]);
    let uuid = lab.uuid("e2en-vm");
    let nics = |lab: &Lab| {
        lab.ok(&["ssh", "instance.vm", "--", "ls /sys/class/net"])
            .stdout
            .split_whitespace()
            .filter(|n| n.starts_with("eth"))
            .count()
    };
    assert_eq!(nics(&lab), 1);

    lab.write(&config(2));
    let plan = lab.ok(&["plan"]).stdout;
    assert!(
        plan.contains("instance.vm will be updated in place"),
        "{plan}"
    );
    assert!(plan.contains("hot-plugs"), "{plan}");
    lab.ok(&["apply", "-auto-approve"]);
    assert_eq!(lab.uuid("e2en-vm"), uuid, "the same domain");
    // The guest's kernel takes in a hot-plugged device in its own time (slowly under TCG).
    crate::support::eventually("the guest sees its second NIC", SEEN, || nics(&lab) == 2);
    assert_eq!(lab.hive(&["plan", "-detailed-exitcode"]).code, 0);

    lab.write(&config(1));
    lab.ok(&["apply", "-auto-approve"]);
    assert_eq!(lab.uuid("e2en-vm"), uuid);
    crate::support::eventually("the guest sees one NIC again", SEEN, || nics(&lab) == 1);

    lab.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
}
