//! What dead CI jobs leave behind, found and reaped: a cluster applied with `-ttl 1s` whose
//! state directory is then deleted (two containers, a volume, an image, a Linux bridge with
//! dnsmasq and NAT) is listed by `hive scan` as orphaned and removed by `-reap` (checked
//! with `lxc`, `ip` and `nft`), while a second, live state's objects are listed as live and
//! untouched; once that state's own ttl runs out, `-reap` destroys it through its state.

use crate::lab::{lxc, Lab, IMAGES};
use crate::support::{eventually, Workdir};
use serde_json::Value as Json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const DEAD: &str = r#"
host "local" {}

bridge "lan" {
  host = host.local
  name = "PFX-br"
  cidr = "NET.1/24"
  nat  = true
  dhcp {}
}

image "busybox" {
  format = "lxd"
  host   = host.local
  source = "IMAGES/busybox.tar.gz"
}

volume "e2es_data" {
  driver = "lxd"
  host   = host.local
  size   = "16MiB"
}

instance "node" {
  count    = 2
  driver   = "lxd"
  host     = host.local
  image    = image.busybox
  name     = "PFX-n${count.index}"
  attach   = count.index == 0 ? [volume.e2es_data] : []
  network {
    bridge = bridge.lan
  }
  wait_for = "running"
}
"#;

/// The live job: its own image (another tarball), and a subnet hive picks.
const LIVE: &str = r#"
host "local" {}

bridge "lan" {
  host      = host.local
  name      = "PFX-lv"
  cidr      = "auto"
  cidr_pool = "10.165.0.0/16"
  dhcp {}
}

image "busybox" {
  format = "lxd"
  host   = host.local
  source = "VARIANT"
}

instance "live" {
  driver   = "lxd"
  host     = host.local
  image    = image.busybox
  name     = "PFX-live"
  network {
    bridge = bridge.lan
  }
  wait_for = "running"
}
"#;

/// A busybox image with other content (so another fingerprint): LXD shares images by it.
fn variant_image(dir: &Path) -> String {
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree).expect("mkdir");
    let script = format!(
        "tar -xzf {IMAGES}/busybox.tar.gz -C {t} && echo '# the live job' >> {t}/metadata.yaml && tar -czf {out} -C {t} .",
        t = tree.display(),
        out = dir.join("variant.tar.gz").display()
    );
    let ok = Command::new("sh")
        .args(["-c", &script])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "building the variant image");
    dir.join("variant.tar.gz").display().to_string()
}

fn scan(work: &Workdir) -> Vec<Json> {
    let r = work.hive(&["scan", "-json"]);
    let doc: Json = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("scan -json gives JSON ({e}): {}\n{}", r.stdout, r.stderr));
    doc["objects"].as_array().cloned().unwrap_or_default()
}

