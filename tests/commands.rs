//! `command` resources as a pipeline uses them: a step ends when its shell does (what it left
//! in the background keeps running), a timeout or a cancel ends everything it started, and
//! SIGTERM from a CI runner stops the apply cleanly.

use crate::support::Workdir;
use std::time::{Duration, Instant};

/// Whether a process whose command line is `marker` runs.
fn running(marker: &str) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").trim() == marker)
                .unwrap_or(false)
        })
}

/// Polls until no process runs `marker`, or fails after a deadline.
fn gone(marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while running(marker) {
        assert!(Instant::now() < deadline, "{marker} is still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn end(marker: &str) {
    let _ = std::process::Command::new("pkill")
        .args(["-f", &format!("^{marker}$")])
        .status();
    gone(marker);
}

#[test]
fn a_step_ends_with_its_shell_and_leaves_its_background_children_running() {
    let w = Workdir::new(vec![]);
    w.write(
        r#"
command "server" {
  run     = "nohup sleep 311 & sleep 312 > /dev/null & echo started"
  timeout = "3s"
}
"#,
    );
    let started = Instant::now();
    let r = w.ok(&["apply", "-auto-approve"]);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the apply waited for the background children: {:?}\n{}",
        started.elapsed(),
        r.stdout
    );
    let shown = w.ok(&["state", "show", "command.server"]).stdout;
    assert!(
        shown
            .lines()
            .any(|l| l.trim_start().starts_with("stdout") && l.contains("started")),
        "{shown}"
    );
    assert!(running("sleep 311") && running("sleep 312"));
    end("sleep 311");
    end("sleep 312");
}

#[test]
fn a_timeout_ends_the_command_and_everything_it_started_even_outside_its_group() {
    let w = Workdir::new(vec![]);
    w.write(
        r#"
command "stuck" {
  run     = "setsid sleep 313 & sleep 314 & sleep 315"
  timeout = "1s"
}
"#,
    );
    let started = Instant::now();
    let r = w.hive(&["apply", "-auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        r.stderr.contains("did not finish within its timeout (1s)"),
        "{}",
        r.stderr
    );
    for marker in ["sleep 313", "sleep 314", "sleep 315"] {
        gone(marker);
    }
    // Tainted: the next apply runs it again.
    let plan = w.ok(&["plan"]);
    assert!(plan.stdout.contains("tainted"), "{}", plan.stdout);
}

#[test]
fn sigterm_stops_the_apply_ends_running_steps_records_them_and_exits_143() {
    let w = Workdir::new(vec![]);
    w.write(
        r#"
command "long" {
  run = "echo started >> started.log; sleep 316"
}

command "next" {
  run   = "echo next >> started.log"
  input = command.long.id
}

command "quick" {
  run = "echo quick >> started.log"
}
"#,
    );
    let child = w
        .cmd(&["apply", "-auto-approve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("hive starts");
    let log = w.dir.path().join("started.log");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("started")
    {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Instant::now();
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().expect("hive ends");
    assert!(
        sent.elapsed() < Duration::from_secs(20),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(out.status.code(), Some(143));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Apply terminated"), "{stdout}");
    gone("sleep 316");
    let started = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !started.contains("next"),
        "a step started after SIGTERM: {started}"
    );
    // The lock was released (no dead holder to take over), and the state says what was
    // interrupted.
    let plan = w.ok(&["plan"]);
    assert!(!plan.stderr.contains("died"), "{}", plan.stderr);
    assert!(
        plan.stdout
            .contains("# command.long will be created (its creation was interrupted)"),
        "{}",
        plan.stdout
    );
}
