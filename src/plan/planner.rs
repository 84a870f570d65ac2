//! Deciding what to do with each resource instance: the hook the evaluation walk calls once
//! an instance's configuration is evaluated. It compares the configuration with the
//! (refreshed) state, decides the action and its reasons, asks the provider to refine the
//! proposal, and returns the planned value that references to the instance see.

use super::{Action, Change};
use crate::config::{IgnoreChanges, Resource};
use crate::diag::{Diagnostic, Diagnostics};
use crate::engine::registry::Registry;
use crate::lang::eval::values_equal;
use crate::lang::walk::InstanceHook;
use hive_sdk::addr::{InstanceAddr, InstanceKey, Target};
use hive_sdk::provider::{PlanRequest, PlanResponse, Target as ProviderTarget};
use hive_sdk::schema::Mode;
use hive_sdk::value::tagged;
use hive_sdk::Value;
use hive_state::{State, Status};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub struct Planner<'a> {
    pub registry: &'a Registry,
    /// The state after refresh.
    pub state: &'a State,
    /// Objects refresh found changed or gone, with what was seen.
    pub drift: &'a HashMap<InstanceAddr, String>,
    /// Objects refresh found broken in ways their attributes do not show: an update repairs
    /// them even when no attribute changes.
    pub repairs: &'a std::collections::HashSet<InstanceAddr>,
    /// `-replace` targets.
    pub replace: &'a [Target],
    pub lineage: &'a str,
    pub base_dir: &'a Path,
    /// Every planned instance, by address.
    pub changes: BTreeMap<InstanceAddr, Change>,
    /// Planning a destroy: instances that cannot be known yet need not be.
    pub destroying: bool,
    /// Hosts checked so far (placement gives no new instance to a DOWN one).
    pub health: &'a super::down_hosts::HostHealth,
    pub placement: super::placement::Placement,
}

impl Planner<'_> {
    /// The first of the resource's `replace_triggered_by` references whose object this plan
    /// changes (they are planned first: the graph orders the resource after them).
    fn triggered(&self, resource: &Resource) -> Option<String> {
        resource
            .lifecycle
            .replace_triggered_by
            .iter()
            .filter_map(|e| trigger_target(&e.expr.to_string()))
            .find(|target| {
                self.changes
                    .iter()
                    .any(|(a, c)| target.matches(a) && c.action != Action::NoOp)
            })
            .map(|t| t.to_string())
    }
}

/// The resource or instance a trigger names: `command.build`, `command.build[0]`, or an
/// attribute of either (`command.build.id` changes when its object does).
fn trigger_target(text: &str) -> Option<hive_sdk::addr::Target> {
    let mut text = text.trim();
    loop {
        if let Ok(t) = text.parse::<hive_sdk::addr::Target>() {
            return Some(t);
        }
        let (head, _) = text.rsplit_once('.')?;
        text = head;
    }
}

