//! `hive plan`: refresh what the state records, evaluate the configuration against it, and
//! decide what to do with every instance.

use super::validate::{gather_inputs, VarOptions};
use crate::config::{load_dir, Config};
use crate::diag::{Diagnostic, Diagnostics, Sources};
use crate::engine::registry::Registry;

use crate::lang::eval::values_equal;
use crate::lang::walk::{evaluate, Evaluated, MissingVars};
use crate::plan::planner::Planner;
use crate::plan::{Action, Change, Plan, PLAN_FORMAT_VERSION};
use hive_sdk::addr::{ResourceAddr, Target};
use hive_sdk::provider::{ReadRequest, ReadResponse, Target as ProviderTarget};
use hive_sdk::value::tagged;
use hive_state::{State, Status};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub vars: VarOptions,
    /// Ask the providers what exists before diffing (`-refresh=false` turns it off).
    pub refresh: bool,
    pub targets: Vec<Target>,
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
}

/// Loads the configuration: the first step of every command that evaluates it.
pub fn load(dir: &Path) -> Result<(Config, Diagnostics), (Sources, Diagnostics)> {
    load_dir(dir)
}

pub fn make_plan(
    config: Config,
    state: Option<State>,
    lineage: &str,
    registry: &Registry,
    options: &PlanOptions,
    diags: &mut Diagnostics,
) -> Option<Planned> {
    let mut config = config;
    let inputs = gather_inputs(&options.vars, &mut config.sources, diags);
    let recorded_from = state.as_ref().map(|s| (s.lineage.clone(), s.serial));
    let recorded = state.unwrap_or_else(|| State::new(lineage.to_string()));
    let (refreshed, drift, repairs) = if options.refresh {
        refresh(recorded, registry, &config.dir, diags)
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
    };
    let missing = if options.destroy {
        MissingVars::Unknown
    } else {
        MissingVars::Error
    };
    let (evaluated, eval_diags) = evaluate(&config, &inputs, missing, &mut planner);
    diags.extend(eval_diags);
    if !diags.has_errors() && !options.destroy {
        super::checks::check_resources(&config, &evaluated, registry, false, diags);
    }
    let mut changes = std::mem::take(&mut planner.changes);
    if diags.has_errors() {
        return None;
    }
    link_dependencies(&mut changes, &evaluated.resource_deps);
    // What the state has and the configuration no longer does.
    for record in refreshed.resources.values() {
        if changes.contains_key(&record.address) {
            continue;
        }
        let declared = crate::engine::apply::parse_instance(&record.address)
            .is_some_and(|a| config.resources.contains_key(&a.resource));
        changes.insert(
            record.address.clone(),
            Change {
                address: record.address.clone(),
                kind: record.kind.clone(),
                driver: record.driver.clone(),
                action: Action::Delete,
                reasons: vec![if record.address.contains("#deposed") {
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
        for change in changes.values_mut() {
            let exists = refreshed.resources.contains_key(&change.address);
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
    check_prevent_destroy(&config, &changes, diags);
    if diags.has_errors() {
        return None;
    }

    let outputs = evaluated.outputs.clone();
    let plan = Plan {
        format_version: PLAN_FORMAT_VERSION,
        lineage: recorded_from.as_ref().map(|(l, _)| l.clone()),
        serial: recorded_from.map_or(0, |(_, s)| s),
        variables: evaluated.vars.clone(),
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
        targets: options.targets.iter().map(ToString::to_string).collect(),
        replace: options.replace.iter().map(ToString::to_string).collect(),
        refresh: options.refresh,
    };
    Some(Planned {
        config,
        evaluated,
        plan,
        refreshed,
    })
}

/// A resource replaced destroy-first under a dependant replaced create-first would have to be
/// both gone before and present after that dependant's new object: like Terraform, it is
/// replaced create-first too.
fn propagate_create_before_destroy(changes: &mut BTreeMap<String, Change>, state: &State) {
    loop {
        let create_first: Vec<(String, Vec<String>)> = changes
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
    changes: &BTreeMap<String, Change>,
    diags: &mut Diagnostics,
) {
    for change in changes.values().filter(|c| c.action.deletes()) {
        let Some(addr) = crate::engine::apply::parse_instance(&change.address) else {
            continue;
        };
        let Some(resource) = config.resources.get(&addr.resource) else {
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

/// Asks each object's provider what exists now. Objects gone are dropped (and will be created
/// again); objects changed outside hive take their new attributes.
fn refresh(
    state: State,
    registry: &Registry,
    dir: &Path,
    diags: &mut Diagnostics,
) -> (State, HashMap<String, String>, HashSet<String>) {
    let mut drift = HashMap::new();
    let mut repairs = HashSet::new();
    let mut refreshed = state;
    let records: Vec<hive_state::ResourceState> = refreshed
        .resources
        .values()
        .filter(|r| r.status != Status::Creating)
        .filter(|r| {
            registry
                .get(&r.kind, &r.driver)
                .is_some_and(|p| p.refreshes())
        })
        .cloned()
        .collect();
    let lineage = refreshed.lineage.clone();
    for record in &records {
        let Some(provider) = registry.get(&record.kind, &record.driver) else {
            continue;
        };
        let prior = tagged::from_json(&record.attributes);
        let plain = prior.clone().unmark_deep().0;
        let id = record.id.clone().unwrap_or_default();
        let answer = provider.read(&ReadRequest {
            target: ProviderTarget {
                address: &record.address,
                kind: &record.kind,
                lineage: &lineage,
                base_dir: dir,
            },
            id: &id,
            prior: &plain,
        });
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
                refreshed.remove(&record.address);
            }
            Err(e) => diags.push(Diagnostic::error(format!(
                "refreshing {}: {}",
                record.address, e.message
            ))),
        }
    }
    (refreshed, drift, repairs)
}

/// Fills each change's dependencies with the instances of the resources it refers to.
fn link_dependencies(
    changes: &mut BTreeMap<String, Change>,
    resource_deps: &HashMap<ResourceAddr, Vec<ResourceAddr>>,
) {
    let mut instances: HashMap<ResourceAddr, Vec<String>> = HashMap::new();
    for address in changes.keys() {
        if let Some(a) = crate::engine::apply::parse_instance(address) {
            instances
                .entry(a.resource)
                .or_default()
                .push(address.clone());
        }
    }
    for (address, change) in changes.iter_mut() {
        let Some(a) = crate::engine::apply::parse_instance(address) else {
            continue;
        };
        let mut deps: Vec<String> = resource_deps
            .get(&a.resource)
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
    changes: &mut BTreeMap<String, Change>,
    targets: &[Target],
    destroy: bool,
    state: &State,
) {
    let mut keep: HashSet<String> = changes
        .keys()
        .filter(|a| {
            crate::engine::apply::parse_instance(a)
                .is_some_and(|addr| targets.iter().any(|t| t.matches(&addr)))
        })
        .cloned()
        .collect();
    let mut stack: Vec<String> = keep.iter().cloned().collect();
    while let Some(address) = stack.pop() {
        let next: Vec<String> = if destroy {
            state
                .resources
                .values()
                .filter(|r| r.dependencies.contains(&address))
                .map(|r| r.address.clone())
                .collect()
        } else {
            changes
                .get(&address)
                .map(|c| c.dependencies.clone())
                .unwrap_or_default()
        };
        for n in next {
            if keep.insert(n.clone()) {
                stack.push(n);
            }
        }
    }
    for (address, change) in changes.iter_mut() {
        if !keep.contains(address) {
            change.action = Action::NoOp;
            change.reasons.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::registry::Registry;
    use hive_sdk::provider::{
        ApplyRequest, ApplyResponse, DeleteRequest, PlanRequest, PlanResponse, Provider,
        ProviderError, ReadRequest, ReadResponse,
    };
    use hive_sdk::Value;
    use hive_state::ResourceState;
    use std::sync::Arc;

    /// A backend whose objects can vanish or change behind hive's back, or need making anew
    /// although their configuration is the same.
    struct Drifting {
        gone: &'static [&'static str],
        changed: &'static [&'static str],
        stale: &'static [&'static str],
    }

    impl Provider for Drifting {
        fn driver(&self) -> &'static str {
            "local"
        }
        fn kinds(&self) -> &'static [&'static str] {
            &["command"]
        }
        fn create(&self, _: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
            Err(ProviderError::new("not in this test"))
        }
        fn update(&self, _: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
            Err(ProviderError::new("not in this test"))
        }
        fn read(&self, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
            if self.gone.contains(&request.target.address) {
                return Ok(ReadResponse::Gone);
            }
            let mut now = request.prior.clone();
            if self.changed.contains(&request.target.address) {
                if let Value::Map(m) = &mut now {
                    m.insert("input".into(), Value::string("edited by hand"));
                }
            }
            Ok(ReadResponse::Found(now))
        }
        fn delete(&self, _: &DeleteRequest<'_>) -> Result<(), ProviderError> {
            Ok(())
        }
        fn plan(
            &self,
            request: &PlanRequest<'_>,
            mut proposal: PlanResponse,
        ) -> Result<PlanResponse, ProviderError> {
            if request.prior.is_some() && self.stale.contains(&request.target.address) {
                proposal.requires_replace.push("input".into());
                proposal.notes.push("its source changed".into());
            }
            Ok(proposal)
        }
    }

    fn recorded(address: &str) -> ResourceState {
        ResourceState {
            address: address.into(),
            kind: "command".into(),
            driver: "local".into(),
            id: Some(address.into()),
            attributes: serde_json::json!({ "input": "wanted", "id": address }),
            dependencies: vec![],
            status: hive_state::Status::Ready,
        }
    }

    /// A configuration of one file, loaded.
    fn loaded(text: &str) -> (Config, Diagnostics) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("main.hive.hcl"), text).expect("write");
        match load_dir(dir.path()) {
            Ok(loaded) => loaded,
            Err((_, d)) => panic!("{d:?}"),
        }
    }

    #[test]
    fn refresh_finds_objects_deleted_or_changed_outside_hive() {
        let (config, mut diags) = loaded("command \"kept\" {\n  input = \"wanted\"\n}\n\ncommand \"gone\" {\n  input = \"wanted\"\n}\n\ncommand \"edited\" {\n  input = \"wanted\"\n}\n");
        let mut state = State::new("l".into());
        for a in ["command.kept", "command.gone", "command.edited"] {
            state.put(recorded(a));
        }
        let registry = Registry::with(vec![Arc::new(Drifting {
            gone: &["command.gone"],
            changed: &["command.edited"],
            stale: &[],
        })]);
        let options = PlanOptions {
            refresh: true,
            ..PlanOptions::default()
        };
        let planned = make_plan(config, Some(state), "l", &registry, &options, &mut diags)
            .unwrap_or_else(|| panic!("{diags:?}"));
        let change = |a: &str| {
            planned
                .plan
                .changes
                .iter()
                .find(|c| c.address == a)
                .cloned()
                .unwrap_or_else(|| panic!("no change for {a}"))
        };
        assert_eq!(change("command.kept").action, Action::NoOp);
        let gone = change("command.gone");
        assert_eq!(gone.action, Action::Create);
        assert_eq!(gone.reasons, ["drifted: deleted outside hive"]);
        let edited = change("command.edited");
        assert_eq!(edited.action, Action::Update);
        assert_eq!(edited.reasons, ["drifted: changed outside hive"]);
        assert!(!planned.refreshed.resources.contains_key("command.gone"));
    }

    #[test]
    fn a_provider_can_have_an_unchanged_object_made_anew_and_its_dependents_follow() {
        let (config, mut diags) = loaded("command \"stale\" {\n  input = \"wanted\"\n}\n\ncommand \"user\" {\n  input = command.stale.id\n}\n");
        let mut state = State::new("l".into());
        state.put(recorded("command.stale"));
        let mut user = recorded("command.user");
        user.attributes = serde_json::json!({ "input": "command.stale", "id": "command.user" });
        user.dependencies = vec!["command.stale".into()];
        state.put(user);
        let plan_with = |stale: &'static [&'static str], diags: &mut Diagnostics| {
            let registry = Registry::with(vec![Arc::new(Drifting {
                gone: &[],
                changed: &[],
                stale,
            })]);
            make_plan(
                config.clone(),
                Some(state.clone()),
                "l",
                &registry,
                &PlanOptions::default(),
                diags,
            )
            .unwrap_or_else(|| panic!("{diags:?}"))
        };
        let action = |planned: &Planned, a: &str| {
            let change = planned.plan.changes.iter().find(|c| c.address == a);
            change.map(|c| (c.action, c.reasons.clone()))
        };
        let quiet = plan_with(&[], &mut diags);
        assert_eq!(
            action(&quiet, "command.stale").map(|a| a.0),
            Some(Action::NoOp)
        );
        assert_eq!(
            action(&quiet, "command.user").map(|a| a.0),
            Some(Action::NoOp)
        );

        let planned = plan_with(&["command.stale"], &mut diags);
        assert_eq!(
            action(&planned, "command.stale"),
            Some((
                Action::DeleteThenCreate,
                vec!["its source changed".to_string()]
            ))
        );
        // Its id is unknown until it is made again, so what uses it changes too.
        assert_ne!(
            action(&planned, "command.user").map(|a| a.0),
            Some(Action::NoOp)
        );
    }
}
