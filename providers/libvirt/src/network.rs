//! `bridge` with `driver = "libvirt"`: a libvirt NAT network on `cidr` (or a subnet hive
//! chooses, `cidr = "auto"`), with DHCP from `dhcp.range` and reservations. Instances with a fixed `ip` add their own reservation (by
//! MAC) while they exist.

use crate::host::{Connections, Host, HostAccess, Site};
use crate::{lv, name_from_address, object, xml};
use hive_sdk::addr::InstanceAddr;
use hive_sdk::problem::Problem;
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, DeleteRequest, ProviderError, ReadRequest, ReadResponse,
};
use hive_sdk::{linux_bridge, net, subnets, Value};
use std::net::Ipv4Addr;
use virt::network::Network;

/// `10.77.0.1/24` → (10.77.0.1, 24), with room for guests.
pub fn parse_cidr(cidr: &str) -> Result<(Ipv4Addr, u8), String> {
    let (ip, prefix) = net::split_cidr(cidr).ok_or_else(|| {
        format!("cidr = \"{cidr}\": expected an IPv4 address and prefix, like 10.77.0.1/24")
    })?;
    if prefix > 30 {
        return Err(format!(
            "cidr = \"{cidr}\": a /{prefix} leaves no room for guests"
        ));
    }
    Ok((ip, prefix))
}

pub fn validate(config: &Value) -> Vec<Problem> {
    let mut problems = subnets::validate(config);
    let Some(cidr) = config.attr_str("cidr").filter(|c| *c != subnets::AUTO) else {
        return problems;
    };
    let (gateway, prefix) = match parse_cidr(cidr) {
        Ok(p) => p,
        Err(e) => return vec![Problem::at("cidr", e)],
    };
    if let Some(range) = net::dhcp_range(config) {
        let at_range = |message: String| Problem::at("dhcp", message).then("range");
        for end in [&range.0, &range.1] {
            match end.parse::<Ipv4Addr>() {
                Ok(ip) if net::contains(gateway, prefix, ip) => {}
                Ok(_) => problems.push(at_range(format!(
                    "dhcp range address {end} is outside cidr {cidr}"
                ))),
                Err(_) => problems.push(at_range(format!(
                    "dhcp range: {end:?} is not an IPv4 address"
                ))),
            }
        }
    }
    if let Some(name) = config.attr_str("name") {
        if name.len() > 12 || name.is_empty() {
            problems.push(Problem::at(
                "name",
                format!(
                    "name = \"{name}\" must be 1 to 12 characters (its bridge device is hv-{name})"
                ),
            ));
        }
    }
    problems
}

/// The network's name: `name`, or one made from the address, shortened with a digest to fit
/// the bridge device's name.
pub fn network_name(config: &Value, address: &InstanceAddr) -> String {
    if let Some(name) = config.attr_str("name") {
        return name.to_string();
    }
    let derived = name_from_address(address);
    if derived.len() <= 12 {
        return derived;
    }
    let digest = crate::sha256_hex(derived.as_bytes());
    format!("{}-{}", &derived[..7], &digest[..4])
}

/// Linux limits interface names to 15 bytes.
pub fn bridge_device(name: &str) -> String {
    let mut dev = format!("hv-{name}");
    dev.truncate(15);
    dev
}

fn spec(config: &Value, name: &str) -> Result<xml::NetworkSpec, ProviderError> {
    let cidr = config.attr_str("cidr").unwrap_or_default();
    let (gateway, prefix) = parse_cidr(cidr).map_err(ProviderError::new)?;
    let hosts = config
        .attr("dhcp")
        .and_then(|d| d.attr("reservations"))
        .and_then(Value::as_items)
        .unwrap_or_default()
        .iter()
        .filter_map(|r| {
            Some((
                r.attr_str("mac")?.to_lowercase(),
                r.attr_str("ip")?.to_string(),
                r.attr_str("hostname").map(str::to_string),
            ))
        })
        .collect();
    Ok(xml::NetworkSpec {
        name: name.to_string(),
        bridge: bridge_device(name),
        nat: config.attr("nat").and_then(Value::as_bool).unwrap_or(true),
        mtu: config
            .attr("mtu")
            .and_then(Value::as_number)
            .map(|m| m as u32),
        gateway: gateway.to_string(),
        netmask: net::netmask(prefix).to_string(),
        dhcp: net::dhcp_range(config),
        hosts,
    })
}

