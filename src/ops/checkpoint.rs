//! `hive checkpoint save|restore|list|delete NAME`: every instance of the state saved
//! together, and restored together, so a test suite resets its cluster in seconds instead of
//! making it again. What a checkpoint holds is recorded beside the state
//! (`.hive/checkpoints/NAME.json`): the state's lineage and serial when it was saved (a
//! restore is refused once the state changed), and each instance with what its provider kept.

use super::apply::{run, Found, RunOptions, Then};
use super::plan::PlanOptions;
use super::state::StateSource;
use crate::engine::registry::Registry;
use hive_sdk::provider::{CheckpointAction, CheckpointRequest, Target};
use hive_sdk::value::tagged;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub name: String,
    pub lineage: String,
    pub serial: u64,
    pub created: String,
    /// Each instance, with what its provider kept of it.
    pub instances: Vec<(String, String)>,
}

/// Which state the checkpoints are of, and where their records are kept.
pub struct Place {
    pub state: StateSource,
    pub records: PathBuf,
}

impl Place {
    /// The configuration's own state, records in `.hive/checkpoints`.
    pub fn configured(dir: &Path) -> Place {
        Place {
            state: StateSource::Configured,
            records: dir.join(".hive").join("checkpoints"),
        }
    }

    fn file_of(&self, name: &str) -> PathBuf {
        self.records.join(format!("{name}.json"))
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "checkpoint name {name:?}: use 1 to 40 letters, digits and -, not starting with -"
        ))
    }
}

pub fn list(place: &Place) -> Result<Vec<Saved>, String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&place.records) else {
        return Ok(out);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") {
            out.push(read(&path)?);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn read(path: &Path) -> Result<Saved, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("reading {}: {e}", path.display()))
}

/// With the configuration planned (no refresh) and the state locked, `each` for the state.
fn with_state(
    dir: &Path,
    registry: &Registry,
    place: &Place,
    command: &str,
    each: &mut dyn FnMut(&Found<'_>) -> Result<(), String>,
) -> Result<(), String> {
    let options = RunOptions {
        plan: PlanOptions {
            vars: super::validate::VarOptions::from_env(),
            refresh: false,
            ..PlanOptions::default()
        },
        lock_timeout: Duration::ZERO,
        parallelism: None,
        command: command.to_string(),
        saved_plan: None,
        state: place.state.clone(),
        ttl: None,
    };
    let mut outcome = Err("nothing was planned".to_string());
    let mut use_it = |found: &Found<'_>| outcome = each(found);
    let result = run(
        dir,
        registry,
        &options,
        Then::Use(&mut use_it),
        &mut crate::engine::Silent,
    );
    if result.diagnostics.has_errors() {
        return Err(crate::render::diag::render_text(
            &result.diagnostics,
            &result.sources,
            crate::render::diag::Style::Plain,
        ));
    }
    outcome
}

/// Asks every instance's provider, all at once (a restored guest takes a few seconds to
/// answer again; they wait together): (what was done, the first failure).
fn each_instance(
    found: &Found<'_>,
    dir: &Path,
    name: &str,
    action: CheckpointAction,
    only: Option<&[(String, String)]>,
) -> (Vec<(String, String)>, Option<String>) {
    let records: Vec<_> = found
        .state
        .resources
        .values()
        .filter(|r| r.kind == "instance" && r.deposed.is_none())
        .filter(|r| only.is_none_or(|o| o.iter().any(|(a, _)| *a == r.address.to_string())))
        .collect();
    let one = |record: &hive_state::ResourceState| -> Result<String, String> {
        let provider = found
            .registry
            .get(&record.kind, &record.driver)
            .ok_or_else(|| format!("no {} driver in this build", record.driver))?;
        let attributes = tagged::from_json(&record.attributes).unmark_deep().0;
        let request = CheckpointRequest {
            target: Target {
                address: &record.address,
                kind: &record.kind,
                lineage: &found.state.lineage,
                state: "",
                expires: None,
                base_dir: dir,
            },
            id: record.id.as_deref().unwrap_or_default(),
            attributes: &attributes,
            name,
            action,
        };
        provider.checkpoint(&request).map_err(|e| e.message)
    };
    let answers: Vec<Result<String, String>> = std::thread::scope(|s| {
        let running: Vec<_> = records.iter().map(|r| s.spawn(|| one(r))).collect();
        running
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("the provider failed".into()))
            })
            .collect()
    });
    let mut done = Vec::new();
    let mut failed = None;
    for (record, answer) in records.iter().zip(answers) {
        match answer {
            Ok(kept) => done.push((record.address.to_string(), kept)),
            Err(e) => {
                failed.get_or_insert(format!("{}: {e}", record.address));
            }
        }
    }
    (done, failed)
}

