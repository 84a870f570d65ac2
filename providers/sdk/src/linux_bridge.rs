//! Where hive keeps what it runs for a Linux bridge it owns (dnsmasq's configuration, pid,
//! leases, and DHCP reservations), shared by the bridge provider and by providers whose
//! instances reserve a fixed address on such a bridge.

use std::path::PathBuf;

/// `HIVE_BRIDGE_DIR`, else `/var/lib/hive/bridges`.
pub fn root() -> PathBuf {
    std::env::var_os("HIVE_BRIDGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/hive/bridges"))
}

/// Everything of one bridge lives under one directory.
pub fn dir(bridge: &str) -> PathBuf {
    root().join(bridge)
}

/// dnsmasq watches this directory: a file per reservation (`MAC,IP[,NAME]`) takes effect
/// as soon as it is written; a removed one once dnsmasq is told (SIGHUP).
pub fn reservations_dir(bridge: &str) -> PathBuf {
    dir(bridge).join("hosts.d")
}

pub fn pid_file(bridge: &str) -> PathBuf {
    dir(bridge).join("dnsmasq.pid")
}

pub fn lease_file(bridge: &str) -> PathBuf {
    dir(bridge).join("dnsmasq.leases")
}

/// The file of one MAC's reservation.
pub fn reservation_file(bridge: &str, mac: &str) -> PathBuf {
    reservations_dir(bridge).join(mac.to_lowercase().replace(':', "-"))
}

/// Current leases from dnsmasq's lease file: (MAC, IP, hostname).
pub fn leases(bridge: &str) -> Vec<(String, String, String)> {
    let Ok(text) = std::fs::read_to_string(lease_file(bridge)) else {
        return Vec::new();
    };
    // "EXPIRY MAC IP HOSTNAME CLIENT-ID"
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let _expiry = f.next()?;
            let mac = f.next()?.to_string();
            let ip = f.next()?.to_string();
            let host = f.next().filter(|h| *h != "*").unwrap_or("").to_string();
            Some((mac, ip, host))
        })
        .collect()
}
