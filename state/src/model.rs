//! The state model and its versioned JSON format (SPEC section 4).

use hive_sdk::addr::InstanceAddr;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// Fixed when the state is created; a saved plan or a backup from another lineage is
    /// refused.
    pub lineage: String,
    /// Bumped on every write.
    pub serial: u64,
    #[serde(default)]
    pub outputs: BTreeMap<String, OutputState>,
    /// Every recorded object; written as a list sorted by address.
    #[serde(default, with = "resource_list")]
    pub resources: BTreeMap<ObjectAddr, ResourceState>,
    /// When its objects expire (`ttl`, counted from the last apply), in seconds since the
    /// Unix epoch: `hive scan -reap` destroys an expired state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
}

/// Which recorded object: an instance's current one, or an old one it replaced
/// create-before-destroy and has not destroyed yet (`deposed`, told apart by its id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectAddr {
    pub instance: InstanceAddr,
    pub deposed: Option<String>,
}

impl ObjectAddr {
    pub fn current(instance: InstanceAddr) -> ObjectAddr {
        ObjectAddr {
            instance,
            deposed: None,
        }
    }
}

impl std::fmt::Display for ObjectAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.deposed {
            None => write!(f, "{}", self.instance),
            Some(d) => write!(f, "{} (deposed object {d})", self.instance),
        }
    }
}

/// Resources are a list in the file (what users and tools expect to read) and a map in memory
/// (what recording one step needs).
mod resource_list {
    use super::{ObjectAddr, ResourceState};
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<ObjectAddr, ResourceState>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.values())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<ObjectAddr, ResourceState>, D::Error> {
        let list = Vec::<ResourceState>::deserialize(d)?;
        let mut map = BTreeMap::new();
        for r in list {
            let key = r.object();
            if map.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "resource {key} is recorded twice"
                )));
            }
            map.insert(key, r);
        }
        Ok(map)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputState {
    pub value: serde_json::Value,
    #[serde(default)]
    pub sensitive: bool,
}

/// Where an object is in its life, as far as hive knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created and ready.
    Ready,
    /// A step on it failed: the next apply replaces it.
    Tainted,
    /// Creation began and was not seen to finish: the next refresh adopts or removes it.
    Creating,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RecordedResource")]
pub struct ResourceState {
    /// The instance address, `instance.node[0]`.
    pub address: InstanceAddr,
    /// Set on the old object of a create-before-destroy replacement until it is destroyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deposed: Option<String>,
    pub kind: String,
    pub driver: String,
    /// The backend's own id for the object (domain UUID, container name...).
    pub id: Option<String>,
    pub attributes: serde_json::Value,
    /// Addresses this object depended on when it was created: destroy order comes from here.
    #[serde(default)]
    pub dependencies: Vec<InstanceAddr>,
    pub status: Status,
}

impl ResourceState {
    pub fn object(&self) -> ObjectAddr {
        ObjectAddr {
            instance: self.address.clone(),
            deposed: self.deposed.clone(),
        }
    }
}

/// A resource as a state file holds it. States written before deposed objects had their own
/// member kept them as `ADDRESS#deposed-ID`; those are read into the member.
#[derive(Deserialize)]
struct RecordedResource {
    address: LegacyAddress,
    #[serde(default)]
    deposed: Option<String>,
    kind: String,
    driver: String,
    id: Option<String>,
    attributes: serde_json::Value,
    #[serde(default)]
    dependencies: Vec<InstanceAddr>,
    status: Status,
}

impl From<RecordedResource> for ResourceState {
    fn from(r: RecordedResource) -> ResourceState {
        ResourceState {
            address: r.address.instance,
            deposed: r.deposed.or(r.address.deposed),
            kind: r.kind,
            driver: r.driver,
            id: r.id,
            attributes: r.attributes,
            dependencies: r.dependencies,
            status: r.status,
        }
    }
}

/// An address as any version of the format writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyAddress {
    pub instance: InstanceAddr,
    pub deposed: Option<String>,
}

impl<'de> Deserialize<'de> for LegacyAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<LegacyAddress, D::Error> {
        let text = String::deserialize(d)?;
        LegacyAddress::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl LegacyAddress {
    pub fn parse(text: &str) -> Result<LegacyAddress, String> {
        if let Ok(instance) = text.parse() {
            return Ok(LegacyAddress {
                instance,
                deposed: None,
            });
        }
        // The old form of a deposed object: an address cannot hold `#` outside a quoted key,
        // and a quoted key ends the address, so the marker is the last one.
        let (address, id) = text
            .rsplit_once("#deposed-")
            .ok_or_else(|| format!("invalid address {text:?}"))?;
        Ok(LegacyAddress {
            instance: address.parse()?,
            deposed: Some(id.to_string()),
        })
    }
}

#[derive(Debug, PartialEq)]
pub enum FormatError {
    Syntax(String),
    UnsupportedVersion(u32),
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormatError::Syntax(e) => {
                write!(f, "the state is not valid JSON of hive's format: {e}")
            }
            FormatError::UnsupportedVersion(v) => write!(
                f,
                "the state has format version {v}; this hive reads version {FORMAT_VERSION}"
            ),
        }
    }
}

