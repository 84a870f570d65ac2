//! Placing the instances of a resource across hosts (`hosts = [host.a, host.b]`): each
//! instance gets one of them as its `host`. An instance the state records keeps its host
//! (adding or removing instances never moves the others); a new one goes, with
//! `placement = "spread"` (the default), to the host with the fewest instances of the
//! resource, or with `"pack"`, to the first host in the list with room. A host that is DOWN
//! gets no new instance; none gets more than its capacity (declared, or free memory).

use super::down_hosts::{host_name, HostHealth};
use hive_sdk::addr::{InstanceAddr, ResourceAddr};
use hive_sdk::value::tagged;
use hive_sdk::Value;
use hive_state::State;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    Spread,
    Pack,
}

/// What is placed on a host so far.
#[derive(Debug, Clone, Copy, Default)]
struct Load {
    memory_mib: u64,
    cpus: u64,
}

/// The placements of one plan.
#[derive(Default)]
pub struct Placement {
    /// Per resource: how many of its instances each host (by name) holds.
    counts: HashMap<ResourceAddr, BTreeMap<String, usize>>,
    /// Per host: what every placed instance (of any resource) takes of it.
    loads: HashMap<String, Load>,
    /// Instances already counted (those the state records are counted when their resource
    /// is first met).
    counted: HashSet<InstanceAddr>,
}

/// The record's host name, for an instance the state has.
fn recorded_host(state: &State, address: &InstanceAddr) -> Option<(String, Value)> {
    let record = state.resource(address)?;
    let host = tagged::from_json(record.attributes.get("host")?);
    let name = host_name(&host)?.to_string();
    Some((name, tagged::from_json(&record.attributes)))
}

fn size_of(config: &Value) -> Load {
    let (cpus, memory_mib) = hive_sdk::guest::sizing(config).unwrap_or((1, 512));
    Load {
        memory_mib,
        cpus: u64::from(cpus),
    }
}

impl Placement {
    /// Counts what the state already places of `resource`, once.
    fn count_recorded(&mut self, state: &State, resource: &ResourceAddr) {
        if self.counts.contains_key(resource) {
            return;
        }
        let counts = self.counts.entry(resource.clone()).or_default();
        for record in state.resources.values() {
            if &record.address.resource != resource || record.deposed.is_some() {
                continue;
            }
            let Some((name, attributes)) = recorded_host(state, &record.address) else {
                continue;
            };
            *counts.entry(name.clone()).or_default() += 1;
            let size = size_of(&attributes);
            let load = self.loads.entry(name).or_default();
            load.memory_mib += size.memory_mib;
            load.cpus += size.cpus;
            self.counted.insert(record.address.clone());
        }
    }

