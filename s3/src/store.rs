//! A `store` block as the providers that keep things in it get it (the evaluated block, its
//! credentials lent for the command that runs): the bucket it names, and where hive keeps
//! what in it.
//!
//! Under the store's `prefix` (default `hive`):
//! - `images/sha256/<digest>`: an image's bytes, content-addressed, so one upload serves every
//!   configuration and host;
//! - the volume snapshots of [`crate::chunks`] (`chunks/`, `manifests/<volume>/`, `locks/`),
//!   one chunk store for every volume of the store, so volumes share chunks.

use crate::chunks::{ChunkStore, Chunking, Manifest};
use crate::{Bucket, Credentials, S3Config, S3Error, S3ErrorKind};
use hive_sdk::provider::Snapshotted;
use hive_sdk::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};

pub const DEFAULT_PREFIX: &str = "hive";

/// A store's bucket and prefix, ready to use.
#[derive(Clone)]
pub struct Store {
    pub bucket: Bucket,
    pub prefix: String,
    pub url: String,
}

/// The bucket settings of an evaluated `store` block.
pub fn config_of(store: &Value) -> Result<S3Config, String> {
    let text = |name: &str| {
        store
            .attr(name)
            .map(|v| v.unmarked())
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let bucket = text("bucket").ok_or("the store names no bucket")?;
    Ok(S3Config {
        endpoint: text("endpoint"),
        bucket,
        region: text("region"),
        access_key: text("access_key"),
        secret_key: text("secret_key"),
        profile: text("profile"),
        path_style: store
            .attr("path_style")
            .map(|v| v.unmarked())
            .and_then(Value::as_bool)
            .unwrap_or(true),
    })
}

/// The prefix of an evaluated `store` block, without surrounding slashes.
pub fn prefix_of(store: &Value) -> String {
    store
        .attr("prefix")
        .map(|v| v.unmarked())
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_PREFIX)
        .trim_matches('/')
        .to_string()
}

impl Store {
    /// The store an evaluated `store` block (or a resource's copy of it) describes, with the
    /// credentials found for it. Nothing is sent yet.
    pub fn open(store: &Value) -> Result<Store, String> {
        Store::open_in(store, None)
    }

    /// As [`Store::open`], in another bucket of the same server (an `s3://` source).
    pub fn open_in(store: &Value, bucket: Option<&str>) -> Result<Store, String> {
        let mut config = config_of(store)?;
        if let Some(bucket) = bucket {
            config.bucket = bucket.to_string();
        }
        let credentials = Credentials::find(&config)
            .map_err(|e| format!("no credentials for the store at {}: {e}", config.url()))?;
        let bucket = Bucket::connect(&config, &credentials).map_err(|e| e.to_string())?;
        let prefix = prefix_of(store);
        let url = if prefix.is_empty() {
            config.url()
        } else {
            format!("{}/{prefix}", config.url())
        };
        Ok(Store {
            bucket,
            prefix,
            url,
        })
    }

    fn key(&self, rest: &str) -> String {
        if self.prefix.is_empty() {
            rest.to_string()
        } else {
            format!("{}/{rest}", self.prefix)
        }
    }

    /// Where an image with this SHA-256 is kept.
    pub fn image_key(&self, sha256: &str) -> String {
        self.key(&format!("images/sha256/{sha256}"))
    }

    /// Describes the image with this SHA-256 beside it (`<key>.json`, S3-tagged too): its
    /// size and hive's tags (the state and address that uploaded it first). Kept as it is
    /// when there is one already: the image is shared by content.
    pub fn describe_image(
        &self,
        sha256: &str,
        size: u64,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), S3Error> {
        let description = serde_json::json!({
            "sha256": sha256,
            "size": size,
            "tags": tags,
        });
        let key = format!("{}.json", self.image_key(sha256));
        match self.bucket.put_tagged(
            &key,
            description.to_string().into_bytes(),
            crate::Condition::IfAbsent,
            tags,
        ) {
            Err(e) if e.kind != S3ErrorKind::Precondition => Err(e),
            _ => Ok(()),
        }
    }

    /// The chunk store every volume of this store shares.
    pub fn volumes(&self) -> ChunkStore {
        ChunkStore::new(self.bucket.clone(), &self.prefix)
    }
}

/// The store a volume's attributes name, opened, and the volume's name in it.
pub fn volume_store(
    volume: &Value,
    address: &hive_sdk::addr::InstanceAddr,
) -> Result<(Store, String), String> {
    let store = hive_sdk::disk::store_of(volume)
        .ok_or_else(|| format!("{address} names no store to keep it in"))?;
    Ok((
        Store::open(store)?,
        hive_sdk::disk::store_key_of(volume, address),
    ))
}

