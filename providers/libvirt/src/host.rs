//! The libvirt a resource lives on, from its `host` attribute, and one connection per host.
//!
//! A host with an `address` is remote: hive logs into it over SSH (checking its host key
//! itself), reaches its files through that session, and opens its libvirt over libvirt's own
//! SSH transport, handing it the key hive checked.

use crate::lv;
use hive_sdk::exec::{Exec, LocalExec};
use hive_sdk::host_files::{HostFiles, LocalFiles, RemoteFiles};
use hive_sdk::problem::Problem;
use hive_sdk::provider::ProviderError;
use hive_sdk::ssh::{SshExec, SshTarget};
use hive_sdk::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};
use virt::connect::Connect;

pub const DEFAULT_URI: &str = "qemu:///system";

/// How guests run. Never chosen from what libvirt lists: on these machines libvirt offers
/// kvm, yet stock kernels hang under it (LAB.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Tcg,
    Kvm,
}

impl Accel {
    pub fn domain_type(self) -> &'static str {
        match self {
            Accel::Tcg => "qemu",
            Accel::Kvm => "kvm",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Host {
    /// The URI the host sets (`uri`), if any.
    pub uri: Option<String>,
    pub accel: Accel,
    /// How to log into it, when it is remote.
    pub remote: Option<SshTarget>,
}

impl Host {
    pub fn of(config: &Value) -> Host {
        let host = config.attr("host");
        let accel = match host.and_then(|h| h.attr_str("accel")) {
            Some("kvm") => Accel::Kvm,
            _ => Accel::Tcg,
        };
        Host {
            uri: host.and_then(|h| h.attr_str("uri")).map(str::to_string),
            accel,
            remote: host.and_then(SshTarget::of_host),
        }
    }

    /// Which connection serves it: one per URI, or per login for a remote host.
    pub fn key(&self) -> String {
        match (&self.uri, &self.remote) {
            (Some(uri), _) => uri.clone(),
            (None, Some(t)) => format!("ssh://{}", t.describe()),
            (None, None) => DEFAULT_URI.to_string(),
        }
    }
}

/// Percent-encoding for a URI query value.
fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// libvirt's URI for a remote host: its libssh2 transport (which, unlike the one that runs
/// the `ssh` program, takes a known_hosts file and a key file as parameters), strict about
/// the host key, with the file holding the key hive checked.
pub fn remote_uri(target: &SshTarget, known_hosts: &Path) -> String {
    let mut params = vec![
        format!(
            "known_hosts={}",
            query_value(&known_hosts.to_string_lossy())
        ),
        "known_hosts_verify=normal".to_string(),
    ];
    match &target.key {
        Some(key) => {
            params.push(format!("keyfile={}", query_value(&key.to_string_lossy())));
            params.push("sshauth=privkey".into());
        }
        None => params.push("sshauth=agent".into()),
    }
    format!(
        "qemu+libssh2://{}@{}:{}/system?{}",
        query_value(&target.user),
        target.address,
        target.port,
        params.join("&")
    )
}

/// The home host of a bridge across hosts that a guest's `network` blocks use (the first of
/// its `hosts`: it has the gateway and DHCP); `None` for a bridge on the guest's own host.
pub fn bridge_home<'v>(config: &'v Value, bridge: &str) -> Option<&'v Value> {
    config
        .attr("network")
        .and_then(Value::as_items)
        .into_iter()
        .flatten()
        .filter_map(|n| n.attr("bridge"))
        .filter(|b| b.attr_str("name") == Some(bridge))
        .find_map(|b| {
            b.attr("hosts")
                .and_then(Value::as_items)
                .filter(|h| h.len() > 1)
                .and_then(|h| h.first())
        })
}

