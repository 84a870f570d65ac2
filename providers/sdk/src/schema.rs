//! Schemas of the resource kinds: which attributes and nested blocks a block of each kind takes,
//! their types, which the user must set and which a backend computes.
//!
//! Each provider declares the schemas of the kinds it serves (see
//! [`crate::provider::Provider::kinds`]), built with the functions here; shapes several drivers
//! share live with their topic (an instance's in [`crate::guest`], a bridge's in
//! [`crate::net`], images' and volumes' in [`crate::disk`]).

use crate::types::Type;
use crate::value::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Who sets an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The configuration must set it.
    Required,
    /// The configuration may set it.
    Optional,
    /// The backend sets it; the configuration must not.
    Computed,
    /// The configuration may set it; if it does not, the backend chooses.
    OptionalComputed,
}

#[derive(Debug, Clone)]
pub struct Attribute {
    pub name: &'static str,
    pub ty: Type,
    pub mode: Mode,
    /// A change to this attribute replaces the object rather than updating it in place.
    pub forces_replacement: bool,
    pub sensitive: bool,
    /// A computed attribute made from these configured ones (a command's output from its
    /// script): sensitive as a whole when any of them holds a sensitive value.
    pub sensitive_from: &'static [&'static str],
    /// If set, the value must be a reference to a resource of this kind...
    pub refers_to: Option<&'static str>,
    /// ...or, if this is set, a name the backend knows the thing by (an LXD image alias, an
    /// LXD or libvirt network).
    pub names_allowed: bool,
    /// What the backend takes when the configuration does not set it, for documentation;
    /// the value is unknown until a plan.
    pub default: Option<Value>,
    /// Used while a command runs but never kept: not in the state (of this resource or of
    /// those that refer to it) nor in plan files; a credential. Not compared with what is
    /// recorded, since nothing is.
    pub unrecorded: bool,
    /// The configuration may say `"auto"`: the provider chooses the value when it makes the
    /// object (a bridge's subnet), the state records its choice, and plans keep it.
    pub auto: bool,
    pub description: &'static str,
}

