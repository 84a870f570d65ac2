//! Evaluating a whole configuration in dependency order: input variables (typed and validated),
//! locals, every resource instance after `count`/`for_each` expansion (checked against its kind's
//! schema), and outputs.
//!
//! What a backend computes is unknown here; the planner later fills in what it knows.

use super::eval::{RepetitionKind, ResourceTable, Scope};
use crate::config::{Config, Expr, Repetition, Resource};
use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::{ConfigGraph, Node};
use crate::lang::refs::Subject;
use hive_sdk::addr::{InstanceAddr, InstanceKey, ResourceAddr};
use hive_sdk::schema::Schema;
use hive_sdk::{Type, Value};
use std::collections::{BTreeMap, HashMap};

pub use super::variables::{variables, Variables};

/// Hard limit on the instances of one resource: protects against `count = 1e12`.
pub const MAX_INSTANCES: usize = 100_000;

/// What a missing variable value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingVars {
    /// `hive validate`: checking needs no values, so a missing one is unknown.
    Unknown,
    /// plan and apply: a variable without a value is an error.
    Error,
}

/// The configuration with every expression evaluated as far as possible.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluated {
    pub vars: BTreeMap<String, Value>,
    pub locals: BTreeMap<String, Value>,
    /// Every resource's value as references see it: an object, a list of objects (count), a
    /// map of objects (for_each), or unknown when its instances are not known yet.
    pub resources: BTreeMap<ResourceAddr, Value>,
    /// Resources whose instances are not known yet (unknown count or for_each).
    pub unexpanded: Vec<ResourceAddr>,
    /// Resources with neither count nor for_each (their value is one object, not a map).
    pub single: std::collections::BTreeSet<ResourceAddr>,
    /// For each resource, the resources it depends on (directly or through locals).
    pub resource_deps: HashMap<ResourceAddr, Vec<ResourceAddr>>,
    pub outputs: BTreeMap<String, Value>,
}

impl Evaluated {
    /// Every known resource instance with its attributes (computed ones unknown).
    pub fn instances(&self) -> Vec<(InstanceAddr, &Value)> {
        let mut out = Vec::new();
        for (addr, value) in &self.resources {
            match value {
                Value::List(items) => out.extend(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (addr.instance(InstanceKey::Index(i)), v)),
                ),
                Value::Map(entries) if !self.single.contains(addr) => out.extend(
                    entries
                        .iter()
                        .map(|(k, v)| (addr.instance(InstanceKey::Key(k.clone())), v)),
                ),
                Value::Unknown => {}
                v => out.push((addr.instance(InstanceKey::None), v)),
            }
        }
        out
    }
}

/// What happens to each resource instance once its configuration is evaluated: validation
/// takes the configuration as the value references see ([`ConfigOnly`]); planning compares it
/// with the state and returns the planned value.
pub trait InstanceHook {
    fn instance(
        &mut self,
        resource: &Resource,
        key: &InstanceKey,
        config: Value,
        diags: &mut Diagnostics,
    ) -> Value;

    /// A resource whose instances cannot be known yet (its count or for_each is unknown).
    fn unexpanded(&mut self, _resource: &Resource, _diags: &mut Diagnostics) {}
}

/// The hook of `hive validate`: an instance is what its configuration says, and what it
/// leaves to the backend (computed attributes, and unset ones the backend chooses or
/// defaults) is unknown, as a plan would have it.
pub struct ConfigOnly;

impl InstanceHook for ConfigOnly {
    fn instance(
        &mut self,
        resource: &Resource,
        _: &InstanceKey,
        config: Value,
        _: &mut Diagnostics,
    ) -> Value {
        unknown_where_unset(&resource.schema, config)
    }
}

/// `value` with every attribute the configuration leaves to the backend unknown: optional
/// ones it computes when unset, and ones with a default, in nested blocks too.
fn unknown_where_unset(schema: &Schema, value: Value) -> Value {
    let Value::Map(mut entries) = value else {
        return value;
    };
    for a in &schema.attributes {
        let configured = entries.get(a.name).cloned().unwrap_or(Value::Null);
        let defaulted = a.default.is_some() && configured.is_null();
        if defaulted || a.left_to_backend(&configured) {
            entries.insert(a.name.to_string(), Value::Unknown);
        }
    }
    for b in &schema.blocks {
        if let Some(v) = entries.get_mut(b.name) {
            *v = match std::mem::take(v) {
                Value::List(items) => Value::List(
                    items
                        .into_iter()
                        .map(|i| unknown_where_unset(&b.schema, i))
                        .collect(),
                ),
                other => unknown_where_unset(&b.schema, other),
            };
        }
    }
    Value::Map(entries)
}

