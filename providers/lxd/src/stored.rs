//! LXD custom volumes kept in a `store`, through LXD's own backup export and import.
//!
//! A snapshot is the volume's backup tarball, uncompressed (so that an unchanged file is the
//! same bytes in the next one), cut where its content says (a file added or grown shifts
//! every byte after it; content-defined chunks find the unchanged ones again). The running
//! instances that use the volume are frozen while LXD makes the backup and thawed at once
//! after, whatever happened; the tarball is then read from LXD's copy. A restore imports the
//! latest snapshot as the new volume.

use crate::client::{url_part, Body, Client};
use crate::lx;
use hive_s3::chunks::Chunking;
use hive_s3::store::{owner_tags, volume_store};
use hive_sdk::disk::keep_snapshots_of;
use hive_sdk::provider::{ProviderError, Snapshotted, Target};
use hive_sdk::scratch::Scratch;
use hive_sdk::Value;
use serde_json::{json, Value as Json};
use std::time::Duration;

/// LXD's backups and imports of large volumes take a while.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(3600);

pub use hive_sdk::disk::store_of;

/// Imports the latest snapshot of the volume as `name` in `pool`: the snapshot's location,
/// or `None` when the store has none (the volume is then made blank).
pub fn restore(
    client: &Client,
    config: &Value,
    target: &Target<'_>,
    pool: &str,
    name: &str,
) -> Result<Option<String>, ProviderError> {
    if store_of(config).is_none() {
        return Ok(None);
    }
    let (store, key) = volume_store(config, target.address).map_err(ProviderError::new)?;
    let scratch = Scratch::new("restore", "tar")?;
    let local =
        |e: std::io::Error| ProviderError::new(format!("writing {}: {e}", scratch.0.display()));
    let mut file = std::fs::File::create(&scratch.0).map_err(local)?;
    let Some((_, location)) = store
        .restore_latest(&key, &mut file)
        .map_err(|e| ProviderError::new(e.to_string()))?
    else {
        return Ok(None);
    };
    file.sync_all().map_err(local)?;
    drop(file);
    client
        .send(
            "POST",
            &format!("/1.0/storage-pools/{}/volumes/custom", url_part(pool)),
            &Body::File(&scratch.0),
            &[("X-LXD-name", name.to_string())],
            TRANSFER_TIMEOUT,
            None,
        )
        .map_err(lx(format!(
            "importing volume {name} into pool {pool} from {location}"
        )))?;
    Ok(Some(location))
}

/// Snapshots the volume `name` of `pool` into its store.
pub fn snapshot(
    client: &Client,
    attributes: &Value,
    target: &Target<'_>,
    pool: &str,
    name: &str,
) -> Result<Snapshotted, ProviderError> {
    let (store, key) = volume_store(attributes, target.address).map_err(ProviderError::new)?;
    let volume = format!(
        "/1.0/storage-pools/{}/volumes/custom/{}",
        url_part(pool),
        url_part(name)
    );
    let backup = format!("hive-{}", hive_sdk::provider::random_id()?);
    let scratch = Scratch::new("backup", "tar")?;
    let frozen = freeze_users(client, &volume)?;
    let made = client
        .send(
            "POST",
            &format!("{volume}/backups"),
            &Body::Json(&json!({
                "name": backup,
                "volume_only": true,
                "optimized_storage": false,
                "compression_algorithm": "none",
            })),
            &[],
            TRANSFER_TIMEOUT,
            None,
        )
        .map_err(lx(format!("backing up volume {name} of pool {pool}")));
    let thawed = thaw(client, &frozen);
    // The backup is a whole copy of the volume on the LXD host: it goes whatever happens.
    let exported = made.and_then(|_| {
        client
            .get_to_file(&format!("{volume}/backups/{backup}/export"), &scratch.0)
            .map_err(lx(format!("exporting the backup of volume {name}")))
    });
    let _ = client.delete(&format!("{volume}/backups/{backup}"));
    thawed?;
    exported?;
    let consistency = if frozen.is_empty() {
        "no running instance uses it".to_string()
    } else {
        format!("backed up with its instances frozen: {}", frozen.join(", "))
    };
    let file = std::fs::File::open(&scratch.0)
        .map_err(|e| ProviderError::new(format!("reading {}: {e}", scratch.0.display())))?;
    store
        .snapshot(
            &key,
            std::io::BufReader::with_capacity(1 << 20, file),
            Chunking::ContentDefined,
            owner_tags(&hive_sdk::tag::Tag::of(target)),
            keep_snapshots_of(attributes),
            &consistency,
        )
        .map_err(|e| ProviderError::new(e.to_string()))
}

/// Freezes the running instances that use the volume: the ones this call froze.
fn freeze_users(client: &Client, volume: &str) -> Result<Vec<String>, ProviderError> {
    let users = crate::volume::users(client, volume)?;
    let mut frozen = Vec::new();
    for user in users {
        let running = client
            .get::<Json>(&format!("/1.0/instances/{}/state", url_part(&user)))
            .map_err(lx(format!("reading the state of instance {user}")))
            .map(|state| state.get("status").and_then(Json::as_str) == Some("Running"));
        let froze = match running {
            Ok(false) => continue,
            Ok(true) => change_state(client, &user, "freeze"),
            Err(e) => Err(e),
        };
        if let Err(e) = froze {
            let _ = thaw(client, &frozen);
            return Err(e);
        }
        frozen.push(user);
    }
    Ok(frozen)
}

fn thaw(client: &Client, frozen: &[String]) -> Result<(), ProviderError> {
    let mut first_error = None;
    for name in frozen {
        if let Err(e) = change_state(client, name, "unfreeze") {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn change_state(client: &Client, name: &str, action: &str) -> Result<(), ProviderError> {
    client
        .json(
            "PUT",
            &format!("/1.0/instances/{}/state", url_part(name)),
            Some(&json!({"action": action, "timeout": 30})),
        )
        .map(|_| ())
        .map_err(lx(format!("{action} of instance {name}")))
}
