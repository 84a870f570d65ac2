//! `volume` (libvirt driver): a qcow2 volume in hive's pool, blank or a copy-on-write overlay
//! of an image. Growing `size` resizes it in place; shrinking replaces it (qcow2 cannot
//! shrink safely).

use crate::host::{Connections, Host, Site};
use crate::{lv, name_from_address, object, pool, stored, xml};
use hive_sdk::addr::InstanceAddr;
use hive_sdk::problem::Problem;
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, DeleteRequest, PlanRequest, PlanResponse, ProviderError,
    ReadRequest, ReadResponse, SnapshotRequest, Snapshotted,
};
use hive_sdk::schema::{self, optional, Schema};
use hive_sdk::units::parse_size;
use hive_sdk::{Type, Value};

/// A libvirt volume: every driver's, optionally an overlay of an image, always qcow2.
pub fn schema() -> Schema {
    let own = schema::schema(
        vec![
            optional("image", Type::Any)
                .refers_to("image")
                .or_name()
                .replaces(),
            optional("format", Type::String)
                .replaces()
                .about("\"qcow2\", the only one"),
        ],
        vec![],
    );
    hive_sdk::disk::volume_schema()
        .merged(&own)
        .and_then(|s| s.merged(&hive_sdk::disk::stored_volume_schema()))
        .unwrap_or_else(|_| hive_sdk::disk::volume_schema())
}

pub fn validate(config: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(size) = config.attr_str("size") {
        if let Err(e) = parse_size(size) {
            problems.push(Problem::at("size", format!("size: {e}")));
        }
    } else if config.attr("image").is_none() && config.attr("size").is_none() {
        problems.push(Problem::whole("a volume needs size, image, or both"));
    }
    problems.extend(hive_sdk::disk::validate_stored_volume(config));
    if stored::store_of(config).is_some() && config.attr("image").is_some_and(|i| !i.is_null()) {
        problems.push(Problem::at(
            "image",
            "a volume kept in a store holds its own data: give it a size, not an image",
        ));
    }
    if let Some(f) = config.attr_str("format").filter(|f| *f != "qcow2") {
        problems.push(Problem::at(
            "format",
            format!("format = \"{f}\": the libvirt driver makes qcow2 volumes"),
        ));
    }
    problems
}

pub fn plan(request: &PlanRequest<'_>, mut proposal: PlanResponse) -> PlanResponse {
    let size = |v: &Value| v.attr_str("size").and_then(|s| parse_size(s).ok());
    if let (Some(prior), Some(new)) = (request.prior.and_then(size), size(request.config)) {
        if new < prior && !proposal.requires_replace.iter().any(|a| a == "size") {
            proposal.requires_replace.push("size".into());
        }
    }
    proposal
}

/// The volume's file name: its address and the state's lineage, so two configurations
/// never share one, and a volume left by a crash is recognisable.
pub fn volume_name(address: &InstanceAddr, lineage: &str) -> String {
    let short: String = lineage
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    format!("{}-{short}.qcow2", name_from_address(address))
}

pub fn create(
    connections: &Connections,
    request: &ApplyRequest<'_>,
) -> Result<ApplyResponse, ProviderError> {
    let config = request.config;
    let site = connections.get(&Host::of(config))?;
    let name = volume_name(request.target.address, request.target.lineage);
    let size = config
        .attr_str("size")
        .map(parse_size)
        .transpose()
        .map_err(|e| ProviderError::new(format!("size: {e}")))?;
    let backing = config.attr("image").map(|image| {
        (
            image.attr_str("path").unwrap_or_default().to_string(),
            crate::image::detect_format(
                &*site.files,
                std::path::Path::new(image.attr_str("path").unwrap_or_default()),
            ),
            image.attr("size").and_then(Value::as_number).unwrap_or(0.0) as u64,
        )
    });
    let capacity = size
        .unwrap_or(0)
        .max(backing.as_ref().map_or(0, |b| b.2))
        .max(1 << 20);
    if let Some((path, location)) = stored::restore(&site, config, &request.target, &name)? {
        let path = path.display().to_string();
        if let Some(bytes) = size {
            let pool = pool::open(&site)?;
            let vol = pool.lookup(&name).ok_or_else(|| {
                ProviderError::new(format!("restored volume {path} is gone from its pool"))
            })?;
            let info = vol
                .info()
                .map_err(lv(format!("reading the size of {path}")))?;
            if bytes > info.capacity {
                vol.resize(bytes, 0)
                    .map_err(lv(format!("growing {path} to {bytes} bytes")))?;
            }
        }
        crate::scan::record_file(&site, &name, &request.target)?;
        return Ok(state_of(config, path, Some(location)));
    }
    let pool = pool::open(&site)?;
    // A volume of this name is this state's own, left by an interrupted create: the
    // lineage is in its name. Start it afresh.
    if pool.lookup(&name).is_some() {
        pool.delete(&name)?;
    }
    let spec = xml::volume_xml(
        &name,
        capacity,
        backing.as_ref().map(|(p, f, _)| (p.as_str(), *f)),
    );
    let vol = pool.create_volume(&spec, &format!("volume {name}"))?;
    let path = vol
        .path()
        .map_err(lv(format!("reading the path of volume {name}")))?;
    drop(pool);
    crate::scan::record_file(&site, &name, &request.target)?;
    Ok(state_of(config, path, None))
}

/// The configuration with the volume's path, which is also its id, and the snapshot it was
/// restored from.
fn state_of(config: &Value, path: String, restored_from: Option<String>) -> ApplyResponse {
    let mut state = object(config);
    state.insert("id".into(), Value::String(path.clone()));
    state.insert("path".into(), Value::String(path.clone()));
    state.insert(
        "restored_from".into(),
        restored_from.map_or(Value::Null, Value::String),
    );
    ApplyResponse {
        state: Value::Map(state),
        id: path,
    }
}