/// What an evaluation covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outputs {
    Evaluate,
    /// Planning a destroy: what outputs say no longer matters, and must not stop it.
    Skip,
}

pub fn evaluate(
    config: &Config,
    vars: &Variables,
    outputs: Outputs,
    hook: &mut dyn InstanceHook,
) -> (Evaluated, Diagnostics) {
    let mut diags = Diagnostics::default();
    let mut out = Evaluated {
        vars: vars.values.clone(),
        // Locals on a dependency cycle are never evaluated: they stay unknown.
        locals: config
            .locals
            .keys()
            .map(|k| (k.clone(), Value::Unknown))
            .collect(),
        ..Evaluated::default()
    };
    let graph = ConfigGraph::build(config);
    out.resource_deps = graph.resource_dependencies();
    diags.extend(graph.cycles());

    for reference in &graph.undeclared {
        let candidates: Vec<&str> = match &reference.subject {
            Subject::Var(_) => config.variables.keys().map(String::as_str).collect(),
            Subject::Local(_) => config.locals.keys().map(String::as_str).collect(),
            Subject::Resource(addr) => config
                .resources
                .keys()
                .filter(|a| a.kind == addr.kind)
                .map(|a| a.name.as_str())
                .collect(),
        };
        diags.push(super::eval::undeclared(
            &reference.subject,
            reference.name_span.clone(),
            candidates.into_iter(),
        ));
    }
    let order = graph.evaluation_order();
    let mut table = resource_table(config, HashMap::with_capacity(config.resources.len()));
    let mut kept = resource_table(config, HashMap::new());
    for node in order {
        match node {
            Node::Var(_) => {}
            Node::Local(name) => {
                let Some(local) = config.locals.get(&name) else {
                    continue;
                };
                let scope = base_scope(config, &out, &table);
                let value = scope.eval(&local.expr).unwrap_or_else(|d| {
                    diags.push(d);
                    Value::Unknown
                });
                out.locals.insert(name, value);
            }
            Node::Resource(addr) => {
                let Some(resource) = config.resources.get(&addr) else {
                    continue;
                };
                let value = resource_value(config, resource, &mut out, &table, hook, &mut diags);
                table.values.insert(addr, value);
            }
            Node::Output(name) => {
                let Some(output) = config.outputs.get(&name) else {
                    continue;
                };
                if outputs == Outputs::Skip {
                    continue;
                }
                // Outputs are recorded: they read resources without their credentials.
                table.add_kept_to(&mut kept);
                let scope = base_scope(config, &out, &kept);
                check_depends_on(config, &output.depends_on, &mut diags);
                let value = match scope.eval(&output.value) {
                    Ok(v) => v,
                    Err(d) => {
                        diags.push(d);
                        Value::Unknown
                    }
                };
                // An ephemeral output is never printed nor kept.
                if value.contains_sensitive() && !output.sensitive && !output.ephemeral {
                    diags.push(
                        Diagnostic::error(format!("output \"{name}\" refers to sensitive values"))
                            .detail("its value would be printed in plain text")
                            .at(output.value.span())
                            .help("add sensitive = true to the output block"),
                    );
                }
                out.outputs.insert(
                    name,
                    value.mark_sensitive_if(output.sensitive || output.ephemeral),
                );
            }
        }
    }
    out.resources = table.values.into_iter().collect();
    diags.dedup();
    diags.redact(&vars.secrets);
    (out, diags)
}

fn repetition_kind(r: &Resource) -> RepetitionKind {
    match r.repetition {
        Repetition::Single | Repetition::Enabled(_) => RepetitionKind::Single,
        Repetition::Count(_) => RepetitionKind::Count,
        Repetition::ForEach(_) => RepetitionKind::ForEach,
    }
}

fn base_scope<'a>(config: &'a Config, out: &'a Evaluated, table: &'a ResourceTable) -> Scope<'a> {
    plain_scope(config, &out.vars, &out.locals, table)
}

