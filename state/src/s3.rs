//! The S3 state backend. In the bucket, for the state key `K`:
//! - `K`: the snapshot (the same checksummed JSON as a local state file);
//! - `K.steps/<serial>`: one object per step recorded since the snapshot, so recording a
//!   step costs one small write, not a rewrite of the whole state;
//! - `K.history/<serial>`: the snapshots replaced, the newest [`S3Backend::keep_versions`];
//! - `K.lock`: the lock, created with `If-None-Match: *` and holding the holder's details
//!   (and its lease, if it has one); removed only by its holder's id or `force-unlock`.
//!
//! The snapshot is replaced with `If-Match` on the ETag it had when it was read, so a writer
//! that lost the lock cannot overwrite what another wrote. Before the first lock, the server
//! is checked to refuse a second conditional create: a server that ignores conditions cannot
//! hold a lock, and is refused.

use crate::backend::{Loaded, Recorder, StateBackend, StateError};
use crate::journal::{decode_line, encode_line, Entry};
use crate::lock::{LockError, LockInfo, Locked};
use crate::model::State;
use crate::snapshot::Unreadable;
use hive_s3::{Bucket, Condition, Pending, S3Error, S3ErrorKind};
use serde::{Deserialize, Serialize};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How often a waiting command asks whether the lock is free.
const LOCK_POLL: Duration = Duration::from_millis(250);

pub struct S3Backend {
    bucket: Bucket,
    key: String,
    lease: Option<Duration>,
    keep_versions: usize,
    held: Option<Held>,
    /// The snapshot's ETag and serial as this backend last read or wrote it.
    snapshot: Option<(String, u64)>,
    /// The bucket was found (some servers make a missing bucket on the first write).
    checked: bool,
    probed: bool,
}

/// The lock object's contents.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LockObject {
    #[serde(flatten)]
    info: LockInfo,
    /// The holder renews the object within this many seconds while it runs; a lock not
    /// renewed for longer was left by a holder that is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_seconds: Option<u64>,
}

impl LockObject {
    fn expired(&self, modified: SystemTime) -> bool {
        self.lease_seconds.is_some_and(|lease| {
            SystemTime::now()
                .duration_since(modified)
                .is_ok_and(|age| age > Duration::from_secs(lease))
        })
    }
}

struct Held {
    info: LockInfo,
    renewal: Option<Renewal>,
    /// Set when the lock was found taken over by another command.
    lost: Arc<Mutex<Option<String>>>,
}

/// The thread that renews a leased lock.
struct Renewal {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

fn remote(error: S3Error) -> StateError {
    StateError::Remote {
        error: error.to_string(),
    }
}

fn lock_error(error: S3Error) -> LockError {
    LockError::Io(error.to_string())
}

/// Journal and version objects are named by serial, zero-padded so that key order is serial
/// order.
fn serial_key(folder: &str, serial: u64) -> String {
    format!("{folder}/{serial:020}")
}

fn serial_of(key: &str) -> Option<u64> {
    key.rsplit('/').next()?.parse().ok()
}

impl S3Backend {
    pub fn new(
        bucket: Bucket,
        key: &str,
        lease: Option<Duration>,
        keep_versions: usize,
    ) -> S3Backend {
        S3Backend {
            bucket,
            key: key.trim_start_matches('/').to_string(),
            lease,
            keep_versions: keep_versions.max(1),
            held: None,
            snapshot: None,
            checked: false,
            probed: false,
        }
    }

    /// Checks once that the bucket exists and the credentials are taken.
    fn check(&mut self) -> Result<(), S3Error> {
        if !self.checked {
            self.bucket.check(&self.key)?;
            self.checked = true;
        }
        Ok(())
    }

    fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    fn journal(&self) -> String {
        format!("{}.steps", self.key)
    }

    fn versions(&self) -> String {
        format!("{}.history", self.key)
    }

    fn corrupt(&self, what: &str, why: String) -> StateError {
        StateError::Corrupt {
            what: format!("object {}", self.bucket.url_of(what)),
            why,
            restore: Some(format!(
                "the previous snapshots are under {}/: to go back to one, copy it to {}",
                self.bucket.url_of(&self.versions()),
                self.bucket.url_of(&self.key)
            )),
        }
    }