impl Attribute {
    /// Whether `configured` leaves this attribute's value to the backend: unset where the
    /// backend computes it, or `"auto"` where it chooses.
    pub fn left_to_backend(&self, configured: &Value) -> bool {
        (self.mode == Mode::OptionalComputed && configured.is_null())
            || (self.auto && configured.unmarked().as_str() == Some("auto"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// At most one block (`disk { }`).
    Single,
    /// Any number of blocks, kept in order (`network { }` repeated).
    List,
}

#[derive(Debug, Clone)]
pub struct BlockType {
    pub name: &'static str,
    pub nesting: Nesting,
    pub schema: Schema,
    /// A change inside this block replaces the object.
    pub forces_replacement: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<BlockType>,
}

impl Schema {
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    pub fn block(&self, name: &str) -> Option<&BlockType> {
        self.blocks.iter().find(|b| b.name == name)
    }

    /// Every name a block of this schema may contain, for "did you mean" suggestions.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.attributes
            .iter()
            .map(|a| a.name)
            .chain(self.blocks.iter().map(|b| b.name))
    }

    /// The type of the object a reference to this resource evaluates to.
    /// The value with every reference to another resource (`host = host.local`) replaced
    /// by that resource's `id`: what identifies it. Changes to the other resource's other
    /// attributes (a bridge's leases) are not changes of this one.
    pub fn identities(&self, value: &Value) -> Value {
        let Some(entries) = value.as_map() else {
            return value.clone();
        };
        let mut out = entries.clone();
        for a in &self.attributes {
            if a.refers_to.is_none() {
                continue;
            }
            if let Some(v) = out.get_mut(a.name) {
                *v = identity_of(v);
            }
        }
        for b in &self.blocks {
            if let Some(v) = out.get_mut(b.name) {
                *v = match &*v {
                    Value::List(items) => {
                        Value::List(items.iter().map(|i| b.schema.identities(i)).collect())
                    }
                    other => b.schema.identities(other),
                };
            }
        }
        Value::Map(out)
    }

    /// `object` with every attribute declared [`Attribute::sensitive_from`] marked sensitive
    /// where what it is made from holds a sensitive value (unknown ones too: what they will
    /// be is secret).
    pub fn mark_derived_sensitive(&self, object: Value) -> Value {
        let Value::Map(mut entries) = object else {
            return object;
        };
        for a in self
            .attributes
            .iter()
            .filter(|a| !a.sensitive_from.is_empty())
        {
            let secret = a
                .sensitive_from
                .iter()
                .any(|from| entries.get(*from).is_some_and(Value::contains_sensitive));
            if secret {
                if let Some(v) = entries.get_mut(a.name) {
                    *v = std::mem::take(v).mark_sensitive_if(true);
                }
            }
        }
        Value::Map(entries)
    }

    pub fn object_type(&self) -> Type {
        let mut fields = BTreeMap::new();
        for a in &self.attributes {
            fields.insert(a.name.to_string(), (a.ty.clone(), true));
        }
        for b in &self.blocks {
            let inner = b.schema.object_type();
            let ty = match b.nesting {
                Nesting::Single => inner,
                Nesting::List => Type::List(Box::new(inner)),
            };
            fields.insert(b.name.to_string(), (ty, true));
        }
        Type::Object(fields)
    }
}

/// A referenced object's id; lists of references become lists of ids.
fn identity_of(v: &Value) -> Value {
    match v {
        Value::Map(m) => m.get("id").cloned().unwrap_or(Value::Unknown),
        Value::List(items) => Value::List(items.iter().map(identity_of).collect()),
        Value::Set(items) => Value::Set(items.iter().map(identity_of).collect()),
        Value::Sensitive(inner) => Value::Sensitive(Box::new(identity_of(inner))),
        other => other.clone(),
    }
}

/// An attribute being declared: `optional("mtu", Type::Number).about("...")`.
pub struct Attr(pub Attribute);

pub fn attr(name: &'static str, ty: Type, mode: Mode) -> Attr {
    Attr(Attribute {
        name,
        ty,
        mode,
        forces_replacement: false,
        sensitive: false,
        sensitive_from: &[],
        refers_to: None,
        names_allowed: false,
        default: None,
        unrecorded: false,
        auto: false,
        description: "",
    })
}

pub fn required(name: &'static str, ty: Type) -> Attr {
    attr(name, ty, Mode::Required)
}
pub fn optional(name: &'static str, ty: Type) -> Attr {
    attr(name, ty, Mode::Optional)
}
pub fn computed(name: &'static str, ty: Type) -> Attr {
    attr(name, ty, Mode::Computed)
}
pub fn optional_computed(name: &'static str, ty: Type) -> Attr {
    attr(name, ty, Mode::OptionalComputed)
}

impl Attr {
    pub fn replaces(mut self) -> Attr {
        self.0.forces_replacement = true;
        self
    }
    pub fn sensitive(mut self) -> Attr {
        self.0.sensitive = true;
        self
    }
    pub fn sensitive_from(mut self, names: &'static [&'static str]) -> Attr {
        self.0.sensitive_from = names;
        self
    }
    pub fn refers_to(mut self, kind: &'static str) -> Attr {
        self.0.refers_to = Some(kind);
        self
    }
    pub fn unrecorded(mut self) -> Attr {
        self.0.unrecorded = true;
        self
    }
    pub fn or_auto(mut self) -> Attr {
        self.0.auto = true;
        self
    }
    pub fn or_name(mut self) -> Attr {
        self.0.names_allowed = true;
        self
    }
    pub fn about(mut self, description: &'static str) -> Attr {
        self.0.description = description;
        self
    }
    pub fn default(mut self, value: Value) -> Attr {
        self.0.default = Some(value);
        self
    }
}

pub fn schema(attributes: Vec<Attr>, blocks: Vec<BlockType>) -> Schema {
    Schema {
        attributes: attributes.into_iter().map(|a| a.0).collect(),
        blocks,
    }
}

pub fn block(name: &'static str, nesting: Nesting, schema: Schema) -> BlockType {
    BlockType {
        name,
        nesting,
        schema,
        forces_replacement: false,
    }
}

pub fn list(t: Type) -> Type {
    Type::List(Box::new(t))
}
pub fn map(t: Type) -> Type {
    Type::Map(Box::new(t))
}

impl BlockType {
    pub fn replaces(mut self) -> BlockType {
        self.forces_replacement = true;
        self
    }
}

impl Schema {
    /// `value` as it may be kept: this schema's unrecorded attributes null, and so are those
    /// of the resources its references hold, however deep (an instance holds its volume, which holds its store; `schema_of` gives a kind's schema).
    pub fn without_unrecorded(
        &self,
        value: Value,
        schema_of: &dyn Fn(&str) -> Option<Arc<Schema>>,
    ) -> Value {
        let (value, sensitive) = match value {
            Value::Sensitive(inner) => (*inner, true),
            other => (other, false),
        };
        let Value::Map(mut entries) = value else {
            return value.mark_sensitive_if(sensitive);
        };
        for a in &self.attributes {
            let Some(v) = entries.get_mut(a.name) else {
                continue;
            };
            if a.unrecorded {
                *v = Value::Null;
            } else if let Some(other) = a.refers_to.and_then(schema_of) {
                let referred = std::mem::take(v);
                *v = match referred {
                    Value::List(items) => Value::List(
                        items
                            .into_iter()
                            .map(|i| other.without_unrecorded(i, schema_of))
                            .collect(),
                    ),
                    one => other.without_unrecorded(one, schema_of),
                };
            }
        }
        for b in &self.blocks {
            if let Some(v) = entries.get_mut(b.name) {
                let block = std::mem::take(v);
                *v = match block {
                    Value::List(items) => Value::List(
                        items
                            .into_iter()
                            .map(|i| b.schema.without_unrecorded(i, schema_of))
                            .collect(),
                    ),
                    one => b.schema.without_unrecorded(one, schema_of),
                };
            }
        }
        Value::Map(entries).mark_sensitive_if(sensitive)
    }

