//! `volume` with `driver = "lxd"`: a custom storage volume in a pool (`pool`, else the host's
//! `lxd.pool`, else `default`), attached to instances at `/mnt/NAME` (its `path`). Its id is
//! `POOL/NAME`; it carries hive's tag in `user.hive.*` keys. `size` grows in place.

use crate::api::StorageVolume;
use crate::client::{url_part, Client};
use crate::host::{self, check_daemon, default_pool, Clients};
use crate::{lx, lxd_size, stored, Tag};
use hive_sdk::addr::InstanceAddr;
use hive_sdk::problem::Problem;
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, DeleteRequest, ProviderError, ReadRequest, ReadResponse,
    SnapshotRequest, Snapshotted,
};
use hive_sdk::schema::{self, optional, Schema};
use hive_sdk::units::parse_size;
use hive_sdk::{Type, Value};
use serde_json::{json, Value as Json};

/// An LXD custom volume: every driver's, in a storage pool.
pub fn schema() -> Schema {
    let own = schema::schema(
        vec![optional("pool", Type::String)
            .replaces()
            .about("the LXD storage pool (default: the host's)")],
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
    }
    problems.extend(hive_sdk::disk::validate_stored_volume(config));
    problems
}

pub fn check_pool(client: &Client, pool: &str) -> Result<(), String> {
    match client.get::<Json>(&format!("/1.0/storage-pools/{}", url_part(pool))) {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => {
            let pools = match client.get::<Vec<String>>("/1.0/storage-pools") {
                Ok(urls) if urls.is_empty() => "none".to_string(),
                Ok(urls) => urls
                    .iter()
                    .filter_map(|p| p.rsplit('/').next())
                    .collect::<Vec<_>>()
                    .join(", "),
                Err(e) => format!("unknown; listing them failed: {}", e.message),
            };
            Err(format!(
                "LXD at {} has no storage pool named {pool:?} (it has: {pools})",
                client.label
            ))
        }
        Err(e) => Err(format!("looking up storage pool {pool}: {e}")),
    }
}

pub fn check_environment(clients: &Clients, config: &Value) -> Vec<Problem> {
    let client = match clients.get(config) {
        Ok(c) => c,
        Err(e) => return vec![host::problem_at_host(config, e.message)],
    };
    match check_daemon(&client) {
        Err(e) => vec![host::problem_at_host(config, e)],
        Ok(_) => check_pool(&client, &pool_of(config))
            .err()
            .map(|e| {
                if config.attr("pool").is_some() {
                    Problem::at("pool", e)
                } else {
                    host::problem_at_host(config, e)
                }
            })
            .into_iter()
            .collect(),
    }
}

fn pool_of(config: &Value) -> String {
    config
        .attr_str("pool")
        .map(str::to_string)
        .unwrap_or_else(|| default_pool(config))
}

/// (pool, name) of a volume id.
pub fn split_id(id: &str) -> Result<(String, String), ProviderError> {
    id.split_once('/')
        .map(|(p, n)| (p.to_string(), n.to_string()))
        .ok_or_else(|| {
            ProviderError::new(format!(
                "attach: {id:?} is not an LXD volume (attach volumes with driver = \"lxd\")"
            ))
        })
}

/// A volume's name: from its address, with the state's lineage so that two states' volumes
/// of one address do not meet in a pool (`volume.data` gives `data-1a2b3c4d`).
fn volume_name(address: &InstanceAddr, lineage: &str) -> String {
    let short: String = lineage.chars().take(8).collect();
    format!(
        "{}-{short}",
        hive_sdk::addr::backend_name(address).replace('_', "-")
    )
}

/// The instances that use the volume at `path` (its API path), by name.
pub(crate) fn users(client: &Client, path: &str) -> Result<Vec<String>, ProviderError> {
    let found: serde_json::Value = client.get(path).map_err(lx(format!("looking up {path}")))?;
    Ok(found
        .get("used_by")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .filter_map(|u| u.strip_prefix("/1.0/instances/"))
        .map(|u| u.split('?').next().unwrap_or(u).to_string())
        .collect())
}

pub(crate) fn path(pool: &str, name: &str) -> String {
    format!(
        "/1.0/storage-pools/{}/volumes/custom/{}",
        url_part(pool),
        url_part(name)
    )
}

fn get(client: &Client, pool: &str, name: &str) -> Result<Option<StorageVolume>, ProviderError> {
    client
        .get_opt(&path(pool, name))
        .map_err(lx(format!("looking up volume {name} in pool {pool}")))
}

/// (pool, name) of a recorded volume: its id, or, when its create was interrupted before
/// one was recorded, what create would have chosen.
fn recorded(prior: &Value, id: &str, address: &InstanceAddr, lineage: &str) -> (String, String) {
    split_id(id).unwrap_or_else(|_| (pool_of(prior), volume_name(address, lineage)))
}

fn size_key(config: &Value) -> Result<Option<String>, ProviderError> {
    config
        .attr_str("size")
        .map(|s| {
            parse_size(s)
                .map(lxd_size)
                .map_err(|e| ProviderError::new(format!("size: {e}")))
        })
        .transpose()
}

