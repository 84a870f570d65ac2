//! hive's state: what hive has created, as recorded between commands.
//!
//! # Layout
//! - [`model`]: the state and its versioned JSON format (SPEC section 4).
//! - [`backend`]: the interface every state backend implements (read, record, lock, write
//!   with a backup); [`settings`]: the backends there are and their settings.
//! - [`journal`]: one recorded change, and its checksummed journal line.
//! - [`file`]: the local backend: a snapshot plus an fsynced append-only journal, so recording
//!   one finished step costs the size of that step, not of the whole state.
//! - [`memory`]: a backend in memory, for tests.
//! - [`lock`]: the local lock, which says who holds it and is taken over from a dead holder.
//!
//! This crate knows nothing of configurations, graphs or the command line.

pub mod backend;
pub mod file;
pub mod journal;
pub mod lock;
pub mod memory;
pub mod model;
pub mod s3;
pub mod settings;
mod snapshot;

pub use backend::{Loaded, Recorder, StateBackend, StateError};
pub use model::{ObjectAddr, OutputState, ResourceState, State, Status, FORMAT_VERSION};

/// A new lineage: 16 random bytes from the kernel, as hex.
pub fn new_lineage() -> std::io::Result<String> {
    hive_sdk::random::hex_id(16)
}
