//! The multipass stand-in (`tests/support/multipass`) keeps multipass's documented contract
//! on real LXD containers: what the multipass provider is tested against.

use crate::lab::Lab;
use serde_json::Value as Json;
use std::process::Command;

fn multipass(args: &[&str]) -> (i32, String, String) {
    let tool = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/multipass");
    let out = Command::new(tool)
        .args(args)
        .output()
        .expect("the stand-in runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_stand_in_keeps_multipass_s_contract_on_real_containers() {
    let _lab = Lab::new("e2em", 43);
    let _ = multipass(&["delete", "--purge", "e2em-a"]);
    let user_data = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(
        user_data.path(),
        "#cloud-config\nwrite_files:\n  - path: /root/made-by-cloud-init\n    content: \"yes\\n\"\n",
    )
    .expect("write user data");
    let path = user_data.path().display().to_string();
    let (code, out, err) = multipass(&[
        "launch",
        "22.04",
        "-n",
        "e2em-a",
        "-c",
        "2",
        "-m",
        "256M",
        "-d",
        "1G",
        "--cloud-init",
        &path,
        "--timeout",
        "120",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), "Launched: e2em-a");

    let (code, out, _) = multipass(&["info", "e2em-a", "--format", "json"]);
    assert_eq!(code, 0);
    let info: Json = serde_json::from_str(&out).expect("JSON");
    let me = &info["info"]["e2em-a"];
    assert_eq!(me["state"], "Running");
    assert_eq!(me["cpu_count"], "2", "a string, as multipass prints it");
    assert_eq!(me["memory"]["total"], 256 << 20, "an integer");
    assert_eq!(me["disks"]["sda1"]["total"], (1u64 << 30).to_string());
    assert!(
        me["ipv4"][0].as_str().is_some_and(|ip| ip.contains('.')),
        "{me}"
    );
    let (code, out, _) = multipass(&["exec", "e2em-a", "--", "cat", "/root/made-by-cloud-init"]);
    assert_eq!((code, out.as_str()), (0, "yes\n"), "real cloud-init ran");
    assert_eq!(
        multipass(&["exec", "e2em-a", "--", "sh", "-c", "exit 7"]).0,
        7
    );

    let (code, _, err) = multipass(&["launch", "-n", "e2em-a"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("launch failed: instance \"e2em-a\" already exists"),
        "{err}"
    );
    assert_eq!(multipass(&["launch", "-n", "e2em-b", "-m", "64M"]).0, 1);
    assert_eq!(multipass(&["launch", "nosuchimage", "-n", "e2em-b"]).0, 2);
    let (code, _, err) = multipass(&["launch", "-n", "e2em-b", "--timeout", "1"]);
    assert_eq!(code, 5, "{err}");
    let _ = multipass(&["delete", "--purge", "e2em-b"]);

    // Changes on a stopped instance only; the disk only grows.
    assert_eq!(multipass(&["set", "local.e2em-a.cpus", "1"]).0, 2);
    assert_eq!(multipass(&["stop", "e2em-a"]).0, 0);
    assert_eq!(multipass(&["set", "local.e2em-a.cpus", "1"]).0, 0);
    assert_eq!(multipass(&["set", "local.e2em-a.disk", "512M"]).0, 2);

    // Deleted until purged, recoverable meanwhile.
    assert_eq!(multipass(&["delete", "e2em-a"]).0, 0);
    let (_, out, _) = multipass(&["list", "--format", "json"]);
    assert!(out.contains("\"Deleted\""), "{out}");
    assert_eq!(multipass(&["recover", "e2em-a"]).0, 0);
    assert_eq!(multipass(&["delete", "--purge", "e2em-a"]).0, 0);
    let (code, _, err) = multipass(&["info", "e2em-a", "--format", "json"]);
    assert_eq!(code, 2);
    assert!(err.contains("does not exist"), "{err}");
    let down = Command::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/multipass"),
    )
    .args(["list", "--format", "json"])
    .env("HIVE_MULTIPASS_DOWN", "1")
    .status()
    .expect("runs");
    assert_eq!(down.code(), Some(3));
    assert!(!crate::lab::lxc(&["list", "-c", "n", "--format", "csv"]).contains("mp-e2em"));
}

fn provider_config(binary: &str) -> String {
    format!(
        r##"
host "local" {{
  multipass {{
    path = "{binary}"
  }}
}}

instance "node" {{
  count  = 2
  driver = "multipass"
  host   = host.local
  image  = "22.04"
  name   = "e2ep-${{count.index}}"
  cpus   = CPUS
  memory = "256MiB"
  disk {{
    size = "1GiB"
  }}
  cloud_init {{
    user_data = "#cloud-config\nwrite_files:\n  - path: /root/from-user-data\n    content: \"hello\\n\"\n"
  }}
  wait_for = "ssh"
}}
"##
    )
}

#[test]
fn multipass_instances_through_the_provider_against_the_stand_in() {
    let lab = Lab::new("e2ep", 44);
    for n in 0..2 {
        let _ = multipass(&["delete", "--purge", &format!("e2ep-{n}")]);
    }
    let tool = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/multipass");
    let config = provider_config(&tool.display().to_string());
    lab.write(&config.replace("CPUS", "1"));
    lab.ok(&["apply", "-auto-approve"]);
    let who = lab.ok(&[
        "ssh",
        "instance.node[1]",
        "--",
        "cat",
        "/root/from-user-data",
    ]);
    assert_eq!(
        who.stdout, "hello\n",
        "the user's cloud-init ran, and hive ssh gets in"
    );
    let (_, out, _) = multipass(&["info", "e2ep-0", "--format", "json"]);
    assert!(out.contains("\"cpu_count\": \"1\""), "{out}");
    assert_eq!(lab.ok(&["plan", "-detailed-exitcode"]).code, 0);

    // Changed outside hive: stopped, deleted (not purged), purged.
    assert_eq!(multipass(&["stop", "e2ep-0"]).0, 0);
    assert_eq!(multipass(&["delete", "e2ep-1"]).0, 0);
    let plan = lab.ok(&["plan"]).stdout;
    assert!(
        plan.contains("instance.node[0] will be updated in place"),
        "{plan}"
    );
    assert!(plan.contains("instance.node[1] will be created"), "{plan}");
    lab.ok(&["apply", "-auto-approve"]);
    let states = listed("e2ep-");
    assert_eq!(
        states,
        [
            ("e2ep-0".to_string(), "Running".to_string()),
            ("e2ep-1".to_string(), "Running".to_string())
        ],
        "started again, and the deleted one recovered (its disk kept), not duplicated"
    );
    let kept = lab.ok(&[
        "ssh",
        "instance.node[1]",
        "--",
        "cat",
        "/root/from-user-data",
    ]);
    assert_eq!(
        kept.stdout, "hello\n",
        "what the recovered instance's disk held"
    );

    // Sizes change in place, the instance stopped for it.
    lab.write(&config.replace("CPUS", "2"));
    let plan = lab.ok(&["plan"]).stdout;
    assert!(plan.contains("restarts the instance"), "{plan}");
    lab.ok(&["apply", "-auto-approve"]);
    let (_, out, _) = multipass(&["info", "e2ep-1", "--format", "json"]);
    assert!(out.contains("\"cpu_count\": \"2\""), "{out}");

    lab.ok(&["destroy", "-auto-approve"]);
    let (_, out, _) = multipass(&["list", "--format", "json"]);
    assert!(!out.contains("e2ep-"), "{out}");
    assert!(!crate::lab::lxc(&["list", "-c", "n", "--format", "csv"]).contains("mp-e2ep"));

    // A binary that is missing, a daemon that does not answer: at plan, naming the host.
    lab.write(
        &config
            .replace("CPUS", "1")
            .replace(&tool.display().to_string(), "/nonexistent/multipass"),
    );
    let missing = lab.hive(&["plan"]);
    assert_ne!(missing.code, 0);
    assert!(
        crate::s3lab::flat(&missing.stderr).contains("/nonexistent/multipass"),
        "{}",
        missing.stderr
    );
    let mut down = lab.cmd(&["plan"]);
    lab.write(&config.replace("CPUS", "1"));
    down.env("HIVE_MULTIPASS_DOWN", "1");
    let down = crate::support::run(&mut down);
    assert_ne!(down.code, 0);
    assert!(
        crate::s3lab::flat(&down.stderr).contains("daemon does not answer"),
        "{}",
        down.stderr
    );
}

#[test]
fn a_launch_that_times_out_is_a_clear_error_and_destroy_leaves_nothing() {
    let lab = Lab::new("e2eq", 45);
    let _ = multipass(&["delete", "--purge", "e2eq-0"]);
    let tool = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/multipass");
    let config = provider_config(&tool.display().to_string())
        .replace("CPUS", "1")
        .replace("count  = 2", "count  = 1")
        .replace("e2ep-", "e2eq-")
        .replace(
            "wait_for = \"ssh\"",
            "wait_for = \"ssh\"\n  wait_timeout = \"1s\"",
        );
    lab.write(&config);
    let failed = lab.hive(&["apply", "-auto-approve"]);
    assert_ne!(failed.code, 0);
    let said = crate::s3lab::flat(&failed.stderr);
    assert!(said.contains("multipass timed out (exit 5)"), "{said}");
    // What the failed launch left is hive's (its tag), so destroy removes it.
    lab.ok(&["destroy", "-auto-approve"]);
    let (_, out, _) = multipass(&["list", "--format", "json"]);
    assert!(!out.contains("e2eq-"), "{out}");
}

/// This test's instances as `multipass list` shows them: (name, state).
fn listed(prefix: &str) -> Vec<(String, String)> {
    let (_, out, _) = multipass(&["list", "--format", "json"]);
    let listed: Json = serde_json::from_str(&out).expect("JSON");
    listed["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        .map(|i| {
            (
                i["name"].as_str().unwrap_or("").into(),
                i["state"].as_str().unwrap_or("").into(),
            )
        })
        .collect()
}

