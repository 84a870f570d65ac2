//! The command line as a user types it: global -C, Terraform-style single-dash options,
//! variables from every source with their priorities, exit codes.

use crate::support::{config_dir, hive, run};

const VARS: &str = r#"
variable "nodes" {
  type    = number
  default = 1
}

variable "tags" {
  type    = map(string)
  default = {}
}

instance "node" {
  count = var.nodes
}

locals {
  check = var.nodes
}
"#;

#[test]
fn dash_c_works_before_and_after_the_command() {
    let dir = config_dir(&[("main.hive.hcl", VARS)]);
    let path = dir.path().to_str().expect("utf-8 path");
    for args in [vec!["-C", path, "validate"], vec!["validate", "-C", path]] {
        let r = run(hive().args(&args));
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(r.stdout.contains("The configuration is valid"));
    }
}

#[test]
fn long_options_take_one_dash_or_two() {
    let dir = config_dir(&[("main.hive.hcl", VARS)]);
    for flag in ["-json", "--json"] {
        let r = run(hive().args(["validate", flag]).current_dir(dir.path()));
        assert_eq!(r.code, 0, "{flag}: {}", r.stderr);
        let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
        assert_eq!(doc["valid"], true);
    }
}

#[test]
fn a_missing_directory_is_an_error_naming_it() {
    let r = run(hive().args(["-C", "/nonexistent/hive-dir", "validate"]));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("/nonexistent/hive-dir"), "{}", r.stderr);
}

#[test]
fn variable_sources_apply_in_spec_priority_order() {
    use hive::ops::validate::{validate, VarOptions};
    let config = "variable \"v\" {\n  type = string\n  default = \"default\"\n}\noutput \"v\" {\n  value = var.v\n}\n";
    let dir = config_dir(&[
        ("main.hive.hcl", config),
        ("x.hivevars.hcl", "v = \"file\"\n"),
    ]);
    let file = dir.path().join("x.hivevars.hcl");
    let value = |options: VarOptions| {
        let r = validate(dir.path(), &crate::support::registry(), &options);
        assert!(!r.diagnostics.has_errors(), "{:?}", r.diagnostics);
        r.evaluated.expect("evaluated").outputs["v"]
            .as_str()
            .map(str::to_string)
    };
    assert_eq!(value(VarOptions::default()).as_deref(), Some("default"));
    let cli = VarOptions {
        vars: vec!["v=cli".into()],
        ..Default::default()
    };
    assert_eq!(value(cli.clone()).as_deref(), Some("cli"));
    let with_file = VarOptions {
        var_files: vec![file.clone()],
        ..cli.clone()
    };
    assert_eq!(value(with_file.clone()).as_deref(), Some("file"));
    let with_env = VarOptions {
        env: vec![("HIVE_VAR_v".into(), "env".into())],
        ..with_file
    };
    assert_eq!(value(with_env).as_deref(), Some("env"));
}

#[test]
fn variables_from_the_command_line_are_type_checked() {
    let dir = config_dir(&[("main.hive.hcl", VARS)]);
    let ok = run(hive()
        .args(["validate", "-var", "nodes=5", "-var", "tags={a=\"b\"}"])
        .current_dir(dir.path()));
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let bad = run(hive()
        .args(["validate", "-var", "nodes=five"])
        .current_dir(dir.path()));
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .contains("invalid value for variable \"nodes\" (from -var)"),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stderr.contains("cannot convert \"five\" to a number"),
        "{}",
        bad.stderr
    );
    let undeclared = run(hive()
        .args(["validate", "-var", "nodez=1"])
        .current_dir(dir.path()));
    assert_eq!(undeclared.code, 1);
    assert!(
        undeclared.stderr.contains("undeclared variable \"nodez\""),
        "{}",
        undeclared.stderr
    );
    assert!(
        undeclared.stderr.contains("did you mean \"nodes\"?"),
        "{}",
        undeclared.stderr
    );
    let env = run(hive()
        .args(["validate"])
        .env("HIVE_VAR_nodes", "x")
        .current_dir(dir.path()));
    assert_eq!(env.code, 1);
    assert!(
        env.stderr.contains("(from the environment)"),
        "{}",
        env.stderr
    );
}

