//! A store (a real SeaweedFS on this machine's loopback) serving a remote lab host: an image
//! kept in the store reaches the host's pool whole, and a volume on the host is snapshotted
//! into the store (its guest paused only while the file is copied on the host), destroyed,
//! and restored there with its data. hive alone talks to the store; the host only to hive.

use super::{host_block, hosts, on, KNOWN, TINY, TINY_ON_A};
use crate::s3lab::{pseudo_random, Server, KEY, SECRET};
use crate::support::Workdir;

const STORED: &str = r#"
store "s3" {
  endpoint   = "ENDPOINT"
  bucket     = "BUCKET"
  access_key = "ACCESS"
  secret_key = "SECRET"
}

bridge "lan" {
  host = host.a
  name = "hvr-stlan"
  cidr = "10.232.12.1/24"
  dhcp {
    range = ["10.232.12.100", "10.232.12.150"]
  }
  nat = false
}

image "disk" {
  host   = host.a
  source = "SOURCE"
  format = "raw"
  store  = store.s3
}

volume "data" {
  host                = host.a
  size                = "64MiB"
  store               = store.s3
  snapshot_on_destroy = true
}

instance "vm" {
  driver = "libvirt"
  host   = host.a
  image  = image.tiny
  name   = "hvr-st"
  type   = "t3.nano"
  attach = [volume.data]
  network {
    bridge = bridge.lan
  }
  wait_for     = "ssh"
  wait_timeout = "3m"
}
"#;

/// The directory of the host's storage pool `hive`, as a shell expression run there.
const POOL: &str = "$(virsh -q pool-dumpxml hive | sed -n 's:.*<path>\\(.*\\)</path>.*:\\1:p')";

/// The guest's device of the 64 MiB volume, and a command on it.
fn guest(w: &Workdir, script: &str) -> String {
    let device =
        "for d in /sys/block/vd*; do [ \"$(cat $d/size)\" = 131072 ] && echo /dev/${d##*/}; done";
    let full = format!("dev=$({device}); [ -n \"$dev\" ] || exit 9; {script}");
    w.ok(&["ssh", "instance.vm", "--", &full]).stdout
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn remove_leftovers(address: &str) {
    on(
        address,
        &format!(
            "virsh -q destroy hvr-st 2>/dev/null; virsh -q undefine hvr-st 2>/dev/null; \
             rm -f {POOL}/hvr-st-* {POOL}/data-* /var/lib/hive/tmp/snapshot-*; \
             virsh -q pool-refresh hive >/dev/null 2>&1; true"
        ),
    );
    super::remove_leftovers(address, "hvr-stlan");
}

#[test]
fn a_store_serves_images_and_volumes_of_a_remote_host() {
    let (_turn, hosts) = hosts();
    let a = &hosts[0];
    remove_leftovers(&a.1);
    let server = Server::start();
    let bucket = server.bucket("remote");
    let w = Workdir::new(vec![("TINY", TINY.to_string())]);
    let bytes = pseudo_random(6 << 20, 11);
    let digest = sha256_hex(&bytes);
    let source = w.dir.path().join("disk.raw");
    std::fs::write(&source, &bytes).expect("write the image");
    let config = STORED
        .replace("ENDPOINT", &server.endpoint())
        .replace("BUCKET", &bucket)
        .replace("ACCESS", KEY)
        .replace("SECRET", SECRET)
        .replace("SOURCE", &source.display().to_string());
    w.write(&format!(
        "{}{}{config}",
        host_block("a", &a.1, KNOWN, ""),
        TINY_ON_A
    ));
    w.ok(&["apply", "-auto-approve"]);

    // The image is in the store and in host a's pool, the same bytes in both.
    let key = format!("hive/images/sha256/{digest}");
    assert_eq!(
        server.sizes(&bucket, "hive/images").get(&key),
        Some(&(6 << 20)),
        "the image is in the store, whole"
    );
    let (_, sums) = on(&a.1, &format!("cd {POOL} && sha256sum raw-*"));
    assert!(sums.contains(&format!("{digest}  raw-{digest}")), "{sums}");

    // 8 MiB written in the guest, snapshotted into the store from the host.
    guest(
        &w,
        "dd if=/dev/urandom of=$dev bs=1M count=8 2>/dev/null && sync",
    );
    let written = guest(&w, "head -c 8388608 $dev | md5sum");
    let snapshot = w.ok(&["snapshot", "-json", "volume.data"]);
    assert!(
        snapshot
            .stdout
            .contains("read with its guests paused: hvr-st"),
        "{}",
        snapshot.stdout
    );
    let chunks: u64 = server.sizes(&bucket, "hive/chunks").values().sum();
    assert!(chunks >= 8 << 20, "the store holds the data: {chunks}");
    let (_, state) = on(&a.1, "virsh -q domstate hvr-st");
    assert_eq!(state.trim(), "running", "the guest runs again");
    let (_, copies) = on(&a.1, "ls -A /var/lib/hive/tmp");
    assert!(!copies.contains("snapshot-"), "no copy left: {copies}");

    // Destroyed (snapshotted first), then applied again: the data is back on host a.
    w.ok(&["destroy", "-auto-approve"]);
    let (_, left) = on(
        &a.1,
        &format!(
            "virsh -q list --all --name | grep hvr-st; ls {POOL} | grep -e hvr-st -e data-; true"
        ),
    );
    assert_eq!(left.trim(), "", "nothing of it is left on host a");
    w.ok(&["apply", "-auto-approve"]);
    let shown = w.ok(&["state", "show", "volume.data"]).stdout;
    assert!(shown.contains("restored_from"), "{shown}");
    assert_eq!(guest(&w, "head -c 8388608 $dev | md5sum"), written);
    w.ok(&["destroy", "-auto-approve"]);
    let (_, left) = on(
        &a.1,
        &format!("virsh -q list --all --name | grep hvr-st; ls {POOL} | grep -e hvr-st -e data- -e raw-; true"),
    );
    assert_eq!(left.trim(), "", "nothing of it is left on host a");
}
