//! `hive ssh ADDR`: how to get into an instance, as its provider says, from the state.

use crate::engine::registry::Registry;
use hive_sdk::addr::InstanceAddr;
use hive_sdk::provider::{Jump, Login, LoginRequest, Target};
use hive_sdk::ssh::shell_quote;
use hive_sdk::value::tagged;
use hive_state::State;
use std::path::Path;

/// How hive's SSH reaches a guest: guests are made and remade at will, so their host keys
/// are new each time and not checked.
pub const GUEST_SSH_OPTIONS: [(&str, &str); 4] = [
    ("StrictHostKeyChecking", "no"),
    ("UserKnownHostsFile", "/dev/null"),
    ("LogLevel", "ERROR"),
    ("IdentitiesOnly", "yes"),
];

/// The command ssh runs to reach a guest through its host: the host's own key is checked
/// against the one hive checked, strictly (unlike a guest's, a host's key must not change).
pub fn proxy_command(j: &Jump) -> String {
    let mut argv: Vec<String> = vec!["ssh".into(), "-W".into(), "%h:%p".into()];
    argv.extend(["-p".into(), j.port.to_string()]);
    if let Some(key) = &j.key {
        argv.extend([
            "-i".into(),
            key.display().to_string(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
        ]);
    }
    argv.extend([
        "-o".into(),
        format!("UserKnownHostsFile={}", j.known_hosts.display()),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        "LogLevel=ERROR".into(),
        format!("{}@{}", j.user, j.address),
    ]);
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `ssh` set up to reach a guest as `hive ssh` does (hive's key, the guest's key not checked,
/// through its host when there is one); the caller adds `user@ip` and what to run.
pub fn ssh_command(key: &Path, jump: Option<&Jump>) -> std::process::Command {
    let mut ssh = std::process::Command::new("ssh");
    ssh.arg("-i").arg(key);
    for (option, value) in GUEST_SSH_OPTIONS {
        ssh.args(["-o", &format!("{option}={value}")]);
    }
    if let Some(j) = jump {
        ssh.args(["-o", &format!("ProxyCommand={}", proxy_command(j))]);
    }
    ssh
}

pub fn login(
    state: &State,
    registry: &Registry,
    dir: &Path,
    address: &str,
) -> Result<Login, String> {
    let parsed: Option<InstanceAddr> = address.parse().ok();
    let Some(record) = parsed.as_ref().and_then(|a| state.resource(a)) else {
        let known: Vec<String> = state
            .resources
            .values()
            .filter(|r| r.deposed.is_none())
            .map(|r| r.address.to_string())
            .collect();
        let hint = crate::diag::did_you_mean(address, known.iter().map(String::as_str))
            .map(|h| format!(": {h}"))
            .unwrap_or_else(|| {
                if known.is_empty() {
                    " (the state records nothing)".into()
                } else {
                    format!(" (the state has: {})", known.join(", "))
                }
            });
        return Err(format!("no {address} in the state{hint}"));
    };
    let provider = registry.get(&record.kind, &record.driver).ok_or_else(|| {
        format!(
            "{address} was made by the {} driver, which this build does not have",
            record.driver
        )
    })?;
    let attributes = tagged::from_json(&record.attributes).unmark_deep().0;
    let request = LoginRequest {
        target: Target {
            address: &record.address,
            kind: &record.kind,
            lineage: &state.lineage,
            state: "",
            expires: None,
            base_dir: dir,
        },
        id: record.id.as_deref().unwrap_or_default(),
        attributes: &attributes,
    };
    provider.login(&request).map_err(|e| e.to_string())
}

/// An instance of the state and how to get into it, for inventories.
pub struct Node {
    pub address: InstanceAddr,
    /// Its resource's name: the inventory group (`node` for `instance.node[0]`).
    pub group: String,
    /// The name it is known by: its backend name (`name`), or one made from its address.
    pub name: String,
    pub login: Result<Login, String>,
}

/// Every instance the state records (replaced ones left out), in address order, each with
/// how its provider says to get in.
pub fn nodes(state: &State, registry: &Registry, dir: &Path) -> Vec<Node> {
    state
        .resources
        .values()
        .filter(|r| r.kind == "instance" && r.deposed.is_none())
        .map(|r| {
            let attributes = tagged::from_json(&r.attributes).unmark_deep().0;
            let name = attributes
                .attr_str("name")
                .map_or_else(|| hive_sdk::addr::backend_name(&r.address), str::to_string);
            Node {
                group: r.address.resource.name.clone(),
                name,
                login: login(state, registry, dir, &r.address.to_string()),
                address: r.address.clone(),
            }
        })
        .collect()
}
