//! A CI job's test of a cluster: `hive test` on the three-VM example (tiny guests), its wall
//! time split into bring-up (a run that only applies), the checks (a run with an assertion
//! and a command in every guest over SSH) and the teardown, against what a pipeline scripts
//! instead: `hive apply`, `hive ssh NODE hostname` for each node, `hive destroy`.
//!
//! Needs the lab (`bash lab/setup.sh`). Run with `cargo bench --bench ci`.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::time::Instant;
use support::hive;

const TEST_FILE: &str = r#"
variables {
  prefix = "hvci"
  subnet = "10.231.9"
}

run "up" {}

run "checks" {
  assert {
    condition     = length(instance.node) == 3
    error_message = "three nodes"
  }
  exec "hostname" {
    instance        = instance.node
    command         = "hostname"
    output_contains = "hvci-"
  }
}
"#;

/// A copy of the example cluster in a directory of its own.
fn example() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster");
    for entry in std::fs::read_dir(&example).expect("example").flatten() {
        if entry.path().extension().is_some_and(|e| e == "hcl") {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
        }
    }
    dir
}

fn main() {
    let dir = example();
    std::fs::write(dir.path().join("cluster.hivetest.hcl"), TEST_FILE).expect("write");
    let (total, stdout) = hive(dir.path(), &["test", "-json"]);
    let mut runs = std::collections::BTreeMap::new();
    let mut teardown = 0.0;
    for line in stdout.lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match event["type"].as_str() {
            Some("test_run") => {
                assert_eq!(event["status"], "pass", "{event}");
                runs.insert(
                    event["run"].as_str().unwrap_or_default().to_string(),
                    event["elapsed_seconds"].as_f64().unwrap_or(0.0),
                );
            }
            Some("test_teardown") => teardown = event["elapsed_seconds"].as_f64().unwrap_or(0.0),
            _ => {}
        }
    }
    let (up, checks) = (runs["up"], runs["checks"]);

    // The same by hand: apply, a login per node, destroy.
    let scripted = example();
    let vars = ["-var", "prefix=hvcs", "-var", "subnet=10.231.9"];
    let started = Instant::now();
    let (apply, _) = hive(
        scripted.path(),
        &[&["apply", "-auto-approve"], &vars[..]].concat(),
    );
    let ssh_started = Instant::now();
    for i in 0..3 {
        let (_, name) = hive(
            scripted.path(),
            &["ssh", &format!("instance.node[{i}]"), "--", "hostname"],
        );
        assert_eq!(name.trim(), format!("hvcs-{i}"));
    }
    let ssh = ssh_started.elapsed();
    let (destroy, _) = hive(
        scripted.path(),
        &[&["destroy", "-auto-approve"], &vars[..]].concat(),
    );
    let script = started.elapsed();

    println!(
        "hive test of the three-VM example: {:.1}s in all",
        total.as_secs_f64()
    );
    println!("  bring-up (run \"up\"):       {up:.1}s");
    println!(
        "  checks (run \"checks\"):     {checks:.1}s (an assertion, hostname in 3 guests over SSH)"
    );
    println!("  teardown:                  {teardown:.1}s");
    println!(
        "a script doing the same (apply, 3x hive ssh, destroy): {:.1}s (apply {:.1}s, ssh {:.1}s, destroy {:.1}s)",
        script.as_secs_f64(),
        apply.as_secs_f64(),
        ssh.as_secs_f64(),
        destroy.as_secs_f64()
    );
    println!(
        "hive test / script: {:.2}x",
        total.as_secs_f64() / script.as_secs_f64()
    );
}
