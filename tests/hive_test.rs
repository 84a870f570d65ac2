//! `hive test` end to end with `command` resources: runs in order, assertions over
//! resources, outputs and variables, expected failures, JUnit XML, the teardown after a
//! failure and after SIGTERM.

use crate::support::{hive, run, Run};
use std::path::Path;
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
variable "n" {
  default = 2
  validation {
    condition     = var.n < 10
    error_message = "at most 9 nodes"
  }
}

command "node" {
  count   = var.n
  run     = "echo made node-${count.index} >> made.log"
  destroy = "echo destroyed node-${count.index} >> made.log"
  input   = "node-${count.index}"
}

output "names" {
  value = command.node[*].input
}
"#;

const PASSING: &str = r#"
run "two" {
  assert {
    condition     = length(command.node) == 2
    error_message = "two nodes"
  }
  assert {
    condition     = output.names[1] == "node-1" && var.n == 2
    error_message = "the second is node-1"
  }
}

run "three" {
  variables {
    n = 3
  }
  assert {
    condition     = length(output.names) == 3
    error_message = "three now"
  }
}

run "too_many" {
  command = plan
  variables {
    n = 12
  }
  expect_failures = [var.n]
}
"#;

const FAILING: &str = r#"
run "wrong_count" {
  assert {
    condition     = length(command.node) == 5
    error_message = "five nodes expected"
  }
}

run "fine" {
  assert {
    condition     = length(command.node) == 2
    error_message = "two"
  }
}
"#;

fn lab(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("main.hive.hcl"), CONFIG).expect("write");
    std::fs::create_dir_all(dir.path().join("tests")).expect("mkdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    dir
}

fn in_dir(dir: &Path, args: &[&str]) -> Run {
    run(hive().args(args).current_dir(dir))
}

fn made(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("made.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Nothing is left: every node made was destroyed, and no test state remains.
fn assert_torn_down(dir: &Path) {
    let log = made(dir);
    for line in log.iter().filter(|l| l.starts_with("made ")) {
        let node = line.trim_start_matches("made ");
        let made_n = log.iter().filter(|l| *l == line).count();
        let gone = log
            .iter()
            .filter(|l| **l == format!("destroyed {node}"))
            .count();
        assert!(
            gone >= made_n,
            "{node} made {made_n}x, destroyed {gone}x: {log:?}"
        );
    }
    let states: Vec<_> = std::fs::read_dir(dir.join(".hive/test"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(states.is_empty(), "test states left: {states:?}");
}

#[test]
fn runs_pass_and_fail_as_asserted_with_junit_xml_and_nothing_left() {
    let dir = lab(&[
        ("cluster.hivetest.hcl", PASSING),
        ("tests/wrong.hivetest.hcl", FAILING),
    ]);
    let dir = dir.path();
    let r = in_dir(dir, &["test", "-junit-xml", "junit.xml"]);
    assert_eq!(r.code, 1, "a failing run fails the command: {}", r.stdout);
    assert!(r.stdout.contains("run \"two\"... pass"), "{}", r.stdout);
    assert!(
        r.stdout.contains("run \"too_many\"... pass"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("run \"wrong_count\"... fail"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("tests/wrong.hivetest.hcl:3:3: assertion failed: five nodes expected"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("Failure! 4 passed, 1 failed."),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("teardown: destroyed 3 object(s)"),
        "{}",
        r.stdout
    );
    assert_torn_down(dir);

    let xml = std::fs::read_to_string(dir.join("junit.xml")).expect("junit.xml");
    let doc = roxmltree::Document::parse(&xml).expect("JUnit XML parses");
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 2, "{xml}");
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, 5, "{xml}");
    let failures: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(failures.len(), 1, "{xml}");
    assert!(
        failures[0]
            .attribute("message")
            .is_some_and(|m| m.contains("five nodes expected")),
        "{xml}"
    );
    assert_eq!(suites[1].attribute("failures"), Some("1"));

    // Only the passing file: exit 0.
    let r = in_dir(dir, &["test", "-filter", "cluster.hivetest.hcl"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("Success! 3 passed, 0 failed."),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("wrong_count"), "{}", r.stdout);
    assert_torn_down(dir);
}

#[test]
fn an_expected_failure_that_does_not_happen_fails_the_run() {
    let dir = lab(&[(
        "x.hivetest.hcl",
        "run \"fine\" {\n  command = plan\n  expect_failures = [var.n]\n}\n",
    )]);
    let r = in_dir(dir.path(), &["test", "-json"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let events: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let run = events
        .iter()
        .find(|e| e["type"] == "test_run")
        .expect("a run event");
    assert_eq!(run["status"], "fail");
    assert!(
        run["failures"][0]
            .as_str()
            .is_some_and(|f| f.contains("expected var.n to fail")),
        "{run}"
    );
}

#[test]
fn sigterm_mid_run_still_tears_down() {
    let slow = "run \"slow\" {}\n\nrun \"never\" {\n  command = plan\n}\n";
    let dir = lab(&[("slow.hivetest.hcl", slow)]);
    let dir = dir.path();
    // `first` is made; `waits` then waits for a file that never comes, so the run is
    // mid-apply when SIGTERM arrives.
    std::fs::write(
        dir.join("main.hive.hcl"),
        r#"
command "first" {
  run     = "echo made first >> made.log"
  destroy = "echo destroyed first >> made.log"
}

command "waits" {
  run   = "echo started waits >> made.log; while [ ! -e go ]; do sleep 0.05; done"
  input = command.first.id
}
"#,
    )
    .expect("write");
    let child = hive()
        .args(["test"])
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("hive starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !made(dir).iter().any(|l| l == "started waits") {
        assert!(Instant::now() < deadline, "waits never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("run \"slow\"... error"), "{stdout}");
    assert!(stdout.contains("run \"never\"... skip"), "{stdout}");
    assert!(stdout.contains("teardown: destroyed"), "{stdout}");
    assert!(
        made(dir).iter().any(|l| l == "destroyed first"),
        "{:?}",
        made(dir)
    );
    assert_torn_down(dir);
}
