//! Volumes kept in a `store`: the store holds the durable copy, the pool a working copy.
//!
//! A snapshot is the volume's qcow2 file cut into fixed 4 MiB chunks (a guest's write
//! changes the clusters it touches and the tables that map them, so only those chunks are
//! sent). It is crash-consistent: every running guest with the volume attached is paused
//! while the file is copied beside the pool (QEMU drains and flushes its disk writes when it
//! pauses; the copy is a reflink where the file system has them) and resumed after, whatever
//! happened; the copy is then sent. The store is reached from the machine running hive, so a
//! remote host's copy is fetched here first, and a restore is sent to the host. A restore writes the latest snapshot beside the pool,
//! checked chunk by chunk and whole, and moves it in only when it is complete.

use crate::host::Site;
use crate::{lv, pool, xml};
use hive_s3::chunks::Chunking;
use hive_s3::store::{owner_tags, volume_store, Store};
use hive_sdk::disk::keep_snapshots_of;
use hive_sdk::exec::Exec;
use hive_sdk::provider::{ProviderError, Snapshotted, Target};
use hive_sdk::scratch::Scratch;
use hive_sdk::Value;
use std::path::{Path, PathBuf};

pub use hive_sdk::disk::store_of;

/// Restores the latest snapshot of the volume into the pool as `name`: its path and the
/// snapshot's location, or `None` when the store has none (the volume starts blank).
pub fn restore(
    site: &Site,
    config: &Value,
    target: &Target<'_>,
    name: &str,
) -> Result<Option<(PathBuf, String)>, ProviderError> {
    if store_of(config).is_none() {
        return Ok(None);
    }
    let (store, key) = volume_store(config, target.address).map_err(ProviderError::new)?;
    let temp = pool::temp_path("restore")?;
    let restored = restore_into(&store, &key, &temp);
    let location = match restored {
        Ok(Some(location)) => location,
        other => {
            let _ = std::fs::remove_file(&temp);
            return other.map(|_| None);
        }
    };
    // A snapshot is a volume's own data: one naming a backing file (anyone who can write to
    // the bucket could make one) would give the guest another file of the host.
    let refused = if !hive_sdk::disk::is_qcow2(&temp) {
        Some("the snapshot is not a qcow2 volume")
    } else if hive_sdk::disk::qcow2_has_backing_file(&temp) {
        Some("the snapshot names a backing file, which a stored volume never has")
    } else {
        None
    };
    if let Some(why) = refused {
        let _ = std::fs::remove_file(&temp);
        return Err(ProviderError::new(format!(
            "restoring {} from {location}: {why}",
            target.address
        )));
    }
    let pool = pool::open(site)?;
    pool.delete(name)?;
    let path = pool.adopt_file(&temp, name)?;
    Ok(Some((path, location)))
}

fn restore_into(store: &Store, key: &str, temp: &Path) -> Result<Option<String>, ProviderError> {
    let local = |e: std::io::Error| ProviderError::new(format!("writing {}: {e}", temp.display()));
    let mut file = std::fs::File::create(temp).map_err(local)?;
    let restored = store
        .restore_latest(key, &mut file)
        .map_err(|e| ProviderError::new(e.to_string()))?;
    file.sync_all().map_err(local)?;
    Ok(restored.map(|(_, location)| location))
}

