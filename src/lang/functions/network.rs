//! IP network functions: `cidrhost`, `cidrsubnet`, `cidrsubnets`, `cidrnetmask` (IPv4 and
//! IPv6).

use super::{big_integer_arg, fail, integer_arg, string_arg, FnContext, FnError};
use hive_sdk::Value;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A parsed CIDR prefix: the network address (host bits cleared) as a number of `bits` bits.
struct Prefix {
    network: u128,
    len: u32,
    bits: u32,
}

impl Prefix {
    fn parse(fname: &str, text: &str) -> Result<Prefix, FnError> {
        let bad = |why: String| {
            fail(
                Some(0),
                format!("{fname}: invalid CIDR {}: {why}", quote(text)),
            )
        };
        let Some((addr, len)) = text.split_once('/') else {
            return Err(bad(
                "expected an address and a prefix length, like \"10.0.0.0/16\"".to_string(),
            ));
        };
        let (address, bits) = match addr.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => (u128::from(u32::from(a)), 32),
            Ok(IpAddr::V6(a)) => (u128::from(a), 128),
            Err(_) => return Err(bad("the address is not an IPv4 or IPv6 address".to_string())),
        };
        let len = Some(len)
            .filter(|l| !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|l| l.parse::<u32>().ok())
            .filter(|l| *l <= bits)
            .ok_or_else(|| bad(format!("prefix length must be 0..={bits}")))?;
        let network = address & !host_mask(bits - len) & full_mask(bits);
        Ok(Prefix { network, len, bits })
    }

    fn host_bits(&self) -> u32 {
        self.bits - self.len
    }

    fn address(&self, value: u128) -> String {
        if self.bits == 32 {
            Ipv4Addr::from(u32::try_from(value & full_mask(32)).unwrap_or(0)).to_string()
        } else {
            Ipv6Addr::from(value).to_string()
        }
    }
}

/// The lowest `n` bits set.
fn host_mask(n: u32) -> u128 {
    if n >= 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    }
}

fn full_mask(bits: u32) -> u128 {
    host_mask(bits)
}

fn quote(text: &str) -> String {
    Value::string(text).to_string()
}

/// `cidrhost(prefix, hostnum)`: the address numbered `hostnum` in the prefix; a negative number
/// counts back from the end (-1 is the last address).
pub(super) fn cidrhost(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("cidrhost", &args, 0)?;
    let prefix = Prefix::parse("cidrhost", &text)?;
    let hostnum = big_integer_arg("cidrhost", &args, 1)?;
    let host_bits = prefix.host_bits();
    let magnitude = hostnum.unsigned_abs();
    // Host numbers run from 0 to 2^host_bits - 1; negative ones from -2^host_bits to -1.
    let fits = if host_bits >= 128 {
        true
    } else if hostnum >= 0 {
        magnitude < (1u128 << host_bits)
    } else {
        magnitude <= (1u128 << host_bits)
    };
    if !fits {
        return Err(fail(
            Some(1),
            format!(
                "cidrhost: host number {hostnum} does not fit in {} ({host_bits} host bits)",
                quote(&text)
            ),
        ));
    }
    let host = if hostnum >= 0 {
        magnitude
    } else {
        // 2^host_bits - magnitude, computed without overflowing when host_bits is 128.
        host_mask(host_bits).wrapping_sub(magnitude).wrapping_add(1)
    };
    Ok(Value::String(
        prefix.address(prefix.network | (host & host_mask(host_bits))),
    ))
}

/// `cidrsubnet(prefix, newbits, netnum)`: subnet number `netnum` of the prefix extended by
/// `newbits` bits.
pub(super) fn cidrsubnet(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("cidrsubnet", &args, 0)?;
    let prefix = Prefix::parse("cidrsubnet", &text)?;
    let newbits = integer_arg("cidrsubnet", &args, 1)?;
    let netnum = big_integer_arg("cidrsubnet", &args, 2)?;
    let new_len = u32::try_from(newbits)
        .ok()
        .and_then(|b| b.checked_add(prefix.len))
        .filter(|l| *l <= prefix.bits);
    let Some(new_len) = new_len else {
        return Err(fail(
            Some(1),
            if newbits < 0 {
                format!("cidrsubnet: argument 2 must not be negative, got {newbits}")
            } else {
                format!(
                    "cidrsubnet: adding {newbits} bits to {} would make a prefix longer than {}",
                    quote(&text),
                    prefix.bits
                )
            },
        ));
    };
    let newbits = new_len - prefix.len;
    let fits = netnum >= 0 && (newbits >= 128 || netnum.unsigned_abs() < (1u128 << newbits));
    if !fits {
        return Err(fail(
            Some(2),
            format!(
                "cidrsubnet: network number {netnum} does not fit in {newbits} new bits (0..={})",
                host_mask(newbits)
            ),
        ));
    }
    let shift = prefix.bits - new_len;
    let subnet = netnum.unsigned_abs().checked_shl(shift).unwrap_or(0);
    Ok(Value::String(format!(
        "{}/{new_len}",
        prefix.address(prefix.network | subnet)
    )))
}

