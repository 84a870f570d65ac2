//! `examples/containers`, as a user runs it: a libvirt VM and LXD containers on one Linux
//! bridge hive owns reach each other, both ways; destroy leaves nothing.

use crate::lab::{exec, Lab};

#[test]
fn the_containers_example_vm_and_containers_reach_each_other() {
    let lab = Lab::new("e2ex", 7);
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/containers/main.hive.hcl"
    );
    std::fs::copy(example, lab.dir.path().join("main.hive.hcl")).expect("copy the example");
    let vars = ["-var", "prefix=e2ex", "-var", "subnet=10.233.7"];
    let apply: Vec<&str> = ["apply", "-auto-approve"]
        .iter()
        .chain(&vars)
        .copied()
        .collect();
    lab.ok(&apply);

    let vm_ip = lab
        .ok(&["output", "--raw", "vm_ip"])
        .stdout
        .trim()
        .to_string();
    let box_ip = lab
        .ok(&["output", "--raw", "box0_ip"])
        .stdout
        .trim()
        .to_string();
    assert_eq!(
        (vm_ip.as_str(), box_ip.as_str()),
        ("10.233.7.10", "10.233.7.20")
    );
    assert_eq!(lab.names(), ["e2ex-box-0", "e2ex-box-1"]);

    // The VM pings a container (over SSH into the VM) ...
    let from_vm = lab.hive(&[
        "ssh",
        "instance.vm",
        "--",
        "ping",
        "-c",
        "1",
        "-W",
        "3",
        &box_ip,
    ]);
    assert_eq!(from_vm.code, 0, "{}\n{}", from_vm.stdout, from_vm.stderr);
    // ... and a container pings the VM (checked with lxc, not through hive).
    let (code, out) = exec("e2ex-box-0", &["ping", "-c", "1", "-W", "3", &vm_ip]);
    assert_eq!(code, 0, "{out}");

    let destroy: Vec<&str> = ["destroy", "-auto-approve"]
        .iter()
        .chain(&vars)
        .copied()
        .collect();
    lab.ok(&destroy);
    lab.assert_clean();
    let domains = std::process::Command::new("virsh")
        .args(["-c", "qemu:///system", "list", "--all", "--name"])
        .output()
        .expect("virsh runs");
    assert!(
        !String::from_utf8_lossy(&domains.stdout).contains("e2ex-vm"),
        "the VM is left"
    );
}
