//! `hive checkpoint` for containers.

use crate::host::Clients;
use hive_sdk::provider::{CheckpointAction, CheckpointRequest, ProviderError};

/// `hive checkpoint` for a container: an LXD snapshot `hive-NAME` of its root disk (not of
/// its memory: CRIU is not there); a restore puts the disk back and the container in the
/// power state it had.
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
    let base = format!("/1.0/instances/{}", crate::client::url_part(name));
    let lxd = |doing: &str| {
        let what = format!("{doing} {snapshot} of {name}");
        move |e: crate::client::LxdError| ProviderError::new(format!("{what}: {}", e.message))
    };
    match request.action {
        CheckpointAction::Save => {
            let body = serde_json::json!({ "name": snapshot, "stateful": false });
            client
                .json("POST", &format!("{base}/snapshots"), Some(&body))
                .map_err(lxd("saving snapshot"))?;
        }
        CheckpointAction::Restore => {
            let body = serde_json::json!({ "restore": snapshot });
            client
                .json("PUT", &base, Some(&body))
                .map_err(lxd("restoring snapshot"))?;
        }
        CheckpointAction::Delete => {
            client
                .delete(&format!(
                    "{base}/snapshots/{}",
                    crate::client::url_part(&snapshot)
                ))
                .map_err(lxd("deleting snapshot"))?;
        }
    }
    Ok("disk (LXD snapshot; memory is not kept without CRIU)".into())
}