/// A scope with no instance context (`count.index`, `each`).
pub(crate) fn plain_scope<'a>(
    config: &'a Config,
    vars: &'a BTreeMap<String, Value>,
    locals: &'a BTreeMap<String, Value>,
    table: &'a ResourceTable,
) -> Scope<'a> {
    Scope::plain(&config.dir, vars, locals, table)
}

/// Expands and evaluates every instance of a resource; returns the value references see.
fn resource_value(
    config: &Config,
    resource: &Resource,
    out: &mut Evaluated,
    table: &ResourceTable,
    hook: &mut dyn InstanceHook,
    diags: &mut Diagnostics,
) -> Value {
    check_depends_on(config, &resource.depends_on, diags);
    let scope = base_scope(config, out, table);
    let keys = match instance_keys(&scope, resource) {
        Ok(keys) => keys,
        Err(d) => {
            diags.push(d);
            None
        }
    };
    // A body with no instances (count = 0, an empty for_each) is still checked once, as
    // Terraform does: a typo must not wait until the resource is switched on.
    if keys.as_ref().is_some_and(Vec::is_empty) {
        probe_body(config, resource, out, table, diags);
    }
    let Some(keys) = keys else {
        // Not known yet: check the body once with unknown count.index / each.
        probe_body(config, resource, out, table, diags);
        out.unexpanded.push(resource.addr.clone());
        hook.unexpanded(resource, diags);
        return Value::Unknown;
    };
    let mut instances = Vec::with_capacity(keys.len());
    let cache = super::eval::InstanceCache::default();
    for (key, each_value) in keys {
        let instance_scope = Scope {
            count_index: match &key {
                InstanceKey::Index(i) => Some(Value::Number(*i as f64)),
                _ => None,
            },
            each: match &key {
                InstanceKey::Key(k) => Some((Value::String(k.clone()), each_value)),
                _ => None,
            },
            instance_cache: Some(&cache),
            ..base_scope(config, out, table)
        };
        let object = eval_body(&instance_scope, resource, diags);
        let address = resource.addr.instance(key.clone());
        let life = &resource.lifecycle;
        super::body::check_conditions(&instance_scope, &life.preconditions, &address, None, diags);
        let object = hook.instance(resource, &key, object, diags);
        super::body::check_conditions(
            &instance_scope,
            &life.postconditions,
            &address,
            Some(&object),
            diags,
        );
        instances.push((key, object));
    }
    match resource.repetition {
        Repetition::Single => {
            out.single.insert(resource.addr.clone());
            instances
                .into_iter()
                .next()
                .map_or(Value::Unknown, |(_, v)| v)
        }
        // Disabled, it is null: `x.y != null ? ... : ...` reads it.
        Repetition::Enabled(_) => {
            out.single.insert(resource.addr.clone());
            instances.into_iter().next().map_or(Value::Null, |(_, v)| v)
        }
        Repetition::Count(_) => Value::List(instances.into_iter().map(|(_, v)| v).collect()),
        Repetition::ForEach(_) => Value::Map(
            instances
                .into_iter()
                .filter_map(|(k, v)| match k {
                    InstanceKey::Key(k) => Some((k, v)),
                    _ => None,
                })
                .collect(),
        ),
    }
}

/// Checks a resource body once with `count.index` / `each` unknown: for resources whose
/// instances are not known yet, or that have none.
fn probe_body(
    config: &Config,
    resource: &Resource,
    out: &Evaluated,
    table: &ResourceTable,
    diags: &mut Diagnostics,
) {
    let probe = Scope {
        count_index: matches!(resource.repetition, Repetition::Count(_)).then_some(Value::Unknown),
        each: matches!(resource.repetition, Repetition::ForEach(_))
            .then_some((Value::Unknown, Value::Unknown)),
        ..base_scope(config, out, table)
    };
    eval_body(&probe, resource, diags);
}

/// The `each.value` of every instance of a `for_each` resource, by key, evaluated with the
/// values known now; `None` while the for_each itself is unknown.
pub fn each_values(
    config: &Config,
    resource: &Resource,
    vars: &BTreeMap<String, Value>,
    locals: &BTreeMap<String, Value>,
    table: &ResourceTable,
) -> Result<Option<HashMap<String, Value>>, Diagnostic> {
    let scope = plain_scope(config, vars, locals, table);
    Ok(instance_keys(&scope, resource)?.map(|keys| {
        keys.into_iter()
            .filter_map(|(k, v)| match k {
                InstanceKey::Key(k) => Some((k, v)),
                _ => None,
            })
            .collect()
    }))
}

