//! `bridge` with `driver = "linux"` (the default): a Linux bridge hive owns, with its
//! address, optionally an uplink, DHCP from a dnsmasq of its own, and NAT from an nftables
//! table of its own.
//!
//! Everything runs through [`Exec`] (`ip -j`, `nft -j`, `dnsmasq`), and only JSON output is
//! parsed. What hive makes is recognisable as hive's: the bridge's alias is
//! `hive:LINEAGE:ADDRESS`, the nft table is `hive_NAME`, and dnsmasq's files live in
//! [`linux_bridge::dir`].

use hive_sdk::addr::InstanceAddr;
use hive_sdk::exec::{Exec, LocalExec};
use hive_sdk::net::{self, bounds};
use hive_sdk::problem::Problem;
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, DeleteRequest, Found, KindSpec, Object, Provider, ProviderError,
    ReadRequest, ReadResponse, ReapRequest, RetagRequest, ScanRequest, Target,
};
use hive_sdk::schema::{block, optional, schema, Nesting, Schema};
use hive_sdk::ssh::{SshExec, SshTarget};
use hive_sdk::{linux_bridge, subnets};
use hive_sdk::{Type, Value};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

mod on_host;
mod scan;
mod span;

use on_host::OnHost;

pub struct LinuxBridgeProvider {
    /// This machine's programs (a test may give its own).
    local: Arc<dyn Exec>,
    /// Remote hosts' SSH sessions, one per login, kept for the provider's life.
    remote: Mutex<HashMap<SshTarget, Arc<dyn Exec>>>,
}

impl Default for LinuxBridgeProvider {
    fn default() -> Self {
        LinuxBridgeProvider::new(Arc::new(LocalExec))
    }
}

impl LinuxBridgeProvider {
    pub fn new(local: Arc<dyn Exec>) -> LinuxBridgeProvider {
        LinuxBridgeProvider {
            local,
            remote: Mutex::new(HashMap::new()),
        }
    }

    /// The programs of a bridge's home host (its `host`, or the first of its `hosts`):
    /// over SSH when it has an address.
    fn on(&self, config: &Value) -> OnHost {
        let home = config
            .attr("host")
            .filter(|h| !h.is_null())
            .or_else(|| span::spanned(config).first().copied());
        self.on_record(home)
    }

    /// The programs of the host a host record describes (this machine's without one).
    fn on_record(&self, host: Option<&Value>) -> OnHost {
        let Some(target) = host.and_then(SshTarget::of_host) else {
            return OnHost {
                exec: self.local.clone(),
            };
        };
        let mut remote = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        let exec = remote
            .entry(target.clone())
            .or_insert_with(|| Arc::new(SshExec::new(target)))
            .clone();
        OnHost { exec }
    }
}

/// What the configuration asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spec {
    pub(crate) name: String,
    pub(crate) gateway: Ipv4Addr,
    pub(crate) prefix: u8,
    pub(crate) mtu: Option<u32>,
    pub(crate) uplink: Option<String>,
    pub(crate) nat: bool,
    pub(crate) dhcp: Option<Dhcp>,
    /// Whether the bridge has the gateway address here: not on the members of a bridge across
    /// hosts (only its home has it).
    pub(crate) addressed: bool,
}

