//! `hive plan`: refresh what the state records, evaluate the configuration against it, and
//! decide what to do with every instance.

use super::validate::VarOptions;
use crate::config::{load_dir, Config};
use crate::diag::{Diagnostic, Diagnostics, Sources};
use crate::engine::registry::Registry;
use crate::lang::eval::values_equal;
use crate::lang::walk::{evaluate, Evaluated, Outputs, Variables};
use crate::plan::down_hosts::{self, HostHealth};
use crate::plan::planner::Planner;
use crate::plan::{Action, Change, Plan, PLAN_FORMAT_VERSION};
use hive_sdk::addr::{InstanceAddr, ResourceAddr, Target};
use hive_sdk::provider::{ReadRequest, ReadResponse, Target as ProviderTarget};
use hive_sdk::value::tagged;
use hive_state::{ObjectAddr, ResourceState, State, Status};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub vars: VarOptions,
    /// Ask the providers what exists before diffing (`-refresh=false` turns it off).
    pub refresh: bool,
    pub targets: Vec<Target>,
    /// `-exclude`: left alone, with what depends on them.
    pub excludes: Vec<Target>,
    pub replace: Vec<Target>,
    /// Plan the destruction of everything in the state.
    pub destroy: bool,
}

/// A plan and everything applying it needs.
pub struct Planned {
    pub config: Config,
    pub evaluated: Evaluated,
    pub plan: Plan,
    /// The state after refresh: what apply starts from.
    pub refreshed: State,
    /// The records `removed { lifecycle { destroy = false } }` forgets (not in `refreshed`).
    pub forgotten: Vec<hive_state::ResourceState>,
}

/// Loads the configuration: the first step of every command that evaluates it.
pub fn load(
    dir: &Path,
    registry: &Registry,
) -> Result<(Config, Diagnostics), (Sources, Diagnostics)> {
    load_dir(dir, registry.catalog())
}

