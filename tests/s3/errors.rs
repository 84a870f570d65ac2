//! What goes wrong with an S3 state says so, with the server's words and the place, and
//! loses nothing.

use crate::lab::{flat, state_block, IgnoringProxy, Server};
use crate::support::Workdir;
use std::time::{Duration, Instant};

const ONE: &str = "command \"a\" {\n  run = \"echo a\"\n}\n";

fn config(endpoint: &str, bucket: &str, secret: &str) -> Workdir {
    let w = Workdir::new(vec![]);
    let block =
        state_block(endpoint, bucket, "k/state.json", "").replace(crate::lab::SECRET, secret);
    w.write(&format!("{block}{ONE}"));
    w
}

#[test]
fn wrong_credentials_a_missing_bucket_no_credentials_and_a_stopped_server_are_clear_errors() {
    let server = Server::start();
    let bucket = server.bucket("errors");

    let wrong = config(&server.endpoint(), &bucket, "not-the-secret-42");
    let r = wrong.hive(&["apply", "-auto-approve"]);
    assert_ne!(r.code, 0);
    let said = flat(&r.stderr);
    assert!(
        said.contains("SignatureDoesNotMatch") && said.contains(&server.endpoint()),
        "{said}"
    );
    assert!(!format!("{}{}", r.stdout, r.stderr).contains("not-the-secret-42"));

    let missing = config(&server.endpoint(), "no-such-bucket", crate::lab::SECRET);
    let r = missing.hive(&["apply", "-auto-approve"]);
    assert_ne!(r.code, 0);
    let said = flat(&r.stderr);
    assert!(
        said.contains("NoSuchBucket") && said.contains("no-such-bucket"),
        "{said}"
    );

    let none = Workdir::new(vec![]);
    let block = state_block(&server.endpoint(), &bucket, "k/state.json", "");
    let without: String = block
        .lines()
        .filter(|l| !l.contains("access_key") && !l.contains("secret_key"))
        .map(|l| format!("{l}\n"))
        .collect();
    none.write(&format!("{without}{ONE}"));
    let r = run_without_aws_env(&none, &["plan"]);
    assert_ne!(r.code, 0);
    assert!(
        flat(&r.stderr).contains("no S3 credentials"),
        "{}",
        r.stderr
    );

    // Nothing was written by any of them.
    assert!(server.list(&bucket, "k/").is_empty());

    let good = config(&server.endpoint(), &bucket, crate::lab::SECRET);
    good.ok(&["apply", "-auto-approve"]);
    server.stop();
    let asked = Instant::now();
    let r = good.hive(&["plan"]);
    assert!(
        asked.elapsed() < Duration::from_secs(60),
        "{:?}",
        asked.elapsed()
    );
    assert_ne!(r.code, 0);
    assert!(flat(&r.stderr).contains(&server.endpoint()), "{}", r.stderr);
    server.restart();
    assert!(good.ok(&["plan"]).stdout.contains("No changes"));
}

fn run_without_aws_env(w: &Workdir, args: &[&str]) -> crate::support::Run {
    let home = tempfile::tempdir().expect("home");
    let mut cmd = w.cmd(args);
    cmd.env("HOME", home.path());
    crate::support::run(&mut cmd)
}

#[test]
fn a_server_that_ignores_conditional_writes_is_refused_before_anything_is_written() {
    let server = Server::start();
    let bucket = server.bucket("ignoring");
    let proxy = IgnoringProxy::start(server.port);
    let w = config(&proxy.endpoint(), &bucket, crate::lab::SECRET);
    let r = w.hive(&["apply", "-auto-approve"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("ignores conditional writes"),
        "{}",
        r.stderr
    );
    assert!(
        server.list(&bucket, "k/").is_empty(),
        "{:?}",
        server.list(&bucket, "")
    );
    // The same server without the proxy is fine.
    let direct = config(&server.endpoint(), &bucket, crate::lab::SECRET);
    direct.ok(&["apply", "-auto-approve"]);
}

#[test]
fn a_step_after_a_gap_is_dropped_and_a_damaged_snapshot_is_refused_naming_the_history() {
    let server = Server::start();
    let bucket = server.bucket("damage");
    let w = config(&server.endpoint(), &bucket, crate::lab::SECRET);
    w.ok(&["apply", "-auto-approve"]);
    // Steps are written side by side: a crash can leave step N+2 without N+1.
    let stray = "k/state.json.steps/00000000000000000099";
    server.put(&bucket, stray, b"whatever a cut-off write left");
    let plan = w.ok(&["plan"]);
    let said = flat(&format!("{}{}", plan.stdout, plan.stderr));
    assert!(
        said.contains("was dropped") && said.contains("No changes"),
        "{said}"
    );
    assert!(!server.list(&bucket, "k/").contains(&stray.to_string()));

    // Two writes: the first snapshot is kept in the history.
    w.ok(&["apply", "-auto-approve", "-replace", "command.a"]);
    assert!(!server.list(&bucket, "k/state.json.history/").is_empty());
    server.put(
        &bucket,
        "k/state.json",
        b"{\"version\": 1, \"lineage\": \"x\"",
    );
    let r = w.hive(&["plan"]);
    assert_ne!(r.code, 0);
    let said = flat(&r.stderr);
    assert!(
        said.contains("is damaged") && said.contains("k/state.json.history/"),
        "{said}"
    );
}
