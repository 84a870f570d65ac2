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
    /// A string such as `10m` (checked by the configuration layer).
    Duration,
    Bool,
    Number,
    /// A whole number of at least 1.
    Count,
}

/// Says why a string is not a valid value of a setting.
pub type SettingCheck = fn(&str) -> Result<(), String>;

#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub name: &'static str,
    pub ty: SettingType,
    pub required: bool,
    /// Never shown (credentials).
    pub sensitive: bool,
    pub about: &'static str,
    /// What a string value must be, beyond its type.
    pub check: Option<SettingCheck>,
}

#[derive(Debug, Clone, Copy)]
pub struct BackendKind {
    pub name: &'static str,
    pub about: &'static str,
    pub settings: &'static [Setting],
}

const fn setting(
    name: &'static str,
    ty: SettingType,
    required: bool,
    about: &'static str,
) -> Setting {
    Setting {
        name,
        ty,
        required,
        sensitive: false,
        about,
        check: None,
    }
}

const fn checked(setting: Setting, check: SettingCheck) -> Setting {
    Setting {
        check: Some(check),
        ..setting
    }
}

const fn credential(name: &'static str, about: &'static str) -> Setting {
    Setting {
        name,
        ty: SettingType::String,
        required: false,
        sensitive: true,
        about,
        check: None,
    }
}

/// How many replaced snapshots an S3 state keeps when its settings do not say.
pub const DEFAULT_KEEP_VERSIONS: usize = 20;

pub const BACKENDS: &[BackendKind] = &[
    BackendKind {
        name: "local",
        about: "a file on this machine, locked with a kernel lock",
        settings: &[setting(
            "path",
            SettingType::String,
            false,
            "the state file, relative to the configuration directory (default .hive/state.json)",
        )],
    },
    BackendKind {
        name: "s3",
        about: "an object in an S3 bucket, locked with a conditional write",
        settings: &[
            checked(setting("bucket", SettingType::String, true, "the bucket the state is kept in"), hive_s3::check_bucket),
            checked(setting("key", SettingType::String, true, "the state object's key, such as ci/cluster.json"), hive_s3::check_key),
            checked(setting("endpoint", SettingType::String, false, "the server, such as http://127.0.0.1:9000 (default: Amazon's)"), hive_s3::check_endpoint),
            setting("region", SettingType::String, false, "the region (default AWS_REGION, else us-east-1)"),
            credential("access_key", "the access key (default AWS_ACCESS_KEY_ID or a profile)"),
            credential("secret_key", "the secret key (default AWS_SECRET_ACCESS_KEY or a profile)"),
            setting("profile", SettingType::String, false, "a profile of ~/.aws/credentials (default AWS_PROFILE, else default)"),
            setting("path_style", SettingType::Bool, false, "path-style addressing (default true); false for virtual-host style"),
            setting("lock_lease", SettingType::Duration, false, "a lease the lock's holder renews while it runs: a lock not renewed for that long is taken over"),
            setting("keep_versions", SettingType::Count, false, "how many replaced snapshots are kept (default 20)"),
        ],
    },
];

pub fn backend_kind(name: &str) -> Option<&'static BackendKind> {
    BACKENDS.iter().find(|b| b.name == name)
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum SettingValue {
    String(String),
    Bool(bool),
    Number(f64),
}

/// A backend and its settings, as the configuration decoded them.
#[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BackendConfig {
    pub backend: String,
    pub settings: BTreeMap<String, SettingValue>,
}

/// Credentials are never shown, not even by `{:?}`.
impl std::fmt::Debug for BackendConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = self.shown();
        f.debug_struct("BackendConfig")
            .field("backend", &shown.backend)
            .field("settings", &shown.settings)
            .finish()
    }
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

    fn bool(&self, name: &str) -> Option<bool> {
        match self.settings.get(name) {
            Some(SettingValue::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    fn number(&self, name: &str) -> Option<f64> {
        match self.settings.get(name) {
            Some(SettingValue::Number(n)) => Some(*n),
            _ => None,
        }
    }

    /// Where these settings keep the state, without opening anything: a file's path, or the
    /// S3 object's URL.
    pub fn location(&self, base_dir: &Path) -> String {
        if let Some(path) = self.local_path(base_dir) {
            return crate::file::location_of(&path);
        }
        match self.s3_config() {
            Some(s3) => format!(
                "{}/{}",
                s3.url(),
                self.string("key")
                    .unwrap_or_default()
                    .trim_start_matches('/')
            ),
            None => format!("the {} backend", self.backend),
        }
    }

    /// These settings with the credentials of `other` where they have none of their own
    /// and both name the same kind of backend.
    pub fn with_credentials_of(&self, other: &BackendConfig) -> BackendConfig {
        let mut merged = self.clone();
        if self.backend == other.backend {
            for name in ["access_key", "secret_key", "profile"] {
                if let (false, Some(v)) =
                    (self.settings.contains_key(name), other.settings.get(name))
                {
                    merged.settings.insert(name.to_string(), v.clone());
                }
            }
        }
        merged
    }

    /// The bucket these settings name, if the backend is S3.
    pub fn s3_config(&self) -> Option<hive_s3::S3Config> {
        (self.backend == "s3").then(|| {
            let owned = |name| self.string(name).map(str::to_string);
            hive_s3::S3Config {
                endpoint: owned("endpoint"),
                bucket: owned("bucket").unwrap_or_default(),
                region: owned("region"),
                access_key: owned("access_key"),
                secret_key: owned("secret_key"),
                profile: owned("profile"),
                path_style: self.bool("path_style").unwrap_or(true),
            }
        })
    }

    /// The settings as they may be shown or kept outside the configuration: credentials
    /// left out.
    pub fn shown(&self) -> BackendConfig {
        let secret = |name: &str| {
            backend_kind(&self.backend)
                .and_then(|k| k.settings.iter().find(|s| s.name == name))
                .is_none_or(|s| s.sensitive)
        };
        BackendConfig {
            backend: self.backend.clone(),
            settings: self
                .settings
                .iter()
                .filter(|(name, _)| !secret(name))
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect(),
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
    if let Some(path) = config.local_path(base_dir) {
        return Ok(Box::new(crate::file::FileBackend::new(path)));
    }
    if let Some(s3) = config.s3_config() {
        let key = config.string("key").unwrap_or_default();
        let credentials = hive_s3::Credentials::find(&s3)
            .map_err(|e| format!("the S3 state at {}/{key}: {e}", s3.url()))?;
        let bucket = hive_s3::Bucket::connect(&s3, &credentials).map_err(|e| e.to_string())?;
        let lease = config
            .string("lock_lease")
            .map(hive_sdk::units::parse_duration)
            .transpose()
            .map_err(|e| format!("lock_lease: {e}"))?;
        let keep = config
            .number("keep_versions")
            .map_or(DEFAULT_KEEP_VERSIONS, |n| n as usize);
        return Ok(Box::new(crate::s3::S3Backend::new(
            bucket, key, lease, keep,
        )));
    }
    Err(format!(
        "unknown state backend \"{}\"; this build has: {}",
        config.backend,
        BACKENDS
            .iter()
            .map(|b| b.name)
            .collect::<Vec<_>>()
            .join(", ")
    ))
}
