//! The state model and its versioned JSON format (SPEC section 4).

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
    /// Every recorded object by address; written as a list sorted by address.
    #[serde(default, with = "resource_list")]
    pub resources: BTreeMap<String, ResourceState>,
}

/// Resources are a list in the file (what users and tools expect to read) and a map in memory
/// (what recording one step needs).
mod resource_list {
    use super::ResourceState;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<String, ResourceState>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.values())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, ResourceState>, D::Error> {
        let list = Vec::<ResourceState>::deserialize(d)?;
        let mut map = BTreeMap::new();
        for r in list {
            if map.contains_key(&r.address) {
                return Err(serde::de::Error::custom(format!(
                    "resource {} is recorded twice",
                    r.address
                )));
            }
            map.insert(r.address.clone(), r);
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
pub struct ResourceState {
    /// The instance address, `instance.node[0]`.
    pub address: String,
    pub kind: String,
    pub driver: String,
    /// The backend's own id for the object (domain UUID, container name...).
    pub id: Option<String>,
    pub attributes: serde_json::Value,
    /// Addresses this object depended on when it was created: destroy order comes from here.
    #[serde(default)]
    pub dependencies: Vec<String>,
    pub status: Status,
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
        }
    }

    pub fn to_json(&self) -> String {
        // A State holds only strings, numbers and JSON values: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn resource(&self, address: &str) -> Option<&ResourceState> {
        self.resources.get(address)
    }

    /// Inserts or replaces the record of one object.
    pub fn put(&mut self, resource: ResourceState) {
        self.resources.insert(resource.address.clone(), resource);
    }

    pub fn remove(&mut self, address: &str) -> Option<ResourceState> {
        self.resources.remove(address)
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
            address: "instance.node[0]".into(),
            kind: "instance".into(),
            driver: "libvirt".into(),
            id: Some("uuid".into()),
            attributes: serde_json::json!({ "memory": "1GiB" }),
            dependencies: vec!["bridge.lan".into()],
            status: Status::Creating,
        });
        let text = s.to_json();
        assert!(text.contains("\"status\": \"creating\""));
        assert_eq!(State::from_json(&text), Ok(s));
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
