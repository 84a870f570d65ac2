//! Disk image files as their content says they are (the name may say anything).

use std::io::Read;
use std::path::Path;

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
