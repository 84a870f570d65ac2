//! Evaluating a step's configuration just before it runs, with the values what it depends on
//! produced; and the outputs, once every step is done.

use crate::config::{Catalog, Config, IgnoreChanges, Resource};
use crate::graph::{ConfigGraph, Node};
use crate::lang::eval::ResourceTable;
use crate::lang::walk::{
    each_values, eval_instance, eval_local, eval_output, resource_table, Evaluated,
};
use crate::plan::{Action, Change};
use hive_sdk::addr::{InstanceAddr, InstanceKey, ResourceAddr};
use hive_sdk::schema::{Mode, Schema};
use hive_sdk::Value;
use std::collections::{BTreeMap, HashMap};

pub struct StepEvaluator<'a> {
    config: &'a Config,
    evaluated: &'a Evaluated,
    /// Every declared resource and its value as far as known now.
    table: ResourceTable,
    locals: BTreeMap<String, Value>,
    graph: ConfigGraph,
    /// The graph's evaluation order, computed once.
    order: Vec<Node>,
    local_deps: HashMap<ResourceAddr, Vec<String>>,
    /// `each.value` of every for_each instance, by resource, once evaluated.
    each_values: HashMap<ResourceAddr, HashMap<String, Value>>,
}

impl<'a> StepEvaluator<'a> {
    pub fn new(config: &'a Config, evaluated: &'a Evaluated) -> StepEvaluator<'a> {
        let values = evaluated
            .resources
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let graph = ConfigGraph::build(config);
        let order = graph.evaluation_order();
        StepEvaluator {
            config,
            evaluated,
            table: resource_table(config, values),
            locals: evaluated.locals.clone(),
            graph,
            order,
            local_deps: HashMap::new(),
            each_values: HashMap::new(),
        }
    }

    /// The configuration of a change's instance, evaluated now: what the provider is given.
    pub fn config_of(&mut self, change: &Change) -> Result<Value, String> {
        let config = self.config;
        let evaluated = self.evaluated;
        let addr = &change.address;
        let resource = config
            .resources
            .get(&addr.resource)
            .ok_or_else(|| format!("{} is not in the configuration", addr.resource))?;
        let local_names = self
            .local_deps
            .entry(addr.resource.clone())
            .or_insert_with(|| self.graph.local_dependencies(&addr.resource, &self.order))
            .clone();
        for name in local_names {
            if let Ok(v) = eval_local(config, &name, &evaluated.vars, &self.locals, &self.table) {
                self.locals.insert(name, v);
            }
        }
        let each_value = match &addr.key {
            InstanceKey::Key(k) => self.each_value(resource, k)?,
            _ => Value::Null,
        };
        let (value, diags) = eval_instance(
            config,
            resource,
            &addr.key,
            each_value,
            &evaluated.vars,
            &self.locals,
            &self.table,
        );
        let value = keep_ignored(resource, change, configured_part(&resource.schema, value));
        let value = keep_recorded_choices(&resource.schema, change, value);
        let value = keep_placed_host(change, value);
        if let Some(d) = diags.items.into_iter().find(|d| d.is_error()) {
            return Err(format!("evaluating its configuration: {}", d.summary));
        }
        if let Some(path) = value.first_unknown() {
            return Err(format!(
                "its configuration still holds values that are only known after apply ({path})"
            ));
        }
        Ok(value)
    }

    /// `each.value` of a for_each instance. The for_each is evaluated once per resource: all
    /// its instances start only after everything it refers to exists, so the first
    /// evaluation is final, and a resource with many keys is not evaluated once per key.
    fn each_value(&mut self, resource: &Resource, key: &str) -> Result<Value, String> {
        if !self.each_values.contains_key(&resource.addr) {
            let values = each_values(
                self.config,
                resource,
                &self.evaluated.vars,
                &self.locals,
                &self.table,
            )
            .map_err(|d| format!("evaluating its for_each: {}", d.summary))?
            .unwrap_or_default();
            self.each_values.insert(resource.addr.clone(), values);
        }
        Ok(self
            .each_values
            .get(&resource.addr)
            .and_then(|values| values.get(key))
            .cloned()
            .unwrap_or(Value::Unknown))
    }

    /// `prior` with the credentials of what it refers to lent from the configuration.
    pub fn with_lent_credentials(&self, catalog: &Catalog, kind: &str, prior: Value) -> Value {
        lend_credentials(catalog, kind, prior, self.table.values.iter())
    }

    /// What a finished step made, for the steps that refer to it.
    pub fn set(&mut self, addr: &InstanceAddr, value: Value) {
        let Some(slot) = self.table.values.get_mut(&addr.resource) else {
            return;
        };
        match (slot, &addr.key) {
            (Value::List(items), InstanceKey::Index(i)) => {
                if let Some(item) = items.get_mut(*i) {
                    *item = value;
                }
            }
            (Value::Map(entries), InstanceKey::Key(k)) => {
                entries.insert(k.clone(), value);
            }
            (slot, InstanceKey::None) => *slot = value,
            _ => {}
        }
    }

    /// The `check` blocks' failed assertions, on the final values.
    pub fn checks(&self) -> Vec<crate::diag::Diagnostic> {
        crate::lang::checks::judge(self.config, &self.evaluated.vars, &self.locals, &self.table)
    }

    /// Every output, evaluated with the final values (unknown where what it reads was not
    /// made).
    pub fn outputs(&mut self) -> BTreeMap<String, Value> {
        let config = self.config;
        let vars = &self.evaluated.vars;
        for node in &self.order {
            if let Node::Local(name) = node {
                if let Ok(v) = eval_local(config, name, vars, &self.locals, &self.table) {
                    self.locals.insert(name.clone(), v);
                }
            }
        }
        // Outputs are recorded: they read resources without their credentials.
        let kept = self.table.kept();
        config
            .outputs
            .iter()
            .filter(|(_, o)| !o.ephemeral)
            .map(|(name, _)| {
                let value =
                    eval_output(config, name, vars, &self.locals, &kept).unwrap_or(Value::Unknown);
                (name.clone(), value)
            })
            .collect()
    }
}

