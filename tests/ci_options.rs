//! What CI pipelines lean on around plan and apply: `-exclude`.

use crate::support::{config_dir, hive, run, Run};
use std::path::Path;

/// `app` needs `base`; `other` needs nothing. Each logs what it did.
const TREE: &str = r#"
command "base" {
  run     = "echo create base >> log"
  destroy = "echo destroy base >> log"
}

command "app" {
  count   = 2
  run     = "echo create app${count.index} >> log"
  destroy = "echo destroy app${count.index} >> log"
  input   = command.base.id
}

command "other" {
  run     = "echo create other >> log"
  destroy = "echo destroy other >> log"
}
"#;

fn in_dir(dir: &Path, args: &[&str]) -> Run {
    run(hive().args(args).current_dir(dir))
}

fn ok(r: Run) -> Run {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    r
}

fn log(dir: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn exclude_leaves_out_an_object_and_what_depends_on_it() {
    let lab = config_dir(&[("main.hive.hcl", TREE)]);
    let dir = lab.path();
    // Excluding base leaves out the apps that need it, nothing else.
    let plan = ok(in_dir(dir, &["plan", "-exclude", "command.base"])).stdout;
    assert!(plan.contains("Plan: 1 to add"), "{plan}");
    ok(in_dir(
        dir,
        &["plan", "-exclude", "command.base", "-out", "p"],
    ));
    ok(in_dir(dir, &["apply", "p"]));
    assert_eq!(log(dir), ["create other"]);
    // One instance of a counted resource: the other is made.
    ok(in_dir(
        dir,
        &["apply", "-auto-approve", "-exclude", "command.app[1]"],
    ));
    assert_eq!(log(dir), ["create app0", "create base", "create other"]);
    ok(in_dir(dir, &["apply", "-auto-approve"]));
    assert_eq!(
        log(dir),
        ["create app0", "create app1", "create base", "create other"]
    );
    // Destroying all but base keeps base, and also what base needs (nothing here); the apps
    // that need it go.
    std::fs::remove_file(dir.join("log")).expect("rm log");
    ok(in_dir(
        dir,
        &["destroy", "-auto-approve", "-exclude", "command.base"],
    ));
    assert_eq!(log(dir), ["destroy app0", "destroy app1", "destroy other"]);
    let left = ok(in_dir(dir, &["state", "list"])).stdout;
    assert_eq!(left.trim(), "command.base");
    // A misspelt address is an error, not a silent no-op.
    let bad = in_dir(dir, &["plan", "-exclude", "command."]);
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    ok(in_dir(dir, &["destroy", "-auto-approve"]));
}

#[test]
fn excluding_what_a_destroy_keeps_keeps_what_it_needs() {
    let lab = config_dir(&[("main.hive.hcl", TREE)]);
    let dir = lab.path();
    ok(in_dir(dir, &["apply", "-auto-approve"]));
    std::fs::remove_file(dir.join("log")).expect("rm log");
    ok(in_dir(
        dir,
        &["destroy", "-auto-approve", "-exclude", "command.app[0]"],
    ));
    assert_eq!(
        log(dir),
        ["destroy app1", "destroy other"],
        "base outlives app0"
    );
    let left = ok(in_dir(dir, &["state", "list"])).stdout;
    assert_eq!(
        left.lines().collect::<Vec<_>>(),
        ["command.app[0]", "command.base"]
    );
}

/// The types of the JSON events in `file`, each line checked to be one JSON object.
fn event_types(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .expect("the events file")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v["type"].as_str().expect("a type").to_string()
        })
        .collect()
}

#[test]
fn json_into_writes_the_events_to_a_file_while_the_terminal_gets_text() {
    let lab = config_dir(&[("main.hive.hcl", TREE)]);
    let dir = lab.path();
    let applied = ok(in_dir(
        dir,
        &["apply", "-auto-approve", "-json-into", "apply.jsonl"],
    ));
    assert!(
        applied
            .stdout
            .contains("Apply complete! Resources: 4 added"),
        "{}",
        applied.stdout
    );
    assert!(!applied.stdout.contains("\"type\""), "{}", applied.stdout);
    let types = event_types(&dir.join("apply.jsonl"));
    assert_eq!(types.first().map(String::as_str), Some("version"));
    for wanted in [
        "planned_change",
        "apply_start",
        "apply_complete",
        "change_summary",
        "outputs",
    ] {
        assert!(types.iter().any(|t| t == wanted), "{wanted}: {types:?}");
    }
    assert_eq!(types.iter().filter(|t| *t == "apply_complete").count(), 4);

    // A plan's diagnostics go to both: the text to stderr, the event to the file.
    std::fs::write(
        dir.join("bad.hive.hcl"),
        "command \"x\" {\n  input = var.nope\n}\n",
    )
    .expect("write");
    let failed = in_dir(dir, &["plan", "-json-into", "plan.jsonl"]);
    assert_eq!(failed.code, 1);
    assert!(
        failed.stderr.contains("var.nope") || failed.stderr.contains("nope"),
        "{}",
        failed.stderr
    );
    assert!(event_types(&dir.join("plan.jsonl")).contains(&"diagnostic".to_string()));
    std::fs::remove_file(dir.join("bad.hive.hcl")).expect("rm");

    // Destroy too; a file that cannot be made is an error before anything runs.
    let refused = in_dir(
        dir,
        &[
            "destroy",
            "-auto-approve",
            "-json-into",
            "/nonexistent/x.jsonl",
        ],
    );
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("-json-into /nonexistent/x.jsonl"),
        "{}",
        refused.stderr
    );
    ok(in_dir(
        dir,
        &["destroy", "-auto-approve", "-json-into", "destroy.jsonl"],
    ));
    let types = event_types(&dir.join("destroy.jsonl"));
    assert_eq!(types.iter().filter(|t| *t == "apply_complete").count(), 4);
}

