//! Operations: what each command does, as functions that return data (never print).

pub mod fmt;
pub mod validate;
