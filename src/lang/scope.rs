//! What an expression may refer to: the scope (variables, locals, resources, `count` and
//! `each`), the table of resources' values, and the error for a reference to something not
//! declared.

use super::refs::Subject;
use crate::diag::{did_you_mean, Diagnostic};
use hive_sdk::addr::ResourceAddr;
use hive_sdk::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// How a resource is repeated, which decides how references index it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepetitionKind {
    Single,
    Count,
    ForEach,
}

/// The values of declared resources, as far as they are known.
pub struct ResourceTable {
    /// The kinds there are: a reference starts with one.
    pub kinds: std::sync::Arc<crate::config::Catalog>,
    pub declared: HashMap<ResourceAddr, RepetitionKind>,
    /// Value of each resource: an object (single), a list of objects (count), a map of objects
    /// (for_each), or unknown. A declared resource without a value yet is unknown.
    pub values: HashMap<ResourceAddr, Value>,
}

impl ResourceTable {
    /// Adds to `kept` the values this table has and `kept` lacks, without their unrecorded
    /// attributes (credentials) nor those of what they refer to: what outputs read, since
    /// outputs are recorded in the state and in plan files.
    pub fn add_kept_to(&self, kept: &mut ResourceTable) {
        for (addr, value) in &self.values {
            if !kept.values.contains_key(addr) {
                kept.values
                    .insert(addr.clone(), self.kept_value(addr, value));
            }
        }
    }

    /// A table of what outputs may read: every value without its unrecorded attributes.
    pub fn kept(&self) -> ResourceTable {
        let mut kept = ResourceTable {
            kinds: self.kinds.clone(),
            declared: self.declared.clone(),
            values: HashMap::new(),
        };
        self.add_kept_to(&mut kept);
        kept
    }

    fn kept_value(&self, addr: &ResourceAddr, value: &Value) -> Value {
        let kinds = &self.kinds;
        let Some(info) = kinds.kind(&addr.kind) else {
            return value.clone();
        };
        let schema_of = |kind: &str| kinds.kind(kind).map(|k| k.schema.clone());
        let strip = |v: &Value| info.schema.without_unrecorded(v.clone(), &schema_of);
        match (self.declared.get(addr), value) {
            (Some(RepetitionKind::Count), Value::List(items)) => {
                Value::List(items.iter().map(strip).collect())
            }
            (Some(RepetitionKind::ForEach), Value::Map(entries)) => {
                Value::Map(entries.iter().map(|(k, v)| (k.clone(), strip(v))).collect())
            }
            _ => strip(value),
        }
    }

    /// A table with no resources (for what may not refer to any).
    pub fn empty(kinds: std::sync::Arc<crate::config::Catalog>) -> ResourceTable {
        ResourceTable {
            kinds,
            declared: HashMap::new(),
            values: HashMap::new(),
        }
    }
}

/// Where `hive.id` is kept among the variables' values: no variable can have this name, and
/// every evaluation that sees the variables sees it.
pub const HIVE_ID: &str = "hive.id";

/// Everything an expression may refer to.
pub struct Scope<'a> {
    pub dir: &'a Path,
    pub vars: &'a BTreeMap<String, Value>,
    pub locals: &'a BTreeMap<String, Value>,
    pub resources: &'a ResourceTable,
    /// `count.index`: a number, or unknown while the count is not known.
    pub count_index: Option<Value>,
    pub each: Option<(Value, Value)>,
    /// Shared by the instances of one resource: results of function calls and `for`
    /// expressions that do not depend on the instance, so `length(instance.other)` in each of
    /// 10,000 instances is computed once, not 10,000 times.
    pub instance_cache: Option<&'a InstanceCache>,
}

/// Per-expression results, keyed by the expression's address in the configuration; `None`
/// marks an expression that depends on the instance.
pub type InstanceCache = std::cell::RefCell<HashMap<usize, Option<Value>>>;

impl<'a> Scope<'a> {
    /// A scope with no instance context (`count.index`, `each`).
    pub fn plain(
        dir: &'a Path,
        vars: &'a BTreeMap<String, Value>,
        locals: &'a BTreeMap<String, Value>,
        resources: &'a ResourceTable,
    ) -> Scope<'a> {
        Scope {
            dir,
            vars,
            locals,
            resources,
            count_index: None,
            each: None,
            instance_cache: None,
        }
    }
}

/// The error for a reference to something not declared; `candidates` are the declared names
/// of the same sort (variables, locals, or resources of the same kind).
pub fn undeclared<'n>(
    subject: &Subject,
    span: crate::diag::Span,
    candidates: impl Iterator<Item = &'n str>,
) -> Diagnostic {
    match subject {
        Subject::Var(name) => Diagnostic::error(format!("undeclared input variable \"{name}\""))
            .detail(format!("there is no variable \"{name}\" block"))
            .at(span)
            .help_opt(
                did_you_mean(name, candidates)
                    .or_else(|| Some(format!("declare it: variable \"{name}\" {{}}"))),
            ),
        Subject::Local(name) => Diagnostic::error(format!("undeclared local value \"{name}\""))
            .at(span)
            .help_opt(did_you_mean(name, candidates)),
        Subject::Resource(addr) => {
            Diagnostic::error(format!("reference to undeclared resource {addr}"))
                .detail(format!(
                    "there is no {} \"{}\" block in this configuration",
                    addr.kind, addr.name
                ))
                .at(span)
                .help_opt(did_you_mean(&addr.name, candidates))
        }
    }
}