pub fn create(
    connections: &Connections,
    request: &ApplyRequest<'_>,
) -> Result<ApplyResponse, ProviderError> {
    let site = connections.get(&Host::of(request.config))?;
    let owner = hive_sdk::tag::Tag::of(&request.target);
    let config = &subnets::resolve(request.config, &*site.exec(), &owner)
        .map_err(|e| ProviderError::new(format!("choosing a subnet: {e}")))?;
    let name = network_name(config, request.target.address);
    let wanted = spec(config, &name)?;
    let network = match site.conn.lookup_network_by_name(&name) {
        Ok(existing) => {
            // Ours from an interrupted create if it is what we would have made; anything
            // else is someone else's.
            let facts = existing
                .xml_desc(0)
                .map_err(lv(format!("reading network {name}")))
                .and_then(|x| xml::parse_network(&x).map_err(ProviderError::new))?;
            if facts.bridge != wanted.bridge || facts.gateway != wanted.gateway {
                return Err(ProviderError::new(format!(
                    "a libvirt network named {name} already exists (bridge {}, address {}) and is not this one; set name to another",
                    facts.bridge, facts.gateway
                )));
            }
            existing
        }
        Err(_) => site
            .conn
            .define_network_xml(&wanted.to_xml())
            .map_err(lv(format!("defining network {name}")))?,
    };
    if !network.is_active().unwrap_or(false) {
        network
            .create()
            .map_err(lv(format!("starting network {name}")))?;
    }
    let _ = network.set_autostart(true);
    crate::scan::record_network(&site, &name, &request.target)?;
    state_of(&site, config, &name, &wanted.bridge)
}

fn state_of(
    site: &Site,
    config: &Value,
    name: &str,
    bridge: &str,
) -> Result<ApplyResponse, ProviderError> {
    let network = site
        .conn
        .lookup_network_by_name(name)
        .map_err(lv(format!("looking up network {name}")))?;
    let id = network
        .uuid_string()
        .map_err(lv(format!("reading network {name}")))?;
    let cidr = config.attr_str("cidr").unwrap_or_default();
    let gateway = cidr.split('/').next().unwrap_or_default().to_string();
    let mut state = object(config);
    state.insert("id".into(), Value::String(id.clone()));
    state.insert("name".into(), Value::String(name.to_string()));
    state.insert("gateway".into(), Value::String(gateway));
    state.insert("leases".into(), Value::List(leases(site, bridge)));
    Ok(ApplyResponse {
        state: Value::Map(state),
        id,
    })
}

/// Current DHCP leases, from the status file libvirt's dnsmasq keeps (JSON).
pub fn leases(site: &Site, bridge: &str) -> Vec<Value> {
    let path = format!("/var/lib/libvirt/dnsmasq/{bridge}.status");
    let Some(text) = site.files.read_text(std::path::Path::new(&path)) else {
        return Vec::new();
    };
    let Ok(serde_json::Value::Array(entries)) = serde_json::from_str(&text) else {
        return Vec::new();
    };
    entries
        .iter()
        .map(|e| {
            let field = |k: &str| Value::string(e.get(k).and_then(|v| v.as_str()).unwrap_or(""));
            Value::map([
                ("mac", field("mac-address")),
                ("ip", field("ip-address")),
                ("hostname", field("hostname")),
            ])
        })
        .collect()
}

