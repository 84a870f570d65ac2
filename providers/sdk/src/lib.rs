//! The provider interface and the vocabulary shared by hive's engine and its providers.
//!
//! # Layout
//! - [`value`]: values, including *unknown* (known after apply) and *sensitive*.
//! - [`types`]: types of values and conversion between them.
//! - [`schema`]: the schema of each resource kind (attributes, blocks, what is computed).
//! - [`addr`]: addresses of resources and resource instances (`instance.node[0]`).
//! - [`provider`]: the provider interface the engine calls; [`problem`]: what a provider
//!   finds wrong with a configuration, at its attribute.
//! - [`identity`]: the SSH key pair hive logs into guests with.
//! - [`exec`]: running programs on a host, for command-line backends; [`host_files`]: its
//!   files; [`ssh`]: remote hosts over SSH.
//! - [`guest`]: waiting for guests, sizing them, logging into them; [`cloud_init`]: the
//!   user data hive gives them.
//! - [`tag`]: who an object hive made belongs to.
//! - [`random`]: random identifiers. [`net`]: IPv4 subnet arithmetic. [`disk`]: disk image formats by their content.
//!
//! This crate knows nothing of HCL, the state file or any backend.

pub mod addr;
pub mod cloud_init;
pub mod disk;
pub mod exec;
pub mod guest;
pub mod host_files;
pub mod host_health;
pub mod identity;
pub mod linux_bridge;
pub mod net;
pub mod problem;
pub mod provider;
pub mod random;
pub mod schema;
pub mod scratch;
pub mod ssh;
pub mod ssh_tunnel;
pub mod subnets;
pub mod tag;
pub mod types;
pub mod units;
pub mod value;

pub use types::Type;
pub use value::Value;