/// Evaluates the configuration of one instance again, with the values known now (during
/// apply, after what it refers to was created). `locals` must already reflect those values;
/// `each_value` is the instance's `each.value` (see [`each_values`]).
pub fn eval_instance(
    config: &Config,
    resource: &Resource,
    key: &InstanceKey,
    each_value: Value,
    vars: &BTreeMap<String, Value>,
    locals: &BTreeMap<String, Value>,
    table: &ResourceTable,
) -> (Value, Diagnostics) {
    let mut diags = Diagnostics::default();
    let scope = Scope {
        count_index: match key {
            InstanceKey::Index(i) => Some(Value::Number(*i as f64)),
            _ => None,
        },
        each: match key {
            InstanceKey::Key(k) => Some((Value::String(k.clone()), each_value)),
            _ => None,
        },
        ..plain_scope(config, vars, locals, table)
    };
    let value = eval_body(&scope, resource, &mut diags);
    (value, diags)
}

/// Evaluates one local value with the values known now.
pub fn eval_local(
    config: &Config,
    name: &str,
    vars: &BTreeMap<String, Value>,
    locals: &BTreeMap<String, Value>,
    table: &ResourceTable,
) -> Result<Value, Diagnostic> {
    let Some(local) = config.locals.get(name) else {
        return Ok(Value::Unknown);
    };
    plain_scope(config, vars, locals, table).eval(&local.expr)
}

/// Evaluates one output with the values known now.
pub fn eval_output(
    config: &Config,
    name: &str,
    vars: &BTreeMap<String, Value>,
    locals: &BTreeMap<String, Value>,
    table: &ResourceTable,
) -> Result<Value, Diagnostic> {
    let Some(output) = config.outputs.get(name) else {
        return Ok(Value::Unknown);
    };
    let value = plain_scope(config, vars, locals, table).eval(&output.value)?;
    Ok(value.mark_sensitive_if(output.sensitive))
}

/// The table of declared resources, with the given values.
pub fn resource_table(config: &Config, values: HashMap<ResourceAddr, Value>) -> ResourceTable {
    ResourceTable {
        kinds: config.catalog.clone(),
        declared: config
            .resources
            .iter()
            .map(|(addr, r)| (addr.clone(), repetition_kind(r)))
            .collect(),
        values,
    }
}

