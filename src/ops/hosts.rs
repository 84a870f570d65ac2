//! `hive hosts`: every host the configuration declares, checked (all at once, each bounded
//! by the SSH timeouts), UP or DOWN with the reason, and its free or declared capacity.

use crate::engine::registry::Registry;
use crate::ops::validate::{validate, Validated, VarOptions};
use hive_sdk::host_health::{self, Health};
use std::path::Path;

pub struct HostReport {
    /// `host.NAME`.
    pub address: String,
    /// Where it is reached: its address, or `local`.
    pub reached_at: String,
    pub health: Health,
}

/// The configuration's hosts and their health; `Err` with the validation when the
/// configuration does not evaluate.
pub fn check_hosts(
    dir: &Path,
    registry: &Registry,
    options: &VarOptions,
) -> Result<Vec<HostReport>, Box<Validated>> {
    let validated = validate(dir, registry, options);
    if validated.diagnostics.has_errors() {
        return Err(Box::new(validated));
    }
    let Some(evaluated) = &validated.evaluated else {
        return Err(Box::new(validated));
    };
    let hosts: Vec<(String, hive_sdk::Value)> = evaluated
        .instances()
        .into_iter()
        .filter(|(addr, _)| addr.resource.kind == crate::engine::hosts::KIND)
        .map(|(addr, value)| (addr.to_string(), value.clone().unmark_deep().0))
        .collect();
    let reports = std::thread::scope(|scope| {
        let looks: Vec<_> = hosts
            .iter()
            .map(|(address, value)| {
                scope.spawn(move || HostReport {
                    address: address.clone(),
                    reached_at: value.attr_str("address").unwrap_or("local").to_string(),
                    health: host_health::check(value),
                })
            })
            .collect();
        looks
            .into_iter()
            .filter_map(|look| look.join().ok())
            .collect()
    });
    Ok(reports)
}