/// The host to go through to reach a guest: the home of a bridge across hosts its first
/// NIC is on (only that host has an address on it), or its own host when that is remote.
pub fn reached_through(config: &Value) -> Option<SshTarget> {
    let first = config
        .attr("network")
        .and_then(Value::as_items)
        .and_then(|n| n.first())
        .and_then(|n| n.attr("bridge"))
        .and_then(|b| b.attr_str("name"));
    let host = first
        .and_then(|bridge| bridge_home(config, bridge))
        .or_else(|| config.attr("host"));
    host.and_then(SshTarget::of_host)
}

/// Where hive keeps its files on a remote host (pool, consoles, marks).
pub const REMOTE_DATA_DIR: &str = "/var/lib/hive";

pub fn validate(config: &Value) -> Vec<Problem> {
    let host = config.attr("host");
    if let Some(Err(e)) = host
        .and_then(|h| h.attr_str("cache_limit"))
        .map(hive_sdk::units::parse_size)
    {
        return vec![Problem::at("host", format!("host cache_limit: {e}"))];
    }
    let accel = host.and_then(|h| h.attr_str("accel"));
    match accel {
        None | Some("tcg") | Some("kvm") => Vec::new(),
        Some(other) => vec![Problem::at("host", format!(
            "host accel = \"{other}\": expected \"tcg\" (software emulation, works everywhere) or \"kvm\""
        ))],
    }
}

/// Where hive keeps its files on the libvirt host: the storage pool and console logs.
/// `HIVE_LIBVIRT_DIR` moves it (tests use their own).
pub fn data_dir() -> PathBuf {
    std::env::var_os("HIVE_LIBVIRT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/hive"))
}

/// Open connections, one per URI, shared by every step of a run. Each URI also has a lock
/// that serialises storage-pool operations: libvirt refuses a pool operation while another
/// runs ("pool has asynchronous jobs running").
#[derive(Default)]
pub struct Connections {
    open: Mutex<HashMap<String, Arc<Site>>>,
    logins: Arc<Logins>,
}

/// SSH sessions to remote hosts, one per login, shared by every site: a host whose libvirt
/// hive uses and the home of a bridge across hosts are reached through one session.
#[derive(Default)]
pub struct Logins {
    by_target: Mutex<HashMap<SshTarget, Arc<SshExec>>>,
}

impl Logins {
    pub fn ssh(&self, target: &SshTarget) -> Arc<SshExec> {
        self.by_target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(target.clone())
            .or_insert_with(|| Arc::new(SshExec::new(target.clone())))
            .clone()
    }
}

/// A host's files and programs, and how its guests are reached from here.
#[derive(Clone)]
pub struct HostAccess {
    pub files: Arc<dyn HostFiles>,
    pub exec: Arc<dyn Exec>,
    /// The host to go through, when it is remote.
    pub via: Option<SshTarget>,
}

pub struct Site {
    pub conn: Connect,
    pub uri: String,
    pub pool_lock: Mutex<()>,
    /// The host's files: this machine's, or a remote host's over SSH.
    pub files: Arc<dyn HostFiles>,
    /// The SSH session of a remote host.
    pub ssh: Option<Arc<SshExec>>,
    /// hive's directory on the host: its pool, consoles and cache marks.
    pub data_dir: PathBuf,
    logins: Arc<Logins>,
    /// One lock per file being brought to the host: two steps that need the same image
    /// take turns, and the second finds it there.
    arriving: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl Site {
    /// The host's programs: over its SSH session when it is remote.
    pub fn exec(&self) -> Arc<dyn hive_sdk::exec::Exec> {
        match &self.ssh {
            Some(ssh) => ssh.clone(),
            None => Arc::new(hive_sdk::exec::LocalExec),
        }
    }
}

impl Connections {
    pub fn logins(&self) -> &Logins {
        &self.logins
    }

