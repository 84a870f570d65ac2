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
use hive_sdk::linux_bridge;
use hive_sdk::net::{self, bounds};
use hive_sdk::problem::Problem;
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, DeleteRequest, KindSpec, Object, Provider, ProviderError,
    ReadRequest, ReadResponse, Target,
};
use hive_sdk::schema::{block, optional, schema, Nesting, Schema};
use hive_sdk::{Type, Value};
use serde_json::Value as Json;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

pub struct LinuxBridgeProvider {
    exec: Arc<dyn Exec>,
}

impl Default for LinuxBridgeProvider {
    fn default() -> Self {
        LinuxBridgeProvider {
            exec: Arc::new(LocalExec),
        }
    }
}

impl LinuxBridgeProvider {
    pub fn new(exec: Arc<dyn Exec>) -> LinuxBridgeProvider {
        LinuxBridgeProvider { exec }
    }
}

/// What the configuration asks for.
#[derive(Debug, Clone, PartialEq)]
struct Spec {
    name: String,
    gateway: Ipv4Addr,
    prefix: u8,
    mtu: Option<u32>,
    uplink: Option<String>,
    nat: bool,
    dhcp: Option<Dhcp>,
}

#[derive(Debug, Clone, PartialEq)]
struct Dhcp {
    start: Ipv4Addr,
    end: Ipv4Addr,
    lease_time: String,
    /// (MAC, IP, hostname).
    reservations: Vec<(String, String, Option<String>)>,
}

fn err(message: impl Into<String>) -> ProviderError {
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
        vec![optional("uplink", Type::String).about("an interface to enslave to the bridge")],
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
fn short_digest(text: &str) -> String {
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
            let range = d
                .attr("range")
                .and_then(Value::as_items)
                .unwrap_or_default();
            let [start, end] = range else {
                return Err("dhcp range: expected [first, last] addresses".into());
            };
            let addr = |v: &Value| -> Result<Ipv4Addr, String> {
                let text = v.as_str().unwrap_or_default();
                let ip: Ipv4Addr = text
                    .parse()
                    .map_err(|_| format!("dhcp range: {text:?} is not an IPv4 address"))?;
                let (net, broadcast) = bounds(gateway, prefix);
                if ip <= net || ip >= broadcast {
                    return Err(format!("dhcp range address {ip} is outside cidr {cidr}"));
                }
                Ok(ip)
            };
            let (start, end) = (addr(start)?, addr(end)?);
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
    })
}

/// The alias that marks a bridge as this state's.
fn tag(target: &Target<'_>) -> String {
    format!("hive:{}:{}", target.lineage, target.address)
}

