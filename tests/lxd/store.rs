//! An LXD custom volume kept in an S3 store (a real SeaweedFS), through LXD's own backup
//! export and import: snapshotted with its container frozen, a small file added in front
//! of everything (every byte after it shifts in the tarball) sends only a little, and the
//! volume survives a destroy and a re-apply.

use crate::lab::{exec, Lab, BASE};
use crate::s3lab::{Server, KEY, SECRET};

const STORED: &str = r##"
store "s3" {
  endpoint   = "ENDPOINT"
  bucket     = "BUCKET"
  access_key = "ACCESS"
  secret_key = "SECRET"
}

volume "e2ev_data" {
  driver              = "lxd"
  host                = host.local
  size                = "64MiB"
  store               = store.s3
  snapshot_on_destroy = true
}

instance "node" {
  driver   = "lxd"
  host     = host.local
  image    = image.busybox
  name     = "PFX-0"
  attach   = [volume.e2ev_data]
  wait_for = "running"
}
"##;

fn in_volume(script: &str) -> String {
    let full = format!("cd /mnt/$(ls /mnt) && {script}");
    let (code, out) = exec("e2ev-0", &["sh", "-c", &full]);
    assert_eq!(code, 0, "{script}: {out}");
    out
}

#[test]
fn an_lxd_volume_in_a_store_dedupes_shifted_bytes_and_survives_destroy() {
    let server = Server::start();
    let bucket = server.bucket("lxd-volumes");
    let lab = Lab::new("e2ev", 41);
    lab.write(&format!(
        "{BASE}{}",
        STORED
            .replace("ENDPOINT", &server.endpoint())
            .replace("BUCKET", &bucket)
            .replace("ACCESS", KEY)
            .replace("SECRET", SECRET)
    ));
    let chunk_bytes = || -> u64 { server.sizes(&bucket, "hive/chunks").values().sum() };

    lab.ok(&["apply", "-auto-approve"]);
    in_volume("dd if=/dev/urandom of=big1 bs=1M count=6 2>/dev/null && dd if=/dev/urandom of=big2 bs=1M count=6 2>/dev/null && sync");
    let sums = in_volume("md5sum big1 big2");

    let first = lab.ok(&["snapshot", "volume.e2ev_data"]);
    assert!(first.stdout.contains("frozen: e2ev-0"), "{}", first.stdout);
    let after_first = chunk_bytes();
    assert!(after_first >= 12 << 20, "{after_first}");

    // A small file that comes first in the tarball: every later byte moves.
    in_volume("echo small > a-small && sync");
    lab.ok(&["snapshot", "volume.e2ev_data"]);
    let sent = chunk_bytes() - after_first;
    eprintln!(
        "lxd volume: first snapshot {after_first} bytes, after a shifting change {sent} bytes sent"
    );
    assert!(
        sent > 0 && sent < 4 << 20,
        "adding a small file sent {sent} bytes of a 12 MiB volume, counted on the server"
    );

    lab.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
    assert_eq!(server.list(&bucket, "hive/manifests/e2ev_data/").len(), 3);

    lab.ok(&["apply", "-auto-approve"]);
    assert_eq!(in_volume("md5sum big1 big2"), sums, "the data came back");
    assert_eq!(in_volume("cat a-small"), "small\n");
    let shown = lab.ok(&["state", "show", "volume.e2ev_data"]).stdout;
    assert!(shown.contains("restored_from"), "{shown}");
    lab.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
}

const STORED_IMAGE: &str = r##"
host "local" {}

store "s3" {
  endpoint   = "ENDPOINT"
  bucket     = "BUCKET"
  access_key = "ACCESS"
  secret_key = "SECRET"
}

image "box" {
  format = "lxd"
  host   = host.local
  source = "SOURCE"
  SHA
  store  = store.s3
}

instance "node" {
  driver   = "lxd"
  host     = host.local
  image    = image.box
  name     = "PFX-0"
  wait_for = "running"
}
"##;

#[test]
fn an_lxd_image_in_a_store_is_uploaded_once_and_imported_from_it() {
    let server = Server::start();
    let bucket = server.bucket("lxd-images");
    let lab = Lab::new("e2ej", 42);
    let tarball = format!("{}/busybox.tar.gz", crate::lab::IMAGES);
    let fingerprint = crate::lab::fingerprint(&[&tarball]);
    let write = |source: &str, sha: &str| {
        lab.write(
            &STORED_IMAGE
                .replace("ENDPOINT", &server.endpoint())
                .replace("BUCKET", &bucket)
                .replace("ACCESS", KEY)
                .replace("SECRET", SECRET)
                .replace("SOURCE", source)
                .replace("SHA", sha),
        )
    };
    // The daemon must import it, not find it.
    crate::lab::forget_image(&fingerprint);

    write(&tarball, "");
    lab.ok(&["apply", "-auto-approve"]);
    let key = format!("hive/images/sha256/{fingerprint}");
    let size = std::fs::metadata(&tarball).map(|m| m.len()).unwrap_or(0);
    assert_eq!(server.sizes(&bucket, "hive/images").get(&key), Some(&size));
    lab.ok(&["destroy", "-auto-approve"]);
    assert!(
        !crate::lab::images().contains(&fingerprint),
        "destroy removed the image hive imported"
    );

    // From the store: an s3:// source, checked against its digest, imported into LXD.
    let url = format!("s3://{bucket}/{key}");
    write(&url, &format!("sha256 = \"{}\"", "0".repeat(64)));
    let refused = lab.hive(&["apply", "-auto-approve"]);
    assert_ne!(refused.code, 0);
    assert!(
        crate::s3lab::flat(&refused.stderr).contains(&format!("has SHA-256 {fingerprint}")),
        "{}",
        refused.stderr
    );
    lab.hive(&["destroy", "-auto-approve"]);
    write(&url, &format!("sha256 = \"{fingerprint}\""));
    lab.ok(&["apply", "-auto-approve"]);
    assert!(crate::lab::images().contains(&fingerprint));
    let (code, _) = exec("e2ej-0", &["true"]);
    assert_eq!(
        code, 0,
        "the container runs from the image fetched from the store"
    );
    assert_eq!(
        server.list(&bucket, "hive/images").len(),
        2,
        "still one image and its description"
    );
    lab.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
}