    fn decode(&self, bytes: &[u8]) -> Result<State, StateError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| self.corrupt(&self.key, "it is not UTF-8".into()))?;
        crate::snapshot::decode(text).map_err(|why| match why {
            Unreadable::Format(error) => StateError::Format {
                what: self.bucket.url_of(&self.key),
                error,
            },
            Unreadable::Damaged(why) => self.corrupt(&self.key, why),
        })
    }

    /// Holds the lock just written (ETag `etag`), renewing it if it has a lease.
    fn hold(&mut self, info: LockInfo, body: Vec<u8>, etag: Option<String>) {
        let lost = Arc::new(Mutex::new(None));
        let renewal = self.lease.zip(etag).map(|(lease, etag)| {
            let (stop, stopped) = mpsc::channel();
            let bucket = self.bucket.clone();
            let key = self.lock_key();
            let lost = lost.clone();
            let thread =
                std::thread::spawn(move || renew(bucket, key, body, etag, lease, stopped, lost));
            Renewal { stop, thread }
        });
        self.held = Some(Held {
            info,
            renewal,
            lost,
        });
    }

    /// The snapshot's ETag and serial now, read if this backend has not seen it.
    fn current_snapshot(&mut self) -> Result<Option<(String, u64)>, StateError> {
        if self.snapshot.is_none() {
            if let Some(object) = self.bucket.get(&self.key).map_err(remote)? {
                let state = self.decode(&object.bytes)?;
                self.snapshot = object.etag.map(|etag| (etag, state.serial));
            }
        }
        Ok(self.snapshot.clone())
    }

    fn remove_all(&self, keys: Vec<String>) -> Result<(), StateError> {
        self.bucket.delete_many(keys).map_err(remote)
    }
}

/// Renews a leased lock every third of its lease until told to stop; a renewal refused
/// because the object changed means another command took the lock over.
fn renew(
    bucket: Bucket,
    key: String,
    body: Vec<u8>,
    mut etag: String,
    lease: Duration,
    stopped: mpsc::Receiver<()>,
    lost: Arc<Mutex<Option<String>>>,
) {
    let every = (lease / 3).max(Duration::from_millis(100));
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
        match bucket.put(&key, body.clone(), Condition::IfMatch(etag.clone())) {
            Ok(Some(new)) => etag = new,
            Ok(None) => {}
            Err(e) if e.kind == S3ErrorKind::Precondition => {
                let holder = bucket
                    .get(&key)
                    .ok()
                    .flatten()
                    .and_then(|o| serde_json::from_slice::<LockObject>(&o.bytes).ok())
                    .map_or("another command".to_string(), |o| o.info.to_string());
                if let Ok(mut lost) = lost.lock() {
                    *lost = Some(format!(
                        "the state lock's lease ran out and it was taken over ({holder})"
                    ));
                }
                return;
            }
            // A server that does not answer now may answer at the next renewal.
            Err(_) => {}
        }
    }
}

impl StateBackend for S3Backend {
    fn location(&self) -> String {
        self.bucket.url_of(&self.key)
    }

    fn lock(&mut self, command: &str, timeout: Duration) -> Result<Locked, LockError> {
        self.check().map_err(lock_error)?;
        if !self.probed {
            let probe = format!(
                "{}.probe-{}",
                self.key,
                hive_sdk::random::hex_id(6).map_err(|e| LockError::Io(e.to_string()))?
            );
            self.bucket
                .check_conditional_writes(&probe)
                .map_err(lock_error)?;
            self.probed = true;
        }
        let deadline = Instant::now().checked_add(timeout);
        let key = self.lock_key();
        loop {
            let info = LockInfo::now(command)?;
            let object = LockObject {
                info: info.clone(),
                lease_seconds: self.lease.map(|l| l.as_secs().max(1)),
            };
            let body =
                serde_json::to_vec_pretty(&object).map_err(|e| LockError::Io(e.to_string()))?;
            match self.bucket.put(&key, body.clone(), Condition::IfAbsent) {
                Ok(etag) => {
                    self.hold(info.clone(), body, etag);
                    return Ok(Locked {
                        info,
                        previous: None,
                    });
                }
                Err(e) if e.kind == S3ErrorKind::Precondition => {}
                Err(e) => return Err(lock_error(e)),
            }
            let Some(found) = self.bucket.get(&key).map_err(lock_error)? else {
                continue; // released meanwhile
            };
            let holder: LockObject = serde_json::from_slice(&found.bytes).map_err(|e| {
                LockError::Io(format!(
                    "{} exists but is not a hive lock ({e}); if nothing uses this state, remove that object",
                    self.bucket.url_of(&key)
                ))
            })?;
            if holder.expired(found.modified) {
                if let Some(etag) = found.etag {
                    match self
                        .bucket
                        .put(&key, body.clone(), Condition::IfMatch(etag))
                    {
                        Ok(etag) => {
                            self.hold(info.clone(), body, etag);
                            return Ok(Locked {
                                info,
                                previous: Some(holder.info),
                            });
                        }
                        Err(e) if e.kind == S3ErrorKind::Precondition => continue,
                        Err(e) => return Err(lock_error(e)),
                    }
                }
            }
            if deadline.is_none_or(|d| Instant::now() >= d) {
                return Err(match holder.lease_seconds {
                    Some(_) => LockError::Held(holder.info),
                    None => LockError::Stale(holder.info),
                });
            }
            std::thread::sleep(LOCK_POLL);
        }
    }