/// The instance keys of a resource, with `each.value` for each; `None` if not known yet.
fn instance_keys(
    scope: &Scope<'_>,
    resource: &Resource,
) -> Result<Option<Vec<(InstanceKey, Value)>>, Diagnostic> {
    match &resource.repetition {
        Repetition::Single => Ok(Some(vec![(InstanceKey::None, Value::Null)])),
        Repetition::Enabled(expr) => match Type::Bool.convert(scope.eval(expr)?.unmark().0) {
            Ok(Value::Unknown) => Ok(None),
            Ok(Value::Bool(true)) => Ok(Some(vec![(InstanceKey::None, Value::Null)])),
            Ok(Value::Bool(false)) => Ok(Some(Vec::new())),
            _ => Err(Diagnostic::error("enabled must be true or false").at(expr.span())),
        },
        Repetition::Count(expr) => {
            let value = scope.eval(expr)?;
            if matches!(value, Value::Sensitive(_)) {
                return Err(Diagnostic::error("count cannot be sensitive")
                    .detail("the number of instances is shown in every plan")
                    .at(expr.span()));
            }
            let n = match Type::Number.convert(value) {
                Ok(Value::Unknown) => return Ok(None),
                Ok(Value::Number(n)) => n,
                Ok(Value::Null) => {
                    return Err(Diagnostic::error("count is null")
                        .detail("count must be a whole number, 0 or more")
                        .at(expr.span()))
                }
                Ok(other) => {
                    return Err(Diagnostic::error(format!(
                        "count must be a number, got {}",
                        other.type_name()
                    ))
                    .at(expr.span()))
                }
                Err(e) => {
                    return Err(
                        Diagnostic::error(format!("count must be a number: {}", e.message))
                            .at(expr.span()),
                    )
                }
            };
            if n < 0.0 || n.fract() != 0.0 {
                return Err(Diagnostic::error(format!(
                    "count must be a whole number, 0 or more, got {n}"
                ))
                .at(expr.span()));
            }
            if n > MAX_INSTANCES as f64 {
                return Err(Diagnostic::error(format!(
                    "count is {n}, more than the {MAX_INSTANCES} instances one resource may have"
                ))
                .at(expr.span()));
            }
            Ok(Some(
                (0..n as usize)
                    .map(|i| (InstanceKey::Index(i), Value::Null))
                    .collect(),
            ))
        }
        Repetition::ForEach(expr) => {
            let value = scope.eval(expr)?;
            // Keys name the instances and show in every plan; the values may be secret.
            let sensitive_keys = match &value {
                Value::Sensitive(_) => true,
                Value::Set(items) => items.iter().any(|i| matches!(i, Value::Sensitive(_))),
                _ => false,
            };
            if sensitive_keys {
                return Err(Diagnostic::error("for_each cannot be sensitive")
                    .detail("its keys are part of every instance's address, shown in every plan")
                    .at(expr.span()));
            }
            let for_each_help = "for_each takes a map, or a set of strings: toset([\"a\", \"b\"])";
            match value {
                Value::Unknown => Ok(None),
                Value::Map(entries) => {
                    if entries.len() > MAX_INSTANCES {
                        return Err(
                            Diagnostic::error("for_each has too many elements").at(expr.span())
                        );
                    }
                    Ok(Some(
                        entries
                            .into_iter()
                            .map(|(k, v)| (InstanceKey::Key(k), v))
                            .collect(),
                    ))
                }
                Value::Set(items) => {
                    let mut keys = Vec::with_capacity(items.len());
                    for item in items {
                        match item {
                            Value::String(s) => keys.push((InstanceKey::Key(s.clone()), Value::String(s))),
                            Value::Unknown => return Ok(None),
                            other => {
                                return Err(Diagnostic::error(format!(
                                    "for_each over a set of {}s",
                                    other.type_name()
                                ))
                                .detail("a set given to for_each must hold strings: they become the instance keys")
                                .at(expr.span())
                                .help(for_each_help))
                            }
                        }
                    }
                    Ok(Some(keys))
                }
                Value::List(items) => {
                    let objects = items.iter().any(|i| i.as_map().is_some());
                    let d = Diagnostic::error(if objects {
                        "for_each over a list of objects"
                    } else {
                        "for_each over a list"
                    })
                    .detail("a list has no keys to name the instances by; for_each takes a map or a set of strings")
                    .at(expr.span());
                    Err(if objects {
                        d.help("make a map keyed by a unique attribute: { for o in LIST : o.name => o }")
                    } else {
                        d.help("convert it: toset(LIST)")
                    })
                }
                Value::Null => Err(Diagnostic::error("for_each is null")
                    .at(expr.span())
                    .help(for_each_help)),
                other => Err(
                    Diagnostic::error(format!("for_each over a {}", other.type_name()))
                        .at(expr.span())
                        .help(for_each_help),
                ),
            }
        }
    }
}

/// `depends_on` may name only resources (undeclared ones are reported with the graph's other
/// undeclared references).
fn check_depends_on(config: &Config, depends_on: &[Expr], diags: &mut Diagnostics) {
    for expr in depends_on {
        let refs = crate::lang::refs::references(expr.file, &expr.expr, &config.catalog);
        if !matches!(refs.first().map(|r| &r.subject), Some(Subject::Resource(_))) {
            diags.push(
                Diagnostic::error("depends_on takes only references to resources")
                    .detail(format!(
                        "each element must name a resource of kind {}",
                        config.catalog.names().collect::<Vec<_>>().join(", ")
                    ))
                    .at(expr.span()),
            );
        }
    }
}

/// Evaluates a resource body against its schema into the object references see.
fn eval_body(scope: &Scope<'_>, resource: &Resource, diags: &mut Diagnostics) -> Value {
    let context = resource.addr.to_string();
    let object = super::body::eval_block_body(
        scope,
        &resource.body,
        &resource.schema,
        &context,
        &[],
        diags,
    );
    resource.schema.mark_derived_sensitive(object)
}
