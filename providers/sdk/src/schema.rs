//! Schemas of the resource kinds: which attributes and nested blocks a block of each kind takes,
//! their types, which the user must set and which a backend computes.
//!
//! These are the language-level schemas shared by every driver of a kind; a driver may refuse
//! settings it does not support when it validates a change.

use crate::types::Type;
use crate::value::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

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
    /// If set, the value must be a reference to a resource of this kind...
    pub refers_to: Option<&'static str>,
    /// ...or, if this is set, a name the backend knows the thing by (an LXD image alias, an
    /// LXD or libvirt network).
    pub names_allowed: bool,
    pub description: &'static str,
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

/// The resource kinds of the language, in the order the SPEC introduces them.
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

pub const KINDS: &[&str] = &[
    "host", "bridge", "image", "store", "volume", "instance", "command",
];

/// The schema of a resource kind, or `None` if there is no such kind.
pub fn kind_schema(kind: &str) -> Option<&'static Schema> {
    static SCHEMAS: OnceLock<BTreeMap<&'static str, Schema>> = OnceLock::new();
    SCHEMAS
        .get_or_init(|| {
            BTreeMap::from([
                ("host", host()),
                ("bridge", bridge()),
                ("image", image()),
                ("store", store()),
                ("volume", volume()),
                ("instance", instance()),
                ("command", command()),
            ])
        })
        .get(kind)
}

/// Instance types and their sizes (vCPUs, MiB), as in the SPEC.
pub const INSTANCE_TYPES: &[(&str, u32, u64)] = &[
    ("t3.nano", 2, 512),
    ("t3.micro", 2, 1024),
    ("t3.small", 2, 2048),
    ("t3.medium", 2, 4096),
    ("t3.large", 2, 8192),
];

struct Attr(Attribute);

fn attr(name: &'static str, ty: Type, mode: Mode) -> Attr {
    Attr(Attribute {
        name,
        ty,
        mode,
        forces_replacement: false,
        sensitive: false,
        refers_to: None,
        names_allowed: false,
        description: "",
    })
}

fn required(name: &'static str, ty: Type) -> Attr {
    attr(name, ty, Mode::Required)
}
fn optional(name: &'static str, ty: Type) -> Attr {
    attr(name, ty, Mode::Optional)
}
fn computed(name: &'static str, ty: Type) -> Attr {
    attr(name, ty, Mode::Computed)
}
fn optional_computed(name: &'static str, ty: Type) -> Attr {
    attr(name, ty, Mode::OptionalComputed)
}

impl Attr {
    fn replaces(mut self) -> Attr {
        self.0.forces_replacement = true;
        self
    }
    fn sensitive(mut self) -> Attr {
        self.0.sensitive = true;
        self
    }
    fn refers_to(mut self, kind: &'static str) -> Attr {
        self.0.refers_to = Some(kind);
        self
    }
    fn or_name(mut self) -> Attr {
        self.0.names_allowed = true;
        self
    }
    fn about(mut self, description: &'static str) -> Attr {
        self.0.description = description;
        self
    }
}

fn schema(attributes: Vec<Attr>, blocks: Vec<BlockType>) -> Schema {
    Schema {
        attributes: attributes.into_iter().map(|a| a.0).collect(),
        blocks,
    }
}

fn block(name: &'static str, nesting: Nesting, schema: Schema) -> BlockType {
    BlockType {
        name,
        nesting,
        schema,
        forces_replacement: false,
    }
}

fn list(t: Type) -> Type {
    Type::List(Box::new(t))
}
fn map(t: Type) -> Type {
    Type::Map(Box::new(t))
}

fn host() -> Schema {
    schema(
        vec![
            optional("address", Type::String).about("remote host reached over SSH"),
            optional("user", Type::String),
            optional("port", Type::Number),
            optional("ssh_key", Type::String).sensitive(),
            optional("max_parallel", Type::Number).about("per-host cap on concurrent steps"),
            optional("uri", Type::String).about("libvirt connection URI"),
            optional("accel", Type::String).about("\"tcg\" or \"kvm\""),
            computed("id", Type::String),
        ],
        vec![block(
            "lxd",
            Nesting::Single,
            schema(
                vec![
                    optional("socket", Type::String),
                    optional("endpoint", Type::String),
                    optional("client_cert", Type::String),
                    optional("client_key", Type::String).sensitive(),
                    optional("server_cert", Type::String),
                    optional("pool", Type::String),
                ],
                vec![],
            ),
        )],
    )
}

fn bridge() -> Schema {
    let reservation = Type::Object(BTreeMap::from([
        ("mac".to_string(), (Type::String, false)),
        ("ip".to_string(), (Type::String, false)),
        ("hostname".to_string(), (Type::String, true)),
    ]));
    schema(
        vec![
            optional("driver", Type::String)
                .replaces()
                .about("\"linux\" or \"libvirt\""),
            optional("host", Type::Any).refers_to("host").replaces(),
            optional_computed("name", Type::String).replaces(),
            required("cidr", Type::String).replaces(),
            optional("mtu", Type::Number),
            optional("uplink", Type::String),
            optional("nat", Type::Bool),
            computed("id", Type::String),
            computed("gateway", Type::String),
            computed("leases", list(map(Type::String))),
        ],
        vec![block(
            "dhcp",
            Nesting::Single,
            schema(
                vec![
                    required("range", list(Type::String)),
                    optional("lease_time", Type::String),
                    optional("reservations", list(reservation)),
                ],
                vec![],
            ),
        )],
    )
}

