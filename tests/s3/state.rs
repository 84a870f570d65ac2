//! The state in S3: where it lives, its steps recorded one by one, its history, its lock.

use crate::lab::{flat, state_block, Server};
use crate::support::{eventually, Workdir};
use std::time::{Duration, Instant};

const KEY: &str = "ci/state.json";

/// A configuration whose state is `KEY` in `bucket`, with `resources` below.
fn workdir(server: &Server, bucket: &str, extra: &str, resources: &str) -> Workdir {
    let w = Workdir::new(vec![]);
    let dir = w.dir.path().display().to_string();
    w.write(&format!(
        "{}{}",
        state_block(&server.endpoint(), bucket, KEY, extra),
        resources.replace("DIR", &dir)
    ));
    w
}

/// `a` waits until the file `release` exists (after saying it started); `b` follows it.
const BLOCKING: &str = r#"
command "a" {
  run = "touch DIR/started; while [ ! -e DIR/release ]; do sleep 0.05; done; echo a"
}
command "b" {
  run = "echo b-${command.a.stdout}"
}
"#;

fn steps(server: &Server, bucket: &str) -> Vec<String> {
    server.list(bucket, &format!("{KEY}.steps/"))
}

fn history(server: &Server, bucket: &str) -> Vec<String> {
    server.list(bucket, &format!("{KEY}.history/"))
}

#[test]
fn the_state_lives_in_the_bucket_each_step_recorded_as_it_finishes() {
    let server = Server::start();
    let bucket = server.bucket("steps");
    let w = workdir(&server, &bucket, "", BLOCKING);
    let mut first = w.spawn(&["apply", "-auto-approve"]);
    let started = w.dir.path().join("started");
    eventually("command.a to start", Duration::from_secs(30), || {
        started.exists()
    });
    // While `a` runs, the snapshot exists and nothing else is recorded yet; the lock is there.
    let objects = server.list(&bucket, "ci/");
    assert!(objects.contains(&format!("{KEY}.lock")), "{objects:?}");
    std::fs::write(w.dir.path().join("release"), "").expect("release");
    assert!(first.wait().expect("apply ends").success());
    // Folded into the snapshot at the end: no steps, no lock, no local state.
    let objects = server.list(&bucket, "ci/");
    assert!(objects.contains(&KEY.to_string()), "{objects:?}");
    assert!(steps(&server, &bucket).is_empty(), "{objects:?}");
    // The lock is released by writing it free (never by an unconditional delete).
    let lock = server
        .client(&bucket)
        .get(&format!("{KEY}.lock"))
        .expect("read")
        .expect("there");
    let lock: serde_json::Value = serde_json::from_slice(&lock.bytes).expect("JSON");
    assert!(lock.get("holder").is_none(), "{lock}");
    assert!(!w.dir.path().join(".hive/state.json").exists());
    let plan = w.ok(&["plan"]);
    assert!(plan.stdout.contains("No changes"), "{}", plan.stdout);
    let listed = w.ok(&["state", "list"]);
    assert_eq!(listed.stdout, "command.a\ncommand.b\n");

    // A step of a second apply is in the bucket before the apply ends.
    std::fs::remove_file(w.dir.path().join("release")).expect("unrelease");
    std::fs::remove_file(&started).expect("unstart");
    let before = history(&server, &bucket).len();
    let mut replaced = w.spawn(&["apply", "-auto-approve", "-replace", "command.a"]);
    eventually("the replacement to start", Duration::from_secs(30), || {
        started.exists()
    });
    eventually(
        "a step recorded while the apply runs",
        Duration::from_secs(10),
        || !steps(&server, &bucket).is_empty(),
    );
    std::fs::write(w.dir.path().join("release"), "").expect("release");
    assert!(replaced.wait().expect("apply ends").success());
    let kept = history(&server, &bucket);
    assert!(kept.len() > before, "{kept:?}");
    // Every kept version is a whole state, named by its serial, older than the current one.
    let client = server.client(&bucket);
    let serial_in = |key: &str| -> u64 {
        let object = client.get(key).expect("read").expect("there");
        let state: serde_json::Value = serde_json::from_slice(&object.bytes).expect("JSON");
        state["serial"].as_u64().expect("a serial")
    };
    let current = serial_in(KEY);
    for key in &kept {
        let serial = serial_in(key);
        assert_eq!(
            key.rsplit('/').next().unwrap().parse::<u64>().unwrap(),
            serial
        );
        assert!(serial < current, "{key}: {serial} >= {current}");
    }

    let destroyed = w.ok(&["destroy", "-auto-approve"]);
    assert!(
        destroyed.stdout.contains("2 destroyed"),
        "{}",
        destroyed.stdout
    );
    assert_eq!(w.ok(&["state", "list"]).stdout, "");
}