    /// Sets `config`'s `host` from its `hosts`; `Ok(true)` when it placed the instance,
    /// `Ok(false)` when the instance is not placed by hive (no `hosts`).
    pub fn place(
        &mut self,
        state: &State,
        health: &HostHealth,
        address: &InstanceAddr,
        config: &mut Value,
    ) -> Result<bool, String> {
        let Some(Value::List(hosts)) = config.attr("hosts").cloned() else {
            return Ok(false);
        };
        if hosts.is_empty() {
            return Err("hosts is empty: name the hosts to place it on".into());
        }
        if config.attr("host").is_some_and(|h| !h.is_null()) {
            return Err("set host (one host) or hosts (hive places it), not both".into());
        }
        let strategy = match config.attr_str("placement") {
            None | Some("spread") => Strategy::Spread,
            Some("pack") => Strategy::Pack,
            Some(other) => {
                return Err(format!(
                    "placement = \"{other}\": expected \"spread\" or \"pack\""
                ))
            }
        };
        let named: Vec<(String, &Value)> = hosts
            .iter()
            .filter_map(|h| host_name(h).map(|n| (n.to_string(), h)))
            .collect();
        self.count_recorded(state, &address.resource);
        // Where the state has it: it stays, whatever the host's health.
        if let Some((name, _)) = recorded_host(state, address) {
            if let Some((_, host)) = named.iter().find(|(n, _)| *n == name) {
                set_host(config, host);
                return Ok(true);
            }
        }
        health.check(hosts.iter());
        let size = size_of(config);
        let counts = self.counts.entry(address.resource.clone()).or_default();
        let mut refused: Vec<String> = Vec::new();
        let mut candidates: Vec<(usize, usize, &String, &Value)> = Vec::new();
        for (order, (name, host)) in named.iter().enumerate() {
            if let Some((_, reason)) = health.host_down(host) {
                refused.push(format!("host.{name} is DOWN ({reason})"));
                continue;
            }
            let load = self.loads.get(name).copied().unwrap_or_default();
            let (memory, cpus) = health.capacity(host).unwrap_or((None, None));
            let declared = declared_capacity(host);
            let memory = declared.0.or(memory);
            let cpus = declared.1.or(cpus);
            if memory.is_some_and(|m| load.memory_mib + size.memory_mib > m) {
                refused.push(format!(
                    "host.{name} has {} of {} MiB of memory placed",
                    load.memory_mib,
                    memory.unwrap_or(0)
                ));
                continue;
            }
            // CPUs are shared between guests; only a declared count is a limit.
            if declared.1.is_some() && cpus.is_some_and(|c| load.cpus + size.cpus > c) {
                refused.push(format!(
                    "host.{name} has {} of its {} CPUs placed",
                    load.cpus,
                    cpus.unwrap_or(0)
                ));
                continue;
            }
            candidates.push((counts.get(name).copied().unwrap_or(0), order, name, host));
        }
        let chosen = match strategy {
            Strategy::Spread => candidates
                .iter()
                .min_by_key(|(count, order, _, _)| (*count, *order)),
            Strategy::Pack => candidates.iter().min_by_key(|(_, order, _, _)| *order),
        };
        let Some((_, _, name, host)) = chosen else {
            return Err(format!(
                "no host in hosts can take it ({} MiB, {} CPUs): {}",
                size.memory_mib,
                size.cpus,
                refused.join("; ")
            ));
        };
        let name = (*name).clone();
        let host = (*host).clone();
        *counts.entry(name.clone()).or_default() += 1;
        if self.counted.insert(address.clone()) {
            let load = self.loads.entry(name).or_default();
            load.memory_mib += size.memory_mib;
            load.cpus += size.cpus;
        }
        set_host(config, &host);
        Ok(true)
    }
}

/// A host's `capacity { memory, cpus }`, which wins over what it has free.
fn declared_capacity(host: &Value) -> (Option<u64>, Option<u64>) {
    let Some(capacity) = host.attr("capacity").filter(|c| !c.is_null()) else {
        return (None, None);
    };
    (
        capacity
            .attr_str("memory")
            .and_then(|m| hive_sdk::units::parse_size(m).ok())
            .map(|b| b >> 20),
        capacity
            .attr("cpus")
            .and_then(Value::as_number)
            .map(|c| c as u64),
    )
}

fn set_host(config: &mut Value, host: &Value) {
    if let Value::Map(entries) = config {
        entries.insert("host".to_string(), host.clone());
    }
}

#[cfg(test)]
mod tests {
    use crate::diag::Diagnostics;
    use crate::ops::plan::{make_plan, PlanOptions};
    use crate::plan::Action;
    use crate::testing::{defaults, loaded, registry, Mock};
    use hive_sdk::value::tagged;
    use hive_state::{ResourceState, State, Status};

    const HOSTS: &str =
        "host \"a\" {\n  capacity {\n    memory = \"1GiB\"\n  }\n}\nhost \"b\" {}\nhost \"c\" {}\n";

    /// Plans `body` (after the hosts) against `state`.
    fn plan_of(body: &str, state: Option<State>) -> Result<crate::ops::plan::Planned, String> {
        let mock = Mock::default();
        let (config, _dir) = loaded(&format!("{HOSTS}{body}"), &registry(&mock));
        let vars = defaults(&config);
        let mut diags = Diagnostics::default();
        make_plan(
            config,
            &vars,
            state,
            "l",
            &registry(&mock),
            &PlanOptions::default(),
            4,
            &mut diags,
        )
        .ok_or_else(|| format!("{diags:?}"))
    }

