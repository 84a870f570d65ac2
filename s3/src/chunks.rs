//! Content-addressed chunks and the manifests that list them, in a bucket: what a snapshot of
//! a volume (or any stream) is. A chunk is stored once under its SHA-256, whichever snapshot
//! or volume it came from, so a snapshot uploads only the chunks the store does not have yet.
//!
//! Under the store's prefix `P`:
//! - `P/chunks/<ab>/<sha256>`: a chunk's bytes;
//! - `P/manifests/<name>/<nanoseconds>-<id>.json`: a snapshot of `name`, its chunks in order,
//!   with the whole stream's digest and hive's tags;
//! - `P/locks/writer-<id>` while a snapshot is written, `P/locks/collect` while unreferenced
//!   chunks are removed. A writer creates its lock and then looks for the collector's; the
//!   collector creates its lock and then looks for writers': one of them always sees the
//!   other, so a chunk a writer is about to refer to is never removed.
//!
//! Disk images are cut into fixed 4 MiB chunks (a change in place changes only the chunks it
//! touches); streams whose bytes shift when something changes (an LXD export) are cut where
//! their content says (a gear hash), so an insertion changes only the chunks around it.

use crate::{Bucket, Condition, Pending, S3Error, S3ErrorKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const FIXED_SIZE: usize = 4 << 20;
const CDC_MIN: usize = 256 << 10;
const CDC_MAX: usize = 4 << 20;
/// 20 bits: a cut every 1 MiB on average past the minimum.
const CDC_MASK: u64 = (1 << 20) - 1;
/// Uploads in flight at once.
const IN_FLIGHT: usize = 8;
/// A lock older than this was left by a process that is gone.
const LOCK_STALE: Duration = Duration::from_secs(3600);
/// How often a writer refreshes its lock: well within [`LOCK_STALE`].
const REFRESH_EVERY: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Chunking {
    Fixed,
    ContentDefined,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRef {
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub chunking: Chunking,
    pub chunks: Vec<ChunkRef>,
    /// hive's tags: lineage, address, state location.
    pub tags: BTreeMap<String, String>,
    /// Seconds since the epoch.
    pub created: u64,
}

/// What writing a snapshot did.
#[derive(Debug, Clone)]
pub struct Written {
    pub manifest: Manifest,
    pub key: String,
    pub chunks_sent: usize,
    pub bytes_sent: u64,
}

/// What a collection removed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Collected {
    pub chunks_removed: usize,
    pub bytes_removed: u64,
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The gear table: 256 fixed pseudo-random words (splitmix64 from a fixed seed).
const GEAR: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut state: u64 = 0x6869_7665_6364_6331;
    let mut i = 0;
    while i < 256 {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        table[i] = z ^ (z >> 31);
        i += 1;
    }
    table
};

/// Cuts a stream into chunks.
pub struct Chunker<R> {
    reader: R,
    chunking: Chunking,
    buffer: Vec<u8>,
    done: bool,
}

impl<R: Read> Chunker<R> {
    pub fn new(reader: R, chunking: Chunking) -> Chunker<R> {
        Chunker {
            reader,
            chunking,
            buffer: Vec::new(),
            done: false,
        }
    }

    /// Reads until the buffer holds `want` bytes or the stream ends.
    fn fill(&mut self, want: usize) -> std::io::Result<()> {
        let mut block = vec![0u8; 1 << 16];
        while !self.done && self.buffer.len() < want {
            let n = self.reader.read(&mut block)?;
            if n == 0 {
                self.done = true;
            }
            self.buffer.extend_from_slice(&block[..n]);
        }
        Ok(())
    }

    /// Where the next content-defined chunk ends in the buffer.
    fn cut(&self) -> usize {
        let data = &self.buffer;
        if data.len() <= CDC_MIN {
            return data.len();
        }
        let end = data.len().min(CDC_MAX);
        let mut hash: u64 = 0;
        for (i, byte) in data.iter().enumerate().take(end).skip(CDC_MIN - 64) {
            hash = (hash << 1).wrapping_add(GEAR[*byte as usize]);
            if i >= CDC_MIN && hash & CDC_MASK == 0 {
                return i + 1;
            }
        }
        end
    }

    pub fn next_chunk(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let size = match self.chunking {
            Chunking::Fixed => FIXED_SIZE,
            Chunking::ContentDefined => CDC_MAX,
        };
        self.fill(size)?;
        if self.buffer.is_empty() {
            return Ok(None);
        }
        let at = match self.chunking {
            Chunking::Fixed => self.buffer.len().min(FIXED_SIZE),
            Chunking::ContentDefined => self.cut(),
        };
        let rest = self.buffer.split_off(at);
        Ok(Some(std::mem::replace(&mut self.buffer, rest)))
    }
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn other(doing: &str, message: impl std::fmt::Display) -> S3Error {
    S3Error::new(S3ErrorKind::Other, doing, message.to_string())
}

/// The chunks and manifests under one prefix of a bucket.
#[derive(Clone)]
pub struct ChunkStore {
    bucket: Bucket,
    prefix: String,
}

impl ChunkStore {
    pub fn new(bucket: Bucket, prefix: &str) -> ChunkStore {
        ChunkStore {
            bucket,
            prefix: prefix.trim_matches('/').to_string(),
        }
    }

    fn key(&self, rest: &str) -> String {
        if self.prefix.is_empty() {
            rest.to_string()
        } else {
            format!("{}/{rest}", self.prefix)
        }
    }

    fn chunk_key(&self, sha256: &str) -> String {
        self.key(&format!(
            "chunks/{}/{sha256}",
            &sha256[..2.min(sha256.len())]
        ))
    }

    /// Every chunk in the store, with its size.
    pub fn chunks(&self) -> Result<BTreeMap<String, u64>, S3Error> {
        Ok(self
            .bucket
            .list(&self.key("chunks"))?
            .into_iter()
            .filter_map(|l| Some((l.key.rsplit('/').next()?.to_string(), l.size)))
            .collect())
    }

    fn fresh_locks(&self, start: &str) -> Result<Vec<String>, S3Error> {
        let now = SystemTime::now();
        Ok(self
            .bucket
            .list(&self.key("locks"))?
            .into_iter()
            .filter(|l| {
                l.key
                    .rsplit('/')
                    .next()
                    .is_some_and(|n| n.starts_with(start))
            })
            .filter(|l| {
                now.duration_since(l.modified)
                    .map_or(true, |age| age < LOCK_STALE)
            })
            .map(|l| l.key)
            .collect())
    }

    /// Writes `reader` as a new snapshot of `name`, uploading only chunks the store lacks.
    pub fn write(
        &self,
        name: &str,
        reader: impl Read,
        chunking: Chunking,
        tags: BTreeMap<String, String>,
    ) -> Result<Written, S3Error> {
        let doing = format!("writing a snapshot of {name} to {}", self.bucket.url());
        let id = hive_sdk::random::hex_id(6).map_err(|e| other(&doing, e))?;
        let lock = self.key(&format!("locks/writer-{id}"));
        self.bucket
            .put(&lock, name.as_bytes().to_vec(), Condition::Always)?;
        let written = self.write_locked(name, reader, chunking, tags, &id, &lock, &doing);
        let released = self.bucket.delete(&lock);
        let written = written?;
        released?;
        Ok(written)
    }

    #[allow(clippy::too_many_arguments)]
    fn write_locked(
        &self,
        name: &str,
        reader: impl Read,
        chunking: Chunking,
        tags: BTreeMap<String, String>,
        id: &str,
        lock: &str,
        doing: &str,
    ) -> Result<Written, S3Error> {
        if !self.fresh_locks("collect")?.is_empty() {
            return Err(other(
                doing,
                "unreferenced chunks are being removed by another hive right now; try again when it is done",
            ));
        }
        let mut known: HashSet<String> = self.chunks()?.into_keys().collect();
        let mut chunker = Chunker::new(reader, chunking);
        let mut whole = Sha256::new();
        let mut chunks = Vec::new();
        let mut in_flight: Vec<Pending<Option<String>>> = Vec::new();
        let (mut size, mut chunks_sent, mut bytes_sent) = (0u64, 0usize, 0u64);
        let mut refreshed = std::time::Instant::now();
        while let Some(chunk) = chunker.next_chunk().map_err(|e| other(doing, e))? {
            whole.update(&chunk);
            let sha256 = hex(&Sha256::digest(&chunk));
            size += chunk.len() as u64;
            chunks.push(ChunkRef {
                sha256: sha256.clone(),
                size: chunk.len() as u64,
            });
            if known.insert(sha256.clone()) {
                chunks_sent += 1;
                bytes_sent += chunk.len() as u64;
                if in_flight.len() >= IN_FLIGHT {
                    finish(in_flight.remove(0))?;
                }
                in_flight.push(self.bucket.start_put(
                    &self.chunk_key(&sha256),
                    chunk,
                    Condition::IfAbsent,
                ));
            }
            if refreshed.elapsed() >= REFRESH_EVERY {
                self.bucket
                    .put(lock, name.as_bytes().to_vec(), Condition::Always)?;
                refreshed = std::time::Instant::now();
            }
        }
        for put in in_flight {
            finish(put)?;
        }
        let created = now_seconds();
        // Named by the nanosecond, so that key order is the order snapshots were taken in.
        let taken = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let manifest = Manifest {
            format: 1,
            name: name.to_string(),
            size,
            sha256: hex(&whole.finalize()),
            chunking,
            chunks,
            tags,
            created,
        };
        let key = self.key(&format!("manifests/{name}/{taken:030}-{id}.json"));
        let body = serde_json::to_vec_pretty(&manifest).map_err(|e| other(doing, e))?;
        self.bucket.put(&key, body, Condition::IfAbsent)?;
        Ok(Written {
            manifest,
            key,
            chunks_sent,
            bytes_sent,
        })
    }

    /// The keys of `name`'s snapshots, oldest first.
    pub fn snapshots(&self, name: &str) -> Result<Vec<String>, S3Error> {
        Ok(self
            .bucket
            .list(&self.key(&format!("manifests/{name}")))?
            .into_iter()
            .map(|l| l.key)
            .collect())
    }

    pub fn manifest(&self, key: &str) -> Result<Manifest, S3Error> {
        let object = self.bucket.get(key)?.ok_or_else(|| {
            S3Error::new(
                S3ErrorKind::NotFound,
                format!("reading {}", self.bucket.url_of(key)),
                "no such snapshot",
            )
        })?;
        serde_json::from_slice(&object.bytes).map_err(|e| {
            S3Error::new(
                S3ErrorKind::Damaged,
                format!("reading {}", self.bucket.url_of(key)),
                format!("not a snapshot manifest: {e}"),
            )
        })
    }

    /// The newest snapshot of `name`, if there is one.
    pub fn latest(&self, name: &str) -> Result<Option<Manifest>, S3Error> {
        match self.snapshots(name)?.last() {
            Some(key) => self.manifest(key).map(Some),
            None => Ok(None),
        }
    }

    /// Writes the snapshot's bytes to `out`, each chunk checked against its digest and the
    /// whole against the manifest's.
    pub fn read(&self, manifest: &Manifest, out: &mut impl Write) -> Result<u64, S3Error> {
        let doing = format!("restoring {} from {}", manifest.name, self.bucket.url());
        let mut whole = Sha256::new();
        let mut written = 0u64;
        for chunk in &manifest.chunks {
            let key = self.chunk_key(&chunk.sha256);
            let object = self.bucket.get(&key)?.ok_or_else(|| {
                S3Error::new(
                    S3ErrorKind::NotFound,
                    &doing,
                    format!("chunk {} is missing from the store", chunk.sha256),
                )
            })?;
            let found = hex(&Sha256::digest(&object.bytes));
            if found != chunk.sha256 || object.bytes.len() as u64 != chunk.size {
                return Err(S3Error::new(
                    S3ErrorKind::Damaged,
                    &doing,
                    format!(
                        "chunk {} is damaged: its content's digest is {found} ({} bytes, {} expected); nothing was restored from it",
                        self.bucket.url_of(&key),
                        object.bytes.len(),
                        chunk.size
                    ),
                ));
            }
            whole.update(&object.bytes);
            out.write_all(&object.bytes).map_err(|e| other(&doing, e))?;
            written += chunk.size;
        }
        let found = hex(&whole.finalize());
        if found != manifest.sha256 {
            return Err(S3Error::new(
                S3ErrorKind::Damaged,
                &doing,
                format!(
                    "the restored stream's digest is {found}, not {}",
                    manifest.sha256
                ),
            ));
        }
        Ok(written)
    }

    /// Removes `name`'s snapshots but the newest `keep`; returns how many were removed.
    pub fn prune(&self, name: &str, keep: usize) -> Result<usize, S3Error> {
        let all = self.snapshots(name)?;
        let old: Vec<String> = all[..all.len().saturating_sub(keep)].to_vec();
        let removed = old.len();
        self.bucket.delete_many(old)?;
        Ok(removed)
    }

    /// Removes the chunks no manifest refers to. Refused while a writer is at work.
    pub fn collect(&self) -> Result<Collected, S3Error> {
        let doing = format!("removing unreferenced chunks from {}", self.bucket.url());
        let lock = self.key("locks/collect");
        match self
            .bucket
            .put(&lock, b"collect".to_vec(), Condition::IfAbsent)
        {
            Ok(_) => {}
            Err(e) if e.kind == S3ErrorKind::Precondition => {
                if !self.fresh_locks("collect")?.is_empty() {
                    return Err(other(
                        &doing,
                        "another hive is removing unreferenced chunks",
                    ));
                }
                self.bucket
                    .put(&lock, b"collect".to_vec(), Condition::Always)?;
            }
            Err(e) => return Err(e),
        }
        let collected = self.collect_locked(&doing);
        let released = self.bucket.delete(&lock);
        let collected = collected?;
        released?;
        Ok(collected)
    }

    fn collect_locked(&self, doing: &str) -> Result<Collected, S3Error> {
        if !self.fresh_locks("writer-")?.is_empty() {
            return Err(other(
                doing,
                "a snapshot is being written; nothing was removed",
            ));
        }
        let mut referenced = HashSet::new();
        for listed in self.bucket.list(&self.key("manifests"))? {
            for chunk in self.manifest(&listed.key)?.chunks {
                referenced.insert(chunk.sha256);
            }
        }
        let mut collected = Collected::default();
        let mut doomed = Vec::new();
        for (sha256, size) in self.chunks()? {
            if !referenced.contains(&sha256) {
                collected.chunks_removed += 1;
                collected.bytes_removed += size;
                doomed.push(self.chunk_key(&sha256));
            }
        }
        self.bucket.delete_many(doomed)?;
        Ok(collected)
    }
}

fn finish(put: Pending<Option<String>>) -> Result<(), S3Error> {
    match put.wait() {
        // Another writer stored the same chunk meanwhile: it is the same bytes.
        Err(e) if e.kind == S3ErrorKind::Precondition => Ok(()),
        other => other.map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    fn digests(data: &[u8], chunking: Chunking) -> Vec<String> {
        let mut chunker = Chunker::new(data, chunking);
        let mut out = Vec::new();
        while let Some(chunk) = chunker.next_chunk().unwrap() {
            out.push(hex(&Sha256::digest(&chunk)));
        }
        out
    }

    #[test]
    fn fixed_chunks_are_whole_blocks_and_the_last_is_the_rest() {
        let data = pseudo_random(2 * FIXED_SIZE + 10, 1);
        let mut chunker = Chunker::new(&data[..], Chunking::Fixed);
        let sizes: Vec<usize> = std::iter::from_fn(|| chunker.next_chunk().unwrap())
            .map(|c| c.len())
            .collect();
        assert_eq!(sizes, vec![FIXED_SIZE, FIXED_SIZE, 10]);
    }

    #[test]
    fn content_defined_chunks_survive_an_insertion_that_shifts_every_byte() {
        let data = pseudo_random(24 << 20, 7);
        let mut shifted = data[..5 << 20].to_vec();
        shifted.extend_from_slice(b"a few inserted bytes");
        shifted.extend_from_slice(&data[5 << 20..]);
        let before = digests(&data, Chunking::ContentDefined);
        let after: HashSet<String> = digests(&shifted, Chunking::ContentDefined)
            .into_iter()
            .collect();
        let kept = before.iter().filter(|d| after.contains(*d)).count();
        // About 24 chunks of 1 MiB; the insertion touches one or two.
        assert!(before.len() >= 10, "{}", before.len());
        assert!(kept + 3 >= before.len(), "kept {kept} of {}", before.len());
        // Fixed chunks lose every chunk after the insertion.
        let fixed_before = digests(&data, Chunking::Fixed);
        let fixed_after: HashSet<String> = digests(&shifted, Chunking::Fixed).into_iter().collect();
        let fixed_kept = fixed_before
            .iter()
            .filter(|d| fixed_after.contains(*d))
            .count();
        assert!(fixed_kept <= 2, "{fixed_kept}");
    }
}
