//! Bringing an existing domain to its configuration: redefined in place, hot-plugged where
//! the guest takes it, restarted where it must be.

use super::{
    build, domain_name, facts, finish, remove_stale_seeds, start, tag_of, AFFECT_LIVE,
    SHUTDOWN_GRACE, XML_INACTIVE,
};
use crate::host::{Connections, Host, Site};
use crate::xml::{self, Disk, DomainFacts, DomainSpec, NicSource, Tag};
use crate::{lv, network, pool};
use hive_sdk::guest::{power_wanted, sizing};
use hive_sdk::provider::{ApplyRequest, ApplyResponse, Cancel, ProviderError};
use hive_sdk::{identity, Value};
use std::time::{Duration, Instant};
use virt::domain::Domain;

pub fn update(
    connections: &Connections,
    request: &ApplyRequest<'_>,
) -> Result<ApplyResponse, ProviderError> {
    let host = Host::of(request.config);
    let site = connections.get(&host)?;
    let prior = request.prior.unwrap_or(&Value::Null);
    let id = prior.attr_str("id").unwrap_or_default();
    let name = prior
        .attr_str("name")
        .map(str::to_string)
        .unwrap_or_else(|| domain_name(request.config, request.target.address));
    let domain = site
        .conn
        .lookup_domain_by_uuid_string(id)
        .or_else(|_| site.conn.lookup_domain_by_name(&name))
        .map_err(lv(format!("looking up domain {name}")))?;
    if tag_of(&domain).is_none() {
        return converge_foreign(&site, &host, request, domain, &name);
    }
    converge(&site, &host, request, domain, &name, true)
}

pub(super) fn check_fits(site: &Site, mib: u64) -> Result<(), ProviderError> {
    let host_mib = site.memory_mib()?;
    if mib > host_mib {
        return Err(ProviderError::new(format!(
            "memory = {mib} MiB is more than the host has: {host_mib} MiB in all at {}",
            site.uri
        )));
    }
    Ok(())
}

/// A domain hive did not make (imported): only its size and power state follow the
/// configuration; its disks and NICs stay its own.
fn converge_foreign(
    site: &Site,
    host: &Host,
    request: &ApplyRequest<'_>,
    domain: Domain,
    name: &str,
) -> Result<ApplyResponse, ProviderError> {
    let config = request.config;
    let before = facts(&domain, name)?;
    let (cpus, mib) = sizing(config).map_err(ProviderError::new)?;
    let running = domain.is_active().unwrap_or(false);
    if before.memory_kib != mib * 1024 || before.vcpus != cpus {
        check_fits(site, mib)?;
        let current = domain
            .xml_desc(XML_INACTIVE)
            .map_err(lv(format!("reading domain {name}")))?;
        let resized = xml::with_sizes(&current, mib, cpus).map_err(ProviderError::new)?;
        site.conn
            .define_domain_xml(&resized)
            .map_err(lv(format!("redefining domain {name}")))?;
        if running && power_wanted(config) {
            stop(&domain, name, request.cancel)?;
        }
    }
    let running = domain.is_active().unwrap_or(false);
    if running && !power_wanted(config) {
        stop(&domain, name, request.cancel)?;
    } else if !running && power_wanted(config) {
        start(&domain, name, host.accel)?;
    }
    let key = identity::private_key_path(request.target.lineage);
    finish(site, host, request, &domain, name, &key)
}

