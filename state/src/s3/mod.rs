//! The S3 state backend. In the bucket, for the state key `K`:
//! - `K`: the snapshot (the same checksummed JSON as a local state file), or, after `hive
//!   state migrate` moved the state elsewhere, a marker saying where;
//! - `K.steps/<serial>`: one object per step recorded since the snapshot, so recording a
//!   step costs one small write, not a rewrite of the whole state;
//! - `K.history/<serial>`: the snapshots replaced, the newest `keep_versions`;
//! - `K.lock`: the lock ([`lock`]).
//!
//! The snapshot is replaced with `If-Match` on the version read (or created with
//! `If-None-Match` where there was none), so a writer that lost the lock cannot overwrite
//! what another wrote. Before the first lock, the server is checked to honour conditional
//! writes: one that ignores them cannot hold a lock, and is refused.

mod lock;

use crate::backend::{Loaded, Recorder, StateBackend, StateError};
use crate::journal::{decode_line, encode_line, Entry};
use crate::lock::{LockError, LockInfo, Locked};
use crate::model::State;
use crate::snapshot::Unreadable;
use hive_s3::{Bucket, Condition, Pending, S3Error, S3ErrorKind};
use lock::{Held, Holding, S3Lock};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct S3Backend {
    bucket: Bucket,
    key: String,
    lease: Option<Duration>,
    keep_versions: usize,
    held: Option<Held>,
    snapshot: Seen,
    /// Step objects this backend read or recorded: what folding them into a snapshot
    /// removes (never steps another command wrote meanwhile).
    steps: Arc<Mutex<Vec<(u64, String)>>>,
    /// The bucket was found (some servers make a missing bucket on the first write).
    checked: bool,
    probed: bool,
}

/// What this backend knows of the object at the state's key.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Unknown,
    Absent,
    /// A marker left by `hive state migrate`, at this version.
    Moved {
        etag: String,
    },
    At {
        etag: String,
        serial: u64,
    },
    /// Written by this backend, but the server gave no version: a further write would be
    /// blind, so it is refused.
    Blind,
}

/// What `hive state migrate` leaves at the key of a state it moved away.
#[derive(Debug, Serialize, Deserialize)]
struct MovedMarker {
    hive_state_moved_to: String,
    serial: u64,
}

fn remote(error: S3Error) -> StateError {
    StateError::Remote {
        error: error.to_string(),
    }
}

fn lost(why: String) -> StateError {
    StateError::Remote {
        error: format!("{why}; this command writes nothing more to the state"),
    }
}

