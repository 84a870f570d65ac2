//! Disks: the shapes of `image` and `volume` blocks every driver shares, and disk image files
//! as their content says they are (the name may say anything).

use crate::schema::{computed, optional, schema, Schema};
use crate::Type;
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
            computed("id", Type::String),
            computed("size", Type::Number),
            computed("path", Type::String),
        ],
        vec![],
    )
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

pub const QCOW2_MAGIC: &[u8; 4] = b"QFI\xfb";

/// The first 32 bytes of a file (zeros where it is shorter or cannot be read).
pub fn header(path: &Path) -> [u8; 32] {
    let mut head = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read(&mut head);
    }
    head
}

pub fn is_qcow2(path: &Path) -> bool {
    &header(path)[..4] == QCOW2_MAGIC
}
