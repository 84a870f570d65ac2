//! The state backend interface: where the state lives and how it is read, recorded, locked
//! and backed up. Commands hold a backend, never a file; each backend (the local file, an
//! in-memory one for tests, later S3) implements all of it.

use crate::journal::Entry;
use crate::lock::{LockError, LockInfo, Locked};
use crate::model::State;
use std::time::Duration;

/// What reading the state found.
#[derive(Debug)]
pub struct Loaded {
    /// `None` when there is no state yet.
    pub state: Option<State>,
    /// Recorded steps replayed on top of the last snapshot (a previous command did not
    /// finish).
    pub replayed: usize,
    /// The last recorded step was cut off by a crash and was dropped.
    pub torn_tail: bool,
    /// No state here: `hive state migrate` moved it to this place.
    pub moved_to: Option<String>,
}

/// A failure to read or write the state.
#[derive(Debug)]
pub enum StateError {
    Io {
        doing: String,
        error: std::io::Error,
    },
    /// The stored state is damaged; `restore` says how to get the previous one back, where
    /// there is one.
    Corrupt {
        what: String,
        why: String,
        restore: Option<String>,
    },
    Format {
        what: String,
        error: crate::model::FormatError,
    },
    /// A value could not be written in the state's format.
    Encode { doing: String, error: String },
    /// A remote store failed; `error` says what hive was doing and what the store said.
    Remote { error: String },
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::Io { doing, error } => write!(f, "{doing}: {error}"),
            StateError::Corrupt { what, why, restore } => {
                write!(
                    f,
                    "the state {what} is damaged: {why}; hive will not use it"
                )?;
                if let Some(restore) = restore {
                    write!(f, " ({restore})")?;
                }
                Ok(())
            }
            StateError::Format { what, error } => write!(f, "{what}: {error}"),
            StateError::Encode { doing, error } => write!(f, "{doing}: {error}"),
            StateError::Remote { error } => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for StateError {}

/// Records the steps of one command on top of the state it read, each as soon as it happens.
pub trait Recorder: Send {
    /// Records one change; returns the state's new serial.
    fn append(&mut self, entry: &Entry) -> Result<u64, StateError>;

    /// Makes everything appended durable (one flush however many entries wait).
    fn sync(&mut self) -> Result<(), StateError>;

    /// Sets aside room for recording the results of `steps` steps about to start, so that a
    /// storage that fills up meanwhile cannot lose what they did. `Err` means there is no
    /// room: the steps must not start.
    fn reserve(&mut self, steps: usize) -> Result<(), StateError> {
        let _ = steps;
        Ok(())
    }

    fn serial(&self) -> u64;
}

pub trait StateBackend: Send {
    /// Where the state lives, for messages and for the tags of backend objects.
    fn location(&self) -> String;

    /// Takes the lock for `command`, waiting up to `timeout` for a running holder. A lock
    /// whose holder is known to have died is taken over ([`Locked::previous`]).
    fn lock(&mut self, command: &str, timeout: Duration) -> Result<Locked, LockError>;

    /// Releases the lock this backend took, by its id.
    fn unlock(&mut self, id: &str) -> Result<(), LockError>;

    /// Removes a lock whose holder is gone, if `id` names it.
    fn force_unlock(&mut self, id: &str) -> Result<LockInfo, LockError>;

    /// The latest state: the last snapshot with every step recorded since. When the lock is
    /// held, a step cut off by a crash is also removed from storage.
    fn read(&mut self) -> Result<Loaded, StateError>;

    /// Starts recording steps on top of the state just read, whose serial is `serial` (the
    /// lock must be held).
    fn recorder(&mut self, serial: u64) -> Result<Box<dyn Recorder>, StateError>;

    /// Writes `state` as the new snapshot, with what it replaces kept as a backup; steps
    /// recorded since the last snapshot are folded into it.
    fn write(&mut self, state: &State) -> Result<(), StateError>;

    /// Where the previous snapshot is kept, if there is one.
    fn backup_location(&self) -> Option<String>;

    /// After the state was moved to `moved_to`: sets `state` (what was read here) aside,
    /// kept whole, so that this location holds no state; returns where it is kept. The lock
    /// must be held.
    fn retire(&mut self, state: &State, moved_to: &str) -> Result<String, StateError>;
}
