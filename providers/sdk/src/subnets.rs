//! Subnets hive chooses for bridges with `cidr = "auto"`: the first of the pool that no
//! interface address, route or other claim on the host overlaps. A choice is claimed on the
//! host as a directory named after the subnet, made by `mkdir`, which only one of two
//! concurrent applies can make: the other moves on to the next subnet. The claim names its
//! owner (the state's lineage and the bridge's address), so a retried create finds its own
//! choice again, and a delete releases only its own.

use crate::exec::Exec;
use crate::net::{overlap, split_cidr};
use crate::problem::Problem;
use crate::tag::Tag;
use crate::Value;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// What `cidr` says when hive is to choose.
pub const AUTO: &str = "auto";
/// Where subnets are chosen from unless `cidr_pool` says otherwise: a private /16 that
/// other tools leave alone by default.
pub const DEFAULT_POOL: &str = "10.160.0.0/16";
pub const DEFAULT_PREFIX: u8 = 24;

/// `HIVE_SUBNET_DIR`, else `/var/lib/hive/subnets`, on the bridge's host.
pub fn claims_dir() -> PathBuf {
    std::env::var_os("HIVE_SUBNET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/hive/subnets"))
}

pub fn is_auto(config: &Value) -> bool {
    config.attr_str("cidr") == Some(AUTO)
}

/// The pool and the size of the subnet to choose.
fn wanted(config: &Value) -> Result<((Ipv4Addr, u8), u8), String> {
    let pool_text = config.attr_str("cidr_pool").unwrap_or(DEFAULT_POOL);
    let pool = split_cidr(pool_text)
        .filter(|(_, p)| *p <= 30)
        .ok_or_else(|| {
            format!("cidr_pool = \"{pool_text}\" is not an IPv4 subnet (for example \"{DEFAULT_POOL}\")")
        })?;
    let prefix = match config.attr("prefix_length").and_then(Value::as_number) {
        None => DEFAULT_PREFIX.max(pool.1),
        Some(n) if n.fract() == 0.0 && n >= f64::from(pool.1) && n <= 30.0 => n as u8,
        Some(n) => {
            return Err(format!(
                "prefix_length = {n}: a subnet of {pool_text} takes a whole number from {} to 30",
                pool.1
            ))
        }
    };
    Ok((pool, prefix))
}

/// Problems with the settings of an `auto` subnet, at their attributes.
pub fn validate(config: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    if config.attr("cidr_pool").is_some_and(Value::is_wholly_known)
        || config
            .attr("prefix_length")
            .is_some_and(Value::is_wholly_known)
    {
        if let Err(e) = wanted(config) {
            let at = if e.starts_with("cidr_pool") {
                "cidr_pool"
            } else {
                "prefix_length"
            };
            problems.push(Problem::at(at, e));
        }
    }
    problems
}

/// The configuration with `cidr = "auto"` replaced by the subnet chosen on the host that
/// `exec` runs on (its gateway, the first address: `10.160.3.1/24`), claimed for `owner`;
/// the configuration as it is otherwise.
pub fn resolve(config: &Value, exec: &dyn Exec, tag: &Tag) -> Result<Value, String> {
    if !is_auto(config) {
        return Ok(config.clone());
    }
    let dir = claims_dir();
    let owner = owner_of(tag);
    let chosen = choose(exec, &dir, config, &owner)?;
    // Beside the owner, the claim carries the whole tag, for `hive scan`.
    if let Some((net, prefix)) = split_cidr(&chosen) {
        let (net, _) = crate::net::bounds(net, prefix);
        let path = dir.join(claim_name(net, prefix)).join("tag");
        exec.check(
            &["sh", "-c", r#"cat > "$1""#, "sh", &path.to_string_lossy()],
            Some(&tag.to_json()),
        )?;
    }
    let mut resolved = config.as_map().cloned().unwrap_or_default();
    resolved.insert("cidr".into(), Value::String(chosen));
    Ok(Value::Map(resolved))
}

/// `10.160.3.0/24` as a claim's directory name.
fn claim_name(net: Ipv4Addr, prefix: u8) -> String {
    format!("{net}_{prefix}")
}

fn parse_claim_name(name: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, prefix) = name.split_once('_')?;
    Some((ip.parse().ok()?, prefix.parse().ok()?))
}

