//! A volume kept in an S3 store (a real SeaweedFS): a tiny VM writes to it, `hive snapshot`
//! copies it with the guest paused, a small change sends only the chunks it touched (counted
//! on the server), and the cluster is destroyed (snapshotted first) and applied again with
//! its data.

use crate::lab::{virsh, Lab, BASE};
use crate::s3lab::{Server, KEY, SECRET};

const STORED: &str = r##"
variable "s3_secret" {
  type      = string
  sensitive = true
}

store "s3" {
  endpoint   = "ENDPOINT"
  bucket     = "BUCKET"
  access_key = "ACCESS"
  secret_key = var.s3_secret
}

volume "data" {
  host                = host.local
  size                = "64MiB"
  store               = store.s3
  snapshot_on_destroy = true
}

instance "node" {
  driver = "libvirt"
  host   = host.local
  image  = image.tiny
  name   = "PFX-0"
  cpus   = 1
  memory = "256MiB"
  attach = [volume.data]
  network {
    bridge = bridge.net
    ip     = "NET.10"
  }
  wait_for = "ssh"
}
"##;

/// The guest's device of the 64 MiB volume, and a command on it.
const DEVICE: &str =
    "for d in /sys/block/vd*; do [ \"$(cat $d/size)\" = 131072 ] && echo /dev/${d##*/}; done";

fn guest(lab: &Lab, script: &str) -> String {
    let full = format!("dev=$({DEVICE}); [ -n \"$dev\" ] || exit 9; {script}");
    lab.ok(&["ssh", "instance.node", "--", &full]).stdout
}

fn chunk_bytes(server: &Server, bucket: &str) -> u64 {
    server.sizes(bucket, "hive/chunks").values().sum()
}

fn manifests(server: &Server, bucket: &str) -> usize {
    server.list(bucket, "hive/manifests/data/").len()
}

#[test]
fn a_stored_volume_survives_destroy_and_a_second_snapshot_sends_only_what_changed() {
    let server = Server::start();
    let bucket = server.bucket("volumes");
    let lab = Lab::new("e2es", 7);
    let config = STORED
        .replace("ENDPOINT", &server.endpoint())
        .replace("BUCKET", &bucket)
        .replace("ACCESS", KEY);
    lab.write(&format!("{BASE}{config}"));
    let secret = format!("s3_secret={SECRET}");
    let var = ["-var", secret.as_str()];

    // A new volume with nothing in the store starts blank.
    lab.ok(&[&["apply", "-auto-approve"], &var[..]].concat());
    let shown = lab.ok(&["state", "show", "volume.data"]).stdout;
    assert!(!shown.contains("restored_from       = \""), "{shown}");

    // 24 MiB of data in the guest, on disk.
    guest(
        &lab,
        "dd if=/dev/urandom of=$dev bs=1M count=24 2>/dev/null && sync",
    );
    let written = guest(&lab, "head -c 25165824 $dev | md5sum");

    let first = lab.ok(&[&["snapshot", "-json", "volume.data"], &var[..]].concat());
    assert!(
        first.stdout.contains("read with its guests paused: e2es-0"),
        "{}",
        first.stdout
    );
    let after_first = chunk_bytes(&server, &bucket);
    assert!(
        after_first >= 24 << 20,
        "the store holds the data: {after_first}"
    );
    assert_eq!(
        virsh(&["domstate", "e2es-0"]).trim(),
        "running",
        "the guest runs again after the snapshot"
    );

    // 1 MiB changed in place: only the chunks around it are sent.
    guest(
        &lab,
        "dd if=/dev/urandom of=$dev bs=1M count=1 seek=8 conv=notrunc 2>/dev/null && sync",
    );
    let changed = guest(&lab, "head -c 25165824 $dev | md5sum");
    assert_ne!(changed, written);
    lab.ok(&[&["snapshot", "volume.data"], &var[..]].concat());
    let sent = chunk_bytes(&server, &bucket) - after_first;
    eprintln!("libvirt volume: first snapshot {after_first} bytes, after a 1 MiB change {sent} bytes sent");
    assert!(
        sent > 0 && sent <= 3 * (4 << 20),
        "a 1 MiB change sent {sent} bytes, counted on the server"
    );
    assert_eq!(manifests(&server, &bucket), 2);

    // Destroy snapshots first (the guest is gone by then), and leaves nothing in libvirt.
    lab.ok(&[&["destroy", "-auto-approve"], &var[..]].concat());
    lab.assert_clean();
    assert_eq!(manifests(&server, &bucket), 3);

    // Applied again: the volume comes back from the store with its data.
    lab.ok(&[&["apply", "-auto-approve"], &var[..]].concat());
    let shown = lab.ok(&["state", "show", "volume.data"]).stdout;
    assert!(shown.contains("restored_from"), "{shown}");
    assert!(shown.contains(&server.endpoint()), "{shown}");
    assert_eq!(guest(&lab, "head -c 25165824 $dev | md5sum"), changed);

    // Credentials are in neither the state nor the output.
    let state =
        std::fs::read_to_string(lab.dir.path().join(".hive/state.json")).unwrap_or_default();
    assert!(!state.contains(SECRET), "the secret is not recorded");

    // Without the secret, destroy cannot snapshot, so it keeps the volume.
    let refused = lab.hive(&["destroy", "-auto-approve"]);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(
        virsh(&["vol-list", "hive"]).contains("data-"),
        "the volume is kept when its snapshot cannot be taken"
    );
    lab.ok(&[&["destroy", "-auto-approve"], &var[..]].concat());
    lab.assert_clean();
}

