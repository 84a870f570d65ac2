//! The engine end to end through the real `hive` binary, with `command` resources whose
//! scripts leave evidence in files: what ran, in which order, how many at once.

use crate::support::{hive, run, Run};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A configuration directory for one test.
struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new(config: &str) -> Lab {
        let lab = Lab {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        lab.write(config);
        lab
    }

    fn write(&self, config: &str) {
        std::fs::write(self.path().join("main.hive.hcl"), config).expect("write config");
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn hive(&self, args: &[&str]) -> Run {
        run(hive().args(args).current_dir(self.path()))
    }

    fn spawn(&self, args: &[&str]) -> Child {
        hive()
            .args(args)
            .current_dir(self.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hive starts")
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name)).unwrap_or_default()
    }

    fn lines(&self, name: &str) -> Vec<String> {
        self.read(name).lines().map(str::to_string).collect()
    }

    fn state_addresses(&self) -> Vec<String> {
        self.hive(&["state", "list"])
            .stdout
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Polls until `name` exists with at least `lines` lines, or fails after a deadline.
    fn wait_for_lines(&self, name: &str, lines: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.lines(name).len() < lines {
            assert!(
                Instant::now() < deadline,
                "{name} never reached {lines} lines"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Error text with the report's wrapping undone.
fn flat(text: &str) -> String {
    text.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn ok(r: &Run) {
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
}

const CHAIN: &str = r#"
variable "version" {
  default = "1"
}

# Each command says whether what it must follow had happened: with the order wrong, it had
# not, and the line says so.
command "base" {
  run      = "echo create base >> order.log; touch base.made"
  destroy  = "[ -e app0.gone ] && [ -e app1.gone ] && echo destroy base >> order.log || echo destroy base too early >> order.log; rm -f base.made"
  triggers = { version = var.version }
}

command "app" {
  count    = 2
  run      = "[ -e base.made ] && echo create app${count.index} >> order.log || echo create app${count.index} too early >> order.log; rm -f app${count.index}.gone"
  destroy  = "echo destroy app${count.index} >> order.log; touch app${count.index}.gone"
  triggers = { base = command.base.id }
}

command "independent" {
  run = "echo create independent >> order.log"
}

output "base_id" {
  value = command.base.id
}
"#;

#[test]
fn apply_does_what_the_plan_said_and_a_second_plan_is_empty() {
    let lab = Lab::new(CHAIN);
    let plan = lab.hive(&["plan", "-detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    assert!(
        plan.stdout
            .contains("Plan: 4 to add, 0 to change, 0 to destroy."),
        "{}",
        plan.stdout
    );
    ok(&lab.hive(&["apply", "-auto-approve"]));
    let order = lab.lines("order.log");
    assert_eq!(order.len(), 4, "{order:?}");
    let pos = |s: &str| order.iter().position(|l| l == s).unwrap_or(usize::MAX);
    assert!(pos("create base") < pos("create app0"), "{order:?}");
    assert!(pos("create base") < pos("create app1"), "{order:?}");
    let again = lab.hive(&["plan", "-detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);
    let state = lab.state_addresses();
    assert_eq!(
        state,
        [
            "command.app[0]",
            "command.app[1]",
            "command.base",
            "command.independent"
        ]
    );
}

#[test]
fn a_changed_trigger_replaces_destroying_before_creating() {
    let lab = Lab::new(CHAIN);
    ok(&lab.hive(&["apply", "-auto-approve"]));
    std::fs::remove_file(lab.path().join("order.log")).expect("rm");
    let plan = lab.hive(&["plan", "-detailed-exitcode", "-var", "version=2"]);
    assert_eq!(plan.code, 2);
    assert!(
        plan.stdout
            .contains("# command.base must be replaced (triggers forces replacement)"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("-/+ command \"base\""),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("} # forces replacement"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("Plan: 3 to add, 0 to change, 3 to destroy."),
        "{}",
        plan.stdout
    );
    ok(&lab.hive(&["apply", "-auto-approve", "-var", "version=2"]));
    let order = lab.lines("order.log");
    let pos = |s: &str| order.iter().position(|l| l == s).unwrap_or(usize::MAX);
    // Dependants go first, then the base is destroyed, created, and the dependants again.
    assert!(pos("destroy app0") < pos("destroy base"), "{order:?}");
    assert!(pos("destroy app1") < pos("destroy base"), "{order:?}");
    assert!(pos("destroy base") < pos("create base"), "{order:?}");
    assert!(pos("create base") < pos("create app0"), "{order:?}");
    assert!(
        !order.contains(&"create independent".to_string()),
        "{order:?}"
    );
    let again = lab.hive(&["plan", "-detailed-exitcode", "-var", "version=2"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
}

#[test]
fn destroy_goes_in_reverse_dependency_order_from_the_state() {
    let lab = Lab::new(CHAIN);
    ok(&lab.hive(&["apply", "-auto-approve"]));
    // The configuration no longer says what depended on what: the state does.
    lab.write("");
    std::fs::remove_file(lab.path().join("order.log")).expect("rm");
    lab.write("# emptied\n");
    let r = lab.hive(&["destroy", "-auto-approve"]);
    ok(&r);
    let order = lab.lines("order.log");
    let pos = |s: &str| order.iter().position(|l| l == s).unwrap_or(usize::MAX);
    assert!(pos("destroy app0") < pos("destroy base"), "{order:?}");
    assert!(pos("destroy app1") < pos("destroy base"), "{order:?}");
    assert!(lab.state_addresses().is_empty());
    assert!(
        r.stdout
            .contains("Destroy complete! Resources: 0 added, 0 changed, 4 destroyed."),
        "{}",
        r.stdout
    );
}

const FAILING: &str = r#"
variable "fail" {
  default = true
}

command "a" {
  run = var.fail ? "echo cannot reach the lab >&2; exit 7" : "echo a >> done.log"
}

command "b" {
  run   = "echo b >> done.log"
  input = command.a.id
}

command "c" {
  run = "echo c >> done.log"
}
"#;

#[test]
fn a_failure_skips_dependants_keeps_independent_work_and_the_next_apply_finishes() {
    let lab = Lab::new(FAILING);
    let r = lab.hive(&["apply", "-auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("command.a: creating failed"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("exited with code 7:\ncannot reach the lab"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("command.b: not created because command.a failed"),
        "{}",
        r.stdout
    );
    assert_eq!(lab.lines("done.log"), ["c"]);
    // The state records exactly what exists: c, and a as tainted.
    assert_eq!(lab.state_addresses(), ["command.a", "command.c"]);
    let show = lab.hive(&["show"]);
    assert!(
        show.stdout.contains("# command.a (tainted)"),
        "{}",
        show.stdout
    );
    let plan = lab.hive(&["plan", "-var", "fail=false"]);
    assert!(plan.stdout.contains("tainted"), "{}", plan.stdout);
    ok(&lab.hive(&["apply", "-auto-approve", "-var", "fail=false"]));
    let mut done = lab.lines("done.log");
    done.sort();
    assert_eq!(done, ["a", "b", "c"]);
    let again = lab.hive(&["plan", "-detailed-exitcode", "-var", "fail=false"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
}

/// Commands in a chain; each records that it started, then waits for its own go file
/// (`go0`, `go1`...), so a test decides exactly which steps may finish.
fn slow_chain(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let dep = if i == 0 {
            String::new()
        } else {
            format!("  input = command.c{}.id\n", i - 1)
        };
        out.push_str(&format!(
            "command \"c{i}\" {{\n  run = \"echo $$ >> pids.log; echo c{i} >> started.log; while [ ! -e go{i} ]; do sleep 0.05; done; echo c{i} >> done.log\"\n{dep}}}\n\n"
        ));
    }
    out
}

#[test]
fn kill_9_at_any_point_loses_nothing_and_the_next_apply_finishes() {
    for kill_after in [1, 3] {
        let lab = Lab::new(&slow_chain(5));
        // The first steps may finish; the next one is held running when hive is killed.
        for i in 0..kill_after {
            std::fs::write(lab.path().join(format!("go{i}")), "").expect("go");
        }
        let mut child = lab.spawn(&["apply", "-auto-approve"]);
        lab.wait_for_lines("started.log", kill_after + 1);
        child.kill().expect("kill -9");
        let _ = child.wait();
        // A crash takes the running command down too (killing only hive would leave it
        // running, and it would finish on its own: the retry below then runs it again).
        for pid in lab.lines("pids.log") {
            if let Ok(pid) = pid.parse::<i32>() {
                // SAFETY: signalling processes this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }

        // The dead holder's lock is taken over, and the next command says whose it was and
        // what it left unfinished, in one line.
        let dead_pid = child.id();
        let plan = lab.hive(&["plan"]);
        ok(&plan);
        let note: Vec<&str> = plan
            .stderr
            .lines()
            .filter(|l| l.contains("previous holder of the state lock died"))
            .collect();
        assert_eq!(note.len(), 1, "{}", plan.stderr);
        assert!(note[0].contains(&format!("pid {dead_pid}")), "{}", note[0]);
        assert!(note[0].contains("`hive apply`"), "{}", note[0]);
        assert!(
            note[0].contains(&format!("unfinished (command.c{kill_after})")),
            "{}",
            note[0]
        );
        // Taken over once: the next command finds a lock released as usual.
        let quiet = lab.hive(&["plan"]);
        assert!(!quiet.stderr.contains("died"), "{}", quiet.stderr);

        // The state loads and says exactly what is missing or interrupted.
        let plan = lab.hive(&["plan"]);
        ok(&plan);
        let interrupted =
            format!("# command.c{kill_after} will be created (its creation was interrupted)");
        assert!(plan.stdout.contains(&interrupted), "{}", plan.stdout);
        let expected = format!(
            "Plan: {} to add, 0 to change, 0 to destroy.",
            5 - kill_after
        );
        assert!(plan.stdout.contains(&expected), "{}", plan.stdout);

        for i in 0..5 {
            std::fs::write(lab.path().join(format!("go{i}")), "").expect("go");
        }
        ok(&lab.hive(&["apply", "-auto-approve"]));
        let done = lab.lines("done.log");
        let expected: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
        assert_eq!(done, expected, "each command completed exactly once");
        assert_eq!(lab.state_addresses().len(), 5);
        let again = lab.hive(&["plan", "-detailed-exitcode"]);
        assert_eq!(again.code, 0, "{}", again.stdout);
    }
}

#[test]
fn a_second_apply_is_refused_naming_the_holder_or_waits_with_lock_timeout() {
    let lab = Lab::new(&slow_chain(1));
    let mut first = lab.spawn(&["apply", "-auto-approve"]);
    lab.wait_for_lines("started.log", 1);
    let second = lab.hive(&["apply", "-auto-approve"]);
    assert_eq!(second.code, 1);
    let said = flat(&second.stderr);
    assert!(said.contains("the state is locked"), "{said}");
    assert!(said.contains("running `hive apply`"), "{said}");
    assert!(said.contains(&format!("(pid {})", first.id())), "{said}");
    // With a timeout it waits for the first to finish.
    let waiting = lab.spawn(&["plan", "-lock-timeout=60s"]);
    std::fs::write(lab.path().join("go0"), "").expect("go");
    assert!(first.wait().expect("first").success());
    let out = waiting.wait_with_output().expect("waiting");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn saved_plans_apply_exactly_and_stale_ones_are_refused() {
    let lab = Lab::new(CHAIN);
    ok(&lab.hive(&["plan", "-out", "first.plan"]));
    ok(&lab.hive(&["plan", "-out", "second.plan"]));
    let mode = std::fs::metadata(lab.path().join("first.plan")).expect("plan file");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let shown = lab.hive(&["show", "first.plan"]);
    assert!(shown.stdout.contains("Plan: 4 to add"), "{}", shown.stdout);
    ok(&lab.hive(&["apply", "first.plan"]));
    assert_eq!(lab.lines("order.log").len(), 4);
    let stale = lab.hive(&["apply", "second.plan"]);
    assert_eq!(stale.code, 1);
    assert!(
        stale.stderr.contains("the saved plan is stale"),
        "{}",
        stale.stderr
    );
    assert_eq!(
        lab.lines("order.log").len(),
        4,
        "a stale plan must do nothing"
    );
}

#[test]
fn state_rm_forgets_and_state_mv_renames() {
    let lab = Lab::new(CHAIN);
    ok(&lab.hive(&["apply", "-auto-approve"]));
    let removed = lab.hive(&["state", "rm", "command.independent"]);
    ok(&removed);
    assert!(
        removed.stdout.contains("state.json.backup"),
        "{}",
        removed.stdout
    );
    let nothing = lab.hive(&["state", "rm"]);
    assert_eq!(nothing.code, 1);
    assert!(
        nothing.stderr.contains("needs the addresses"),
        "{}",
        nothing.stderr
    );
    assert!(!lab
        .state_addresses()
        .contains(&"command.independent".to_string()));
    let plan = lab.hive(&["plan"]);
    assert!(
        plan.stdout
            .contains("# command.independent will be created"),
        "{}",
        plan.stdout
    );
    ok(&lab.hive(&["state", "mv", "command.app", "command.web"]));
    let addresses = lab.state_addresses();
    assert!(
        addresses.contains(&"command.web[0]".to_string()),
        "{addresses:?}"
    );
    assert!(
        addresses.contains(&"command.web[1]".to_string()),
        "{addresses:?}"
    );
    let refused = lab.hive(&["state", "mv", "command.web[0]", "command.base"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("already in the state"),
        "{}",
        refused.stderr
    );
}

#[test]
fn sensitive_values_never_show_in_plan_apply_show_or_output() {
    let config = r#"
variable "token" {
  type      = string
  sensitive = true
}

command "login" {
  run   = "echo logged in"
  input = { token = var.token, user = "ci" }
}

output "token" {
  value     = var.token
  sensitive = true
}

output "user" {
  value = command.login.input.user
}
"#;
    let lab = Lab::new(config);
    let secret = "hunter2-secret";
    let var = format!("token={secret}");
    let mut everything = String::new();
    for args in [
        vec!["plan", "-var", &var],
        vec!["apply", "-auto-approve", "-var", &var],
        vec!["show"],
        vec!["show", "-json"],
        vec!["output"],
        vec!["output", "-json"],
        vec!["output", "token"],
        vec!["state", "show", "command.login"],
    ] {
        let r = lab.hive(&args);
        assert!(r.code == 0, "{args:?}: {}\n{}", r.stdout, r.stderr);
        everything.push_str(&r.stdout);
        everything.push_str(&r.stderr);
    }
    assert!(!everything.contains(secret), "secret shown:\n{everything}");
    assert!(everything.contains("(sensitive)"), "{everything}");
    let user = lab.hive(&["output", "user"]);
    assert_eq!(user.stdout.trim(), "\"ci\"");
}

#[test]
fn target_limits_the_plan_and_replace_forces_one() {
    let lab = Lab::new(CHAIN);
    let r = lab.hive(&["apply", "-auto-approve", "-target", "command.app[1]"]);
    ok(&r);
    let mut order = lab.lines("order.log");
    order.sort();
    assert_eq!(order, ["create app1", "create base"]);
    ok(&lab.hive(&["apply", "-auto-approve"]));
    std::fs::remove_file(lab.path().join("order.log")).expect("rm");
    let plan = lab.hive(&["plan", "-replace", "command.independent"]);
    assert!(
        plan.stdout.contains("requested with -replace"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("Plan: 1 to add, 0 to change, 1 to destroy."),
        "{}",
        plan.stdout
    );
}

#[test]
fn prevent_destroy_blocks_and_ignore_changes_is_honoured() {
    let config = |run: &str, keep: bool| {
        format!(
            "command \"db\" {{\n  run   = \"{run}\"\n  input = \"{run}\"\n  lifecycle {{\n    prevent_destroy = {keep}\n    ignore_changes  = [input]\n  }}\n}}\n"
        )
    };
    let lab = Lab::new(&config("echo one", true));
    ok(&lab.hive(&["apply", "-auto-approve"]));
    lab.write(&config("echo two", true));
    let blocked = lab.hive(&["plan"]);
    assert_eq!(blocked.code, 1);
    assert!(
        blocked.stderr.contains("prevent_destroy"),
        "{}",
        blocked.stderr
    );
    let destroy = lab.hive(&["destroy", "-auto-approve"]);
    assert_eq!(destroy.code, 1, "{}", destroy.stdout);
    // input changed too, but it is ignored: only run (which replaces) shows.
    lab.write(&config("echo two", false));
    let plan = lab.hive(&["plan"]);
    assert!(
        plan.stdout.contains("run forces replacement"),
        "{}",
        plan.stdout
    );
    lab.write(&config("echo one", false).replace("input = \"echo one\"", "input = \"other\""));
    let quiet = lab.hive(&["plan", "-detailed-exitcode"]);
    assert_eq!(quiet.code, 0, "{}", quiet.stdout);
}

/// Commands that record when they start and end, to measure how many ran at once. Each
/// waits until `want` run together, or `patience` tenths of a second pass: a cap that holds
/// shows as exactly the cap, one that does not as more.
fn overlapping(n: usize, extra: &str, host: bool, want: usize, patience: usize) -> String {
    let mut out = String::from(extra);
    let ticks = patience * 10;
    for i in 0..n {
        let host = if host { "  host = host.lab\n" } else { "" };
        out.push_str(&format!(
            "command \"p{i}\" {{\n  run = \"echo start >> events.log; i=0; while [ $(( $(grep -c start events.log) - $(grep -c end events.log) )) -lt {want} ] && [ $i -lt {ticks} ]; do sleep 0.01; i=$((i+1)); done; echo end >> events.log\"\n{host}}}\n\n"
        ));
    }
    out
}

fn max_overlap(lab: &Lab) -> usize {
    let mut now = 0usize;
    let mut max = 0;
    for line in lab.lines("events.log") {
        if line == "start" {
            now += 1;
            max = max.max(now);
        } else {
            now = now.saturating_sub(1);
        }
    }
    max
}

#[test]
fn parallelism_and_per_host_max_parallel_bound_concurrent_steps() {
    let lab = Lab::new(&overlapping(6, "", false, 3, 6));
    ok(&lab.hive(&["apply", "-auto-approve", "-parallelism", "2"]));
    assert_eq!(max_overlap(&lab), 2);
    let lab = Lab::new(&overlapping(6, "", false, 6, 50));
    ok(&lab.hive(&["apply", "-auto-approve"]));
    assert_eq!(max_overlap(&lab), 6, "the default parallelism is 10");
    let lab = Lab::new(&overlapping(
        6,
        "hive {\n  parallelism = var.n\n}\n\nvariable \"n\" {\n  default = 3\n}\n\n",
        false,
        4,
        6,
    ));
    ok(&lab.hive(&["apply", "-auto-approve"]));
    assert_eq!(max_overlap(&lab), 3, "parallelism = var.n is the cap");
    let lab = Lab::new(&overlapping(
        4,
        "host \"lab\" {\n  max_parallel = 1\n}\n\n",
        true,
        2,
        6,
    ));
    ok(&lab.hive(&["apply", "-auto-approve"]));
    assert_eq!(max_overlap(&lab), 1);
}

#[test]
fn an_interrupt_lets_running_steps_finish_records_them_and_exits_130() {
    let lab = Lab::new(&slow_chain(3));
    let mut child = lab.spawn(&["apply", "-auto-approve"]);
    lab.wait_for_lines("started.log", 1);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    for i in 0..3 {
        std::fs::write(lab.path().join(format!("go{i}")), "").expect("go");
    }
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    assert_eq!(lab.lines("done.log"), ["c0"]);
    assert_eq!(lab.state_addresses(), ["command.c0"]);
    ok(&lab.hive(&["apply", "-auto-approve"]));
    assert_eq!(lab.lines("done.log"), ["c0", "c1", "c2"]);
}

#[test]
fn graph_prints_instances_and_their_dependencies_as_dot() {
    let lab = Lab::new(CHAIN);
    let r = lab.hive(&["graph"]);
    ok(&r);
    assert!(r.stdout.starts_with("digraph hive {"), "{}", r.stdout);
    assert!(
        r.stdout.contains("\"command.app[0]\" -> \"command.base\";"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("\"command.app[1]\" -> \"command.base\";"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("\"command.independent\" ->"),
        "{}",
        r.stdout
    );
    let planned = lab.hive(&["graph", "-plan"]);
    ok(&planned);
    assert!(
        planned
            .stdout
            .contains("\"command.base\" [label = \"+ command.base\\ncreate\""),
        "{}",
        planned.stdout
    );
}

#[test]
fn json_output_is_one_event_per_line_without_values() {
    let config = format!(
        "{CHAIN}\nvariable \"secret\" {{\n  default   = \"hunter2-json\"\n  sensitive = true\n}}\n\ncommand \"s\" {{\n  input = var.secret\n}}\n"
    );
    let lab = Lab::new(&config);
    let refused = lab.hive(&["apply", "-json"]);
    assert_eq!(refused.code, 1, "-json without -auto-approve cannot ask");
    for args in [
        vec!["plan", "-json"],
        vec!["apply", "-json", "-auto-approve"],
    ] {
        let r = lab.hive(&args);
        ok(&r);
        assert!(!r.stdout.contains("hunter2-json"));
        let types: Vec<String> = r
            .stdout
            .lines()
            .map(|l| {
                let event: serde_json::Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
                assert!(
                    event["@message"].is_string() && event["@timestamp"].is_string(),
                    "{l}"
                );
                event["type"].as_str().unwrap_or_default().to_string()
            })
            .collect();
        assert_eq!(types.first().map(String::as_str), Some("version"));
        assert_eq!(types.iter().filter(|t| *t == "planned_change").count(), 5);
        assert!(types.contains(&"change_summary".to_string()));
        if args[0] == "apply" {
            assert_eq!(
                types.iter().filter(|t| *t == "apply_complete").count(),
                5,
                "{types:?}"
            );
            assert_eq!(types.last().map(String::as_str), Some("outputs"));
        }
    }
}

#[test]
fn create_before_destroy_makes_the_new_object_first() {
    let config = |v: &str| {
        format!(
            "command \"svc\" {{\n  run     = \"echo create {v} >> order.log\"\n  destroy = \"echo destroy {v} >> order.log\"\n  lifecycle {{\n    create_before_destroy = true\n  }}\n}}\n"
        )
    };
    let lab = Lab::new(&config("v1"));
    ok(&lab.hive(&["apply", "-auto-approve"]));
    lab.write(&config("v2"));
    let plan = lab.hive(&["plan"]);
    assert!(
        plan.stdout.contains("+/- command \"svc\""),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("the new one is created first"),
        "{}",
        plan.stdout
    );
    ok(&lab.hive(&["apply", "-auto-approve"]));
    assert_eq!(
        lab.lines("order.log"),
        ["create v1", "create v2", "destroy v1"]
    );
    assert_eq!(lab.state_addresses(), ["command.svc"]);
    let again = lab.hive(&["plan", "-detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
}

#[test]
fn multi_line_strings_change_as_a_unified_diff() {
    let config = |line: &str| {
        format!("command \"init\" {{\n  input = <<-EOT\n    #cloud-config\n    packages:\n      - {line}\n    runcmd: []\n  EOT\n}}\n")
    };
    let lab = Lab::new(&config("curl"));
    ok(&lab.hive(&["apply", "-auto-approve"]));
    lab.write(&config("wget"));
    let plan = lab.hive(&["plan"]);
    assert!(plan.stdout.contains("~ input = <<-EOT"), "{}", plan.stdout);
    assert!(plan.stdout.contains("@@ -1,4 +1,4 @@"), "{}", plan.stdout);
    assert!(plan.stdout.contains("-  - curl"), "{}", plan.stdout);
    assert!(plan.stdout.contains("+  - wget"), "{}", plan.stdout);
    assert!(
        plan.stdout
            .contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{}",
        plan.stdout
    );
}

#[test]
fn destroy_target_takes_what_depends_on_it_too() {
    let lab = Lab::new(CHAIN);
    ok(&lab.hive(&["apply", "-auto-approve", "-refresh=false"]));
    std::fs::remove_file(lab.path().join("order.log")).expect("rm");
    ok(&lab.hive(&["destroy", "-auto-approve", "-target", "command.base"]));
    let mut order = lab.lines("order.log");
    order.sort();
    assert_eq!(order, ["destroy app0", "destroy app1", "destroy base"]);
    assert_eq!(lab.state_addresses(), ["command.independent"]);
}

#[test]
fn a_second_interrupt_abandons_running_steps_and_records_them_as_interrupted() {
    let lab = Lab::new(&slow_chain(2));
    let mut child = lab.spawn(&["apply", "-auto-approve"]);
    lab.wait_for_lines("started.log", 1);
    let pid = child.id() as i32;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "hive did not stop on the second interrupt"
        );
        // SAFETY: as above; repeated until hive has seen the second one.
        unsafe { libc::kill(pid, libc::SIGINT) };
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130));
    // The command itself was stopped, not left running.
    let command_pid: i32 = lab.lines("pids.log")[0].parse().expect("pid");
    let deadline = Instant::now() + Duration::from_secs(10);
    // SAFETY: signal 0 only checks whether the process exists.
    while unsafe { libc::kill(command_pid, 0) } == 0 {
        assert!(
            Instant::now() < deadline,
            "the abandoned command is still running"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(lab.lines("done.log").is_empty());
    let plan = lab.hive(&["plan"]);
    assert!(
        plan.stdout
            .contains("# command.c0 will be created (its creation was interrupted)"),
        "{}",
        plan.stdout
    );
}

// ---- regressions from review ----------------------------------------------------------

#[test]
fn a_create_first_dependant_makes_its_dependency_create_first_too() {
    let config = r#"
variable "v" {
  default = "1"
}
command "a" {
  triggers = { v = var.v }
  run      = "echo create a-${var.v} >> order.log"
  destroy  = "echo destroy a-${var.v} >> order.log"
}
command "b" {
  triggers = { a = command.a.id }
  run      = "echo create b >> order.log"
  destroy  = "echo destroy b >> order.log"
  lifecycle {
    create_before_destroy = true
  }
}
"#;
    let lab = Lab::new(config);
    ok(&lab.hive(&["apply", "-auto-approve"]));
    std::fs::remove_file(lab.path().join("order.log")).expect("rm");
    let r = lab.hive(&["apply", "-auto-approve", "-var", "v=2"]);
    ok(&r);
    assert!(
        r.stdout.contains("2 added, 0 changed, 2 destroyed"),
        "{}",
        r.stdout
    );
    let order = lab.lines("order.log");
    let pos = |s: &str| order.iter().position(|l| l == s).unwrap_or(usize::MAX);
    assert!(pos("create a-2") < pos("create b"), "{order:?}");
    assert!(pos("create b") < pos("destroy b"), "{order:?}");
    assert!(pos("destroy b") < pos("destroy a-1"), "{order:?}");
    let again = lab.hive(&["plan", "-detailed-exitcode", "-var", "v=2"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
}

#[test]
fn prevent_destroy_also_guards_shrinking_counts_and_destroy_but_not_untargeted_plans() {
    let config = r#"
variable "n" {
  default = 2
}
command "db" {
  count = var.n
  lifecycle {
    prevent_destroy = true
  }
}
command "web" {
  input = var.n
}
"#;
    let lab = Lab::new(config);
    ok(&lab.hive(&["apply", "-auto-approve"]));
    let shrink = lab.hive(&["plan", "-var", "n=1"]);
    assert_eq!(shrink.code, 1);
    assert!(
        shrink
            .stderr
            .contains("command.db[1] has lifecycle.prevent_destroy"),
        "{}",
        shrink.stderr
    );
    let destroy = lab.hive(&["destroy", "-auto-approve"]);
    assert_eq!(destroy.code, 1);
    assert_eq!(lab.state_addresses().len(), 3, "nothing may be destroyed");
    ok(&lab.hive(&["plan", "-var", "n=1", "-target", "command.web"]));
}

#[test]
fn output_changes_are_applied_and_destroy_clears_outputs() {
    let lab = Lab::new("command \"a\" {\n  run = \"echo hi\"\n}\n");
    ok(&lab.hive(&["apply", "-auto-approve"]));
    lab.write("command \"a\" {\n  run = \"echo hi\"\n}\n\noutput \"o\" {\n  value = command.a.stdout\n}\n");
    let plan = lab.hive(&["plan", "-detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.stdout);
    ok(&lab.hive(&["apply", "-auto-approve"]));
    assert_eq!(lab.hive(&["output", "o"]).stdout.trim(), "\"hi\\n\"");
    ok(&lab.hive(&["destroy", "-auto-approve"]));
    assert_eq!(lab.hive(&["output"]).stdout.trim(), "");
}

#[test]
fn a_targeted_apply_keeps_outputs_it_did_not_touch() {
    let config = r#"
variable "v" {
  default = "1"
}
command "a" {
  input = var.v
}
command "b" {
  triggers = { v = var.v }
  run      = "echo b"
}
output "b_id" {
  value = command.b.id
}
"#;
    let lab = Lab::new(config);
    ok(&lab.hive(&["apply", "-auto-approve"]));
    let before = lab.hive(&["output", "b_id"]).stdout;
    ok(&lab.hive(&[
        "apply",
        "-auto-approve",
        "-var",
        "v=2",
        "-target",
        "command.a",
    ]));
    assert_eq!(lab.hive(&["output", "b_id"]).stdout, before);
}

#[test]
fn secrets_echoed_by_commands_or_in_their_errors_stay_hidden() {
    let config = r#"
variable "pw" {
  default   = "hunter2-pw"
  sensitive = true
}
command "ok" {
  run = "set -x; true ${var.pw}"
}
command "bad" {
  run = "echo using admin:${var.pw} >&2; exit 1"
}
"#;
    let lab = Lab::new(config);
    let mut all = String::new();
    for args in [
        vec!["apply", "-auto-approve"],
        vec!["apply", "-auto-approve", "-json"],
        vec!["show"],
        vec!["show", "-json"],
        vec!["state", "show", "command.ok"],
    ] {
        let r = lab.hive(&args);
        all.push_str(&r.stdout);
        all.push_str(&r.stderr);
    }
    assert!(!all.contains("hunter2-pw"), "{all}");
    assert!(all.contains("exited with code 1"), "{all}");
}

#[test]
fn ignored_attributes_keep_their_recorded_value_when_the_object_is_updated() {
    let config = r#"
variable "script" {
  default = "echo v1"
}
variable "note" {
  default = "n1"
}
command "a" {
  run   = var.script
  input = { note = var.note }
  lifecycle {
    ignore_changes = [run]
  }
}
"#;
    let lab = Lab::new(config);
    ok(&lab.hive(&["apply", "-auto-approve"]));
    ok(&lab.hive(&[
        "apply",
        "-auto-approve",
        "-var",
        "script=echo v2",
        "-var",
        "note=n2",
    ]));
    let shown = flat(&lab.hive(&["state", "show", "command.a"]).stdout);
    assert!(shown.contains("run = \"echo v1\""), "{shown}");
    assert!(shown.contains("note = \"n2\""), "{shown}");
}

#[test]
fn saved_targeted_plans_apply() {
    let lab = Lab::new(CHAIN);
    ok(&lab.hive(&["plan", "-target", "command.independent", "-out", "t.plan"]));
    ok(&lab.hive(&["apply", "t.plan"]));
    assert_eq!(lab.state_addresses(), ["command.independent"]);
}

#[test]
fn new_depends_on_changes_the_recorded_destroy_order() {
    // a's destroy says whether b's had finished: with the order wrong, it had not.
    let plain = "command \"a\" {\n  destroy = \"[ -e b.gone ] && echo destroy a >> order.log || echo destroy a before b >> order.log\"\n}\n\ncommand \"b\" {\n  destroy = \"echo destroy b >> order.log; touch b.gone\"\n}\n";
    let lab = Lab::new(plain);
    ok(&lab.hive(&["apply", "-auto-approve"]));
    lab.write(&plain.replace(
        "command \"b\" {\n",
        "command \"b\" {\n  depends_on = [command.a]\n",
    ));
    ok(&lab.hive(&["apply", "-auto-approve"]));
    ok(&lab.hive(&["destroy", "-auto-approve"]));
    assert_eq!(lab.lines("order.log"), ["destroy b", "destroy a"]);
}

#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let lab = Lab::new(CHAIN);
    ok(&lab.hive(&["apply", "-auto-approve"]));
    let mut child = hive()
        .arg("show")
        .current_dir(lab.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("internal error"),
        "{stderr}"
    );
}
