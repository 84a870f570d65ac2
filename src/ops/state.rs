//! Where a configuration's state lives and opening it: the backend its settings name (or one
//! a caller gives), the lock, the state with what recovery found; and state surgery.

use super::validate::VarOptions;
use crate::config::{load_dir, Config};
use crate::diag::{Diagnostic, Diagnostics, Sources};
use crate::engine::registry::Registry;
use crate::lang::settings::Settings;
use crate::lang::walk::{variables, MissingVars, Variables};
use hive_sdk::addr::{InstanceAddr, Target};
use hive_state::backend::StateBackend;
use hive_state::lock::{LockError, LockInfo};
use hive_state::memory::MemoryBackend;
use hive_state::{ObjectAddr, State, Status};
use std::path::Path;
use std::time::Duration;

/// Which backend holds the state.
#[derive(Debug, Clone, Default)]
pub enum StateSource {
    /// The one the configuration's `hive { state { } }` names (a local file by default).
    #[default]
    Configured,
    /// One given by the caller (tests).
    Memory(MemoryBackend),
    /// A local state file of its own (`hive test`: one per test file).
    File(std::path::PathBuf),
}

/// An opened state: its backend, the lock's id when held, and what it holds.
pub struct OpenState {
    pub backend: Box<dyn StateBackend>,
    pub lock: Option<String>,
    pub state: Option<State>,
    /// Messages about recovery from an interrupted command (one line each).
    pub recovered: Vec<String>,
}

impl OpenState {
    /// Releases the lock, if held.
    pub fn unlock(&mut self) {
        if let Some(id) = self.lock.take() {
            let _ = self.backend.unlock(&id);
        }
    }
}

impl Drop for OpenState {
    fn drop(&mut self) {
        self.unlock();
    }
}

/// Opens the backend, taking the lock when `command` is given.
pub fn open_state(
    settings: &Settings,
    dir: &Path,
    source: &StateSource,
    command: Option<&str>,
    lock_timeout: Duration,
) -> Result<OpenState, Diagnostic> {
    let backend: Box<dyn StateBackend> = match source {
        StateSource::Configured => {
            super::migrate::check_not_moved(dir, &settings.backend).map_err(Diagnostic::error)?;
            hive_state::settings::open(&settings.backend, dir)
                .map_err(|e| Diagnostic::error(format!("opening the state: {e}")))?
        }
        StateSource::Memory(m) => Box::new(m.clone()),
        StateSource::File(path) => Box::new(hive_state::file::FileBackend::new(path.clone())),
    };
    let mut opened = OpenState {
        backend,
        lock: None,
        state: None,
        recovered: Vec::new(),
    };
    let mut previous = None;
    if let Some(command) = command {
        let locked = opened
            .backend
            .lock(command, lock_timeout)
            .map_err(lock_diagnostic)?;
        opened.lock = Some(locked.info.id.clone());
        previous = locked.previous;
        if matches!(source, StateSource::Configured) {
            super::migrate::record_backend(dir, &settings.backend).map_err(Diagnostic::error)?;
        }
    }
    let location = opened.backend.location();
    let loaded = opened
        .backend
        .read()
        .map_err(|e| Diagnostic::error(format!("reading the state ({location}): {e}")))?;
    if let Some(moved_to) = &loaded.moved_to {
        return Err(Diagnostic::error(format!(
            "there is no state at {location}: `hive state migrate` moved it to {moved_to}"
        ))
        .help("point the configuration's hive { state { } } there"));
    }
    if let Some(dead) = &previous {
        opened
            .recovered
            .push(taken_over(dead, loaded.state.as_ref(), loaded.replayed));
    } else if loaded.replayed > 0 {
        opened.recovered.push(format!(
            "the previous command did not finish: {} recorded step{} recovered from the journal",
            loaded.replayed,
            if loaded.replayed == 1 { "" } else { "s" }
        ));
    }
    if loaded.torn_tail {
        opened.recovered.push(
            "the last journal entry was cut off by a crash and was dropped; the next refresh finds what it described"
                .to_string(),
        );
    }
    opened.state = loaded.state;
    Ok(opened)
}