#[test]
fn hive_log_debug_logs_every_provider_call_with_its_time_and_no_secret() {
    let config = format!(
        "{TREE}\nvariable \"token\" {{\n  default   = \"hunter2-in-the-log\"\n  sensitive = true\n}}\n\ncommand \"fails\" {{\n  run   = \"echo ${{var.token}} >&2; exit 3\"\n  input = var.token\n}}\n"
    );
    let lab = config_dir(&[("main.hive.hcl", &config)]);
    let dir = lab.path();
    let log_file = dir.join("hive.log");
    let applied = run(hive()
        .args(["apply", "-auto-approve"])
        .current_dir(dir)
        .env("HIVE_LOG", "debug")
        .env("HIVE_LOG_FILE", &log_file));
    assert_eq!(applied.code, 1, "command.fails fails: {}", applied.stderr);
    let log = std::fs::read_to_string(&log_file).expect("the log");
    for address in [
        "command.base",
        "command.app[0]",
        "command.app[1]",
        "command.other",
    ] {
        let line = log
            .lines()
            .find(|l| l.contains(&format!(" local create {address} ")))
            .unwrap_or_else(|| panic!("no create of {address} in:\n{log}"));
        let seconds = line.split_whitespace().nth(5).expect("a time");
        assert!(
            seconds.ends_with('s') && seconds.trim_end_matches('s').parse::<f64>().is_ok(),
            "{line}"
        );
        assert!(line.ends_with(" ok"), "{line}");
    }
    let failed = log
        .lines()
        .find(|l| l.contains(" local create command.fails "))
        .expect("the failed call");
    assert!(failed.contains(" error: "), "{failed}");
    assert!(
        !log.contains("hunter2-in-the-log"),
        "no secret in the log:\n{log}"
    );

    // On standard error when no file is named; a bad level is refused.
    let plan = run(hive()
        .args(["plan"])
        .current_dir(dir)
        .env("HIVE_LOG", "debug"));
    assert!(
        plan.stderr.contains(" local plan command.fails "),
        "{}",
        plan.stderr
    );
    let bad = run(hive()
        .args(["plan"])
        .current_dir(dir)
        .env("HIVE_LOG", "loud"));
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("HIVE_LOG=loud"), "{}", bad.stderr);
    ok(in_dir(dir, &["destroy", "-auto-approve"]));
}

fn expiry(dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join(".hive/state.json")).expect("a state");
    let state: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    state["expires"].as_u64()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[test]
fn a_ttl_counts_from_the_last_apply_and_goes_with_it() {
    let lab = config_dir(&[("main.hive.hcl", TREE)]);
    let dir = lab.path();
    let before = now();
    ok(in_dir(dir, &["apply", "-auto-approve", "-ttl", "2h"]));
    let at = expiry(dir).expect("an expiry");
    assert!(at >= before + 7200 && at <= now() + 7200, "{at}");
    // The configuration's ttl, on an apply that changes nothing: it still counts from now.
    std::fs::write(
        dir.join("settings.hive.hcl"),
        "hive {\n  ttl = \"30m\"\n}\n",
    )
    .expect("write");
    let again = ok(in_dir(dir, &["apply", "-auto-approve"]));
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);
    let at = expiry(dir).expect("an expiry");
    assert!(at <= now() + 1800 && at + 60 >= now() + 1800, "{at}");
    // No ttl any more: no expiry.
    std::fs::remove_file(dir.join("settings.hive.hcl")).expect("remove");
    ok(in_dir(dir, &["apply", "-auto-approve"]));
    assert_eq!(expiry(dir), None);
    let bad = in_dir(dir, &["apply", "-auto-approve", "-ttl", "soon"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("-ttl: invalid duration"),
        "{}",
        bad.stderr
    );
    std::fs::write(
        dir.join("settings.hive.hcl"),
        "hive {\n  ttl = \"soon\"\n}\n",
    )
    .expect("write");
    let bad = in_dir(dir, &["validate"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("ttl = \"soon\"") && bad.stderr.contains("settings.hive.hcl:2:9"),
        "{}",
        bad.stderr
    );
}