pub fn update(
    connections: &Connections,
    request: &ApplyRequest<'_>,
) -> Result<ApplyResponse, ProviderError> {
    let config = request.config;
    let prior = request.prior.unwrap_or(&Value::Null);
    let site = connections.get(&Host::of(config))?;
    let path = prior.attr_str("path").unwrap_or_default().to_string();
    if let Some(size) = config.attr_str("size") {
        let bytes = parse_size(size).map_err(|e| ProviderError::new(format!("size: {e}")))?;
        let pool = pool::open(&site)?;
        let name = file_name(&path);
        let vol = pool.lookup(&name).ok_or_else(|| {
            ProviderError::new(format!(
                "volume {path} is gone from pool {}",
                pool::POOL_NAME
            ))
        })?;
        let info = vol
            .info()
            .map_err(lv(format!("reading the size of {path}")))?;
        if bytes > info.capacity {
            grow(&site, &vol, &path, bytes)?;
        }
    }
    let restored_from = prior.attr_str("restored_from").map(str::to_string);
    Ok(state_of(config, path, restored_from))
}

/// Grows a volume: through the guest's block device when a running domain has it attached
/// (QEMU holds the image's lock then), through the pool otherwise.
pub fn grow(
    site: &Site,
    vol: &virt::storage_vol::StorageVol,
    path: &str,
    bytes: u64,
) -> Result<(), ProviderError> {
    // VIR_CONNECT_LIST_DOMAINS_ACTIVE.
    for domain in site.conn.list_all_domains(1).unwrap_or_default() {
        let Ok(live) = domain.xml_desc(0) else {
            continue;
        };
        if let Some(target) = xml::disk_target_of(&live, path) {
            let name = domain.name().unwrap_or_default();
            // VIR_DOMAIN_BLOCK_RESIZE_BYTES.
            return domain.block_resize(&target, bytes, 1).map_err(lv(format!(
                "growing {path} ({target} of running domain {name})"
            )));
        }
    }
    vol.resize(bytes, 0)
        .map_err(lv(format!("growing {path} to {bytes} bytes")))
}

/// libvirt and qcow2 round a capacity up (to KiB, to sectors): within a MiB above what was
/// asked for is what was asked for.
pub fn capacity_matches(wanted: u64, capacity: u64) -> bool {
    capacity >= wanted && capacity - wanted < 1 << 20
}

fn file_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn read(
    connections: &Connections,
    request: &ReadRequest<'_>,
) -> Result<ReadResponse, ProviderError> {
    let site = connections.get(&Host::of(request.prior))?;
    let pool = pool::open(&site)?;
    let name = recorded_name(request.id, request.target.address, request.target.lineage);
    let Some(vol) = pool.lookup(&name) else {
        return Ok(ReadResponse::Gone);
    };
    let mut now = object(request.prior);
    if let (Ok(info), Some(size)) = (vol.info(), request.prior.attr_str("size")) {
        let image_size = request
            .prior
            .attr("image")
            .and_then(|i| i.attr("size"))
            .and_then(Value::as_number)
            .unwrap_or(0.0) as u64;
        if let Ok(asked) = parse_size(size) {
            let wanted = asked.max(image_size).max(1 << 20);
            if !capacity_matches(wanted, info.capacity) {
                now.insert("size".into(), Value::String(format!("{}B", info.capacity)));
            }
        }
    }
    Ok(ReadResponse::Found(Value::Map(now)))
}

pub fn delete(connections: &Connections, request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
    let site = connections.get(&Host::of(request.prior))?;
    let snapshot_first = request
        .prior
        .attr("snapshot_on_destroy")
        .and_then(Value::as_bool)
        == Some(true)
        && stored::store_of(request.prior).is_some()
        && !request.id.is_empty();
    if snapshot_first {
        stored::snapshot(&site, request.prior, &request.target, request.id).map_err(|e| {
            ProviderError::new(format!(
                "snapshotting before destroying (snapshot_on_destroy), so it is kept: {}",
                e.message
            ))
        })?;
    }
    let pool = pool::open(&site)?;
    let name = recorded_name(request.id, request.target.address, request.target.lineage);
    pool.delete(&name)?;
    crate::scan::pool_records(&site).remove(&name);
    Ok(())
}

/// `hive snapshot`: the volume into its store.
pub fn snapshot(
    connections: &Connections,
    request: &SnapshotRequest<'_>,
) -> Result<Snapshotted, ProviderError> {
    let site = connections.get(&Host::of(request.attributes))?;
    (request.progress)("snapshotting into its store");
    stored::snapshot(&site, request.attributes, &request.target, request.id)
}

/// The volume's name from its recorded id (its path), or, for a create that failed before
/// recording one, from its address.
fn recorded_name(id: &str, address: &InstanceAddr, lineage: &str) -> String {
    if id.is_empty() {
        volume_name(address, lineage)
    } else {
        file_name(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_address_and_lineage() {
        assert_eq!(
            volume_name(&"volume.data[\"a\"]".parse().unwrap(), "3f2c91ab-77aa-4b"),
            "data-a-3f2c91ab.qcow2"
        );
    }

    #[test]
    fn a_volume_needs_a_size_or_an_image() {
        assert!(!validate(&Value::map([("host", Value::Null)])).is_empty());
        assert!(validate(&Value::map([("size", Value::string("1GiB"))])).is_empty());
        assert!(validate(&Value::map([("size", Value::string("lots"))]))[0]
            .message
            .contains("size"));
    }
}
