//! Bridges: the shape of a `bridge` block every driver shares, IPv4 subnet arithmetic (one
//! place for parsing `ADDRESS/PREFIX`, bounds, containment and overlap), and the checks
//! across the bridges of a configuration.

use crate::problem::Problem;
use crate::provider::Object;
use crate::schema::{
    block, computed, list, map, optional, optional_computed, required, schema, Nesting, Schema,
};
use crate::{Type, Value};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// What a `bridge` block holds for every driver; `dhcp` is the one block a driver may add
/// settings to.
pub fn bridge_schema() -> Schema {
    let reservation = Type::Object(BTreeMap::from([
        ("mac".to_string(), (Type::String, false)),
        ("ip".to_string(), (Type::String, false)),
        ("hostname".to_string(), (Type::String, true)),
    ]));
    schema(
        vec![
            optional("driver", Type::String)
                .replaces()
                .about("\"linux\" or \"libvirt\""),
            optional("host", Type::Any).refers_to("host").replaces(),
            optional_computed("name", Type::String).replaces(),
            required("cidr", Type::String)
                .replaces()
                .or_auto()
                .about("the gateway's address and prefix, or \"auto\": a free subnet of cidr_pool"),
            optional("cidr_pool", Type::String)
                .replaces()
                .about("where cidr = \"auto\" chooses from (default 10.160.0.0/16)"),
            optional("prefix_length", Type::Number)
                .replaces()
                .about("the size cidr = \"auto\" chooses (default 24)"),
            optional("mtu", Type::Number),
            optional("nat", Type::Bool),
            computed("id", Type::String),
            computed("gateway", Type::String),
            computed("leases", list(map(Type::String))),
        ],
        vec![block(
            "dhcp",
            Nesting::Single,
            schema(
                vec![
                    optional("range", list(Type::String))
                        .about("[first, last]; the upper half of the subnet when left out"),
                    optional("reservations", list(reservation)),
                ],
                vec![],
            ),
        )],
    )
}

/// Which machine a configured object is on: its host's address, or this one.
pub fn host_of(config: &Value) -> String {
    config
        .attr("host")
        .and_then(|h| h.attr_str("address"))
        .unwrap_or("local")
        .to_string()
}

/// Bridges on one host whose subnets overlap: each is reported at its `cidr`, naming the
/// first one it overlaps.
pub fn overlapping_subnets(objects: &[Object<'_>]) -> Vec<(usize, Problem)> {
    let mut seen: Vec<(usize, String, (Ipv4Addr, u8), &str)> = Vec::new();
    let mut problems = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        if object.kind != "bridge" {
            continue;
        }
        let Some(cidr) = object.config.attr_str("cidr") else {
            continue;
        };
        let Some(subnet) = split_cidr(cidr).filter(|s| s.1 <= 32) else {
            continue;
        };
        let host = host_of(object.config);
        if let Some((other, _, _, other_cidr)) = seen
            .iter()
            .find(|(_, h, s, _)| *h == host && overlap(*s, subnet))
        {
            problems.push((
                i,
                Problem::at(
                    "cidr",
                    format!(
                        "cidr {cidr} overlaps {}'s {other_cidr} on the same host",
                        objects[*other].address
                    ),
                )
                .help("give each bridge on a host its own subnet"),
            ));
        }
        seen.push((i, host, subnet, cidr));
    }
    problems
}

/// The DHCP range of a bridge with a `dhcp` block: the configured `[first, last]`, or the
/// upper half of the subnet (its broadcast address left out).
pub fn dhcp_range(config: &Value) -> Option<(String, String)> {
    let dhcp = config.attr("dhcp").filter(|d| !d.is_null())?;
    match dhcp.attr("range").and_then(Value::as_items) {
        Some([a, b]) => Some((a.as_str()?.to_string(), b.as_str()?.to_string())),
        Some(_) => None,
        None => {
            let (ip, prefix) = split_cidr(config.attr_str("cidr")?).filter(|s| s.1 <= 30)?;
            let (net, broadcast) = bounds(ip, prefix);
            let half = (u32::from(broadcast) - u32::from(net)).div_ceil(2);
            let first = Ipv4Addr::from(u32::from(net) + half.max(2));
            let last = Ipv4Addr::from(u32::from(broadcast) - 1);
            Some((first.to_string(), last.to_string()))
        }
    }
}

