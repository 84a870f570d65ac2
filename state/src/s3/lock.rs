//! The S3 state lock: the object `KEY.lock`, taken with `If-None-Match: *` (or, once it
//! exists, `If-Match` on the version read), holding the holder's details. Released or
//! removed by writing it as free with `If-Match`, never by an unconditional delete, so a
//! release can only ever release the version its holder saw.
//!
//! With a lease, the holder renews the object every third of the lease; every renewal bumps a
//! counter, so it has a new ETag. A waiter takes the lock over when it has seen the same
//! version for a whole lease on its own clock (clocks of different machines are never
//! compared), or when the server's time of the last renewal is two leases old by the waiter's
//! clock (a holder that died long ago, whatever the skew within a lease). A holder that could
//! not renew for most of its lease stops recording: another command may take the lock.

use crate::lock::{LockError, LockInfo, Locked};
use hive_s3::{Bucket, Condition, Object, S3Error, S3ErrorKind};
use serde::{Deserialize, Serialize};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How often a waiting command looks at the lock.
const POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockObject {
    /// `None`: released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    holder: Option<LockInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_seconds: Option<u64>,
    /// Bumped by each renewal, so each renewal is a new version.
    #[serde(default)]
    renewal: u64,
}

impl LockObject {
    fn encode(&self) -> Result<Vec<u8>, LockError> {
        serde_json::to_vec_pretty(self).map_err(|e| LockError::Io(e.to_string()))
    }
}

fn io(error: S3Error) -> LockError {
    LockError::Io(error.to_string())
}

/// A moment by both clocks: `Instant` stops while a machine sleeps, the wall clock does not.
#[derive(Debug, Clone, Copy)]
struct Clock {
    monotonic: Instant,
    wall: SystemTime,
}

impl Clock {
    fn now() -> Clock {
        Clock {
            monotonic: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// The longer of the two clocks' measures of the time since.
    fn elapsed(&self) -> Duration {
        let wall = SystemTime::now()
            .duration_since(self.wall)
            .unwrap_or_default();
        self.monotonic.elapsed().max(wall)
    }
}

/// Whether a leased lock's holder is gone: its version stayed the same for a whole lease by
/// this machine's clock, or the server's time of its last renewal is two leases old and the
/// version stayed for longer than a live holder waits between renewals (so a clock that is
/// off alone never takes a lock away).
fn lease_ran_out(lease: Duration, unchanged: Duration, server_age: Duration) -> bool {
    unchanged >= lease || (server_age >= lease * 2 && unchanged >= lease / 2)
}

fn lease_seconds(lease: Duration) -> u64 {
    lease.as_secs_f64().ceil().max(1.0) as u64
}

/// What the holder's renewals found.
#[derive(Debug)]
struct Health {
    /// When the last renewal that succeeded was sent.
    last_renewed: Clock,
    lost: Option<String>,
}

/// A lock this process holds.
pub(super) struct Held {
    pub info: LockInfo,
    etag: Option<String>,
    lease: Option<Duration>,
    health: Arc<Mutex<Health>>,
    renewal: Option<(mpsc::Sender<()>, std::thread::JoinHandle<Option<String>>)>,
}

/// Whether a held lock is still this process's, for a recorder to ask before each write.
#[derive(Clone)]
pub(super) struct Holding {
    lease: Option<Duration>,
    health: Arc<Mutex<Health>>,
}

impl Holding {
    /// `Err` when the lock was taken over, or could not be renewed for most of its lease.
    pub fn check(&self) -> Result<(), String> {
        let Ok(health) = self.health.lock() else {
            return Err("the state lock's renewal failed".into());
        };
        if let Some(lost) = &health.lost {
            return Err(lost.clone());
        }
        match self.lease {
            Some(lease) if health.last_renewed.elapsed() > lease.mul_f64(0.8) => Err(format!(
                "the state lock could not be renewed for {:.0?} of its {lease:?} lease, so another command may take it over",
                health.last_renewed.elapsed()
            )),
            _ => Ok(()),
        }
    }
}

pub(super) struct S3Lock<'a> {
    pub bucket: &'a Bucket,
    pub key: String,
    pub lease: Option<Duration>,
}

impl S3Lock<'_> {
    fn read(&self) -> Result<Option<(LockObject, Object)>, LockError> {
        let Some(found) = self.bucket.get(&self.key).map_err(io)? else {
            return Ok(None);
        };
        let object = serde_json::from_slice(&found.bytes).map_err(|e| {
            LockError::Io(format!(
                "{} is not a hive lock ({e}); if nothing uses this state, remove that object",
                self.bucket.url_of(&self.key)
            ))
        })?;
        Ok(Some((object, found)))
    }

