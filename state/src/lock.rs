//! The local state lock. Every command that writes state takes it; the lock file says who holds
//! it (id, user, host, pid, command, time), so a refused command can say why.
//!
//! The lock is an exclusive `flock` on `state.json.lock`, which the kernel drops when the
//! holder dies, plus the holder's details written in the file. An empty, unlocked file is a
//! free lock. A file with details that nobody holds was left by a holder that died (`kill -9`,
//! a cancelled CI job): as Terraform's local backend does, the next command takes the lock
//! over, and says whose it was ([`Locked::previous`]).

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub user: String,
    pub host: String,
    pub pid: u32,
    pub command: String,
    /// When it was taken, RFC 3339 in UTC.
    pub created: String,
}

impl LockInfo {
    /// Details of a lock taken now by this process for `command`.
    pub fn now(command: &str) -> Result<LockInfo, LockError> {
        Ok(LockInfo {
            id: hive_sdk::random::hex_id(6).map_err(|e| LockError::Io(e.to_string()))?,
            user: std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_else(|_| "unknown".into()),
            host: hostname(),
            pid: std::process::id(),
            command: command.to_string(),
            created: rfc3339_now(),
        })
    }
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ID {}, taken by {}@{} (pid {}) running `{}` at {}",
            self.id, self.user, self.host, self.pid, self.command, self.created
        )
    }
}

#[derive(Debug)]
pub enum LockError {
    /// A running process holds it.
    Held(LockInfo),
    /// A remote lock whose holder may be gone: only `hive force-unlock ID` removes it.
    Stale(LockInfo),
    Io(String),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Held(info) => write!(f, "the state is locked: {info}"),
            LockError::Stale(info) => write!(
                f,
                "the state is locked: {info}; if that command is no longer running, remove the lock with:\n  hive force-unlock {}",
                info.id
            ),
            LockError::Io(e) => write!(f, "cannot lock the state: {e}"),
        }
    }
}

impl std::error::Error for LockError {}

/// A lock just taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Locked {
    pub info: LockInfo,
    /// The details a holder that died left in the lock, now taken over.
    pub previous: Option<LockInfo>,
}

/// A held local lock; dropping it releases it.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    pub info: LockInfo,
}

/// How long a waiter gives a new holder to write its details: the holder writes them right
/// after the kernel grants the lock, so this is only ever a few milliseconds.
const DETAILS_GRACE: Duration = Duration::from_secs(2);

impl FileLock {
    /// Takes the lock at `path` for `command`, waiting up to `timeout` for a running holder.
    pub fn acquire(
        path: &Path,
        command: &str,
        timeout: Duration,
    ) -> Result<(FileLock, Locked), LockError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut file = open(path)?;
        // When the lock was first seen held without a live holder's details.
        let mut blank_since: Option<Instant> = None;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    let now = Instant::now();
                    let info = read_info(&mut file).filter(is_live);
                    let timed_out = deadline.is_some_and(|d| now >= d);
                    if timed_out {
                        // The holder's details, once it has written them: a lock is never
                        // reported with blanks while they are on their way.
                        match &info {
                            Some(info) => return Err(LockError::Held(info.clone())),
                            None => {
                                let since = *blank_since.get_or_insert(now);
                                if now.duration_since(since) >= DETAILS_GRACE {
                                    return Err(LockError::Held(unknown_holder(path)));
                                }
                            }
                        }
                    }
                    // Polling: flock has no timed wait.
                    let pause = if info.is_some() { 100 } else { 5 };
                    std::thread::sleep(Duration::from_millis(pause));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(LockError::Io(format!("{}: {e}", path.display())))
                }
            }
        }
        // The kernel lock was free: details still in the file are a dead holder's.
        let previous = read_info(&mut file);
        let info = match LockInfo::now(command) {
            Ok(info) => info,
            Err(e) => {
                let _ = file.unlock();
                return Err(e);
            }
        };
        if let Err(e) = write_info(&mut file, Some(&info)) {
            let _ = file.unlock();
            return Err(LockError::Io(format!("{}: {e}", path.display())));
        }
        let locked = Locked {
            info: info.clone(),
            previous,
        };
        Ok((FileLock { file, info }, locked))
    }
}

/// Details that can belong to the running holder: not those of a process of this machine
/// that is gone (a takeover's new holder has not overwritten them yet).
fn is_live(info: &LockInfo) -> bool {
    !info.id.is_empty() && (info.host != hostname() || process_exists(info.pid))
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Emptied, not removed: removing would let a waiter lock an unlinked file while a
        // newcomer locks a new one.
        let _ = write_info(&mut self.file, None);
        let _ = self.file.unlock();
    }
}