    /// A recorded `value` with the unrecorded attributes of the resources it refers to lent
    /// back for the command that runs now: `current(kind, recorded)` gives what the
    /// configuration now says of the referred object (found by its recorded id), whose
    /// unrecorded attributes (a store's credentials) are copied in. A delete or refresh has
    /// only the record, which never holds them.
    pub fn with_lent(
        &self,
        value: Value,
        schema_of: &dyn Fn(&str) -> Option<Arc<Schema>>,
        current: &dyn Fn(&str, &Value) -> Option<Value>,
    ) -> Value {
        let Value::Map(mut entries) = value else {
            return value;
        };
        for a in &self.attributes {
            let (Some(kind), Some(v)) = (a.refers_to, entries.get_mut(a.name)) else {
                continue;
            };
            let Some(other) = schema_of(kind) else {
                continue;
            };
            let lend = |referred: &mut Value| {
                let (Some(now), Value::Map(fields)) = (current(kind, referred), referred) else {
                    return;
                };
                for u in other.attributes.iter().filter(|u| u.unrecorded) {
                    if let Some(lent) = now.attr(u.name) {
                        fields.insert(u.name.to_string(), lent.clone());
                    }
                }
            };
            match v {
                Value::List(items) => items.iter_mut().for_each(lend),
                one => lend(one),
            }
        }
        for b in &self.blocks {
            if let Some(v) = entries.get_mut(b.name) {
                let block = std::mem::take(v);
                *v = match block {
                    Value::List(items) => Value::List(
                        items
                            .into_iter()
                            .map(|i| b.schema.with_lent(i, schema_of, current))
                            .collect(),
                    ),
                    one => b.schema.with_lent(one, schema_of, current),
                };
            }
        }
        Value::Map(entries)
    }

