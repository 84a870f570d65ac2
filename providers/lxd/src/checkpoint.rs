//! `hive checkpoint` for containers.

use crate::api::Instance;
use crate::client::{url_part, Client, LxdError};
use crate::host::Clients;
use crate::instance;
use hive_sdk::provider::{CheckpointAction, CheckpointRequest, ProviderError};

/// The custom volumes attached to a container: (pool, volume).
fn attached(container: &Instance) -> Vec<(String, String)> {
    container
        .devices
        .values()
        .filter(|d| d.get("type").map(String::as_str) == Some("disk"))
        .filter(|d| d.get("path").map(String::as_str) != Some("/"))
        .filter_map(|d| {
            let source = d.get("source")?;
            // A host directory bound in is not a volume.
            if source.starts_with('/') {
                return None;
            }
            Some((d.get("pool")?.clone(), source.clone()))
        })
        .collect()
}

/// `hive checkpoint` for a container: an LXD snapshot `hive-NAME` of its root disk and of
/// each custom volume only it uses (not of its memory: CRIU is not there). A restore stops
/// it (LXD restores a volume only while no running container uses it), puts the disks back
/// and starts it again if it was running.
pub fn checkpoint(
    clients: &Clients,
    request: &CheckpointRequest<'_>,
) -> Result<String, ProviderError> {
    let attributes = request.attributes;
    let client = clients.get(attributes)?;
    let name = attributes.attr_str("name").ok_or_else(|| {
        ProviderError::new(format!(
            "{} has no LXD name recorded",
            request.target.address
        ))
    })?;
    let snapshot = format!("hive-{}", request.name);
    let base = instance::instance_path(name);
    let lxd = |doing: &str, of: &str| {
        let what = format!("{doing} {snapshot} of {of}");
        move |e: LxdError| ProviderError::new(format!("{what}: {}", e.message))
    };
    let container: Instance = client
        .get(&base)
        .map_err(lxd("reading the instance for", name))?;
    let mut volumes = Vec::new();
    let mut shared = Vec::new();
    for (pool, volume) in attached(&container) {
        let path = crate::volume::path(&pool, &volume);
        if crate::volume::users(&client, &path)?.len() > 1 {
            shared.push(volume);
        } else {
            volumes.push((volume, path));
        }
    }
    match request.action {
        CheckpointAction::Save => {
            let body = serde_json::json!({ "name": snapshot, "stateful": false });
            client
                .json("POST", &format!("{base}/snapshots"), Some(&body))
                .map_err(lxd("saving snapshot", name))?;
            for (volume, path) in &volumes {
                let body = serde_json::json!({ "name": snapshot });
                client
                    .json("POST", &format!("{path}/snapshots"), Some(&body))
                    .map_err(lxd("saving snapshot", volume))?;
            }
        }
        CheckpointAction::Restore => restore(&client, name, &snapshot, &volumes)?,
        CheckpointAction::Delete => {
            let snapshots =
                std::iter::once((name.to_string(), base.clone())).chain(volumes.iter().cloned());
            for (what, path) in snapshots {
                match client.delete(&format!("{path}/snapshots/{}", url_part(&snapshot))) {
                    Err(e) if !e.is_not_found() => {
                        return Err(lxd("deleting snapshot", &what)(e));
                    }
                    _ => {}
                }
            }
        }
    }
    let mut kept = String::from("disk");
    if !volumes.is_empty() {
        let names: Vec<&str> = volumes.iter().map(|(v, _)| v.as_str()).collect();
        kept.push_str(&format!(" and volume {}", names.join(", ")));
    }
    kept.push_str(" (LXD snapshots; memory is not kept without CRIU)");
    if !shared.is_empty() {
        kept.push_str(&format!(
            "; not volume {}, which other containers use too",
            shared.join(", ")
        ));
    }
    Ok(kept)
}

fn restore(
    client: &Client,
    name: &str,
    snapshot: &str,
    volumes: &[(String, String)],
) -> Result<(), ProviderError> {
    let failed = |of: &str| {
        let what = format!("restoring snapshot {snapshot} of {of}");
        move |e: LxdError| ProviderError::new(format!("{what}: {}", e.message))
    };
    let was_running = instance::state(client, name)?.status == "Running";
    if was_running && !volumes.is_empty() {
        instance::stop(client, name)?;
    }
    for (volume, path) in volumes {
        client
            .json(
                "PUT",
                path,
                Some(&serde_json::json!({ "restore": snapshot })),
            )
            .map_err(failed(volume))?;
    }
    client
        .json(
            "PUT",
            &instance::instance_path(name),
            Some(&serde_json::json!({ "restore": snapshot })),
        )
        .map_err(failed(name))?;
    if was_running && instance::state(client, name)?.status != "Running" {
        instance::change_state(client, name, "start", false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attached_custom_volumes_are_told_from_the_root_disk_and_host_paths() {
        let container: Instance = serde_json::from_value(serde_json::json!({
            "name": "c",
            "devices": {
                "root": {"type": "disk", "path": "/", "pool": "default"},
                "data": {"type": "disk", "path": "/mnt/data", "pool": "default", "source": "data-1"},
                "bind": {"type": "disk", "path": "/mnt/host", "source": "/srv"},
                "eth0": {"type": "nic", "network": "br"}
            }
        }))
        .expect("an instance");
        assert_eq!(
            attached(&container),
            vec![("default".to_string(), "data-1".to_string())]
        );
    }
}