fn image() -> Schema {
    schema(
        vec![
            optional("source", Type::String)
                .replaces()
                .about("local path, file:// or http(s):// URL"),
            optional("sha256", Type::String).replaces(),
            optional("format", Type::String)
                .replaces()
                .about("\"qcow2\", \"raw\", \"kernel\" or \"lxd\""),
            optional("driver", Type::String)
                .replaces()
                .about("\"libvirt\" (default) or \"lxd\" (implied by format = \"lxd\")"),
            optional("rootfs", Type::String)
                .replaces()
                .about("LXD split image: the root filesystem beside the metadata in source"),
            optional("kernel", Type::String).replaces(),
            optional("initrd", Type::String).replaces(),
            optional("cmdline", Type::String).replaces(),
            optional("host", Type::Any).refers_to("host").replaces(),
            optional("store", Type::Any).refers_to("store").replaces(),
            computed("id", Type::String),
            computed("size", Type::Number),
            computed("path", Type::String),
            computed("kernel_path", Type::String),
            computed("initrd_path", Type::String),
            computed("source_mtime", Type::String)
                .about("LXD: when the image's files last changed, as imported"),
        ],
        vec![],
    )
}

fn store() -> Schema {
    schema(
        vec![
            required("endpoint", Type::String),
            required("bucket", Type::String),
            optional("region", Type::String),
            optional("prefix", Type::String),
            optional("access_key", Type::String),
            optional("secret_key", Type::String).sensitive(),
            optional("cache_dir", Type::String),
            computed("id", Type::String),
        ],
        vec![],
    )
}

fn volume() -> Schema {
    schema(
        vec![
            optional("driver", Type::String).replaces(),
            optional("host", Type::Any).refers_to("host").replaces(),
            optional("size", Type::String),
            optional("image", Type::Any)
                .refers_to("image")
                .or_name()
                .replaces(),
            optional("store", Type::Any).refers_to("store").replaces(),
            optional("pool", Type::String).replaces(),
            optional("format", Type::String).replaces(),
            computed("id", Type::String),
            computed("path", Type::String),
        ],
        vec![],
    )
}

fn instance() -> Schema {
    let network = schema(
        vec![
            optional("bridge", Type::Any).refers_to("bridge").or_name(),
            optional_computed("mac", Type::String),
            optional("ip", Type::String),
            optional("model", Type::String),
        ],
        vec![],
    );
    let cloud_init = schema(
        vec![
            optional("hostname", Type::String),
            optional("ssh_authorized_keys", list(Type::String)),
            optional("user_data", Type::String),
            optional("network_config", Type::String),
        ],
        vec![],
    );
    let disk = schema(vec![optional("size", Type::String)], vec![]);
    schema(
        vec![
            optional("driver", Type::String)
                .replaces()
                .about("\"libvirt\", \"lxd\" or \"multipass\""),
            optional("host", Type::Any).refers_to("host").replaces(),
            optional("image", Type::Any)
                .refers_to("image")
                .or_name()
                .replaces(),
            // Replacement when the kind really changes is the provider's call: an absent kind
            // is a container, and writing it out must not replace anything.
            optional("kind", Type::String).about("\"container\" or \"vm\" (LXD)"),
            optional("type", Type::String),
            optional("cpus", Type::Number),
            optional("memory", Type::String),
            optional("attach", list(Type::Any)).refers_to("volume"),
            optional("wait_for", Type::String).about("\"none\", \"running\", \"ip\", \"ssh\""),
            optional("wait_timeout", Type::String),
            optional("power", Type::String).about("\"running\" or \"stopped\""),
            optional("ssh_user", Type::String).about("who `hive ssh` logs in as (default root)"),
            optional_computed("name", Type::String).replaces(),
            computed("id", Type::String),
            computed("ip", Type::String),
            computed("ips", list(Type::String)),
            computed("macs", list(Type::String)),
            computed("console_log", Type::String),
        ],
        vec![
            block("disk", Nesting::Single, disk),
            block("network", Nesting::List, network),
            BlockType {
                forces_replacement: true,
                ..block("cloud_init", Nesting::Single, cloud_init)
            },
        ],
    )
}

fn command() -> Schema {
    schema(
        vec![
            optional("run", Type::String)
                .replaces()
                .about("run through /bin/sh -c on create"),
            optional("destroy", Type::String).about("run on delete"),
            optional("triggers", Type::Any)
                .replaces()
                .about("a change forces replacement"),
            optional("input", Type::Any),
            optional("timeout", Type::String),
            optional("environment", map(Type::String)),
            optional("working_dir", Type::String),
            optional("host", Type::Any).refers_to("host").replaces(),
            computed("id", Type::String),
            computed("stdout", Type::String),
            computed("stderr", Type::String),
            computed("exit_code", Type::Number),
        ],
        vec![],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_schema_with_an_id() {
        for kind in KINDS {
            let schema = kind_schema(kind);
            assert!(schema.is_some(), "no schema for {kind}");
            let id = schema.and_then(|s| s.attribute("id"));
            assert_eq!(id.map(|a| a.mode), Some(Mode::Computed), "{kind}.id");
        }
        assert!(kind_schema("vm").is_none());
    }

    #[test]
    fn secrets_are_sensitive() {
        let store = kind_schema("store").and_then(|s| s.attribute("secret_key"));
        assert!(store.is_some_and(|a| a.sensitive));
    }
}
