//! The plan: what apply will do, as data. `hive plan -out F` saves it; `render::plan` prints
//! it; the engine executes exactly it.

pub mod down_hosts;
pub mod placement;
pub mod planner;

use hive_sdk::addr::{InstanceAddr, Target};
use hive_sdk::value::tagged;
use hive_sdk::Value;
use hive_state::ObjectAddr;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const PLAN_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    /// Replace: destroy the old object, then create the new one.
    DeleteThenCreate,
    /// Replace with `create_before_destroy`: create the new one, then destroy the old.
    CreateThenDelete,
    Delete,
}

impl Action {
    pub fn deletes(self) -> bool {
        matches!(
            self,
            Action::Delete | Action::DeleteThenCreate | Action::CreateThenDelete
        )
    }

    pub fn creates(self) -> bool {
        matches!(
            self,
            Action::Create | Action::DeleteThenCreate | Action::CreateThenDelete
        )
    }

    /// The symbol plans show: `+`, `~`, `-/+`, `+/-`, `-`.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::DeleteThenCreate => "-/+",
            Action::CreateThenDelete => "+/-",
            Action::Delete => "-",
        }
    }
}

/// What happens to one resource instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub address: InstanceAddr,
    /// Set when the change is about an old object a create-before-destroy replacement left
    /// (its id tells it apart): it is destroyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deposed: Option<String>,
    pub kind: String,
    pub driver: String,
    pub action: Action,
    /// Why, in words: `tainted`, `requested with -replace`, `no longer in configuration`...
    pub reasons: Vec<String>,
    /// The recorded attributes (refreshed), if the object exists.
    #[serde(with = "optional_value")]
    pub before: Option<Value>,
    /// The planned attributes (unknown where the backend decides), unless it is deleted.
    #[serde(with = "optional_value")]
    pub after: Option<Value>,
    /// Attributes whose change forces the replacement.
    pub replace_because: Vec<String>,
    /// Instances this one refers to (they are created first, destroyed after).
    pub dependencies: Vec<InstanceAddr>,
    /// The backend's id of the existing object.
    pub id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    /// The state the plan was made against: a saved plan is refused if it changed since.
    pub lineage: Option<String>,
    /// The lineage a state made by applying this plan gets (none was there): `hive.id` in
    /// the planned names comes from it, so applying the saved plan keeps them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_lineage: Option<String>,
    pub serial: u64,
    /// The input variable values, so applying a saved plan uses the same ones.
    #[serde(with = "value_map")]
    pub variables: BTreeMap<String, Value>,
    pub destroy: bool,
    pub changes: Vec<Change>,
    #[serde(with = "value_map")]
    pub outputs: BTreeMap<String, Value>,
    /// The outputs the state records, to show only what changes.
    #[serde(with = "value_map", default)]
    pub prior_outputs: BTreeMap<String, Value>,
    /// How it was made (`-target`, `-replace`, `-refresh`): a saved plan is checked by
    /// planning again the same way.
    #[serde(default)]
    pub targets: Vec<Target>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<Target>,
    #[serde(default)]
    pub replace: Vec<Target>,
    #[serde(default = "yes")]
    pub refresh: bool,
    /// What was left out because its host was DOWN (or it depends on such a thing): the
    /// command that runs the plan fails, naming them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// Recorded objects a `moved` block gives another address: (from, to).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<(InstanceAddr, InstanceAddr)>,
    /// Recorded objects a `removed { lifecycle { destroy = false } }` block forgets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forgotten: Vec<InstanceAddr>,
    /// Objects `import` blocks adopt: (address, the backend's id).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<(InstanceAddr, String)>,
}

/// A change left out of the plan, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub address: InstanceAddr,
    /// What it would have been.
    pub action: Action,
    pub reason: String,
}

impl Plan {
    /// The plan as a file keeps it: without the values of sensitive variables (they are
    /// given again when it is applied, as the configuration's other inputs are) and without
    /// attributes that are never recorded (credentials).
    pub fn as_saved(&self, catalog: &crate::config::Catalog) -> Plan {
        let mut plan = self.clone();
        plan.variables.retain(|_, v| !v.contains_sensitive());
        let schema_of = |kind: &str| catalog.kind(kind).map(|k| k.schema.clone());
        for change in &mut plan.changes {
            if let Some(info) = catalog.kind(&change.kind) {
                for value in [&mut change.before, &mut change.after]
                    .into_iter()
                    .flatten()
                {
                    *value = info
                        .schema
                        .without_unrecorded(std::mem::take(value), &schema_of);
                }
            }
        }
        plan
    }
}

fn yes() -> bool {
    true
}

impl Change {
    /// The recorded object the change is about.
    pub fn object(&self) -> ObjectAddr {
        ObjectAddr {
            instance: self.address.clone(),
            deposed: self.deposed.clone(),
        }
    }
}

impl Plan {
    /// (to add, to change, to destroy), counting a replacement as one add and one destroy.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for c in &self.changes {
            if c.action.creates() {
                counts.0 += 1;
            }
            if c.action == Action::Update {
                counts.1 += 1;
            }
            if c.action.deletes() {
                counts.2 += 1;
            }
        }
        counts
    }

    /// Resource changes, or outputs that will read differently.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::NoOp)
            || self.outputs_change()
            || !self.moved.is_empty()
            || !self.forgotten.is_empty()
            || !self.imports.is_empty()
    }

    pub fn outputs_change(&self) -> bool {
        if self.destroy {
            return !self.prior_outputs.is_empty();
        }
        let known = |v: &Value| v.is_wholly_known();
        self.outputs
            .iter()
            .any(|(k, v)| match self.prior_outputs.get(k) {
                Some(p) => known(v) && !crate::lang::eval::values_equal(p, v),
                None => known(v),
            })
            || self
                .prior_outputs
                .keys()
                .any(|k| !self.outputs.contains_key(k))
    }
}

mod optional_value {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Value>, s: S) -> Result<S::Ok, S::Error> {
        v.as_ref().map(tagged::to_json).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
        Ok(Option::<serde_json::Value>::deserialize(d)?.map(|j| tagged::from_json(&j)))
    }
}

mod value_map {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(m: &BTreeMap<String, Value>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(k, v)| (k, tagged::to_json(v))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Value>, D::Error> {
        let raw = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        Ok(raw
            .into_iter()
            .map(|(k, v)| (k, tagged::from_json(&v)))
            .collect())
    }
}
