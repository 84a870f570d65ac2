//! The bridge's machinery on one host: links and addresses (`ip -j`), dnsmasq and its files,
//! the NAT table (`nft -j`), all through that host's [`Exec`] (this machine's, or a remote
//! host's over SSH), so the same code serves both.

use crate::{err, table_name, Spec};
use hive_sdk::exec::Exec;
use hive_sdk::linux_bridge;
use hive_sdk::net::bounds;
use hive_sdk::provider::{ApplyResponse, ProviderError};
use hive_sdk::Value;
use serde_json::Value as Json;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

/// One host's programs.
pub(crate) struct OnHost {
    pub(crate) exec: Arc<dyn Exec>,
}

/// What `ip -j link show` says of an interface.
#[derive(Debug, Default)]
pub(crate) struct Link {
    pub(crate) alias: Option<String>,
    pub(crate) up: bool,
}

impl OnHost {
    pub(crate) fn link(&self, name: &str) -> Result<Option<Link>, ProviderError> {
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

    pub(crate) fn addresses(&self, name: &str) -> Result<Vec<(Ipv4Addr, u8)>, ProviderError> {
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

    pub(crate) fn ip(&self, args: &[&str], doing: &str) -> Result<(), ProviderError> {
        let mut argv = vec!["ip"];
        argv.extend_from_slice(args);
        self.exec
            .check(&argv, None)
            .map(|_| ())
            .map_err(|e| err(format!("{doing}: {e}")))
    }

    /// Makes everything the spec asks for exist, whatever exists already.
    pub(crate) fn ensure(&self, spec: &Spec, tag: &str) -> Result<(), ProviderError> {
        let name = spec.name.as_str();
        let mut created = false;
        match self.link(name)? {
            Some(link) if link.alias.as_deref() == Some(tag) => {}
            Some(link) => {
                let ours = crate::owner_of(tag).map(|(lineage, _)| lineage);
                let whose = match link.alias.as_deref().and_then(crate::owner_of) {
                    Some((lineage, address)) if Some(lineage) == ours => {
                        format!("hive made it for {address} of this same state")
                    }
                    Some((lineage, address)) => {
                        format!("hive made it for {address} of another state (lineage {lineage})")
                    }
                    None => "hive did not make it".to_string(),
                };
                return Err(err(format!(
                    "an interface named {name} already exists and is not this bridge: {whose}; set name to another"
                )));
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
        if !spec.addressed {
            return self.ip(
                &["link", "set", "dev", name, "up"],
                &format!("bringing {name} up"),
            );
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

    pub(crate) fn read_file(&self, path: &Path) -> Option<String> {
        let path = path.to_string_lossy();
        let out = self.exec.run(&["cat", &path], None).ok()?;
        out.success().then_some(out.stdout)
    }

    pub(crate) fn write_file(&self, path: &Path, content: &str) -> Result<(), ProviderError> {
        let path = path.to_string_lossy();
        self.exec
            .check(&["sh", "-c", "cat > \"$1\"", "sh", &path], Some(content))
            .map(|_| ())
            .map_err(|e| err(format!("writing {path}: {e}")))
    }

    pub(crate) fn remove(&self, path: &Path) -> Result<(), ProviderError> {
        let path = path.to_string_lossy();
        self.exec
            .check(&["rm", "-rf", &path], None)
            .map(|_| ())
            .map_err(|e| err(format!("removing {path}: {e}")))
    }

    pub(crate) fn exists(&self, path: &Path) -> bool {
        let path = path.to_string_lossy();
        self.exec
            .run(&["test", "-e", &path], None)
            .is_ok_and(|o| o.success())
    }

    /// The pid of the dnsmasq hive started for this bridge, checked against the process's
    /// command line so a reused pid is never taken for it.
    pub(crate) fn dnsmasq_pid(&self, name: &str) -> Option<i32> {
        linux_bridge::dnsmasq_pid_read_with(name, |path| self.read_file(path))
    }

    pub(crate) fn leases(&self, name: &str) -> Value {
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

    pub(crate) fn stop_dnsmasq(&self, name: &str) -> Result<(), ProviderError> {
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

    pub(crate) fn ensure_dhcp(&self, spec: &Spec, restart: bool) -> Result<(), ProviderError> {
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

    pub(crate) fn nat_rules_present(&self, name: &str) -> Result<bool, ProviderError> {
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
    pub(crate) fn default_route_dev(&self) -> Result<Option<String>, ProviderError> {
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

    pub(crate) fn ensure_nat(&self, spec: &Spec) -> Result<(), ProviderError> {
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

    pub(crate) fn remove_nat(&self, name: &str) -> Result<(), ProviderError> {
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

    pub(crate) fn state(&self, config: &Value, spec: &Spec) -> ApplyResponse {
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
