//! `hive scan` of Linux bridges: the bridges whose alias says they are hive's, the dnsmasq
//! directories and NAT tables hive made for bridges, and the subnet claims, each with the
//! tag hive keeps beside the bridge (`BRIDGES/.tags/NAME.tag`: an alias is too short for a
//! state's location). Reaping and re-tagging them.

use crate::on_host::OnHost;
use crate::{err, owner_of, span, table_name, LinuxBridgeProvider};
use hive_sdk::linux_bridge;
use hive_sdk::provider::{Found, ProviderError, ReapRequest, RetagRequest, ScanRequest};
use hive_sdk::subnets;
use hive_sdk::tag::Tag;
use hive_sdk::Value;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::PathBuf;

const BRIDGE: &str = "linux bridge";
const DNSMASQ: &str = "dnsmasq";
const TABLE: &str = "nft table";
const CLAIM: &str = "subnet claim";

fn tag_path(bridge: &str) -> PathBuf {
    linux_bridge::root()
        .join(".tags")
        .join(format!("{bridge}.tag"))
}

/// A tag naming no state: an object hive made before tags carried one.
fn bare(lineage: &str, address: &str) -> Tag {
    Tag {
        lineage: lineage.into(),
        state: String::new(),
        address: address.into(),
        expires: None,
    }
}

impl OnHost {
    pub(crate) fn write_tag(&self, bridge: &str, tag: &Tag) -> Result<(), ProviderError> {
        let path = tag_path(bridge);
        let dir = path.parent().map(|d| d.to_path_buf()).unwrap_or_default();
        self.exec
            .check(&["mkdir", "-p", &dir.to_string_lossy()], None)
            .map_err(|e| err(format!("making {}: {e}", dir.display())))?;
        self.write_file(&path, &tag.to_json())
    }

    fn read_tag(&self, bridge: &str) -> Option<Tag> {
        self.read_file(&tag_path(bridge))
            .and_then(|t| Tag::from_json(&t))
    }

    pub(crate) fn remove_tag(&self, bridge: &str) -> Result<(), ProviderError> {
        self.remove(&tag_path(bridge))
    }

    /// Names of the entries of a directory on the host (none if it does not exist).
    fn entries(&self, dir: &std::path::Path) -> Result<Vec<String>, ProviderError> {
        let script = r#"cd "$1" 2>/dev/null || exit 0
for d in * .[!.]*; do [ -e "$d" ] && printf '%s\n' "$d"; done; true"#;
        let out = self
            .exec
            .check(&["sh", "-c", script, "sh", &dir.to_string_lossy()], None)
            .map_err(|e| err(format!("listing {}: {e}", dir.display())))?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// Bridges with hive's alias: (name, lineage, address).
    fn hive_bridges(&self) -> Result<Vec<(String, String, String)>, ProviderError> {
        let out = self
            .exec
            .check(&["ip", "-j", "-d", "link", "show", "type", "bridge"], None)
            .map_err(|e| err(format!("listing bridges: {e}")))?;
        let links: Json = serde_json::from_str(&out)
            .map_err(|e| err(format!("reading `ip -j link show type bridge`: {e}")))?;
        Ok(links
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| {
                let name = l["ifname"].as_str()?;
                let (lineage, address) = owner_of(l["ifalias"].as_str()?)?;
                Some((name.to_string(), lineage.to_string(), address.to_string()))
            })
            .collect())
    }

