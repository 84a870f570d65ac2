//! hive's storage pool on a host: a `dir` pool named `hive` holding cached images, volumes,
//! root-disk overlays and seed ISOs. Every operation on it holds the site's pool lock.
//!
//! Files are made on this machine (downloads, seed ISOs) and placed in the pool: renamed in
//! on this machine, copied (resumably, checked by digest) to a remote host.

use crate::host::{data_dir, Site};
use crate::{lv, xml};
use hive_sdk::host_files::HostFiles;
use hive_sdk::provider::ProviderError;
use std::path::{Path, PathBuf};
use std::sync::{Arc, MutexGuard};
use virt::storage_pool::StoragePool;
use virt::storage_vol::StorageVol;

pub const POOL_NAME: &str = "hive";

/// A fresh path on this machine for a file being built (a download, a seed ISO), outside
/// the pool so its refreshes never see it half-written, on the same file system as a local
/// pool so it can be renamed in.
pub fn temp_path(hint: &str) -> Result<PathBuf, ProviderError> {
    let dir = data_dir().join("tmp");
    std::fs::create_dir_all(&dir)
        .map_err(|e| ProviderError::new(format!("creating {}: {e}", dir.display())))?;
    Ok(dir.join(format!(
        "{hint}-{}-{}",
        std::process::id(),
        hive_sdk::provider::random_id()?
    )))
}

/// The pool, defined and started if need be, with the lock held.
pub struct Pool<'s> {
    pub pool: StoragePool,
    pub dir: PathBuf,
    /// hive's directory on the host (the pool's parent by default).
    pub data_dir: PathBuf,
    pub files: Arc<dyn HostFiles>,
    _guard: MutexGuard<'s, ()>,
    _across_processes: Option<FileLock>,
}

/// An exclusive `flock` on a file, released when dropped (or when the process dies): other
/// hive processes on this machine (parallel CI jobs) use the same pool.
struct FileLock(#[allow(dead_code)] std::fs::File);

impl FileLock {
    fn take(path: &Path) -> Result<FileLock, ProviderError> {
        use std::os::fd::AsRawFd;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| ProviderError::new(format!("creating {}: {e}", dir.display())))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| ProviderError::new(format!("opening {}: {e}", path.display())))?;
        // SAFETY: flock on a descriptor this function owns; blocking is what we want.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(ProviderError::new(format!(
                "locking {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            )));
        }
        Ok(FileLock(file))
    }
}

pub fn open(site: &Site) -> Result<Pool<'_>, ProviderError> {
    let guard = site
        .pool_lock
        .lock()
        .map_err(|_| ProviderError::new("storage pool lock poisoned"))?;
    // Other hive processes on a remote host are not waited for: a lock there would need a
    // process held open on it for as long as this one.
    let across_processes = if site.files.is_local() {
        Some(FileLock::take(&data_dir().join("pool.lock"))?)
    } else {
        None
    };
    let dir = site.data_dir.join("pool");
    let pool = match site.conn.lookup_storage_pool_by_name(POOL_NAME) {
        Ok(p) => p,
        Err(_) => {
            site.files
                .create_dir_all(&dir)
                .map_err(|e| ProviderError::new(format!("creating hive's pool directory: {e}")))?;
            let xml = xml::pool_xml(POOL_NAME, &dir.to_string_lossy());
            match site.conn.define_storage_pool_xml(&xml, 0) {
                Ok(p) => {
                    let _ = p.set_autostart(true);
                    p
                }
                // Defined meanwhile by another process.
                Err(e) => site
                    .conn
                    .lookup_storage_pool_by_name(POOL_NAME)
                    .map_err(|_| e)
                    .map_err(lv(format!("defining storage pool {POOL_NAME}")))?,
            }
        }
    };
    if !pool.is_active().unwrap_or(false) {
        if let Err(e) = pool.create(0) {
            if !pool.is_active().unwrap_or(false) {
                return Err(lv(format!("starting storage pool {POOL_NAME}"))(e));
            }
        }
    }
    let dir = pool_path(&pool).unwrap_or(dir);
    Ok(Pool {
        pool,
        dir,
        data_dir: site.data_dir.clone(),
        files: site.files.clone(),
        _guard: guard,
        _across_processes: across_processes,
    })
}

/// Where a file sent to a remote host waits to be renamed into its pool: beside the pool,
/// outside it, so a refresh never lists a half-sent file; named by content, so an
/// interrupted copy is picked up again by the next run.
fn sent_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("tmp").join(name)
}

/// Sends a file of this machine to the host ahead of [`Pool::adopt_file`], without the pool
/// lock (a big image would hold up every other step on the host): nothing for a local host.
/// `digest` is the file's SHA-256 when known (it is computed otherwise).
pub fn send(
    site: &Site,
    temp: &Path,
    name: &str,
    digest: Option<&str>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), ProviderError> {
    if site.files.is_local() {
        return Ok(());
    }
    put(&*site.files, &site.data_dir, temp, name, digest, progress)
}