    pub fn get(&self, host: &Host) -> Result<Arc<Site>, ProviderError> {
        static QUIET: Once = Once::new();
        // libvirt prints every error to stderr by default; hive reports them itself.
        QUIET.call_once(virt::error::clear_error_callback);
        let mut open = self
            .open
            .lock()
            .map_err(|_| ProviderError::new("libvirt connection table poisoned"))?;
        let key = host.key();
        if let Some(site) = open.get(&key) {
            if site.conn.is_alive().unwrap_or(false) {
                return Ok(site.clone());
            }
        }
        let site = Arc::new(match &host.remote {
            None => {
                let uri = host.uri.clone().unwrap_or_else(|| DEFAULT_URI.to_string());
                Site {
                    conn: open_uri(&uri, &uri)?,
                    uri,
                    pool_lock: Mutex::new(()),
                    files: Arc::new(LocalFiles),
                    ssh: None,
                    data_dir: data_dir(),
                    logins: self.logins.clone(),
                    arriving: Mutex::default(),
                }
            }
            Some(target) => {
                let ssh = self.logins.ssh(target);
                let known = ssh.checked_known_hosts().map_err(ProviderError::new)?;
                let uri = host
                    .uri
                    .clone()
                    .unwrap_or_else(|| remote_uri(target, &known));
                let shown = format!("{} over SSH", target.describe());
                Site {
                    conn: open_uri(&uri, &shown)?,
                    uri: shown,
                    pool_lock: Mutex::new(()),
                    files: Arc::new(RemoteFiles::new(ssh.clone())),
                    ssh: Some(ssh),
                    data_dir: PathBuf::from(REMOTE_DATA_DIR),
                    logins: self.logins.clone(),
                    arriving: Mutex::default(),
                }
            }
        });
        open.insert(key, site.clone());
        Ok(site)
    }
}

/// Opens libvirt at `uri`; `shown` names it in errors (a built URI is long).
fn open_uri(uri: &str, shown: &str) -> Result<Connect, ProviderError> {
    Connect::open(Some(uri)).map_err(|e| {
        ProviderError::new(format!(
            "connecting to libvirt at {shown}: {} (is libvirtd running there? `virsh -c {uri} version` checks)",
            e.message()
        ))
    })
}

impl Site {
    /// The host to go through to reach its guests, for a remote host.
    pub fn via(&self) -> Option<&SshTarget> {
        self.ssh.as_ref().map(|s| &s.target)
    }

    /// The lock of a file being brought to the host (see `arriving`).
    pub fn arriving(&self, name: &str) -> Arc<Mutex<()>> {
        self.arriving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    /// This host's files and programs.
    pub fn access(&self) -> HostAccess {
        match &self.ssh {
            Some(ssh) => HostAccess {
                files: self.files.clone(),
                exec: ssh.clone(),
                via: Some(ssh.target.clone()),
            },
            None => HostAccess {
                files: self.files.clone(),
                exec: Arc::new(LocalExec),
                via: None,
            },
        }
    }

    /// The files and programs of the host a host record describes (this machine's when it
    /// has no address).
    pub fn access_of(&self, host: Option<&Value>) -> HostAccess {
        match host.and_then(SshTarget::of_host) {
            None => HostAccess {
                files: Arc::new(LocalFiles),
                exec: Arc::new(LocalExec),
                via: None,
            },
            Some(target) => {
                let ssh = self.logins.ssh(&target);
                HostAccess {
                    files: Arc::new(RemoteFiles::new(ssh.clone())),
                    exec: ssh,
                    via: Some(target),
                }
            }
        }
    }

    /// Where a bridge a guest uses keeps its leases and reservations, and reaches its
    /// guests (see [`bridge_home`]).
    pub fn bridge_home(&self, config: &Value, bridge: &str) -> HostAccess {
        match bridge_home(config, bridge) {
            Some(host) => self.access_of(Some(host)),
            None => self.access(),
        }
    }

    /// Memory the host has, in MiB.
    pub fn memory_mib(&self) -> Result<u64, ProviderError> {
        let info = self
            .conn
            .node_info()
            .map_err(lv(format!("reading {}'s memory", self.uri)))?;
        Ok(info.memory / 1024)
    }
}
