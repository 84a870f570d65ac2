//! Hosts that are DOWN when a plan is made: each remote host is checked once (bounded by the
//! SSH timeouts) before anything is asked of it. Nothing on a DOWN host is refreshed,
//! checked or planned; what depends on it (or, being destroyed, what it depends on) is left
//! alone too. The rest of the plan goes ahead, and the command fails naming what it left.

use crate::plan::{Action, Change, Skipped};
use hive_sdk::addr::InstanceAddr;
use hive_sdk::host_health::{self, Health};
use hive_sdk::Value;
use hive_state::ObjectAddr;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

/// Hosts checked so far, by address. Shared by the plan's phases (refresh, evaluation and
/// placement, checks), each of which may meet hosts the others did not.
#[derive(Default)]
pub struct HostHealth {
    seen: Mutex<HashMap<String, Health>>,
}

impl HostHealth {
    /// Checks the remote hosts among `hosts` (a host record each) not checked yet, all at
    /// once.
    pub fn check<'a>(&self, hosts: impl IntoIterator<Item = &'a Value>) {
        let mut fresh: BTreeMap<String, &Value> = BTreeMap::new();
        {
            let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            for host in hosts {
                if let Some(address) = host.attr_str("address") {
                    if !seen.contains_key(address) {
                        fresh.entry(address.to_string()).or_insert(host);
                    }
                }
            }
        }
        if fresh.is_empty() {
            return;
        }
        let found: Vec<(String, Health)> = std::thread::scope(|scope| {
            let looks: Vec<_> = fresh
                .into_iter()
                .map(|(address, host)| scope.spawn(move || (address, host_health::check(host))))
                .collect();
            looks.into_iter().filter_map(|l| l.join().ok()).collect()
        });
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(found);
    }

    fn reason_at(&self, address: &str) -> Option<String> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(address)
            .filter(|h| !h.up)
            .map(|h| h.reason.clone())
    }

    /// Why a host of `object` is DOWN, if one is: the host's name and the reason. Its hosts
    /// are its `host`, or, without one, every one of its `hosts` (a bridge across them; an
    /// instance's `hosts` are where it may be placed, and placement sets its `host`).
    pub fn down_reason(&self, object: &Value) -> Option<(String, String)> {
        match object.attr("host").filter(|h| !h.is_null()) {
            Some(host) => self.host_down(host),
            None => object
                .attr("hosts")
                .and_then(Value::as_items)
                .into_iter()
                .flatten()
                .find_map(|h| self.host_down(h)),
        }
    }

    /// Why a host record's host is DOWN, if it is.
    pub fn host_down(&self, host: &Value) -> Option<(String, String)> {
        let address = host.attr_str("address")?;
        let reason = self.reason_at(address)?;
        Some((host_name(host).unwrap_or(address).to_string(), reason))
    }

    /// [`Self::down_reason`] of a recorded object (JSON, as the state keeps it): the reason.
    pub fn recorded_down(&self, attributes: &serde_json::Value) -> Option<String> {
        let at = |h: &serde_json::Value| {
            h.get("address")
                .and_then(|a| a.as_str())
                .and_then(|a| self.reason_at(a))
        };
        match attributes.get("host").filter(|h| !h.is_null()) {
            Some(host) => at(host),
            None => attributes
                .get("hosts")
                .and_then(|h| h.as_array())
                .into_iter()
                .flatten()
                .find_map(at),
        }
    }

    /// What a remote host declares or has free: (MiB of memory, CPUs).
    pub fn capacity(&self, host: &Value) -> Option<(Option<u64>, Option<u64>)> {
        let address = host.attr_str("address")?;
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(address).map(|h| (h.memory_mib, h.cpus))
    }

    pub fn any_down(&self) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .any(|h| !h.up)
    }
}

/// `NAME` of a host record (`host.NAME`).
pub fn host_name(host: &Value) -> Option<&str> {
    host.attr_str("name").or_else(|| host.attr_str("id"))
}

/// The remote host records `value` refers to (its `host` and `hosts`).
pub fn hosts_of(value: &Value) -> impl Iterator<Item = &Value> {
    let one = value.attr("host").into_iter();
    let many = value
        .attr("hosts")
        .and_then(Value::as_items)
        .into_iter()
        .flatten();
    one.chain(many).filter(|h| h.attr_str("address").is_some())
}

/// The error a set-aside change is reported with.
pub fn describe(s: &Skipped) -> String {
    let would = match s.action {
        Action::NoOp => "it was left as recorded, unrefreshed",
        Action::Create => "it would have been created",
        Action::Update => "it would have been updated",
        Action::DeleteThenCreate | Action::CreateThenDelete => "it would have been replaced",
        Action::Delete => "it would have been destroyed",
    };
    format!(
        "{} is left out of this run ({would}): {}",
        s.address, s.reason
    )
}

/// Takes out of `changes` what is on a DOWN host, what needs it, and (when destroyed) what
/// it needs; returns them with the reason.
pub fn set_aside(changes: &mut BTreeMap<ObjectAddr, Change>, health: &HostHealth) -> Vec<Skipped> {
    if !health.any_down() {
        return Vec::new();
    }
    let mut why: BTreeMap<ObjectAddr, String> = BTreeMap::new();
    for (object, change) in changes.iter() {
        let value = change.after.as_ref().or(change.before.as_ref());
        if let Some((host, reason)) = value.and_then(|v| health.down_reason(v)) {
            why.insert(
                object.clone(),
                format!("its host host.{host} is DOWN: {reason}"),
            );
        }
    }
    // What needs a set-aside object cannot be made or changed without it; what a set-aside
    // object needs cannot be destroyed before it.
    loop {
        let aside: HashSet<&InstanceAddr> = why.keys().map(|o| &o.instance).collect();
        let mut more: Vec<(ObjectAddr, String)> = Vec::new();
        for (object, change) in changes.iter() {
            if why.contains_key(object) {
                continue;
            }
            if let Some(dep) = change.dependencies.iter().find(|d| aside.contains(d)) {
                more.push((
                    object.clone(),
                    format!("it needs {dep}, which is set aside"),
                ));
                continue;
            }
            if change.action.deletes() {
                let needed_by = why.keys().find(|other| {
                    changes
                        .get(*other)
                        .is_some_and(|c| c.dependencies.contains(&object.instance))
                });
                if let Some(other) = needed_by {
                    more.push((
                        object.clone(),
                        format!("{} needs it and is set aside", other.instance),
                    ));
                }
            }
        }
        if more.is_empty() {
            break;
        }
        why.extend(more);
    }
    why.into_iter()
        .filter_map(|(object, reason)| {
            let change = changes.remove(&object)?;
            Some(Skipped {
                address: change.address,
                action: change.action,
                reason,
            })
        })
        .collect()
}