/// Snapshots the volume at `path` into its store.
pub fn snapshot(
    site: &Site,
    attributes: &Value,
    target: &Target<'_>,
    path: &str,
) -> Result<Snapshotted, ProviderError> {
    let (store, key) = volume_store(attributes, target.address).map_err(ProviderError::new)?;
    let paused = pause_users(site, path)?;
    let names: Vec<String> = paused.iter().filter_map(|d| d.name().ok()).collect();
    // A guest is paused only while its disk is copied beside the pool on its host (a reflink
    // where the file system has them), not for the whole upload.
    let still = if paused.is_empty() {
        Ok(None)
    } else {
        copy_on_host(site, path).map(Some)
    };
    let resumed = resume(paused, path);
    let still = still?;
    resumed?;
    let read_from = still.as_ref().map_or(Path::new(path), |c| c.path.as_path());
    // The store is reached from this machine: a remote host's file comes here first.
    let fetched = if site.files.is_local() {
        None
    } else {
        let fetched = Scratch(pool::temp_path("snapshot")?);
        site.files
            .get(read_from, &fetched.0)
            .map_err(|e| ProviderError::new(format!("fetching {path} to snapshot it: {e}")))?;
        Some(fetched)
    };
    let read_from = fetched.as_ref().map_or(read_from, |f| f.0.as_path());
    let consistency = if names.is_empty() {
        "no running guest has it attached".to_string()
    } else {
        format!("read with its guests paused: {}", names.join(", "))
    };
    let file = std::fs::File::open(read_from)
        .map_err(|e| ProviderError::new(format!("reading {}: {e}", read_from.display())))?;
    store
        .snapshot(
            &key,
            std::io::BufReader::with_capacity(1 << 20, file),
            Chunking::Fixed,
            owner_tags(&hive_sdk::tag::Tag::of(target)),
            keep_snapshots_of(attributes),
            &consistency,
        )
        .map_err(|e| ProviderError::new(e.to_string()))
}

/// A copy of a file on its host, removed from there when dropped.
struct HostCopy<'s> {
    site: &'s Site,
    path: PathBuf,
}

impl Drop for HostCopy<'_> {
    fn drop(&mut self) {
        let _ = self.site.files.remove(&self.path);
    }
}

/// Copies the volume at `path` beside the pool on its host, while its guests are paused.
fn copy_on_host<'s>(site: &'s Site, path: &str) -> Result<HostCopy<'s>, ProviderError> {
    let failed = |e: String| ProviderError::new(format!("copying {path} to snapshot it: {e}"));
    let Some(ssh) = &site.ssh else {
        let copy = HostCopy {
            site,
            path: pool::temp_path("snapshot")?,
        };
        std::fs::copy(path, &copy.path).map_err(|e| failed(e.to_string()))?;
        return Ok(copy);
    };
    let dir = site.data_dir.join("tmp");
    site.files.create_dir_all(&dir).map_err(failed)?;
    let copy = HostCopy {
        site,
        path: dir.join(format!("snapshot-{}", hive_sdk::provider::random_id()?)),
    };
    ssh.check(
        &[
            "cp",
            "--reflink=auto",
            "--",
            path,
            &copy.path.to_string_lossy(),
        ],
        None,
    )
    .map_err(failed)?;
    Ok(copy)
}

/// Pauses every running domain that has `path` attached: the ones this call paused.
fn pause_users(site: &Site, path: &str) -> Result<Vec<virt::domain::Domain>, ProviderError> {
    let mut paused = Vec::new();
    // VIR_CONNECT_LIST_DOMAINS_RUNNING: paused ones are already still. A guest that cannot
    // be looked at may be writing: the snapshot is not taken.
    let domains = site
        .conn
        .list_all_domains(16)
        .map_err(lv(format!("listing the guests that may use {path}")))?;
    for domain in domains {
        let live = match domain.xml_desc(0) {
            Ok(live) => live,
            Err(e) => {
                let name = domain.name().unwrap_or_default();
                let error = lv(format!("reading the disks of {name}"))(e);
                let _ = resume(paused, path);
                return Err(error);
            }
        };
        if xml::disk_target_of(&live, path).is_none() {
            continue;
        }
        let name = domain.name().unwrap_or_default();
        if let Err(e) = domain.suspend() {
            let error = lv(format!("pausing {name} to snapshot {path}"))(e);
            let _ = resume(paused, path);
            return Err(error);
        }
        paused.push(domain);
    }
    Ok(paused)
}

fn resume(paused: Vec<virt::domain::Domain>, path: &str) -> Result<(), ProviderError> {
    let mut first_error = None;
    for domain in paused {
        let name = domain.name().unwrap_or_default();
        if let Err(e) = domain.resume() {
            first_error.get_or_insert(lv(format!("resuming {name} after snapshotting {path}"))(e));
        }
    }
    first_error.map_or(Ok(()), Err)
}
