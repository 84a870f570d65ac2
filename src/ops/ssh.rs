//! `hive ssh ADDR`: where and as whom to log into an instance, from the state.

use hive_sdk::value::tagged;
use hive_sdk::{identity, Value};
use hive_state::State;
use std::path::PathBuf;

/// How `hive ssh` reaches an instance.
pub enum Login {
    /// The system's ssh, with hive's key.
    Ssh {
        ip: String,
        user: String,
        key: PathBuf,
        /// Say that SSH was chosen (an LXD instance could have been reached either way).
        announce: bool,
    },
    /// `lxc exec` on the local LXD daemon (whose directory is `lxd_dir` when not the
    /// default), for containers without a reachable SSH server. `why` says why not SSH.
    LxdExec {
        name: String,
        lxd_dir: Option<PathBuf>,
        why: String,
    },
}

pub fn login(state: &State, address: &str) -> Result<Login, String> {
    let Some(record) = state.resource(address) else {
        let known: Vec<&str> = state
            .resources
            .keys()
            .map(String::as_str)
            .filter(|a| a.starts_with("instance."))
            .collect();
        let hint = crate::diag::did_you_mean(address, known.iter().copied())
            .map(|h| format!(": {h}"))
            .unwrap_or_else(|| {
                if known.is_empty() {
                    " (the state has no instances)".into()
                } else {
                    format!(" (instances: {})", known.join(", "))
                }
            });
        return Err(format!("no {address} in the state{hint}"));
    };
    if record.kind != "instance" {
        return Err(format!("{address} is a {}, not an instance", record.kind));
    }
    let attributes = tagged::from_json(&record.attributes).unmark_deep().0;
    let field = |name: &str| {
        attributes
            .as_map()
            .and_then(|m| m.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let lxd = record.driver == "lxd";
    if lxd {
        if let Some(exec) = lxd_exec(&attributes, field("ip"), address)? {
            return Ok(exec);
        }
    }
    let ip = field("ip").ok_or_else(|| {
        format!("{address} has no IP address recorded (is it running? wait_for = \"ip\" or \"ssh\" records one)")
    })?;
    let key = identity::private_key_path(&state.lineage);
    if !key.exists() {
        return Err(format!(
            "hive's key for this state is missing ({}); it is made when an instance is created",
            key.display()
        ));
    }
    Ok(Login::Ssh {
        ip,
        user: field("ssh_user").unwrap_or_else(|| "root".into()),
        key,
        announce: lxd,
    })
}

/// An LXD instance is reached over SSH when something answers on port 22 of its address,
/// else through LXD exec; `None` means SSH.
fn lxd_exec(
    attributes: &Value,
    ip: Option<String>,
    address: &str,
) -> Result<Option<Login>, String> {
    let why = match &ip {
        Some(ip) if hive_sdk::guest::ssh_port_open(ip) => return Ok(None),
        Some(ip) => format!("nothing answers on port 22 of {ip}"),
        None => "it has no IP address recorded".to_string(),
    };
    let lxd = attributes.attr("host").and_then(|h| h.attr("lxd"));
    if lxd.and_then(|l| l.attr("endpoint")).is_some() {
        return Err(format!(
            "{address} cannot be reached over SSH ({why}), and its LXD daemon is remote: `lxc exec` needs that remote configured in lxc"
        ));
    }
    let name = attributes
        .attr_str("name")
        .ok_or_else(|| format!("{address} has no LXD name recorded"))?;
    let lxd_dir = lxd
        .and_then(|l| l.attr_str("socket"))
        .and_then(|s| std::path::Path::new(s).parent().map(PathBuf::from));
    Ok(Some(Login::LxdExec {
        name: name.to_string(),
        lxd_dir,
        why,
    }))
}
