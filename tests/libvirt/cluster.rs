//! Three VMs: SSH into each; memory changes in place; a volume is hot-plugged; new user data
//! replaces; destroy leaves nothing.

use crate::lab::{Lab, BASE};

const CLUSTER: &str = r##"
variable "memory" {
  type    = string
  default = "512MiB"
}
variable "volumes" {
  type    = number
  default = 0
}
variable "user_data" {
  type    = string
  default = "#cloud-config\n"
}

volume "data" {
  count = var.volumes
  host  = host.local
  size  = "64MiB"
}

instance "node" {
  count  = 3
  driver = "libvirt"
  host   = host.local
  image  = image.tiny
  name   = "PFX-${count.index}"
  cpus   = 1
  memory = var.memory
  attach = count.index == 0 ? volume.data[*] : []
  network {
    bridge = bridge.net
    ip     = cidrhost("NET.0/24", 10 + count.index)
  }
  cloud_init {
    hostname  = "PFX-host-${count.index}"
    user_data = var.user_data
  }
  wait_for = "ssh"
}

output "ips" {
  value = instance.node[*].ip
}
"##;

#[test]
fn three_vms_over_ssh_then_update_hotplug_replace_and_destroy() {
    let lab = Lab::new("e2ec", 1);
    lab.write(&format!("{BASE}{CLUSTER}"));

    lab.ok(&["apply", "-auto-approve"]);
    let ips = lab.ok(&["output", "-json", "ips"]).stdout;
    for i in 0..3 {
        assert!(
            ips.contains(&format!("\"{}.{}\"", lab.net, 10 + i)),
            "{ips}"
        );
        let who = lab.ok(&["ssh", &format!("instance.node[{i}]"), "--", "hostname"]);
        assert_eq!(who.stdout.trim(), format!("e2ec-host-{i}"));
    }
    assert_eq!(lab.domains().len(), 3);
    let first_uuid = lab.uuid("e2ec-0");
    assert_eq!(
        lab.ok(&["plan", "-detailed-exitcode"]).code,
        0,
        "a second plan is empty"
    );

    // Memory: in place, and the plan says the guests restart.
    let plan = lab.hive(&["plan", "-var", "memory=640MiB"]);
    assert!(
        plan.stdout.contains("will be updated in place"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("restarts the guest"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    lab.ok(&["apply", "-auto-approve", "-var", "memory=640MiB"]);
    let info = crate::lab::virsh(&["dominfo", "e2ec-0"]);
    assert!(info.contains("655360 KiB"), "{info}");
    assert_eq!(lab.uuid("e2ec-0"), first_uuid, "updated, not replaced");

    // A volume: attached in place; the guest sees a disk.
    let args = ["-var", "memory=640MiB", "-var", "volumes=1"];
    let plan = lab.hive(&[&["plan"], &args[..]].concat());
    assert!(
        plan.stdout
            .contains("instance.node[0] will be updated in place"),
        "{}",
        plan.stdout
    );
    lab.ok(&[&["apply", "-auto-approve"], &args[..]].concat());
    assert_eq!(lab.uuid("e2ec-0"), first_uuid);
    let disks = lab.ok(&["ssh", "instance.node[0]", "--", "cat /proc/partitions"]);
    assert!(disks.stdout.contains("vda"), "{}", disks.stdout);
    // 3 seeds, no root disks (kernel boot); the data volume is named after its address.
    assert_eq!(lab.volumes().len(), 3, "{:?}", lab.volumes());
    let shown = lab.ok(&["state", "show", "volume.data[0]"]).stdout;
    let data_volume = shown
        .split('"')
        .find(|s| s.starts_with("/") && s.ends_with(".qcow2"))
        .expect("the volume's path")
        .to_string();
    assert!(crate::lab::virsh(&["vol-list", "hive"]).contains(&data_volume));

    // New user data: replacement, and the plan says which attribute forces it.
    let args = [
        "-var",
        "memory=640MiB",
        "-var",
        "volumes=1",
        "-var",
        "user_data=#cloud-config\nruncmd: [true]\n",
    ];
    let plan = lab.hive(&[&["plan"], &args[..]].concat());
    assert!(plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("# forces replacement"),
        "{}",
        plan.stdout
    );
    lab.ok(&[&["apply", "-auto-approve"], &args[..]].concat());
    assert_ne!(lab.uuid("e2ec-0"), first_uuid, "replaced");
    let who = lab.ok(&["ssh", "instance.node[2]", "--", "hostname"]);
    assert_eq!(who.stdout.trim(), "e2ec-host-2");

    lab.ok(&[&["destroy", "-auto-approve"], &args[..]].concat());
    lab.assert_clean();
    assert!(!crate::lab::virsh(&["vol-list", "hive"]).contains(&data_volume));
}

/// The example `make demo` boots, with its own names and subnet.
#[test]
fn the_example_cluster_boots_and_answers_ssh() {
    let lab = Lab::new("e2ex", 6);
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster");
    for entry in std::fs::read_dir(&example).expect("example").flatten() {
        if entry.path().extension().is_some_and(|e| e == "hcl") {
            std::fs::copy(entry.path(), lab.dir.path().join(entry.file_name())).expect("copy");
        }
    }
    let vars = ["-var", "prefix=e2ex", "-var", "subnet=10.231.6"];
    lab.ok(&[&["apply", "-auto-approve"], &vars[..]].concat());
    let mut domains = lab.domains();
    domains.sort();
    assert_eq!(domains, ["e2ex-0", "e2ex-1", "e2ex-2"]);
    assert_eq!(lab.networks(), ["e2ex"]);
    for i in 0..3 {
        let r = lab.ok(&["ssh", &format!("instance.node[{i}]"), "--", "hostname"]);
        assert_eq!(r.stdout.trim(), format!("e2ex-{i}"));
    }
    inventories_reach_every_node(&lab, "e2ex", 3);
    let again = lab.hive(&[&["plan", "-detailed-exitcode"], &vars[..]].concat());
    assert_eq!(again.code, 0, "{}", again.stdout);
    lab.ok(&[&["destroy", "-auto-approve"], &vars[..]].concat());
    lab.assert_clean();
}

/// hive's inventories reach every node: Ansible from `hive output -format ansible`, and
/// `ssh -F` with `-format ssh-config`.
pub fn inventories_reach_every_node(lab: &Lab, prefix: &str, n: usize) {
    let dir = lab.dir.path();
    let inventory = dir.join("inventory.yml");
    std::fs::write(&inventory, lab.ok(&["output", "-format", "ansible"]).stdout).expect("write");
    let said = crate::support::ansible_raw(&inventory, "hostname");
    let config = dir.join("ssh_config");
    std::fs::write(&config, lab.ok(&["output", "-format", "ssh-config"]).stdout).expect("write");
    for i in 0..n {
        let name = format!("{prefix}-{i}");
        assert!(
            said.contains(&format!("{name} | CHANGED | rc=0 >>\n{name}")),
            "{said}"
        );
        let answer = crate::support::ssh_with_config(&config, &name, "hostname");
        assert_eq!(answer.trim(), name);
    }
}

/// `hive test` on the example cluster: checks in the guests over SSH, a file whose runs
/// pass and one with a failing assertion and a failing in-guest check; the JUnit XML; and
/// nothing left in libvirt after either. Prints the time of bring-up, runs and teardown.
#[test]
fn hive_test_checks_the_example_cluster_inside_its_guests() {
    let lab = Lab::new("e2et", 7);
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster");
    for entry in std::fs::read_dir(&example).expect("example").flatten() {
        if entry.path().extension().is_some_and(|e| e == "hcl") {
            std::fs::copy(entry.path(), lab.dir.path().join(entry.file_name())).expect("copy");
        }
    }
    let vars = "variables {\n  prefix = \"e2et\"\n  subnet = \"10.231.7\"\n}\n\n";
    std::fs::write(
        lab.dir.path().join("up.hivetest.hcl"),
        format!(
            r#"{vars}run "up" {{
  assert {{
    condition     = length(instance.node) == 3
    error_message = "three nodes"
  }}
  exec "hostname" {{
    instance        = instance.node
    command         = "hostname"
    output_contains = "e2et-"
  }}
  exec "second" {{
    instance        = instance.node[1]
    command         = "hostname"
    output_contains = "e2et-1"
  }}
}}
"#
        ),
    )
    .expect("write");
    std::fs::create_dir_all(lab.dir.path().join("tests")).expect("mkdir");
    std::fs::write(
        lab.dir.path().join("tests/broken.hivetest.hcl"),
        format!(
            r#"{vars}run "wrong" {{
  assert {{
    condition     = length(instance.node) == 4
    error_message = "four nodes wanted"
  }}
  exec "missing" {{
    instance  = instance.node[0]
    command   = "test -e /nonexistent"
    exit_code = 0
  }}
}}
"#
        ),
    )
    .expect("write");
    let started = std::time::Instant::now();
    let junit = lab.dir.path().join("junit.xml");
    let r = lab.hive(&["test", "-junit-xml", &junit.display().to_string()]);
    let elapsed = started.elapsed();
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("run \"up\"... pass"), "{}", r.stdout);
    assert!(r.stdout.contains("run \"wrong\"... fail"), "{}", r.stdout);
    assert!(r.stdout.contains("four nodes wanted"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("exec \"missing\" in instance.node[0]: exit code 1, expected 0"),
        "{}",
        r.stdout
    );
    let xml = std::fs::read_to_string(&junit).expect("junit");
    let doc = roxmltree::Document::parse(&xml).expect("JUnit XML parses");
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .count(),
        2
    );
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("one failure");
    assert!(
        failure.text().is_some_and(|t| t.contains("exit code 1")),
        "{xml}"
    );
    lab.assert_clean();
    let times: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.contains("...") || l.contains("teardown"))
        .collect();
    eprintln!(
        "hive test of the three-VM example: {:.1}s in all: {times:?}",
        elapsed.as_secs_f64()
    );
}