/// Removes a lock whose holder is gone, if `id` names it.
pub fn force_unlock(path: &Path, id: &str) -> Result<LockInfo, LockError> {
    let mut file = open(path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let info = read_info(&mut file).unwrap_or_else(|| unknown_holder(path));
            return Err(LockError::Io(format!(
                "the lock is held by a running process ({info}); stop it instead"
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(LockError::Io(format!("{}: {e}", path.display())))
        }
    }
    let result = match read_info(&mut file) {
        None => Err(LockError::Io("the state is not locked".into())),
        Some(info) if info.id != id => Err(LockError::Io(format!(
            "the lock's ID is {}, not {id}: check which lock you mean",
            info.id
        ))),
        Some(info) => write_info(&mut file, None)
            .map(|()| info)
            .map_err(|e| LockError::Io(e.to_string())),
    };
    let _ = file.unlock();
    result
}

fn open(path: &Path) -> Result<File, LockError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| LockError::Io(format!("{}: {e}", dir.display())))?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| LockError::Io(format!("{}: {e}", path.display())))
}

fn read_info(file: &mut File) -> Option<LockInfo> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    if text.trim().is_empty() {
        return None;
    }
    serde_json::from_str(&text).ok()
}

/// Writes the holder's details in one write at the start of the file, then cuts what is left
/// of older details: a reader sees the old details or the new ones, never a blank. Not fsynced:
/// the flock is what excludes others, and details a power loss takes back only leave a free
/// lock behind.
fn write_info(file: &mut File, info: Option<&LockInfo>) -> std::io::Result<()> {
    let Some(info) = info else {
        return file.set_len(0);
    };
    let text = serde_json::to_string_pretty(info).map_err(std::io::Error::other)?;
    file.write_all_at(text.as_bytes(), 0)?;
    file.set_len(text.len() as u64)?;
    file.flush()
}

fn unknown_holder(path: &Path) -> LockInfo {
    LockInfo {
        id: "?".into(),
        user: "?".into(),
        host: "?".into(),
        pid: 0,
        command: format!("(no details in {})", path.display()),
        created: "?".into(),
    }
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (the civil date by Howard Hinnant's algorithm).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_305_600), "2026-11-22T00:00:00Z");
    }

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_details() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json.lock");
        let (first, locked) = FileLock::acquire(&path, "hive apply", Duration::ZERO).unwrap();
        assert_eq!(locked.previous, None);
        match FileLock::acquire(&path, "hive plan", Duration::ZERO) {
            Err(LockError::Held(info)) => {
                assert_eq!(info, first.info);
                assert_eq!(info.pid, std::process::id());
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        let (again, locked) = FileLock::acquire(&path, "hive plan", Duration::ZERO).unwrap();
        assert_eq!(again.info.command, "hive plan");
        assert_eq!(locked.previous, None, "a released lock leaves no details");
    }

    #[test]
    fn a_dead_holders_lock_is_taken_over_with_its_details() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json.lock");
        // What a holder killed with -9 leaves: its details, and no flock.
        let dead = LockInfo {
            id: "0123456789ab".into(),
            user: "ci".into(),
            host: hostname(),
            pid: 999_999,
            command: "hive apply".into(),
            created: rfc3339(0),
        };
        std::fs::write(&path, serde_json::to_string(&dead).unwrap()).unwrap();
        let (lock, locked) = FileLock::acquire(&path, "hive plan", Duration::ZERO).unwrap();
        assert_eq!(locked.previous, Some(dead));
        assert_eq!(locked.info, lock.info);
        let written: LockInfo =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            written, lock.info,
            "the new holder's details replace the dead one's"
        );
    }

    #[test]
    fn a_running_holder_cannot_be_forced_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json.lock");
        let (held, _) = FileLock::acquire(&path, "hive apply", Duration::ZERO).unwrap();
        let err = force_unlock(&path, &held.info.id).unwrap_err().to_string();
        assert!(err.contains("running process"), "{err}");
    }

    #[test]
    fn holders_racing_for_the_lock_always_see_each_others_details() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json.lock");
        for _ in 0..200 {
            let racers: Vec<_> = (0..2)
                .map(|i| {
                    let path = path.clone();
                    std::thread::spawn(move || {
                        FileLock::acquire(&path, &format!("racer {i}"), Duration::ZERO)
                    })
                })
                .collect();
            let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
            for r in &results {
                if let Err(e) = r {
                    match e {
                        LockError::Held(info) => {
                            assert!(info.command.starts_with("racer"), "{info}");
                            assert_ne!(info.pid, 0, "{info}");
                        }
                        other => panic!("{other}"),
                    }
                }
            }
        }
    }
}