    fn unlock(&mut self, id: &str) -> Result<(), LockError> {
        let Some(held) = self.held.take() else {
            return Err(LockError::Io("this command holds no lock".into()));
        };
        if held.info.id != id {
            let error = format!("this command holds lock {}, not {id}", held.info.id);
            self.held = Some(held);
            return Err(LockError::Io(error));
        }
        if let Some(renewal) = held.renewal {
            let _ = renewal.stop.send(());
            let _ = renewal.thread.join();
        }
        let key = self.lock_key();
        match self.bucket.get(&key).map_err(lock_error)? {
            None => Err(LockError::Io(format!(
                "the lock {id} was removed while this command ran (hive force-unlock?)"
            ))),
            Some(found) => match serde_json::from_slice::<LockObject>(&found.bytes) {
                Ok(object) if object.info.id == id => self.bucket.delete(&key).map_err(lock_error),
                Ok(object) => Err(LockError::Io(format!(
                    "the lock was taken over while this command ran: {}",
                    object.info
                ))),
                Err(e) => Err(LockError::Io(format!(
                    "{} is no longer a hive lock: {e}",
                    self.bucket.url_of(&key)
                ))),
            },
        }
    }

    fn force_unlock(&mut self, id: &str) -> Result<LockInfo, LockError> {
        let key = self.lock_key();
        let Some(found) = self.bucket.get(&key).map_err(lock_error)? else {
            return Err(LockError::Io(format!(
                "the state at {} is not locked",
                self.location()
            )));
        };
        let object: LockObject = serde_json::from_slice(&found.bytes).map_err(|e| {
            LockError::Io(format!(
                "{} is not a hive lock ({e}); remove that object by hand",
                self.bucket.url_of(&key)
            ))
        })?;
        if object.info.id != id {
            return Err(LockError::Io(format!(
                "the state's lock has ID {}, not {id} ({})",
                object.info.id, object.info
            )));
        }
        self.bucket.delete(&key).map_err(lock_error)?;
        Ok(object.info)
    }

    fn read(&mut self) -> Result<Loaded, StateError> {
        self.check().map_err(remote)?;
        let (mut state, etag) = match self.bucket.get(&self.key).map_err(remote)? {
            Some(object) => (Some(self.decode(&object.bytes)?), object.etag),
            None => (None, None),
        };
        self.snapshot = etag.zip(state.as_ref().map(|s| s.serial));
        let base = state.as_ref().map_or(0, |s| s.serial);
        let mut replayed = 0;
        let mut folded = Vec::new();
        // Steps are written side by side: a crash can leave a later one without an earlier
        // one. What follows a gap is dropped, as a torn last line of a local journal is.
        let mut beyond_gap = Vec::new();
        for listed in self.bucket.list(&self.journal()).map_err(remote)? {
            let Some(serial) = serial_of(&listed.key) else {
                continue;
            };
            // Steps already in the snapshot: what a fold that was cut off left.
            if serial <= base {
                folded.push(listed.key);
                continue;
            }
            let Some(target) = state.as_mut() else {
                return Err(self.corrupt(
                    &listed.key,
                    "a recorded step without a snapshot to apply it to".into(),
                ));
            };
            if !beyond_gap.is_empty() || serial != target.serial + 1 {
                beyond_gap.push(listed.key);
                continue;
            }
            let object = self
                .bucket
                .get(&listed.key)
                .map_err(remote)?
                .ok_or_else(|| {
                    self.corrupt(&listed.key, "it disappeared while it was read".into())
                })?;
            let (recorded, entry) = decode_line(object.bytes.trim_ascii_end())
                .map_err(|why| self.corrupt(&listed.key, why))?;
            if recorded != serial {
                return Err(self.corrupt(
                    &listed.key,
                    format!("it records step {recorded}, not {serial}"),
                ));
            }
            entry.apply(target);
            target.serial = serial;
            replayed += 1;
        }
        let torn_tail = !beyond_gap.is_empty();
        if self.held.is_some() {
            folded.extend(beyond_gap);
            self.remove_all(folded)?;
        }
        Ok(Loaded {
            state,
            replayed,
            torn_tail,
        })
    }