const IMAGE: &str = r##"
store "s3" {
  endpoint   = "ENDPOINT"
  bucket     = "BUCKET"
  access_key = "ACCESS"
  secret_key = "SECRET"
}

image "disk" {
  host   = host.local
  source = "SOURCE"
  SHA
  format = "raw"
  store  = store.s3
}
"##;

/// A host, the store in `bucket` and an image of `source` kept in it (`sha`: its sha256 line).
fn image_config(server: &Server, bucket: &str, source: &str, sha: &str) -> String {
    format!(
        "host \"local\" {{}}\n{}",
        IMAGE
            .replace("ENDPOINT", &server.endpoint())
            .replace("BUCKET", bucket)
            .replace("ACCESS", KEY)
            .replace("SECRET", SECRET)
            .replace("SOURCE", source)
            .replace("SHA", sha)
    )
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn an_image_in_a_store_is_uploaded_once_and_fetched_from_it_verified() {
    let server = Server::start();
    let bucket = server.bucket("images");
    let lab = Lab::new("e2ei", 8);
    let bytes = crate::s3lab::pseudo_random(20 << 20, 7);
    let digest = sha256_hex(&bytes);
    let source = lab.dir.path().join("disk.raw");
    std::fs::write(&source, &bytes).expect("write the image");
    let write = |source: &str, sha: &str| lab.write(&image_config(&server, &bucket, source, sha));
    let cached = || virsh(&["vol-list", "hive"]).contains(&format!("raw-{digest}"));

    // From its source, then into the store once, content-addressed.
    write(&source.display().to_string(), "");
    lab.ok(&["apply", "-auto-approve"]);
    let key = format!("hive/images/sha256/{digest}");
    assert_eq!(
        server.sizes(&bucket, "hive/images").get(&key),
        Some(&(20 << 20)),
        "the image is in the store, whole"
    );
    let shown = lab.ok(&["state", "show", "image.disk"]).stdout;
    assert!(shown.contains(&key), "{shown}");
    let description = server
        .client(&bucket)
        .get(&format!("{key}.json"))
        .expect("read the description")
        .expect("the image is described beside it");
    let description = String::from_utf8_lossy(&description.bytes).into_owned();
    assert!(
        description.contains("\"hive_address\":\"image.disk\""),
        "{description}"
    );
    assert!(description.contains("hive_lineage"), "{description}");
    assert!(cached());
    lab.ok(&["destroy", "-auto-approve"]);
    assert!(!cached(), "destroy emptied the cache");

    // The source is gone: the host's cache is filled from the store, by digest.
    std::fs::remove_file(&source).expect("remove the source");
    write(
        &source.display().to_string(),
        &format!("sha256 = \"{digest}\""),
    );
    lab.ok(&["apply", "-auto-approve"]);
    assert!(cached(), "fetched from the store into the cache");
    assert_eq!(
        server.list(&bucket, "hive/images").len(),
        2,
        "uploaded once: the image and its description"
    );
    lab.ok(&["destroy", "-auto-approve"]);

    // An object already in a bucket, read as s3://, checked against its digest.
    server.put(&bucket, "imports/disk.raw", &bytes);
    let url = format!("s3://{bucket}/imports/disk.raw");
    let wrong = sha256_hex(b"something else");
    write(&url, &format!("sha256 = \"{wrong}\""));
    let refused = lab.hive(&["apply", "-auto-approve"]);
    assert_ne!(refused.code, 0);
    let message = crate::s3lab::flat(&refused.stderr);
    assert!(
        message.contains(&format!("has SHA-256 {digest}, not {wrong}")),
        "{message}"
    );
    assert!(!cached(), "nothing that failed its check is cached");
    write(&url, &format!("sha256 = \"{digest}\""));
    lab.ok(&["apply", "-auto-approve"]);
    assert!(cached());
    lab.ok(&["destroy", "-auto-approve"]);
    assert!(!cached());
}

/// `make demo`'s part for stored volumes, as it runs there (its own server and names here).
#[test]
fn the_stored_volume_demo_finds_its_data_again() {
    let server = Server::start();
    let lab = Lab::new("e2ed", 9);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = root.join("examples/stored-volume");
    let copy = lab.dir.path();
    std::fs::copy(example.join("main.hive.hcl"), copy.join("main.hive.hcl")).expect("copy");
    let demo = std::process::Command::new("bash")
        .arg(example.join("demo.sh"))
        .env("HIVE", env!("CARGO_BIN_EXE_hive"))
        .env("DEMO_DIR", copy)
        .env("S3_DIR", server.dir())
        .env("S3_PORT", server.port.to_string())
        .env("HIVE_VAR_prefix", "e2ed")
        .output()
        .expect("bash runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&demo.stdout),
        String::from_utf8_lossy(&demo.stderr)
    );
    let destroy = std::process::Command::new(env!("CARGO_BIN_EXE_hive"))
        .args([
            "-C",
            &copy.display().to_string(),
            "destroy",
            "-auto-approve",
        ])
        .env("HIVE_VAR_prefix", "e2ed")
        .env("HIVE_VAR_s3_endpoint", server.endpoint())
        .output()
        .expect("hive runs");
    assert!(demo.status.success(), "{said}");
    assert!(
        said.contains("the data survived destroy and re-apply"),
        "{said}"
    );
    assert!(
        destroy.status.success(),
        "{}",
        String::from_utf8_lossy(&destroy.stderr)
    );
    lab.assert_clean();
}

/// The parts an interrupted upload of `sha256` recorded under hive's data directory `data`,
/// if it left its progress file.
fn parts_sent(data: &std::path::Path, sha256: &str) -> usize {
    std::fs::read(data.join("uploads").join(format!("{sha256}.json")))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|p| p["parts"].as_array().map(Vec::len))
        .unwrap_or(0)
}