impl std::error::Error for FormatError {}

impl State {
    pub fn new(lineage: String) -> State {
        State {
            version: FORMAT_VERSION,
            lineage,
            serial: 0,
            outputs: BTreeMap::new(),
            resources: BTreeMap::new(),
            expires: None,
        }
    }

    pub fn to_json(&self) -> Result<String, String> {
        serde_json::to_string_pretty(self).map_err(|e| e.to_string())
    }

    /// The current object of an instance.
    pub fn resource(&self, address: &InstanceAddr) -> Option<&ResourceState> {
        self.resources.get(&ObjectAddr::current(address.clone()))
    }

    /// Inserts or replaces the record of one object.
    pub fn put(&mut self, resource: ResourceState) {
        self.resources.insert(resource.object(), resource);
    }

    pub fn remove(&mut self, object: &ObjectAddr) -> Option<ResourceState> {
        self.resources.remove(object)
    }

    /// Checks only the format version of a state document. hive writes `version` first, so
    /// it is read from the head of the text; anything else is parsed in full.
    pub fn from_json_version_only(text: &str) -> Result<u32, FormatError> {
        let head = text.trim_start().strip_prefix('{').map(str::trim_start);
        if let Some(rest) = head.and_then(|h| h.strip_prefix("\"version\":")) {
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(version) = digits.parse::<u32>() {
                if version != FORMAT_VERSION {
                    return Err(FormatError::UnsupportedVersion(version));
                }
                return Ok(version);
            }
        }
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let v: Version =
            serde_json::from_str(text).map_err(|e| FormatError::Syntax(e.to_string()))?;
        if v.version != FORMAT_VERSION {
            return Err(FormatError::UnsupportedVersion(v.version));
        }
        Ok(v.version)
    }

    pub fn from_json(text: &str) -> Result<State, FormatError> {
        State::from_json_version_only(text)?;
        serde_json::from_str(text).map_err(|e| FormatError::Syntax(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_json() {
        let mut s = State::new("6f1c".into());
        s.serial = 4;
        s.put(ResourceState {
            address: "instance.node[0]".parse().unwrap(),
            deposed: None,
            kind: "instance".into(),
            driver: "libvirt".into(),
            id: Some("uuid".into()),
            attributes: serde_json::json!({ "memory": "1GiB" }),
            dependencies: vec!["bridge.lan".parse().unwrap()],
            status: Status::Creating,
        });
        let text = s.to_json().unwrap();
        assert!(text.contains("\"status\": \"creating\""));
        assert_eq!(State::from_json(&text), Ok(s));
    }

    #[test]
    fn deposed_objects_of_older_states_are_read_into_their_member() {
        let text = r#"{"version": 1, "lineage": "l", "serial": 3, "resources": [
          {"address": "command.a", "kind": "command", "driver": "local", "id": "n",
           "attributes": {}, "status": "ready"},
          {"address": "command.a#deposed-1f2e", "kind": "command", "driver": "local",
           "id": "o", "attributes": {}, "dependencies": ["command.b[\"x#y\"]"],
           "status": "ready"}]}"#;
        let s = State::from_json(text).unwrap();
        let a: InstanceAddr = "command.a".parse().unwrap();
        assert_eq!(s.resource(&a).and_then(|r| r.id.as_deref()), Some("n"));
        let old = s
            .resources
            .get(&ObjectAddr {
                instance: a,
                deposed: Some("1f2e".into()),
            })
            .unwrap();
        assert_eq!(old.id.as_deref(), Some("o"));
        assert_eq!(old.dependencies[0].to_string(), "command.b[\"x#y\"]");
        // Written back in today's form.
        assert!(s.to_json().unwrap().contains("\"deposed\": \"1f2e\""));
    }

    #[test]
    fn other_versions_and_garbage_are_refused() {
        let future = r#"{"version": 2, "lineage": "x", "serial": 1}"#;
        assert_eq!(
            State::from_json(future),
            Err(FormatError::UnsupportedVersion(2))
        );
        assert!(matches!(State::from_json("{"), Err(FormatError::Syntax(_))));
    }
}
