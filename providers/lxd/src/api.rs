//! hive's own types for the few LXD API objects it uses. Fields hive does not read are kept
//! in `rest`, so an object read, changed and `PUT` back loses nothing.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// `GET /1.0`.
#[derive(Debug, Clone, Deserialize)]
pub struct Server {
    /// `trusted`, or `untrusted` for a client certificate the daemon does not know.
    #[serde(default)]
    pub auth: String,
    #[serde(default)]
    pub environment: ServerEnvironment,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServerEnvironment {
    /// Instance drivers, `lxc` and, where LXD can run VMs, `qemu` (`"lxc | qemu"`).
    #[serde(default)]
    pub driver: String,
}

pub type Devices = BTreeMap<String, BTreeMap<String, String>>;

/// `GET /1.0/instances/<name>`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Instance {
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    #[serde(default)]
    pub devices: Devices,
    #[serde(default)]
    pub profiles: Vec<String>,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Json>,
}

impl Instance {
    /// LXD's `type`: `container` or `virtual-machine`.
    pub fn kind(&self) -> Option<&str> {
        self.rest.get("type").and_then(Json::as_str)
    }
}

/// `GET /1.0/instances/<name>/state`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InstanceState {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub network: Option<BTreeMap<String, NetworkState>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NetworkState {
    #[serde(default)]
    pub addresses: Vec<NetworkAddress>,
    #[serde(default)]
    pub hwaddr: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NetworkAddress {
    #[serde(default)]
    pub family: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub scope: String,
}

/// `GET /1.0/images/<fingerprint>`.
#[derive(Debug, Clone, Deserialize)]
pub struct Image {
    pub fingerprint: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// `GET /1.0/storage-pools/<pool>/volumes/custom/<name>`.
#[derive(Debug, Clone, Deserialize)]
pub struct StorageVolume {
    pub name: String,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

impl InstanceState {
    /// Global IPv4 addresses of the NICs with these MACs, in this order; of every NIC but
    /// loopback when no MAC is given.
    pub fn ipv4_of(&self, macs: &[String]) -> Vec<String> {
        let Some(nics) = &self.network else {
            return Vec::new();
        };
        let global = |nic: &NetworkState| -> Vec<String> {
            nic.addresses
                .iter()
                .filter(|a| a.family == "inet" && a.scope == "global")
                .map(|a| a.address.clone())
                .collect()
        };
        if macs.is_empty() {
            return nics
                .iter()
                .filter(|(name, _)| name.as_str() != "lo")
                .flat_map(|(_, nic)| global(nic))
                .collect();
        }
        macs.iter()
            .filter_map(|mac| nics.values().find(|n| n.hwaddr.eq_ignore_ascii_case(mac)))
            .flat_map(global)
            .collect()
    }
}