    /// Takes the lock for `command`, waiting up to `timeout`.
    pub fn acquire(&self, command: &str, timeout: Duration) -> Result<(Held, Locked), LockError> {
        // No deadline (a timeout too large to add) waits for as long as it takes.
        let deadline = Instant::now().checked_add(timeout);
        let info = LockInfo::now(command)?;
        let mine = LockObject {
            holder: Some(info.clone()),
            lease_seconds: self.lease.map(lease_seconds),
            renewal: 0,
        };
        let body = mine.encode()?;
        let locked = |previous| Locked {
            info: info.clone(),
            previous,
        };
        // The version of a lock held by someone else, and since when this process sees it.
        let mut watching: Option<(String, Instant)> = None;
        loop {
            // A lease is counted from before the write that takes the lock: the server may
            // have taken it long before the answer arrives.
            let asked = Clock::now();
            match self
                .bucket
                .put(&self.key, body.clone(), Condition::IfAbsent)
            {
                Ok(etag) => return Ok((self.hold(info.clone(), etag, asked), locked(None))),
                Err(e) if e.kind == S3ErrorKind::Precondition => {}
                Err(e) => return Err(io(e)),
            }
            let mut blocked_by = None;
            if let Some((found, object)) = self.read()? {
                let etag = object.etag.clone().unwrap_or_default();
                let taken_over = match &found.holder {
                    // A create retried after its first try succeeded unseen.
                    Some(holder) if holder.id == info.id => {
                        return Ok((self.hold(info.clone(), object.etag, asked), locked(None)))
                    }
                    None => Some(None),
                    Some(holder) => {
                        let seen_since = match &watching {
                            Some((seen, since)) if *seen == etag => *since,
                            _ => {
                                let now = Instant::now();
                                watching = Some((etag.clone(), now));
                                now
                            }
                        };
                        let expired = found.lease_seconds.is_some_and(|lease| {
                            let server_age = SystemTime::now()
                                .duration_since(object.modified)
                                .unwrap_or_default();
                            lease_ran_out(
                                Duration::from_secs(lease),
                                seen_since.elapsed(),
                                server_age,
                            )
                        });
                        expired.then(|| Some(holder.clone()))
                    }
                };
                match (taken_over, object.etag) {
                    (Some(previous), Some(etag)) => {
                        let asked = Clock::now();
                        match self
                            .bucket
                            .put(&self.key, body.clone(), Condition::IfMatch(etag))
                        {
                            Ok(etag) => {
                                return Ok((self.hold(info.clone(), etag, asked), locked(previous)))
                            }
                            Err(e) if e.kind == S3ErrorKind::Precondition => {}
                            Err(e) => return Err(io(e)),
                        }
                    }
                    _ => blocked_by = Some(found),
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                let found = blocked_by.unwrap_or_default();
                let holder = found.holder.unwrap_or_else(|| info.clone());
                return Err(match found.lease_seconds {
                    Some(_) => LockError::Held(holder),
                    None => LockError::Stale(holder),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    fn hold(&self, info: LockInfo, etag: Option<String>, taken: Clock) -> Held {
        let health = Arc::new(Mutex::new(Health {
            last_renewed: taken,
            lost: None,
        }));
        let renewal = match (self.lease, &etag) {
            (Some(lease), Some(etag)) => {
                let (stop, stopped) = mpsc::channel();
                let renewer = Renewer {
                    bucket: self.bucket.clone(),
                    key: self.key.clone(),
                    object: LockObject {
                        holder: Some(info.clone()),
                        lease_seconds: Some(lease_seconds(lease)),
                        renewal: 0,
                    },
                    etag: etag.clone(),
                    health: health.clone(),
                };
                let every = (lease / 3).max(Duration::from_millis(100));
                let thread = std::thread::spawn(move || renewer.run(every, stopped));
                Some((stop, thread))
            }
            // Without an ETag a renewal could not be conditional: the lease is not kept,
            // which `Holding::check` reports once it would have run out.
            _ => None,
        };
        Held {
            info,
            etag,
            lease: self.lease,
            health,
            renewal,
        }
    }

    /// Releases `held`: the lock is written free, if it is still the version this process
    /// holds.
    pub fn release(&self, mut held: Held) -> Result<(), LockError> {
        // What still holds a `Holding` of this lock must write nothing more.
        if let Ok(mut health) = held.health.lock() {
            health
                .lost
                .get_or_insert_with(|| "the state lock was released".into());
        }
        let etag = match held.renewal.take() {
            Some((stop, thread)) => {
                let _ = stop.send(());
                thread.join().ok().flatten().or(held.etag.take())
            }
            None => held.etag.take(),
        };
        let Some((found, object)) = self.read()? else {
            return Err(LockError::Io(
                "the lock was removed while this command ran".into(),
            ));
        };
        match found.holder {
            Some(holder) if holder.id == held.info.id => {}
            Some(holder) => {
                return Err(LockError::Io(format!(
                    "the lock was taken over while this command ran: {holder}"
                )))
            }
            None => {
                return Err(LockError::Io(format!(
                    "the lock {} was removed while this command ran (hive force-unlock?)",
                    held.info.id
                )))
            }
        }
        let version = object.etag.or(etag).unwrap_or_default();
        self.free(version)
    }

    fn free(&self, etag: String) -> Result<(), LockError> {
        let free = LockObject::default().encode()?;
        match self.bucket.put(&self.key, free, Condition::IfMatch(etag)) {
            Ok(_) => Ok(()),
            Err(e) if e.kind == S3ErrorKind::Precondition => Err(LockError::Io(
                "the lock changed while it was released; it was left as it is".into(),
            )),
            Err(e) => Err(io(e)),
        }
    }

    /// Removes the lock if `id` names it.
    pub fn force_unlock(&self, id: &str, location: &str) -> Result<LockInfo, LockError> {
        let not_locked = || LockError::Io(format!("the state at {location} is not locked"));
        let (found, object) = self.read()?.ok_or_else(not_locked)?;
        let holder = found.holder.ok_or_else(not_locked)?;
        if holder.id != id {
            return Err(LockError::Io(format!(
                "the state's lock has ID {}, not {id} ({holder})",
                holder.id
            )));
        }
        self.free(object.etag.unwrap_or_default())?;
        Ok(holder)
    }
}

impl Held {
    pub fn holding(&self) -> Holding {
        Holding {
            lease: self.lease,
            health: self.health.clone(),
        }
    }
}

struct Renewer {
    bucket: Bucket,
    key: String,
    object: LockObject,
    etag: String,
    health: Arc<Mutex<Health>>,
}

impl Renewer {
    /// Renews until told to stop; returns the version it last wrote.
    fn run(mut self, every: Duration, stopped: mpsc::Receiver<()>) -> Option<String> {
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
            self.object.renewal += 1;
            let Ok(body) = self.object.encode() else {
                continue;
            };
            let asked = Clock::now();
            let result = self
                .bucket
                .put(&self.key, body, Condition::IfMatch(self.etag.clone()));
            let written = match result {
                Ok(etag) => etag.or(Some(self.etag.clone())),
                // A renewal that landed although its answer was lost, or one retried after
                // it landed, finds this renewal there.
                Err(e) if e.kind == S3ErrorKind::Precondition => match self.current() {
                    Some((object, etag)) if self.is_mine(&object) => Some(etag),
                    found => {
                        let now = match found.and_then(|(o, _)| o.holder) {
                            Some(holder) => format!("it is now held by {holder}"),
                            None => "it was released (hive force-unlock?)".to_string(),
                        };
                        if let Ok(mut health) = self.health.lock() {
                            health.lost = Some(format!("the state lock was taken over: {now}"));
                        }
                        return None;
                    }
                },
                // A server that does not answer now may answer at the next renewal;
                // `Holding::check` stops recording if it never does.
                Err(_) => None,
            };
            if let Some(etag) = written {
                self.etag = etag;
                if let Ok(mut health) = self.health.lock() {
                    health.last_renewed = asked;
                }
            }
        }
        Some(self.etag)
    }

    fn current(&self) -> Option<(LockObject, String)> {
        let found = self.bucket.get(&self.key).ok().flatten()?;
        let object = serde_json::from_slice::<LockObject>(&found.bytes).ok()?;
        Some((object, found.etag.unwrap_or_default()))
    }

    /// The lock as this renewer last wrote it (its holder and counter).
    fn is_mine(&self, found: &LockObject) -> bool {
        let id = |o: &LockObject| o.holder.as_ref().map(|h| h.id.clone());
        id(found) == id(&self.object) && found.renewal == self.object.renewal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_runs_out_by_what_this_machine_saw_not_by_the_servers_clock_alone() {
        let lease = Duration::from_secs(30);
        let s = Duration::from_secs;
        assert!(lease_ran_out(lease, s(30), s(0)));
        assert!(!lease_ran_out(lease, s(29), s(59)));
        // A clock an hour ahead sees an old renewal, but the version is being renewed.
        assert!(!lease_ran_out(lease, s(0), s(3600)));
        assert!(lease_ran_out(lease, s(15), s(3600)));
    }

    fn holding(lease: Option<Duration>, renewed_ago: Duration, lost: Option<&str>) -> Holding {
        let monotonic = Instant::now()
            .checked_sub(renewed_ago)
            .unwrap_or_else(Instant::now);
        let wall = SystemTime::now() - renewed_ago;
        Holding {
            lease,
            health: Arc::new(Mutex::new(Health {
                last_renewed: Clock { monotonic, wall },
                lost: lost.map(str::to_string),
            })),
        }
    }

    #[test]
    fn a_holder_stops_writing_before_its_lease_can_run_out_or_once_it_lost_the_lock() {
        let lease = Some(Duration::from_secs(10));
        assert!(holding(lease, Duration::from_secs(1), None).check().is_ok());
        let late = holding(lease, Duration::from_secs(9), None).check();
        assert!(late.is_err_and(|e| e.contains("could not be renewed")));
        assert!(holding(None, Duration::from_secs(3600), None)
            .check()
            .is_ok());
        let lost = holding(lease, Duration::ZERO, Some("taken over")).check();
        assert_eq!(lost, Err("taken over".to_string()));
    }
}
