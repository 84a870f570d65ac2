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