    /// This schema with `other`'s attributes and blocks added: the schema a kind's blocks
    /// are read with when several drivers serve it. A name both declare must mean the same
    /// in both (type, mode, replacement, sensitivity, what it refers to); `Err` names it.
    pub fn merged(&self, other: &Schema) -> Result<Schema, String> {
        let mut out = self.clone();
        for a in &other.attributes {
            match out.attribute(a.name) {
                None => out.attributes.push(a.clone()),
                Some(mine) => {
                    let same = mine.ty == a.ty
                        && mine.mode == a.mode
                        && mine.forces_replacement == a.forces_replacement
                        && mine.sensitive == a.sensitive
                        && mine.sensitive_from == a.sensitive_from
                        && mine.refers_to == a.refers_to
                        && mine.names_allowed == a.names_allowed
                        && mine.unrecorded == a.unrecorded;
                    if !same {
                        return Err(format!("attribute {} is declared two ways", a.name));
                    }
                }
            }
        }
        for b in &other.blocks {
            match out.blocks.iter().position(|mine| mine.name == b.name) {
                None => out.blocks.push(b.clone()),
                Some(i) => {
                    let mine = &out.blocks[i];
                    if mine.nesting != b.nesting || mine.forces_replacement != b.forces_replacement
                    {
                        return Err(format!("block {} is declared two ways", b.name));
                    }
                    let inner = mine
                        .schema
                        .merged(&b.schema)
                        .map_err(|e| format!("in block {}: {e}", b.name))?;
                    out.blocks[i].schema = inner;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_left_out_however_deep_and_lent_back_by_id() {
        let store = Arc::new(schema(
            vec![
                optional("secret_key", Type::String).unrecorded(),
                computed("id", Type::String),
            ],
            vec![],
        ));
        let volume = Arc::new(schema(
            vec![optional("store", Type::Any).refers_to("store")],
            vec![],
        ));
        let instance = schema(
            vec![optional("attach", Type::Any).refers_to("volume")],
            vec![],
        );
        let schema_of = |kind: &str| match kind {
            "store" => Some(store.clone()),
            "volume" => Some(volume.clone()),
            _ => None,
        };
        let keyed = Value::map([
            ("id", Value::string("s3")),
            ("secret_key", Value::string("k")),
        ]);
        let value = Value::map([(
            "attach",
            Value::List(vec![Value::map([("store", keyed.clone())])]),
        )]);
        let kept = instance.without_unrecorded(value, &schema_of);
        assert!(!format!("{kept:?}").contains("\"k\""), "{kept:?}");

        let recorded =
            volume.without_unrecorded(Value::map([("store", keyed.clone())]), &schema_of);
        assert_eq!(
            recorded
                .attr("store")
                .and_then(Value::as_map)
                .and_then(|s| s.get("secret_key")),
            Some(&Value::Null)
        );
        let lent = volume.with_lent(recorded, &schema_of, &|kind, r| {
            (kind == "store" && r.attr_str("id") == Some("s3")).then(|| keyed.clone())
        });
        assert_eq!(
            lent.attr("store").and_then(|s| s.attr_str("secret_key")),
            Some("k")
        );
    }

    #[test]
    fn merging_adds_what_is_new_and_refuses_what_differs() {
        let a = schema(
            vec![optional("size", Type::String), computed("id", Type::String)],
            vec![block(
                "disk",
                Nesting::Single,
                schema(vec![optional("size", Type::String)], vec![]),
            )],
        );
        let b = schema(
            vec![optional("kind", Type::String), computed("id", Type::String)],
            vec![block(
                "disk",
                Nesting::Single,
                schema(vec![optional("bus", Type::String)], vec![]),
            )],
        );
        let m = a.merged(&b).unwrap();
        let names: Vec<&str> = m.names().collect();
        assert_eq!(names, ["size", "id", "kind", "disk"]);
        let disk = m.block("disk").unwrap();
        assert!(disk.schema.attribute("bus").is_some() && disk.schema.attribute("size").is_some());
        let c = schema(vec![optional("size", Type::Number)], vec![]);
        assert_eq!(
            a.merged(&c).unwrap_err(),
            "attribute size is declared two ways"
        );
    }
}
