//! Which LXD daemon a resource lives on, from its host's `lxd` block, and one client per
//! daemon.
//!
//! Local daemons are reached over their unix socket: `socket` if set, else `$LXD_DIR`'s, the
//! snap's, or Debian's `/var/lib/lxd/unix.socket`. A remote daemon (`endpoint =
//! "https://HOST:8443"`) needs `client_cert` and `client_key` (a certificate the daemon
//! trusts) and `server_cert` (the daemon's own, pinned); each is PEM text or a path to it.

use crate::api::Server;
use crate::client::{tls_config, Client, Endpoint};
use hive_sdk::problem::Problem;
use hive_sdk::provider::ProviderError;
use hive_sdk::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub const DEFAULT_POOL: &str = "default";

/// The `lxd` block of a resource's host.
fn lxd_block(config: &Value) -> Option<&Value> {
    config.attr("host").and_then(|h| h.attr("lxd"))
}

/// The storage pool instances' root disks and volumes go to by default.
pub fn default_pool(config: &Value) -> String {
    lxd_block(config)
        .and_then(|l| l.attr_str("pool"))
        .unwrap_or(DEFAULT_POOL)
        .to_string()
}

/// The local socket, when no `socket` is configured.
pub fn default_socket() -> PathBuf {
    if let Some(dir) = std::env::var_os("LXD_DIR") {
        return PathBuf::from(dir).join("unix.socket");
    }
    let snap = PathBuf::from("/var/snap/lxd/common/lxd/unix.socket");
    if snap.exists() {
        return snap;
    }
    PathBuf::from("/var/lib/lxd/unix.socket")
}

pub fn validate(config: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let lxd = lxd_block(config);
    let endpoint = lxd.and_then(|l| l.attr_str("endpoint"));
    if let (Some(address), None) = (
        config.attr("host").and_then(|h| h.attr_str("address")),
        endpoint,
    ) {
        problems.push(Problem::at("host", format!(
            "host: {address} is remote: give it an lxd block with the daemon's endpoint and certificates, or hive would use this machine's LXD"
        )));
    }
    let (Some(lxd), Some(endpoint)) = (lxd, endpoint) else {
        return problems;
    };
    if !endpoint.starts_with("https://") {
        problems.push(Problem::at("host", format!(
            "host lxd endpoint = \"{endpoint}\": expected https://HOST:PORT (a local daemon is reached through socket)"
        )));
    }
    for needed in ["client_cert", "client_key", "server_cert"] {
        if lxd.attr(needed).is_none() {
            problems.push(Problem::at("host", format!(
                "host lxd: a remote endpoint needs {needed} (client_cert and client_key: a certificate the daemon trusts; server_cert: the daemon's, pinned)"
            )));
        }
    }
    if lxd.attr("socket").is_some() {
        problems.push(Problem::at(
            "host",
            "host lxd: set socket or endpoint, not both",
        ));
    }
    problems
}

/// A problem with the daemon a resource lives on: at its `host`, where it names one.
pub fn problem_at_host(config: &Value, message: String) -> Problem {
    if config.attr("host").is_some() {
        Problem::at("host", message)
    } else {
        Problem::whole(message)
    }
}

/// Which daemon a resource lives on: its endpoint URL, or its socket's path.
pub fn daemon(config: &Value) -> String {
    let lxd = lxd_block(config);
    match lxd.and_then(|l| l.attr_str("endpoint")) {
        Some(e) => e.to_string(),
        None => lxd
            .and_then(|l| l.attr_str("socket"))
            .map(PathBuf::from)
            .unwrap_or_else(default_socket)
            .display()
            .to_string(),
    }
}

/// Whether the daemon is another machine's (reached over HTTPS).
pub fn is_remote(config: &Value) -> bool {
    lxd_block(config).is_some_and(|l| l.attr("endpoint").is_some())
}

/// Whether the daemon answers and trusts hive.
pub fn check_daemon(client: &Client) -> Result<Server, String> {
    let server: Server = client.get("/1.0").map_err(|e| {
        // Transport errors name the daemon already.
        if e.status == 0 {
            e.message
        } else {
            format!("asking LXD at {} about itself: {}", client.label, e.message)
        }
    })?;
    if server.auth != "trusted" {
        return Err(format!(
            "LXD at {} does not trust hive's client certificate (auth: {}): add it on the daemon with `lxc config trust add CERT`",
            client.label, server.auth
        ));
    }
    Ok(server)
}

/// PEM text, or the file holding it.
fn pem(value: &str, what: &str) -> Result<String, String> {
    if value.trim_start().starts_with("-----BEGIN") {
        return Ok(value.to_string());
    }
    std::fs::read_to_string(value).map_err(|e| format!("host lxd {what}: reading {value}: {e}"))
}

/// Clients, one per daemon, shared by every step of a run.
#[derive(Default)]
pub struct Clients {
    open: Mutex<HashMap<String, Arc<Client>>>,
}

impl Clients {
    pub fn get(&self, config: &Value) -> Result<Arc<Client>, ProviderError> {
        let lxd = lxd_block(config);
        let endpoint = lxd.and_then(|l| l.attr_str("endpoint"));
        // A daemon, and the certificates hive talks to it with.
        let key = match lxd {
            Some(l) if endpoint.is_some() => format!(
                "{}\0{}\0{}",
                daemon(config),
                l.attr_str("client_cert").unwrap_or_default(),
                l.attr_str("server_cert").unwrap_or_default()
            ),
            _ => daemon(config),
        };
        let mut open = self
            .open
            .lock()
            .map_err(|_| ProviderError::new("LXD client table poisoned"))?;
        if let Some(client) = open.get(&key) {
            return Ok(client.clone());
        }
        let client = match (endpoint, lxd) {
            (Some(url), Some(lxd)) => {
                let mut authority = url
                    .trim_start_matches("https://")
                    .trim_end_matches('/')
                    .to_string();
                // LXD's own port when none is given.
                if !authority
                    .rsplit(']')
                    .next()
                    .unwrap_or_default()
                    .contains(':')
                {
                    authority.push_str(":8443");
                }
                let text = |what: &str| -> Result<String, ProviderError> {
                    let v = lxd.attr_str(what).ok_or_else(|| {
                        ProviderError::new(format!("host lxd: a remote endpoint needs {what}"))
                    })?;
                    pem(v, what).map_err(ProviderError::new)
                };
                let tls = tls_config(
                    &text("client_cert")?,
                    &text("client_key")?,
                    &text("server_cert")?,
                )
                .map_err(|e| ProviderError::new(format!("host lxd: {e}")))?;
                Client::new(Endpoint::Https {
                    authority,
                    tls: Arc::new(tls),
                })
            }
            _ => Client::new(Endpoint::Unix(PathBuf::from(&key))),
        };
        let client = Arc::new(client);
        open.insert(key, client.clone());
        Ok(client)
    }
}
