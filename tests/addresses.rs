//! Addresses are typed from end to end: `for_each` keys with any characters go through plan,
//! apply, state, `-target` and destroy; backend names made from them never meet; a state
//! written before deposed objects had their own member is read.

use crate::support::Workdir;

/// Keys that are not names: a `#` (once the deposed marker), a dot, a slash, a space, and
/// letters beyond ASCII.
const KEYS: &[&str] = &["a#b", "a.b", "a/b", "x y", "ключ", "plain"];

fn config(keys: &[&str]) -> String {
    let set: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
    format!(
        r#"
command "k" {{
  for_each = toset([{}])
  run      = "printf '%s\n' \"${{each.key}}\" >> made.log"
  destroy  = "printf '%s\n' \"${{each.key}}\" >> gone.log"
  input    = each.key
}}

command "after" {{
  for_each = command.k
  input    = each.value.input
}}

output "ids" {{
  value = {{ for k, c in command.k : k => c.input }}
}}
"#,
        set.join(", ")
    )
}

fn lines(w: &Workdir, name: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_to_string(w.dir.path().join(name))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    out.sort();
    out
}

fn sorted(keys: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    out.sort();
    out
}

#[test]
fn for_each_keys_with_any_characters_apply_plan_target_and_destroy() {
    let w = Workdir::new(vec![]);
    w.write(&config(KEYS));
    w.ok(&["apply", "-auto-approve"]);
    assert_eq!(lines(&w, "made.log"), sorted(KEYS));
    let listed = w.ok(&["state", "list"]).stdout;
    for key in KEYS {
        let address = format!("command.k[{}]", serde_json::Value::from(*key));
        assert!(
            listed.lines().any(|l| l == address),
            "{address} in:\n{listed}"
        );
    }
    let quiet = w.hive(&["plan", "-detailed-exitcode"]);
    assert_eq!(quiet.code, 0, "{}\n{}", quiet.stdout, quiet.stderr);
    let outputs: serde_json::Value =
        serde_json::from_str(&w.ok(&["output", "-json"]).stdout).expect("json");
    assert_eq!(outputs["ids"]["value"]["a#b"], "a#b");

    // One key, by -target: it and what depends on it (every instance of `after`, which
    // refers to the resource), nothing else.
    let one = w.ok(&["destroy", "-auto-approve", "-target", r#"command.k["a#b"]"#]);
    assert!(
        one.stdout.contains("0 added, 0 changed, 7 destroyed"),
        "{}",
        one.stdout
    );
    assert_eq!(lines(&w, "gone.log"), ["a#b"]);
    let replan = w.ok(&["plan", "-target", r#"command.k["x y"]"#]);
    assert!(!replan.stdout.contains(" will be "), "{}", replan.stdout);
    let back = w.hive(&["plan", "-detailed-exitcode"]);
    assert_eq!(back.code, 2, "{}", back.stdout);
    assert!(
        back.stdout
            .contains("Plan: 7 to add, 0 to change, 0 to destroy."),
        "{}",
        back.stdout
    );

    w.ok(&["destroy", "-auto-approve"]);
    assert_eq!(lines(&w, "gone.log"), sorted(KEYS));
    assert!(w.ok(&["state", "list"]).stdout.trim().is_empty());
}

#[test]
fn two_addresses_with_one_backend_name_are_refused_at_validate_naming_both() {
    let w = Workdir::new(vec![]);
    // `node-0` and `node[0]` both make the name node-0.
    w.write(
        r#"
instance "node" {
  count = 1
}

instance "node-0" {
}
"#,
    );
    let r = w.hive(&["validate"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let said = r.stderr.replace('│', " ");
    let said = said.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        said.contains(
            r#"instance.node-0: name "node-0" is already instance.node[0]'s on the same host"#
        ),
        "{said}"
    );
    assert!(said.contains("main.hive.hcl:6:"), "{said}");
}

#[test]
fn a_state_with_an_old_deposed_object_is_read_and_its_object_destroyed() {
    let w = Workdir::new(vec![]);
    w.write(
        r#"
command "a" {
  destroy = "echo $HIVE_WHICH >> gone.log"
  environment = { HIVE_WHICH = "new" }
}
"#,
    );
    w.ok(&["apply", "-auto-approve"]);
    // What an older hive left after a create-before-destroy replacement died halfway: the
    // old object kept as `command.a#deposed-ID`.
    let path = w.dir.path().join(".hive/state.json");
    let text = std::fs::read_to_string(&path).expect("state");
    let mut state: serde_json::Value = serde_json::from_str(&text).expect("json");
    let resources = state["resources"].as_array_mut().expect("resources");
    let mut old = resources[0].clone();
    old["address"] = "command.a#deposed-0ld1d".into();
    old["id"] = "0ld1d".into();
    old["attributes"]["environment"] = serde_json::json!({"HIVE_WHICH": "old"});
    resources.push(old);
    state.as_object_mut().expect("object").remove("checksum");
    let body = serde_json::to_string_pretty(&state).expect("json");
    // Sealed as the state format seals it: a digest of the text without the member.
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let open = body.strip_suffix('}').expect("object").trim_end();
    std::fs::write(
        &path,
        format!("{open},\n  \"checksum\": \"sha256:{digest}\"\n}}\n"),
    )
    .expect("write");

    let plan = w.ok(&["plan"]);
    assert!(
        plan.stdout.contains(
            "# command.a (deposed object 0ld1d) will be destroyed (replaced by a new object)"
        ),
        "{}",
        plan.stdout
    );
    w.ok(&["apply", "-auto-approve"]);
    assert_eq!(lines(&w, "gone.log"), ["old"]);
    let listed = w.ok(&["state", "list"]).stdout;
    assert_eq!(listed.trim(), "command.a");
}