    fn recorder(&mut self, serial: u64) -> Result<Box<dyn Recorder>, StateError> {
        let lost = self
            .held
            .as_ref()
            .map(|h| h.lost.clone())
            .unwrap_or_default();
        Ok(Box::new(S3Journal {
            bucket: self.bucket.clone(),
            folder: self.journal(),
            serial,
            lost,
            pending: Vec::new(),
        }))
    }

    fn write(&mut self, state: &State) -> Result<(), StateError> {
        let text = crate::snapshot::encode(state)?;
        let condition = match self.current_snapshot()? {
            Some((etag, serial)) => {
                // The snapshot replaced is kept, copied on the server.
                self.bucket
                    .copy(&self.key, &serial_key(&self.versions(), serial))
                    .map_err(remote)?;
                Condition::IfMatch(etag)
            }
            None => Condition::IfAbsent,
        };
        let etag = match self.bucket.put(&self.key, text.into_bytes(), condition) {
            Ok(etag) => etag,
            Err(e) if e.kind == S3ErrorKind::Precondition => {
                return Err(StateError::Remote {
                    error: format!(
                        "the state at {} changed since this command read it: another command wrote it; nothing was overwritten",
                        self.location()
                    ),
                })
            }
            Err(e) => return Err(remote(e)),
        };
        self.snapshot = etag.map(|etag| (etag, state.serial));
        let recorded: Vec<String> = self
            .bucket
            .list(&self.journal())
            .map_err(remote)?
            .into_iter()
            .filter(|l| serial_of(&l.key).is_some_and(|s| s <= state.serial))
            .map(|l| l.key)
            .collect();
        self.remove_all(recorded)?;
        let versions = self.bucket.list(&self.versions()).map_err(remote)?;
        let excess = versions.len().saturating_sub(self.keep_versions);
        self.remove_all(versions.into_iter().take(excess).map(|l| l.key).collect())
    }

    fn backup_location(&self) -> Option<String> {
        let versions = self.bucket.list(&self.versions()).ok()?;
        versions.last().map(|l| self.bucket.url_of(&l.key))
    }

    fn retire(&mut self, state: &State) -> Result<String, StateError> {
        self.write(state)?;
        let kept = format!("{}.migrated-{}", self.key, state.serial);
        self.bucket.copy(&self.key, &kept).map_err(remote)?;
        self.bucket.delete(&self.key).map_err(remote)?;
        self.snapshot = None;
        Ok(self.bucket.url_of(&kept))
    }
}

/// Records each step as an object of its own. Writes start at once and run side by side;
/// [`Recorder::sync`] waits for them (the engine syncs before any backend call starts, so
/// what a crash can take back is only the record of steps that finished since, as with a
/// local journal not yet fsynced).
struct S3Journal {
    bucket: Bucket,
    folder: String,
    serial: u64,
    lost: Arc<Mutex<Option<String>>>,
    pending: Vec<(u64, Pending<Option<String>>)>,
}

impl Recorder for S3Journal {
    fn append(&mut self, entry: &Entry) -> Result<u64, StateError> {
        if let Some(lost) = self.lost.lock().ok().and_then(|l| l.clone()) {
            return Err(StateError::Remote {
                error: format!("{lost}; this command records nothing more"),
            });
        }
        let serial = self.serial + 1;
        let line = encode_line(serial, entry)?;
        let key = serial_key(&self.folder, serial);
        let put = self
            .bucket
            .start_put(&key, line.into_bytes(), Condition::IfAbsent);
        self.pending.push((serial, put));
        self.serial = serial;
        Ok(serial)
    }

    fn sync(&mut self) -> Result<(), StateError> {
        let mut first_error = None;
        for (serial, put) in self.pending.drain(..) {
            let error = match put.wait() {
                Ok(_) => continue,
                Err(e) if e.kind == S3ErrorKind::Precondition => StateError::Remote {
                    error: format!(
                        "step {serial} is already recorded at {} by another command",
                        self.bucket.url_of(&serial_key(&self.folder, serial))
                    ),
                },
                Err(e) => remote(e),
            };
            first_error.get_or_insert(error);
        }
        first_error.map_or(Ok(()), Err)
    }

    fn serial(&self) -> u64 {
        self.serial
    }
}

impl Drop for S3Journal {
    /// Writes started are finished, not abandoned, when a command ends without a sync.
    fn drop(&mut self) {
        let _ = self.sync();
    }
}
