//! hive's state: what hive has created, as recorded between commands.
//!
//! # Layout
//! - [`model`]: the state and its versioned JSON format (SPEC section 4).
//! - [`backend`]: the interface every state backend implements (read, record, lock, write
//!   with a backup); [`settings`]: the backends there are and their settings.
//! - [`journal`]: one recorded change, and its checksummed journal line.
//! - [`file`]: the local backend: a snapshot plus an fsynced append-only journal, so recording
//!   one finished step costs the size of that step, not of the whole state.
//! - [`memory`]: a backend in memory, for tests.
//! - [`lock`]: the local lock, which says who holds it and is taken over from a dead holder.
//!
//! This crate knows nothing of configurations, graphs or the command line.

pub mod backend;
pub mod file;
pub mod journal;
pub mod lock;
pub mod memory;
pub mod model;
pub mod s3;
pub mod settings;
mod snapshot;

pub use backend::{Loaded, Recorder, StateBackend, StateError};
pub use model::{ObjectAddr, OutputState, ResourceState, State, Status, FORMAT_VERSION};

/// A new lineage: 16 random bytes from the kernel, as hex.
pub fn new_lineage() -> std::io::Result<String> {
    hive_sdk::random::hex_id(16)
}

/// `hive.id`: a short name for the state with this lineage, for backend names
/// (`"ci-${hive.id}-node"`). Eight characters, a letter then letters and digits, so it is
/// valid wherever a host name is; the same for the state's whole life, and different
/// between states (one in 2·10¹² collides).
pub fn short_id(lineage: &str) -> String {
    use sha2::Digest;
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let digest = sha2::Sha256::digest(lineage.as_bytes());
    digest
        .iter()
        .take(8)
        .enumerate()
        .map(|(i, b)| {
            let letters = if i == 0 { 26 } else { 36 };
            ALPHABET[usize::from(*b) % letters] as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_ids_are_stable_host_name_safe_and_distinct() {
        let a = super::short_id("0123456789abcdef0123456789abcdef");
        assert_eq!(a, super::short_id("0123456789abcdef0123456789abcdef"));
        assert_eq!(a.len(), 8);
        assert!(a.starts_with(|c: char| c.is_ascii_lowercase()), "{a}");
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        let many: std::collections::BTreeSet<String> = (0..1000)
            .map(|i| super::short_id(&format!("lineage-{i}")))
            .collect();
        assert_eq!(many.len(), 1000);
    }
}
