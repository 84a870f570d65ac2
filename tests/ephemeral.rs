//! Ephemeral variables and outputs: a value given to an ephemeral variable appears in no
//! file hive writes (state, journal, backup, saved plan), and using one where hive keeps a
//! record is an error at the reference.

use crate::support::{config_dir, hive, run, Run};
use std::path::Path;

const CANARY: &str = "canary-7f3a9c-token";

const CONFIG: &str = r#"
variable "token" {
  type      = string
  ephemeral = true
}

locals {
  header = "Bearer ${var.token}"
}

command "job" {
  run = "echo job"
}

output "header" {
  value     = local.header
  ephemeral = true
}

output "job" {
  value = command.job.stdout
}
"#;

fn in_dir(dir: &Path, args: &[&str]) -> Run {
    run(hive().args(args).current_dir(dir))
}

/// Every file under `dir` that holds `text`.
fn files_holding(dir: &Path, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path).is_ok_and(|b| String::from_utf8_lossy(&b).contains(text))
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[test]
fn an_ephemeral_value_is_in_no_file_hive_writes() {
    let lab = config_dir(&[("main.hive.hcl", CONFIG)]);
    let dir = lab.path();
    let var = format!("token={CANARY}");
    let r = in_dir(dir, &["apply", "-auto-approve", "-var", &var]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = in_dir(dir, &["plan", "-var", &var, "-out", "saved.plan"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains(CANARY) && !r.stderr.contains(CANARY));
    // A saved plan keeps no ephemeral value: it is given again.
    let r = in_dir(dir, &["apply", "-var", &var, "saved.plan"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(files_holding(dir, CANARY), Vec::<String>::new());
    let outputs = in_dir(dir, &["output", "-json"]).stdout;
    assert!(
        !outputs.contains("header"),
        "an ephemeral output is not recorded: {outputs}"
    );

    // Where the state would keep it: refused, at the reference.
    std::fs::write(
        dir.join("main.hive.hcl"),
        CONFIG.replace(
            "run = \"echo job\"",
            "run = \"curl -H '${local.header}' x\"",
        ),
    )
    .expect("write");
    let bad = in_dir(dir, &["validate"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains(
            "local.header is ephemeral: it cannot go into command.job.run, which the state records"
        ),
        "{}",
        bad.stderr
    );
}
