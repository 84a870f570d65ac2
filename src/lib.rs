//! hive: a declarative provisioner for test clusters.
//!
//! # Layout
//! The pipeline, in order:
//! - [`config`]: `*.hive.hcl` files → blocks with spans, expressions kept unevaluated; `fmt`.
//! - [`lang`]: the evaluator, the function library, reference extraction, the whole-config walk.
//! - [`graph`]: the dependency graph of a configuration, cycles with their path.
//! - [`ops`]: what each command does, returning data.
//! - [`render`]: diagnostics and results as text or JSON.
//! - [`cli`]: argument parsing and printing; the only place that writes to the terminal.
//!
//! [`diag`] holds diagnostics, shared by all of them.

pub mod cli;
pub mod config;
pub mod diag;
pub mod engine;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod graph;
pub mod lang;
pub mod ops;
pub mod plan;
pub mod render;
#[cfg(test)]
pub mod testing;