fn put(
    files: &dyn HostFiles,
    data_dir: &Path,
    temp: &Path,
    name: &str,
    digest: Option<&str>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), ProviderError> {
    let digest = match digest {
        Some(d) => d.to_string(),
        None => hive_sdk::host_files::LocalFiles
            .sha256(temp)
            .map_err(ProviderError::new)?,
    };
    let to = sent_path(data_dir, name);
    let mut last = std::time::Instant::now();
    files
        .put(temp, &to, &digest, &mut |done, total| {
            if last.elapsed() >= std::time::Duration::from_secs(1) || done == total {
                last = std::time::Instant::now();
                progress(&format!(
                    "copying {name} to the host: {} of {} MiB",
                    done >> 20,
                    total >> 20
                ));
            }
        })
        .map_err(|e| ProviderError::new(format!("copying {name} to the host: {e}")))
}

fn pool_path(pool: &StoragePool) -> Option<PathBuf> {
    let xml = pool.xml_desc(0).ok()?;
    let doc = roxmltree::Document::parse(&xml).ok()?;
    doc.descendants()
        .find(|n| n.tag_name().name() == "path")
        .and_then(|n| n.text())
        .map(PathBuf::from)
}

impl Pool<'_> {
    pub fn lookup(&self, name: &str) -> Option<StorageVol> {
        self.pool.lookup_storage_vol_by_name(name).ok()
    }

    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn create_volume(&self, xml: &str, what: &str) -> Result<StorageVol, ProviderError> {
        StorageVol::create_xml(&self.pool, xml, 0).map_err(lv(format!("creating {what}")))
    }

    /// Makes libvirt see a file that hive placed in the pool's directory itself.
    pub fn refresh(&self) -> Result<(), ProviderError> {
        self.pool
            .refresh(0)
            .map_err(lv(format!("refreshing storage pool {POOL_NAME}")))
    }

    /// Places a finished file of this machine under `name`, atomically (rename within the
    /// directory). A pool on another file system than hive's temporary files (a pool defined
    /// elsewhere) gets a copy, complete and synced under a hidden name before it takes its
    /// own. A remote pool's file was sent ahead by [`send`]: it is renamed in there.
    pub fn adopt_file(&self, temp: &Path, name: &str) -> Result<PathBuf, ProviderError> {
        let target = self.path_of(name);
        if !self.files.is_local() {
            let sent = sent_path(&self.data_dir, name);
            if !self.files.exists(&sent) {
                put(&*self.files, &self.data_dir, temp, name, None, &|_| {})?;
            }
            self.files
                .rename(&sent, &target)
                .map_err(|e| ProviderError::new(format!("placing {name} in the pool: {e}")))?;
            let _ = std::fs::remove_file(temp);
            self.refresh()?;
            return Ok(target);
        }
        let failed = |e: std::io::Error| {
            ProviderError::new(format!("moving {} into the pool: {e}", temp.display()))
        };
        match std::fs::rename(temp, &target) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                let part = self.dir.join(format!(".{name}.part"));
                let copied = std::fs::copy(temp, &part)
                    .and_then(|_| std::fs::File::open(&part)?.sync_all())
                    .and_then(|()| std::fs::rename(&part, &target));
                let _ = std::fs::remove_file(temp);
                if let Err(e) = copied {
                    let _ = std::fs::remove_file(&part);
                    return Err(failed(e));
                }
            }
            Err(e) => return Err(failed(e)),
        }
        self.refresh()?;
        Ok(target)
    }

    pub fn exists(&self, name: &str) -> bool {
        self.files.exists(&self.path_of(name))
    }

    pub fn delete(&self, name: &str) -> Result<(), ProviderError> {
        if let Some(vol) = self.lookup(name) {
            vol.delete(0)
                .map_err(lv(format!("deleting volume {name} from pool {POOL_NAME}")))?;
        } else {
            self.files
                .remove(&self.path_of(name))
                .map_err(|e| ProviderError::new(format!("deleting {name} from the pool: {e}")))?;
        }
        Ok(())
    }

    pub fn names(&self) -> Result<Vec<String>, ProviderError> {
        self.pool
            .list_volumes()
            .map_err(lv(format!("listing the volumes of pool {POOL_NAME}")))
    }

    /// Paths other volumes use as backing files.
    pub fn backing_paths(&self) -> Result<Vec<String>, ProviderError> {
        Ok(self
            .names()?
            .iter()
            .filter_map(|n| self.lookup(n))
            .filter_map(|v| v.xml_desc(0).ok())
            .filter_map(|x| xml::backing_path(&x))
            .collect())
    }
}