/// Brings an existing domain to the configuration: redefines it, hot-plugs or restarts as
/// needed, sets its power state and waits.
pub(super) fn converge(
    site: &Site,
    host: &Host,
    request: &ApplyRequest<'_>,
    domain: Domain,
    name: &str,
    keep_tag: bool,
) -> Result<ApplyResponse, ProviderError> {
    let config = request.config;
    let before = facts(&domain, name)?;
    let (key, public_key) = identity::ensure(request.target.lineage).map_err(ProviderError::new)?;
    let image = crate::image::on_host(site, request)?;
    let mut built = {
        let pool = pool::open(site)?;
        build(site, &pool, &image, request, name, host, &public_key)?
    };
    built.spec.uuid = Some(before.uuid.clone());
    built.spec.tag.status = "ready".into();
    if keep_tag {
        if let Some(tag) = &before.tag {
            built.spec.tag = Tag {
                status: "ready".into(),
                ..tag.clone()
            };
        }
    }
    if before.memory_kib != built.spec.memory_mib * 1024 {
        check_fits(site, built.spec.memory_mib)?;
    }
    for (net, mac, ip) in &built.reservations {
        network::reserve(site, &site.bridge_home(config, net), net, mac, ip)?;
    }
    // NICs that no longer have a fixed address give their reservation back.
    for nic in &built.spec.nics {
        let (NicSource::Network(net) | NicSource::Bridge(net)) = &nic.source;
        if !built.reservations.iter().any(|(_, mac, _)| *mac == nic.mac) {
            network::unreserve(site, &site.bridge_home(config, net), net, &nic.mac)?;
        }
    }
    let prior = request.prior.unwrap_or(config);
    for (mac, net) in &before.nics {
        if !built.spec.nics.iter().any(|n| &n.mac == mac) {
            network::unreserve(site, &site.bridge_home(prior, net), net, mac)?;
        }
    }
    // The seed is named after its content; an adopted domain may use an older one.
    let spec = &built.spec;
    site.conn
        .define_domain_xml(&spec.to_xml())
        .map_err(lv(format!("redefining domain {name}")))?;
    let running = domain.is_active().unwrap_or(false);
    let resized = before.memory_kib != spec.memory_mib * 1024
        || before.effective_memory_kib() != spec.memory_mib * 1024
        || before.vcpus != spec.vcpus;
    if running && power_wanted(config) {
        let mut restart = resized;
        if !restart {
            restart = !hotplug(&domain, &before, spec);
        }
        if restart {
            stop(&domain, name, request.cancel)?;
            start(&domain, name, host.accel)?;
        }
    } else if running {
        stop(&domain, name, request.cancel)?;
    } else if power_wanted(config) {
        start(&domain, name, host.accel)?;
    }
    remove_stale_seeds(site, name, spec.seed.as_deref())?;
    finish(site, host, request, &domain, name, &key)
}

/// Attaches and detaches disks and NICs on a running guest; false if it refused.
fn hotplug(domain: &Domain, before: &DomainFacts, spec: &DomainSpec) -> bool {
    let live = AFFECT_LIVE;
    for d in &spec.disks {
        if !before.disks.contains(&d.path)
            && domain.attach_device_flags(&xml::disk_xml(d), live).is_err()
        {
            return false;
        }
    }
    for path in &before.disks {
        if !spec.disks.iter().any(|d| &d.path == path) {
            let gone = Disk {
                path: path.clone(),
                format: "qcow2".into(),
                target: String::new(),
            };
            if detach_disk(domain, &gone).is_err() {
                return false;
            }
        }
    }
    // A NIC moved to another network keeps its MAC: only a restart applies that.
    for n in &spec.nics {
        let source = match &n.source {
            NicSource::Network(s) | NicSource::Bridge(s) => s,
        };
        if before.nics.iter().any(|(m, s)| *m == n.mac && s != source) {
            return false;
        }
    }
    for n in &spec.nics {
        if !before.nics.iter().any(|(m, _)| *m == n.mac)
            && domain.attach_device_flags(&xml::nic_xml(n), live).is_err()
        {
            return false;
        }
    }
    for (mac, _) in &before.nics {
        if !spec.nics.iter().any(|n| &n.mac == mac) {
            let device = domain
                .xml_desc(0)
                .ok()
                .and_then(|live_xml| xml::interface_xml_of(&live_xml, mac));
            let Some(device) = device else {
                return false;
            };
            if domain.detach_device_flags(&device, live).is_err() {
                return false;
            }
        }
    }
    true
}

fn detach_disk(domain: &Domain, disk: &Disk) -> Result<(), virt::error::Error> {
    // libvirt finds the disk by its target in the live XML, which may differ from ours.
    let live = domain.xml_desc(0)?;
    let with_target = Disk {
        target: xml::disk_target_of(&live, &disk.path).unwrap_or_default(),
        ..disk.clone()
    };
    domain.detach_device_flags(&xml::disk_xml(&with_target), AFFECT_LIVE)
}

/// ACPI power-off, then pulling the plug if the guest ignores it.
fn stop(domain: &Domain, name: &str, cancel: &Cancel) -> Result<(), ProviderError> {
    if !domain.is_active().unwrap_or(false) {
        return Ok(());
    }
    let _ = domain.shutdown();
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    let mut pause = Duration::from_millis(100);
    while Instant::now() < deadline && !cancel.is_cancelled() {
        if !domain.is_active().unwrap_or(false) {
            return Ok(());
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(500));
    }
    if domain.is_active().unwrap_or(false) {
        domain
            .destroy()
            .map_err(lv(format!("stopping domain {name}")))?;
    }
    Ok(())
}
