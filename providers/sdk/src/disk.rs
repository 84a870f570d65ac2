//! Disks: the shapes of `image` and `volume` blocks every driver shares, and disk image files
//! as their content says they are (the name may say anything).

use crate::schema::{computed, optional, schema, Schema};
use crate::{Type, Value};
use std::io::Read;
use std::path::Path;

/// What an `image` block holds for every driver.
pub fn image_schema() -> Schema {
    schema(
        vec![
            optional("source", Type::String)
                .replaces()
                .about("local path, file:// or http(s):// URL"),
            optional("format", Type::String)
                .replaces()
                .about("\"qcow2\", \"raw\", \"kernel\" or \"lxd\""),
            optional("driver", Type::String)
                .replaces()
                .about("\"libvirt\" (default) or \"lxd\" (implied by format = \"lxd\")"),
            optional("host", Type::Any).refers_to("host").replaces(),
            optional("sha256", Type::String).replaces(),
            optional("store", Type::Any)
                .refers_to("store")
                .replaces()
                .about("kept in this store: uploaded once, fetched from it into each host's cache"),
            computed("id", Type::String),
            computed("size", Type::Number),
            computed("path", Type::String),
            computed("stored_at", Type::String),
        ],
        vec![],
    )
}

/// `s3://bucket/key` as its bucket and key.
pub fn parse_s3_url(url: &str) -> Option<(&str, &str)> {
    let (bucket, key) = url.strip_prefix("s3://")?.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

/// An image's checksum and store settings, as every driver takes them.
pub fn validate_stored_image(config: &Value) -> Vec<crate::problem::Problem> {
    use crate::problem::Problem;
    let mut problems = Vec::new();
    if let Some(source) = config.attr_str("source").filter(|s| s.starts_with("s3://")) {
        if parse_s3_url(source).is_none() {
            problems.push(Problem::at(
                "source",
                format!("source = \"{source}\": write an object in a bucket as s3://bucket/key"),
            ));
        } else if store_of(config).is_none() {
            problems.push(Problem::at(
                "source",
                "an s3:// source is read through a store: set store = store.NAME (its server and credentials)",
            ));
        }
    }
    if let Some(sum) = config.attr_str("sha256") {
        if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
            problems.push(Problem::at(
                "sha256",
                format!("sha256 = \"{sum}\" is not 64 hexadecimal digits"),
            ));
        }
    }
    problems
}

/// What a `volume` block holds for every driver.
pub fn volume_schema() -> Schema {
    schema(
        vec![
            optional("driver", Type::String).replaces(),
            optional("host", Type::Any).refers_to("host").replaces(),
            optional("size", Type::String),
            computed("id", Type::String),
            computed("path", Type::String),
        ],
        vec![],
    )
}

/// What a volume kept in a `store` adds: where in the store, and when it is snapshotted.
pub fn stored_volume_schema() -> Schema {
    schema(
        vec![
            optional("store", Type::Any)
                .refers_to("store")
                .replaces()
                .about("restored from its latest snapshot in this store when created"),
            optional("store_key", Type::String)
                .replaces()
                .about("its name in the store (default: made from its address)"),
            optional("snapshot_on_destroy", Type::Bool)
                .default(Value::Bool(false))
                .about("snapshot it into its store before it is destroyed"),
            optional("keep_snapshots", Type::Number)
                .default(Value::Number(5.0))
                .about("how many of its snapshots the store keeps"),
            computed("restored_from", Type::String),
        ],
        vec![],
    )
}

/// How many snapshots of a volume its store keeps when the configuration does not say.
pub const DEFAULT_KEEP_SNAPSHOTS: usize = 5;

/// A stored volume's settings that the schema cannot check.
pub fn validate_stored_volume(config: &Value) -> Vec<crate::problem::Problem> {
    use crate::problem::Problem;
    let mut problems = Vec::new();
    let stored = config.attr("store").is_some_and(|s| !s.is_null());
    if let Some(key) = config.attr_str("store_key") {
        let fine = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
        if key.is_empty() || !key.chars().all(fine) || key.starts_with('.') {
            problems.push(Problem::at(
                "store_key",
                format!(
                    "store_key = \"{key}\": a store key holds letters, digits, '.', '_' and '-'"
                ),
            ));
        }
    }
    if let Some(n) = config.attr("keep_snapshots").and_then(Value::as_number) {
        if n < 1.0 || n.fract() != 0.0 {
            problems.push(Problem::at(
                "keep_snapshots",
                format!("keep_snapshots = {n}: keep at least one snapshot, a whole number"),
            ));
        }
    }
    if !stored {
        for name in ["store_key", "snapshot_on_destroy", "keep_snapshots"] {
            // Unset attributes are unknown where the schema has a default.
            if config
                .attr(name)
                .is_some_and(|v| !v.is_null() && !v.is_unknown())
            {
                problems.push(Problem::at(
                    name,
                    format!("{name} is set, but the volume names no store"),
                ));
            }
        }
    }
    problems
}

/// The store a volume's or image's configuration (or record) names, if any.
pub fn store_of(config: &Value) -> Option<&Value> {
    config.attr("store").filter(|s| !s.is_null())
}

/// A stored volume's name in its store: `store_key`, else made from its address.
pub fn store_key_of(config: &Value, address: &crate::addr::InstanceAddr) -> String {
    config
        .attr_str("store_key")
        .map(str::to_string)
        .unwrap_or_else(|| crate::addr::backend_name(address))
}

/// How many snapshots of a stored volume are kept.
pub fn keep_snapshots_of(config: &Value) -> usize {
    config
        .attr("keep_snapshots")
        .and_then(Value::as_number)
        .filter(|n| *n >= 1.0)
        .map_or(DEFAULT_KEEP_SNAPSHOTS, |n| n as usize)
}

pub const QCOW2_MAGIC: &[u8; 4] = b"QFI\xfb";

/// The first 32 bytes of a file (zeros where it is shorter or cannot be read).
pub fn header(path: &Path) -> [u8; 32] {
    let mut head = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read(&mut head);
    }
    head
}

/// Whether a qcow2 file's header names a backing file (its offset, bytes 8 to 15, is set).
pub fn qcow2_has_backing_file(path: &Path) -> bool {
    header(path)[8..16].iter().any(|b| *b != 0)
}

pub fn is_qcow2(path: &Path) -> bool {
    &header(path)[..4] == QCOW2_MAGIC
}
