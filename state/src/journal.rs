//! One recorded change, and its checksummed line in a journal: `SHA256HEX SERIAL JSON\n`, the
//! digest covering `SERIAL JSON`.

use crate::backend::StateError;
use crate::model::{LegacyAddress, ObjectAddr, OutputState, ResourceState, State};
use hive_sdk::addr::InstanceAddr;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", from = "RecordedEntry")]
pub enum Entry {
    Put {
        resource: ResourceState,
    },
    Remove {
        address: InstanceAddr,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deposed: Option<String>,
    },
    Outputs {
        outputs: BTreeMap<String, OutputState>,
    },
}

/// An entry as any version of the journal writes it (a removed deposed object was once
/// `ADDRESS#deposed-ID`).
#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum RecordedEntry {
    Put {
        resource: ResourceState,
    },
    Remove {
        address: LegacyAddress,
        #[serde(default)]
        deposed: Option<String>,
    },
    Outputs {
        outputs: BTreeMap<String, OutputState>,
    },
}

impl From<RecordedEntry> for Entry {
    fn from(e: RecordedEntry) -> Entry {
        match e {
            RecordedEntry::Put { resource } => Entry::Put { resource },
            RecordedEntry::Remove { address, deposed } => Entry::Remove {
                address: address.instance,
                deposed: deposed.or(address.deposed),
            },
            RecordedEntry::Outputs { outputs } => Entry::Outputs { outputs },
        }
    }
}

impl Entry {
    /// Removing one object.
    pub fn remove(object: &ObjectAddr) -> Entry {
        Entry::Remove {
            address: object.instance.clone(),
            deposed: object.deposed.clone(),
        }
    }

    pub fn apply(self, state: &mut State) {
        match self {
            Entry::Put { resource } => state.put(resource),
            Entry::Remove { address, deposed } => {
                state.remove(&ObjectAddr {
                    instance: address,
                    deposed,
                });
            }
            Entry::Outputs { outputs } => state.outputs = outputs,
        }
    }
}

/// The journal line of an entry.
pub fn encode_line(serial: u64, entry: &Entry) -> Result<String, StateError> {
    let json = serde_json::to_string(entry).map_err(|e| StateError::Encode {
        doing: "recording a step".into(),
        error: e.to_string(),
    })?;
    let payload = format!("{serial} {json}");
    Ok(format!(
        "{} {payload}\n",
        hex(&Sha256::digest(payload.as_bytes()))
    ))
}

/// An entry and its serial from a line (without its newline).
pub fn decode_line(line: &[u8]) -> Result<(u64, Entry), String> {
    let line = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_string())?;
    let (digest, payload) = line.split_once(' ').ok_or("no checksum")?;
    if hex(&Sha256::digest(payload.as_bytes())) != digest {
        return Err("checksum mismatch".into());
    }
    let (serial, json) = payload.split_once(' ').ok_or("no serial")?;
    let serial = serial.parse().map_err(|_| "bad serial".to_string())?;
    let entry = serde_json::from_str(json).map_err(|e| e.to_string())?;
    Ok((serial, entry))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_old_removals_of_deposed_objects_are_understood() {
        let entry = Entry::Remove {
            address: "command.a[\"k#1\"]".parse().unwrap(),
            deposed: Some("9f".into()),
        };
        let line = encode_line(4, &entry).unwrap();
        assert_eq!(decode_line(line.trim_end().as_bytes()), Ok((4, entry)));
        let old = r#"{"op":"remove","address":"command.a#deposed-1f2e"}"#;
        let payload = format!("7 {old}");
        let line = format!("{} {payload}", hex(&Sha256::digest(payload.as_bytes())));
        assert_eq!(
            decode_line(line.as_bytes()).map(|(_, e)| e),
            Ok(Entry::Remove {
                address: "command.a".parse().unwrap(),
                deposed: Some("1f2e".into()),
            })
        );
    }
}