#[test]
fn a_bad_variables_file_points_at_the_line() {
    let dir = config_dir(&[
        ("main.hive.hcl", VARS),
        ("bad.hivevars.hcl", "nodes = \"many\"\n"),
    ]);
    let r = run(hive()
        .args(["validate", "-var-file", "bad.hivevars.hcl"])
        .current_dir(dir.path()));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("bad.hivevars.hcl:1:9"), "{}", r.stderr);
}

#[test]
fn sensitive_values_never_appear_in_diagnostics() {
    let config = r#"
variable "secret" {
  type      = string
  sensitive = true
}
locals {
  n = var.secret + 1
}
"#;
    let dir = config_dir(&[("main.hive.hcl", config)]);
    let r = run(hive()
        .args(["validate", "-var", "secret=hunter2"])
        .current_dir(dir.path()));
    assert_eq!(r.code, 1);
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    let json = run(hive()
        .args(["validate", "-json", "-var", "secret=hunter2"])
        .current_dir(dir.path()));
    assert!(!json.stdout.contains("hunter2"), "{}", json.stdout);
}

/// Every way the review found a secret leaking into an error: a sensitive value that fails its
/// type check, a key derived from a secret, a secret passed into a template, and the keys of a
/// sensitive map.
#[test]
fn derived_secrets_never_appear_in_errors() {
    // (configuration, extra files, arguments)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (
            "variable \"pin\" {\n  type      = number\n  sensitive = true\n}\n",
            &[],
            &["-var", "pin=hunter2"],
        ),
        (
            "variable \"pw\" {\n  default   = \"hunter2\"\n  sensitive = true\n}\nlocals {\n  l = [1]\n  x = local.l[upper(var.pw)]\n}\n",
            &[],
            &[],
        ),
        (
            "variable \"pw\" {\n  default   = \"hunter2\"\n  sensitive = true\n}\nlocals {\n  x = templatefile(\"t.tpl\", { pw = var.pw })\n}\n",
            &[("t.tpl", "${tonumber(upper(pw))}")],
            &[],
        ),
        (
            "variable \"users\" {\n  default   = { alice_hunter2 = \"x\" }\n  sensitive = true\n}\nlocals {\n  a = var.users.bob\n  b = var.users[\"carol\"]\n}\n",
            &[],
            &[],
        ),
    ];
    for (config, extra, args) in cases {
        let mut files = vec![("main.hive.hcl", *config)];
        files.extend(extra.iter().copied());
        let dir = config_dir(&files);
        for json in [false, true] {
            let mut cmd = hive();
            cmd.arg("validate").args(*args).current_dir(dir.path());
            if json {
                cmd.arg("-json");
            }
            let r = run(&mut cmd);
            assert_eq!(r.code, 1, "{config}\n{}", r.stderr);
            let all = format!("{}{}", r.stdout, r.stderr).to_lowercase();
            assert!(
                !all.contains("hunter2"),
                "secret shown for:\n{config}\n{all}"
            );
        }
    }
}

#[test]
fn validate_takes_what_a_backend_will_choose_as_unknown_as_a_plan_does() {
    // `name` is the backend's to choose when unset, `wait_for` has a default: neither is
    // null at validate time, so using them as keys or in strings is fine.
    let dir = config_dir(&[(
        "main.hive.hcl",
        r#"
image "i" {
  source = "disk.qcow2"
}

instance "drone" {
  count = 2
  image = image.i
}

instance "master" {
  image = image.i
}

command "c" {
  run = "ssh ${instance.master.name} ${instance.master.wait_for}"
}

output "names" {
  value = { for i, d in instance.drone : d.name => i }
}
"#,
    )]);
    let r = run(hive().arg("-C").arg(dir.path()).arg("validate"));
    assert_eq!(r.code, 0, "{}", r.stderr);
}