/// The nft table of a bridge: `hive_NAME`, with a digest when the name has characters nft
/// identifiers cannot (so `br-a` and `br_a` get different tables).
fn table_name(bridge: &str) -> String {
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

/// What `ip -j link show` says of an interface.
#[derive(Debug, Default)]
struct Link {
    alias: Option<String>,
    up: bool,
}

impl LinuxBridgeProvider {
    fn link(&self, name: &str) -> Result<Option<Link>, ProviderError> {
        let out = self
            .exec
            .run(&["ip", "-j", "-d", "link", "show", "dev", name], None)
            .map_err(err)?;
        if !out.success() {
            if out.stderr.contains("does not exist") {
                return Ok(None);
            }
            return Err(err(format!(
                "looking at interface {name}: ip: {}",
                out.stderr.trim()
            )));
        }
        let json: Json = serde_json::from_str(&out.stdout)
            .map_err(|e| err(format!("reading `ip -j link` for {name}: {e}")))?;
        let Some(first) = json.as_array().and_then(|a| a.first()) else {
            return Ok(None);
        };
        Ok(Some(Link {
            alias: first["ifalias"].as_str().map(str::to_string),
            up: first["flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "UP")),
        }))
    }

    fn addresses(&self, name: &str) -> Result<Vec<(Ipv4Addr, u8)>, ProviderError> {
        let out = self
            .exec
            .check(&["ip", "-j", "-4", "addr", "show", "dev", name], None)
            .map_err(err)?;
        let json: Json = serde_json::from_str(&out)
            .map_err(|e| err(format!("reading `ip -j addr` for {name}: {e}")))?;
        let mut found = Vec::new();
        for iface in json.as_array().into_iter().flatten() {
            for a in iface["addr_info"].as_array().into_iter().flatten() {
                if let (Some(ip), Some(len)) = (a["local"].as_str(), a["prefixlen"].as_u64()) {
                    if let Ok(ip) = ip.parse() {
                        found.push((ip, len as u8));
                    }
                }
            }
        }
        Ok(found)
    }

    fn ip(&self, args: &[&str], doing: &str) -> Result<(), ProviderError> {
        let mut argv = vec!["ip"];
        argv.extend_from_slice(args);
        self.exec
            .check(&argv, None)
            .map(|_| ())
            .map_err(|e| err(format!("{doing}: {e}")))
    }

    /// Makes everything the spec asks for exist, whatever exists already.
    fn ensure(&self, spec: &Spec, tag: &str) -> Result<(), ProviderError> {
        let name = spec.name.as_str();
        let mut created = false;
        match self.link(name)? {
            Some(link) if link.alias.as_deref() == Some(tag) => {}
            Some(link) => {
                return Err(err(format!(
                    "an interface named {name} already exists and is not this bridge (its alias: {}); set name to another",
                    link.alias.as_deref().unwrap_or("none")
                )))
            }
            None => {
                self.ip(
                    &["link", "add", name, "type", "bridge"],
                    &format!("creating bridge {name}"),
                )?;
                // Tagged at once: a crash from here on leaves a bridge hive recognises.
                if let Err(e) = self.ip(
                    &["link", "set", "dev", name, "alias", tag],
                    &format!("tagging bridge {name}"),
                ) {
                    // An untagged bridge would block every later apply: take it back.
                    let _ = self.ip(&["link", "del", "dev", name], "removing it again");
                    return Err(e);
                }
                created = true;
            }
        }
        if let Some(mtu) = spec.mtu {
            self.ip(
                &["link", "set", "dev", name, "mtu", &mtu.to_string()],
                &format!("setting the mtu of {name}"),
            )?;
        }
        let cidr = format!("{}/{}", spec.gateway, spec.prefix);
        let addresses = self.addresses(name)?;
        for (ip, len) in &addresses {
            if (*ip, *len) != (spec.gateway, spec.prefix) {
                self.ip(
                    &["addr", "del", &format!("{ip}/{len}"), "dev", name],
                    &format!("removing address {ip}/{len} from {name}"),
                )?;
            }
        }
        if !addresses.contains(&(spec.gateway, spec.prefix)) {
            self.ip(
                &["addr", "add", &cidr, "dev", name],
                &format!("adding address {cidr} to {name}"),
            )?;
        }
        if let Some(uplink) = &spec.uplink {
            self.ip(
                &["link", "set", "dev", uplink, "master", name],
                &format!("enslaving uplink {uplink} to {name}"),
            )?;
            self.ip(
                &["link", "set", "dev", uplink, "up"],
                &format!("bringing uplink {uplink} up"),
            )?;
        }
        self.ip(
            &["link", "set", "dev", name, "up"],
            &format!("bringing {name} up"),
        )?;
        // A dnsmasq of a bridge that was deleted and made again is bound to a device that
        // no longer exists: start it afresh.
        self.ensure_dhcp(spec, created)?;
        self.ensure_nat(spec)
    }

    // Files and processes on the host, through `Exec` like every other command, so this
    // code can run against a remote host unchanged.

    fn read_file(&self, path: &Path) -> Option<String> {
        let path = path.to_string_lossy();
        let out = self.exec.run(&["cat", &path], None).ok()?;
        out.success().then_some(out.stdout)
    }

    fn write_file(&self, path: &Path, content: &str) -> Result<(), ProviderError> {
        let path = path.to_string_lossy();
        self.exec
            .check(&["sh", "-c", "cat > \"$1\"", "sh", &path], Some(content))
            .map(|_| ())
            .map_err(|e| err(format!("writing {path}: {e}")))
    }

    fn remove(&self, path: &Path) -> Result<(), ProviderError> {
        let path = path.to_string_lossy();
        self.exec
            .check(&["rm", "-rf", &path], None)
            .map(|_| ())
            .map_err(|e| err(format!("removing {path}: {e}")))
    }

    fn exists(&self, path: &Path) -> bool {
        let path = path.to_string_lossy();
        self.exec
            .run(&["test", "-e", &path], None)
            .is_ok_and(|o| o.success())
    }

    /// The pid of the dnsmasq hive started for this bridge, checked against the process's
    /// command line so a reused pid is never taken for it.
    fn dnsmasq_pid(&self, name: &str) -> Option<i32> {
        linux_bridge::dnsmasq_pid_read_with(name, |path| self.read_file(path))
    }

    fn leases(&self, name: &str) -> Value {
        let text = self
            .read_file(&linux_bridge::lease_file(name))
            .unwrap_or_default();
        Value::List(
            linux_bridge::parse_leases(&text)
                .into_iter()
                .map(|(mac, ip, host)| {
                    Value::map([
                        ("mac", Value::string(mac)),
                        ("ip", Value::string(ip)),
                        ("hostname", Value::string(host)),
                    ])
                })
                .collect(),
        )
    }

    fn stop_dnsmasq(&self, name: &str) -> Result<(), ProviderError> {
        if let Some(pid) = self.dnsmasq_pid(name) {
            let pid = pid.to_string();
            self.exec
                .check(&["kill", "-TERM", &pid], None)
                .map_err(|e| err(format!("stopping dnsmasq of {name}: {e}")))?;
            // It is gone when its /proc entry is, or shows a zombie (without systemd, nobody
            // may reap it soon): poll, briefly.
            let stat = format!("/proc/{pid}/stat");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while std::time::Instant::now() < deadline {
                let alive = self.read_file(Path::new(&stat)).is_some_and(|s| {
                    // "PID (COMM) STATE ...": the state follows the last ')'.
                    s.rsplit_once(')')
                        .and_then(|(_, rest)| rest.split_whitespace().next())
                        .is_some_and(|state| state != "Z")
                });
                if !alive {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        self.remove(&linux_bridge::pid_file(name))
    }

    fn ensure_dhcp(&self, spec: &Spec, restart: bool) -> Result<(), ProviderError> {
        let name = spec.name.as_str();
        let Some(dhcp) = &spec.dhcp else {
            // No DHCP: no dnsmasq, and none of its files (leases, reservations).
            self.stop_dnsmasq(name)?;
            return self.remove(&linux_bridge::dir(name));
        };
        let dir = linux_bridge::dir(name);
        let hosts = linux_bridge::reservations_dir(name);
        let hosts_text = hosts.to_string_lossy().into_owned();
        self.exec
            .check(&["mkdir", "-p", &hosts_text], None)
            .map_err(|e| err(format!("creating {hosts_text}: {e}")))?;
        // The configuration's reservations are files like any instance's, under their own
        // prefix: hive removes those the configuration no longer has, and never an instance's.
        let mut wanted = Vec::new();
        let mut changed = false;
        for (mac, ip, host) in &dhcp.reservations {
            let file = linux_bridge::reservation_file(name, linux_bridge::Owner::Bridge, mac);
            let line = match host {
                Some(h) => format!("{mac},{ip},{h}\n"),
                None => format!("{mac},{ip}\n"),
            };
            let before = self.read_file(&file);
            if before.as_deref() != Some(line.as_str()) {
                changed |= before.is_some();
                self.write_file(&file, &line)?;
            }
            wanted.push(file);
        }
        let ours = linux_bridge::reservation_file(name, linux_bridge::Owner::Bridge, "");
        let ours_prefix = ours
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let listing = self
            .exec
            .check(&["ls", "-1", &hosts_text], None)
            .map_err(|e| err(format!("listing {hosts_text}: {e}")))?;
        for file in listing.lines().filter(|f| f.starts_with(&ours_prefix)) {
            let path = hosts.join(file);
            if !wanted.contains(&path) {
                self.remove(&path)?;
                changed = true;
            }
        }
        let conf = format!(
            "# Written by hive for bridge {name}; hive owns this dnsmasq.\n\
             interface={name}\n\
             bind-interfaces\n\
             except-interface=lo\n\
             port=0\n\
             no-resolv\n\
             no-hosts\n\
             no-ping\n\
             dhcp-authoritative\n\
             dhcp-range={},{},{}\n\
             dhcp-option=option:router,{}\n\
             dhcp-leasefile={}\n\
             dhcp-hostsdir={}\n\
             pid-file={}\n\
             user=root\n",
            dhcp.start,
            dhcp.end,
            dhcp.lease_time,
            spec.gateway,
            linux_bridge::lease_file(name).display(),
            hosts.display(),
            linux_bridge::pid_file(name).display(),
        );
        let conf_path = dir.join("dnsmasq.conf");
        let current = self.read_file(&conf_path).unwrap_or_default();
        let running = self.dnsmasq_pid(name);
        if let (Some(pid), false, true) = (running, restart, current == conf) {
            if changed {
                // Changed or removed reservation files are read again on SIGHUP.
                self.exec
                    .check(&["kill", "-HUP", &pid.to_string()], None)
                    .map_err(|e| err(format!("reloading dnsmasq of {name}: {e}")))?;
            }
            return Ok(());
        }
        self.stop_dnsmasq(name)?;
        self.write_file(&conf_path, &conf)?;
        let conf_arg = format!("--conf-file={}", conf_path.display());
        self.exec
            .check(&["dnsmasq", &conf_arg], None)
            .map_err(|e| err(format!("starting dnsmasq for {name}: {e}")))?;
        Ok(())
    }

    fn nat_rules_present(&self, name: &str) -> Result<bool, ProviderError> {
        let table = table_name(name);
        let out = self
            .exec
            .run(&["nft", "-j", "list", "table", "ip", &table], None)
            .map_err(err)?;
        if !out.success() {
            if out.stderr.contains("No such file or directory") {
                return Ok(false);
            }
            return Err(err(format!(
                "looking at NAT table {table}: nft: {}",
                out.stderr.trim()
            )));
        }
        let json: Json = serde_json::from_str(&out.stdout)
            .map_err(|e| err(format!("reading `nft -j list table ip {table}`: {e}")))?;
        let rules = json["nftables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o.get("rule"))
            .collect::<Vec<_>>();
        Ok(rules
            .iter()
            .any(|r| r["expr"].to_string().contains("masquerade")))
    }

    /// The interface of the host's default route, which NAT masquerades out of.
    fn default_route_dev(&self) -> Result<Option<String>, ProviderError> {
        let out = self
            .exec
            .check(&["ip", "-j", "-4", "route", "show", "default"], None)
            .map_err(err)?;
        let json: Json =
            serde_json::from_str(&out).map_err(|e| err(format!("reading `ip -j route`: {e}")))?;
        Ok(json
            .as_array()
            .and_then(|a| a.first())
            .and_then(|r| r["dev"].as_str())
            .map(str::to_string))
    }

    fn ensure_nat(&self, spec: &Spec) -> Result<(), ProviderError> {
        let name = spec.name.as_str();
        let table = table_name(name);
        if !spec.nat {
            return self.remove_nat(name);
        }
        let (net, _) = bounds(spec.gateway, spec.prefix);
        let out_dev = match self.default_route_dev()? {
            Some(dev) => format!("oifname \"{dev}\""),
            None => format!("oifname != \"{name}\""),
        };
        // One transaction: the table is replaced whole, never half-written.
        let script = format!(
            "add table ip {table}\n\
             delete table ip {table}\n\
             table ip {table} {{\n\
             \tchain postrouting {{\n\
             \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
             \t\tip saddr {net}/{prefix} {out_dev} masquerade\n\
             \t}}\n\
             \tchain forward {{\n\
             \t\ttype filter hook forward priority filter; policy accept;\n\
             \t\tiifname \"{name}\" accept\n\
             \t\toifname \"{name}\" ct state established,related accept\n\
             \t}}\n\
             }}\n",
            prefix = spec.prefix
        );
        self.exec
            .check(&["nft", "-f", "-"], Some(&script))
            .map_err(|e| err(format!("writing NAT table {table}: {e}")))?;
        self.exec
            .check(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], None)
            .map_err(|e| err(format!("enabling IPv4 forwarding for NAT: {e}")))?;
        Ok(())
    }

    fn remove_nat(&self, name: &str) -> Result<(), ProviderError> {
        let table = table_name(name);
        let out = self
            .exec
            .run(&["nft", "delete", "table", "ip", &table], None)
            .map_err(err)?;
        if out.success() || out.stderr.contains("No such file") {
            Ok(())
        } else {
            Err(err(format!(
                "removing NAT table {table}: nft: {}",
                out.stderr.trim()
            )))
        }
    }

    fn state(&self, config: &Value, spec: &Spec) -> ApplyResponse {
        let mut state = config.as_map().cloned().unwrap_or_default();
        state.insert("id".into(), Value::string(&spec.name));
        state.insert("name".into(), Value::string(&spec.name));
        state.insert("gateway".into(), Value::string(spec.gateway.to_string()));
        state.insert("leases".into(), self.leases(&spec.name));
        ApplyResponse {
            state: Value::Map(state),
            id: spec.name.clone(),
        }
    }
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
        if let Some(address) = config.attr("host").and_then(|h| h.attr_str("address")) {
            problems.push(Problem::at(
                "host",
                format!(
                    "host: Linux bridges are made on the machine running hive for now; host {address} is remote"
                ),
            ));
        }
        if let Some(name) = config.attr_str("name") {
            if let Err(e) = check_name(name) {
                problems.push(Problem::at("name", e));
            }
        }
        let Some(cidr) = config.attr_str("cidr") else {
            return problems;
        };
        let (gateway, prefix) = match parse_cidr(cidr) {
            Ok(p) => p,
            Err(e) => {
                problems.push(Problem::at("cidr", e));
                return problems;
            }
        };
        let range_value = config.attr("dhcp").and_then(|d| d.attr("range"));
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

    fn check_environment(&self, target: &Target<'_>, config: &Value) -> Vec<Problem> {
        // Remote hosts are looked at when they are reached (a later provider version).
        if config
            .attr("host")
            .and_then(|h| h.attr("address"))
            .is_some()
        {
            return Vec::new();
        }
        if config.attr("name").is_some_and(Value::is_unknown) {
            return Vec::new();
        }
        let name = bridge_name(config, target.address);
        match self.link(&name) {
            Ok(Some(link))
                if !link
                    .alias
                    .as_deref()
                    .is_some_and(|a| a.starts_with("hive:")) =>
            {
                vec![Problem::at(
                    "name",
                    format!(
                        "name: {name} is already used by an interface hive does not own; set another"
                    ),
                )]
            }
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
        let spec = spec(request.config, request.target.address).map_err(err)?;
        self.ensure(&spec, &tag(&request.target))?;
        Ok(self.state(request.config, &spec))
    }

    fn update(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        // An uplink no longer configured is released before the rest is made right.
        let old = request.prior.and_then(|p| p.attr_str("uplink"));
        if let Some(old) = old.filter(|o| Some(*o) != request.config.attr_str("uplink")) {
            if self.link(old)?.is_some() {
                self.ip(
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
        let Some(link) = self.link(name)? else {
            // The bridge is gone; what hive ran for it may not be: repair (or destroy) takes
            // care of that, so only when nothing remains is the object gone.
            let remains = self.dnsmasq_pid(name).is_some()
                || self.exists(&linux_bridge::dir(name))
                || self.nat_rules_present(name)?;
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
        if !self.addresses(name)?.contains(&(spec.gateway, spec.prefix)) {
            problems.push(format!(
                "{name} lost its address {}/{}",
                spec.gateway, spec.prefix
            ));
        }
        if spec.dhcp.is_some() && self.dnsmasq_pid(name).is_none() {
            problems.push("its dnsmasq is not running".to_string());
        }
        if spec.nat && !self.nat_rules_present(name)? {
            problems.push(format!(
                "its NAT table {} is missing or empty",
                table_name(name)
            ));
        }
        let mut now = request.prior.as_map().cloned().unwrap_or_default();
        now.insert("leases".into(), self.leases(name));
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
        self.stop_dnsmasq(&name)?;
        self.remove_nat(&name)?;
        if let Some(link) = self.link(&name)? {
            if link.alias.as_deref() == Some(tag(&request.target).as_str()) {
                self.ip(
                    &["link", "del", "dev", &name],
                    &format!("deleting bridge {name}"),
                )?;
            }
        }
        self.remove(&linux_bridge::dir(&name))
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