/// A subnet: its network (or any address in it) and prefix length.
type Subnet = (Ipv4Addr, u8);

/// The claims on the host: (subnet, owner).
fn claims(exec: &dyn Exec, dir: &Path) -> Result<Vec<(Subnet, String)>, String> {
    let script = r#"cd "$1" 2>/dev/null || exit 0
for d in *; do [ -d "$d" ] && printf '%s %s\n' "$d" "$(cat "$d/owner" 2>/dev/null)"; done; true"#;
    let listed = exec.check(&["sh", "-c", script, "sh", &dir.to_string_lossy()], None)?;
    Ok(listed
        .lines()
        .filter_map(|line| {
            let (name, owner) = line.split_once(' ').unwrap_or((line, ""));
            Some((parse_claim_name(name)?, owner.trim().to_string()))
        })
        .collect())
}

/// Subnets of the host's interface addresses and routes.
fn in_use(exec: &dyn Exec) -> Result<Vec<(Ipv4Addr, u8)>, String> {
    let mut used = Vec::new();
    let addresses = exec.check(&["ip", "-j", "-4", "addr", "show"], None)?;
    let addresses: serde_json::Value = serde_json::from_str(&addresses)
        .map_err(|e| format!("reading `ip -j -4 addr show`: {e}"))?;
    for link in addresses.as_array().into_iter().flatten() {
        for a in link["addr_info"].as_array().into_iter().flatten() {
            if let (Some(ip), Some(prefix)) = (a["local"].as_str(), a["prefixlen"].as_u64()) {
                if let Ok(ip) = ip.parse() {
                    used.push((ip, prefix.min(32) as u8));
                }
            }
        }
    }
    let routes = exec.check(&["ip", "-j", "-4", "route", "show", "table", "all"], None)?;
    let routes: serde_json::Value = serde_json::from_str(&routes)
        .map_err(|e| format!("reading `ip -j -4 route show table all`: {e}"))?;
    for route in routes.as_array().into_iter().flatten() {
        let Some(dst) = route["dst"].as_str().filter(|d| *d != "default") else {
            continue;
        };
        let subnet = match split_cidr(dst) {
            Some(s) => Some(s),
            None => dst.parse().ok().map(|ip| (ip, 32)),
        };
        // The loopback range is no bridge's business.
        if let Some(s) = subnet.filter(|s| !s.0.is_loopback()) {
            used.push(s);
        }
    }
    Ok(used)
}

fn choose(exec: &dyn Exec, dir: &Path, config: &Value, owner: &str) -> Result<String, String> {
    let (pool, prefix) = wanted(config)?;
    let gateway = |net: Ipv4Addr| format!("{}/{prefix}", Ipv4Addr::from(u32::from(net) + 1));
    let claimed = claims(exec, dir)?;
    // A create tried again after it was cut short keeps what it chose then.
    if let Some(((net, p), _)) = claimed.iter().find(|(_, o)| o == owner) {
        return Ok(format!("{}/{p}", Ipv4Addr::from(u32::from(*net) + 1)));
    }
    let mut used = in_use(exec)?;
    used.extend(claimed.iter().map(|(s, _)| *s));
    let size = 1u64 << (32 - u32::from(prefix));
    let (first, last) = crate::net::bounds(pool.0, pool.1);
    let mut net = u64::from(u32::from(first));
    while net + size - 1 <= u64::from(u32::from(last)) {
        let candidate = Ipv4Addr::from(net as u32);
        net += size;
        if used.iter().any(|u| overlap(*u, (candidate, prefix))) {
            continue;
        }
        let script = r#"mkdir -p "$1" && mkdir "$1/$2" 2>/dev/null || exit 3
cat > "$1/$2/owner""#;
        let name = claim_name(candidate, prefix);
        let made = exec.run(
            &["sh", "-c", script, "sh", &dir.to_string_lossy(), &name],
            Some(owner),
        )?;
        match made.status {
            0 => return Ok(gateway(candidate)),
            // Another apply claimed it first.
            3 => continue,
            code => {
                return Err(format!(
                    "claiming {candidate}/{prefix} in {}: exit {code}: {}",
                    dir.display(),
                    made.stderr.trim()
                ))
            }
        }
    }
    Err(format!(
        "no free /{prefix} is left in {}/{}: every one overlaps an address, a route or a subnet another bridge holds (set cidr_pool to another range)",
        pool.0, pool.1
    ))
}

