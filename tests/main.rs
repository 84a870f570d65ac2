//! hive's integration tests: one binary, a module per topic.

mod support;

mod adversarial;
mod cli;
mod examples;
mod fixtures;
mod fmt;