/// `cidrsubnets(prefix, newbits...)`: consecutive subnets of the prefix, each `newbits`
/// longer than it, each the first that starts after the one before and is aligned to its
/// own length (as Terraform allocates them).
pub(super) fn cidrsubnets(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("cidrsubnets", &args, 0)?;
    let prefix = Prefix::parse("cidrsubnets", &text)?;
    let mask_of = |len: u32| full_mask(prefix.bits) & !host_mask(prefix.bits - len);
    let end = prefix.network | host_mask(prefix.host_bits());
    let mut out = Vec::new();
    // The first subnet starts at the prefix; "the last address so far" is the one before.
    let mut last: Option<u128> = None;
    for i in 1..args.len() {
        let newbits = integer_arg("cidrsubnets", &args, i)?;
        let len = u32::try_from(newbits)
            .ok()
            .and_then(|b| b.checked_add(prefix.len))
            .filter(|l| *l <= prefix.bits && newbits >= 1)
            .ok_or_else(|| {
                fail(
                    Some(i),
                    format!(
                        "cidrsubnets: argument {} must be between 1 and {}, got {newbits}",
                        i + 1,
                        prefix.host_bits()
                    ),
                )
            })?;
        let size = host_mask(prefix.bits - len);
        let start = match last {
            None => prefix.network,
            // The subnet of this length holding the last address, then the one after it.
            Some(l) => (l & mask_of(len)).saturating_add(size + 1),
        };
        let stop = start.checked_add(size);
        match stop {
            Some(stop) if stop <= end && start >= prefix.network => {
                out.push(Value::String(format!("{}/{len}", prefix.address(start))));
                last = Some(stop);
            }
            _ => {
                return Err(fail(
                    Some(i),
                    format!(
                        "cidrsubnets: not enough remaining address space for a subnet with a prefix of {len} bits after {}",
                        out.last().map_or_else(|| text.clone(), |v: &Value| v.to_string().trim_matches('"').to_string())
                    ),
                ))
            }
        }
    }
    Ok(Value::List(out))
}

