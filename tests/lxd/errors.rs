//! Bad input: a file that is not an LXD image, an unknown storage pool, a daemon that is not
//! there, `kind = "vm"` where LXD cannot run VMs, and waiting for cloud-init where there is
//! none. Each error names the resource and
//! what went wrong, and nothing is made.

use crate::lab::{both, says, Lab, BASE};

#[test]
fn a_file_that_is_not_an_lxd_image_is_refused_by_name() {
    let lab = Lab::new("e2ee", 4);
    std::fs::write(lab.dir.path().join("notes.txt"), "not an image\n").expect("write");
    lab.write(
        r#"
host "local" {}

image "bogus" {
  format = "lxd"
  host   = host.local
  source = "notes.txt"
}

instance "c" {
  driver = "lxd"
  host   = host.local
  image  = image.bogus
  name   = "PFX-c"
}
"#,
    );
    let r = lab.hive(&["apply", "-auto-approve"]);
    assert_ne!(r.code, 0);
    let all = both(&r);
    assert!(says(&all, "image.bogus"), "{all}");
    assert!(says(&all, "notes.txt") && says(&all, "LXD:"), "{all}");
    assert!(lab.names().is_empty(), "made {:?}", lab.names());
}

#[test]
fn waiting_for_cloud_init_in_an_image_without_it_fails_at_once_and_says_why() {
    let lab = Lab::new("e2ee", 9);
    lab.write(&format!(
        "{BASE}{}",
        r#"
instance "e2ee_ci" {
  driver       = "lxd"
  host         = host.local
  image        = image.busybox
  wait_for     = "cloud-init"
  wait_timeout = "5m"
}
"#
    ));
    let started = std::time::Instant::now();
    let r = lab.hive(&["apply", "-auto-approve"]);
    assert_ne!(r.code, 0);
    assert!(started.elapsed().as_secs() < 60, "it waited for nothing");
    let all = both(&r);
    assert!(says(&all, "instance.e2ee_ci"), "{all}");
    assert!(says(&all, "the image has no cloud-init"), "{all}");
    // The container that failed its wait is still hive's (its name comes from the address):
    // the next plan replaces it, and a destroy removes it.
    assert_eq!(lab.names(), ["e2ee-ci"]);
    let plan = lab.ok(&["plan"]).stdout;
    assert!(plan.contains("instance.e2ee_ci must be replaced"), "{plan}");
    lab.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
}

#[test]
fn unknown_pool_missing_daemon_and_vms_are_caught_before_anything_is_made() {
    let lab = Lab::new("e2ee", 5);
    // A socket nobody listens on: a daemon that is down.
    let dead = lab.dir.path().join("dead.socket");
    drop(std::os::unix::net::UnixListener::bind(&dead).expect("bind"));
    lab.write(&format!(
        r#"
host "local" {{}}

host "nopool" {{
  lxd {{
    pool = "no-such-pool"
  }}
}}

host "down" {{
  lxd {{
    socket = "{}"
  }}
}}

instance "in_nopool" {{
  driver = "lxd"
  host   = host.nopool
  image  = "whatever"
  name   = "PFX-a"
}}

instance "on_down" {{
  driver = "lxd"
  host   = host.down
  image  = "whatever"
  name   = "PFX-b"
}}

instance "vm" {{
  driver = "lxd"
  kind   = "vm"
  host   = host.local
  image  = "whatever"
  name   = "PFX-c"
}}
"#,
        dead.display()
    ));
    let r = lab.hive(&["plan"]);
    assert_ne!(r.code, 0);
    let all = both(&r);
    assert!(says(&all, "instance.in_nopool"), "{all}");
    assert!(
        says(&all, "no storage pool named \"no-such-pool\""),
        "{all}"
    );
    assert!(says(&all, "instance.on_down"), "{all}");
    assert!(
        says(&all, "LXD is not reachable at") && says(&all, "dead.socket"),
        "{all}"
    );
    assert!(says(&all, "instance.vm"), "{all}");
    assert!(
        says(&all, "cannot run virtual machines") || says(&all, "vhost_vsock"),
        "{all}"
    );
    assert!(says(&all, "has no image with that alias"), "{all}");
    let applied = lab.hive(&["apply", "-auto-approve"]);
    assert_ne!(applied.code, 0);
    assert!(lab.names().is_empty(), "made {:?}", lab.names());
}
