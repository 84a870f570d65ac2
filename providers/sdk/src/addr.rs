//! Addresses of resources (`instance.node`) and resource instances (`instance.node[0]`,
//! `volume.data["a"]`).

use std::fmt;

/// A resource block: its kind and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceAddr {
    pub kind: String,
    pub name: String,
}

/// Which instance of a resource: none for a single one, a number under `count`, a string key
/// under `for_each`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InstanceKey {
    None,
    Index(usize),
    Key(String),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceAddr {
    pub resource: ResourceAddr,
    pub key: InstanceKey,
}

impl ResourceAddr {
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> ResourceAddr {
        ResourceAddr {
            kind: kind.into(),
            name: name.into(),
        }
    }

    pub fn instance(&self, key: InstanceKey) -> InstanceAddr {
        InstanceAddr {
            resource: self.clone(),
            key,
        }
    }
}

impl fmt::Display for ResourceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)
    }
}

impl fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstanceKey::None => Ok(()),
            InstanceKey::Index(i) => write!(f, "[{i}]"),
            InstanceKey::Key(k) => write!(f, "[{}]", serde_json::Value::String(k.clone())),
        }
    }
}

impl fmt::Display for InstanceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.resource, self.key)
    }
}

/// An address as a user types it on the command line: a whole resource or one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Resource(ResourceAddr),
    Instance(InstanceAddr),
}

impl Target {
    /// True if `addr` is this target or one of its instances.
    pub fn matches(&self, addr: &InstanceAddr) -> bool {
        match self {
            Target::Resource(r) => &addr.resource == r,
            Target::Instance(i) => i == addr,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Resource(r) => write!(f, "{r}"),
            Target::Instance(i) => write!(f, "{i}"),
        }
    }
}

impl std::str::FromStr for Target {
    type Err = String;

    /// Parses `kind.name`, `kind.name[3]` or `kind.name["key"]`.
    fn from_str(s: &str) -> Result<Target, String> {
        let bad = |why: &str| format!("invalid address {s:?}: {why}");
        let (kind, rest) = s
            .split_once('.')
            .ok_or_else(|| bad("expected KIND.NAME, e.g. instance.node[0]"))?;
        let (name, key) = match rest.find('[') {
            Some(open) => (&rest[..open], Some(&rest[open..])),
            None => (rest, None),
        };
        if !is_identifier(kind) || !is_identifier(name) {
            return Err(bad("KIND and NAME must be identifiers"));
        }
        let resource = ResourceAddr::new(kind, name);
        let Some(key) = key else {
            return Ok(Target::Resource(resource));
        };
        let inner = key
            .strip_prefix('[')
            .and_then(|k| k.strip_suffix(']'))
            .ok_or_else(|| bad("an index must be [N] or [\"KEY\"]"))?;
        let key = if let Ok(i) = inner.parse::<usize>() {
            InstanceKey::Index(i)
        } else if inner.starts_with('"') {
            let k: String =
                serde_json::from_str(inner).map_err(|_| bad("a key must be a quoted string"))?;
            InstanceKey::Key(k)
        } else {
            return Err(bad("an index must be [N] or [\"KEY\"]"));
        };
        Ok(Target::Instance(resource.instance(key)))
    }
}

/// HCL identifiers: a letter or underscore, then letters, digits, `_` or `-`.
/// A name backends and file systems accept, from an address: `instance.node[0]` gives
/// `node-0`, `volume.data["a"]` gives `data-a`.
pub fn name_from_address(address: &str) -> String {
    let without_kind = address.split_once('.').map_or(address, |(_, rest)| rest);
    let mut out = String::new();
    for c in without_kind.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' => out.push(c),
            '[' | '.' => out.push('-'),
            _ => {}
        }
    }
    out.trim_matches('-').to_string()
}

pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_addresses() {
        assert_eq!(name_from_address("instance.node[0]"), "node-0");
        assert_eq!(name_from_address("volume.data[\"a\"]"), "data-a");
        assert_eq!(name_from_address("instance.web"), "web");
    }

    #[test]
    fn addresses_print_as_users_write_them() {
        let r = ResourceAddr::new("volume", "data");
        assert_eq!(r.instance(InstanceKey::None).to_string(), "volume.data");
        assert_eq!(
            r.instance(InstanceKey::Index(2)).to_string(),
            "volume.data[2]"
        );
        assert_eq!(
            r.instance(InstanceKey::Key("a".into())).to_string(),
            "volume.data[\"a\"]"
        );
    }

    #[test]
    fn targets_parse_and_round_trip() {
        for s in ["instance.node", "instance.node[0]", "volume.data[\"a b\"]"] {
            let t: Target = s.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(t.to_string(), s);
        }
        for bad in [
            "node",
            "instance.",
            "instance.node[x]",
            "instance.node[0",
            "1.x",
        ] {
            assert!(bad.parse::<Target>().is_err(), "{bad} should not parse");
        }
    }
}