/// `cidrnetmask(prefix)`: the IPv4 netmask of a prefix in dotted form.
pub(super) fn cidrnetmask(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("cidrnetmask", &args, 0)?;
    let prefix = Prefix::parse("cidrnetmask", &text)?;
    if prefix.bits != 32 {
        return Err(fail(
            Some(0),
            format!(
                "cidrnetmask: {} is an IPv6 prefix; only IPv4 has netmasks",
                quote(&text)
            ),
        ));
    }
    let mask = full_mask(32) & !host_mask(prefix.host_bits());
    Ok(Value::String(prefix.address(mask)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn host(prefix: &str, num: f64) -> Result<Value, FnError> {
        call_fn("cidrhost", vec![s(prefix), n(num)])
    }

    fn subnet(prefix: &str, newbits: f64, num: f64) -> Result<Value, FnError> {
        call_fn("cidrsubnet", vec![s(prefix), n(newbits), n(num)])
    }

    #[test]
    fn cidrhost_v4_and_v6() {
        assert_eq!(host("10.12.112.0/20", 16.0), Ok(s("10.12.112.16")));
        assert_eq!(host("10.12.112.0/20", 268.0), Ok(s("10.12.113.12")));
        assert_eq!(host("10.0.0.0/24", -1.0), Ok(s("10.0.0.255")));
        assert_eq!(host("10.0.0.0/24", -256.0), Ok(s("10.0.0.0")));
        assert_eq!(host("10.0.0.5/24", 1.0), Ok(s("10.0.0.1")));
        assert_eq!(host("10.0.0.7/32", 0.0), Ok(s("10.0.0.7")));
        assert_eq!(host("0.0.0.0/0", -1.0), Ok(s("255.255.255.255")));
        assert_eq!(
            host("fd00:fd12:3456:7890:00a2::/72", 34.0),
            Ok(s("fd00:fd12:3456:7890::22"))
        );
        assert_eq!(
            host("::/0", -1.0),
            Ok(s("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
        );
        assert_eq!(
            host("2001:db8::/64", 1e19),
            Ok(s("2001:db8::8ac7:2304:89e8:0"))
        );
        assert!(host("2001:db8::/64", 1e20).is_err());
    }

    #[test]
    fn cidrhost_errors() {
        assert_eq!(
            host("10.0.0.0/24", 256.0),
            Err(fail(
                Some(1),
                "cidrhost: host number 256 does not fit in \"10.0.0.0/24\" (8 host bits)"
            ))
        );
        assert!(host("10.0.0.0/24", -257.0).is_err());
        assert!(host("10.0.0.0/32", 1.0).is_err());
        assert!(host("10.0.0.0/24", 1.5).is_err());
        assert!(host("::/0", 1e300).is_err());
        assert_eq!(
            host("10.0.0.0/33", 1.0),
            Err(fail(
                Some(0),
                "cidrhost: invalid CIDR \"10.0.0.0/33\": prefix length must be 0..=32"
            ))
        );
        assert_eq!(
            host("::/129", 1.0).unwrap_err().message,
            "cidrhost: invalid CIDR \"::/129\": prefix length must be 0..=128"
        );
        assert_eq!(
            host("10.0.0.0", 1.0).unwrap_err().message,
            "cidrhost: invalid CIDR \"10.0.0.0\": expected an address and a prefix length, like \"10.0.0.0/16\""
        );
        assert_eq!(
            host("10.0.0.256/8", 1.0).unwrap_err().message,
            "cidrhost: invalid CIDR \"10.0.0.256/8\": the address is not an IPv4 or IPv6 address"
        );
        for bad in [
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "/8",
            "10.0.0.0/ 8",
            "10.0.0.0/99999999999999999999",
        ] {
            assert!(host(bad, 0.0).is_err(), "{bad}");
        }
        assert_eq!(
            call_fn("cidrhost", vec![n(1.0), n(1.0)]).unwrap_err().message,
            "cidrhost: invalid CIDR \"1\": expected an address and a prefix length, like \"10.0.0.0/16\""
        );
        assert!(call_fn("cidrhost", vec![list(vec![]), n(1.0)]).is_err());
    }

    #[test]
    fn cidrsubnet_v4_and_v6() {
        assert_eq!(subnet("172.16.0.0/12", 4.0, 2.0), Ok(s("172.18.0.0/16")));
        assert_eq!(subnet("10.1.2.0/24", 4.0, 15.0), Ok(s("10.1.2.240/28")));
        assert_eq!(subnet("10.1.2.0/24", 0.0, 0.0), Ok(s("10.1.2.0/24")));
        assert_eq!(subnet("0.0.0.0/0", 0.0, 0.0), Ok(s("0.0.0.0/0")));
        assert_eq!(subnet("0.0.0.0/0", 32.0, 1.0), Ok(s("0.0.0.1/32")));
        assert_eq!(
            subnet("fd00:fd12:3456:7890::/56", 16.0, 162.0),
            Ok(s("fd00:fd12:3456:7800:a200::/72"))
        );
        assert_eq!(subnet("::/0", 0.0, 0.0), Ok(s("::/0")));
        assert_eq!(subnet("::/0", 128.0, 5.0), Ok(s("::5/128")));
    }

    #[test]
    fn cidrsubnet_errors() {
        assert_eq!(
            subnet("10.0.0.0/24", 9.0, 0.0),
            Err(fail(
                Some(1),
                "cidrsubnet: adding 9 bits to \"10.0.0.0/24\" would make a prefix longer than 32"
            ))
        );
        assert_eq!(
            subnet("10.0.0.0/24", 2.0, 4.0),
            Err(fail(
                Some(2),
                "cidrsubnet: network number 4 does not fit in 2 new bits (0..=3)"
            ))
        );
        assert!(subnet("10.0.0.0/24", 2.0, -1.0).is_err());
        assert!(subnet("10.0.0.0/24", -1.0, 0.0).is_err());
        assert!(subnet("10.0.0.0/24", 1e18, 0.0).is_err());
        assert!(subnet("::/0", 129.0, 0.0).is_err());
        assert!(subnet("10.0.0.0/24", 0.0, 1.0).is_err());
        assert!(subnet("::/0", 128.0, 1e300).is_err());
        assert!(subnet("nope/8", 1.0, 0.0).is_err());
        assert!(subnet("10.0.0.0/8", 1.5, 0.0).is_err());
    }

    #[test]
    fn cidrnetmask_ipv4_only() {
        let mask = |p: &str| call_fn("cidrnetmask", vec![s(p)]);
        assert_eq!(mask("172.16.0.0/12"), Ok(s("255.240.0.0")));
        assert_eq!(mask("10.0.0.0/0"), Ok(s("0.0.0.0")));
        assert_eq!(mask("10.0.0.1/32"), Ok(s("255.255.255.255")));
        assert_eq!(
            mask("fd00::/8"),
            Err(fail(
                Some(0),
                "cidrnetmask: \"fd00::/8\" is an IPv6 prefix; only IPv4 has netmasks"
            ))
        );
        assert!(mask("10.0.0.0/40").is_err());
    }
}
