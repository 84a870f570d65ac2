//! Operations: what each command does, as functions that return data (never print).

pub mod apply;
pub mod checkpoint;
pub mod checks;
pub mod fmt;
pub mod hosts;
pub mod import;
pub mod migrate;
pub mod plan;
pub mod reap;
pub mod refactor;
pub mod retag;
pub mod scan;
pub mod snapshot;
pub mod ssh;
pub mod state;
pub mod test;
pub mod validate;
