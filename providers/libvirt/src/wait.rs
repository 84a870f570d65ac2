//! Waiting for a guest: `running`, `ip` (DHCP lease, then ARP, then guest agent), `ssh` (a
//! real SSH handshake and key login on port 22). Polls with a deadline; a timeout says what
//! was seen last and shows the end of the guest's console.

use crate::host::Accel;
use hive_sdk::guest::{cloud_init_outcome, poll, ssh_login_via, ssh_run_via, Look, WaitFor};
use hive_sdk::host_files::HostFiles;
use hive_sdk::provider::{Cancel, ProviderError};
use hive_sdk::ssh::SshTarget;
use std::path::Path;
use std::time::Duration;
use virt::domain::Domain;

pub struct Guest<'a> {
    pub domain: &'a Domain,
    pub name: &'a str,
    pub console_log: &'a Path,
    pub accel: Accel,
    pub key: &'a Path,
    pub user: &'a str,
    /// The host's files (console log).
    pub files: &'a dyn HostFiles,
    /// The lease file of a Linux bridge hive runs, by bridge name.
    pub leases: &'a dyn Fn(&str) -> Option<String>,
    /// The remote host to go through to reach the guest.
    pub via: Option<&'a SshTarget>,
}

/// How long a kvm guest may stay silent on its console before hive calls it stuck.
const KVM_SILENCE: Duration = Duration::from_secs(60);

/// Waits until `what` holds; returns the guest's IPv4 addresses (empty unless asked for).
pub fn wait(
    guest: &Guest<'_>,
    what: WaitFor,
    timeout: Duration,
    cancel: &Cancel,
) -> Result<Vec<String>, ProviderError> {
    if what == WaitFor::None {
        return Ok(Vec::new());
    }
    poll(
        guest.name,
        what,
        timeout,
        Duration::from_millis(100),
        cancel,
        || console_tail(guest.files, guest.console_log),
        |elapsed| {
            let look = step(guest, what)?;
            let silent = || {
                guest
                    .files
                    .info(guest.console_log)
                    .ok()
                    .flatten()
                    .map_or(0, |i| i.len)
                    == 0
            };
            if matches!(look, Look::NotYet(_))
                && guest.accel == Accel::Kvm
                && (elapsed > KVM_SILENCE || elapsed >= timeout)
                && silent()
            {
                return Err(ProviderError::new(format!(
                    "{} printed nothing on its console in {} s under accel = \"kvm\": on this machine KVM may run only special guest kernels; set accel = \"tcg\" on the host",
                    guest.name,
                    elapsed.as_secs()
                )));
            }
            Ok(look)
        },
    )
}

/// One look at the guest: done (with its addresses), or what was seen.
fn step(guest: &Guest<'_>, what: WaitFor) -> Result<Look<Vec<String>>, ProviderError> {
    let active = guest.domain.is_active().map_err(|e| {
        ProviderError::new(format!(
            "checking whether {} runs: libvirt: {}",
            guest.name,
            e.message()
        ))
    })?;
    if !active {
        return Err(ProviderError::new(format!(
            "{} is not running (it stopped, or never started){}",
            guest.name,
            console_tail(guest.files, guest.console_log)
        )));
    }
    if what == WaitFor::Running {
        return Ok(Look::Done(Vec::new()));
    }
    let ips = addresses(guest.leases, guest.domain);
    if ips.is_empty() {
        return Ok(Look::NotYet(
            "running, no IP address yet (no DHCP lease, ARP entry or agent answer)".into(),
        ));
    }
    if what == WaitFor::Ip {
        return Ok(Look::Done(ips));
    }
    let mut seen = String::new();
    for ip in &ips {
        if what == WaitFor::Ssh {
            match ssh_login_via(ip, guest.user, guest.key, guest.via) {
                Ok(()) => return Ok(Look::Done(ips)),
                Err(e) => seen = format!("address {ip}: {e}"),
            }
            continue;
        }
        // cloud-init: asked over SSH, one short look per step.
        match ssh_run_via(ip, guest.user, guest.key, "cloud-init status", guest.via) {
            Ok((code, out)) => match cloud_init_outcome(code, &out) {
                Some(Ok(())) => return Ok(Look::Done(ips)),
                Some(Err(e)) => return Err(ProviderError::new(format!("{}: {e}", guest.name))),
                None => seen = format!("address {ip}: cloud-init still running"),
            },
            Err(e) => seen = format!("address {ip}: {e}"),
        }
    }
    Ok(Look::NotYet(seen))
}

/// The guest's IPv4 addresses: from the DHCP lease (libvirt's, or that of hive's own dnsmasq
/// on a Linux bridge), else ARP, else the guest agent.
pub fn addresses(leases: &dyn Fn(&str) -> Option<String>, domain: &Domain) -> Vec<String> {
    let on_bridges = bridge_leases(leases, domain);
    if !on_bridges.is_empty() {
        return on_bridges;
    }
    // virDomainInterfaceAddressesSource: LEASE 0, AGENT 1, ARP 2.
    for source in [0, 2, 1] {
        let Ok(ifaces) = domain.interface_addresses(source, 0) else {
            continue;
        };
        let ips: Vec<String> = ifaces
            .iter()
            .flat_map(|i| i.addrs.iter())
            .filter(|a| a.typed == 0 && !a.addr.starts_with("127."))
            .map(|a| a.addr.clone())
            .collect();
        if !ips.is_empty() {
            return ips;
        }
    }
    Vec::new()
}

/// Leases hive's dnsmasq gave the domain's NICs on Linux bridges hive owns.
fn bridge_leases(leases: &dyn Fn(&str) -> Option<String>, domain: &Domain) -> Vec<String> {
    let Ok(facts) = domain
        .xml_desc(0)
        .map_err(|e| e.to_string())
        .and_then(|x| crate::xml::parse_domain(&x))
    else {
        return Vec::new();
    };
    facts
        .nics
        .iter()
        .flat_map(|(mac, bridge)| {
            let text = leases(bridge).unwrap_or_default();
            hive_sdk::linux_bridge::parse_leases(&text)
                .into_iter()
                .filter(|(m, _, _)| m.eq_ignore_ascii_case(mac))
                .map(|(_, ip, _)| ip)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The last lines of a console log, for error messages.
pub fn console_tail(files: &dyn HostFiles, path: &Path) -> String {
    let Ok(Some(bytes)) = files.read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return format!("; its console ({}) is empty", path.display());
    }
    let tail = &lines[lines.len().saturating_sub(5)..];
    format!(
        "; the end of its console ({}):\n    {}",
        path.display(),
        tail.join("\n    ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_for_values() {
        assert_eq!(WaitFor::parse(None), Ok(WaitFor::Running));
        assert_eq!(WaitFor::parse(Some("ssh")), Ok(WaitFor::Ssh));
        assert!(WaitFor::parse(Some("boot")).is_err_and(|e| e.contains("\"ssh\"")));
    }

    #[test]
    fn ssh_to_a_closed_port_says_so() {
        let key = Path::new("/nonexistent");
        let e = hive_sdk::guest::ssh_login("127.0.0.1", "root", key);
        // Nothing listens on loopback's port 22 in the test environment, or sshd refuses
        // the missing key: either way it is not a success.
        assert!(e.is_err());
    }

    #[test]
    fn console_tails_keep_the_last_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("c.log");
        std::fs::write(&log, "a\nb\nc\nd\ne\nf\ng\n").expect("write");
        let tail = console_tail(&hive_sdk::host_files::LocalFiles, &log);
        assert!(tail.contains("c\n    d\n    e\n    f\n    g"));
        assert!(!tail.contains("    b"));
    }
}
