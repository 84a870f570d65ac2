//! The image cache of a host: the image files in hive's pool, named by kind and digest
//! (`disk-`, `qcow2-`, `raw-`, `kernel-`, `initrd-`), each used by the images that states
//! record of it (a mark per state's lineage and address, kept beside the pool) and by the volumes and
//! domains built on it. A host's `cache_limit` (default 20 GiB) bounds the cache: when a new
//! image makes it larger, the files that nothing uses (no state's mark, no volume or domain
//! on them) are removed, least recently used first. A file in use is never removed, even
//! over the limit.

use crate::pool::Pool;
use hive_sdk::host_files::HostFiles;
use hive_sdk::provider::{ProviderError, Target};
use hive_sdk::units::parse_size;
use hive_sdk::Value;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub const DEFAULT_LIMIT: u64 = 20 << 30;
const KINDS: &[&str] = &["disk-", "qcow2-", "raw-", "kernel-", "initrd-"];

/// The host's cache limit, from its `cache_limit`.
pub fn limit_of(config: &Value) -> Result<u64, ProviderError> {
    match config.attr("host").and_then(|h| h.attr_str("cache_limit")) {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => {
            parse_size(text).map_err(|e| ProviderError::new(format!("host cache_limit: {e}")))
        }
    }
}

pub fn is_cached_image(name: &str) -> bool {
    KINDS.iter().any(|k| name.starts_with(k))
}

/// Where the marks of the images using `file` of the pool in `dir` are: outside the pool,
/// which libvirt lists whole, in hive's directory on the host (`data_dir`).
fn marks_dir(data_dir: &Path, dir: &Path, file: &str) -> PathBuf {
    let pool_id: String = crate::sha256_hex(dir.to_string_lossy().as_bytes())
        .chars()
        .take(16)
        .collect();
    data_dir.join("cache-users").join(pool_id).join(file)
}

/// Who uses a cached file: an image of a state, by the state's lineage and its address.
pub fn user(target: &Target<'_>) -> String {
    let lineage: String = target
        .lineage
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let address: String = crate::sha256_hex(target.address.to_string().as_bytes())
        .chars()
        .take(16)
        .collect();
    format!("{lineage}-{address}")
}

/// Records that `user` uses the cached file at `path` (on the host whose files and hive
/// directory these are), and that it was used now.
pub fn mark_used(
    files: &dyn HostFiles,
    data_dir: &Path,
    path: &Path,
    user: &str,
) -> Result<(), ProviderError> {
    let (Some(pool_dir), Some(file)) = (path.parent(), path.file_name()) else {
        return Ok(());
    };
    let file = file.to_string_lossy();
    let dir = marks_dir(data_dir, pool_dir, &file);
    files
        .write(&dir.join(user), b"")
        .map_err(|e| ProviderError::new(format!("recording a use of {file}: {e}")))?;
    // Last use is the file's modification time: nothing else changes a cached image.
    let _ = files.touch(path);
    Ok(())
}

/// `user` no longer uses `file`; whether another image (of any state) still does.
pub fn unmark(pool: &Pool<'_>, file: &str, user: &str) -> bool {
    let dir = marks_dir(&pool.data_dir, &pool.dir, file);
    let _ = pool.files.remove(&dir.join(user));
    let others = marked(pool, file);
    if !others {
        let _ = pool.files.remove_empty_dir(&dir);
    }
    others
}

fn marked(pool: &Pool<'_>, file: &str) -> bool {
    pool.files
        .list(&marks_dir(&pool.data_dir, &pool.dir, file))
        .is_ok_and(|marks| !marks.is_empty())
}

/// What eviction did.
#[derive(Debug, Default, PartialEq)]
pub struct Evicted {
    pub files: Vec<String>,
    pub bytes: u64,
    /// Still over the limit with only files in use left.
    pub over_by: u64,
}

/// Brings the cache within `limit`, removing unused files (`in_use` are paths volumes and
/// domains use), least recently used first; `keep` (just cached) are never removed.
pub fn evict(
    pool: &Pool<'_>,
    limit: u64,
    in_use: &[String],
    keep: &[String],
) -> Result<Evicted, ProviderError> {
    let entries = pool
        .files
        .list(&pool.dir)
        .map_err(|e| ProviderError::new(format!("listing the image cache: {e}")))?;
    let mut files: Vec<(SystemTime, u64, String)> = entries
        .into_iter()
        .filter(|e| e.is_file && is_cached_image(&e.name))
        .map(|e| (e.modified, e.len, e.name))
        .collect();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    let mut evicted = Evicted::default();
    files.sort();
    for (_, size, name) in files {
        if total <= limit {
            break;
        }
        let path = pool.path_of(&name);
        let busy = keep.contains(&name)
            || marked(pool, &name)
            || in_use.iter().any(|p| Path::new(p) == path);
        if busy {
            continue;
        }
        pool.delete(&name)?;
        total -= size;
        evicted.bytes += size;
        evicted.files.push(name);
    }
    evicted.over_by = total.saturating_sub(limit);
    Ok(evicted)
}
