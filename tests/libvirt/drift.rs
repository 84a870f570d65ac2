//! Changes made with virsh behind hive's back are found by plan and undone by apply; a
//! domain made elsewhere is adopted with `hive import`.

use crate::lab::{virsh, virsh_status, Lab, BASE};

const ONE: &str = r##"
instance "node" {
  driver = "libvirt"
  host   = host.local
  image  = image.tiny
  name   = "PFX-0"
  type   = "t3.nano"
  network {
    bridge = bridge.net
  }
  wait_for = "running"
}
"##;

#[test]
fn memory_power_and_deletion_outside_hive_are_drift() {
    let lab = Lab::new("e2ed", 3);
    lab.write(&format!("{BASE}{ONE}"));
    lab.ok(&["apply", "-auto-approve"]);

    // Memory changed with virsh.
    assert!(virsh_status(&["setmaxmem", "e2ed-0", "786432", "--config"]));
    let plan = lab.hive(&["plan", "-detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}\n{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("memory"), "{}", plan.stdout);
    assert!(plan.stdout.contains("768MiB"), "{}", plan.stdout);
    assert!(plan.stdout.contains("updated in place"), "{}", plan.stdout);
    lab.ok(&["apply", "-auto-approve"]);
    assert!(virsh(&["dominfo", "e2ed-0"]).contains("524288 KiB"));
    // Only the memory the guest gets, lowered with `virsh setmem`.
    assert!(virsh_status(&["setmem", "e2ed-0", "393216", "--config"]));
    let plan = lab.hive(&["plan", "-detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}\n{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("384MiB"), "{}", plan.stdout);
    lab.ok(&["apply", "-auto-approve"]);
    assert_eq!(lab.hive(&["plan", "-detailed-exitcode"]).code, 0);

    // Stopped with virsh: planned to start.
    assert!(virsh_status(&["destroy", "e2ed-0"]));
    let plan = lab.hive(&["plan"]);
    assert!(plan.stdout.contains("power"), "{}", plan.stdout);
    lab.ok(&["apply", "-auto-approve"]);
    assert!(virsh(&["domstate", "e2ed-0"]).contains("running"));

    // Deleted with virsh: planned for creation again.
    assert!(virsh_status(&["destroy", "e2ed-0"]));
    assert!(virsh_status(&["undefine", "e2ed-0"]));
    let plan = lab.hive(&["plan"]);
    assert!(
        plan.stdout.contains("instance.node will be created"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("deleted outside hive"),
        "{}",
        plan.stdout
    );
    lab.ok(&["apply", "-auto-approve"]);
    assert_eq!(lab.domains(), ["e2ed-0"]);
    assert_eq!(lab.hive(&["plan", "-detailed-exitcode"]).code, 0);

    // A domain cannot be made beside its namesake: create_before_destroy is refused at plan.
    lab.write(&format!(
        "{BASE}{}",
        ONE.replace(
            "  wait_for = \"running\"",
            "  wait_for = \"running\"\n  lifecycle {\n    create_before_destroy = true\n  }"
        )
    ));
    let refused = lab.hive(&["plan", "-replace", "instance.node"]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    let said = refused
        .stderr
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        said.contains("instance.node cannot be replaced create-before-destroy"),
        "{said}"
    );
    lab.write(&format!("{BASE}{ONE}"));

    lab.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
}

#[test]
fn import_adopts_a_domain_made_with_virsh() {
    let lab = Lab::new("e2ei", 4);
    let xml = "<domain type='qemu'><name>e2ei-made</name><memory unit='MiB'>256</memory>\
               <vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os></domain>";
    let file = lab.dir.path().join("made.xml");
    std::fs::write(&file, xml).expect("write xml");
    assert!(virsh_status(&["define", &file.to_string_lossy()]));
    lab.write(
        r#"
instance "made" {
  driver = "libvirt"
  name   = "e2ei-made"
  memory = "256MiB"
  power  = "stopped"
}
"#,
    );
    let imported = lab.hive(&["import", "instance.made", "e2ei-made"]);
    assert_eq!(imported.code, 0, "{}\n{}", imported.stdout, imported.stderr);
    let shown = lab.ok(&["state", "show", "instance.made"]).stdout;
    assert!(shown.contains(&lab.uuid("e2ei-made")), "{shown}");
    assert!(shown.contains("256MiB"), "{shown}");
    // It matches its configuration: nothing to do, and above all no replacement.
    let plan = lab.hive(&["plan", "-detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    // A second import of the same address is refused: it is already managed.
    let twice = lab.hive(&["import", "instance.made", "e2ei-made"]);
    assert_ne!(twice.code, 0);
    // Its memory follows the configuration, in place, and it keeps what hive did not make.
    lab.write(
        r#"
instance "made" {
  driver = "libvirt"
  name   = "e2ei-made"
  memory = "320MiB"
  power  = "stopped"
}
"#,
    );
    let plan = lab.ok(&["plan"]).stdout;
    assert!(
        plan.contains("instance.made will be updated in place"),
        "{plan}"
    );
    let uuid = lab.uuid("e2ei-made");
    lab.ok(&["apply", "-auto-approve"]);
    assert!(virsh(&["dominfo", "e2ei-made"]).contains("327680 KiB"));
    assert_eq!(
        lab.uuid("e2ei-made"),
        uuid,
        "the same domain, not a new one"
    );
    lab.ok(&["destroy", "-auto-approve"]);
    assert!(
        lab.domains().is_empty(),
        "destroy removes the imported domain"
    );
}
