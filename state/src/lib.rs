//! hive's state: what hive has created, as recorded between commands.
//!
//! # Layout
//! - [`model`]: the state and its versioned JSON format (SPEC section 4).
//! - [`file`]: the local backend: a snapshot plus an fsynced append-only journal, so recording
//!   one finished step costs the size of that step, not of the whole state.
//! - [`lock`]: the lock every writing command takes, which says who holds it.
//!
//! This crate knows nothing of configurations, graphs or the command line.

pub mod file;
pub mod lock;
pub mod model;

pub use model::{OutputState, ResourceState, State, Status, FORMAT_VERSION};
