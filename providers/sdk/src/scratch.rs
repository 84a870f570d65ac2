//! A file of hive's on its way somewhere (a download, a backup, a copy being sent), removed
//! when dropped, whatever happened.

use crate::provider::{random_id, ProviderError};
use std::path::PathBuf;

pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh name in the system's temporary directory: `hive-HINT-PID-ID.EXT`.
    pub fn new(hint: &str, ext: &str) -> Result<Scratch, ProviderError> {
        let id = random_id()?;
        Ok(Scratch(std::env::temp_dir().join(format!(
            "hive-{hint}-{}-{id}.{ext}",
            std::process::id()
        ))))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