impl Spec {
    /// The same bridge on another host of a bridge across hosts: no address, DHCP or NAT.
    fn member(&self) -> Spec {
        Spec {
            uplink: None,
            nat: false,
            dhcp: None,
            addressed: false,
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Dhcp {
    pub(crate) start: Ipv4Addr,
    pub(crate) end: Ipv4Addr,
    pub(crate) lease_time: String,
    /// (MAC, IP, hostname).
    pub(crate) reservations: Vec<(String, String, Option<String>)>,
}

pub(crate) fn err(message: impl Into<String>) -> ProviderError {
    ProviderError::new(message)
}

/// `10.77.0.1/24` → (10.77.0.1, 24): an address a bridge can have, in a /8 to /30.
pub fn parse_cidr(cidr: &str) -> Result<(Ipv4Addr, u8), String> {
    let (ip, prefix) = net::split_cidr(cidr).ok_or_else(|| {
        format!(
            "cidr = \"{cidr}\": expected the bridge's IPv4 address and prefix, like 10.77.0.1/24"
        )
    })?;
    if !(8..=30).contains(&prefix) {
        return Err(format!(
            "cidr = \"{cidr}\": the prefix must be from /8 to /30"
        ));
    }
    let (network, broadcast) = bounds(ip, prefix);
    if ip == network || ip == broadcast {
        return Err(format!(
            "cidr = \"{cidr}\": {ip} is the subnet's {} address, not one a bridge can have",
            if ip == network {
                "network"
            } else {
                "broadcast"
            }
        ));
    }
    Ok((ip, prefix))
}

/// The bridge's name: `name`, or one made from the address (letters, digits and dashes), at
/// most 15 bytes (Linux's limit), shortened with a digest when needed.
fn bridge_name(config: &Value, address: &InstanceAddr) -> String {
    if let Some(n) = config.attr_str("name") {
        return n.to_string();
    }
    let derived: String = hive_sdk::addr::backend_name(address)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .to_string();
    if derived.len() <= 15 {
        return derived;
    }
    format!("{}-{}", &derived[..10], short_digest(&derived))
}

/// The schema of a Linux bridge: every bridge's, with an uplink and a DHCP lease time.
fn linux_bridge_schema() -> Schema {
    let own = schema(
        vec![
            optional("uplink", Type::String).about("an interface to enslave to the bridge"),
            optional("hosts", Type::Any)
                .refers_to("host")
                .replaces()
                .about(
                "one network across these hosts (VXLAN); the first has the gateway, DHCP and NAT",
            ),
        ],
        vec![block(
            "dhcp",
            Nesting::Single,
            schema(vec![optional("lease_time", Type::String)], vec![]),
        )],
    );
    // Both are this crate's own declarations: they cannot disagree.
    net::bridge_schema()
        .merged(&own)
        .unwrap_or_else(|_| net::bridge_schema())
}

/// Four hex digits of a name's SHA-256, to keep shortened or rewritten names apart.
pub(crate) fn short_digest(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .take(2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 15 {
        return Err(format!(
            "name = \"{name}\": a Linux interface name has 1 to 15 characters"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "name = \"{name}\": use letters, digits, '-', '_' and '.' only"
        ));
    }
    Ok(())
}

fn spec(config: &Value, address: &InstanceAddr) -> Result<Spec, String> {
    let cidr = config.attr_str("cidr").ok_or("cidr is required")?;
    let (gateway, prefix) = parse_cidr(cidr)?;
    let name = bridge_name(config, address);
    check_name(&name)?;
    let dhcp = match config.attr("dhcp") {
        None => None,
        Some(d) => {
            let Some((start, end)) = net::dhcp_range(config) else {
                return Err("dhcp range: expected [first, last] addresses".into());
            };
            let addr = |text: &str| -> Result<Ipv4Addr, String> {
                let ip: Ipv4Addr = text
                    .parse()
                    .map_err(|_| format!("dhcp range: {text:?} is not an IPv4 address"))?;
                let (net, broadcast) = bounds(gateway, prefix);
                if ip <= net || ip >= broadcast {
                    return Err(format!("dhcp range address {ip} is outside cidr {cidr}"));
                }
                Ok(ip)
            };
            let (start, end) = (addr(&start)?, addr(&end)?);
            if start > end {
                return Err(format!("dhcp range: {start} comes after {end}"));
            }
            let reservations = d
                .attr("reservations")
                .and_then(Value::as_items)
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    let mac = r.attr_str("mac").unwrap_or_default().to_lowercase();
                    let ip = r.attr_str("ip").unwrap_or_default().to_string();
                    (mac, ip, r.attr_str("hostname").map(str::to_string))
                })
                .collect();
            Some(Dhcp {
                start,
                end,
                lease_time: d.attr_str("lease_time").unwrap_or("1h").to_string(),
                reservations,
            })
        }
    };
    Ok(Spec {
        name,
        gateway,
        prefix,
        mtu: config
            .attr("mtu")
            .and_then(Value::as_number)
            .map(|m| m as u32),
        uplink: config.attr_str("uplink").map(str::to_string),
        nat: config.attr("nat").and_then(Value::as_bool).unwrap_or(false),
        dhcp,
        addressed: true,
    })
}

/// The state (lineage) and address a bridge's alias says it was made for.
pub(crate) fn owner_of(alias: &str) -> Option<(&str, &str)> {
    alias.strip_prefix("hive:")?.split_once(':')
}

/// The alias that marks a bridge as this state's.
fn tag(target: &Target<'_>) -> String {
    format!("hive:{}:{}", target.lineage, target.address)
}

/// The nft table of a bridge: `hive_NAME`, with a digest when the name has characters nft
/// identifiers cannot (so `br-a` and `br_a` get different tables).
pub(crate) fn table_name(bridge: &str) -> String {
    if bridge
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return format!("hive_{bridge}");
    }
    let safe: String = bridge
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("hive_{safe}_{}", short_digest(bridge))
}

impl Provider for LinuxBridgeProvider {
    fn driver(&self) -> &'static str {
        "linux"
    }