pub use hive_sdk::disk::parse_s3_url;

/// hive's tags on what it keeps in a store: which state and address it is of.
pub fn tags(lineage: &str, address: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("hive_lineage".to_string(), lineage.to_string()),
        ("hive_address".to_string(), address.to_string()),
    ])
}

/// A snapshot's tags (kept in its manifest, which has room for a long state location):
/// whose it is, where that state lives, and when it expires.
pub fn owner_tags(tag: &hive_sdk::tag::Tag) -> BTreeMap<String, String> {
    let mut tags = self::tags(&tag.lineage, &tag.address);
    tags.insert("hive_state".into(), tag.state.clone());
    if let Some(e) = tag.expires {
        tags.insert("hive_expires".into(), e.to_string());
    }
    tags
}

/// The tag of what a store keeps, from its tags.
pub fn tag_of(tags: &BTreeMap<String, String>) -> Option<hive_sdk::tag::Tag> {
    Some(hive_sdk::tag::Tag {
        lineage: tags.get("hive_lineage")?.clone(),
        state: tags.get("hive_state").cloned().unwrap_or_default(),
        address: tags.get("hive_address")?.clone(),
        expires: hive_sdk::tag::Tag::parse_expires(tags.get("hive_expires").map(String::as_str)),
    })
}

impl Store {
    /// Every volume snapshot in the store: its manifest's key and the manifest.
    pub fn all_snapshots(&self) -> Result<Vec<(String, Manifest)>, S3Error> {
        let volumes = self.volumes();
        let keys = volumes.snapshots("")?;
        keys.into_iter()
            .map(|key| volumes.manifest(&key).map(|m| (key, m)))
            .collect()
    }

    /// Removes one snapshot, then the chunks no snapshot refers to any more.
    pub fn remove_snapshot(&self, key: &str) -> Result<(), S3Error> {
        self.bucket.delete(key)?;
        self.volumes().collect().map(drop)
    }
}

impl Store {
    /// Writes a snapshot of the volume `name` from `reader` (only chunks the store lacks are
    /// sent), keeps its `keep` latest snapshots, and removes chunks no snapshot refers to
    /// any more (unless another hive is writing or removing: then the next snapshot does).
    pub fn snapshot(
        &self,
        name: &str,
        reader: impl Read,
        chunking: Chunking,
        tags: BTreeMap<String, String>,
        keep: usize,
        consistency: &str,
    ) -> Result<Snapshotted, S3Error> {
        let volumes = self.volumes();
        let written = volumes.write(name, reader, chunking, tags)?;
        // The snapshot is safe from here on: what fails now is said, and the next snapshot
        // prunes and collects again.
        let mut warnings = Vec::new();
        let pruned = volumes.prune(name, keep.max(1)).unwrap_or_else(|e| {
            warnings.push(format!("older snapshots were not pruned: {e}"));
            0
        });
        if pruned > 0 {
            if let Err(e) = volumes.collect() {
                warnings.push(format!("chunks no snapshot uses were not removed yet: {e}"));
            }
        }
        Ok(Snapshotted {
            location: self.bucket.url_of(&written.key),
            size: written.manifest.size,
            chunks: written.manifest.chunks.len(),
            chunks_sent: written.chunks_sent,
            bytes_sent: written.bytes_sent,
            pruned,
            consistency: consistency.to_string(),
            warnings,
        })
    }

    /// Writes the latest snapshot of the volume `name` to `out`, verified; `None` when the
    /// store has none.
    pub fn restore_latest(
        &self,
        name: &str,
        out: &mut impl Write,
    ) -> Result<Option<(Manifest, String)>, S3Error> {
        let volumes = self.volumes();
        let Some(key) = volumes.snapshots(name)?.pop() else {
            return Ok(None);
        };
        let manifest = volumes.manifest(&key)?;
        volumes.read(&manifest, out)?;
        Ok(Some((manifest, self.bucket.url_of(&key))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_block_gives_its_bucket_settings() {
        let block = Value::map([
            ("endpoint", Value::string("http://127.0.0.1:9000")),
            ("bucket", Value::string("hive")),
            ("access_key", Value::string("k").mark_sensitive_if(true)),
            ("secret_key", Value::string("s").mark_sensitive_if(true)),
            ("path_style", Value::Bool(false)),
        ]);
        let config = config_of(&block).unwrap();
        assert_eq!(config.bucket, "hive");
        assert_eq!(config.access_key.as_deref(), Some("k"));
        assert!(!config.path_style);
        assert_eq!(prefix_of(&block), "hive");
        assert_eq!(
            prefix_of(&Value::map([("prefix", Value::string("/ci/"))])),
            "ci"
        );
        assert!(config_of(&Value::map([("bucket", Value::Null)])).is_err());
    }
}
