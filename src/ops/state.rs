//! Where a configuration's state lives, and opening it: the backend, the lock, the loaded
//! state with what recovery found.

use crate::config::Config;
use crate::diag::Diagnostic;
use hive_state::file::FileBackend;
use hive_state::lock::{Lock, LockError};
use hive_state::State;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The state file when the configuration does not say: inside the configuration directory,
/// so each configuration has its own.
pub const DEFAULT_STATE_PATH: &str = ".hive/state.json";

/// The state file of a configuration: `hive { state { path = ... } }`, relative to the
/// configuration directory.
pub fn state_path(dir: &Path, config: Option<&Config>) -> Result<PathBuf, Diagnostic> {
    let configured = config
        .and_then(|c| c.settings.state.as_ref())
        .and_then(|body| body.attributes.get("path"));
    let Some(attr) = configured else {
        return Ok(dir.join(DEFAULT_STATE_PATH));
    };
    match &attr.expr.expr {
        hcl_edit::expr::Expression::String(s) => Ok(dir.join(s.value())),
        _ => Err(Diagnostic::error("the state path must be a literal string")
            .detail("hive reads it before evaluating anything")
            .at(attr.expr.span())),
    }
}

/// An opened state: its backend, the lock (held until dropped) and what it holds.
pub struct OpenState {
    pub backend: FileBackend,
    pub lock: Option<Lock>,
    pub state: Option<State>,
    /// Messages about recovery from an interrupted command.
    pub recovered: Vec<String>,
}

/// Opens the state at `path`, taking the lock when `command` is given.
pub fn open_state(
    path: PathBuf,
    command: Option<&str>,
    lock_timeout: Duration,
) -> Result<OpenState, Diagnostic> {
    let backend = FileBackend::new(path);
    let lock = match command {
        Some(command) => Some(
            Lock::acquire(&backend.lock_path(), command, lock_timeout).map_err(lock_diagnostic)?,
        ),
        None => None,
    };
    let loaded = backend
        .load()
        .map_err(|e| Diagnostic::error(format!("reading the state: {e}")))?;
    // A writer cuts a torn last line off first, so what it appends follows whole lines.
    if loaded.torn_tail && lock.is_some() {
        backend
            .truncate_journal(loaded.journal_good_len)
            .map_err(|e| Diagnostic::error(format!("repairing the state journal: {e}")))?;
    }
    let mut recovered = Vec::new();
    if loaded.replayed > 0 {
        recovered.push(format!(
            "the previous command did not finish: {} recorded step{} recovered from the journal",
            loaded.replayed,
            if loaded.replayed == 1 { "" } else { "s" }
        ));
    }
    if loaded.torn_tail {
        recovered.push(
            "the last journal entry was cut off by a crash and was dropped; the next refresh finds what it described"
                .to_string(),
        );
    }
    Ok(OpenState {
        backend,
        lock,
        state: loaded.state,
        recovered,
    })
}

fn lock_diagnostic(e: LockError) -> Diagnostic {
    let d = Diagnostic::error(e.to_string());
    match e {
        LockError::Held(_) => {
            d.help("wait for it to finish, or pass -lock-timeout=DURATION to wait")
        }
        _ => d,
    }
}
