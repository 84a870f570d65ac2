//! A state backend in memory, for tests: clones share one store, as two processes share one
//! file, so locking and recording between them can be exercised without a disk.

use crate::backend::{Loaded, Recorder, StateBackend, StateError};
use crate::journal::Entry;
use crate::lock::{LockError, LockInfo, Locked};
use crate::model::State;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Store {
    snapshot: Option<State>,
    /// Recorded since the snapshot, with their serials.
    entries: Vec<(u64, Entry)>,
    backups: Vec<State>,
    lock: Option<LockInfo>,
    /// Set by a test: the holder of `lock` is gone.
    holder_dead: bool,
}

#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    store: Arc<Mutex<Store>>,
    held: Option<String>,
}

impl MemoryBackend {
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        guard(&self.store)
    }

    /// What a test sees of the store: the snapshot and the entries recorded since.
    pub fn contents(&self) -> (Option<State>, usize) {
        let store = self.store();
        (store.snapshot.clone(), store.entries.len())
    }

    /// Makes the lock's holder a dead one, as `kill -9` would.
    pub fn kill_holder(&self) {
        self.store().holder_dead = true;
    }

    /// How many snapshots were replaced and kept as backups.
    pub fn backups(&self) -> usize {
        self.store().backups.len()
    }
}

impl StateBackend for MemoryBackend {
    fn location(&self) -> String {
        format!("memory:{:p}", Arc::as_ptr(&self.store))
    }

    fn lock(&mut self, command: &str, timeout: Duration) -> Result<Locked, LockError> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            {
                let mut store = guard(&self.store);
                let previous = match &store.lock {
                    Some(info) if !store.holder_dead => {
                        if deadline.is_some_and(|d| Instant::now() >= d) {
                            return Err(LockError::Held(info.clone()));
                        }
                        None
                    }
                    other => Some(other.clone()),
                };
                if let Some(previous) = previous {
                    let info = LockInfo::now(command)?;
                    store.lock = Some(info.clone());
                    store.holder_dead = false;
                    self.held = Some(info.id.clone());
                    return Ok(Locked { info, previous });
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn unlock(&mut self, id: &str) -> Result<(), LockError> {
        let mut store = guard(&self.store);
        match &store.lock {
            Some(info) if info.id == id && self.held.as_deref() == Some(id) => {
                store.lock = None;
                self.held = None;
                Ok(())
            }
            _ => Err(LockError::Io(format!("this backend holds no lock {id}"))),
        }
    }

    fn force_unlock(&mut self, id: &str) -> Result<LockInfo, LockError> {
        let mut store = self.store();
        match store.lock.take() {
            Some(info) if info.id == id => Ok(info),
            other => {
                store.lock = other;
                Err(LockError::Io(format!("no lock {id}")))
            }
        }
    }

    fn read(&mut self) -> Result<Loaded, StateError> {
        let store = self.store();
        let mut state = store.snapshot.clone();
        for (serial, entry) in &store.entries {
            if let Some(s) = state.as_mut() {
                entry.clone().apply(s);
                s.serial = *serial;
            }
        }
        Ok(Loaded {
            state,
            replayed: store.entries.len(),
            torn_tail: false,
            moved_to: None,
        })
    }

    fn recorder(&mut self, serial: u64) -> Result<Box<dyn Recorder>, StateError> {
        Ok(Box::new(MemoryRecorder {
            store: self.store.clone(),
            serial,
        }))
    }

    fn write(&mut self, state: &State) -> Result<(), StateError> {
        let mut store = self.store();
        if let Some(old) = store.snapshot.replace(state.clone()) {
            store.backups.push(old);
        }
        store.entries.clear();
        Ok(())
    }

    fn backup_location(&self) -> Option<String> {
        (self.backups() > 0).then(|| format!("{} (backup)", self.location()))
    }

    fn retire(&mut self, state: &State, _moved_to: &str) -> Result<String, StateError> {
        let mut store = self.store();
        store.snapshot = None;
        store.entries.clear();
        store.backups.push(state.clone());
        Ok(format!("{} (backup)", self.location()))
    }
}

fn guard(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|p| p.into_inner())
}

struct MemoryRecorder {
    store: Arc<Mutex<Store>>,
    serial: u64,
}

impl Recorder for MemoryRecorder {
    fn append(&mut self, entry: &Entry) -> Result<u64, StateError> {
        self.serial += 1;
        let mut store = guard(&self.store);
        store.entries.push((self.serial, entry.clone()));
        Ok(self.serial)
    }

    fn sync(&mut self) -> Result<(), StateError> {
        Ok(())
    }

    fn serial(&self) -> u64 {
        self.serial
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_lock_and_a_dead_holders_lock_is_taken_over() {
        let mut a = MemoryBackend::new();
        let mut b = a.clone();
        let first = a.lock("hive apply", Duration::ZERO).unwrap();
        match b.lock("hive plan", Duration::ZERO) {
            Err(LockError::Held(info)) => assert_eq!(info, first.info),
            other => panic!("{other:?}"),
        }
        a.kill_holder();
        let second = b.lock("hive plan", Duration::ZERO).unwrap();
        assert_eq!(second.previous, Some(first.info));
        b.unlock(&second.info.id).unwrap();
        assert_eq!(a.lock("x", Duration::ZERO).unwrap().previous, None);
    }

    #[test]
    fn recorded_steps_are_read_back_until_folded() {
        let mut b = MemoryBackend::new();
        b.write(&State::new("l".into())).unwrap();
        let mut r = b.recorder(0).unwrap();
        r.append(&Entry::Outputs {
            outputs: Default::default(),
        })
        .unwrap();
        assert_eq!(b.read().unwrap().replayed, 1);
        let state = b.read().unwrap().state.unwrap();
        assert_eq!(state.serial, 1);
        b.write(&state).unwrap();
        assert_eq!(b.read().unwrap().replayed, 0);
        assert_eq!(b.backups(), 1);
    }
}
