//! A bridge across hosts (`hosts = [host.a, host.b, ...]`): the same bridge on each host,
//! joined into one layer-2 network by a VXLAN port on each, which floods to every other
//! host's address (head-end replication: no multicast needed on the hosts' network). The
//! first host is the bridge's home: only it has the gateway address, the DHCP server and the
//! NAT, so the whole subnet has one of each.

use crate::on_host::OnHost;
use crate::{err, short_digest, LinuxBridgeProvider, Spec};
use hive_sdk::provider::ProviderError;
use hive_sdk::Value;
use serde_json::Value as Json;

/// The UDP port VXLAN uses (IANA's).
const VXLAN_PORT: &str = "4789";
const FLOOD: &str = "00:00:00:00:00:00";

/// The hosts of a bridge, home first; empty for a bridge on one host.
pub(crate) fn spanned(config: &Value) -> Vec<&Value> {
    match config.attr("hosts") {
        Some(Value::List(hosts)) if hosts.len() > 1 => hosts.iter().collect(),
        _ => Vec::new(),
    }
}

/// The VXLAN port of bridge `name`: a name that fits Linux's 15 characters.
pub(crate) fn port_name(name: &str) -> String {
    format!(
        "hvx-{}{}",
        short_digest(name),
        short_digest(&format!("{name}."))
    )
}

/// The network's VXLAN id, from the bridge's tag (lineage and address): another state's
/// bridge of the same name gets another one.
pub(crate) fn vni(tag: &str) -> u32 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(tag.as_bytes());
    let id = u32::from_be_bytes([0, d[0], d[1], d[2]]);
    id.max(1)
}

/// A host's address on the hosts' own network, where its VXLAN port sends from.
pub(crate) fn underlay_address(host: &Value) -> Option<&str> {
    host.attr_str("address")
}

impl OnHost {
    /// The bridge's VXLAN port on this host, flooding to `peers`, whatever was there.
    pub(crate) fn ensure_port(
        &self,
        bridge: &str,
        tag: &str,
        local: &str,
        peers: &[&str],
    ) -> Result<(), ProviderError> {
        let port = port_name(bridge);
        let id = vni(tag).to_string();
        match self.link(&port)? {
            Some(link) if link.alias.as_deref() == Some(tag) => {}
            Some(_) => {
                return Err(err(format!(
                    "an interface named {port} (the VXLAN port of bridge {bridge}) exists and is not hive's"
                )))
            }
            None => {
                // The guests' frames stay 1500 bytes: the hosts fragment what no longer fits
                // once wrapped (VXLAN leaves DF unset).
                self.ip(
                    &[
                        "link", "add", &port, "mtu", "1500", "type", "vxlan", "id", &id, "local",
                        local, "dstport", VXLAN_PORT,
                    ],
                    &format!("creating the VXLAN port {port} of {bridge}"),
                )?;
                if let Err(e) = self.ip(
                    &["link", "set", "dev", &port, "alias", tag],
                    &format!("tagging {port}"),
                ) {
                    let _ = self.ip(&["link", "del", "dev", &port], "removing it again");
                    return Err(e);
                }
            }
        }
        let have = self.flood_peers(&port)?;
        for peer in peers.iter().filter(|p| !have.iter().any(|h| h == *p)) {
            self.bridge_cmd(
                &["fdb", "append", FLOOD, "dev", &port, "dst", peer],
                &format!("flooding {port} to {peer}"),
            )?;
        }
        for old in have.iter().filter(|h| !peers.contains(&h.as_str())) {
            self.bridge_cmd(
                &["fdb", "del", FLOOD, "dev", &port, "dst", old],
                &format!("no longer flooding {port} to {old}"),
            )?;
        }
        self.ip(
            &["link", "set", "dev", &port, "master", bridge],
            &format!("joining {port} to {bridge}"),
        )?;
        self.ip(
            &["link", "set", "dev", &port, "up"],
            &format!("bringing {port} up"),
        )
    }