    fn kinds(&self) -> Vec<KindSpec> {
        vec![KindSpec {
            kind: "bridge",
            schema: linux_bridge_schema(),
            default_driver: true,
        }]
    }

    fn validate(&self, _kind: &str, config: &Value) -> Vec<Problem> {
        // Only what is known now: values that come from other resources are checked when
        // they are (at apply).
        let mut problems = Vec::new();
        if let Some(name) = config.attr_str("name") {
            if let Err(e) = check_name(name) {
                problems.push(Problem::at("name", e));
            }
        }
        if let Some(hosts) = config.attr("hosts").and_then(Value::as_items) {
            if config.attr("host").is_some_and(|h| !h.is_null()) {
                problems.push(Problem::at(
                    "hosts",
                    "set host (a bridge on one host) or hosts (one network across several), not both",
                ));
            }
            if hosts.len() < 2 {
                problems.push(Problem::at(
                    "hosts",
                    "a bridge across hosts needs at least two; for one, set host",
                ));
            }
            if hosts
                .iter()
                .any(|h| h.is_wholly_known() && span::underlay_address(h).is_none())
            {
                problems.push(Problem::at(
                    "hosts",
                    "every host of a bridge across hosts needs an address: its VXLAN port sends from it",
                ));
            }
        }
        problems.extend(subnets::validate(config));
        let Some(cidr) = config.attr_str("cidr").filter(|c| *c != subnets::AUTO) else {
            return problems;
        };
        let (gateway, prefix) = match parse_cidr(cidr) {
            Ok(p) => p,
            Err(e) => {
                problems.push(Problem::at("cidr", e));
                return problems;
            }
        };
        let range_value = config
            .attr("dhcp")
            .and_then(|d| d.attr("range"))
            .filter(|r| !r.is_null());
        let range = range_value.and_then(Value::as_items).unwrap_or_default();
        let at_range = |message: String| Problem::at("dhcp", message).then("range");
        let (net, broadcast) = bounds(gateway, prefix);
        for end in range.iter().filter_map(Value::as_str) {
            match end.parse::<Ipv4Addr>() {
                Ok(ip) if ip > net && ip < broadcast => {}
                Ok(ip) => problems.push(at_range(format!(
                    "dhcp range address {ip} is outside cidr {cidr}"
                ))),
                Err(_) => problems.push(at_range(format!(
                    "dhcp range: {end:?} is not an IPv4 address"
                ))),
            }
        }
        if range.len() != 2 && range_value.is_some_and(Value::is_wholly_known) {
            problems.push(at_range(
                "dhcp range: expected [first, last] addresses".into(),
            ));
        }
        problems
    }

    fn scan(&self, request: &ScanRequest<'_>) -> Result<Vec<Found>, ProviderError> {
        self.scan_host(request)
    }

