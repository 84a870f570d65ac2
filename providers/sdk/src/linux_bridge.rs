//! Where hive keeps what it runs for a Linux bridge it owns (dnsmasq's configuration, pid,
//! leases, and DHCP reservations), shared by the bridge provider and by providers whose
//! instances reserve a fixed address on such a bridge.

use crate::exec::Exec;
use crate::host_files::HostFiles;
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

/// Who made a reservation: the bridge's own configuration, or an instance with a fixed
/// address. Each owns its files and never touches the other's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Bridge,
    Instance,
}

/// The file of one MAC's reservation.
pub fn reservation_file(bridge: &str, owner: Owner, mac: &str) -> PathBuf {
    let prefix = match owner {
        Owner::Bridge => "bridge",
        Owner::Instance => "instance",
    };
    reservations_dir(bridge).join(format!("{prefix}-{}", mac.to_lowercase().replace(':', "-")))
}

/// The pid of the dnsmasq hive started for this bridge, if it runs: the pid file's, checked
/// against the process's command line so a reused pid is never taken for it.
pub fn dnsmasq_pid(bridge: &str) -> Option<i32> {
    dnsmasq_pid_read_with(bridge, |path| {
        std::fs::read(path)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    })
}

/// [`dnsmasq_pid`], reading files with `read` (on a host reached some other way).
pub fn dnsmasq_pid_read_with(
    bridge: &str,
    read: impl Fn(&std::path::Path) -> Option<String>,
) -> Option<i32> {
    let pid: i32 = read(&pid_file(bridge))?.trim().parse().ok()?;
    let cmdline = read(std::path::Path::new(&format!("/proc/{pid}/cmdline")))?;
    let conf = dir(bridge).join("dnsmasq.conf");
    (cmdline.contains("dnsmasq") && cmdline.contains(&*conf.to_string_lossy())).then_some(pid)
}

/// Reserves `ip` for an instance's NIC `mac` on a bridge hive runs DHCP for. A new file is
/// read by dnsmasq at once; a changed one only once dnsmasq is told.
pub fn reserve_for_instance(
    on: (&dyn HostFiles, &dyn Exec),
    bridge: &str,
    mac: &str,
    ip: &str,
) -> Result<(), String> {
    let (files, _) = on;
    if !files.exists(&dir(bridge).join("dnsmasq.conf")) {
        return Err(format!(
            "a fixed ip on bridge {bridge} needs DHCP there: give the bridge a dhcp block"
        ));
    }
    let file = reservation_file(bridge, Owner::Instance, mac);
    let line = format!("{mac},{ip}\n");
    let before = files.read_text(&file);
    if before.as_deref() == Some(line.as_str()) {
        return Ok(());
    }
    files
        .write(&file, line.as_bytes())
        .map_err(|e| format!("reserving {ip} for {mac} on bridge {bridge}: {e}"))?;
    if before.is_some() {
        hup_dnsmasq(on, bridge);
    }
    Ok(())
}

/// Gives an instance's reservation back; dnsmasq forgets removed files only when told.
pub fn unreserve_for_instance(
    on: (&dyn HostFiles, &dyn Exec),
    bridge: &str,
    mac: &str,
) -> Result<(), String> {
    let (files, _) = on;
    let file = reservation_file(bridge, Owner::Instance, mac);
    if files.exists(&file) {
        files.remove(&file)?;
        hup_dnsmasq(on, bridge);
    }
    Ok(())
}

/// Tells a bridge's dnsmasq to read its reservations again.
fn hup_dnsmasq(on: (&dyn HostFiles, &dyn Exec), bridge: &str) {
    let (files, exec) = on;
    if let Some(pid) = dnsmasq_pid_read_with(bridge, |path| files.read_text(path)) {
        // The pid was checked against its command line: it is the dnsmasq hive started.
        let _ = exec.run(&["kill", "-HUP", &pid.to_string()], None);
    }
}

/// The IPv4 addresses dnsmasq leased to these MACs on a bridge hive runs.
pub fn leased_ips(bridge: &str, macs: &[String]) -> Vec<String> {
    leases(bridge)
        .into_iter()
        .filter(|(m, _, _)| macs.iter().any(|mac| mac.eq_ignore_ascii_case(m)))
        .map(|(_, ip, _)| ip)
        .collect()
}

/// Current leases from dnsmasq's lease file on this machine: (MAC, IP, hostname).
pub fn leases(bridge: &str) -> Vec<(String, String, String)> {
    parse_leases(&std::fs::read_to_string(lease_file(bridge)).unwrap_or_default())
}

/// The leases in the text of a dnsmasq lease file.
pub fn parse_leases(text: &str) -> Vec<(String, String, String)> {
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
