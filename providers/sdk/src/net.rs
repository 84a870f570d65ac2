//! IPv4 subnet arithmetic shared by the providers and the engine's checks: one place for
//! parsing `ADDRESS/PREFIX`, bounds, containment and overlap.

use std::net::Ipv4Addr;

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