pub fn update(
    connections: &Connections,
    request: &ApplyRequest<'_>,
) -> Result<ApplyResponse, ProviderError> {
    // Everything but mtu, uplink, nat and the DHCP settings forces replacement (schema); the
    // rest is applied by redefining the network and restarting it.
    let config = request.config;
    let site = connections.get(&Host::of(config))?;
    let name = network_name(config, request.target.address);
    let mut wanted = spec(config, &name)?;
    // Instances' fixed addresses are reservations too: keep them.
    if let Ok(current) = site.conn.lookup_network_by_name(&name) {
        if let Ok(facts) = current
            .xml_desc(0)
            .map_err(|e| e.to_string())
            .and_then(|x| xml::parse_network(&x))
        {
            for (mac, ip) in facts.hosts {
                if !wanted.hosts.iter().any(|h| h.0 == mac) {
                    wanted.hosts.push((mac, ip, None));
                }
            }
        }
    }
    let network = site
        .conn
        .define_network_xml(&wanted.to_xml())
        .map_err(lv(format!("redefining network {name}")))?;
    if network.is_active().unwrap_or(false) {
        let _ = network.destroy();
    }
    network
        .create()
        .map_err(lv(format!("restarting network {name}")))?;
    state_of(&site, config, &name, &wanted.bridge)
}

pub fn read(
    connections: &Connections,
    request: &ReadRequest<'_>,
) -> Result<ReadResponse, ProviderError> {
    let site = connections.get(&Host::of(request.prior))?;
    let Some(name) = request.prior.attr_str("name") else {
        return Ok(ReadResponse::Gone);
    };
    let Ok(network) = site.conn.lookup_network_by_name(name) else {
        return Ok(ReadResponse::Gone);
    };
    let mut now = object(request.prior);
    if !network.is_active().unwrap_or(false) {
        // Planned as a create, which finds it and starts it.
        return Ok(ReadResponse::Gone);
    }
    now.insert(
        "leases".into(),
        Value::List(leases(&site, &bridge_device(name))),
    );
    Ok(ReadResponse::Found(Value::Map(now)))
}

pub fn delete(connections: &Connections, request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
    let site = connections.get(&Host::of(request.prior))?;
    if let Some(cidr) = request.prior.attr_str("cidr") {
        let owner = subnets::owner(request.target.lineage, request.target.address);
        subnets::release(&*site.exec(), cidr, &owner)
            .map_err(|e| ProviderError::new(format!("releasing subnet {cidr}: {e}")))?;
    }
    let Some(name) = request.prior.attr_str("name") else {
        return Ok(());
    };
    remove(&site, name)
}

/// Stops and undefines the network `name` if it exists, and forgets its tag record.
pub(crate) fn remove(site: &Site, name: &str) -> Result<(), ProviderError> {
    if let Ok(network) = site.conn.lookup_network_by_name(name) {
        if network.is_active().unwrap_or(false) {
            network
                .destroy()
                .map_err(lv(format!("stopping network {name}")))?;
        }
        network
            .undefine()
            .map_err(lv(format!("removing network {name}")))?;
    }
    crate::scan::forget_network(site, name);
    Ok(())
}

/// A network and what its definition says, by name.
fn network_with_facts(
    site: &Site,
    network: &str,
) -> Result<(Network, xml::NetworkFacts), ProviderError> {
    let net = site
        .conn
        .lookup_network_by_name(network)
        .map_err(lv(format!("looking up network {network}")))?;
    let facts = net
        .xml_desc(0)
        .map_err(lv(format!("reading network {network}")))
        .and_then(|x| xml::parse_network(&x).map_err(ProviderError::new))?;
    Ok((net, facts))
}

