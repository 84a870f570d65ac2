//! `hive state migrate`: a local state into S3 and back, losing nothing.

use crate::lab::{state_block, Server};
use crate::support::Workdir;

const KEY: &str = "team/state.json";
const RESOURCES: &str = "command \"a\" {\n  run = \"echo a\"\n}\ncommand \"b\" {\n  run = \"echo ${command.a.stdout}\"\n}\n";

#[test]
fn a_local_state_moves_into_s3_and_back_and_commands_refuse_until_it_is_moved() {
    let server = Server::start();
    let bucket = server.bucket("migrate");
    let w = Workdir::new(vec![]);
    let local = w.dir.path().join(".hive/state.json");
    w.write(RESOURCES);
    w.ok(&["apply", "-auto-approve"]);
    assert!(local.exists());

    let remote = format!(
        "{}{RESOURCES}",
        state_block(&server.endpoint(), &bucket, KEY, "")
    );
    w.write(&remote);
    // Not a new, empty state in S3: the configuration moved, the state did not.
    let refused = w.hive(&["plan"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("hive state migrate")
            && refused.stderr.contains(&*local.to_string_lossy()),
        "{}",
        refused.stderr
    );

    // A locked destination is refused, and the local state stays.
    let held = r#"{"holder":{"id":"0123456789ab","user":"ci","host":"runner","pid":1,"command":"hive apply","created":"2026-12-03T10:00:00Z"}}"#;
    server.put(&bucket, &format!("{KEY}.lock"), held.as_bytes());
    let locked = w.hive(&["state", "migrate"]);
    assert_ne!(locked.code, 0);
    assert!(
        locked.stderr.contains("is locked") && locked.stderr.contains("0123456789ab"),
        "{}",
        locked.stderr
    );
    assert!(local.exists());
    w.ok(&["force-unlock", "0123456789ab"]);

    let moved = w.ok(&["state", "migrate"]);
    assert!(moved.stdout.contains("2 object(s)"), "{}", moved.stdout);
    assert!(!local.exists());
    assert!(server.list(&bucket, "team/").contains(&KEY.to_string()));
    assert!(w.ok(&["plan"]).stdout.contains("No changes"));
    assert_eq!(w.ok(&["state", "list"]).stdout, "command.a\ncommand.b\n");
    let record = std::fs::read_to_string(w.dir.path().join(".hive/backend.json")).expect("record");
    assert!(
        record.contains(&bucket) && !record.contains(crate::lab::SECRET),
        "{record}"
    );

    // And back: the credentials of the S3 side come from the environment now.
    w.write(RESOURCES);
    let refused = w.hive(&["plan"]);
    assert_ne!(refused.code, 0);
    let mut back = w.cmd(&["state", "migrate"]);
    back.env("AWS_ACCESS_KEY_ID", crate::lab::KEY)
        .env("AWS_SECRET_ACCESS_KEY", crate::lab::SECRET);
    let back = crate::support::run(&mut back);
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert!(local.exists());
    let objects = server.list(&bucket, "team/");
    // What was the state is now a marker saying where it went.
    let marker = server
        .client(&bucket)
        .get(KEY)
        .expect("read")
        .expect("there");
    let marker: serde_json::Value = serde_json::from_slice(&marker.bytes).expect("JSON");
    assert!(
        marker["hive_state_moved_to"]
            .as_str()
            .is_some_and(|to| to.ends_with(".hive/state.json")),
        "{marker}"
    );
    assert!(
        objects
            .iter()
            .any(|k| k.starts_with("team/state.json.migrated-")),
        "{objects:?}"
    );
    assert!(w.ok(&["plan"]).stdout.contains("No changes"));
    // A teammate still configured for the bucket is told where the state went.
    let teammate = Workdir::new(vec![]);
    teammate.write(&remote);
    let told = teammate.hive(&["plan"]);
    assert_ne!(told.code, 0);
    assert!(
        crate::lab::flat(&told.stderr).contains("moved it to"),
        "{}",
        told.stderr
    );
    let again = w.hive(&["state", "migrate"]);
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("nothing to move"), "{}", again.stderr);

    // Into the bucket once more: the marker is replaced by the state.
    w.write(&remote);
    w.ok(&["state", "migrate"]);
    assert!(w.ok(&["plan"]).stdout.contains("No changes"));
    assert!(teammate.ok(&["plan"]).stdout.contains("No changes"));
}