/// Step and history objects are named by serial, zero-padded so that key order is serial
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
            snapshot: Seen::Unknown,
            steps: Arc::default(),
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

    fn lock_object(&self) -> S3Lock<'_> {
        S3Lock {
            bucket: &self.bucket,
            key: format!("{}.lock", self.key),
            lease: self.lease,
        }
    }

    fn journal(&self) -> String {
        format!("{}.steps", self.key)
    }

    fn versions(&self) -> String {
        format!("{}.history", self.key)
    }

    fn holding(&self) -> Option<Holding> {
        self.held.as_ref().map(Held::holding)
    }

    fn still_held(&self) -> Result<(), StateError> {
        match self.holding() {
            Some(holding) => holding.check().map_err(lost),
            None => Ok(()),
        }
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

    /// The snapshot in `bytes`, or the place a marker says the state moved to.
    fn decode(&self, bytes: &[u8]) -> Result<Result<State, MovedMarker>, StateError> {
        if let Ok(marker) = serde_json::from_slice::<MovedMarker>(bytes) {
            return Ok(Err(marker));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| self.corrupt(&self.key, "it is not UTF-8".into()))?;
        crate::snapshot::decode(text)
            .map(Ok)
            .map_err(|why| match why {
                Unreadable::Format(error) => StateError::Format {
                    what: self.bucket.url_of(&self.key),
                    error,
                },
                Unreadable::Damaged(why) => self.corrupt(&self.key, why),
            })
    }

    /// What is at the state's key now, read if this backend has not seen it.
    fn current(&mut self) -> Result<Seen, StateError> {
        if self.snapshot == Seen::Unknown {
            self.snapshot = match self.bucket.get(&self.key).map_err(remote)? {
                None => Seen::Absent,
                Some(object) => {
                    let etag = object.etag.clone().unwrap_or_default();
                    match self.decode(&object.bytes)? {
                        Ok(state) => Seen::At {
                            etag,
                            serial: state.serial,
                        },
                        Err(_) => Seen::Moved { etag },
                    }
                }
            };
        }
        Ok(self.snapshot.clone())
    }

    /// Writes `bytes` at the key in place of what this backend saw there; `now` is what
    /// they are (a snapshot's serial, or `None` for a marker).
    fn replace(&mut self, bytes: Vec<u8>, now: Option<u64>) -> Result<(), StateError> {
        let condition = match self.current()? {
            Seen::At { etag, serial } => {
                if now.is_some() {
                    // The snapshot replaced is kept, copied on the server.
                    self.bucket
                        .copy(&self.key, &serial_key(&self.versions(), serial))
                        .map_err(remote)?;
                }
                Condition::IfMatch(etag)
            }
            Seen::Moved { etag } => Condition::IfMatch(etag),
            Seen::Absent | Seen::Unknown => Condition::IfAbsent,
            Seen::Blind => {
                return Err(StateError::Remote {
                    error: format!(
                        "the server did not say which version of {} this command wrote, so it cannot write it again safely",
                        self.location()
                    ),
                })
            }
        };
        self.snapshot = Seen::Blind;
        match self.bucket.put(&self.key, bytes, condition) {
            Ok(etag) => {
                // The next write replaces exactly this version, never one written meanwhile.
                self.snapshot = match (etag, now) {
                    (Some(etag), Some(serial)) => Seen::At { etag, serial },
                    (Some(etag), None) => Seen::Moved { etag },
                    (None, _) => Seen::Blind,
                };
                Ok(())
            }
            Err(e) if e.kind == S3ErrorKind::Precondition => Err(StateError::Remote {
                error: format!(
                    "the state at {} changed since this command read it: another command wrote it; nothing was overwritten",
                    self.location()
                ),
            }),
            Err(e) => Err(remote(e)),
        }
    }

    /// Removes the recorded steps up to `serial` that this backend read or recorded.
    fn fold_steps(&self, serial: u64) -> Result<(), StateError> {
        let doomed: Vec<String> = match self.steps.lock() {
            Ok(mut steps) => {
                let (folded, kept): (Vec<_>, Vec<_>) =
                    steps.drain(..).partition(|(s, _)| *s <= serial);
                *steps = kept;
                folded.into_iter().map(|(_, key)| key).collect()
            }
            Err(_) => Vec::new(),
        };
        self.bucket.delete_many(doomed).map_err(remote)
    }
}

impl StateBackend for S3Backend {
    fn location(&self) -> String {
        self.bucket.url_of(&self.key)
    }

    fn lock(&mut self, command: &str, timeout: Duration) -> Result<Locked, LockError> {
        self.check().map_err(|e| LockError::Io(e.to_string()))?;
        if !self.probed {
            let probe = format!(
                "{}.probe-{}",
                self.key,
                hive_sdk::random::hex_id(6).map_err(|e| LockError::Io(e.to_string()))?
            );
            self.bucket
                .check_conditional_writes(&probe)
                .map_err(|e| LockError::Io(e.to_string()))?;
            self.probed = true;
        }
        let (held, locked) = self.lock_object().acquire(command, timeout)?;
        self.held = Some(held);
        Ok(locked)
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
        self.lock_object().release(held)
    }

    fn force_unlock(&mut self, id: &str) -> Result<LockInfo, LockError> {
        let location = self.location();
        self.lock_object().force_unlock(id, &location)
    }

