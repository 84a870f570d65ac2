//! `lifecycle` conditions and triggers on `command` resources: a precondition that fails
//! stops the plan with its message at its place; a postcondition sees the instance as
//! `self`; `replace_triggered_by` replaces an instance when what it names changes.

use crate::support::{config_dir, hive, run, Run};
use std::path::Path;

const PIPELINE: &str = r#"
variable "version" {
  type    = string
  default = "1"
}

variable "nodes" {
  type    = number
  default = 3
}

command "build" {
  run = "echo build ${var.version} >> log"
}

command "deploy" {
  run = "echo deploy >> log"
  lifecycle {
    replace_triggered_by = [command.build.id]
    precondition {
      condition     = var.nodes % 2 == 1
      error_message = "nodes must be odd for a quorum, not ${var.nodes}"
    }
    postcondition {
      condition     = startswith(self.run, "echo")
      error_message = "deploy must echo, not ${self.run}"
    }
  }
}
"#;

fn in_dir(dir: &Path, args: &[&str]) -> Run {
    run(hive().args(args).current_dir(dir))
}

#[test]
fn conditions_stop_the_plan_and_triggers_replace() {
    let lab = config_dir(&[("main.hive.hcl", PIPELINE)]);
    let dir = lab.path();
    let r = in_dir(dir, &["apply", "-auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let refused = in_dir(dir, &["plan", "-var", "nodes=4"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains(
            "precondition of command.deploy failed: nodes must be odd for a quorum, not 4"
        ),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("main.hive.hcl:21:23"),
        "{}",
        refused.stderr
    );

    let plan = in_dir(dir, &["plan", "-var", "version=2"]);
    assert!(
        plan.stdout.contains(
            "command.deploy must be replaced (replace_triggered_by command.build, which changes)"
        ),
        "{}",
        plan.stdout
    );
    let r = in_dir(dir, &["apply", "-auto-approve", "-var", "version=2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = std::fs::read_to_string(dir.join("log")).expect("log");
    assert_eq!(log.matches("deploy").count(), 2, "{log}");
    let plan = in_dir(dir, &["plan", "-detailed-exitcode", "-var", "version=2"]);
    assert_eq!(
        plan.code, 0,
        "nothing changes, nothing is triggered: {}",
        plan.stdout
    );

    std::fs::write(
        dir.join("main.hive.hcl"),
        PIPELINE.replace("run = \"echo deploy >> log\"", "run = \"true\""),
    )
    .expect("write");
    let refused = in_dir(dir, &["plan", "-var", "version=2"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .contains("postcondition of command.deploy failed: deploy must echo, not true"),
        "{}",
        refused.stderr
    );
}

const CHECKED: &str = r#"
variable "replicas" {
  type    = number
  default = 1
}

command "svc" {
  run = "echo started"
}

check "service" {
  assert {
    condition     = var.replicas >= 2
    error_message = "only ${var.replicas} replica: no redundancy"
  }
  assert {
    condition     = command.svc.stdout == ""
    error_message = "the service printed ${trimspace(command.svc.stdout)}"
  }
}
"#;

/// Checks report after plan and after apply (what is known only after apply, then), and
/// never fail either.
#[test]
fn check_blocks_warn_after_plan_and_apply_without_failing() {
    let lab = config_dir(&[("main.hive.hcl", CHECKED)]);
    let dir = lab.path();
    let plan = in_dir(dir, &["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stderr
            .contains("check \"service\" failed: only 1 replica: no redundancy"),
        "{}",
        plan.stderr
    );
    assert!(
        !plan.stderr.contains("printed"),
        "not known before apply: {}",
        plan.stderr
    );
    let apply = in_dir(dir, &["apply", "-auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert_eq!(
        apply.stderr.matches("failed: only 1 replica").count(),
        1,
        "said once: {}",
        apply.stderr
    );
    assert!(
        apply
            .stderr
            .contains("check \"service\" failed: the service printed started"),
        "{}",
        apply.stderr
    );
    let quiet = in_dir(dir, &["plan", "-var", "replicas=3", "-detailed-exitcode"]);
    assert_eq!(quiet.code, 0);
    assert!(!quiet.stderr.contains("no redundancy"), "{}", quiet.stderr);
}
