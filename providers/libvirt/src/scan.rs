//! `hive scan` on a libvirt host: domains by the tag in their metadata; the volumes, root
//! disks and seeds of hive's pool and hive's networks by the records kept beside them (in
//! hive's directory on the host: libvirt keeps no metadata for them). Reaping and re-tagging.

use crate::host::{Host, Site};
use crate::instance::{
    remove_domain, root_disk_name, set_tag, tag_of, AFFECT_CONFIG, AFFECT_LIVE, METADATA_ELEMENT,
};
use crate::{cache, lv, pool, xml, Connections};
use hive_sdk::provider::{Found, ProviderError, ReapRequest, RetagRequest, ScanRequest, Target};
use hive_sdk::subnets;
use hive_sdk::tag::{Records, Tag};
use std::collections::BTreeMap;
use std::path::Path;

const DOMAIN: &str = "libvirt domain";
const VOLUME: &str = "libvirt volume";
const ROOT_DISK: &str = "libvirt root disk";
const SEED: &str = "libvirt seed";
const NETWORK: &str = "libvirt network";

/// The records of hive's pool files on a host.
pub(crate) fn pool_records(site: &Site) -> Records<'_> {
    Records::new(&*site.files, &site.data_dir, "libvirt-pool")
}

fn network_records(site: &Site) -> Records<'_> {
    Records::new(&*site.files, &site.data_dir, "libvirt-network")
}

/// Records who a pool file hive just made belongs to.
pub(crate) fn record_file(
    site: &Site,
    file: &str,
    target: &Target<'_>,
) -> Result<(), ProviderError> {
    pool_records(site)
        .write(file, &Tag::of(target))
        .map_err(ProviderError::new)
}

pub(crate) fn record_network(
    site: &Site,
    name: &str,
    target: &Target<'_>,
) -> Result<(), ProviderError> {
    network_records(site)
        .write(name, &Tag::of(target))
        .map_err(ProviderError::new)
}

pub(crate) fn forget_network(site: &Site, name: &str) {
    network_records(site).remove(name);
}

/// Whether there is a libvirt to scan: a remote host's or a configured URI's, or this
/// machine's daemon when its socket exists.
fn has_libvirt(host: &Host) -> bool {
    host.remote.is_some()
        || host.uri.is_some()
        || Path::new("/var/run/libvirt/libvirt-sock").exists()
}

/// What a pool file is, by its name: a domain's root disk or seed (with the domain's
/// name), or a volume.
fn file_kind(file: &str) -> (&'static str, Option<&str>) {
    if let Some(domain) = file.strip_suffix("-root.qcow2") {
        return (ROOT_DISK, Some(domain));
    }
    if let Some((domain, _)) = file.split_once("-seed-") {
        return (SEED, Some(domain));
    }
    (VOLUME, None)
}

pub fn scan(
    connections: &Connections,
    request: &ScanRequest<'_>,
) -> Result<Vec<Found>, ProviderError> {
    let host = Host::of(request.host);
    if !has_libvirt(&host) {
        return Ok(Vec::new());
    }
    let site = connections.get(&host)?;
    let mut found = Vec::new();
    // Domains by name: their disks are theirs.
    let mut domains: BTreeMap<String, (Tag, String)> = BTreeMap::new();
    let all = site
        .conn
        .list_all_domains(0)
        .map_err(lv("listing domains".to_string()))?;
    for domain in all {
        let Some(tag) = tag_of(&domain) else { continue };
        let name = domain.name().unwrap_or_default();
        let uuid = domain.uuid_string().unwrap_or_default();
        domains.insert(name.clone(), (tag.owner(), uuid.clone()));
        found.push(Found {
            kind: DOMAIN.into(),
            name,
            tag: tag.owner(),
            id: uuid,
            order: 0,
            outlives_state: false,
        });
    }
    if let Ok(pool) = pool::open(&site) {
        let records = pool_records(&site);
        for file in pool.names()? {
            if cache::is_cached_image(&file) {
                continue;
            }
            let (kind, domain) = file_kind(&file);
            let of_domain = domain.and_then(|d| domains.get(d));
            let (tag, id) = match (records.read(&file), of_domain) {
                (_, Some((tag, uuid))) => (tag.clone(), uuid.clone()),
                (Some(tag), None) if kind == VOLUME => {
                    (tag, pool.path_of(&file).to_string_lossy().into_owned())
                }
                // A domain's disk whose domain is gone: any record at its address holds it.
                (Some(tag), None) => (tag, String::new()),
                (None, None) => continue,
            };
            found.push(Found {
                kind: kind.into(),
                name: file,
                tag,
                id,
                order: 1,
                outlives_state: false,
            });
        }
    }
    let records = network_records(&site);
    let networks = site
        .conn
        .list_all_networks(0)
        .map_err(lv("listing networks".to_string()))?;
    for network in networks {
        let name = network.name().unwrap_or_default();
        if let Some(tag) = records.read(&name) {
            found.push(Found {
                kind: NETWORK.into(),
                id: network.uuid_string().unwrap_or_default(),
                name,
                tag,
                order: 2,
                outlives_state: false,
            });
        }
    }
    Ok(found)
}

