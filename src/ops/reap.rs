//! `hive scan -reap`: the orphans a scan found removed (those of a state that still exists
//! under its lock, judged again under it), in layers, and each expired state destroyed
//! through itself.

use super::scan::{records, Holder, ScanReport, Scanned, Source, Status};
use crate::engine::registry::Registry;
use crate::ops::apply::{run, RunOptions, Then};
use crate::ops::plan::PlanOptions;
use crate::ops::state::StateSource;
use crate::ops::validate::VarOptions;
use hive_sdk::provider::ReapRequest;
use hive_state::backend::StateBackend;
use hive_state::file::FileBackend;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What `-reap` did.
#[derive(Debug, Default)]
pub struct ReapReport {
    /// Orphans removed (index into the scan's objects) and those that failed, with why.
    pub removed: Vec<usize>,
    pub failed: Vec<(usize, String)>,
    /// Expired states destroyed through themselves: location, objects destroyed, or why not.
    pub destroyed: Vec<(String, Result<usize, String>)>,
    /// Objects left because their state is busy (another command holds its lock).
    pub busy: Vec<(usize, String)>,
}

/// Removes the orphans (those of a state that still exists under its lock, judged again
/// under it) in layers (instances before their disks before networks), and destroys each
/// expired state through itself.
pub fn reap(report: &ScanReport, registry: &Registry, lock_timeout: Duration) -> ReapReport {
    let mut done = ReapReport::default();
    let mut locks: BTreeMap<String, Option<FileBackend>> = BTreeMap::new();
    let mut doomed: Vec<usize> = Vec::new();
    for (i, object) in report.objects.iter().enumerate() {
        if object.status != Status::Orphaned {
            continue;
        }
        let location = &object.found.tag.state;
        if let Some(Holder::Here {
            source: Source::File(path),
            ..
        }) = report.holders.get(location)
        {
            let lock = locks
                .entry(location.clone())
                .or_insert_with(|| lock_file_state(path, lock_timeout));
            let still_orphaned = match lock {
                Some(backend) => backend.read().ok().and_then(|l| l.state).is_none_or(|s| {
                    s.lineage != object.found.tag.lineage || !records(&s, &object.found)
                }),
                None => {
                    done.busy
                        .push((i, format!("another command holds the lock of {location}")));
                    continue;
                }
            };
            if !still_orphaned {
                continue;
            }
        }
        doomed.push(i);
    }
    let mut layers: Vec<u8> = doomed
        .iter()
        .map(|&i| report.objects[i].found.order)
        .collect();
    layers.sort_unstable();
    layers.dedup();
    for layer in layers {
        let now: Vec<usize> = doomed
            .iter()
            .copied()
            .filter(|&i| report.objects[i].found.order == layer)
            .collect();
        let results: Vec<_> = std::thread::scope(|scope| {
            let running: Vec<_> = now
                .iter()
                .map(|&i| {
                    let object = &report.objects[i];
                    scope.spawn(move || reap_one(report, registry, object))
                })
                .collect();
            running.into_iter().map(|r| r.join()).collect()
        });
        for (i, result) in now.into_iter().zip(results) {
            match result {
                Ok(Ok(())) => done.removed.push(i),
                Ok(Err(e)) => done.failed.push((i, e)),
                Err(_) => done.failed.push((i, "the driver failed".into())),
            }
        }
    }
    // Dropping a file backend releases its lock.
    drop(locks);
    let mut expired: Vec<&String> = report
        .objects
        .iter()
        .filter(|o| o.status == Status::Expired)
        .map(|o| &o.found.tag.state)
        .collect();
    expired.sort();
    expired.dedup();
    for location in expired {
        if let Some(Holder::Here { source, .. }) = report.holders.get(location) {
            let result = destroy_through(report, registry, source, lock_timeout);
            done.destroyed.push((location.clone(), result));
        }
    }
    done
}

fn reap_one(report: &ScanReport, registry: &Registry, object: &Scanned) -> Result<(), String> {
    let provider = registry
        .providers()
        .iter()
        .find(|p| p.driver() == object.driver)
        .ok_or_else(|| format!("no {} driver in this build", object.driver))?;
    provider
        .reap(&ReapRequest {
            host: &report.hosts[object.host].request,
            found: &object.found,
        })
        .map_err(|e| e.to_string())
}

fn lock_file_state(path: &Path, timeout: Duration) -> Option<FileBackend> {
    let mut backend = FileBackend::new(path);
    backend.lock("hive scan -reap", timeout).ok()?;
    Some(backend)
}

/// Destroys an expired state through itself: a destroy with no configuration for a state
/// file (its records say how to reach every object), or the configuration's own destroy
/// for a state kept where the configuration keeps its own.
fn destroy_through(
    report: &ScanReport,
    registry: &Registry,
    source: &Source,
    lock_timeout: Duration,
) -> Result<usize, String> {
    let empty = EmptyConfig::new()?;
    let (dir, state) = match source {
        Source::File(path) => (empty.0.clone(), StateSource::File(path.clone())),
        Source::Configured => match &report.backend {
            Some((_, dir)) => (dir.clone(), StateSource::Configured),
            None => return Err("no configuration to reach its state with".into()),
        },
    };
    let options = RunOptions {
        plan: PlanOptions {
            vars: VarOptions::default(),
            refresh: true,
            targets: Vec::new(),
            excludes: Vec::new(),
            replace: Vec::new(),
            destroy: true,
        },
        lock_timeout,
        parallelism: None,
        command: "hive scan -reap".into(),
        saved_plan: None,
        state,
        ttl: None,
    };
    let mut yes = |_: &crate::plan::Plan| true;
    let result = run(
        &dir,
        registry,
        &options,
        Then::Confirm(&mut yes),
        &mut crate::engine::Silent,
    );
    let errors: Vec<String> = result
        .diagnostics
        .items
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.summary.clone())
        .collect();
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(result.report.map_or(0, |r| r.completed))
}

/// A configuration that declares nothing, for a destroy through a state alone; removed when
/// dropped.
struct EmptyConfig(PathBuf);

impl EmptyConfig {
    fn new() -> Result<EmptyConfig, String> {
        let id = hive_sdk::provider::random_id().map_err(|e| e.to_string())?;
        let dir = std::env::temp_dir().join(format!("hive-reap-{}-{id}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join("main.hive.hcl"), ""))
            .map_err(|e| format!("making an empty configuration in {}: {e}", dir.display()))?;
        Ok(EmptyConfig(dir))
    }
}

impl Drop for EmptyConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