    fn reap(&self, request: &ReapRequest<'_>) -> Result<(), ProviderError> {
        self.reap_found(request)
    }

    fn retag(&self, request: &RetagRequest<'_>) -> Result<(), ProviderError> {
        self.retag_recorded(request)
    }

    fn check_environment(&self, target: &Target<'_>, config: &Value) -> Vec<Problem> {
        if config.attr("name").is_some_and(Value::is_unknown) {
            return Vec::new();
        }
        let name = bridge_name(config, target.address);
        let on = self.on(config);
        match on.link(&name) {
            Ok(Some(link)) => match link.alias.as_deref().and_then(owner_of) {
                None => vec![Problem::at(
                    "name",
                    format!(
                        "name: {name} is already used by an interface hive does not own; set another"
                    ),
                )],
                Some((lineage, address)) if lineage != target.lineage => vec![Problem::at(
                    "name",
                    format!(
                        "name: {name} is a bridge hive made for {address} of another state (lineage {lineage}); set another"
                    ),
                )],
                Some(_) => Vec::new(),
            },
            // A host that cannot be reached (or whose key is wrong) is the plan's error.
            Err(e) => vec![Problem::at("host", e.message)],
            _ => Vec::new(),
        }
    }

    fn check_together(&self, objects: &[Object<'_>]) -> Vec<(usize, Problem)> {
        net::overlapping_subnets(objects)
    }

    fn backend_name(&self, _kind: &str, address: &InstanceAddr, config: &Value) -> Option<String> {
        if config.attr("name").is_some_and(Value::is_unknown) {
            return None;
        }
        Some(bridge_name(config, address))
    }

    fn create(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        let on = self.on(request.config);
        let owner = hive_sdk::tag::Tag::of(&request.target);
        let config = &subnets::resolve(request.config, &*on.exec, &owner)
            .map_err(|e| err(format!("choosing a subnet: {e}")))?;
        let spec = spec(config, request.target.address).map_err(err)?;
        let tag = tag(&request.target);
        on.ensure(&spec, &tag)?;
        on.write_tag(&spec.name, &owner)?;
        self.ensure_span(config, &spec, &tag, &owner)?;
        Ok(on.state(config, &spec))
    }

    fn update(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        // An uplink no longer configured is released before the rest is made right.
        let on = self.on(request.config);
        let old = request.prior.and_then(|p| p.attr_str("uplink"));
        if let Some(old) = old.filter(|o| Some(*o) != request.config.attr_str("uplink")) {
            if on.link(old)?.is_some() {
                on.ip(
                    &["link", "set", "dev", old, "nomaster"],
                    &format!("releasing the former uplink {old}"),
                )?;
            }
        }
        self.create(request)
    }

    fn read(&self, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
        let Ok(spec) = spec(request.prior, request.target.address) else {
            return Ok(ReadResponse::Gone);
        };
        let name = spec.name.as_str();
        let on = self.on(request.prior);
        let Some(link) = on.link(name)? else {
            // The bridge is gone; what hive ran for it may not be: repair (or destroy) takes
            // care of that, so only when nothing remains is the object gone.
            let remains = on.dnsmasq_pid(name).is_some()
                || on.exists(&linux_bridge::dir(name))
                || on.nat_rules_present(name)?;
            if !remains {
                return Ok(ReadResponse::Gone);
            }
            return Ok(ReadResponse::NeedsRepair {
                state: request.prior.clone(),
                problems: vec![format!("the bridge {name} itself is gone")],
            });
        };
        if link.alias.as_deref() != Some(tag(&request.target).as_str()) {
            // Someone else's interface now has the name: ours is gone.
            return Ok(ReadResponse::Gone);
        }
        let mut problems = Vec::new();
        if !link.up {
            problems.push(format!("{name} is down"));
        }
        if !on.addresses(name)?.contains(&(spec.gateway, spec.prefix)) {
            problems.push(format!(
                "{name} lost its address {}/{}",
                spec.gateway, spec.prefix
            ));
        }
        if spec.dhcp.is_some() && on.dnsmasq_pid(name).is_none() {
            problems.push("its dnsmasq is not running".to_string());
        }
        if spec.nat && !on.nat_rules_present(name)? {
            problems.push(format!(
                "its NAT table {} is missing or empty",
                table_name(name)
            ));
        }
        problems.extend(self.span_problems(request.prior, name, &tag(&request.target))?);
        let mut now = request.prior.as_map().cloned().unwrap_or_default();
        now.insert("leases".into(), on.leases(name));
        let now = Value::Map(now);
        Ok(if problems.is_empty() {
            ReadResponse::Found(now)
        } else {
            ReadResponse::NeedsRepair {
                state: now,
                problems,
            }
        })
    }

    fn delete(&self, request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
        let name = request
            .prior
            .attr_str("name")
            .map(str::to_string)
            .unwrap_or_else(|| bridge_name(request.prior, request.target.address));
        let tag = tag(&request.target);
        self.remove_span_members(request.prior, &name, &tag)?;
        let on = self.on(request.prior);
        on.remove_port(&name, &tag)?;
        on.stop_dnsmasq(&name)?;
        on.remove_nat(&name)?;
        if let Some(link) = on.link(&name)? {
            if link.alias.as_deref() == Some(tag.as_str()) {
                on.ip(
                    &["link", "del", "dev", &name],
                    &format!("deleting bridge {name}"),
                )?;
            }
        }
        on.remove(&linux_bridge::dir(&name))?;
        on.remove_tag(&name)?;
        if let Some(cidr) = request.prior.attr_str("cidr") {
            let owner = subnets::owner(request.target.lineage, request.target.address);
            subnets::release(&*on.exec, cidr, &owner)
                .map_err(|e| err(format!("releasing subnet {cidr}: {e}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(cidr: &str, range: [&str; 2]) -> Value {
        Value::map([
            ("cidr", Value::string(cidr)),
            (
                "dhcp",
                Value::map([(
                    "range",
                    Value::List(vec![Value::string(range[0]), Value::string(range[1])]),
                )]),
            ),
        ])
    }

    #[test]
    fn cidrs_ranges_and_names_are_checked_at_their_attributes() {
        let p = LinuxBridgeProvider::default();
        assert!(p
            .validate("bridge", &config("10.9.0.1/24", ["10.9.0.10", "10.9.0.20"]))
            .is_empty());
        let outside = p.validate("bridge", &config("10.9.0.1/24", ["10.9.0.10", "10.9.1.20"]));
        assert!(outside[0].message.contains("outside cidr"), "{outside:?}");
        assert_eq!(outside[0].path_text(), "dhcp.range");
        let bad = p.validate("bridge", &config("10.9.0.1/33", ["10.9.0.10", "10.9.0.20"]));
        assert_eq!(bad[0].path_text(), "cidr");
        let network = p.validate("bridge", &config("10.9.0.0/24", ["10.9.0.10", "10.9.0.20"]));
        assert!(
            network[0].message.contains("network address"),
            "{network:?}"
        );
        assert!(check_name("a-name-too-long-x").is_err());
        assert!(check_name("br0").is_ok());
        let name = |a: &str| bridge_name(&Value::Null, &a.parse().unwrap());
        assert_eq!(name("bridge.lan"), "lan");
        assert_eq!(name("bridge.lan[\"a\"]"), "lan-a");
        assert!(name("bridge.a_very_long_bridge_name").len() <= 15);
        assert_ne!(name("bridge.lan[\"a.b\"]"), name("bridge.lan[\"a-b\"]"));
    }

    #[test]
    fn subnets_overlap_or_not() {
        let a = ("10.1.0.1".parse().expect("ip"), 24);
        let b = ("10.1.0.129".parse().expect("ip"), 25);
        let c = ("10.1.1.1".parse().expect("ip"), 24);
        assert!(net::overlap(a, b));
        assert!(!net::overlap(a, c));
    }
}