/// The lock ID in a "the state is locked" message.
fn lock_id(text: &str) -> String {
    let at = text.find("ID ").expect("a lock ID") + 3;
    text[at..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect()
}

#[test]
fn a_second_apply_is_refused_with_the_holders_details_and_a_killed_holders_lock_needs_force_unlock()
{
    let server = Server::start();
    let bucket = server.bucket("lock");
    let w = workdir(&server, &bucket, "", BLOCKING);
    let mut first = w.spawn(&["apply", "-auto-approve"]);
    let started = w.dir.path().join("started");
    eventually("command.a to start", Duration::from_secs(30), || {
        started.exists()
    });
    let refused = w.hive(&["apply", "-auto-approve"]);
    assert_ne!(refused.code, 0);
    let said = flat(&refused.stderr);
    assert!(
        said.contains("the state is locked")
            && said.contains(&format!("pid {}", first.id()))
            && said.contains("`hive apply`"),
        "{said}"
    );
    first.kill().expect("kill -9");
    first.wait().expect("reaped");
    // No lease: nothing tells a dead holder from a slow one, so the lock stays until removed.
    let stale = w.hive(&["plan"]);
    assert_ne!(stale.code, 0);
    assert!(
        stale.stderr.contains("hive force-unlock"),
        "{}",
        stale.stderr
    );
    let id = lock_id(&stale.stderr);
    let wrong = w.hive(&["force-unlock", "000000000000"]);
    assert_ne!(wrong.code, 0);
    assert!(wrong.stderr.contains(&id), "{}", wrong.stderr);
    let removed = w.ok(&["force-unlock", &id]);
    assert!(
        removed.stdout.contains("Removed the lock"),
        "{}",
        removed.stdout
    );

    std::fs::write(w.dir.path().join("release"), "").expect("release");
    let finished = w.ok(&["apply", "-auto-approve"]);
    let said = format!("{}{}", finished.stdout, finished.stderr);
    assert!(said.contains("recovered"), "{said}");
    assert_eq!(w.ok(&["state", "list"]).stdout, "command.a\ncommand.b\n");
    assert!(w.ok(&["plan"]).stdout.contains("No changes"));
}

#[test]
fn a_leased_lock_is_kept_by_a_live_holder_and_taken_over_from_a_dead_one() {
    let server = Server::start();
    let bucket = server.bucket("lease");
    let w = workdir(&server, &bucket, "    lock_lease = \"3s\"\n", BLOCKING);
    let mut first = w.spawn(&["apply", "-auto-approve"]);
    let started = w.dir.path().join("started");
    eventually("command.a to start", Duration::from_secs(30), || {
        started.exists()
    });
    // Waiting longer than the lease: the holder renews it, so it is never taken.
    let asked = Instant::now();
    let waited = w.hive(&["plan", "-lock-timeout=7s"]);
    assert!(asked.elapsed() >= Duration::from_millis(6500));
    assert_ne!(waited.code, 0);
    assert!(
        waited.stderr.contains("the state is locked"),
        "{}",
        waited.stderr
    );
    let pid = first.id();
    first.kill().expect("kill -9");
    first.wait().expect("reaped");
    std::fs::write(w.dir.path().join("release"), "").expect("release");
    let after = w.ok(&["apply", "-auto-approve", "-lock-timeout=30s"]);
    let said = format!("{}{}", after.stdout, after.stderr);
    assert!(
        said.contains(&format!(
            "the previous holder of the state lock died (pid {pid}"
        )),
        "{said}"
    );
    assert_eq!(w.ok(&["state", "list"]).stdout, "command.a\ncommand.b\n");
}