    fn read(&mut self) -> Result<Loaded, StateError> {
        self.check().map_err(remote)?;
        self.snapshot = Seen::Unknown;
        let mut moved_to = None;
        let mut state = match self.bucket.get(&self.key).map_err(remote)? {
            None => {
                self.snapshot = Seen::Absent;
                None
            }
            Some(object) => {
                let etag = object.etag.clone().unwrap_or_default();
                match self.decode(&object.bytes)? {
                    Ok(state) => {
                        self.snapshot = Seen::At {
                            etag,
                            serial: state.serial,
                        };
                        Some(state)
                    }
                    Err(marker) => {
                        self.snapshot = Seen::Moved { etag };
                        moved_to = Some(marker.hive_state_moved_to);
                        None
                    }
                }
            }
        };
        let base = state.as_ref().map_or(0, |s| s.serial);
        let mut replayed = 0;
        let mut seen = Vec::new();
        // Steps are written side by side: a crash can leave a later one without an earlier
        // one. What follows a gap is dropped, as a torn last line of a local journal is.
        let mut beyond_gap = Vec::new();
        for listed in self.bucket.list(&self.journal()).map_err(remote)? {
            let Some(serial) = serial_of(&listed.key) else {
                continue;
            };
            // Steps already in the snapshot: what a fold that was cut off left.
            if serial <= base {
                seen.push((serial, listed.key));
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
            seen.push((serial, listed.key));
        }
        // Only a lock holder drops them (they would be written again under the same serials)
        // and says so; without the lock they may be another command's, still on their way.
        let torn_tail = self.held.is_some() && !beyond_gap.is_empty();
        if torn_tail {
            self.still_held()?;
            self.bucket.delete_many(beyond_gap).map_err(remote)?;
        }
        if let Ok(mut steps) = self.steps.lock() {
            *steps = seen;
        }
        Ok(Loaded {
            state,
            replayed,
            torn_tail,
            moved_to,
        })
    }

    fn recorder(&mut self, serial: u64) -> Result<Box<dyn Recorder>, StateError> {
        Ok(Box::new(S3Journal {
            bucket: self.bucket.clone(),
            folder: self.journal(),
            serial,
            holding: self.holding(),
            recorded: self.steps.clone(),
            pending: Vec::new(),
        }))
    }

    fn write(&mut self, state: &State) -> Result<(), StateError> {
        self.still_held()?;
        let text = crate::snapshot::encode(state)?;
        self.replace(text.into_bytes(), Some(state.serial))?;
        self.still_held()?;
        self.fold_steps(state.serial)?;
        let versions = self.bucket.list(&self.versions()).map_err(remote)?;
        let excess = versions.len().saturating_sub(self.keep_versions);
        self.bucket
            .delete_many(versions.into_iter().take(excess).map(|l| l.key).collect())
            .map_err(remote)
    }

    fn backup_location(&self) -> Option<String> {
        let versions = self.bucket.list(&self.versions()).ok()?;
        versions.last().map(|l| self.bucket.url_of(&l.key))
    }

    /// The snapshot is copied aside, and a marker naming where the state went takes its
    /// place: a teammate still configured for this key is told, instead of starting anew.
    fn retire(&mut self, state: &State, moved_to: &str) -> Result<String, StateError> {
        self.write(state)?;
        let kept = format!("{}.migrated-{}", self.key, state.serial);
        self.bucket.copy(&self.key, &kept).map_err(remote)?;
        let marker = serde_json::to_vec_pretty(&MovedMarker {
            hive_state_moved_to: moved_to.to_string(),
            serial: state.serial,
        })
        .map_err(|e| StateError::Encode {
            doing: "marking the state as moved".into(),
            error: e.to_string(),
        })?;
        self.still_held()?;
        self.replace(marker, None)?;
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
    holding: Option<Holding>,
    recorded: Arc<Mutex<Vec<(u64, String)>>>,
    pending: Vec<(u64, Vec<u8>, Pending<Option<String>>)>,
}

impl Recorder for S3Journal {
    fn append(&mut self, entry: &Entry) -> Result<u64, StateError> {
        if let Some(holding) = &self.holding {
            holding.check().map_err(lost)?;
        }
        let serial = self.serial + 1;
        let line = encode_line(serial, entry)?.into_bytes();
        let key = serial_key(&self.folder, serial);
        let put = self
            .bucket
            .start_put(&key, line.clone(), Condition::IfAbsent);
        self.pending.push((serial, line, put));
        self.serial = serial;
        Ok(serial)
    }

    fn sync(&mut self) -> Result<(), StateError> {
        let mut first_error = None;
        for (serial, line, put) in std::mem::take(&mut self.pending) {
            let key = serial_key(&self.folder, serial);
            let written = match put.wait() {
                Ok(_) => Ok(()),
                // A write retried after its first try succeeded unseen finds itself.
                Err(e) if e.kind == S3ErrorKind::Precondition => match self.bucket.get(&key) {
                    Ok(Some(found)) if found.bytes == line => Ok(()),
                    _ => Err(StateError::Remote {
                        error: format!(
                            "step {serial} is already recorded at {} by another command",
                            self.bucket.url_of(&key)
                        ),
                    }),
                },
                Err(e) => Err(remote(e)),
            };
            match written {
                // Only steps known to be this command's are folded (removed) later.
                Ok(()) => {
                    if let Ok(mut recorded) = self.recorded.lock() {
                        recorded.push((serial, key));
                    }
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
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