#[allow(clippy::too_many_arguments)]
pub fn make_plan(
    config: Config,
    vars: &Variables,
    state: Option<State>,
    lineage: &str,
    registry: &Registry,
    options: &PlanOptions,
    parallelism: usize,
    diags: &mut Diagnostics,
) -> Option<Planned> {
    let recorded_from = state.as_ref().map(|s| (s.lineage.clone(), s.serial));
    let mut recorded = state.unwrap_or_else(|| State::new(lineage.to_string()));
    // Before anything is asked of the backends: objects that moved, and those forgotten.
    let moved = super::refactor::apply_moves(&config, &mut recorded, diags);
    let forgotten = super::refactor::forget_removed(&config, &mut recorded, options.destroy);
    // Hosts are checked before anything is asked of them.
    let health = HostHealth::default();
    let recorded_hosts: Vec<hive_sdk::Value> = recorded
        .resources
        .values()
        .flat_map(|r| {
            let many = r.attributes.get("hosts").and_then(|h| h.as_array());
            r.attributes
                .get("host")
                .into_iter()
                .chain(many.into_iter().flatten())
        })
        .filter(|h| h.get("address").is_some())
        .map(tagged::from_json)
        .collect();
    health.check(&recorded_hosts);
    let (refreshed, drift, repairs) = if options.refresh {
        refresh(recorded, registry, &config.dir, parallelism, &health, diags)
    } else {
        (recorded, HashMap::new(), HashSet::new())
    };
    let mut planner = Planner {
        registry,
        state: &refreshed,
        drift: &drift,
        repairs: &repairs,
        replace: &options.replace,
        lineage,
        base_dir: &config.dir,
        changes: BTreeMap::new(),
        destroying: options.destroy,
        health: &health,
        placement: Default::default(),
    };
    let outputs = if options.destroy {
        Outputs::Skip
    } else {
        Outputs::Evaluate
    };
    let vars = vars.for_state(Some(&refreshed.lineage));
    let (evaluated, eval_diags) = evaluate(&config, &vars, outputs, &mut planner);
    diags.extend(eval_diags);
    if !diags.has_errors() && !options.destroy {
        let instances = evaluated.instances();
        health.check(instances.iter().flat_map(|(_, v)| down_hosts::hosts_of(v)));
        super::checks::check_resources(
            &config,
            &evaluated,
            registry,
            true,
            super::checks::Backends::Ask(&health, &refreshed.lineage),
            diags,
        );
    }
    let planned = std::mem::take(&mut planner.changes);
    if diags.has_errors() {
        return None;
    }
    if !options.destroy {
        let values = evaluated.resources.clone().into_iter().collect();
        let table = crate::lang::walk::resource_table(&config, values);
        diags.extend(crate::lang::checks::judge(
            &config,
            &evaluated.vars,
            &evaluated.locals,
            &table,
        ));
    }
    let mut changes: BTreeMap<ObjectAddr, Change> = planned
        .into_iter()
        .map(|(a, c)| (ObjectAddr::current(a), c))
        .collect();
    link_dependencies(&mut changes, &evaluated.resource_deps);
    // What import blocks adopt is not made: the apply imports it first.
    let imports =
        super::refactor::pending_imports(&config, &evaluated, &refreshed, &mut changes, diags);
    // What the state has and the configuration no longer does.
    for record in refreshed.resources.values() {
        let object = record.object();
        if changes.contains_key(&object) {
            continue;
        }
        let declared = config.resources.contains_key(&record.address.resource);
        changes.insert(
            object,
            Change {
                address: record.address.clone(),
                deposed: record.deposed.clone(),
                kind: record.kind.clone(),
                driver: record.driver.clone(),
                action: Action::Delete,
                reasons: vec![if record.deposed.is_some() {
                    "replaced by a new object".to_string()
                } else if declared {
                    "its count or for_each no longer includes it".to_string()
                } else {
                    "no longer in configuration".to_string()
                }],
                before: Some(tagged::from_json(&record.attributes)),
                after: None,
                replace_because: Vec::new(),
                dependencies: record.dependencies.clone(),
                id: record.id.clone(),
            },
        );
    }
    if options.destroy {
        for (object, change) in changes.iter_mut() {
            let exists = refreshed.resources.contains_key(object);
            change.action = if exists { Action::Delete } else { Action::NoOp };
            change.reasons = if exists {
                vec!["destroying everything".into()]
            } else {
                vec![]
            };
            change.after = None;
            change.replace_because.clear();
        }
    }
    propagate_create_before_destroy(&mut changes, &refreshed);
    for change in changes.values() {
        if change.action != Action::CreateThenDelete {
            continue;
        }
        let Some(provider) = registry.get(&change.kind, &change.driver) else {
            continue;
        };
        let config = change.after.clone().unwrap_or(hive_sdk::Value::Null);
        if let Err(why) = provider.check_create_before_destroy(&change.kind, &config) {
            diags.push(
                Diagnostic::error(format!(
                    "{} cannot be replaced create-before-destroy: {why}",
                    change.address
                ))
                .help("remove create_before_destroy from it (or from what depends on it), or give the new object a different name"),
            );
        }
    }
    if !options.targets.is_empty() {
        restrict_to_targets(&mut changes, &options.targets, options.destroy, &refreshed);
    }
    if !options.excludes.is_empty() {
        leave_out(&mut changes, &options.excludes, options.destroy, &refreshed);
    }
    let skipped = down_hosts::set_aside(&mut changes, &health);
    check_prevent_destroy(&config, &changes, diags);
    if diags.has_errors() {
        return None;
    }
    // The plan goes ahead without them; the command fails, naming each.
    for s in &skipped {
        // At the resource's host, where the reader looks for which host it was.
        let at = config.resources.get(&s.address.resource).map(|r| {
            ["host", "hosts"]
                .iter()
                .find_map(|a| r.body.attributes.get(*a))
                .map_or_else(|| r.span.clone(), |a| a.expr.span())
        });
        diags.push(Diagnostic::error(down_hosts::describe(s)).at_opt(at));
    }

    // Ephemeral outputs are the command's to show, never a plan's to keep.
    let outputs: BTreeMap<String, hive_sdk::Value> = evaluated
        .outputs
        .iter()
        .filter(|(name, _)| !config.outputs.get(*name).is_some_and(|o| o.ephemeral))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let plan = Plan {
        format_version: PLAN_FORMAT_VERSION,
        lineage: recorded_from.as_ref().map(|(l, _)| l.clone()),
        new_lineage: recorded_from.is_none().then(|| refreshed.lineage.clone()),
        serial: recorded_from.map_or(0, |(_, s)| s),
        variables: evaluated
            .vars
            .iter()
            .filter(|(name, _)| *name != crate::lang::eval::HIVE_ID)
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
        destroy: options.destroy,
        changes: changes.into_values().collect(),
        outputs,
        prior_outputs: refreshed
            .outputs
            .iter()
            .map(|(k, o)| {
                (
                    k.clone(),
                    tagged::from_json(&o.value).mark_sensitive_if(o.sensitive),
                )
            })
            .collect(),
        targets: options.targets.clone(),
        excludes: options.excludes.clone(),
        replace: options.replace.clone(),
        refresh: options.refresh,
        skipped,
        moved,
        forgotten: forgotten.iter().map(|r| r.address.clone()).collect(),
        imports,
    };
    Some(Planned {
        config,
        evaluated,
        plan,
        refreshed,
        forgotten,
    })
}