pub fn save(dir: &Path, registry: &Registry, place: &Place, name: &str) -> Result<Saved, String> {
    check_name(name)?;
    let file = place.file_of(name);
    if file.exists() {
        return Err(format!(
            "a checkpoint named {name} exists: restore it, or delete it first (hive checkpoint delete {name})"
        ));
    }
    let mut saved = None;
    with_state(dir, registry, place, "hive checkpoint save", &mut |found| {
        let (done, failed) = each_instance(found, dir, name, CheckpointAction::Save, None);
        if let Some(e) = failed {
            // A checkpoint is all the instances or none.
            let _ = each_instance(found, dir, name, CheckpointAction::Delete, Some(&done));
            return Err(format!("saving checkpoint {name}: {e}"));
        }
        if done.is_empty() {
            return Err("the state records no instance to checkpoint".into());
        }
        saved = Some(Saved {
            name: name.to_string(),
            lineage: found.state.lineage.clone(),
            serial: found.state.serial,
            created: hive_state::lock::rfc3339_now(),
            instances: done,
        });
        Ok(())
    })?;
    let saved = saved.ok_or("nothing was saved")?;
    std::fs::create_dir_all(&place.records)
        .map_err(|e| format!("creating {}: {e}", place.records.display()))?;
    let text = serde_json::to_string_pretty(&saved).map_err(|e| e.to_string())?;
    std::fs::write(&file, text).map_err(|e| format!("writing {}: {e}", file.display()))?;
    Ok(saved)
}

pub fn restore(
    dir: &Path,
    registry: &Registry,
    place: &Place,
    name: &str,
) -> Result<Saved, String> {
    check_name(name)?;
    let saved = read(&place.file_of(name)).map_err(|_| no_such(place, name))?;
    with_state(
        dir,
        registry,
        place,
        "hive checkpoint restore",
        &mut |found| {
            if found.state.lineage != saved.lineage || found.state.serial != saved.serial {
                return Err(format!(
                "checkpoint {name} was saved at serial {} of the state; the state is now at serial {}{}: it changed since, so its instances may not be the ones saved",
                saved.serial,
                found.state.serial,
                if found.state.lineage != saved.lineage { " of another lineage" } else { "" }
            ));
            }
            let (_, failed) = each_instance(
                found,
                dir,
                name,
                CheckpointAction::Restore,
                Some(&saved.instances),
            );
            failed.map_or(Ok(()), |e| Err(format!("restoring checkpoint {name}: {e}")))
        },
    )?;
    Ok(saved)
}

pub fn delete(dir: &Path, registry: &Registry, place: &Place, name: &str) -> Result<(), String> {
    check_name(name)?;
    let file = place.file_of(name);
    let saved = read(&file).map_err(|_| no_such(place, name))?;
    with_state(
        dir,
        registry,
        place,
        "hive checkpoint delete",
        &mut |found| {
            let (_, failed) = each_instance(
                found,
                dir,
                name,
                CheckpointAction::Delete,
                Some(&saved.instances),
            );
            failed.map_or(Ok(()), |e| Err(format!("deleting checkpoint {name}: {e}")))
        },
    )?;
    std::fs::remove_file(&file).map_err(|e| format!("removing {}: {e}", file.display()))
}

fn no_such(place: &Place, name: &str) -> String {
    let known: Vec<String> = list(place)
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.name)
        .collect();
    if known.is_empty() {
        format!("no checkpoint named {name}: there are none (hive checkpoint save NAME)")
    } else {
        format!(
            "no checkpoint named {name}; there are: {}",
            known.join(", ")
        )
    }
}
