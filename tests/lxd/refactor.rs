//! `moved` and `removed` blocks on real containers: a moved block renames an instance
//! without destroying it (LXD keeps the same container, its tag now names the new address,
//! a scan calls it live); `removed { lifecycle { destroy = false } }` forgets one, which
//! keeps running, untagged, and a scan no longer lists it.

use crate::lab::{lxc, Lab, BASE};
use serde_json::Value as Json;

fn node(address_name: &str, container: &str) -> String {
    format!(
        r#"
instance "{address_name}" {{
  driver   = "lxd"
  host     = host.local
  image    = image.busybox
  name     = "{container}"
  wait_for = "running"
}}
"#
    )
}

fn created_at(container: &str) -> String {
    let info: Json = serde_json::from_str(&lxc(&["query", &format!("/1.0/instances/{container}")]))
        .expect("lxc query gives JSON");
    info["created_at"].as_str().unwrap_or_default().to_string()
}

fn tag(container: &str, key: &str) -> String {
    lxc(&["config", "get", container, &format!("user.hive.{key}")])
        .trim()
        .to_string()
}

#[test]
fn moved_renames_without_a_destroy_and_removed_forgets_without_one() {
    let lab = Lab::new("e2em", 44);
    lab.write(&format!(
        "{BASE}{}{}",
        node("old", "e2em-a"),
        node("keep", "e2em-b")
    ));
    lab.ok(&["apply", "-auto-approve"]);
    let born = created_at("e2em-a");

    // Renamed in the configuration, with a moved block: no destroy, no create.
    lab.write(&format!(
        "{BASE}{}{}\nmoved {{\n  from = instance.old\n  to   = instance.new\n}}\n",
        node("new", "e2em-a"),
        node("keep", "e2em-b")
    ));
    let plan = lab.ok(&["plan"]).stdout;
    assert!(
        plan.contains("# instance.old has moved to instance.new"),
        "{plan}"
    );
    assert!(
        plan.contains("0 to add, 0 to change, 0 to destroy; 0 to import, 1 to move, 0 to forget"),
        "{plan}"
    );
    lab.ok(&["apply", "-auto-approve"]);
    assert_eq!(created_at("e2em-a"), born, "the same container");
    assert_eq!(tag("e2em-a", "address"), "instance.new");
    let listed = lab.ok(&["state", "list"]).stdout;
    assert!(
        listed.contains("instance.new") && !listed.contains("instance.old"),
        "{listed}"
    );
    assert_eq!(
        lab.hive(&["plan", "-detailed-exitcode"]).code,
        0,
        "nothing left to do"
    );

    // Forgotten: out of the state and untagged, still running.
    lab.write(&format!(
        "{BASE}{}\nremoved {{\n  from = instance.keep\n  lifecycle {{\n    destroy = false\n  }}\n}}\n",
        node("new", "e2em-a")
    ));
    let plan = lab.ok(&["plan"]).stdout;
    assert!(
        plan.contains("# instance.keep will no longer be managed by hive"),
        "{plan}"
    );
    lab.ok(&["apply", "-auto-approve"]);
    let state = lab.ok(&["state", "list"]).stdout;
    assert!(!state.contains("instance.keep"), "{state}");
    let running = lxc(&["list", "e2em-b", "-c", "s", "--format", "csv"]);
    assert_eq!(running.trim(), "RUNNING");
    assert_eq!(tag("e2em-b", "lineage"), "", "no longer hive's");
    let scan = lab.ok(&["scan", "-json"]).stdout;
    let doc: Json = serde_json::from_str(&scan).expect("JSON");
    let named = |name: &str| {
        doc["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|o| o["name"] == name)
    };
    assert!(
        !named("e2em-b"),
        "the forgotten container is not hive's: {scan}"
    );
    let a = doc["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["name"] == "e2em-a")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (a["address"].as_str(), a["status"].as_str()),
        (Some("instance.new"), Some("live"))
    );

    // A moved block naming what the configuration still declares is refused at validate.
    lab.write(&format!(
        "{BASE}{}{}\nmoved {{\n  from = instance.new\n  to   = instance.other\n}}\n",
        node("new", "e2em-a"),
        node("other", "e2em-c")
    ));
    let bad = lab.hive(&["validate"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .contains("which the configuration still declares"),
        "{}",
        bad.stderr
    );

    lab.write(&format!("{BASE}{}", node("new", "e2em-a")));
    lab.ok(&["destroy", "-auto-approve"]);
    assert_eq!(
        lab.names(),
        vec!["e2em-b".to_string()],
        "the forgotten one stays"
    );
    let _ = lxc(&["delete", "--force", "e2em-b"]);
}

/// An `import` block adopts a container made with `lxc launch`: the plan says so and makes
/// nothing, the apply records it (the same container, now tagged as the state's).
#[test]
fn an_import_block_adopts_a_container_made_with_lxc_launch() {
    let lab = Lab::new("e2ei", 45);
    lab.write(BASE);
    lab.ok(&["apply", "-auto-approve"]);
    // The image the state records (LXD shares images by content: it may be another's).
    let shown = lab.ok(&["state", "show", "image.busybox"]).stdout;
    let fingerprint = shown
        .lines()
        .find_map(|l| l.trim().strip_prefix("id"))
        .map(|rest| rest.trim_start_matches([' ', '=']).trim().to_string())
        .expect("the image's id");
    // On the default profile's network: the lab's bridge, on its explicit subnet.
    let launched = std::process::Command::new("lxc")
        .args(["launch", &fingerprint, "e2ei-made"])
        .output()
        .expect("lxc runs");
    assert!(
        launched.status.success(),
        "{}",
        String::from_utf8_lossy(&launched.stderr)
    );
    let born = created_at("e2ei-made");
    lab.write(&format!(
        "{BASE}{}\nimport {{\n  to = instance.made\n  id = \"e2ei-made\"\n}}\n",
        node("made", "e2ei-made")
    ));
    let plan = lab.ok(&["plan"]).stdout;
    assert!(
        plan.contains("# instance.made will be imported from e2ei-made"),
        "{plan}"
    );
    assert!(!plan.contains("will be created"), "{plan}");
    lab.ok(&["apply", "-auto-approve"]);
    assert_eq!(created_at("e2ei-made"), born, "the same container");
    assert_eq!(tag("e2ei-made", "address"), "instance.made");
    let listed = lab.ok(&["state", "list"]).stdout;
    assert!(listed.contains("instance.made"), "{listed}");
    let again = lab.ok(&["plan"]).stdout;
    assert!(
        !again.contains("will be imported"),
        "imported once: {again}"
    );
    lab.ok(&["destroy", "-auto-approve"]);
    assert_eq!(lab.names(), Vec::<String>::new(), "destroyed with the rest");
}
