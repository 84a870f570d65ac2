//! The libvirt a resource lives on, from its `host` attribute, and one connection per URI.

use crate::lv;
use hive_sdk::problem::Problem;
use hive_sdk::provider::ProviderError;
use hive_sdk::Value;
use std::collections::HashMap;
use std::path::PathBuf;
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
    pub uri: String,
    pub accel: Accel,
}

impl Host {
    pub fn of(config: &Value) -> Host {
        let host = config.attr("host");
        let uri = host
            .and_then(|h| h.attr_str("uri"))
            .unwrap_or(DEFAULT_URI)
            .to_string();
        let accel = match host.and_then(|h| h.attr_str("accel")) {
            Some("kvm") => Accel::Kvm,
            _ => Accel::Tcg,
        };
        Host { uri, accel }
    }
}

pub fn validate(config: &Value) -> Vec<Problem> {
    let host = config.attr("host");
    let remote = host.and_then(|h| h.attr_str("address"));
    if let (Some(address), None) = (remote, host.and_then(|h| h.attr("uri"))) {
        return vec![Problem::at("host", format!(
            "host: {address} is remote: set its uri (qemu+ssh://USER@{address}/system), or hive would use this machine's libvirt"
        ))];
    }
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
}

pub struct Site {
    pub conn: Connect,
    pub uri: String,
    pub pool_lock: Mutex<()>,
}

impl Connections {
    pub fn get(&self, host: &Host) -> Result<Arc<Site>, ProviderError> {
        static QUIET: Once = Once::new();
        // libvirt prints every error to stderr by default; hive reports them itself.
        QUIET.call_once(virt::error::clear_error_callback);
        let mut open = self
            .open
            .lock()
            .map_err(|_| ProviderError::new("libvirt connection table poisoned"))?;
        if let Some(site) = open.get(&host.uri) {
            if site.conn.is_alive().unwrap_or(false) {
                return Ok(site.clone());
            }
        }
        let conn = Connect::open(Some(&host.uri)).map_err(|e| {
            ProviderError::new(format!(
                "connecting to libvirt at {}: {} (is libvirtd running? `virsh -c {} version` checks)",
                host.uri,
                e.message(),
                host.uri
            ))
        })?;
        let site = Arc::new(Site {
            conn,
            uri: host.uri.clone(),
            pool_lock: Mutex::new(()),
        });
        open.insert(host.uri.clone(), site.clone());
        Ok(site)
    }
}

impl Site {
    /// Memory the host has, in MiB.
    pub fn memory_mib(&self) -> Result<u64, ProviderError> {
        let info = self
            .conn
            .node_info()
            .map_err(lv(format!("reading {}'s memory", self.uri)))?;
        Ok(info.memory / 1024)
    }
}
