//! Everything hive shows a person or a program: diagnostics, diffs, JSON. Only this layer and
//! `cli` write to the terminal.

pub mod diag;
pub mod events;

pub mod graph;
pub mod inventory;

pub mod plan;
pub mod test_report;