/// Adds (or moves) a DHCP reservation: on a libvirt network, live and in its definition; on
/// a Linux bridge hive owns, as a file its dnsmasq watches.
/// `at` is where a Linux bridge's DHCP runs (see [`Site::bridge_home`]).
pub fn reserve(
    site: &Site,
    at: &HostAccess,
    network: &str,
    mac: &str,
    ip: &str,
) -> Result<(), ProviderError> {
    if is_hive_linux_bridge(site, at, network) {
        return linux_bridge::reserve_for_instance((&*at.files, &*at.exec), network, mac, ip)
            .map_err(ProviderError::new);
    }
    let (net, facts) = network_with_facts(site, network)?;
    if facts.hosts.iter().any(|(m, i)| m == mac && i == ip) {
        return Ok(());
    }
    if let Some((m, _)) = facts.hosts.iter().find(|(m, i)| m == mac || i == ip) {
        let old = facts.hosts.iter().find(|(mm, _)| mm == m).cloned();
        if let Some((m, i)) = old {
            modify_host(&net, UPDATE_DELETE, &m, &i, network)?;
        }
    }
    modify_host(&net, UPDATE_ADD_LAST, mac, ip, network)
}

/// Gives a MAC's reservations back; a network that is gone has none to give.
pub fn unreserve(
    site: &Site,
    at: &HostAccess,
    network: &str,
    mac: &str,
) -> Result<(), ProviderError> {
    if is_hive_linux_bridge(site, at, network) {
        return linux_bridge::unreserve_for_instance((&*at.files, &*at.exec), network, mac)
            .map_err(ProviderError::new);
    }
    match site.conn.lookup_network_by_name(network) {
        Err(e) if crate::not_found(&e) => return Ok(()),
        _ => {}
    }
    let (net, facts) = network_with_facts(site, network)?;
    for (m, ip) in facts.hosts.iter().filter(|(m, _)| m == mac) {
        modify_host(&net, UPDATE_DELETE, m, ip, network)?;
    }
    Ok(())
}

/// The (MAC, IP) reservations of a network.
pub fn reservations(
    connections: &Connections,
    uri: &str,
    network: &str,
) -> Result<Vec<(String, String)>, ProviderError> {
    let site = connections.get(&Host {
        uri: Some(uri.to_string()),
        accel: crate::host::Accel::Tcg,
        remote: None,
    })?;
    Ok(network_with_facts(&site, network)?.1.hosts)
}

/// A Linux bridge hive runs DHCP for (not a libvirt network): its files exist.
fn is_hive_linux_bridge(site: &Site, at: &HostAccess, name: &str) -> bool {
    at.files.exists(&linux_bridge::dir(name)) && site.conn.lookup_network_by_name(name).is_err()
}

const UPDATE_DELETE: u32 = 2;
const UPDATE_ADD_LAST: u32 = 3;
/// `VIR_NETWORK_SECTION_IP_DHCP_HOST`.
const SECTION_DHCP_HOST: u32 = 4;

fn modify_host(
    net: &Network,
    command: u32,
    mac: &str,
    ip: &str,
    name: &str,
) -> Result<(), ProviderError> {
    // Live when running, and always in the definition.
    let flags = if net.is_active().unwrap_or(false) {
        1 | 2
    } else {
        2
    };
    net.update(
        command,
        SECTION_DHCP_HOST,
        -1,
        &xml::dhcp_host_xml(mac, ip, None),
        flags,
    )
    .map_err(lv(format!(
        "updating the DHCP reservation of {mac} ({ip}) on network {name}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_ranges() {
        assert_eq!(
            parse_cidr("10.77.0.1/24"),
            Ok(("10.77.0.1".parse().expect("ip"), 24))
        );
        assert!(parse_cidr("10.77.0.1").is_err());
        assert!(parse_cidr("10.77.0.300/24").is_err());
        let config = Value::map([
            ("cidr", Value::string("10.77.0.1/24")),
            (
                "dhcp",
                Value::map([(
                    "range",
                    Value::List(vec![
                        Value::string("10.77.0.100"),
                        Value::string("10.78.0.200"),
                    ]),
                )]),
            ),
        ]);
        let problems = validate(&config);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("10.78.0.200"));
        assert_eq!(problems[0].path_text(), "dhcp.range");
    }

    #[test]
    fn bridge_devices_fit_linux_names() {
        assert_eq!(bridge_device("lan"), "hv-lan");
        assert_eq!(bridge_device("a-very-long-network-name").len(), 15);
    }
}