/// A record with the credentials of what it refers to (a store's keys) lent from what the
/// configuration now gives those objects (`values`, by resource): they were never recorded,
/// and a delete or a snapshot may need them.
pub fn lend_credentials<'v>(
    catalog: &Catalog,
    kind: &str,
    prior: Value,
    values: impl Iterator<Item = (&'v ResourceAddr, &'v Value)> + Clone,
) -> Value {
    let Some(info) = catalog.kind(kind) else {
        return prior;
    };
    info.schema.with_lent(
        prior,
        &|kind| catalog.kind(kind).map(|k| k.schema.clone()),
        &|kind, recorded| current_of(values.clone(), kind, recorded),
    )
}

/// What `values` say of the object of `kind` recorded as `recorded` (the one with its id),
/// unmarked.
fn current_of<'v>(
    values: impl Iterator<Item = (&'v ResourceAddr, &'v Value)>,
    kind: &str,
    recorded: &Value,
) -> Option<Value> {
    let id = recorded.attr("id").map(Value::unmarked)?.as_str()?;
    let has_id = |v: &&Value| {
        v.unmarked()
            .attr("id")
            .map(Value::unmarked)
            .and_then(Value::as_str)
            == Some(id)
    };
    values
        .filter(|(addr, _)| addr.kind == kind)
        .flat_map(|(_, value)| match value.unmarked() {
            Value::List(items) => items.iter().collect::<Vec<_>>(),
            Value::Map(entries) if entries.contains_key("id") => vec![value],
            Value::Map(entries) => entries.values().collect(),
            _ => Vec::new(),
        })
        .find(has_id)
        .map(|v| v.clone().unmark_deep().0)
}

/// Attributes under `lifecycle { ignore_changes }` keep what the plan kept (the recorded
/// value) when the object is updated in place: the configuration's new value is ignored.
fn keep_ignored(resource: &Resource, change: &Change, value: Value) -> Value {
    if change.action != Action::Update {
        return value;
    }
    let Some(planned) = change.after.as_ref().and_then(Value::as_map) else {
        return value;
    };
    let Value::Map(mut entries) = value else {
        return value;
    };
    let ignored: Vec<String> = match &resource.lifecycle.ignore_changes {
        IgnoreChanges::None => Vec::new(),
        IgnoreChanges::All => entries.keys().cloned().collect(),
        IgnoreChanges::Attributes(names) => names.clone(),
    };
    for name in ignored {
        if let Some(kept) = planned.get(&name) {
            entries.insert(name, kept.clone());
        }
    }
    Value::Map(entries)
}

/// The host the plan placed an instance on (`hosts`): evaluating the block again does not
/// place it, the plan did.
fn keep_placed_host(change: &Change, value: Value) -> Value {
    let placed = value.attr("hosts").is_some_and(|h| !h.is_null());
    let Some(host) = change.after.as_ref().and_then(|a| a.attr("host")) else {
        return value;
    };
    match value {
        Value::Map(mut entries) if placed => {
            entries.insert("host".to_string(), host.clone());
            Value::Map(entries)
        }
        other => other,
    }
}

/// What the backend chose for an object updated in place (a name made from its address)
/// stays: it is never chosen again, so no later change of how names are made renames it.
fn keep_recorded_choices(schema: &Schema, change: &Change, value: Value) -> Value {
    let (Action::Update, Some(prior), Value::Map(mut entries)) =
        (change.action, change.before.as_ref(), value.clone())
    else {
        return value;
    };
    for a in &schema.attributes {
        let configured = entries.get(a.name).cloned().unwrap_or(Value::Null);
        if a.left_to_backend(&configured) {
            if let Some(recorded) = prior.attr(a.name).filter(|v| !v.is_null()) {
                entries.insert(a.name.to_string(), recorded.clone().unmark_deep().0);
            }
        }
    }
    Value::Map(entries)
}

/// The attributes the configuration sets: computed ones (unknown until the backend answers)
/// are the provider's to fill, not its input.
fn configured_part(schema: &Schema, value: Value) -> Value {
    let Value::Map(mut entries) = value else {
        return value;
    };
    for a in &schema.attributes {
        let drop = match a.mode {
            Mode::Computed => true,
            Mode::OptionalComputed => entries.get(a.name).is_some_and(Value::is_unknown),
            _ => false,
        };
        if drop {
            entries.remove(a.name);
        }
    }
    Value::Map(entries)
}