impl InstanceHook for Planner<'_> {
    fn instance(
        &mut self,
        resource: &Resource,
        key: &InstanceKey,
        config: Value,
        diags: &mut Diagnostics,
    ) -> Value {
        let address = resource.addr.instance(key.clone());
        let mut config = config;
        // An instance's `hosts` are where it may be placed (its kind takes a `placement`);
        // a bridge's are where it spans.
        if !self.destroying && resource.schema.attribute("placement").is_some() {
            if let Err(e) = self
                .placement
                .place(self.state, self.health, &address, &mut config)
            {
                let at = resource
                    .body
                    .attributes
                    .get("hosts")
                    .map_or_else(|| resource.span.clone(), |a| a.expr.span());
                diags.push(Diagnostic::error(format!("{address}: {e}")).at(at));
            }
        }
        let kind = resource.addr.kind.as_str();
        let driver = self.registry.driver_of(kind, &config);
        // Without a provider there is nothing to plan: the checks say so.
        let Some(provider) = self.registry.get(kind, &driver) else {
            return config;
        };
        let record = self.state.resource(&address);
        let prior = record
            .filter(|r| r.status != Status::Creating)
            .map(|r| tagged::from_json(&r.attributes));
        let mut reasons = Vec::new();
        let mut replace_because = Vec::new();
        if record.is_some_and(|r| r.status == Status::Creating) {
            reasons.push("its creation was interrupted".to_string());
        }
        if let Some(seen) = self.drift.get(&address) {
            reasons.push(seen.clone());
        }
        let action = match &prior {
            None => Action::Create,
            Some(prior) => {
                let changed = changed_attributes(resource, &config, prior);
                replace_because = changed
                    .iter()
                    .filter(|name| forces_replacement(resource, name))
                    .cloned()
                    .collect();
                let mut replace = !replace_because.is_empty();
                match replace_because.as_slice() {
                    [] => {}
                    [one] => reasons.push(format!("{one} forces replacement")),
                    [init @ .., last] => {
                        reasons.push(format!("{} and {last} force replacement", init.join(", ")))
                    }
                }
                if record.is_some_and(|r| r.status == Status::Tainted) {
                    reasons.push("tainted: a step on it failed".to_string());
                    replace = true;
                }
                if self.replace.iter().any(|t| t.matches(&address)) {
                    reasons.push("requested with -replace".to_string());
                    replace = true;
                }
                if let Some(trigger) = self.triggered(resource) {
                    reasons.push(format!("replace_triggered_by {trigger}, which changes"));
                    replace = true;
                }
                if replace {
                    replacement(resource)
                } else if !changed.is_empty() || self.repairs.contains(&address) {
                    Action::Update
                } else {
                    Action::NoOp
                }
            }
        };

        let planned = planned_value(resource, &config, prior.as_ref(), action);
        let target = ProviderTarget {
            address: &address,
            kind,
            lineage: self.lineage,
            state: "",
            expires: None,
            base_dir: self.base_dir,
        };
        let proposal = PlanResponse {
            planned,
            requires_replace: replace_because.clone(),
            notes: Vec::new(),
        };
        let refined = provider.plan(
            &PlanRequest {
                target,
                config: &config,
                prior: prior.as_ref(),
            },
            proposal,
        );
        let mut response = match refined {
            Ok(r) => r,
            Err(e) => {
                diags.push(
                    Diagnostic::error(format!("planning {address}: {}", e.message))
                        .at(resource.span.clone()),
                );
                PlanResponse {
                    planned: config.clone(),
                    requires_replace: replace_because.clone(),
                    notes: Vec::new(),
                }
            }
        };
        // The provider may know that a change the schema allows in place cannot be made so
        // (shrinking a volume), or that the object must be made anew although its
        // configuration is the same (an image file rebuilt in place). The new object's
        // computed attributes are then unknown, so what depends on them is planned too.
        let mut action = action;
        let added: Vec<&String> = response
            .requires_replace
            .iter()
            .filter(|a| !replace_because.contains(a))
            .collect();
        if matches!(action, Action::Update | Action::NoOp) && !added.is_empty() {
            if action == Action::Update {
                for a in &added {
                    reasons.push(format!("{a} cannot change in place"));
                }
            }
            action = replacement(resource);
            response.planned = planned_value(resource, &config, prior.as_ref(), action);
        }
        reasons.extend(response.notes.iter().cloned());
        let planned = response.planned.clone();
        self.changes.insert(
            address.clone(),
            Change {
                address,
                deposed: None,
                kind: kind.to_string(),
                driver,
                action,
                reasons,
                before: prior,
                after: Some(response.planned),
                replace_because: response.requires_replace,
                dependencies: Vec::new(),
                id: record.and_then(|r| r.id.clone()),
            },
        );
        planned
    }

    fn unexpanded(&mut self, resource: &Resource, diags: &mut Diagnostics) {
        if self.destroying {
            return;
        }
        let what = match resource.repetition {
            crate::config::Repetition::Count(_) => "count",
            crate::config::Repetition::Enabled(_) => "enabled",
            _ => "for_each",
        };
        diags.push(
            Diagnostic::error(format!(
                "the {what} of {} depends on values known only after apply",
                resource.addr
            ))
            .detail("hive must know how many instances there are to plan them")
            .at(resource.span.clone())
            .help("apply what it depends on first, with -target, or make the value known"),
        );
    }
}

