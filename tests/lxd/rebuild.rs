//! An image file rebuilt at the same path: the plan notices it (no change in the
//! configuration), the image and the container made from it are made anew, and the old image
//! is deleted once nothing uses it. Touching the file without changing it changes nothing.

use crate::lab::{config_key, exec, fingerprint, images, Lab};
use std::path::Path;
use std::process::Command;

const ONE: &str = r##"
host "local" {}

image "mine" {
  format = "lxd"
  host   = host.local
  source = "mine.tar.gz"
}

instance "box" {
  driver   = "lxd"
  host     = host.local
  image    = image.mine
  name     = "PFX-0"
  wait_for = "running"
}
"##;

/// The lab's busybox image with `/etc/hive-build` holding `build`, written to `to`.
fn build_image(to: &Path, build: &str) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let base = format!("{}/busybox.tar.gz", crate::lab::IMAGES);
    let unpacked = Command::new("tar")
        .args(["-C", &tmp.path().to_string_lossy(), "-xzf", &base])
        .status()
        .is_ok_and(|s| s.success());
    assert!(unpacked, "unpacking {base}");
    std::fs::create_dir_all(tmp.path().join("rootfs/etc")).expect("mkdir");
    std::fs::write(tmp.path().join("rootfs/etc/hive-build"), build).expect("write");
    let packed = Command::new("tar")
        .args(["-C", &tmp.path().to_string_lossy(), "-czf"])
        .arg(to)
        .arg(".")
        .status()
        .is_ok_and(|s| s.success());
    assert!(packed, "packing {}", to.display());
}

#[test]
fn an_image_file_rebuilt_in_place_replaces_the_image_and_its_container() {
    let lab = Lab::new("e2eb", 8);
    let file = lab.dir.path().join("mine.tar.gz");
    let path = file.to_string_lossy().to_string();
    build_image(&file, "one");
    let first = fingerprint(&[&path]);
    lab.write(ONE);
    lab.ok(&["apply", "-auto-approve"]);
    assert_eq!(
        exec("e2eb-0", &["cat", "/etc/hive-build"]),
        (0, "one".into())
    );
    assert_eq!(config_key("e2eb-0", "volatile.base_image"), first);
    assert_eq!(lab.hive(&["plan", "-detailed-exitcode"]).code, 0);

    // The same content with a new modification time: hashed again, found the same.
    let touched = Command::new("touch")
        .arg(&file)
        .status()
        .is_ok_and(|s| s.success());
    assert!(touched);
    let plan = lab.hive(&["plan", "-detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);

    build_image(&file, "two");
    let second = fingerprint(&[&path]);
    assert_ne!(first, second);
    let plan = lab.hive(&["plan", "-detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}\n{}", plan.stdout, plan.stderr);
    let short = |f: &str| f[..12].to_string();
    assert!(
        plan.stdout.contains(&format!(
            "its files changed since they were imported: fingerprint {} is now {}",
            short(&first),
            short(&second)
        )),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("Plan: 2 to add, 0 to change, 2 to destroy."),
        "{}",
        plan.stdout
    );
    lab.ok(&["apply", "-auto-approve"]);
    assert_eq!(
        exec("e2eb-0", &["cat", "/etc/hive-build"]),
        (0, "two".into())
    );
    assert_eq!(config_key("e2eb-0", "volatile.base_image"), second);
    let now = images();
    assert!(now.contains(&second), "the new image is missing: {now:?}");
    assert!(!now.contains(&first), "the old image was kept: {now:?}");
    assert_eq!(lab.hive(&["plan", "-detailed-exitcode"]).code, 0);

    lab.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
    let left = images();
    assert!(
        !left.contains(&first) && !left.contains(&second),
        "images left: {left:?}"
    );
}
