//! Checks of the configuration that need providers but change nothing: that each object's
//! driver exists and takes what the block sets, each provider's own validation, what it
//! finds on the host (a name already taken), checks across objects (two bridges on one host
//! with overlapping subnets), and that no two objects would get one backend name. `hive
//! validate` and `hive plan` both run them, before anything is made, except what needs a
//! backend: `hive validate` makes no backend call, so it runs where no backend is (a CI
//! job's lint step), and the plan finds those problems. Every problem is shown at the
//! attribute it is about.

use crate::config::{Body, Config, Resource};
use crate::diag::{Diagnostic, Diagnostics};
use crate::engine::registry::Registry;
use crate::lang::walk::Evaluated;
use hive_sdk::addr::InstanceAddr;
use hive_sdk::problem::Problem;
use hive_sdk::provider::{Object, Target};
use hive_sdk::schema::Schema;
use hive_sdk::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A problem a provider found, at its place in the resource's block.
pub fn problem_diagnostic(
    resource: &Resource,
    address: &InstanceAddr,
    problem: &Problem,
) -> Diagnostic {
    let at = resource
        .body
        .place(&problem.path)
        .unwrap_or_else(|| resource.span.clone());
    Diagnostic::error(format!("{address}: {}", problem.message))
        .at(at)
        .help_opt(problem.help.clone())
}

struct Checked<'a> {
    address: InstanceAddr,
    resource: &'a Resource,
    kind: &'a str,
    driver: String,
    config: Cow<'a, Value>,
}

/// Whether the checks may ask the backends (the plan: those of hosts that are UP) or not
/// (`hive validate`).
#[derive(Clone, Copy)]
pub enum Backends<'a> {
    /// Those of hosts that are UP, for the state with this lineage.
    Ask(&'a crate::plan::down_hosts::HostHealth, &'a str),
    Leave,
}

/// `per_instance`: also the checks of each object on its own (a plan that reports them
/// another way passes false).
pub fn check_resources(
    config: &Config,
    evaluated: &Evaluated,
    registry: &Registry,
    per_instance: bool,
    backends: Backends<'_>,
    diags: &mut Diagnostics,
) {
    let mut checked: Vec<Checked<'_>> = Vec::new();
    for (addr, value) in evaluated.instances() {
        let Some(resource) = config.resources.get(&addr.resource) else {
            continue;
        };
        let kind = resource.addr.kind.as_str();
        let driver = registry.driver_of(kind, value);
        // Plans of thousands of instances pass here: copy a value only to unmark secrets.
        let plain = if value.contains_sensitive() {
            Cow::Owned(value.clone().unmark_deep().0)
        } else {
            Cow::Borrowed(value)
        };
        let Some(provider) = registry.get(kind, &driver) else {
            if per_instance {
                diags.push(no_provider(registry, resource, kind, &driver));
            }
            continue;
        };
        if per_instance {
            if let Some(schema) = config.catalog.driver_schema(kind, &driver) {
                unsupported(&resource.body, schema, &plain, &addr, &driver, kind, diags);
            }
            for problem in provider.validate(kind, &plain) {
                diags.push(problem_diagnostic(resource, &addr, &problem));
            }
        }
        let (ask, lineage) = match backends {
            Backends::Ask(health, lineage) => (health.down_reason(&plain).is_none(), lineage),
            Backends::Leave => (false, ""),
        };
        let target = Target {
            address: &addr,
            kind,
            lineage,
            state: "",
            expires: None,
            base_dir: &config.dir,
        };
        if ask {
            for problem in provider.check_environment(&target, &plain) {
                diags.push(problem_diagnostic(resource, &addr, &problem));
            }
        }
        checked.push(Checked {
            address: addr,
            resource,
            kind,
            driver,
            config: plain,
        });
    }
    check_together(&checked, registry, diags);
    check_names(&checked, registry, diags);
}

fn no_provider(registry: &Registry, resource: &Resource, kind: &str, driver: &str) -> Diagnostic {
    let drivers = registry.drivers_for(kind);
    let at = resource
        .body
        .attributes
        .get("driver")
        .map_or_else(|| resource.span.clone(), |a| a.expr.span());
    Diagnostic::error(format!(
        "no provider for {kind} resources with driver \"{driver}\" in this build"
    ))
    .detail(if drivers.is_empty() {
        format!("{kind} resources cannot be created yet")
    } else {
        format!("drivers for {kind}: {}", drivers.join(", "))
    })
    .at(at)
}

