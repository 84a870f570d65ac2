//! `hive import ADDR ID`: adopt an object made outside hive. The address must be declared in
//! the configuration (so hive knows its kind and driver) and not yet in the state.

use super::plan::{make_plan, PlanOptions};
use super::state::{open_state, StateSource};
use super::validate::{validate, VarOptions};
use crate::diag::Diagnostic;
use crate::engine::registry::Registry;
use hive_sdk::addr::{InstanceAddr, Target};
use hive_sdk::value::tagged;
use hive_state::{ResourceState, State, Status};
use std::path::Path;
use std::time::Duration;

/// Imports the object with backend id `id` as `address`; returns the recorded address.
pub fn import(
    dir: &Path,
    registry: &Registry,
    address: &str,
    id: &str,
    vars: &VarOptions,
    source: &StateSource,
    lock_timeout: Duration,
) -> Result<InstanceAddr, Diagnostic> {
    let target: Target = address.parse().map_err(Diagnostic::error)?;
    let validated = validate(dir, registry, vars);
    if validated.diagnostics.has_errors() {
        return Err(Diagnostic::error("the configuration is not valid")
            .help("run hive validate and fix what it reports first"));
    }
    let (Some(config), Some(evaluated)) = (validated.config, validated.evaluated) else {
        return Err(Diagnostic::error("the configuration could not be read"));
    };
    let instance = match target {
        Target::Instance(i) => i,
        Target::Resource(r) => r.instance(hive_sdk::addr::InstanceKey::None),
    };
    if !config.resources.contains_key(&instance.resource) {
        return Err(Diagnostic::error(format!(
            "{} is not declared in the configuration",
            instance.resource
        ))
        .help(format!(
            "declare it first (a {} \"{}\" block), then import into it",
            instance.resource.kind, instance.resource.name
        )));
    }
    let known = evaluated.instances();
    let Some((_, configured)) = known.iter().find(|(a, _)| a == &instance) else {
        return Err(Diagnostic::error(format!(
            "{instance} is not an instance the configuration declares (check its count or for_each key)"
        )));
    };
    let kind = instance.resource.kind.clone();
    let driver = registry.driver_of(&kind, configured);
    let provider = registry.get(&kind, &driver).ok_or_else(|| {
        Diagnostic::error(format!(
            "no provider for {kind} resources with driver \"{driver}\" in this build"
        ))
    })?;
    let mut opened = open_state(
        &validated.settings,
        dir,
        source,
        Some("hive import"),
        lock_timeout,
    )?;
    let mut state = match opened.state.clone() {
        Some(s) => s,
        None => State::new(
            hive_state::new_lineage()
                .map_err(|e| Diagnostic::error(format!("making the state's lineage: {e}")))?,
        ),
    };
    if state.resource(&instance).is_some() {
        return Err(
            Diagnostic::error(format!("{instance} is already in the state"))
                .help("remove it first with hive state rm, or import into another address"),
        );
    }
    let schema = config.resources[&instance.resource].schema.clone();
    let config_value = as_planned(
        &config, &state, registry, vars, &instance, &schema, configured,
    )?;
    let location = opened.backend.location();
    let record = adopt(
        provider.as_ref(),
        &state,
        &location,
        dir,
        &instance,
        (&kind, &driver),
        id,
        &config_value,
    )?;
    state.put(record);
    state.serial += 1;
    opened
        .backend
        .write(&state)
        .map_err(|e| Diagnostic::error(format!("writing the state: {e}")))?;
    Ok(instance)
}

/// The configuration of `address` as a plan sees it, where what it refers to has the values
/// recorded in the state (validation alone knows none of them). Only what the configuration
/// sets is kept; a value still unknown (what it refers to is not made yet) is an error, as
/// recorded without it the object would be replaced by the next apply.
fn as_planned(
    config: &crate::config::Config,
    state: &State,
    registry: &Registry,
    vars: &VarOptions,
    address: &InstanceAddr,
    schema: &hive_sdk::schema::Schema,
    configured: &hive_sdk::Value,
) -> Result<hive_sdk::Value, Diagnostic> {
    let options = PlanOptions {
        vars: vars.clone(),
        refresh: false,
        ..PlanOptions::default()
    };
    let mut diags = crate::diag::Diagnostics::default();
    let mut sources = config.sources.clone();
    let inputs = super::validate::gather_inputs(vars, &mut sources, &mut diags);
    let values = crate::lang::walk::variables(
        config,
        &inputs,
        crate::lang::walk::MissingVars::Error,
        &mut diags,
    );
    let planned = make_plan(
        config.clone(),
        &values,
        Some(state.clone()),
        &state.lineage,
        registry,
        &options,
        1,
        &mut diags,
    )
    .and_then(|p| p.plan.changes.into_iter().find(|c| &c.address == address))
    .and_then(|c| c.after)
    .ok_or_else(|| {
        Diagnostic::error(format!("{address} could not be planned")).help("hive plan shows why")
    })?;
    let mut out = std::collections::BTreeMap::new();
    let mut unknown = Vec::new();
    let computed = |name: &str| {
        schema
            .attribute(name)
            .is_some_and(|a| a.mode == hive_sdk::schema::Mode::Computed)
    };
    for (name, set) in configured.as_map().into_iter().flatten() {
        if set.is_null() || computed(name) {
            continue;
        }
        let value = planned.as_map().and_then(|m| m.get(name)).unwrap_or(set);
        if !value.is_wholly_known() {
            unknown.push(name.as_str());
        }
        out.insert(name.clone(), value.clone());
    }
    if !unknown.is_empty() {
        return Err(Diagnostic::error(format!(
            "{address}: {} known only after apply: what it refers to is not made yet",
            unknown.join(", ")
        ))
        .help("apply that first (hive apply -target ADDRESS), then import"));
    }
    Ok(hive_sdk::Value::Map(out))
}

