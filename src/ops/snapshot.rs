//! `hive snapshot ADDR...`: copies objects' data to where the configuration keeps it (a
//! volume into its store), through their providers, after a plan (so what the configuration
//! says of the store, credentials included, is known) and under the state's lock (nothing
//! is made or destroyed meanwhile). The state does not change.

use super::apply::{run, Found, RunOptions, RunResult, Then};
use crate::engine::evaluate::lend_credentials;
use crate::engine::registry::Registry;
use crate::engine::Silent;
use hive_sdk::addr::{InstanceAddr, Target};
use hive_sdk::provider::{Cancel, SnapshotRequest, Snapshotted, Target as ProviderTarget};
use hive_sdk::value::tagged;
use std::path::Path;

pub struct SnapshotResult {
    pub address: InstanceAddr,
    pub outcome: Result<Snapshotted, String>,
}

/// Snapshots every recorded instance the targets name, in address order. `progress` hears
/// which one is being snapshotted.
pub fn snapshot(
    dir: &Path,
    registry: &Registry,
    options: &RunOptions,
    targets: &[Target],
    progress: &(dyn Fn(&InstanceAddr, &str) + Sync),
) -> (RunResult, Vec<SnapshotResult>) {
    let mut results = Vec::new();
    let mut use_it = |found: &Found<'_>| {
        results = snapshot_found(found, dir, targets, progress);
    };
    let result = run(dir, registry, options, Then::Use(&mut use_it), &mut Silent);
    (result, results)
}

fn snapshot_found(
    found: &Found<'_>,
    dir: &Path,
    targets: &[Target],
    progress: &(dyn Fn(&InstanceAddr, &str) + Sync),
) -> Vec<SnapshotResult> {
    let mut results = Vec::new();
    for target in targets {
        let records: Vec<_> = found
            .state
            .resources
            .values()
            .filter(|r| r.deposed.is_none() && target.matches(&r.address))
            .collect();
        if records.is_empty() {
            results.push(SnapshotResult {
                address: match target {
                    Target::Instance(a) => a.clone(),
                    Target::Resource(r) => InstanceAddr {
                        resource: r.clone(),
                        key: hive_sdk::addr::InstanceKey::None,
                    },
                },
                outcome: Err("the state records no such object: apply it first".into()),
            });
            continue;
        }
        for record in records {
            let outcome = match found.registry.get(&record.kind, &record.driver) {
                None => Err(format!(
                    "no provider for {} resources with driver \"{}\"",
                    record.kind, record.driver
                )),
                Some(provider) => {
                    let recorded = tagged::from_json(&record.attributes).unmark_deep().0;
                    let attributes = lend_credentials(
                        found.registry.catalog(),
                        &record.kind,
                        recorded,
                        found.evaluated.resources.iter(),
                    );
                    let id = record.id.clone().unwrap_or_default();
                    let address = record.address.clone();
                    let report = |message: &str| progress(&address, message);
                    provider
                        .snapshot(&SnapshotRequest {
                            target: ProviderTarget {
                                address: &record.address,
                                kind: &record.kind,
                                lineage: &found.state.lineage,
                                state: found.location,
                                expires: found.state.expires,
                                base_dir: dir,
                            },
                            id: &id,
                            attributes: &attributes,
                            cancel: &Cancel::default(),
                            progress: &report,
                        })
                        .map_err(|e| e.message)
                }
            };
            results.push(SnapshotResult {
                address: record.address.clone(),
                outcome,
            });
        }
    }
    results
}
