//! Where the state was last kept, and moving it when the configuration names another place.
//!
//! Each command that writes the state records its backend (settings without credentials) in
//! `.hive/backend.json` of the configuration directory. When the configuration later names
//! another backend while the recorded one still holds a state, commands refuse instead of
//! starting an empty state there (a team would lose track of what exists); `hive state
//! migrate` moves it, under both locks, and keeps the old copy aside.

use hive_state::backend::StateBackend;
use hive_state::settings::{BackendConfig, DEFAULT_PATH};
use std::path::{Path, PathBuf};
use std::time::Duration;

const RECORD: &str = ".hive/backend.json";

fn record_path(dir: &Path) -> PathBuf {
    dir.join(RECORD)
}

/// The backend the last command that wrote the state used, if it was another than
/// `configured`. Without a record, a local state in the default place counts as recorded
/// (states made before records were kept).
pub fn previous_backend(
    dir: &Path,
    configured: &BackendConfig,
) -> Result<Option<BackendConfig>, String> {
    let path = record_path(dir);
    let recorded = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str::<BackendConfig>(&text)
            .map_err(|e| format!("{} is damaged ({e}); it records where the state was kept: remove it if the configuration says right", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !dir.join(DEFAULT_PATH).exists() {
                return Ok(None);
            }
            BackendConfig::default()
        }
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    Ok((recorded.location(dir) != configured.location(dir))
        .then(|| recorded.with_credentials_of(configured)))
}

/// Records `configured` as where the state is kept.
pub fn record_backend(dir: &Path, configured: &BackendConfig) -> Result<(), String> {
    let path = record_path(dir);
    let text = serde_json::to_string_pretty(&configured.shown()).map_err(|e| e.to_string())?;
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Refuses to use the configured backend while the state is still in the recorded one.
pub fn check_not_moved(dir: &Path, configured: &BackendConfig) -> Result<(), String> {
    let Some(previous) = previous_backend(dir, configured)? else {
        return Ok(());
    };
    let hint = |where_: &str| {
        format!(
            "the configuration keeps the state in {}, but {where_}: run `hive state migrate` to move it there (or remove {} to start afresh)",
            configured.location(dir),
            record_path(dir).display()
        )
    };
    let mut old = hive_state::settings::open(&previous, dir).map_err(|e| {
        hint(&format!(
            "the last command here kept it in the {} backend, which cannot be opened ({e})",
            previous.backend
        ))
    })?;
    match old.read() {
        Ok(loaded) if loaded.state.is_none() => Ok(()),
        Ok(_) => Err(hint(&format!("the state is still in {}", old.location()))),
        Err(e) => Err(hint(&format!(
            "the last command here kept it in {}, which cannot be read ({e})",
            old.location()
        ))),
    }
}

/// What `hive state migrate` did.
pub struct Migrated {
    pub from: String,
    pub to: String,
    pub serial: u64,
    pub resources: usize,
    /// Where the old copy was set aside.
    pub kept: String,
}

/// Moves the state from the recorded backend to the configured one, under both locks,
/// refusing to overwrite a state already there.
pub fn migrate(dir: &Path, configured: &BackendConfig) -> Result<Migrated, String> {
    const COMMAND: &str = "hive state migrate";
    let Some(previous) = previous_backend(dir, configured)? else {
        return Err(format!(
            "the state is already where the configuration says ({}): there is nothing to move",
            configured.location(dir)
        ));
    };
    let mut from = hive_state::settings::open(&previous, dir)
        .map_err(|e| format!("opening the state's previous backend: {e}"))?;
    let mut to = hive_state::settings::open(configured, dir)
        .map_err(|e| format!("opening the configured state backend: {e}"))?;
    let (from_at, to_at) = (from.location(), to.location());
    let refuse = |at: &str, e: hive_state::lock::LockError| {
        format!("not moving the state: {at} is locked: {e}")
    };
    let from_lock = from
        .lock(COMMAND, Duration::ZERO)
        .map_err(|e| refuse(&from_at, e))?;
    let result = (|| {
        let to_lock = to
            .lock(COMMAND, Duration::ZERO)
            .map_err(|e| refuse(&to_at, e))?;
        let moved = move_state(from.as_mut(), to.as_mut(), &from_at, &to_at);
        let _ = to.unlock(&to_lock.info.id);
        moved
    })();
    let _ = from.unlock(&from_lock.info.id);
    let migrated = result?;
    record_backend(dir, configured)?;
    Ok(migrated)
}

fn move_state(
    from: &mut dyn StateBackend,
    to: &mut dyn StateBackend,
    from_at: &str,
    to_at: &str,
) -> Result<Migrated, String> {
    let state = from
        .read()
        .map_err(|e| format!("reading the state at {from_at}: {e}"))?
        .state
        .ok_or_else(|| format!("there is no state at {from_at} to move"))?;
    let there = to
        .read()
        .map_err(|e| format!("reading {to_at}: {e}"))?
        .state;
    match there {
        // A move cut off after the copy: the copy is there, only setting the old one aside
        // is left.
        Some(there) if there.lineage == state.lineage && there.serial == state.serial => {}
        Some(there) => {
            return Err(format!(
                "{to_at} already holds a state (lineage {}, serial {}, {} object(s)); hive will not overwrite it",
                there.lineage,
                there.serial,
                there.resources.len()
            ))
        }
        None => {
            to.write(&state)
                .map_err(|e| format!("writing the state to {to_at}: {e}"))?;
            // Read back before the old copy is set aside.
            let copied = to
                .read()
                .map_err(|e| format!("reading back the state written to {to_at}: {e}"))?
                .state;
            if copied.as_ref() != Some(&state) {
                return Err(format!(
                    "the state read back from {to_at} is not the one written; the state at {from_at} is left as it was"
                ));
            }
        }
    }
    let kept = from.retire(&state, to_at).map_err(|e| {
        format!("the state is copied to {to_at}, but setting the old copy aside failed: {e}")
    })?;
    Ok(Migrated {
        from: from_at.to_string(),
        to: to_at.to_string(),
        serial: state.serial,
        resources: state.resources.len(),
        kept,
    })
}
