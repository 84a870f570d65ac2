//! Who an object hive made belongs to: the tag every backend object carries (`hive scan`
//! finds what dead jobs left by it), and the small records hive keeps beside objects whose
//! backend keeps no metadata of its own.

use crate::host_files::HostFiles;
use crate::provider::Target;
use std::path::{Path, PathBuf};

/// The state an object belongs to, and when it may be reaped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tag {
    /// The state's lineage.
    pub lineage: String,
    /// Where the state lives: a state file's absolute path, or an S3 object's URL.
    #[serde(default)]
    pub state: String,
    /// The object's address in that state (`instance.node[0]`).
    pub address: String,
    /// When the object expires (`ttl`), in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
}

impl Tag {
    pub fn of(target: &Target<'_>) -> Tag {
        Tag {
            lineage: target.lineage.to_string(),
            state: target.state.to_string(),
            address: target.address.to_string(),
            expires: target.expires,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A tag as [`Tag::to_json`] wrote it; `None` for anything else.
    pub fn from_json(text: &str) -> Option<Tag> {
        serde_json::from_str(text.trim()).ok()
    }

    /// The expiry as text for a backend's key-value metadata; empty when there is none.
    pub fn expires_text(&self) -> String {
        self.expires.map(|e| e.to_string()).unwrap_or_default()
    }

    pub fn parse_expires(text: Option<&str>) -> Option<u64> {
        text.and_then(|t| t.trim().parse().ok())
    }
}

/// A directory of tag records on a host, one file per object (`NAME.tag`), for backends
/// that keep no metadata (libvirt volumes, seeds and networks; a bridge's dnsmasq).
pub struct Records<'a> {
    files: &'a dyn HostFiles,
    dir: PathBuf,
}

/// What a records directory holds, for [`Records::list`].
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub name: String,
    pub tag: Tag,
}

impl<'a> Records<'a> {
    /// The records of `what` (`libvirt-volume`) under hive's directory `data_dir` on the
    /// host whose files these are.
    pub fn new(files: &'a dyn HostFiles, data_dir: &Path, what: &str) -> Records<'a> {
        Records {
            files,
            dir: data_dir.join("tags").join(what),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        // Object names are the backend's: keep them from leaving the directory.
        let safe: String = name
            .chars()
            .map(|c| if c == '/' { '_' } else { c })
            .collect();
        self.dir.join(format!("{safe}.tag"))
    }

    pub fn write(&self, name: &str, tag: &Tag) -> Result<(), String> {
        self.files
            .create_dir_all(&self.dir)
            .and_then(|()| self.files.write(&self.path(name), tag.to_json().as_bytes()))
            .map_err(|e| format!("recording hive's tag of {name}: {e}"))
    }

    pub fn read(&self, name: &str) -> Option<Tag> {
        self.files
            .read_text(&self.path(name))
            .and_then(|t| Tag::from_json(&t))
    }

    /// Forgets an object's tag: it is gone, or no longer hive's.
    pub fn remove(&self, name: &str) {
        let _ = self.files.remove(&self.path(name));
    }

    /// Every record, by object name; a directory that does not exist holds none.
    pub fn list(&self) -> Vec<Record> {
        let Ok(entries) = self.files.list(&self.dir) else {
            return Vec::new();
        };
        entries
            .into_iter()
            .filter(|e| e.is_file)
            .filter_map(|e| {
                let name = e.name.strip_suffix(".tag")?.to_string();
                let tag = self.read(&name)?;
                Some(Record { name, tag })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_files::LocalFiles;

    fn tag() -> Tag {
        Tag {
            lineage: "L1".into(),
            state: "/w/.hive/state.json".into(),
            address: "volume.data[\"a\"]".into(),
            expires: Some(1_800_000_000),
        }
    }

    #[test]
    fn tags_round_trip_through_their_text() {
        assert_eq!(Tag::from_json(&tag().to_json()), Some(tag()));
        assert_eq!(Tag::from_json("not a tag"), None);
        let old = r#"{"lineage":"L","address":"a.b"}"#;
        let read = Tag::from_json(old).map(|t| (t.state, t.expires));
        assert_eq!(read, Some((String::new(), None)));
    }

    #[test]
    fn records_are_written_listed_and_removed() {
        let dir = std::env::temp_dir().join(format!("hive-tags-{}", std::process::id()));
        let files = LocalFiles;
        let records = Records::new(&files, &dir, "things");
        assert!(records.list().is_empty());
        records
            .write("vol/1", &tag())
            .map_err(|e| e.to_string())
            .ok();
        assert_eq!(records.read("vol/1"), Some(tag()));
        assert_eq!(
            records.list(),
            vec![Record {
                name: "vol_1".into(),
                tag: tag()
            }]
        );
        records.remove("vol/1");
        assert!(records.list().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