/// Adopts the object `id` of the backend as `instance` of `state` (kept at `location`),
/// tagging it as the state's: its record, with what the backend cannot tell taken from the
/// configuration as planned (`config_value`), so the next plan compares what can be.
#[allow(clippy::too_many_arguments)]
pub fn adopt(
    provider: &dyn hive_sdk::provider::Provider,
    state: &State,
    location: &str,
    dir: &Path,
    instance: &InstanceAddr,
    (kind, driver): (&str, &str),
    id: &str,
    config_value: &hive_sdk::Value,
) -> Result<ResourceState, Diagnostic> {
    let plain_config = config_value.clone().unmark_deep().0;
    let target = hive_sdk::provider::Target {
        address: instance,
        kind,
        lineage: &state.lineage,
        state: location,
        expires: state.expires,
        base_dir: dir,
    };
    let found = provider
        .import(&target, id, &plain_config)
        .map_err(|e| Diagnostic::error(format!("importing {id} as {instance}: {e}")))?;
    // What the backend cannot tell (the image a VM was made from, its seed) is recorded as
    // configured, so the next plan compares what can be compared instead of replacing it.
    let mut attributes = found.as_map().cloned().unwrap_or_default();
    if let Some(configured) = config_value.as_map() {
        for (name, value) in configured {
            let missing = attributes.get(name).is_none_or(hive_sdk::Value::is_null);
            if missing && value.is_wholly_known() {
                attributes.insert(name.clone(), value.clone());
            }
        }
    }
    let attributes = hive_sdk::Value::Map(attributes);
    // The backend's own id (a domain's UUID when imported by name), as a create records it.
    let backend_id = attributes.attr_str("id").unwrap_or(id).to_string();
    Ok(ResourceState {
        address: instance.clone(),
        deposed: None,
        kind: kind.to_string(),
        driver: driver.to_string(),
        id: Some(backend_id),
        attributes: tagged::to_json(&attributes),
        dependencies: Vec::new(),
        status: Status::Ready,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{registry, Mock};
    use hive_sdk::Value;
    use hive_state::memory::MemoryBackend;
    use hive_state::StateBackend;

    #[test]
    fn import_adopts_a_declared_instance_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("main.hive.hcl"),
            "command \"legacy\" {\n  count = 2\n  input = \"made by hand\"\n}\n\ncommand \"user\" {\n  input = command.legacy[0].id\n}\n",
        )
        .expect("write");
        let mock = Mock::default();
        if let Ok(mut e) = mock.elsewhere.lock() {
            e.insert(
                "vm-42".into(),
                Value::map([
                    ("input", Value::string("made by hand")),
                    ("id", Value::string("vm-42")),
                ]),
            );
        }
        let registry = registry(&mock);
        let vars = VarOptions::default();
        let memory = MemoryBackend::new();
        let source = StateSource::Memory(memory.clone());
        let run = |addr: &str, id: &str| {
            import(
                dir.path(),
                &registry,
                addr,
                id,
                &vars,
                &source,
                Duration::ZERO,
            )
            .map(|a| a.to_string())
        };
        assert_eq!(
            run("command.legacy[1]", "vm-42"),
            Ok("command.legacy[1]".to_string())
        );
        let again = run("command.legacy[1]", "vm-42").unwrap_err();
        assert!(
            again.summary.contains("already in the state"),
            "{}",
            again.summary
        );
        let missing = run("command.legacy[0]", "vm-7").unwrap_err();
        assert!(
            missing.summary.contains("no object vm-7"),
            "{}",
            missing.summary
        );
        let undeclared = run("command.other", "vm-42").unwrap_err();
        assert!(
            undeclared.summary.contains("not declared"),
            "{}",
            undeclared.summary
        );
        // What it refers to is not made: recorded without it, it would be replaced.
        let early = run("command.user", "vm-42").unwrap_err();
        assert!(
            early.summary.contains("input known only after apply"),
            "{}",
            early.summary
        );
        let out_of_range = run("command.legacy[5]", "vm-42").unwrap_err();
        assert!(
            out_of_range.summary.contains("count or for_each"),
            "{}",
            out_of_range.summary
        );
        let state = memory.clone().read().expect("read").state.expect("state");
        let imported: InstanceAddr = "command.legacy[1]".parse().unwrap();
        let r = state.resource(&imported).expect("imported");
        assert_eq!(r.id.as_deref(), Some("vm-42"));
        assert_eq!(state.resources.len(), 1);
    }
}
