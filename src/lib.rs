//! hive: a declarative provisioner for test clusters.
pub mod config;
pub mod lang;