/// (kind, status) of the objects whose tag names the state file `state`.
fn of_state(objects: &[Json], state: &Path) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = objects
        .iter()
        .filter(|o| o["state"].as_str() == Some(&*state.to_string_lossy()))
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or_default().to_string(),
                o["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

fn hive_tables() -> String {
    let out = Command::new("nft")
        .args(["list", "tables", "ip"])
        .output()
        .expect("nft runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn state_path(work: &Workdir) -> std::path::PathBuf {
    std::fs::canonicalize(work.dir.path())
        .expect("canonical")
        .join(".hive/state.json")
}

#[test]
fn what_a_dead_job_left_is_found_and_reaped_and_a_live_job_is_left_alone() {
    let lab = Lab::new("e2es", 40);
    lab.write(DEAD);
    lab.ok(&["apply", "-auto-approve", "-ttl", "1s"]);
    let dead_state = state_path(&lab);
    let live = Workdir::new(vec![
        ("PFX", lab.prefix.clone()),
        ("VARIANT", variant_image(lab.data_dir())),
    ]);
    live.write(LIVE);
    live.ok(&["apply", "-auto-approve"]);
    let live_state = state_path(&live);

    // The dead job: its state directory is gone.
    std::fs::remove_dir_all(lab.dir.path().join(".hive")).expect("remove the state");
    let objects = scan(&live);
    let orphaned = |kind: &str| (kind.to_string(), "orphaned".to_string());
    assert_eq!(
        of_state(&objects, &dead_state),
        vec![
            orphaned("dnsmasq"),
            orphaned("linux bridge"),
            orphaned("lxd image"),
            orphaned("lxd instance"),
            orphaned("lxd instance"),
            orphaned("lxd volume"),
            orphaned("nft table"),
        ],
        "{objects:#?}"
    );
    let live_kinds = of_state(&objects, &live_state);
    assert!(
        live_kinds.len() >= 5 && live_kinds.iter().all(|(_, s)| s == "live"),
        "{live_kinds:?}"
    );
    assert!(live_kinds.contains(&("subnet claim".into(), "live".into())));
    let text = live.hive(&["scan"]).stdout;
    assert!(
        text.contains("e2es-n0") && text.contains("orphaned") && text.contains("is gone"),
        "{text}"
    );

    let reaped = live.hive(&["scan", "-reap", "-auto-approve"]);
    assert_eq!(reaped.code, 0, "{}\n{}", reaped.stdout, reaped.stderr);
    assert_eq!(
        lab.names(),
        vec!["e2es-live".to_string()],
        "only the live job's"
    );
    assert_eq!(lab.volumes(), Vec::<String>::new());
    assert!(!link_exists("e2es-br"), "the dead job's bridge");
    assert!(link_exists("e2es-lv"), "the live job's bridge");
    assert!(!Path::new("/var/lib/hive/bridges/e2es-br").exists());
    assert!(!hive_tables().contains("hive_e2es_br"), "{}", hive_tables());
    let images = lxc(&["image", "list", "--format", "json"]);
    assert!(!images.contains(&*dead_state.to_string_lossy()), "{images}");
    assert!(images.contains(&*live_state.to_string_lossy()), "{images}");
    let again = scan(&live);
    assert_eq!(of_state(&again, &dead_state), Vec::new());
    let plan = live.hive(&["plan", "-detailed-exitcode"]);
    assert_eq!(plan.code, 0, "the live job is as it was: {}", plan.stdout);

    // The live job's ttl runs out: reaped through its state, under its lock.
    live.ok(&["apply", "-auto-approve", "-ttl", "1s"]);
    eventually("the live job expires", Duration::from_secs(10), || {
        let now = scan(&live);
        let mine = of_state(&now, &live_state);
        !mine.is_empty() && mine.iter().all(|(_, s)| s == "expired")
    });
    let reaped = live.hive(&["scan", "-reap", "-auto-approve"]);
    assert_eq!(reaped.code, 0, "{}\n{}", reaped.stdout, reaped.stderr);
    assert!(
        reaped.stdout.contains("Destroyed the expired state"),
        "{}",
        reaped.stdout
    );
    let state: Json = serde_json::from_str(
        &std::fs::read_to_string(&live_state).expect("the state is still there"),
    )
    .expect("JSON");
    assert_eq!(state["resources"], serde_json::json!([]));
    assert_eq!(of_state(&scan(&live), &live_state), Vec::new());
    lab.assert_clean();
    assert!(!link_exists("e2es-lv"));
}

const IN_S3: &str = r#"
host "local" {}

volume "e2es_s3" {
  driver = "lxd"
  host   = host.local
  size   = "8MiB"
}
"#;

#[test]
fn objects_of_a_state_in_s3_are_judged_and_an_expired_one_destroyed_through_it() {
    let server = crate::s3lab::Server::start();
    let bucket = server.bucket("scan-state");
    let lab = Lab::new("e2es", 42);
    lab.write(&format!(
        "{}{IN_S3}",
        crate::s3lab::state_block(&server.endpoint(), &bucket, "ci/job.json", "")
    ));
    lab.ok(&["apply", "-auto-approve", "-ttl", "1s"]);
    let location = format!("{}/{bucket}/ci/job.json", server.endpoint());
    let statuses = |work: &Workdir| -> Vec<(String, String)> {
        scan(work)
            .iter()
            .filter(|o| o["state"].as_str() == Some(location.as_str()))
            .map(|o| {
                let text = |k: &str| o[k].as_str().unwrap_or_default().to_string();
                (text("kind"), text("status"))
            })
            .collect()
    };
    eventually("the state in S3 expires", Duration::from_secs(10), || {
        statuses(&lab) == vec![("lxd volume".to_string(), "expired".to_string())]
    });
    // From elsewhere, the state cannot be read (its credentials are the configuration's):
    // left alone.
    let elsewhere = Workdir::new(vec![]);
    elsewhere.write("");
    assert_eq!(
        statuses(&elsewhere),
        vec![("lxd volume".to_string(), "unknown".to_string())]
    );
    let reaped = elsewhere.hive(&["scan", "-reap", "-auto-approve"]);
    assert!(
        !reaped
            .stdout
            .lines()
            .any(|l| l.starts_with("Removed") && l.contains("e2es-s3")),
        "{}",
        reaped.stdout
    );
    assert_eq!(lab.volumes().len(), 1, "untouched from elsewhere");
    let reaped = lab.hive(&["scan", "-reap", "-auto-approve"]);
    assert_eq!(reaped.code, 0, "{}\n{}", reaped.stdout, reaped.stderr);
    assert!(
        reaped
            .stdout
            .contains(&format!("Destroyed the expired state {location}")),
        "{}",
        reaped.stdout
    );
    assert_eq!(lab.volumes(), Vec::<String>::new());
    assert_eq!(statuses(&lab), Vec::new());
}

const STORED: &str = r#"
host "local" {}

store "s3" {
  endpoint   = "ENDPOINT"
  bucket     = "BUCKET"
  access_key = "ACCESS"
  secret_key = "SECRET"
}

volume "e2es_kept" {
  driver = "lxd"
  host   = host.local
  size   = "8MiB"
  store  = store.s3
}
"#;

/// Snapshots in a store outlive their cluster: once their state is gone, one made under a
/// ttl that ran out is reaped with the rest, one made without a ttl is kept.
#[test]
fn a_store_keeps_snapshots_of_dead_jobs_unless_their_ttl_ran_out() {
    let server = crate::s3lab::Server::start();
    let bucket = server.bucket("scan-store");
    let lab = Lab::new("e2es", 43);
    let config = STORED
        .replace("ENDPOINT", &server.endpoint())
        .replace("BUCKET", &bucket)
        .replace("ACCESS", crate::s3lab::KEY)
        .replace("SECRET", crate::s3lab::SECRET);
    lab.write(&config);
    lab.ok(&["apply", "-auto-approve", "-ttl", "1s"]);
    lab.ok(&["snapshot", "volume.e2es_kept"]);
    let forever = Workdir::new(vec![]);
    forever.write(&config);
    forever.ok(&["apply", "-auto-approve"]);
    forever.ok(&["snapshot", "volume.e2es_kept"]);
    let manifests = || server.list(&bucket, "hive/manifests");
    assert_eq!(manifests().len(), 2, "{:?}", manifests());
    for dir in [lab.dir.path(), forever.dir.path()] {
        std::fs::remove_dir_all(dir.join(".hive")).expect("remove the state");
    }
    let snapshots = |work: &Workdir| -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = scan(work)
            .iter()
            .filter(|o| o["kind"] == "s3 volume snapshot")
            .map(|o| {
                let text = |k: &str| o[k].as_str().unwrap_or_default().to_string();
                assert_eq!(text("host"), "store.s3");
                (text("status"), text("lineage"))
            })
            .collect();
        found.sort();
        found
    };
    eventually(
        "the first job's snapshot expires",
        Duration::from_secs(10),
        || {
            let found = snapshots(&lab);
            found.len() == 2 && found[0].0 == "kept" && found[1].0 == "orphaned"
        },
    );
    let reaped = lab.hive(&["scan", "-reap", "-auto-approve"]);
    assert_eq!(reaped.code, 0, "{}\n{}", reaped.stdout, reaped.stderr);
    assert_eq!(manifests().len(), 1, "the kept one: {:?}", manifests());
    let left = snapshots(&lab);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, "kept");
    assert_eq!(
        lab.volumes(),
        Vec::<String>::new(),
        "both jobs' LXD volumes reaped"
    );
}