    /// The hosts a VXLAN port floods to.
    pub(crate) fn flood_peers(&self, port: &str) -> Result<Vec<String>, ProviderError> {
        let out = self
            .exec
            .check(&["bridge", "-j", "fdb", "show", "dev", port], None)
            .map_err(|e| err(format!("reading the forwarding table of {port}: {e}")))?;
        let json: Json = serde_json::from_str(&out)
            .map_err(|e| err(format!("reading `bridge -j fdb` for {port}: {e}")))?;
        Ok(json
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["mac"] == FLOOD)
            .filter_map(|e| e["dst"].as_str().map(str::to_string))
            .collect())
    }

    fn bridge_cmd(&self, args: &[&str], doing: &str) -> Result<(), ProviderError> {
        let mut argv = vec!["bridge"];
        argv.extend_from_slice(args);
        self.exec
            .check(&argv, None)
            .map(|_| ())
            .map_err(|e| err(format!("{doing}: {e}")))
    }

    /// Removes the bridge's VXLAN port if it is this bridge's.
    pub(crate) fn remove_port(&self, bridge: &str, tag: &str) -> Result<(), ProviderError> {
        let port = port_name(bridge);
        if let Some(link) = self.link(&port)? {
            if link.alias.as_deref() == Some(tag) {
                self.ip(
                    &["link", "del", "dev", &port],
                    &format!("deleting the VXLAN port {port}"),
                )?;
            }
        }
        Ok(())
    }
}

/// Host `i`'s own address among a bridge's hosts, and the others'.
fn underlay<'v>(hosts: &[&'v Value], i: usize) -> Result<(&'v str, Vec<&'v str>), ProviderError> {
    let address = |h: &'v Value| {
        underlay_address(h).ok_or_else(|| {
            err("every host of a bridge across hosts needs an address: its VXLAN port sends from it")
        })
    };
    let local = address(hosts[i])?;
    let mut peers = Vec::new();
    for (j, h) in hosts.iter().enumerate() {
        if j != i {
            peers.push(address(h)?);
        }
    }
    Ok((local, peers))
}

impl LinuxBridgeProvider {
    /// The members' bridges and every host's VXLAN port (the home's bridge is made first,
    /// as any bridge's).
    pub(crate) fn ensure_span(
        &self,
        config: &Value,
        spec: &Spec,
        tag: &str,
        owner: &hive_sdk::tag::Tag,
    ) -> Result<(), ProviderError> {
        let hosts = spanned(config);
        for (i, host) in hosts.iter().enumerate() {
            let here = self.on_record(Some(host));
            if i > 0 {
                here.ensure(&spec.member(), tag)?;
                here.write_tag(&spec.name, owner)?;
            }
            let (local, peers) = underlay(&hosts, i)?;
            here.ensure_port(&spec.name, tag, local, &peers)?;
        }
        Ok(())
    }

    /// What is wrong with the bridge across its hosts, host by host.
    pub(crate) fn span_problems(
        &self,
        prior: &Value,
        name: &str,
        tag: &str,
    ) -> Result<Vec<String>, ProviderError> {
        let mut problems = Vec::new();
        let hosts = spanned(prior);
        for (i, host) in hosts.iter().enumerate() {
            let here = self.on_record(Some(host));
            let at = host.attr_str("name").unwrap_or_default();
            match here.link(name)? {
                Some(l) if l.alias.as_deref() == Some(tag) => {}
                _ => problems.push(format!("{name} is missing on host {at}")),
            }
            let port = port_name(name);
            match here.link(&port)? {
                Some(l) if l.alias.as_deref() == Some(tag) => {
                    let (_, peers) = underlay(&hosts, i)?;
                    let mut have = here.flood_peers(&port)?;
                    have.sort();
                    let mut want: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
                    want.sort();
                    if have != want {
                        problems.push(format!(
                            "its VXLAN port on host {at} floods to {have:?}, not {want:?}"
                        ));
                    }
                }
                _ => problems.push(format!("its VXLAN port {port} is missing on host {at}")),
            }
        }
        Ok(problems)
    }

    /// The bridge and VXLAN port on each host but the home (whose are removed as any
    /// bridge's).
    pub(crate) fn remove_span_members(
        &self,
        prior: &Value,
        name: &str,
        tag: &str,
    ) -> Result<(), ProviderError> {
        for host in spanned(prior).iter().skip(1) {
            let here = self.on_record(Some(host));
            here.remove_port(name, tag)?;
            if let Some(link) = here.link(name)? {
                if link.alias.as_deref() == Some(tag) {
                    here.ip(
                        &["link", "del", "dev", name],
                        &format!("deleting bridge {name}"),
                    )?;
                }
            }
        }
        Ok(())
    }
}