pub fn reap(connections: &Connections, request: &ReapRequest<'_>) -> Result<(), ProviderError> {
    let site = connections.get(&Host::of(request.host))?;
    let found = request.found;
    let name = found.name.as_str();
    match found.kind.as_str() {
        DOMAIN => {
            let Ok(domain) = site.conn.lookup_domain_by_uuid_string(&found.id) else {
                return Ok(());
            };
            // Only the domain that still carries the tag the scan saw.
            if tag_of(&domain).map(|t| t.owner()).as_ref() != Some(&found.tag) {
                return Ok(());
            }
            remove_domain(&site, request.host, &domain, name)?;
            let records = pool_records(&site);
            records.remove(&root_disk_name(name));
            for record in records.list() {
                if record.name.starts_with(&format!("{name}-seed-")) {
                    records.remove(&record.name);
                }
            }
            Ok(())
        }
        VOLUME | ROOT_DISK | SEED => {
            let pool = pool::open(&site)?;
            if pool.exists(name) {
                pool.delete(name)?;
            }
            pool_records(&site).remove(name);
            Ok(())
        }
        NETWORK => crate::network::remove(&site, name),
        other => Err(ProviderError::new(format!(
            "the libvirt driver has no {other}"
        ))),
    }
}

/// Puts the new tag (or none) on a recorded domain, volume or network and its records.
pub fn retag(connections: &Connections, request: &RetagRequest<'_>) -> Result<(), ProviderError> {
    let site = connections.get(&Host::of(request.attributes))?;
    let records = pool_records(&site);
    let put = |records: &Records<'_>, file: &str| match request.tag {
        Some(tag) => records.write(file, tag).map_err(ProviderError::new),
        None => {
            records.remove(file);
            Ok(())
        }
    };
    match request.target.kind {
        "instance" => {
            let Ok(domain) = site.conn.lookup_domain_by_uuid_string(request.id) else {
                return Ok(());
            };
            let name = domain.name().unwrap_or_default();
            match request.tag {
                Some(tag) => set_tag(&domain, &xml::Tag::of_owner(tag, "ready"), &name)?,
                None => {
                    let flags = if domain.is_active().unwrap_or(false) {
                        AFFECT_LIVE | AFFECT_CONFIG
                    } else {
                        AFFECT_CONFIG
                    };
                    domain
                        .set_metadata(METADATA_ELEMENT, None, None, Some(xml::METADATA_NS), flags)
                        .map_err(lv(format!("removing hive's tag from domain {name}")))?;
                }
            }
            put(&records, &root_disk_name(&name))?;
            for record in records.list() {
                if record.name.starts_with(&format!("{name}-seed-")) {
                    put(&records, &record.name)?;
                }
            }
            Ok(())
        }
        "volume" => {
            let file = Path::new(request.id)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            put(&records, &file)
        }
        "bridge" => {
            let Some(name) = request.attributes.attr_str("name") else {
                return Ok(());
            };
            put(&network_records(&site), name)?;
            if let Some(cidr) = request.attributes.attr_str("cidr") {
                subnets::retag(&*site.exec(), cidr, &Tag::of(&request.target), request.tag)
                    .map_err(|e| {
                        ProviderError::new(format!("re-tagging the claim of {cidr}: {e}"))
                    })?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_files_are_told_apart_by_name() {
        assert_eq!(file_kind("node-0-root.qcow2"), (ROOT_DISK, Some("node-0")));
        assert_eq!(
            file_kind("node-0-seed-0123456789ab.iso"),
            (SEED, Some("node-0"))
        );
        assert_eq!(file_kind("data-c96e7bea.qcow2"), (VOLUME, None));
    }
}
