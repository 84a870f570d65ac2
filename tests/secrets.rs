//! What a command makes of a secret stays secret as a whole, and an output that would show
//! it is refused before anything is made; destroy never needs the outputs.

use crate::support::{Run, Workdir};

fn everything(w: &Workdir) -> String {
    let show = w.ok(&["show"]).stdout;
    let json = w.ok(&["show", "-json"]).stdout;
    let state = w.ok(&["state", "show", "command.d"]).stdout;
    let outputs = w.ok(&["output", "-json"]).stdout;
    format!("{show}\n{json}\n{state}\n{outputs}")
}

fn both(r: &Run) -> String {
    format!("{}\n{}", r.stdout, r.stderr)
}

const ECHOED: &str = r#"
variable "s" {
  type      = string
  sensitive = true
}

command "d" {
  run = "echo ${base64encode(var.s)} | base64 -d"
}
"#;

#[test]
fn an_output_of_what_a_secret_made_is_refused_before_anything_is_made() {
    let w = Workdir::new(vec![]);
    w.write(&format!(
        "{ECHOED}\noutput \"o\" {{\n  value = command.d.stdout\n}}\n"
    ));
    let validate = w.hive(&["validate"]);
    assert_eq!(validate.code, 1, "{}", both(&validate));
    assert!(
        validate
            .stderr
            .contains("output \"o\" refers to sensitive values"),
        "{}",
        validate.stderr
    );
    assert!(
        validate.stderr.contains("main.hive.hcl:12:"),
        "{}",
        validate.stderr
    );
    let apply = w.hive(&["apply", "-auto-approve", "-var", "s=hunter2"]);
    assert_eq!(apply.code, 1);
    assert!(
        !w.dir.path().join(".hive/state.json").exists(),
        "something was made"
    );
}

#[test]
fn destroy_removes_what_apply_made_whatever_the_outputs_say_now() {
    let w = Workdir::new(vec![]);
    w.write(&format!(
        "{ECHOED}\noutput \"o\" {{\n  value     = command.d.stdout\n  sensitive = true\n}}\n"
    ));
    w.ok(&["apply", "-auto-approve", "-var", "s=hunter2"]);
    let o = w.ok(&["output", "o"]).stdout;
    assert_eq!(o.trim(), "(sensitive)");
    // The output loses its mark: plans are refused, destroy is not.
    w.write(&format!(
        "{ECHOED}\noutput \"o\" {{\n  value = command.d.stdout\n}}\n"
    ));
    assert_eq!(w.hive(&["plan", "-var", "s=hunter2"]).code, 1);
    w.ok(&["destroy", "-auto-approve", "-var", "s=hunter2"]);
    assert!(w.ok(&["state", "list"]).stdout.trim().is_empty());
    // Without the variable too: destroying needs no value of it.
    w.write(&format!(
        "{ECHOED}\noutput \"o\" {{\n  value     = command.d.stdout\n  sensitive = true\n}}\n"
    ));
    w.ok(&["apply", "-auto-approve", "-var", "s=hunter2"]);
    w.ok(&["destroy", "-auto-approve"]);
}

#[test]
fn output_derived_from_a_secret_is_hidden_whole_everywhere_whatever_its_length() {
    for (secret, script, derived) in [
        ("hunter2", "echo ${upper(var.s)}", "HUNTER2"),
        // Too short to look for in text: hidden because of what the command is made of.
        ("ab", "echo x${var.s}y", "xaby"),
    ] {
        let w = Workdir::new(vec![]);
        w.write(&format!(
            "variable \"s\" {{\n  sensitive = true\n}}\n\ncommand \"d\" {{\n  run = \"{script}\"\n}}\n"
        ));
        let apply = w.ok(&["apply", "-auto-approve", "-var", &format!("s={secret}")]);
        assert!(!both(&apply).contains(derived), "{}", both(&apply));
        let shown = everything(&w);
        assert!(!shown.contains(derived), "{derived} shown:\n{shown}");
        assert!(shown.contains("(sensitive)"), "{shown}");
        // Unrelated attributes stay readable.
        assert!(shown.contains("exit_code"), "{shown}");
    }
}

#[test]
fn a_failing_command_made_of_a_secret_shows_none_of_its_error_output() {
    let w = Workdir::new(vec![]);
    w.write(
        "variable \"s\" {\n  sensitive = true\n}\n\ncommand \"d\" {\n  run = \"echo ${upper(var.s)} >&2; exit 4\"\n}\n",
    );
    let text = w.hive(&["apply", "-auto-approve", "-var", "s=hunter2"]);
    assert_eq!(text.code, 1);
    assert!(!both(&text).contains("HUNTER2"), "{}", both(&text));
    assert!(
        both(&text).contains("exited with code 4"),
        "{}",
        both(&text)
    );
    let json = w.hive(&["apply", "-auto-approve", "-json", "-var", "s=hunter2"]);
    assert!(!both(&json).contains("HUNTER2"), "{}", both(&json));
    assert!(json.stdout.contains("apply_errored"), "{}", json.stdout);
}

#[test]
fn a_credential_is_never_kept_and_a_saved_plan_holds_no_sensitive_variable() {
    let w = Workdir::new(vec![]);
    w.write(
        r#"
variable "token" {
  type      = string
  sensitive = true
}

host "local" {}

command "a" {
  host = host.local
  run  = "test -n \"${var.token}\""
}

output "the_host" {
  value     = command.a.host
  sensitive = true
}
"#,
    );
    let plan_file = w.dir.path().join("saved.plan");
    let plan_file = plan_file.to_str().expect("utf-8 path");
    w.ok(&[
        "plan",
        "-var",
        "token=TOKEN-NOT-IN-PLANS",
        "-out",
        plan_file,
    ]);
    let saved = std::fs::read_to_string(plan_file).expect("plan file");
    assert!(
        !saved.contains("\"token\""),
        "the variable's value is not saved: {saved}"
    );
    // The sensitive variable is given again when the plan is applied.
    let without = w.hive(&["apply", plan_file]);
    assert_ne!(without.code, 0);
    assert!(without.stderr.contains("token"), "{}", both(&without));
    let mut with = w.cmd(&["apply", plan_file]);
    with.env("HIVE_VAR_token", "TOKEN-NOT-IN-PLANS");
    let applied = crate::support::run(&mut with);
    assert_eq!(applied.code, 0, "{}", both(&applied));
    // Nothing recorded to compare with is not a change.
    let plan = w.ok(&["plan", "-var", "token=TOKEN-NOT-IN-PLANS"]);
    assert!(plan.stdout.contains("No changes"), "{}", plan.stdout);
}
