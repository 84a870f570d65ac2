//! `instance` with `driver = "libvirt"`: a domain with a root-disk overlay of its image (or a
//! direct kernel boot), attached volumes, NICs, a NoCloud seed and a serial console logged
//! to a file.
//!
//! Changes are made in place where libvirt can: `cpus`/`memory` by redefining the domain and
//! restarting a running guest; volumes and NICs by hot-plugging (restarting if the guest
//! refuses). A new image or new cloud-init data replaces the instance (the schema says so).

use crate::host::{Accel, Connections, Host, Site};
use crate::pool;
use crate::wait::{self, Guest};
use crate::xml::{self, DomainFacts, Tag};
use crate::{lv, name_from_address, network, not_found, object};
use hive_sdk::addr::InstanceAddr;
use hive_sdk::guest::{power_wanted, sizing, ssh_user, timed_wait, wait_settings};
use hive_sdk::problem::Problem;
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, DeleteRequest, PlanRequest, PlanResponse, ProviderError,
    ReadRequest, ReadResponse, Target,
};
use hive_sdk::{identity, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use virt::domain::Domain;

mod define;
mod in_place;

use define::build;
pub use in_place::update;
use in_place::{check_fits, converge};

/// The prefix of the MACs hive gives QEMU guests (QEMU's own).
const QEMU_OUI: &str = "52:54:00";
/// How long a guest gets to power off on ACPI before it is pulled.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
// virDomainXMLFlags / virDomainModificationImpact / virDomainMetadataType.
const XML_INACTIVE: u32 = 2;
pub(crate) const AFFECT_LIVE: u32 = 1;
pub(crate) const AFFECT_CONFIG: u32 = 2;
pub(crate) const METADATA_ELEMENT: i32 = 2;

pub fn validate(config: &Value) -> Vec<Problem> {
    // Cloud-init is awaited over SSH here.
    let mut problems = hive_sdk::guest::validate(config, true);
    if let Some(image) = config.attr("image").and_then(Value::as_str) {
        problems.push(Problem::at(
            "image",
            format!(
                "image = \"{image}\": the libvirt driver boots image resources (image.NAME), not names"
            ),
        ));
    }
    problems
}

/// Says what an in-place change does to a running guest.
pub fn plan(request: &PlanRequest<'_>, mut proposal: PlanResponse) -> PlanResponse {
    let Some(prior) = request.prior else {
        return proposal;
    };
    let config = request.config;
    if !power_wanted(config) {
        return proposal;
    }
    let (before, after) = (sizing(prior), sizing(config));
    if before.is_ok() && after.is_ok() && before != after && power_wanted(prior) {
        proposal
            .notes
            .push("restarts the guest: cpus and memory change only at boot".into());
    }
    let schema = hive_sdk::guest::instance_schema();
    let ids = |v: &Value| schema.identities(v);
    let (prior_ids, config_ids) = (ids(prior), ids(config));
    let differs = |name: &str| prior_ids.attr(name) != config_ids.attr(name);
    if differs("attach") || differs("network") {
        proposal.notes.push(
            "hot-plugs the changed volumes and NICs (restarting the guest if it refuses)".into(),
        );
    }
    proposal
}

pub fn domain_name(config: &Value, address: &InstanceAddr) -> String {
    config
        .attr_str("name")
        .map(str::to_string)
        .unwrap_or_else(|| name_from_address(address))
}

/// The lease file of a Linux bridge hive runs DHCP for, from the host that runs it.
fn lease_text(site: &Site, config: &Value, bridge: &str) -> Option<String> {
    site.bridge_home(config, bridge)
        .files
        .read_text(&hive_sdk::linux_bridge::lease_file(bridge))
}

fn console_path(site: &Site, name: &str) -> PathBuf {
    site.data_dir.join("console").join(format!("{name}.log"))
}

pub(crate) fn root_disk_name(domain: &str) -> String {
    format!("{domain}-root.qcow2")
}

pub(crate) fn tag_of(domain: &Domain) -> Option<Tag> {
    domain
        .metadata(METADATA_ELEMENT, Some(xml::METADATA_NS), AFFECT_CONFIG)
        .ok()
        .and_then(|m| xml::parse_tag_text(&m))
}

fn facts(domain: &Domain, what: &str) -> Result<DomainFacts, ProviderError> {
    let text = domain
        .xml_desc(XML_INACTIVE)
        .map_err(lv(format!("reading domain {what}")))?;
    xml::parse_domain(&text).map_err(ProviderError::new)
}

pub fn create(
    connections: &Connections,
    request: &ApplyRequest<'_>,
) -> Result<ApplyResponse, ProviderError> {
    let config = request.config;
    let host = Host::of(config);
    let site = connections.get(&host)?;
    let name = domain_name(config, request.target.address);
    if let Ok(existing) = site.conn.lookup_domain_by_name(&name) {
        match tag_of(&existing) {
            Some(tag)
                if tag.lineage == request.target.lineage
                    && tag.address == request.target.address.to_string() =>
            {
                if tag.status == "ready" {
                    // Made by an apply that crashed before recording it: adopt it.
                    return converge(&site, &host, request, existing, &name, false);
                }
                // Its creation never finished: start again from nothing.
                remove_domain(&site, config, &existing, &name)?;
            }
            Some(tag) if tag.lineage == request.target.lineage => {
                return Err(ProviderError::new(format!(
                    "a domain named {name} already exists: it is {}'s, in this same state; give one of them another name",
                    tag.address
                )))
            }
            Some(tag) => {
                return Err(ProviderError::new(format!(
                    "a domain named {name} already exists, made by hive for {} of another state (lineage {}); set name to another",
                    tag.address, tag.lineage
                )))
            }
            None => {
                return Err(ProviderError::new(format!(
                    "a domain named {name} already exists and hive did not make it; set name to another, or adopt it with `hive import {} {name}`",
                    request.target.address
                )))
            }
        }
    }
    let (_, mib) = sizing(config).map_err(|p| ProviderError::new(p.message))?;
    check_fits(&site, mib)?;
    let (key, public_key) = identity::ensure(request.target.lineage).map_err(ProviderError::new)?;
    let image = crate::image::on_host(&site, request)?;
    let built = {
        let pool = pool::open(&site)?;
        // Left by a create that crashed before defining the domain.
        pool.delete(&root_disk_name(&name))?;
        build(&site, &pool, &image, request, &name, &host, &public_key)?
    };
    for (net, mac, ip) in &built.reservations {
        network::reserve(&site, &site.bridge_home(config, net), net, mac, ip)?;
    }
    prepare_console(&site, Path::new(&built.spec.console_log))?;
    let domain = site
        .conn
        .define_domain_xml(&built.spec.to_xml())
        .map_err(lv(format!("defining domain {name}")))?;
    if power_wanted(config) {
        start(&domain, &name, host.accel)?;
    }
    let ready = Tag {
        status: "ready".into(),
        ..built.spec.tag.clone()
    };
    set_tag(&domain, &ready, &name)?;
    finish(&site, &host, request, &domain, &name, &key)
}

/// Starts a domain; under kvm a failure also says what to do where KVM cannot run guests.
fn start(domain: &Domain, name: &str, accel: Accel) -> Result<(), ProviderError> {
    domain.create().map(|_| ()).map_err(|e| {
        let hint = if accel == Accel::Kvm {
            "; the host has accel = \"kvm\": where KVM is missing or runs only special guest kernels, set accel = \"tcg\""
        } else {
            ""
        };
        ProviderError::new(format!(
            "starting domain {name}: libvirt: {}{hint}",
            e.message()
        ))
    })
}

fn prepare_console(site: &Site, path: &Path) -> Result<(), ProviderError> {
    if let Some(dir) = path.parent() {
        site.files
            .create_dir_all(dir)
            .map_err(|e| ProviderError::new(format!("making the console log's directory: {e}")))?;
    }
    // A fresh log per create; libvirt appends.
    let _ = site.files.remove(path);
    Ok(())
}

pub(crate) fn set_tag(domain: &Domain, tag: &Tag, name: &str) -> Result<(), ProviderError> {
    let flags = if domain.is_active().unwrap_or(false) {
        AFFECT_LIVE | AFFECT_CONFIG
    } else {
        AFFECT_CONFIG
    };
    domain
        .set_metadata(
            METADATA_ELEMENT,
            Some(&tag.bare_element()),
            Some("hive"),
            Some(xml::METADATA_NS),
            flags,
        )
        .map_err(lv(format!("tagging domain {name}")))
}

/// Waits as configured and returns the instance's attributes.
fn finish(
    site: &Site,
    host: &Host,
    request: &ApplyRequest<'_>,
    domain: &Domain,
    name: &str,
    key: &Path,
) -> Result<ApplyResponse, ProviderError> {
    let config = request.config;
    let console = console_path(site, name);
    let (what, timeout) = wait_settings(config)?;
    let ips = timed_wait(what, request.progress, || {
        wait::wait(
            &Guest {
                domain,
                name,
                console_log: &console,
                accel: host.accel,
                key,
                user: ssh_user(config),
                files: &*site.files,
                leases: &|bridge| lease_text(site, config, bridge),
                via: crate::host::reached_through(config).as_ref(),
            },
            what,
            timeout,
            request.cancel,
        )
    })?;
    state_of(site, domain, config, name, ips)
}

fn state_of(
    site: &Site,
    domain: &Domain,
    config: &Value,
    name: &str,
    mut ips: Vec<String>,
) -> Result<ApplyResponse, ProviderError> {
    let facts = facts(domain, name)?;
    if ips.is_empty() && domain.is_active().unwrap_or(false) {
        ips = wait::addresses(&|bridge| lease_text(site, config, bridge), domain);
    }
    let mut state = object(config);
    state.insert("id".into(), Value::String(facts.uuid.clone()));
    state.insert("name".into(), Value::String(name.to_string()));
    state.insert(
        "macs".into(),
        Value::List(facts.nics.iter().map(|(m, _)| Value::string(m)).collect()),
    );
    state.insert("ip".into(), ips.first().map_or(Value::Null, Value::string));
    state.insert(
        "ips".into(),
        Value::List(ips.iter().map(Value::string).collect()),
    );
    state.insert(
        "console_log".into(),
        facts
            .console_log
            .as_deref()
            .map_or(Value::Null, Value::string),
    );
    Ok(ApplyResponse {
        state: Value::Map(state),
        id: facts.uuid,
    })
}

fn remove_stale_seeds(site: &Site, name: &str, keep: Option<&str>) -> Result<(), ProviderError> {
    let pool = pool::open(site)?;
    let prefix = format!("{name}-seed-");
    for vol in pool.names()? {
        let path = pool.path_of(&vol);
        if vol.starts_with(&prefix) && keep != Some(&*path.to_string_lossy()) {
            pool.delete(&vol)?;
        }
    }
    Ok(())
}

pub fn read(
    connections: &Connections,
    request: &ReadRequest<'_>,
) -> Result<ReadResponse, ProviderError> {
    let site = connections.get(&Host::of(request.prior))?;
    let name = request
        .prior
        .attr_str("name")
        .map(str::to_string)
        .unwrap_or_else(|| domain_name(request.prior, request.target.address));
    let Some(domain) = find(&site, request.id, &name, &request.target)? else {
        return Ok(ReadResponse::Gone);
    };
    let name = name.as_str();
    let now_facts = facts(&domain, name)?;
    let mut now = object(request.prior);
    if let Ok((cpus, mib)) = sizing(request.prior) {
        // The maximum when someone changed it (`virsh setmaxmem`), else what the guest gets
        // (`virsh setmem` lowers only that).
        let memory_kib = if now_facts.memory_kib != mib * 1024 {
            now_facts.memory_kib
        } else {
            now_facts.effective_memory_kib()
        };
        if memory_kib != mib * 1024 {
            now.insert(
                "memory".into(),
                Value::String(format!("{}MiB", memory_kib / 1024)),
            );
        }
        if now_facts.vcpus != cpus {
            now.insert("cpus".into(), Value::Number(f64::from(now_facts.vcpus)));
        }
    }
    let running = domain.is_active().unwrap_or(false);
    if running != power_wanted(request.prior) {
        let power = if running { "running" } else { "stopped" };
        now.insert("power".into(), Value::string(power));
    }
    now.insert(
        "macs".into(),
        Value::List(
            now_facts
                .nics
                .iter()
                .map(|(m, _)| Value::string(m))
                .collect(),
        ),
    );
    Ok(ReadResponse::Found(Value::Map(now)))
}

pub fn delete(connections: &Connections, request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
    let site = connections.get(&Host::of(request.prior))?;
    let name = request
        .prior
        .attr_str("name")
        .map(str::to_string)
        .unwrap_or_else(|| domain_name(request.prior, request.target.address));
    match find(&site, request.id, &name, &request.target)? {
        Some(domain) => remove_domain(&site, request.prior, &domain, &name),
        // Gone already: clean up what it left, unless the name now belongs to another domain.
        None if site.conn.lookup_domain_by_name(&name).is_err() => {
            remove_files(&site, request.prior, &name, &recorded_nics(request.prior))
        }
        None => Ok(()),
    }
}

/// (MAC, network or bridge) of the NICs an instance's recorded attributes describe, to give
/// back their DHCP reservations when the domain itself is gone.
fn recorded_nics(prior: &Value) -> Vec<(String, String)> {
    let macs = prior
        .attr("macs")
        .and_then(Value::as_items)
        .unwrap_or_default();
    let blocks = prior
        .attr("network")
        .and_then(Value::as_items)
        .unwrap_or_default();
    macs.iter()
        .zip(blocks)
        .filter_map(|(mac, block)| {
            let bridge = block.attr("bridge")?;
            Some((
                mac.as_str().unwrap_or_default().to_string(),
                bridge.attr_str("name").unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// The domain of a recorded instance: by its UUID, or, when a create failed before its id
/// was recorded, by its name if hive's tag there says it is this one.
fn find(
    site: &Site,
    id: &str,
    name: &str,
    target: &Target<'_>,
) -> Result<Option<Domain>, ProviderError> {
    if !id.is_empty() {
        match site.conn.lookup_domain_by_uuid_string(id) {
            Ok(domain) => return Ok(Some(domain)),
            Err(e) if not_found(&e) || e.code().is(virt::error::ErrorNumber::InvalidArg) => {}
            Err(e) => return Err(lv(format!("looking up domain {name} ({id})"))(e)),
        }
    }
    let domain = match site.conn.lookup_domain_by_name(name) {
        Ok(d) => d,
        Err(e) if not_found(&e) => return Ok(None),
        Err(e) => return Err(lv(format!("looking up domain {name}"))(e)),
    };
    let ours = tag_of(&domain)
        .is_some_and(|t| t.address == target.address.to_string() && t.lineage == target.lineage);
    Ok(ours.then_some(domain))
}

/// Stops and undefines a domain and removes everything hive made for it.
pub(crate) fn remove_domain(
    site: &Site,
    config: &Value,
    domain: &Domain,
    name: &str,
) -> Result<(), ProviderError> {
    let before = facts(domain, name)?;
    if domain.is_active().unwrap_or(false) {
        domain
            .destroy()
            .map_err(lv(format!("stopping domain {name}")))?;
    }
    // MANAGED_SAVE | SNAPSHOTS_METADATA | NVRAM (an imported UEFI domain has NVRAM); drivers
    // that know no NVRAM refuse that flag, so without it on a second try.
    domain
        .undefine_flags(1 | 2 | 4)
        .or_else(|_| domain.undefine_flags(1 | 2))
        .map_err(lv(format!("undefining domain {name}")))?;
    remove_files(site, config, name, &before.nics)
}

/// `config`: the instance's configuration or record, which says where its bridges are.
fn remove_files(
    site: &Site,
    config: &Value,
    name: &str,
    nics: &[(String, String)],
) -> Result<(), ProviderError> {
    for (mac, net) in nics {
        network::unreserve(site, &site.bridge_home(config, net), net, mac)?;
    }
    let pool = pool::open(site)?;
    let seed_prefix = format!("{name}-seed-");
    let records = crate::scan::pool_records(site);
    for vol in pool.names()? {
        if vol == root_disk_name(name) || vol.starts_with(&seed_prefix) {
            pool.delete(&vol)?;
            records.remove(&vol);
        }
    }
    let _ = site.files.remove(&console_path(site, name));
    Ok(())
}

/// Adopts a domain made elsewhere, by name or UUID.
pub fn import(connections: &Connections, id: &str, config: &Value) -> Result<Value, ProviderError> {
    let site = connections.get(&Host::of(config))?;
    let domain = site
        .conn
        .lookup_domain_by_name(id)
        .or_else(|_| site.conn.lookup_domain_by_uuid_string(id))
        .map_err(lv(format!("looking up domain {id}")))?;
    let f = facts(&domain, id)?;
    let running = domain.is_active().unwrap_or(false);
    let ips = if running {
        wait::addresses(&|bridge| lease_text(&site, config, bridge), &domain)
    } else {
        Vec::new()
    };
    let mut found = Value::map([
        ("driver", Value::string("libvirt")),
        ("name", Value::string(&f.name)),
        ("id", Value::string(&f.uuid)),
        (
            "macs",
            Value::List(f.nics.iter().map(|(m, _)| Value::string(m)).collect()),
        ),
        ("ip", ips.first().map_or(Value::Null, Value::string)),
        ("ips", Value::List(ips.iter().map(Value::string).collect())),
        (
            "console_log",
            f.console_log.as_deref().map_or(Value::Null, Value::string),
        ),
    ]);
    // Sizes and power as the configuration words them when they agree with the domain (as
    // a refresh reports them), as the domain has them otherwise: the plan shows the rest.
    let (mut sizes, mut power) = (Vec::new(), Vec::new());
    if sizing(config) != Ok((f.vcpus, f.memory_kib / 1024)) {
        sizes.push(("cpus", Value::Number(f64::from(f.vcpus))));
        sizes.push((
            "memory",
            Value::String(format!("{}MiB", f.memory_kib / 1024)),
        ));
    }
    if power_wanted(config) != running {
        power.push((
            "power",
            Value::string(if running { "running" } else { "stopped" }),
        ));
    }
    // Left out when they agree: the engine records what the configuration says of them.
    if let Value::Map(m) = &mut found {
        for (k, v) in sizes.into_iter().chain(power) {
            m.insert(k.to_string(), v);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hive_sdk::guest::stable_mac;

    #[test]
    fn sizing_from_type_and_overrides() {
        let t = Value::map([("type", Value::string("t3.nano"))]);
        assert_eq!(sizing(&t), Ok((2, 512)));
        let o = Value::map([
            ("type", Value::string("t3.small")),
            ("memory", Value::string("768MiB")),
        ]);
        assert_eq!(sizing(&o), Ok((2, 768)));
        assert_eq!(
            sizing(&Value::map([("cpus", Value::Number(3.0))])),
            Ok((3, 512))
        );
        assert!(sizing(&Value::map([("type", Value::string("t9.huge"))]))
            .is_err_and(|e| e.message.contains("t3.nano")));
        assert!(sizing(&Value::map([("cpus", Value::Number(1.5))])).is_err());
    }

    #[test]
    fn macs_are_stable_and_distinct() {
        let a = stable_mac(QEMU_OUI, "L", "instance.n[0]", 0);
        assert_eq!(a, stable_mac(QEMU_OUI, "L", "instance.n[0]", 0));
        assert_ne!(a, stable_mac(QEMU_OUI, "L", "instance.n[1]", 0));
        assert_ne!(a, stable_mac(QEMU_OUI, "L", "instance.n[0]", 1));
        assert!(a.starts_with("52:54:00:") && a.len() == 17);
    }
}
