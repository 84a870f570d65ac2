//! The state as users depend on it: where its settings put it, a full disk that loses
//! nothing and runs nothing twice, locks whose details are always whole, plan files only
//! their owner reads, and saved plans that are refused rather than widened.

use crate::support::Workdir;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_state_goes_where_its_settings_say_even_through_a_variable() {
    let w = Workdir::new(vec![]);
    w.write(
        r#"
variable "where" {
  default = "elsewhere"
}

hive {
  state {
    backend = "local"
    path    = "${var.where}/my.json"
  }
}

command "a" {}
"#,
    );
    w.ok(&["apply", "-auto-approve"]);
    assert!(w.dir.path().join("elsewhere/my.json").exists());
    assert!(!w.dir.path().join(".hive/state.json").exists());
    assert_eq!(w.ok(&["state", "list"]).stdout.trim(), "command.a");
    // Commands without -var take variables from the environment.
    let moved = w
        .cmd(&["state", "list"])
        .env("HIVE_VAR_where", "other")
        .output()
        .expect("hive runs");
    assert!(String::from_utf8_lossy(&moved.stdout).trim().is_empty());
}

/// A tmpfs of `mib` MiB at a new directory (which it keeps), unmounted when dropped.
struct Tmpfs(PathBuf, #[allow(dead_code)] tempfile::TempDir);

impl Tmpfs {
    fn new(mib: usize) -> Tmpfs {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("small");
        std::fs::create_dir(&path).expect("mkdir");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mounting a tmpfs (the tests run as root)");
        Tmpfs(path, dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_once_clearly_leaves_no_temporary_file_and_runs_nothing_twice() {
    let disk = Tmpfs::new(24);
    let small = disk.0.display().to_string();
    let w = Workdir::new(vec![]);
    w.write(&format!(
        r#"
hive {{
  state {{
    path = "{small}/state.json"
  }}
}}

command "work" {{
  run = "echo work >> ran.log"
}}

# Fills the state's disk as it runs: its result is still recorded, folding it is not.
command "fill" {{
  run   = "dd if=/dev/zero of={small}/fill bs=1M 2>/dev/null || true; echo fill >> ran.log"
  input = command.work.id
}}
"#
    ));
    let ran = w.dir.path().join("ran.log");
    let tmp = disk.0.join("state.json.tmp");
    let first = w.hive(&["apply", "-auto-approve"]);
    assert_eq!(first.code, 1, "{}\n{}", first.stdout, first.stderr);
    assert!(
        !first.stdout.contains("Apply complete!"),
        "{}",
        first.stdout
    );
    assert!(first.stderr.contains("No space left"), "{}", first.stderr);
    assert!(
        first.stderr.contains("nothing will be done twice"),
        "{}",
        first.stderr
    );
    assert!(!tmp.exists(), "a temporary snapshot was left behind");
    assert_eq!(lines(&ran), ["work", "fill"]);

    // Still full: one clear failure again, and nothing runs again.
    let second = w.hive(&["apply", "-auto-approve"]);
    assert_eq!(second.code, 1, "{}\n{}", second.stdout, second.stderr);
    assert!(second.stderr.contains("No space left"), "{}", second.stderr);
    assert!(!tmp.exists());
    assert_eq!(lines(&ran), ["work", "fill"]);

    // Room again: the journal is folded, still nothing runs twice.
    std::fs::remove_file(disk.0.join("fill")).expect("rm");
    w.ok(&["apply", "-auto-approve"]);
    assert_eq!(lines(&ran), ["work", "fill"]);
    assert!(disk.0.join("state.json").exists());
    assert!(!disk.0.join("state.json.journal").exists());
    assert_eq!(w.hive(&["plan", "-detailed-exitcode"]).code, 0);
    w.ok(&["destroy", "-auto-approve"]);
}

#[test]
fn two_applies_started_together_never_show_a_lock_without_its_details() {
    let w = Workdir::new(vec![]);
    w.write(
        "command \"a\" {\n  triggers = { n = var.n }\n}\n\nvariable \"n\" {\n  default = 0\n}\n",
    );
    let mut refusals = 0;
    for n in 0..20 {
        let n = n.to_string();
        let start = || {
            w.cmd(&["apply", "-auto-approve", "-var", &format!("n={n}")])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("hive starts")
        };
        let (a, b) = (start(), start());
        for child in [a, b] {
            let out = child.wait_with_output().expect("wait");
            let said = String::from_utf8_lossy(&out.stderr).replace('│', " ");
            let said = said.split_whitespace().collect::<Vec<_>>().join(" ");
            if said.contains("the state is locked") {
                refusals += 1;
                assert!(!said.contains("ID ?"), "{said}");
                assert!(!said.contains("(pid 0)"), "{said}");
                assert!(said.contains("running `hive apply`"), "{said}");
            }
        }
    }
    // Not an assertion on timing: the race may or may not be lost, but every loss says who.
    eprintln!("{refusals} of 40 applies found the other holding the lock");
}

#[test]
fn a_plan_file_is_only_its_owners_whatever_was_there_before() {
    let w = Workdir::new(vec![]);
    w.write("command \"a\" {}\n");
    let file = w.dir.path().join("open.plan");
    std::fs::write(&file, "old").expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    w.ok(&["plan", "-out", file.to_str().expect("utf-8")]);
    let mode = std::fs::metadata(&file).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_saved_plan_whose_targets_cannot_be_read_is_refused_not_widened() {
    let w = Workdir::new(vec![]);
    w.write("command \"a\" {\n  run = \"echo a >> ran.log\"\n}\n\ncommand \"b\" {\n  run = \"echo b >> ran.log\"\n}\n");
    let path = w.dir.path().join("t.plan");
    let file = path.to_str().expect("utf-8");
    w.ok(&["plan", "-target", "command.a", "-out", file]);
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("plan")).expect("json");
    assert_eq!(plan["targets"], serde_json::json!(["command.a"]));
    plan["targets"] = serde_json::json!(["command..a"]);
    std::fs::write(&path, plan.to_string()).expect("write");
    let r = w.hive(&["apply", file]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("is not a hive plan file"), "{}", r.stderr);
    assert!(lines(&w.dir.path().join("ran.log")).is_empty());
}