/// Releases the claim of the subnet of `cidr` if `owner` holds it.
pub fn release(exec: &dyn Exec, cidr: &str, owner: &str) -> Result<(), String> {
    release_in(exec, &claims_dir(), cidr, owner)
}

fn release_in(exec: &dyn Exec, dir: &Path, cidr: &str, owner: &str) -> Result<(), String> {
    let Some((ip, prefix)) = split_cidr(cidr) else {
        return Ok(());
    };
    let (net, _) = crate::net::bounds(ip, prefix);
    let held = claims(exec, dir)?
        .into_iter()
        .any(|(s, o)| s == (net, prefix) && o == owner);
    if !held {
        return Ok(());
    }
    let path = dir.join(claim_name(net, prefix));
    exec.check(&["rm", "-rf", "--", &path.to_string_lossy()], None)
        .map(drop)
}

/// Who owns a claim: the state and the bridge.
pub fn owner(lineage: &str, address: &crate::addr::InstanceAddr) -> String {
    format!("{lineage} {address}")
}

fn owner_of(tag: &Tag) -> String {
    format!("{} {}", tag.lineage, tag.address)
}

/// A claim on a host, for `hive scan`.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// `10.160.3.0/24`.
    pub subnet: String,
    /// Its directory's name.
    pub name: String,
    /// What it carries: the tag, or (claims made before tags) the lineage and address.
    pub tag: Tag,
}

/// Every claim on the host `exec` runs on.
pub fn scan(exec: &dyn Exec) -> Result<Vec<Claim>, String> {
    scan_in(exec, &claims_dir())
}

fn scan_in(exec: &dyn Exec, dir: &Path) -> Result<Vec<Claim>, String> {
    let script = r#"cd "$1" 2>/dev/null || exit 0
for d in *; do [ -d "$d" ] && printf '%s\t%s\t%s\n' "$d" "$(head -n1 "$d/owner" 2>/dev/null)" "$(cat "$d/tag" 2>/dev/null)"; done; true"#;
    let listed = exec.check(&["sh", "-c", script, "sh", &dir.to_string_lossy()], None)?;
    Ok(listed
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let name = fields.next()?.to_string();
            let owner = fields.next().unwrap_or_default();
            let (net, prefix) = parse_claim_name(&name)?;
            let tag = Tag::from_json(fields.next().unwrap_or_default()).or_else(|| {
                let (lineage, address) = owner.split_once(' ')?;
                Some(Tag {
                    lineage: lineage.into(),
                    state: String::new(),
                    address: address.into(),
                    expires: None,
                })
            })?;
            Some(Claim {
                subnet: format!("{net}/{prefix}"),
                name,
                tag,
            })
        })
        .collect())
}

