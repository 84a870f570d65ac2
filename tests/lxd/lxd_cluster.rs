//! `examples/lxd-cluster`, as a user runs it, on multipass instances of the stand-in
//! (tests/support/multipass): a master and two members form an LXD cluster, each member
//! joining with its own token; one more member adds one join and touches no other; destroy
//! leaves nothing in multipass or in LXD.

use crate::lab::Lab;
use serde_json::Value as Json;
use std::path::Path;

fn multipass() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support/multipass")
        .display()
        .to_string()
}

/// The cluster's members as the master's LXD lists them: (name, status).
fn cluster_members(master: &str) -> Vec<(String, String)> {
    let out = std::process::Command::new(multipass())
        .args([
            "exec", master, "--", "lxc", "cluster", "list", "--format", "json",
        ])
        .output()
        .expect("the stand-in runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let members: Json = serde_json::from_slice(&out.stdout).expect("JSON");
    let mut found: Vec<(String, String)> = members
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["server_name"].as_str().unwrap_or("").to_string(),
                m["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

fn online(names: &[&str]) -> Vec<(String, String)> {
    names
        .iter()
        .map(|n| (n.to_string(), "Online".to_string()))
        .collect()
}

#[test]
fn the_lxd_cluster_example_forms_a_cluster_and_grows_by_one_join() {
    let lab = Lab::new("e2ec", 49);
    for name in ["master", "member1", "member2", "member3"] {
        let _ = std::process::Command::new(multipass())
            .args(["delete", "--purge", &format!("e2ec-{name}")])
            .output();
    }
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/lxd-cluster/main.hive.hcl"
    );
    std::fs::copy(example, lab.dir.path().join("main.hive.hcl")).expect("copy the example");
    let binary = format!("multipass={}", multipass());
    let with = |args: &[&str], extra: &[&str]| -> Vec<String> {
        args.iter()
            .chain(["-var", &binary, "-var", "prefix=e2ec"].iter())
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        lab.ok(&args)
    };

    run(with(&["apply", "-auto-approve"], &[]));
    let members: Json =
        serde_json::from_str(&lab.ok(&["output", "-json", "members"]).stdout).expect("JSON");
    let names: Vec<&str> = members
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(names, ["e2ec-master", "e2ec-member1", "e2ec-member2"]);
    assert!(
        members
            .as_object()
            .into_iter()
            .flatten()
            .all(|(_, ip)| ip.as_str().is_some_and(|ip| ip.starts_with("10.250.0."))),
        "{members}"
    );
    assert_eq!(
        cluster_members("e2ec-master"),
        online(&["e2ec-master", "e2ec-member1", "e2ec-member2"])
    );
    let report = lab.ok(&["output", "--raw", "cluster"]).stdout;
    assert_eq!(report.matches("ONLINE").count(), 3, "{report}");
    assert_eq!(
        run(with(&["plan", "-detailed-exitcode"], &[])).code,
        0,
        "nothing to do"
    );

    // One more member: its instance, its token, its join; the report again; nothing else.
    let three = r#"members=["member1","member2","member3"]"#;
    let plan = run(with(&["plan"], &["-var", three])).stdout;
    let changes: Vec<&str> = plan
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("# ") && (l.contains(" will be ") || l.contains(" must be "))
        })
        .map(str::trim)
        .collect();
    assert_eq!(
        changes,
        [
            "# command.cluster must be replaced (triggers forces replacement)",
            "# command.join[\"member3\"] will be created",
            "# command.token[\"member3\"] will be created",
            "# instance.member[\"member3\"] will be created",
        ],
        "{plan}"
    );
    run(with(&["apply", "-auto-approve"], &["-var", three]));
    assert_eq!(
        cluster_members("e2ec-master"),
        online(&[
            "e2ec-master",
            "e2ec-member1",
            "e2ec-member2",
            "e2ec-member3"
        ])
    );

    // Back to two: the member leaves the cluster before its instance goes.
    run(with(&["apply", "-auto-approve"], &[]));
    assert_eq!(
        cluster_members("e2ec-master"),
        online(&["e2ec-master", "e2ec-member1", "e2ec-member2"])
    );

    run(with(&["destroy", "-auto-approve"], &[]));
    let left = std::process::Command::new(multipass())
        .args(["list", "--format", "json"])
        .output()
        .expect("the stand-in runs");
    assert!(
        !String::from_utf8_lossy(&left.stdout).contains("e2ec-"),
        "left in multipass"
    );
    assert!(!crate::lab::lxc(&["list", "-c", "n", "--format", "csv"]).contains("mp-e2ec"));
}