#[test]
fn an_upload_killed_mid_way_resumes_on_the_next_apply() {
    let server = Server::start();
    let bucket = server.bucket("resume");
    let lab = Lab::new("e2eu", 10);
    let source = lab.dir.path().join("big.raw");
    let made = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("head -c 400M /dev/urandom > {}", source.display()))
        .status()
        .expect("sh runs");
    assert!(made.success());
    let digest = std::process::Command::new("sha256sum")
        .arg(&source)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .expect("sha256sum runs");
    lab.write(&image_config(
        &server,
        &bucket,
        &source.display().to_string(),
        "",
    ));

    let mut apply = lab.spawn(&["apply", "-auto-approve"]);
    crate::lab::eventually(
        "the upload has sent a part",
        std::time::Duration::from_secs(120),
        || parts_sent(lab.data_dir(), &digest) > 0,
    );
    let _ = apply.kill();
    let _ = apply.wait();
    let key = format!("hive/images/sha256/{digest}");
    assert!(
        !server.sizes(&bucket, "hive/images").contains_key(&key),
        "killed before the upload completed"
    );

    let again = lab.ok(&["apply", "-auto-approve"]);
    assert!(again.stdout.contains("upload resumed"), "{}", again.stdout);
    assert_eq!(
        server.sizes(&bucket, "hive/images").get(&key),
        Some(&(400 << 20)),
        "the whole image is in the store"
    );
    assert_eq!(
        parts_sent(lab.data_dir(), &digest),
        0,
        "the progress file is gone once complete"
    );
    lab.ok(&["destroy", "-auto-approve"]);
}

#[test]
fn an_image_uploaded_once_fills_two_hosts_caches_from_the_store() {
    let server = Server::start();
    let bucket = server.bucket("two-hosts");
    let lab = Lab::new("e2eh", 11);
    let second = crate::lab::SecondLibvirt::start();
    let bytes = crate::s3lab::pseudo_random(8 << 20, 11);
    let digest = sha256_hex(&bytes);
    let source = lab.dir.path().join("disk.raw");
    std::fs::write(&source, &bytes).expect("write the image");
    lab.write(&format!(
        r#"
host "a" {{}}
host "b" {{
  uri = "{uri}"
}}
store "s3" {{
  endpoint   = "{endpoint}"
  bucket     = "{bucket}"
  access_key = "{KEY}"
  secret_key = "{SECRET}"
}}
image "on_a" {{
  host   = host.a
  source = "{source}"
  sha256 = "{digest}"
  format = "raw"
  store  = store.s3
}}
image "on_b" {{
  host       = host.b
  source     = "/nonexistent/the-store-has-it.raw"
  sha256     = "{digest}"
  format     = "raw"
  store      = store.s3
  depends_on = [image.on_a]
}}
"#,
        uri = second.uri,
        endpoint = server.endpoint(),
        source = source.display(),
    ));
    lab.ok(&["apply", "-auto-approve"]);
    let name = format!("raw-{digest}");
    assert!(
        virsh(&["vol-list", "hive"]).contains(&name),
        "host a's cache"
    );
    assert_eq!(
        second.cached(),
        std::slice::from_ref(&name),
        "host b's cache, its own"
    );
    assert_eq!(
        server
            .sizes(&bucket, "hive/images")
            .iter()
            .filter(|(k, _)| !k.ends_with(".json"))
            .map(|(_, size)| *size)
            .collect::<Vec<_>>(),
        [8u64 << 20],
        "one copy in the store"
    );
    lab.ok(&["destroy", "-auto-approve"]);
    assert!(second.cached().is_empty(), "{:?}", second.cached());
}