    fn hive_tables(&self) -> Result<Vec<String>, ProviderError> {
        let out = self
            .exec
            .check(&["nft", "-j", "list", "tables", "ip"], None)
            .map_err(|e| err(format!("listing nft tables: {e}")))?;
        let tables: Json = serde_json::from_str(&out)
            .map_err(|e| err(format!("reading `nft -j list tables`: {e}")))?;
        Ok(tables["nftables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["table"]["name"].as_str())
            .filter(|n| n.starts_with("hive_"))
            .map(str::to_string)
            .collect())
    }
}

impl LinuxBridgeProvider {
    pub(crate) fn scan_host(&self, request: &ScanRequest<'_>) -> Result<Vec<Found>, ProviderError> {
        let on = self.on_record(request.host.attr("host"));
        let mut found = Vec::new();
        // Every bridge name hive has something of, with its tag.
        let mut tags: BTreeMap<String, Tag> = BTreeMap::new();
        for name in on.entries(&tag_path("x").with_file_name(""))? {
            if let Some(bridge) = name.strip_suffix(".tag") {
                if let Some(tag) = on.read_tag(bridge) {
                    tags.insert(bridge.to_string(), tag);
                }
            }
        }
        for (name, lineage, address) in on.hive_bridges()? {
            let tag = tags
                .get(&name)
                .filter(|t| t.lineage == lineage && t.address == address)
                .cloned()
                .unwrap_or_else(|| bare(&lineage, &address));
            tags.insert(name.clone(), tag.clone());
            found.push(Found {
                kind: BRIDGE.into(),
                name: name.clone(),
                tag,
                id: name,
                order: 2,
                outlives_state: false,
            });
        }
        let unknown = bare("", "");
        for name in on.entries(&linux_bridge::root())? {
            if name.starts_with('.') {
                continue;
            }
            found.push(Found {
                kind: DNSMASQ.into(),
                name: name.clone(),
                tag: tags.get(&name).cloned().unwrap_or_else(|| unknown.clone()),
                id: name,
                order: 1,
                outlives_state: false,
            });
        }
        let by_table: BTreeMap<String, &String> = tags.keys().map(|n| (table_name(n), n)).collect();
        for table in on.hive_tables()? {
            let bridge = by_table.get(&table).copied();
            found.push(Found {
                kind: TABLE.into(),
                name: table.clone(),
                tag: bridge
                    .and_then(|b| tags.get(b))
                    .cloned()
                    .unwrap_or_else(|| unknown.clone()),
                id: bridge.cloned().unwrap_or_default(),
                order: 1,
                outlives_state: false,
            });
        }
        for claim in subnets::scan(&*on.exec).map_err(|e| err(format!("listing claims: {e}")))? {
            found.push(Found {
                kind: CLAIM.into(),
                name: claim.subnet,
                tag: claim.tag,
                id: String::new(),
                order: 3,
                outlives_state: false,
            });
        }
        Ok(found)
    }

    pub(crate) fn reap_found(&self, request: &ReapRequest<'_>) -> Result<(), ProviderError> {
        let on = self.on_record(request.host.attr("host"));
        let found = request.found;
        let name = found.name.as_str();
        match found.kind.as_str() {
            BRIDGE => {
                let alias = format!("hive:{}:{}", found.tag.lineage, found.tag.address);
                on.remove_port(name, &alias)?;
                on.stop_dnsmasq(name)?;
                on.remove_nat(name)?;
                // Only the bridge that still carries the tag the scan saw.
                if let Some(link) = on.link(name)? {
                    if link.alias.as_deref() == Some(alias.as_str()) {
                        on.ip(
                            &["link", "del", "dev", name],
                            &format!("deleting bridge {name}"),
                        )?;
                    }
                }
                on.remove(&linux_bridge::dir(name))?;
                on.remove_tag(name)
            }
            DNSMASQ => {
                on.stop_dnsmasq(name)?;
                on.remove(&linux_bridge::dir(name))?;
                self.forget_if_gone(&on, name)
            }
            TABLE => {
                on.exec
                    .run(&["nft", "delete", "table", "ip", name], None)
                    .map_err(err)?;
                if !found.id.is_empty() {
                    self.forget_if_gone(&on, &found.id)?;
                }
                Ok(())
            }
            CLAIM => subnets::reap(&*on.exec, name, &found.tag)
                .map_err(|e| err(format!("removing the claim of {name}: {e}"))),
            other => Err(err(format!("the linux bridge driver has no {other}"))),
        }
    }

    /// A bridge's tag outlives nothing of it.
    fn forget_if_gone(&self, on: &OnHost, bridge: &str) -> Result<(), ProviderError> {
        if on.link(bridge)?.is_none() {
            on.remove_tag(bridge)?;
        }
        Ok(())
    }

    /// The alias and tag of a recorded bridge on each of its hosts, and its subnet claim.
    pub(crate) fn retag_recorded(&self, request: &RetagRequest<'_>) -> Result<(), ProviderError> {
        let prior = request.attributes;
        let Some(name) = prior.attr_str("name") else {
            return Ok(());
        };
        let alias = request
            .tag
            .map(|t| format!("hive:{}:{}", t.lineage, t.address))
            .unwrap_or_default();
        let home = prior.attr("host").filter(|h| !h.is_null());
        let mut hosts: Vec<Option<&Value>> = vec![home];
        if home.is_none() {
            hosts = span::spanned(prior).into_iter().map(Some).collect();
        }
        let old = Tag::of(&request.target);
        for (i, host) in hosts.into_iter().enumerate() {
            let on = self.on_record(host);
            if on.link(name)?.is_some() {
                on.ip(
                    &["link", "set", "dev", name, "alias", &alias],
                    &format!("re-tagging bridge {name}"),
                )?;
            }
            match request.tag {
                Some(tag) => on.write_tag(name, tag)?,
                None => on.remove_tag(name)?,
            }
            if i == 0 {
                if let Some(cidr) = prior.attr_str("cidr") {
                    subnets::retag(&*on.exec, cidr, &old, request.tag)
                        .map_err(|e| err(format!("re-tagging the claim of {cidr}: {e}")))?;
                }
            }
        }
        Ok(())
    }
}