/// A resource replaced destroy-first under a dependant replaced create-first would have to be
/// both gone before and present after that dependant's new object: like Terraform, it is
/// replaced create-first too.
fn propagate_create_before_destroy(changes: &mut BTreeMap<ObjectAddr, Change>, state: &State) {
    loop {
        let create_first: Vec<(InstanceAddr, Vec<InstanceAddr>)> = changes
            .values()
            .filter(|c| c.action == Action::CreateThenDelete)
            .map(|c| {
                let mut deps = c.dependencies.clone();
                if let Some(r) = state.resource(&c.address) {
                    deps.extend(r.dependencies.iter().cloned());
                }
                (c.address.clone(), deps)
            })
            .collect();
        let mut changed = false;
        for change in changes.values_mut() {
            if change.action != Action::DeleteThenCreate {
                continue;
            }
            if let Some((dependant, _)) = create_first
                .iter()
                .find(|(_, deps)| deps.iter().any(|d| d == &change.address))
            {
                change.action = Action::CreateThenDelete;
                change.reasons.push(format!(
                    "created first because {dependant}, which depends on it, is replaced that way"
                ));
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

/// `lifecycle { prevent_destroy = true }` refuses any plan that destroys the object: a
/// replacement, a count or for_each that shrinks, `hive destroy`.
fn check_prevent_destroy(
    config: &Config,
    changes: &BTreeMap<ObjectAddr, Change>,
    diags: &mut Diagnostics,
) {
    for change in changes.values().filter(|c| c.action.deletes()) {
        let Some(resource) = config.resources.get(&change.address.resource) else {
            continue;
        };
        if resource.lifecycle.prevent_destroy {
            diags.push(
                Diagnostic::error(format!(
                    "{} has lifecycle.prevent_destroy set, but this plan would destroy it",
                    change.address
                ))
                .detail(change.reasons.join("; "))
                .at(resource.span.clone())
                .help("change the configuration so it is kept, or remove prevent_destroy first"),
            );
        }
    }
}

/// What refresh found: the refreshed state, what drifted (with what was seen), and what needs
/// repair.
type Refreshed = (State, HashMap<InstanceAddr, String>, HashSet<InstanceAddr>);

/// Asks each object's provider what exists now, many at once under the caps. Objects gone are
/// dropped (and will be created again); objects changed outside hive take their new
/// attributes.
fn refresh(
    state: State,
    registry: &Registry,
    dir: &Path,
    parallelism: usize,
    health: &HostHealth,
    diags: &mut Diagnostics,
) -> Refreshed {
    let mut drift = HashMap::new();
    let mut repairs = HashSet::new();
    let mut refreshed = state;
    let records: Vec<ResourceState> = refreshed
        .resources
        .values()
        .filter(|r| r.status != Status::Creating && r.deposed.is_none())
        // Left as recorded: the plan sets aside what is on a DOWN host.
        .filter(|r| health.recorded_down(&r.attributes).is_none())
        .filter(|r| {
            registry
                .get(&r.kind, &r.driver)
                .is_some_and(|p| p.refreshes())
        })
        .cloned()
        .collect();
    let lineage = refreshed.lineage.clone();
    let answers = crate::engine::parallel::map_capped(&records, parallelism, host_cap, |record| {
        let provider = registry.get(&record.kind, &record.driver)?;
        let prior = tagged::from_json(&record.attributes);
        let plain = prior.unmark_deep().0;
        let id = record.id.clone().unwrap_or_default();
        let answer = provider.read(&ReadRequest {
            target: ProviderTarget {
                address: &record.address,
                kind: &record.kind,
                lineage: &lineage,
                state: "",
                expires: None,
                base_dir: dir,
            },
            id: &id,
            prior: &plain,
        });
        Some((plain, answer))
    });
    for (record, answer) in records.iter().zip(answers) {
        let (plain, answer) = match answer {
            Ok(Some(answer)) => answer,
            Ok(None) => continue,
            Err(panic) => {
                diags.push(Diagnostic::error(format!(
                    "refreshing {}: the provider failed: {panic}",
                    record.address
                )));
                continue;
            }
        };
        match answer {
            Ok(ReadResponse::Found(now)) => {
                if !values_equal(&now, &plain) {
                    drift.insert(
                        record.address.clone(),
                        "drifted: changed outside hive".into(),
                    );
                    let mut updated = record.clone();
                    updated.attributes = tagged::to_json(&now);
                    refreshed.put(updated);
                }
            }
            Ok(ReadResponse::NeedsRepair {
                state: now,
                problems,
            }) => {
                drift.insert(
                    record.address.clone(),
                    format!("drifted: {}", problems.join(", ")),
                );
                repairs.insert(record.address.clone());
                let mut updated = record.clone();
                updated.attributes = tagged::to_json(&now);
                refreshed.put(updated);
            }
            Ok(ReadResponse::Gone) => {
                drift.insert(
                    record.address.clone(),
                    "drifted: deleted outside hive".into(),
                );
                refreshed.remove(&record.object());
            }
            Err(e) => diags.push(Diagnostic::error(format!(
                "refreshing {}: {e}",
                record.address
            ))),
        }
    }
    (refreshed, drift, repairs)
}

/// The host an object was recorded on, with that host's cap (`max_parallel`), if it has one.
fn host_cap(record: &ResourceState) -> Option<(String, usize)> {
    crate::engine::steps::host_cap(&tagged::from_json(&record.attributes))
}

/// Fills each change's dependencies with the instances of the resources it refers to.
fn link_dependencies(
    changes: &mut BTreeMap<ObjectAddr, Change>,
    resource_deps: &HashMap<ResourceAddr, Vec<ResourceAddr>>,
) {
    let mut instances: HashMap<ResourceAddr, Vec<InstanceAddr>> = HashMap::new();
    for object in changes.keys().filter(|o| o.deposed.is_none()) {
        instances
            .entry(object.instance.resource.clone())
            .or_default()
            .push(object.instance.clone());
    }
    for change in changes.values_mut() {
        let mut deps: Vec<InstanceAddr> = resource_deps
            .get(&change.address.resource)
            .into_iter()
            .flatten()
            .flat_map(|r| instances.get(r).cloned().unwrap_or_default())
            .collect();
        deps.sort();
        deps.dedup();
        change.dependencies = deps;
    }
}

/// `-target`: keep the targeted instances and what they need (for destroy: what needs them);
/// everything else is left alone.
fn restrict_to_targets(
    changes: &mut BTreeMap<ObjectAddr, Change>,
    targets: &[Target],
    destroy: bool,
    state: &State,
) {
    let mut keep: HashSet<InstanceAddr> = changes
        .keys()
        .filter(|o| targets.iter().any(|t| t.matches(&o.instance)))
        .map(|o| o.instance.clone())
        .collect();
    let mut stack: Vec<InstanceAddr> = keep.iter().cloned().collect();
    while let Some(address) = stack.pop() {
        let next: Vec<InstanceAddr> = if destroy {
            state
                .resources
                .values()
                .filter(|r| r.dependencies.contains(&address))
                .map(|r| r.address.clone())
                .collect()
        } else {
            changes
                .get(&ObjectAddr::current(address.clone()))
                .map(|c| c.dependencies.clone())
                .unwrap_or_default()
        };
        for n in next {
            if keep.insert(n.clone()) {
                stack.push(n);
            }
        }
    }
    for (object, change) in changes.iter_mut() {
        if !keep.contains(&object.instance) {
            change.action = Action::NoOp;
            change.reasons.clear();
        }
    }
}

/// `-exclude`: the excluded instances are left alone, and so is what depends on them (for
/// destroy: what they need, which must outlive them).
fn leave_out(
    changes: &mut BTreeMap<ObjectAddr, Change>,
    excludes: &[Target],
    destroy: bool,
    state: &State,
) {
    let mut out: HashSet<InstanceAddr> = changes
        .keys()
        .map(|o| &o.instance)
        .chain(state.resources.values().map(|r| &r.address))
        .filter(|a| excludes.iter().any(|t| t.matches(a)))
        .cloned()
        .collect();
    let mut stack: Vec<InstanceAddr> = out.iter().cloned().collect();
    while let Some(address) = stack.pop() {
        let next: Vec<InstanceAddr> = if destroy {
            state
                .resource(&address)
                .map(|r| r.dependencies.clone())
                .unwrap_or_default()
        } else {
            changes
                .values()
                .filter(|c| c.dependencies.contains(&address))
                .map(|c| c.address.clone())
                .collect()
        };
        for n in next {
            if out.insert(n.clone()) {
                stack.push(n);
            }
        }
    }
    for (object, change) in changes.iter_mut() {
        if out.contains(&object.instance) {
            change.action = Action::NoOp;
            change.reasons.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{defaults, loaded, registry, Behaviour, Mock};

    fn recorded(address: &str) -> ResourceState {
        ResourceState {
            address: address.parse().unwrap(),
            deposed: None,
            kind: "command".into(),
            driver: "local".into(),
            id: Some(address.into()),
            attributes: serde_json::json!({ "input": "wanted", "id": address }),
            dependencies: vec![],
            status: hive_state::Status::Ready,
        }
    }

    fn plan(config: &Config, state: &State, mock: &Mock, options: &PlanOptions) -> Planned {
        let mut diags = Diagnostics::default();
        let vars = defaults(config);
        make_plan(
            config.clone(),
            &vars,
            Some(state.clone()),
            "l",
            &registry(mock),
            options,
            4,
            &mut diags,
        )
        .unwrap_or_else(|| panic!("{diags:?}"))
    }

    fn change(planned: &Planned, a: &str) -> Change {
        planned
            .plan
            .changes
            .iter()
            .find(|c| c.address.to_string() == a)
            .cloned()
            .unwrap_or_else(|| panic!("no change for {a}"))
    }

    #[test]
    fn refresh_finds_objects_deleted_or_changed_outside_hive() {
        let mock = Mock::with(&[
            ("command.gone", Behaviour::Gone),
            ("command.edited", Behaviour::Changed),
        ]);
        let (config, _dir) = loaded("command \"kept\" {\n  input = \"wanted\"\n}\n\ncommand \"gone\" {\n  input = \"wanted\"\n}\n\ncommand \"edited\" {\n  input = \"wanted\"\n}\n", &registry(&mock));
        let mut state = State::new("l".into());
        for a in ["command.kept", "command.gone", "command.edited"] {
            state.put(recorded(a));
        }
        let options = PlanOptions {
            refresh: true,
            ..PlanOptions::default()
        };
        let planned = plan(&config, &state, &mock, &options);
        assert_eq!(change(&planned, "command.kept").action, Action::NoOp);
        let gone = change(&planned, "command.gone");
        assert_eq!(gone.action, Action::Create);
        assert_eq!(gone.reasons, ["drifted: deleted outside hive"]);
        let edited = change(&planned, "command.edited");
        assert_eq!(edited.action, Action::Update);
        assert_eq!(edited.reasons, ["drifted: changed outside hive"]);
        let gone_addr: InstanceAddr = "command.gone".parse().unwrap();
        assert!(planned.refreshed.resource(&gone_addr).is_none());
    }

    #[test]
    fn refresh_reads_many_objects_at_once_but_no_more_than_a_host_allows() {
        let names = ["a", "b", "c", "d"];
        let slow: Vec<(String, Behaviour)> = names
            .iter()
            .map(|n| (format!("command.{n}"), Behaviour::Slow))
            .collect();
        let peak_for = |cap: Option<usize>| {
            let behaviours: Vec<(&str, Behaviour)> =
                slow.iter().map(|(a, b)| (a.as_str(), *b)).collect();
            let mock = Mock::with(&behaviours);
            let cap_line = cap.map_or(String::new(), |c| format!("  max_parallel = {c}\n"));
            let mut text = format!("host \"lab\" {{\n{cap_line}}}\n\n");
            let mut state = State::new("l".into());
            for n in names {
                text.push_str(&format!(
                    "command \"{n}\" {{\n  input = \"wanted\"\n  host  = host.lab\n}}\n\n"
                ));
                let mut record = recorded(&format!("command.{n}"));
                let host = match cap {
                    Some(c) => serde_json::json!({ "id": "local", "max_parallel": c }),
                    None => serde_json::json!({ "id": "local" }),
                };
                record.attributes["host"] = host;
                state.put(record);
            }
            let (config, _dir) = loaded(&text, &registry(&mock));
            let options = PlanOptions {
                refresh: true,
                ..PlanOptions::default()
            };
            plan(&config, &state, &mock, &options);
            mock.peak.load(std::sync::atomic::Ordering::SeqCst)
        };
        assert!(peak_for(None) >= 2, "without a cap, reads overlap");
        assert_eq!(peak_for(Some(1)), 1, "max_parallel = 1 holds for refresh");
    }

    #[test]
    fn a_provider_can_have_an_unchanged_object_made_anew_and_its_dependents_follow() {
        let quiet_mock = Mock::default();
        let (config, _dir) = loaded("command \"stale\" {\n  input = \"wanted\"\n}\n\ncommand \"user\" {\n  input = command.stale.id\n}\n", &registry(&quiet_mock));
        let mut state = State::new("l".into());
        state.put(recorded("command.stale"));
        let mut user = recorded("command.user");
        user.attributes = serde_json::json!({ "input": "command.stale", "id": "command.user" });
        user.dependencies = vec!["command.stale".parse().unwrap()];
        state.put(user);
        let options = PlanOptions::default();
        let action = |planned: &Planned, a: &str| {
            let c = change(planned, a);
            (c.action, c.reasons)
        };
        let quiet = plan(&config, &state, &quiet_mock, &options);
        assert_eq!(action(&quiet, "command.stale").0, Action::NoOp);
        assert_eq!(action(&quiet, "command.user").0, Action::NoOp);

        let stale = Mock::with(&[("command.stale", Behaviour::Stale)]);
        let planned = plan(&config, &state, &stale, &options);
        assert_eq!(
            action(&planned, "command.stale"),
            (
                Action::DeleteThenCreate,
                vec!["its source changed".to_string()]
            )
        );
        // Its id is unknown until it is made again, so what uses it changes too.
        assert_ne!(action(&planned, "command.user").0, Action::NoOp);
    }
}
