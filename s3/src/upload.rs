//! Large files in and out of a bucket: uploads in parts that survive an interruption (what
//! was sent is recorded in a progress file beside the source, so the next try sends only the
//! parts that are missing), and downloads checked against a SHA-256 before they are used.

use crate::bucket::{Bucket, S3Error, S3ErrorKind};
use crate::chunks::hex;
use futures::StreamExt;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as Key;
use object_store::{ObjectStore, PutPayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Parts of 16 MiB (S3 wants at least 5 MiB but for the last).
pub const PART_SIZE: u64 = 16 << 20;
/// Parts sent at once.
const IN_FLIGHT: usize = 4;

/// What an interrupted upload had sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Progress {
    key: String,
    upload_id: String,
    size: u64,
    sha256: String,
    part_size: u64,
    /// The servers' ids of the parts sent, in order.
    parts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Uploaded {
    pub size: u64,
    pub bytes_sent: u64,
    /// The object was there already (content-addressed: the same bytes).
    pub already_there: bool,
    /// Parts an earlier, interrupted try had sent.
    pub parts_resumed: usize,
}

/// The SHA-256 of a file, as hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut block)?;
        if n == 0 {
            break;
        }
        hasher.update(&block[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn local(doing: &str, path: &Path, e: std::io::Error) -> S3Error {
    S3Error::new(
        S3ErrorKind::Other,
        doing,
        format!("{}: {e}", path.display()),
    )
}

impl Bucket {
    /// Whether there is an object at `key`.
    pub fn exists(&self, key: &str) -> Result<bool, S3Error> {
        let key = key.to_string();
        self.block(move |b| async move { b.head_async(&key).await.map(|s| s.is_some()) })
    }

    /// The size of the object at `key`, if there is one.
    pub async fn head_async(&self, key: &str) -> Result<Option<u64>, S3Error> {
        match self.store().head(&Key::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(e) => {
                let error = S3Error::from_store(format!("looking at {}", self.url_of(key)), e);
                match error.kind {
                    S3ErrorKind::NotFound => Ok(None),
                    _ => Err(error),
                }
            }
        }
    }

    /// Uploads `file` (whose SHA-256 is `sha256`) to `key` in parts of `part_size`, unless an
    /// object of its size is there already. What was sent is kept in `progress` until the
    /// upload completes, so an interrupted upload resumes where it stopped.
    pub fn upload_file(
        &self,
        file: &Path,
        key: &str,
        sha256: &str,
        part_size: u64,
        progress: &Path,
    ) -> Result<Uploaded, S3Error> {
        let (file, key, sha256, progress) = (
            file.to_path_buf(),
            key.to_string(),
            sha256.to_string(),
            progress.to_path_buf(),
        );
        self.block(move |b| async move {
            b.upload_async(&file, &key, &sha256, part_size.max(5 << 20), &progress)
                .await
        })
    }

    async fn upload_async(
        &self,
        path: &Path,
        key: &str,
        sha256: &str,
        part_size: u64,
        progress_file: &Path,
    ) -> Result<Uploaded, S3Error> {
        let doing = format!("uploading {} to {}", path.display(), self.url_of(key));
        let size = std::fs::metadata(path)
            .map_err(|e| local(&doing, path, e))?
            .len();
        if self.head_async(key).await? == Some(size) {
            let _ = std::fs::remove_file(progress_file);
            return Ok(Uploaded {
                size,
                bytes_sent: 0,
                already_there: true,
                parts_resumed: 0,
            });
        }
        let store = self.store();
        let target = Key::from(key);
        let earlier = std::fs::read(progress_file)
            .ok()
            .and_then(|b| serde_json::from_slice::<Progress>(&b).ok())
            .filter(|p| {
                p.key == key && p.size == size && p.sha256 == sha256 && p.part_size == part_size
            });
        let mut progress = match earlier {
            Some(p) => p,
            None => {
                let upload_id = store
                    .create_multipart(&target)
                    .await
                    .map_err(|e| S3Error::from_store(doing.clone(), e))?;
                Progress {
                    key: key.to_string(),
                    upload_id,
                    size,
                    sha256: sha256.to_string(),
                    part_size,
                    parts: Vec::new(),
                }
            }
        };
        save(progress_file, &progress).map_err(|e| local(&doing, progress_file, e))?;
        let parts_resumed = progress.parts.len();
        let count = size.div_ceil(part_size).max(1);
        let mut bytes_sent = 0;
        // Parts go up four at a time; they are recorded in order as they finish.
        let sends = futures::stream::iter(progress.parts.len() as u64..count)
            .map(|index| {
                let (store, target, upload_id, doing) = (
                    store.clone(),
                    target.clone(),
                    progress.upload_id.clone(),
                    doing.clone(),
                );
                async move {
                    let offset = index * part_size;
                    let len = part_size.min(size - offset);
                    let mut part = vec![0u8; len as usize];
                    std::fs::File::open(path)
                        .and_then(|mut file| {
                            file.seek(SeekFrom::Start(offset))?;
                            file.read_exact(&mut part)
                        })
                        .map_err(|e| local(&doing, path, e))?;
                    store
                        .put_part(&target, &upload_id, index as usize, PutPayload::from(part))
                        .await
                        .map(|id| (id, len))
                        .map_err(|e| S3Error::from_store(doing, e))
                }
            })
            .buffered(IN_FLIGHT);
        futures::pin_mut!(sends);
        while let Some(sent) = sends.next().await {
            let (id, len) = match sent {
                Ok(sent) => sent,
                Err(error) => {
                    if error.message.contains("NoSuchUpload") {
                        // The server forgot the upload (aborted, or expired): start anew.
                        let _ = std::fs::remove_file(progress_file);
                    }
                    return Err(error);
                }
            };
            progress.parts.push(id.content_id);
            bytes_sent += len;
            save(progress_file, &progress).map_err(|e| local(&doing, progress_file, e))?;
        }
        let parts = progress
            .parts
            .iter()
            .map(|content_id| PartId {
                content_id: content_id.clone(),
            })
            .collect();
        store
            .complete_multipart(&target, &progress.upload_id, parts)
            .await
            .map_err(|e| S3Error::from_store(doing.clone(), e))?;
        let _ = std::fs::remove_file(progress_file);
        Ok(Uploaded {
            size,
            bytes_sent,
            already_there: false,
            parts_resumed,
        })
    }

    /// Downloads `key` to `dest`, checked against `sha256`: a file that does not match is
    /// removed, never left where a cache would use it.
    pub fn download_verified(&self, key: &str, sha256: &str, dest: &Path) -> Result<u64, S3Error> {
        self.download(key, Some(sha256), dest).map(|(size, _)| size)
    }

    /// Downloads `key` to `dest` (through `dest.part`, renamed when complete): its size and
    /// SHA-256, checked against `expected` when given.
    pub fn download(
        &self,
        key: &str,
        expected: Option<&str>,
        dest: &Path,
    ) -> Result<(u64, String), S3Error> {
        let (key, expected, dest) = (
            key.to_string(),
            expected.map(str::to_lowercase),
            dest.to_path_buf(),
        );
        self.block(move |b| async move { b.download_async(&key, expected.as_deref(), &dest).await })
    }

    async fn download_async(
        &self,
        key: &str,
        expected: Option<&str>,
        dest: &Path,
    ) -> Result<(u64, String), S3Error> {
        let doing = format!("downloading {} to {}", self.url_of(key), dest.display());
        let partial = with_suffix(dest, ".part");
        let found = self
            .store()
            .get(&Key::from(key))
            .await
            .map_err(|e| S3Error::from_store(doing.clone(), e))?;
        let mut out = std::fs::File::create(&partial).map_err(|e| local(&doing, &partial, e))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut stream = found.into_stream();
        while let Some(bytes) = stream.next().await {
            let bytes = match bytes {
                Ok(b) => b,
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(S3Error::from_store(doing.clone(), e));
                }
            };
            hasher.update(&bytes);
            size += bytes.len() as u64;
            if let Err(e) = out.write_all(&bytes) {
                let _ = std::fs::remove_file(&partial);
                return Err(local(&doing, &partial, e));
            }
        }
        let digest = hex(&hasher.finalize());
        if let Some(sha256) = expected.filter(|e| *e != digest) {
            let _ = std::fs::remove_file(&partial);
            return Err(S3Error::new(
                S3ErrorKind::Damaged,
                doing,
                format!("what arrived has SHA-256 {digest}, not {sha256}; it was not kept"),
            ));
        }
        out.sync_all()
            .and_then(|()| std::fs::rename(&partial, dest))
            .map_err(|e| local(&doing, dest, e))?;
        Ok((size, digest))
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Writes the progress file whole (a temporary file renamed over it).
fn save(path: &Path, progress: &Progress) -> std::io::Result<()> {
    let tmp = with_suffix(path, ".tmp");
    let text = serde_json::to_vec_pretty(progress).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
