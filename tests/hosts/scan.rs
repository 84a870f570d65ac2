//! `hive scan` on remote hosts: a bridge a dead job left on host a (its state directory
//! deleted) is found there over SSH, by the configuration's host and by `-host` from a
//! directory with no configuration, and reaped; host a's own `ip` and `nft` say it is gone.

use super::{host_block, hosts, on, remove_leftovers, KEY, KNOWN};
use crate::support::Workdir;
use serde_json::Value as Json;

const BRIDGE: &str = r#"
bridge "lan" {
  host = host.a
  name = "hvs-lan"
  cidr = "10.232.9.1/24"
  nat  = true
  dhcp {}
}
"#;

/// (host, kind, status) of what the scan found of the bridge `hvs-lan`.
fn found(doc: &Json) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = doc["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| {
            o["name"]
                .as_str()
                .is_some_and(|n| n.contains("hvs-lan") || n.contains("hvs_lan"))
        })
        .map(|o| {
            let text = |k: &str| o[k].as_str().unwrap_or_default().to_string();
            (text("host"), text("kind"), text("status"))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_dead_jobs_bridge_on_a_remote_host_is_found_over_ssh_and_reaped() {
    let (_turn, hosts) = hosts();
    let a = &hosts[0];
    remove_leftovers(&a.1, "hvs-lan");
    let w = Workdir::new(vec![]);
    w.write(&format!("{}{BRIDGE}", host_block("a", &a.1, KNOWN, "")));
    w.ok(&["apply", "-auto-approve", "-ttl", "1s"]);
    std::fs::remove_dir_all(w.dir.path().join(".hive")).expect("remove the state");

    let r = w.hive(&["scan", "-json"]);
    let doc: Json = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(
        doc["hosts"],
        serde_json::json!(["host.a"]),
        "only the configuration's host"
    );
    let orphaned = |kind: &str| {
        (
            "host.a".to_string(),
            kind.to_string(),
            "orphaned".to_string(),
        )
    };
    assert_eq!(
        found(&doc),
        vec![
            orphaned("dnsmasq"),
            orphaned("linux bridge"),
            orphaned("nft table")
        ],
        "{doc:#}"
    );
    // Named on the command line, from a directory with no configuration.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let named = format!("root@{}", a.1);
    let by_name = |extra: &[&str]| {
        let mut args = vec![
            "scan",
            "-json",
            "-host",
            &named,
            "-ssh-key",
            KEY,
            "-known-hosts",
            KNOWN,
        ];
        args.extend_from_slice(extra);
        let r = crate::support::run(
            crate::support::hive()
                .args(&args)
                .current_dir(elsewhere.path()),
        );
        let doc: Json = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
        doc
    };
    let doc = by_name(&[]);
    let listed: Vec<(String, String)> = found(&doc)
        .into_iter()
        .filter(|(h, _, _)| h == &named)
        .map(|(_, k, s)| (k, s))
        .collect();
    assert_eq!(listed.len(), 3, "{doc:#}");
    assert!(listed.iter().all(|(_, s)| s == "orphaned"), "{listed:?}");

    let doc = by_name(&["-reap", "-auto-approve"]);
    let removed = doc["reaped"]["removed"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(removed.len() >= 3, "{doc:#}");
    assert_ne!(
        on(&a.1, "ip link show dev hvs-lan").0,
        0,
        "the bridge is gone"
    );
    let (_, tables) = on(&a.1, "nft list tables ip");
    assert!(!tables.contains("hive_hvs_lan"), "{tables}");
    let (_, dnsmasq) = on(&a.1, "pgrep -af '[d]nsmasq.*hvs-lan'");
    assert!(!dnsmasq.contains("dnsmasq"), "{dnsmasq}");
    let doc: Json = serde_json::from_str(&w.hive(&["scan", "-json"]).stdout).expect("JSON");
    assert_eq!(found(&doc), Vec::new(), "{doc:#}");
}
