//! Two states of one configuration side by side: `hive.id` names each state, the same for
//! its whole life and different from every other's, so names made from it never collide.

use crate::support::{config_dir, hive, run, Run};
use std::path::Path;

const NAMED: &str = r#"
command "node" {
  count = 2
  input = "ci-${hive.id}-node-${count.index}"
  run   = "echo made"
}

output "id" {
  value = hive.id
}
"#;

fn in_dir(dir: &Path, args: &[&str]) -> Run {
    run(hive().args(args).current_dir(dir))
}

fn ok(r: Run) -> Run {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    r
}

fn id_of(dir: &Path) -> String {
    let out = ok(in_dir(dir, &["output", "-raw", "id"])).stdout;
    out.trim().to_string()
}

#[test]
fn hive_id_names_a_state_for_its_life_and_differs_between_states() {
    let one = config_dir(&[("main.hive.hcl", NAMED)]);
    let two = config_dir(&[("main.hive.hcl", NAMED)]);
    // A saved plan of a new state keeps the names it showed when applied.
    let planned = ok(in_dir(one.path(), &["plan", "-out", "first.plan"])).stdout;
    ok(in_dir(one.path(), &["apply", "first.plan"]));
    let id = id_of(one.path());
    assert!(
        id.len() == 8
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "{id}"
    );
    assert!(planned.contains(&format!("ci-{id}-node-0")), "{planned}");
    let shown = ok(in_dir(one.path(), &["state", "show", "command.node[1]"])).stdout;
    assert!(shown.contains(&format!("ci-{id}-node-1")), "{shown}");
    // The same on every later run: nothing to do.
    let again = in_dir(one.path(), &["plan", "-detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert_eq!(id_of(one.path()), id);

    ok(in_dir(two.path(), &["apply", "-auto-approve"]));
    let other = id_of(two.path());
    assert_ne!(other, id, "another state, another id");
    let shown = ok(in_dir(two.path(), &["state", "show", "command.node[0]"])).stdout;
    assert!(shown.contains(&format!("ci-{other}-node-0")), "{shown}");

    // Validation knows no state: hive.id is accepted, its value unknown.
    ok(in_dir(one.path(), &["validate"]));
    for dir in [one.path(), two.path()] {
        ok(in_dir(dir, &["destroy", "-auto-approve"]));
    }
}

#[test]
fn hive_id_is_refused_where_it_cannot_be_known_or_is_misspelt() {
    let misspelt = config_dir(&[("main.hive.hcl", "command \"c\" {\n  input = hive.idd\n}\n")]);
    let r = in_dir(misspelt.path(), &["validate"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("hive has no attribute \"idd\""),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("main.hive.hcl:2:"), "{}", r.stderr);

    let chooses_state = config_dir(&[(
        "main.hive.hcl",
        "hive {\n  state {\n    path = \"${hive.id}.json\"\n  }\n}\n",
    )]);
    let r = in_dir(chooses_state.path(), &["plan"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("hive.id is not known here"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("main.hive.hcl:3:"), "{}", r.stderr);
}