    /// Plans `body` against `state`: each instance's host name, or the errors.
    fn placed(body: &str, state: &State) -> Result<Vec<(String, String, Action)>, String> {
        let planned = plan_of(body, Some(state.clone()))?;
        Ok(planned
            .plan
            .changes
            .iter()
            .filter(|c| c.kind == "command")
            .map(|c| {
                let host = c
                    .after
                    .as_ref()
                    .or(c.before.as_ref())
                    .and_then(|a| a.attr("host"))
                    .and_then(|h| h.attr_str("name"))
                    .unwrap_or("-")
                    .to_string();
                (c.address.to_string(), host, c.action)
            })
            .collect())
    }

    /// The state an apply of `plan` would record: each instance with its host.
    fn recorded(body: &str) -> State {
        let planned = plan_of(body, None).unwrap_or_else(|e| panic!("{e}"));
        let mut state = State::new("l".into());
        for c in planned.plan.changes.iter().filter(|c| c.kind == "command") {
            let Some(after) = &c.after else { continue };
            // What the backend computes, as it would have recorded it.
            let known = match after.clone() {
                hive_sdk::Value::Map(entries) => hive_sdk::Value::Map(
                    entries
                        .into_iter()
                        .map(|(k, v)| {
                            let v = if v.is_unknown() {
                                hive_sdk::Value::string("x")
                            } else {
                                v
                            };
                            (k, v)
                        })
                        .collect(),
                ),
                other => other,
            };
            state.put(ResourceState {
                address: c.address.clone(),
                deposed: None,
                kind: c.kind.clone(),
                driver: c.driver.clone(),
                id: Some(c.address.to_string()),
                attributes: tagged::to_json(&known),
                dependencies: vec![],
                status: Status::Ready,
            });
        }
        state
    }

    fn hosts_of(placed: &[(String, String, Action)]) -> Vec<&str> {
        placed.iter().map(|(_, h, _)| h.as_str()).collect()
    }

    #[test]
    fn spread_is_even_stable_and_shown_by_name() {
        let five = "command \"node\" {\n  count = 5\n  hosts = [host.a, host.b, host.c]\n}\n";
        let first = placed(five, &State::new("l".into())).expect("placed");
        assert_eq!(hosts_of(&first), ["a", "b", "c", "a", "b"]);

        // A sixth goes where there are fewest; the five stay where they are.
        let state = recorded(five);
        let six = five.replace("count = 5", "count = 6");
        let again = placed(&six, &state).expect("placed");
        assert_eq!(hosts_of(&again), ["a", "b", "c", "a", "b", "c"]);
        assert!(
            again[..5].iter().all(|(_, _, a)| *a == Action::NoOp),
            "{again:?}"
        );
        assert_eq!(again[5].2, Action::Create);

        // Removing one moves none of the others.
        let four = five.replace("count = 5", "count = 4");
        let fewer = placed(&four, &state).expect("placed");
        let kept: Vec<_> = fewer
            .iter()
            .filter(|(_, _, a)| *a != Action::Delete)
            .collect();
        assert!(kept.iter().all(|(_, _, a)| *a == Action::NoOp), "{fewer:?}");
    }

    #[test]
    fn pack_fills_the_first_host_within_its_capacity() {
        // Host a offers 1 GiB: two 512 MiB instances, then b.
        let body = "command \"node\" {\n  count = 3\n  hosts = [host.a, host.b]\n  placement = \"pack\"\n  memory = \"512MiB\"\n}\n";
        let packed = placed(body, &State::new("l".into())).expect("placed");
        assert_eq!(hosts_of(&packed), ["a", "a", "b"]);
        let big = body
            .replace("[host.a, host.b]", "[host.a]")
            .replace("512MiB", "2GiB");
        let refused = placed(&big, &State::new("l".into())).expect_err("no room");
        assert!(
            refused.contains("no host in hosts can take it")
                && refused.contains("host.a has 0 of 1024 MiB"),
            "{refused}"
        );
    }

    #[test]
    fn bad_placements_are_errors() {
        let both = "command \"node\" {\n  host = host.a\n  hosts = [host.a, host.b]\n}\n";
        let e = placed(both, &State::new("l".into())).expect_err("both");
        assert!(e.contains("not both"), "{e}");
        let wrong = "command \"node\" {\n  hosts = [host.a]\n  placement = \"random\"\n}\n";
        let e = placed(wrong, &State::new("l".into())).expect_err("bad");
        assert!(e.contains("\\\"spread\\\" or \\\"pack\\\""), "{e}");
    }
}
