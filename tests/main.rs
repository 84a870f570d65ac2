//! hive's integration tests: one binary, a module per topic.

mod support;

mod addresses;
mod adversarial;
mod ci_options;
mod cli;
mod commands;
mod engine;
mod ephemeral;
mod examples;
mod fixtures;
mod fmt;
mod hive_test;
mod lifecycle;
mod parallel_jobs;
mod provider;
mod secrets;
mod state;
mod terraform;