fn one_instance(prefix: &str) -> String {
    let tool = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/multipass");
    provider_config(&tool.display().to_string())
        .replace("CPUS", "1")
        .replace("count  = 2", "count  = 1")
        .replace("e2ep-", &format!("{prefix}-"))
        .replace("wait_for = \"ssh\"", "wait_for = \"cloud-init\"")
}

#[test]
fn an_apply_killed_mid_launch_then_applied_again_makes_no_duplicate() {
    let lab = Lab::new("e2ek", 46);
    let _ = multipass(&["delete", "--purge", "e2ek-0"]);
    lab.write(&one_instance("e2ek"));
    let mut first = lab
        .cmd(&["apply", "-auto-approve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("hive starts");
    crate::lab::eventually(
        "the launch to begin",
        std::time::Duration::from_secs(120),
        || !listed("e2ek-").is_empty(),
    );
    first.kill().expect("kill -9 hive");
    let _ = first.wait();
    assert_eq!(
        listed("e2ek-"),
        [("e2ek-0".to_string(), "Starting".to_string())],
        "multipass goes on launching without its client"
    );

    let again = lab.ok(&["apply", "-auto-approve"]);
    assert!(
        again
            .stderr
            .contains("an earlier launch of this name is still running")
            || again
                .stdout
                .contains("an earlier launch of this name is still running"),
        "{}{}",
        again.stdout,
        again.stderr
    );
    assert_eq!(
        listed("e2ek-"),
        [("e2ek-0".to_string(), "Running".to_string())]
    );
    let (code, out, _) = multipass(&["exec", "e2ek-0", "--", "cat", "/root/from-user-data"]);
    assert_eq!((code, out.as_str()), (0, "hello\n"), "cloud-init done");
    let containers = crate::lab::lxc(&["list", "-c", "n", "--format", "csv"]);
    assert_eq!(containers.matches("mp-e2ek-").count(), 1, "{containers}");
    assert_eq!(lab.ok(&["plan", "-detailed-exitcode"]).code, 0);
    lab.ok(&["destroy", "-auto-approve"]);
    assert!(listed("e2ek-").is_empty());
}

#[test]
fn a_name_taken_by_someone_else_s_instance_is_an_error_that_leaves_it_alone() {
    let lab = Lab::new("e2ed", 47);
    let _ = multipass(&["delete", "--purge", "e2ed-0"]);
    let (code, out, err) =
        multipass(&["launch", "22.04", "-n", "e2ed-0", "-m", "256M", "-d", "1G"]);
    assert_eq!(code, 0, "{out}{err}");
    lab.write(&one_instance("e2ed"));
    let failed = lab.hive(&["apply", "-auto-approve"]);
    assert_ne!(failed.code, 0);
    let said = crate::s3lab::flat(&failed.stderr);
    assert!(
        said.contains("a multipass instance named e2ed-0 already exists and is not this one's"),
        "{said}"
    );
    assert_eq!(
        listed("e2ed-"),
        [("e2ed-0".to_string(), "Running".to_string())],
        "untouched"
    );
    // hive keeps the failed create (tainted, with no name recorded), and never mistakes the
    // other instance for it: it plans a create, and a destroy leaves that instance be.
    let plan = lab.ok(&["plan"]).stdout;
    assert!(plan.contains("instance.node[0] will be created"), "{plan}");
    lab.ok(&["destroy", "-auto-approve"]);
    assert_eq!(
        listed("e2ed-"),
        [("e2ed-0".to_string(), "Running".to_string())],
        "left alone by destroy"
    );
    // What multipass says when the name is taken between hive's look and its launch.
    let (code, _, err) = multipass(&["launch", "-n", "e2ed-0"]);
    assert_eq!(code, 2);
    let error = hive_provider_multipass::cli::failure(
        &hive_provider_multipass::cli::Ran {
            code,
            stdout: String::new(),
            stderr: err.trim().to_string(),
        },
        "launching e2ed-0",
    );
    assert_eq!(
        error.message,
        "launching e2ed-0: multipass failed (exit 2): launch failed: instance \"e2ed-0\" already exists"
    );

    // What the error says to do: import it. Then it is hive's: tagged, planned as it is,
    // and destroyed with the rest.
    lab.ok(&["apply", "-auto-approve", "-target", "host.local"]);
    lab.ok(&["import", "instance.node[0]", "e2ed-0"]);
    assert_eq!(lab.ok(&["plan", "-detailed-exitcode"]).code, 0);
    let (_, tag, _) = multipass(&["exec", "e2ed-0", "--", "cat", "/etc/hive/instance"]);
    assert!(tag.trim_end().ends_with(" instance.node[0]"), "{tag}");
    lab.ok(&["destroy", "-auto-approve"]);
    assert!(listed("e2ed-").is_empty());
}

#[test]
fn an_image_multipass_does_not_have_is_a_plan_error_at_the_image() {
    let lab = Lab::new("e2ei", 48);
    for (image, says) in [
        ("noble-of-nowhere", "multipass has no such image"),
        ("file:///nonexistent/disk.img", "no such file on the host"),
    ] {
        lab.write(&one_instance("e2ei").replace("\"22.04\"", &format!("\"{image}\"")));
        let plan = lab.hive(&["plan"]);
        assert_eq!(plan.code, 1, "{}", plan.stderr);
        let said = crate::s3lab::flat(&plan.stderr);
        assert!(said.contains(says), "{said}");
        assert!(said.contains(&format!("image = \"{image}\"")), "{said}");
        assert!(
            plan.stderr.contains("main.hive.hcl:"),
            "at its place: {}",
            plan.stderr
        );
    }
    assert!(listed("e2ei-").is_empty(), "nothing launched");
}