/// One line about a lock taken over from a holder that died, and what it left unfinished.
fn taken_over(dead: &LockInfo, state: Option<&State>, replayed: usize) -> String {
    let unfinished: Vec<String> = state
        .into_iter()
        .flat_map(|s| s.resources.values())
        .filter(|r| r.status == Status::Creating)
        .map(|r| r.address.to_string())
        .collect();
    let left = match (unfinished.len(), replayed) {
        (0, 0) => "it left nothing unfinished".to_string(),
        (0, n) => format!("its {n} recorded step(s) are recovered and nothing was left half-done"),
        (n, _) => {
            let shown: Vec<&str> = unfinished.iter().take(5).map(String::as_str).collect();
            let more = if n > shown.len() {
                format!(" and {} more", n - shown.len())
            } else {
                String::new()
            };
            format!(
                "it left {n} step(s) unfinished ({}{more}), which the next apply finishes",
                shown.join(", ")
            )
        }
    };
    format!(
        "the previous holder of the state lock died (pid {} on {}, `{}`, since {}); its lock was taken over: {left}",
        dead.pid, dead.host, dead.command, dead.created
    )
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

/// The configuration and its settings, for commands that only read or edit the state: what
/// they need of the configuration is where the state is. A directory without a configuration
/// keeps its state in the default place.
pub struct Located {
    pub settings: Settings,
    pub sources: Sources,
}

/// Decodes where the state lives: variables come from the environment and defaults only
/// (these commands take no -var).
pub fn locate(dir: &Path, registry: &Registry) -> Result<Located, (Sources, Diagnostics)> {
    let Ok((config, load_diags)) = load_dir(dir, registry.catalog()) else {
        return Ok(Located {
            settings: Settings::default(),
            sources: Sources::default(),
        });
    };
    let mut diags = load_diags;
    let vars = settings_variables(&config, &VarOptions::from_env(), &mut diags);
    let settings = crate::lang::settings::decode(&config, &vars.values, false, &mut diags);
    if diags.has_errors() {
        return Err((config.sources.clone(), diags));
    }
    Ok(Located {
        settings,
        sources: config.sources,
    })
}

/// The variables settings may use: from their inputs, with those that have no value unknown
/// (a setting that uses one says so).
pub fn settings_variables(
    config: &Config,
    options: &VarOptions,
    diags: &mut Diagnostics,
) -> Variables {
    let mut sources = config.sources.clone();
    let inputs = super::validate::gather_inputs(options, &mut sources, diags);
    variables(config, &inputs, MissingVars::Unknown, diags)
}

/// What `hive state rm` removed: the objects, by address.
pub fn remove(state: &mut State, addresses: &[String]) -> Result<Vec<ObjectAddr>, String> {
    if addresses.is_empty() {
        return Err("hive state rm needs the addresses to forget: hive state rm ADDR...".into());
    }
    let targets: Vec<Target> = addresses
        .iter()
        .map(|a| a.parse::<Target>())
        .collect::<Result<_, _>>()?;
    let doomed: Vec<ObjectAddr> = state
        .resources
        .keys()
        .filter(|o| targets.iter().any(|t| t.matches(&o.instance)))
        .cloned()
        .collect();
    if doomed.is_empty() {
        return Err(format!(
            "nothing in the state matches {}",
            addresses.join(", ")
        ));
    }
    for o in &doomed {
        state.remove(o);
    }
    state.serial += 1;
    Ok(doomed)
}

/// `hive state mv FROM TO`: what moved where.
pub fn rename(
    state: &mut State,
    from: &str,
    to: &str,
) -> Result<Vec<(InstanceAddr, InstanceAddr)>, String> {
    let from_t: Target = from.parse()?;
    let to_t: Target = to.parse()?;
    let moves: Vec<(InstanceAddr, InstanceAddr)> = match (&from_t, &to_t) {
        (Target::Instance(f), Target::Instance(t)) => vec![(f.clone(), t.clone())],
        // A resource without count or for_each is its one instance.
        (Target::Instance(f), Target::Resource(t)) => {
            vec![(f.clone(), t.instance(hive_sdk::addr::InstanceKey::None))]
        }
        (Target::Resource(f), Target::Instance(t)) => {
            vec![(f.instance(hive_sdk::addr::InstanceKey::None), t.clone())]
        }
        (Target::Resource(f), Target::Resource(t)) => {
            let mut moves: Vec<(InstanceAddr, InstanceAddr)> = state
                .resources
                .keys()
                .filter(|o| &o.instance.resource == f)
                .map(|o| (o.instance.clone(), t.instance(o.instance.key.clone())))
                .collect();
            moves.dedup();
            moves
        }
    };
    if !moves
        .iter()
        .any(|(f, _)| state.resources.keys().any(|o| &o.instance == f))
    {
        return Err(format!("no object {from} in the state"));
    }
    for (_, t) in &moves {
        if state.resources.keys().any(|o| &o.instance == t) {
            return Err(format!("{t} is already in the state"));
        }
    }
    for (f, t) in &moves {
        let objects: Vec<ObjectAddr> = state
            .resources
            .keys()
            .filter(|o| &o.instance == f)
            .cloned()
            .collect();
        for o in objects {
            if let Some(mut r) = state.remove(&o) {
                r.kind = t.resource.kind.clone();
                r.address = t.clone();
                state.put(r);
            }
        }
        // What depended on the old address depends on the new one.
        for other in state.resources.values_mut() {
            for dep in other.dependencies.iter_mut().filter(|d| *d == f) {
                *dep = t.clone();
            }
        }
    }
    state.serial += 1;
    Ok(moves)
}
