//! The state backends this build has, the settings each takes (`hive { state { ... } }`), and
//! opening one from its decoded settings. The configuration layer checks a block against
//! [`BACKENDS`] (an unknown backend or setting is an error at its place); this crate only
//! sees the values.

use crate::backend::StateBackend;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The state file when the configuration does not say: inside the configuration directory,
/// so each configuration has its own.
pub const DEFAULT_PATH: &str = ".hive/state.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingType {
    String,
    Bool,
    Number,
}

#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub name: &'static str,
    pub ty: SettingType,
    pub required: bool,
    /// Never shown (credentials).
    pub sensitive: bool,
    pub about: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct BackendKind {
    pub name: &'static str,
    pub about: &'static str,
    pub settings: &'static [Setting],
}

pub const BACKENDS: &[BackendKind] = &[BackendKind {
    name: "local",
    about: "a file on this machine, locked with a kernel lock",
    settings: &[Setting {
        name: "path",
        ty: SettingType::String,
        required: false,
        sensitive: false,
        about: "the state file, relative to the configuration directory (default .hive/state.json)",
    }],
}];

pub fn backend_kind(name: &str) -> Option<&'static BackendKind> {
    BACKENDS.iter().find(|b| b.name == name)
}

#[derive(Debug, Clone, PartialEq)]
pub enum SettingValue {
    String(String),
    Bool(bool),
    Number(f64),
}

/// A backend and its settings, as the configuration decoded them.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendConfig {
    pub backend: String,
    pub settings: BTreeMap<String, SettingValue>,
}

impl Default for BackendConfig {
    fn default() -> BackendConfig {
        BackendConfig {
            backend: "local".into(),
            settings: BTreeMap::new(),
        }
    }
}

impl BackendConfig {
    fn string(&self, name: &str) -> Option<&str> {
        match self.settings.get(name) {
            Some(SettingValue::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The local state file these settings name, if the backend is local.
    pub fn local_path(&self, base_dir: &Path) -> Option<PathBuf> {
        (self.backend == "local")
            .then(|| base_dir.join(self.string("path").unwrap_or(DEFAULT_PATH)))
    }
}

/// Opens the backend the settings describe; `base_dir` is the configuration directory.
pub fn open(config: &BackendConfig, base_dir: &Path) -> Result<Box<dyn StateBackend>, String> {
    match config.backend.as_str() {
        "local" => {
            let path = config.local_path(base_dir).unwrap_or_default();
            Ok(Box::new(crate::file::FileBackend::new(path)))
        }
        other => Err(format!(
            "unknown state backend \"{other}\"; this build has: {}",
            BACKENDS
                .iter()
                .map(|b| b.name)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