/// Cluster checkpoints on the three-VM example: a file written in each guest after `hive
/// checkpoint save` is gone after `restore`, one written before is there (the tiny guests
/// keep their files in memory: the memory came back), SSH works and a plan is empty. Prints
/// the restore's time against destroy and apply.
#[test]
fn a_checkpoint_brings_three_vms_back_as_they_were() {
    let lab = Lab::new("e2ec", 8);
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster");
    for entry in std::fs::read_dir(&example).expect("example").flatten() {
        if entry.path().extension().is_some_and(|e| e == "hcl") {
            std::fs::copy(entry.path(), lab.dir.path().join(entry.file_name())).expect("copy");
        }
    }
    let vars = ["-var", "prefix=e2ec", "-var", "subnet=10.231.8"];
    let started = std::time::Instant::now();
    lab.ok(&[&["apply", "-auto-approve"], &vars[..]].concat());
    let apply = started.elapsed();
    let in_guest =
        |i: usize, command: &str| lab.hive(&["ssh", &format!("instance.node[{i}]"), "--", command]);
    for i in 0..3 {
        assert_eq!(in_guest(i, "echo kept > /root/before").code, 0);
    }
    let saved = lab.ok(&["checkpoint", "save", "clean"]);
    assert!(
        saved.stdout.contains("disks and memory"),
        "{}",
        saved.stdout
    );
    for i in 0..3 {
        assert_eq!(in_guest(i, "echo lost > /root/after").code, 0);
    }
    let started = std::time::Instant::now();
    lab.ok(&["checkpoint", "restore", "clean"]);
    let restore = started.elapsed();
    for i in 0..3 {
        let before = in_guest(i, "cat /root/before");
        assert_eq!(before.stdout, "kept\n", "{}", before.stderr);
        assert_ne!(
            in_guest(i, "test -e /root/after").code,
            0,
            "node {i}: /root/after is gone"
        );
        assert_eq!(in_guest(i, "hostname").stdout.trim(), format!("e2ec-{i}"));
    }
    let plan = lab.hive(&[&["plan", "-detailed-exitcode"], &vars[..]].concat());
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    lab.ok(&["checkpoint", "delete", "clean"]);
    let started = std::time::Instant::now();
    lab.ok(&[&["destroy", "-auto-approve"], &vars[..]].concat());
    let destroy = started.elapsed();
    lab.assert_clean();
    eprintln!(
        "checkpoint restore of 3 VMs: {:.1}s; destroy + apply instead: {:.1}s ({:.1}x)",
        restore.as_secs_f64(),
        (destroy + apply).as_secs_f64(),
        (destroy + apply).as_secs_f64() / restore.as_secs_f64()
    );
}