/// What the block sets that its driver does not take: refused, not ignored.
fn unsupported(
    body: &Body,
    schema: &Schema,
    value: &Value,
    address: &InstanceAddr,
    driver: &str,
    context: &str,
    diags: &mut Diagnostics,
) {
    for (name, attr) in &body.attributes {
        let set = value.attr(name).is_some_and(|v| !v.is_null());
        if set && schema.attribute(name).is_none() {
            let takes: Vec<&str> = schema
                .attributes
                .iter()
                .filter(|a| a.mode != hive_sdk::schema::Mode::Computed)
                .map(|a| a.name)
                .chain(schema.blocks.iter().map(|b| b.name))
                .collect();
            diags.push(
                Diagnostic::error(format!(
                    "{address}: {name} is not a setting of the {driver} driver's {context}"
                ))
                .detail(format!("it takes: {}", takes.join(", ")))
                .at(attr.name_span.clone()),
            );
        }
    }
    for (i, block) in body.blocks.iter().enumerate() {
        let Some(inner) = schema.block(&block.name) else {
            diags.push(
                Diagnostic::error(format!(
                    "{address}: {} blocks are not taken by the {driver} driver's {context}",
                    block.name
                ))
                .at(block.span.clone()),
            );
            continue;
        };
        let nth = body.blocks[..i]
            .iter()
            .filter(|b| b.name == block.name)
            .count();
        let inner_value = match value.attr(&block.name) {
            Some(Value::List(items)) => items.get(nth).cloned().unwrap_or(Value::Null),
            Some(v) => v.clone(),
            None => Value::Null,
        };
        unsupported(
            &block.body,
            &inner.schema,
            &inner_value,
            address,
            driver,
            &format!("{context} {} block", block.name),
            diags,
        );
    }
}

/// Each provider's checks across the objects of the kinds it serves; a problem two providers
/// find is reported once.
fn check_together(checked: &[Checked<'_>], registry: &Registry, diags: &mut Diagnostics) {
    let mut reported: Vec<(usize, Problem)> = Vec::new();
    for provider in registry.providers() {
        let kinds = registry.kinds_of(provider.driver());
        let mine: Vec<usize> = (0..checked.len())
            .filter(|&i| kinds.contains(&checked[i].kind))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let objects: Vec<Object<'_>> = mine
            .iter()
            .map(|&i| Object {
                address: &checked[i].address,
                kind: checked[i].kind,
                driver: &checked[i].driver,
                config: &checked[i].config,
            })
            .collect();
        for (j, problem) in provider.check_together(&objects) {
            let Some(&i) = mine.get(j) else { continue };
            if !reported.iter().any(|(k, p)| *k == i && *p == problem) {
                reported.push((i, problem));
            }
        }
    }
    for (i, problem) in reported {
        let c = &checked[i];
        diags.push(problem_diagnostic(c.resource, &c.address, &problem));
    }
}

/// The object as its block sets it: what the block leaves to the backend is null, not
/// unknown (at validate time it is unknown, and a name it does not set is made from its
/// address).
fn as_written(resource: &Resource, value: &Value) -> Value {
    let Value::Map(entries) = value else {
        return value.clone();
    };
    let mut out = entries.clone();
    for a in &resource.schema.attributes {
        if !resource.body.attributes.contains_key(a.name)
            && a.mode != hive_sdk::schema::Mode::Computed
        {
            out.insert(a.name.to_string(), Value::Null);
        }
    }
    Value::Map(out)
}

/// Two objects of one kind and driver on one host that would get the same backend name.
fn check_names(checked: &[Checked<'_>], registry: &Registry, diags: &mut Diagnostics) {
    let mut names: BTreeMap<(String, &str, String, String), &InstanceAddr> = BTreeMap::new();
    for c in checked {
        let Some(provider) = registry.get(c.kind, &c.driver) else {
            continue;
        };
        let written = as_written(c.resource, &c.config);
        let Some(name) = provider.backend_name(c.kind, &c.address, &written) else {
            continue;
        };
        let host = hive_sdk::net::host_of(&c.config);
        let key = (c.driver.clone(), c.kind, host, name.clone());
        match names.get(&key) {
            Some(other) => {
                let problem = Problem::at(
                    "name",
                    format!("name \"{name}\" is already {other}'s on the same host"),
                )
                .help("give one of them a name of its own (name = ...)");
                diags.push(problem_diagnostic(c.resource, &c.address, &problem));
            }
            None => {
                names.insert(key, &c.address);
            }
        }
    }
}
