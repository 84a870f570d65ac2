//! Turning a plan's changes into steps and their order. A replacement is a delete and a
//! create (ordered by `create_before_destroy`); creates and updates follow what they refer
//! to; deletes follow the dependencies recorded in the state, in reverse.

use super::StepKind;
use crate::plan::{Action, Plan};
use hive_sdk::addr::InstanceAddr;
use hive_sdk::Value;
use hive_state::State;
use std::collections::HashMap;

pub struct Step {
    /// The plan's change this step carries out.
    pub change: usize,
    pub kind: StepKind,
    /// Steps that must be done before this one.
    pub deps: Vec<usize>,
    pub dependants: Vec<usize>,
    /// The host whose `max_parallel` applies, if any: (its id, its cap).
    pub host: Option<(String, usize)>,
}

/// The steps of a plan, with their order.
pub fn build(plan: &Plan, state: &State) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut create_step: HashMap<&InstanceAddr, usize> = HashMap::new();
    // The steps that delete an old object, by the instance it belongs to (its own delete,
    // and the deletes of replaced objects kept as deposed).
    let mut deletes_of: HashMap<&InstanceAddr, Vec<usize>> = HashMap::new();
    let mut own_delete: HashMap<usize, usize> = HashMap::new();
    for (i, change) in plan.changes.iter().enumerate() {
        let value = change.after.as_ref().or(change.before.as_ref());
        let host = value.and_then(host_cap);
        let mut push = |kind| {
            steps.push(Step {
                change: i,
                kind,
                deps: Vec::new(),
                dependants: Vec::new(),
                host: host.clone(),
            });
            steps.len() - 1
        };
        let address = &change.address;
        match change.action {
            Action::NoOp => {}
            Action::Create => {
                create_step.insert(address, push(StepKind::Create));
            }
            Action::Update => {
                create_step.insert(address, push(StepKind::Update));
            }
            Action::Delete => {
                let d = push(StepKind::Delete);
                deletes_of.entry(address).or_default().push(d);
                own_delete.insert(i, d);
            }
            Action::DeleteThenCreate => {
                let d = push(StepKind::Delete);
                let c = push(StepKind::Create);
                deletes_of.entry(address).or_default().push(d);
                own_delete.insert(i, d);
                create_step.insert(address, c);
            }
            Action::CreateThenDelete => {
                let c = push(StepKind::Create);
                let d = push(StepKind::DeleteDeposed);
                create_step.insert(address, c);
                deletes_of.entry(address).or_default().push(d);
            }
        }
    }
    // What each existing object depended on when it was made: old objects go in the
    // reverse of that order.
    let recorded: Vec<(&InstanceAddr, &[InstanceAddr])> = state
        .resources
        .values()
        .map(|r| (&r.address, r.dependencies.as_slice()))
        .collect();
    let mut edges = Vec::new();
    for (s, step) in steps.iter().enumerate() {
        let change = &plan.changes[step.change];
        let address = &change.address;
        match step.kind {
            StepKind::Create | StepKind::Update => {
                // After what it refers to is created or updated...
                for dep in &change.dependencies {
                    if let Some(&d) = create_step.get(dep) {
                        edges.push((s, d));
                    }
                }
                // ...and, when replacing, after the old object is gone.
                if change.action == Action::DeleteThenCreate {
                    if let Some(&d) = own_delete.get(&step.change) {
                        edges.push((s, d));
                    }
                }
            }
            StepKind::Delete | StepKind::DeleteDeposed => {
                // After the old objects that depend on it are gone.
                for (other, deps) in &recorded {
                    if *other != address && deps.iter().any(|d| d == address) {
                        for &d in deletes_of.get(other).into_iter().flatten() {
                            edges.push((s, d));
                        }
                    }
                }
                if step.kind == StepKind::DeleteDeposed {
                    // After the new object exists and what depends on it moved over.
                    if let Some(&c) = create_step.get(address) {
                        edges.push((s, c));
                    }
                    for other in &plan.changes {
                        if other.dependencies.iter().any(|d| d == address) {
                            if let Some(&c) = create_step.get(&other.address) {
                                edges.push((s, c));
                            }
                        }
                    }
                }
            }
        }
    }
    for (from, to) in edges {
        if from != to && !steps[from].deps.contains(&to) {
            steps[from].deps.push(to);
            steps[to].dependants.push(from);
        }
    }
    steps
}

/// The machine an object is on (`host = host.X`, as evaluated: its address, or this machine
/// for a host without one), and that host's cap.
pub fn host_cap(value: &Value) -> Option<(String, usize)> {
    let host = value.attr("host")?.unmarked();
    host.as_map()?;
    let id = host
        .attr_str("address")
        .map_or_else(|| "local".to_string(), str::to_string);
    let cap = host
        .attr("max_parallel")
        .map(Value::unmarked)
        .and_then(Value::as_number)
        .filter(|n| *n >= 1.0)
        .map_or(usize::MAX, |n| n as usize);
    Some((id, cap))
}
