//! The configuration: every `*.hive.hcl` file of a directory, decoded into blocks that keep their
//! expressions unevaluated (with spans) until the evaluator walks them.
//!
//! Only this module and `lang` see HCL syntax trees.

pub mod catalog;
pub mod fmt;
mod load;
pub(crate) mod templates;
pub mod testfile;
pub mod typeexpr;
pub mod vars;

use crate::diag::{FileId, Sources, Span};
use hcl_edit::expr::Expression;
use hive_sdk::addr::ResourceAddr;
use hive_sdk::problem::PathStep;
use hive_sdk::schema::Schema;
use hive_sdk::Type;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use catalog::Catalog;
pub use load::{files_with_suffix, load_dir, parse_file, Loaded, MAX_FILE_SIZE};

/// An expression as written, with the file it came from.
#[derive(Debug, Clone)]
pub struct Expr {
    pub file: FileId,
    pub expr: Expression,
}

impl Expr {
    pub fn span(&self) -> Span {
        span_of(self.file, &self.expr)
    }
}

/// The span of any syntax node that carries one.
pub fn span_of(file: FileId, node: &impl hcl_edit::Span) -> Span {
    Span::new(file, node.span().unwrap_or(0..0))
}

/// An attribute as written: `name = expr`.
#[derive(Debug, Clone)]
pub struct Attribute {
    pub name: String,
    pub name_span: Span,
    pub expr: Expr,
}

/// A nested block as written: `name { ... }`.
#[derive(Debug, Clone)]
pub struct Block {
    pub name: String,
    pub span: Span,
    pub body: Body,
    /// `dynamic "NAME" { for_each, iterator, content { } }`: as many `NAME` blocks as
    /// `for_each` has elements, each `body` (the content) evaluated with the iterator bound.
    pub dynamic: Option<Box<Dynamic>>,
}

/// What makes a `dynamic` block many.
#[derive(Debug, Clone)]
pub struct Dynamic {
    pub for_each: Attribute,
    /// The name the content refers to each element by (`NAME.key`, `NAME.value`).
    pub iterator: String,
}

/// The contents of a block, checked against a schema.
#[derive(Debug, Clone, Default)]
pub struct Body {
    pub attributes: BTreeMap<String, Attribute>,
    pub blocks: Vec<Block>,
}

impl Body {
    /// Where an attribute path (a provider's problem) is written: the attribute's value, or
    /// the block's name; as far as the path is written, when it goes further than the file.
    pub fn place(&self, path: &[PathStep]) -> Option<Span> {
        let (PathStep::Name(name), rest) = path.split_first()? else {
            return None;
        };
        if let Some(attr) = self.attributes.get(name) {
            return Some(attr.expr.span());
        }
        let (index, rest) = match rest.split_first() {
            Some((PathStep::Index(i), rest)) => (*i, rest),
            _ => (0, rest),
        };
        let block = self.blocks.iter().filter(|b| &b.name == name).nth(index)?;
        Some(block.body.place(rest).unwrap_or_else(|| block.span.clone()))
    }
}

#[derive(Debug, Clone)]
pub struct Variable {
    pub name: String,
    pub span: Span,
    pub ty: Type,
    pub default: Option<Expr>,
    pub description: Option<String>,
    pub sensitive: bool,
    /// `ephemeral = true`: never written to the state or a plan file, so usable only where
    /// hive keeps no record (credentials, the state's settings, other ephemeral values).
    pub ephemeral: bool,
    pub nullable: bool,
    pub validations: Vec<Validation>,
}

#[derive(Debug, Clone)]
pub struct Validation {
    pub condition: Expr,
    pub error_message: Expr,
}

#[derive(Debug, Clone)]
pub struct Local {
    pub name: String,
    pub span: Span,
    pub expr: Expr,
}

#[derive(Debug, Clone)]
pub struct Output {
    pub name: String,
    pub span: Span,
    pub value: Expr,
    pub description: Option<String>,
    pub sensitive: bool,
    /// `ephemeral = true`: shown by the command that computes it, never recorded.
    pub ephemeral: bool,
    pub depends_on: Vec<Expr>,
}

/// How many instances a resource has.
#[derive(Debug, Clone)]
pub enum Repetition {
    Single,
    Count(Expr),
    ForEach(Expr),
    /// `lifecycle { enabled = EXPR }` (OpenTofu's): one instance when true, none (the
    /// resource is null) when false.
    Enabled(Expr),
}

#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    /// `enabled`, taken out into the resource's repetition when it is read.
    pub enabled: Option<Expr>,
    /// `precondition { condition, error_message }`: checked before the instance is planned.
    pub preconditions: Vec<Condition>,
    /// `postcondition { ... }`: checked on the instance as planned (`self`), when known.
    pub postconditions: Vec<Condition>,
    /// `replace_triggered_by = [...]`: the instance is replaced when one of these changes.
    pub replace_triggered_by: Vec<Expr>,
    pub prevent_destroy: bool,
    pub create_before_destroy: bool,
    pub ignore_changes: IgnoreChanges,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum IgnoreChanges {
    #[default]
    None,
    All,
    Attributes(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub addr: ResourceAddr,
    /// The block's header (`instance "node"`).
    pub span: Span,
    pub repetition: Repetition,
    pub depends_on: Vec<Expr>,
    pub lifecycle: Lifecycle,
    pub body: Body,
    /// The kind's schema (every driver's attributes).
    pub schema: Arc<Schema>,
}

/// The `hive { }` block as written; `lang::settings` decodes it once variables are known.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub parallelism: Option<Attribute>,
    /// `ttl`: how long after the last apply the state's objects expire.
    pub ttl: Option<Attribute>,
    /// `state { ... }`: its attributes, which depend on the backend.
    pub state: Option<Block>,
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub dir: PathBuf,
    /// The kinds this build knows, as the configuration was read with them.
    pub catalog: Arc<Catalog>,
    pub sources: Sources,
    pub settings: Settings,
    pub variables: BTreeMap<String, Variable>,
    pub locals: BTreeMap<String, Local>,
    pub outputs: BTreeMap<String, Output>,
    pub resources: BTreeMap<ResourceAddr, Resource>,
    /// `check "NAME" { assert { ... } }`: conditions reported after plan and apply, never
    /// failing them.
    pub checks: BTreeMap<String, Check>,
    /// `moved { from, to }`: recorded objects that now have another address.
    pub moved: Vec<Moved>,
    /// `import { to, id }`: objects made elsewhere, adopted by the next apply.
    pub imports: Vec<Import>,
    /// `removed { from, lifecycle { destroy } }`: objects taken out of the configuration.
    pub removed: Vec<Removed>,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub span: Span,
    pub asserts: Vec<Condition>,
}

/// A condition and what to say when it does not hold.
#[derive(Debug, Clone)]
pub struct Condition {
    pub condition: Expr,
    pub error_message: Expr,
}

#[derive(Debug, Clone)]
pub struct Import {
    pub to: hive_sdk::addr::InstanceAddr,
    /// The backend's id of the object (a container's name, a domain's name or UUID).
    pub id: Expr,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Moved {
    pub from: hive_sdk::addr::Target,
    pub to: hive_sdk::addr::Target,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Removed {
    pub from: hive_sdk::addr::Target,
    /// `lifecycle { destroy = false }`: forgotten (left running, untagged), not destroyed.
    pub destroy: bool,
    pub span: Span,
}