/// `10.77.0.1/24` → (10.77.0.1, 24), syntax only: callers judge the prefix.
pub fn split_cidr(cidr: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, prefix) = cidr.split_once('/')?;
    Some((ip.parse().ok()?, prefix.parse().ok()?))
}

fn mask(prefix: u8) -> u32 {
    match prefix.min(32) {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p)),
    }
}

/// The network and broadcast addresses of a subnet.
pub fn bounds(ip: Ipv4Addr, prefix: u8) -> (Ipv4Addr, Ipv4Addr) {
    let mask = mask(prefix);
    let net = u32::from(ip) & mask;
    (Ipv4Addr::from(net), Ipv4Addr::from(net | !mask))
}

/// Whether `ip` is in the subnet of `net`/`prefix`.
pub fn contains(net: Ipv4Addr, prefix: u8, ip: Ipv4Addr) -> bool {
    u32::from(net) & mask(prefix) == u32::from(ip) & mask(prefix)
}

/// Whether two subnets share an address.
pub fn overlap(a: (Ipv4Addr, u8), b: (Ipv4Addr, u8)) -> bool {
    let (a0, a1) = bounds(a.0, a.1);
    let (b0, b1) = bounds(b.0, b.1);
    a0 <= b1 && b0 <= a1
}

/// The netmask of a prefix: 24 → 255.255.255.0.
pub fn netmask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(mask(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("ip")
    }

    #[test]
    fn a_dhcp_block_without_a_range_gives_out_the_upper_half() {
        let bridge =
            |cidr: &str, dhcp: Value| Value::map([("cidr", Value::string(cidr)), ("dhcp", dhcp)]);
        let empty = Value::map([("reservations", Value::List(vec![]))]);
        assert_eq!(
            dhcp_range(&bridge("10.1.0.1/24", empty.clone())),
            Some(("10.1.0.128".into(), "10.1.0.254".into()))
        );
        assert_eq!(
            dhcp_range(&bridge("10.1.0.1/30", empty)),
            Some(("10.1.0.2".into(), "10.1.0.2".into()))
        );
        let given = Value::map([(
            "range",
            Value::List(vec![Value::string("10.1.0.10"), Value::string("10.1.0.20")]),
        )]);
        assert_eq!(
            dhcp_range(&bridge("10.1.0.1/24", given)),
            Some(("10.1.0.10".into(), "10.1.0.20".into()))
        );
        assert_eq!(dhcp_range(&bridge("10.1.0.1/24", Value::Null)), None);
    }

    #[test]
    fn subnets() {
        assert_eq!(split_cidr("10.1.0.1/24"), Some((ip("10.1.0.1"), 24)));
        assert_eq!(split_cidr("10.1.0.1"), None);
        assert_eq!(
            bounds(ip("10.1.0.77"), 24),
            (ip("10.1.0.0"), ip("10.1.0.255"))
        );
        assert!(contains(ip("10.1.0.1"), 24, ip("10.1.0.200")));
        assert!(!contains(ip("10.1.0.1"), 24, ip("10.1.1.1")));
        assert!(overlap((ip("10.1.0.1"), 24), (ip("10.1.0.129"), 25)));
        assert!(!overlap((ip("10.1.0.1"), 24), (ip("10.1.1.1"), 24)));
        assert_eq!(netmask(24), ip("255.255.255.0"));
        assert_eq!(netmask(0), ip("0.0.0.0"));
    }
}
