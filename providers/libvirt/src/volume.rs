//! `volume` (libvirt driver): a qcow2 volume in hive's pool, blank or a copy-on-write overlay
//! of an image. Growing `size` resizes it in place; shrinking replaces it (qcow2 cannot
//! shrink safely).

use crate::host::{Connections, Host};
use crate::{attr, attr_str, lv, name_from_address, object, pool, xml};
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, DeleteRequest, PlanRequest, PlanResponse, ProviderError,
    ReadRequest, ReadResponse,
};
use hive_sdk::units::parse_size;
use hive_sdk::Value;

pub fn validate(config: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(size) = attr_str(config, "size") {
        if let Err(e) = parse_size(size) {
            problems.push(format!("size: {e}"));
        }
    } else if attr(config, "image").is_none() {
        problems.push("a volume needs size, image, or both".into());
    }
    if let Some(f) = attr_str(config, "format").filter(|f| *f != "qcow2") {
        problems.push(format!(
            "format = \"{f}\": the libvirt driver makes qcow2 volumes"
        ));
    }
    problems
}

pub fn plan(request: &PlanRequest<'_>, mut proposal: PlanResponse) -> PlanResponse {
    let size = |v: &Value| attr_str(v, "size").and_then(|s| parse_size(s).ok());
    if let (Some(prior), Some(new)) = (request.prior.and_then(size), size(request.config)) {
        if new < prior && !proposal.requires_replace.iter().any(|a| a == "size") {
            proposal.requires_replace.push("size".into());
        }
    }
    proposal
}

/// The volume's file name: its address and the state's lineage, so two configurations
/// never share one, and a volume left by a crash is recognisable.
pub fn volume_name(address: &str, lineage: &str) -> String {
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
    let size = attr_str(config, "size")
        .map(parse_size)
        .transpose()
        .map_err(|e| ProviderError::new(format!("size: {e}")))?;
    let backing = attr(config, "image").map(|image| {
        (
            attr_str(image, "path").unwrap_or_default().to_string(),
            crate::image::detect_format(std::path::Path::new(
                attr_str(image, "path").unwrap_or_default(),
            )),
            attr(image, "size")
                .and_then(Value::as_number)
                .unwrap_or(0.0) as u64,
        )
    });
    let capacity = size
        .unwrap_or(0)
        .max(backing.as_ref().map_or(0, |b| b.2))
        .max(1 << 20);
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
    let mut state = object(config);
    state.insert("id".into(), Value::String(path.clone()));
    state.insert("path".into(), Value::String(path.clone()));
    Ok(ApplyResponse {
        state: Value::Map(state),
        id: path,
    })
}

pub fn update(
    connections: &Connections,
    request: &ApplyRequest<'_>,
) -> Result<ApplyResponse, ProviderError> {
    let config = request.config;
    let prior = request.prior.unwrap_or(&Value::Null);
    let site = connections.get(&Host::of(config))?;
    let path = attr_str(prior, "path").unwrap_or_default().to_string();
    if let Some(size) = attr_str(config, "size") {
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
            vol.resize(bytes, 0)
                .map_err(lv(format!("growing {path} to {size}")))?;
        }
    }
    let mut state = object(config);
    state.insert("id".into(), Value::String(path.clone()));
    state.insert("path".into(), Value::String(path.clone()));
    Ok(ApplyResponse {
        state: Value::Map(state),
        id: path,
    })
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
    let Some(vol) = pool.lookup(&file_name(request.id)) else {
        return Ok(ReadResponse::Gone);
    };
    let mut now = object(request.prior);
    if let (Ok(info), Some(size)) = (vol.info(), attr_str(request.prior, "size")) {
        if parse_size(size).is_ok_and(|want| want != info.capacity) {
            now.insert("size".into(), Value::String(format!("{}B", info.capacity)));
        }
    }
    Ok(ReadResponse::Found(Value::Map(now)))
}

pub fn delete(connections: &Connections, request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
    let site = connections.get(&Host::of(request.prior))?;
    let pool = pool::open(&site)?;
    pool.delete(&file_name(request.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_address_and_lineage() {
        assert_eq!(
            volume_name("volume.data[\"a\"]", "3f2c91ab-77aa-4b"),
            "data-a-3f2c91ab.qcow2"
        );
    }

    #[test]
    fn a_volume_needs_a_size_or_an_image() {
        assert!(!validate(&Value::map([("host", Value::Null)])).is_empty());
        assert!(validate(&Value::map([("size", Value::string("1GiB"))])).is_empty());
        assert!(validate(&Value::map([("size", Value::string("lots"))]))[0].contains("size"));
    }
}
