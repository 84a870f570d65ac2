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

impl serde::Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Target, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
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

/// A name backends and file systems accept, made from an instance's address without its
/// kind, one-to-one: `instance.node[0]` gives `node-0`, `volume.data["a"]` gives `data-a`. A
/// key that is not already such a name (`"a.b"`, `"x y"`, `"ключ"`) keeps what it has of one
/// and gets a short digest of the whole key (`data-a-b-1c2d3e4f`), so no two keys meet.
/// (Two addresses can still meet through a resource name with a dash, `node-0` against
/// `node[0]`: configurations are checked for that.)
pub fn backend_name(addr: &InstanceAddr) -> String {
    let mut out = addr.resource.name.clone();
    match &addr.key {
        InstanceKey::None => {}
        InstanceKey::Index(i) => out.push_str(&format!("-{i}")),
        InstanceKey::Key(k) if is_safe_name(k) => {
            out.push('-');
            out.push_str(k);
        }
        InstanceKey::Key(k) => {
            let mut kept = String::new();
            for c in k.chars() {
                let c = if is_safe_char(c) { c } else { '-' };
                if !(c == '-' && kept.ends_with('-')) {
                    kept.push(c);
                }
            }
            let kept = kept.trim_matches('-');
            if !kept.is_empty() {
                out.push('-');
                out.push_str(kept);
            }
            out.push('-');
            out.push_str(&short_digest(k));
        }
    }
    out
}

fn is_safe_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn is_safe_name(key: &str) -> bool {
    !key.is_empty() && key.chars().all(is_safe_char) && !key.starts_with('-') && !key.ends_with('-')
}

/// 8 hex digits of the SHA-256 of `text`.
pub fn short_digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl std::str::FromStr for InstanceAddr {
    type Err = String;

    /// An instance as printed: `kind.name`, `kind.name[3]` or `kind.name["key"]`.
    fn from_str(s: &str) -> Result<InstanceAddr, String> {
        Ok(match s.parse::<Target>()? {
            Target::Instance(i) => i,
            Target::Resource(r) => r.instance(InstanceKey::None),
        })
    }
}

impl serde::Serialize for InstanceAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for InstanceAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<InstanceAddr, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// HCL identifiers: a letter or underscore, then letters, digits, `_` or `-`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_keep_safe_keys_and_digest_the_others() {
        let name = |s: &str| backend_name(&s.parse::<InstanceAddr>().unwrap());
        assert_eq!(name("instance.node[0]"), "node-0");
        assert_eq!(name("volume.data[\"a\"]"), "data-a");
        assert_eq!(name("instance.web"), "web");
        assert_eq!(name("instance.web[\"x_1-b\"]"), "web-x_1-b");
        let odd = [
            "a.b", "a#b", "a/b", "x y", "ключ", "a-b.", "-a", "", "a--b.", "a..b",
        ];
        let mut seen = std::collections::BTreeSet::new();
        for key in odd {
            let n = name(&format!("volume.data[{}]", serde_json::Value::from(key)));
            assert!(n.chars().all(is_safe_char), "{n}");
            assert!(n.starts_with("data-"), "{n}");
            assert!(
                seen.insert(n.clone()),
                "{key} gives {n}, as another key does"
            );
        }
        assert_eq!(
            name("volume.data[\"a.b\"]"),
            format!("data-a-b-{}", short_digest("a.b"))
        );
    }

    #[test]
    fn instance_addresses_round_trip_through_text_and_json() {
        for s in [
            "instance.node",
            "instance.node[12]",
            "volume.data[\"a#b\"]",
            "volume.data[\"a]b[\\\"c\"]",
            "command.x[\"ключ\"]",
        ] {
            let a: InstanceAddr = s.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(a.to_string(), s);
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(serde_json::from_str::<InstanceAddr>(&json).unwrap(), a);
        }
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