/// How the resource is replaced: the new object first when its lifecycle says so.
fn replacement(resource: &Resource) -> Action {
    if resource.lifecycle.create_before_destroy {
        Action::CreateThenDelete
    } else {
        Action::DeleteThenCreate
    }
}

fn ignored(resource: &Resource, name: &str) -> bool {
    match &resource.lifecycle.ignore_changes {
        IgnoreChanges::None => false,
        IgnoreChanges::All => true,
        IgnoreChanges::Attributes(names) => names.iter().any(|n| n == name),
    }
}

/// Attributes and blocks the configuration sets differently from what is recorded (an unknown
/// configured value counts as different: it cannot be shown to be the same).
fn changed_attributes(resource: &Resource, config: &Value, prior: &Value) -> Vec<String> {
    let schema = &resource.schema;
    let names = schema
        .attributes
        .iter()
        // Nothing is recorded of an unrecorded attribute to compare with.
        .filter(|a| a.mode != Mode::Computed && !a.unrecorded)
        .map(|a| a.name)
        .chain(schema.blocks.iter().map(|b| b.name));
    let config = &schema.identities(config);
    let prior = &schema.identities(prior);
    let mut changed = Vec::new();
    for name in names {
        if ignored(resource, name) {
            continue;
        }
        let c = field_ref(config, name);
        let p = field_ref(prior, name);
        if schema.attribute(name).is_some_and(|a| a.left_to_backend(c)) {
            continue;
        }
        if !c.is_wholly_known() || !values_equal(c, p) {
            changed.push(name.to_string());
        }
    }
    changed
}

fn forces_replacement(resource: &Resource, name: &str) -> bool {
    let schema = &resource.schema;
    schema.attribute(name).is_some_and(|a| a.forces_replacement)
        || schema.block(name).is_some_and(|b| b.forces_replacement)
}

fn field_ref<'v>(value: &'v Value, name: &str) -> &'v Value {
    const NULL: Value = Value::Null;
    value.as_map().and_then(|m| m.get(name)).unwrap_or(&NULL)
}

fn field(value: &Value, name: &str) -> Value {
    value
        .as_map()
        .and_then(|m| m.get(name))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The attributes the object will have: configured ones as configured (recorded ones where
/// changes are ignored), computed ones as recorded if the object is kept, unknown if it is
/// created anew.
fn planned_value(
    resource: &Resource,
    config: &Value,
    prior: Option<&Value>,
    action: Action,
) -> Value {
    let keeps_object = matches!(action, Action::NoOp | Action::Update);
    let mut out = config.as_map().cloned().unwrap_or_default();
    for a in &resource.schema.attributes {
        let computed = a.mode == Mode::Computed || a.left_to_backend(&field(config, a.name));
        let value = match prior {
            Some(p) if keeps_object && (computed || ignored(resource, a.name)) => field(p, a.name),
            _ if computed => Value::Unknown,
            _ => continue,
        };
        let sensitive = a.sensitive && !value.is_null();
        out.insert(a.name.to_string(), value.mark_sensitive_if(sensitive));
    }
    if keeps_object {
        if let Some(p) = prior {
            for b in &resource.schema.blocks {
                if ignored(resource, b.name) {
                    out.insert(b.name.to_string(), field(p, b.name));
                }
            }
        }
    }
    resource.schema.mark_derived_sensitive(Value::Map(out))
}