/// Moves the claim of `cidr` that `old` holds to `new` (another address or state), or
/// releases it (`None`: the bridge is no longer hive's).
pub fn retag(exec: &dyn Exec, cidr: &str, old: &Tag, new: Option<&Tag>) -> Result<(), String> {
    let Some(new) = new else {
        return release(exec, cidr, &owner_of(old));
    };
    let Some((ip, prefix)) = split_cidr(cidr) else {
        return Ok(());
    };
    let (net, _) = crate::net::bounds(ip, prefix);
    let dir = claims_dir();
    let held = claims(exec, &dir)?
        .into_iter()
        .any(|(s, o)| s == (net, prefix) && o == owner_of(old));
    if !held {
        return Ok(());
    }
    let path = dir.join(claim_name(net, prefix));
    let script = r#"printf '%s' "$2" > "$1/owner" && cat > "$1/tag""#;
    exec.check(
        &[
            "sh",
            "-c",
            script,
            "sh",
            &path.to_string_lossy(),
            &owner_of(new),
        ],
        Some(&new.to_json()),
    )
    .map(drop)
}

/// Removes a claim a scan found, if it still carries the owner of `tag`.
pub fn reap(exec: &dyn Exec, subnet: &str, tag: &Tag) -> Result<(), String> {
    release(exec, subnet, &owner_of(tag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::LocalExec;

    fn config(pool: Option<&str>, prefix: Option<f64>) -> Value {
        let mut m = vec![("cidr", Value::string(AUTO))];
        if let Some(p) = pool {
            m.push(("cidr_pool", Value::string(p)));
        }
        if let Some(p) = prefix {
            m.push(("prefix_length", Value::Number(p)));
        }
        Value::map(m)
    }

    #[test]
    fn pools_and_prefixes_are_checked_at_their_attributes() {
        assert!(validate(&config(None, None)).is_empty());
        let bad = validate(&config(Some("10.1.0.0"), None));
        assert_eq!(bad[0].path_text(), "cidr_pool");
        let bad = validate(&config(Some("10.1.0.0/16"), Some(12.0)));
        assert_eq!(bad[0].path_text(), "prefix_length");
        assert!(bad[0].message.contains("16 to 30"), "{}", bad[0].message);
    }

    /// Choosing on this machine with claims in a directory of the test's: subnets this
    /// machine's addresses or routes use are never chosen, two owners get two subnets, the
    /// same owner the same one again, a full pool says so, and a released subnet is free
    /// again.
    #[test]
    fn choices_avoid_what_is_in_use_and_each_other() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dir = dir.path();
        let wanted = config(Some("10.160.0.0/22"), Some(24.0));
        let exec = LocalExec;
        let used = in_use(&exec).expect("ip runs");
        let free: Vec<String> = (0..4)
            .map(|i| Ipv4Addr::new(10, 160, i, 0))
            .filter(|net| !used.iter().any(|u| overlap(*u, (*net, 24))))
            .map(|net| format!("{}/24", Ipv4Addr::from(u32::from(net) + 1)))
            .collect();
        let mut chosen = Vec::new();
        for owner in ["l1 bridge.a", "l2 bridge.a", "l3 bridge.a", "l4 bridge.a"] {
            match choose(&exec, dir, &wanted, owner) {
                Ok(c) => chosen.push(c),
                Err(e) => assert!(e.contains("no free /24 is left in 10.160.0.0/22"), "{e}"),
            }
        }
        assert_eq!(chosen, free, "in order, each once, none in use");
        let Some(first) = chosen.first() else {
            return;
        };
        assert_eq!(
            &choose(&exec, dir, &wanted, "l1 bridge.a").expect("again"),
            first
        );
        let full = choose(&exec, dir, &wanted, "l5 bridge.a");
        assert!(full.is_err_and(|e| e.contains("no free /24")));
        release_in(&exec, dir, first, "someone else").expect("release");
        assert_eq!(claims(&exec, dir).expect("claims").len(), chosen.len());
        let scanned = scan_in(&exec, dir).expect("scan");
        assert_eq!(scanned.len(), chosen.len());
        assert!(scanned
            .iter()
            .all(|c| c.tag.address == "bridge.a" && c.tag.lineage.starts_with('l')));
        release_in(&exec, dir, first, "l1 bridge.a").expect("release");
        assert_eq!(
            &choose(&exec, dir, &wanted, "l5 bridge.a").expect("free again"),
            first
        );
    }
}