fn state_of(
    config: &Value,
    pool: &str,
    name: &str,
    restored_from: Option<String>,
) -> ApplyResponse {
    let id = format!("{pool}/{name}");
    let mut state = config.as_map().cloned().unwrap_or_default();
    state.insert(
        "restored_from".into(),
        restored_from.map_or(Value::Null, Value::String),
    );
    state.insert("id".into(), Value::string(&id));
    state.insert("path".into(), Value::string(format!("/mnt/{name}")));
    ApplyResponse {
        state: Value::Map(state),
        id,
    }
}

pub fn create(
    clients: &Clients,
    request: &ApplyRequest<'_>,
) -> Result<ApplyResponse, ProviderError> {
    let config = request.config;
    let target = &request.target;
    let client = clients.get(config)?;
    let pool = pool_of(config);
    let name = volume_name(target.address, target.lineage);
    let tag = Tag::of_target(target, "ready");
    if let Some(existing) = get(&client, &pool, &name)? {
        return match Tag::of(&existing.config) {
            // Made by an apply that crashed before recording it.
            Some(t) if t.lineage == tag.lineage && t.address == tag.address => {
                update(clients, request)
            }
            _ => Err(ProviderError::new(format!(
                "an LXD volume named {name} already exists in pool {pool} and is not this one's; give the volume another address"
            ))),
        };
    }
    let mut keys = tag.config();
    if let Some(size) = size_key(config)? {
        keys.insert("size".into(), size);
    }
    if let Some(location) = stored::restore(&client, config, target, &pool, &name)? {
        // The backup carries the tags of the volume it was taken of: this one's replace them.
        client
            .json(
                "PATCH",
                &path(&pool, &name),
                Some(&json!({ "config": keys })),
            )
            .map_err(lx(format!("tagging restored volume {name} in pool {pool}")))?;
        return Ok(state_of(config, &pool, &name, Some(location)));
    }
    let body =
        json!({"name": name, "type": "custom", "content_type": "filesystem", "config": keys});
    client
        .json(
            "POST",
            &format!("/1.0/storage-pools/{}/volumes/custom", url_part(&pool)),
            Some(&body),
        )
        .map_err(lx(format!("creating volume {name} in pool {pool}")))?;
    Ok(state_of(config, &pool, &name, None))
}

pub fn update(
    clients: &Clients,
    request: &ApplyRequest<'_>,
) -> Result<ApplyResponse, ProviderError> {
    let config = request.config;
    let client = clients.get(config)?;
    let prior_id = request
        .prior
        .and_then(|p| p.attr_str("id"))
        .unwrap_or_default();
    let (pool, name) = recorded(
        config,
        prior_id,
        request.target.address,
        request.target.lineage,
    );
    if let Some(size) = size_key(config)? {
        client
            .json(
                "PATCH",
                &path(&pool, &name),
                Some(&json!({"config": {"size": size}})),
            )
            .map_err(lx(format!("resizing volume {name} in pool {pool}")))?;
    }
    let restored_from = request
        .prior
        .and_then(|p| p.attr_str("restored_from"))
        .map(str::to_string);
    Ok(state_of(config, &pool, &name, restored_from))
}

pub fn read(clients: &Clients, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
    let client = clients.get(request.prior)?;
    let target = &request.target;
    let (pool, name) = recorded(request.prior, request.id, target.address, target.lineage);
    match get(&client, &pool, &name)? {
        Some(v) if Tag::of(&v.config).is_some_and(|t| t.lineage == target.lineage) => {
            let mut now = request.prior.as_map().cloned().unwrap_or_default();
            if let (Some(have), Ok(Some(want))) = (v.config.get("size"), size_key(request.prior)) {
                if parse_size(have).ok() != parse_size(&want).ok() {
                    now.insert("size".into(), Value::string(have));
                }
            }
            Ok(ReadResponse::Found(Value::Map(now)))
        }
        _ => Ok(ReadResponse::Gone),
    }
}

pub fn delete(clients: &Clients, request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
    let client = clients.get(request.prior)?;
    let target = &request.target;
    let (pool, name) = recorded(request.prior, request.id, target.address, target.lineage);
    match get(&client, &pool, &name)? {
        Some(v) if Tag::of(&v.config).is_some_and(|t| t.lineage == target.lineage) => {
            let snapshot_first = request
                .prior
                .attr("snapshot_on_destroy")
                .and_then(Value::as_bool)
                == Some(true)
                && stored::store_of(request.prior).is_some();
            if snapshot_first {
                stored::snapshot(&client, request.prior, target, &pool, &name).map_err(|e| {
                    ProviderError::new(format!(
                        "snapshotting before destroying (snapshot_on_destroy), so it is kept: {}",
                        e.message
                    ))
                })?;
            }
            client
                .delete(&path(&pool, &name))
                .map_err(lx(format!("deleting volume {name} in pool {pool}")))
        }
        _ => Ok(()),
    }
}

/// `hive snapshot`: the volume into its store.
pub fn snapshot(
    clients: &Clients,
    request: &SnapshotRequest<'_>,
) -> Result<Snapshotted, ProviderError> {
    let client = clients.get(request.attributes)?;
    let target = &request.target;
    let (pool, name) = recorded(
        request.attributes,
        request.id,
        target.address,
        target.lineage,
    );
    (request.progress)("snapshotting into its store");
    stored::snapshot(&client, request.attributes, target, &pool, &name)
}
