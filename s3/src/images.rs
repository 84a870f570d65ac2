//! Images kept in a store, for every provider that caches images on its hosts: where an
//! image's file comes from, fetching it into a host's cache (checked against its SHA-256),
//! and uploading it once (content-addressed, resumable, described with hive's tags).

use crate::store::{tags, Store};
use hive_sdk::provider::Target;
use hive_sdk::Value;
use std::path::Path;

/// Where an image's file comes from when it is kept in a store.
pub enum ImageSource<'a> {
    /// `s3://bucket/key`: an object already there, read into the cache.
    Object { bucket: &'a str, key: &'a str },
    /// Anything else: fetched once, then uploaded into the store.
    Elsewhere,
}

pub fn image_source(source: &str) -> ImageSource<'_> {
    match crate::store::parse_s3_url(source) {
        Some((bucket, key)) => ImageSource::Object { bucket, key },
        None => ImageSource::Elsewhere,
    }
}

/// Downloads the object `key` in `bucket` of the store's server (`Object`), or the store's
/// image with the SHA-256 `expected` (no key), into `dest`, checked against `expected`: its
/// SHA-256. Nothing is left at `dest` when it fails.
pub fn download(
    store: &Value,
    object: Option<(&str, &str)>,
    expected: Option<&str>,
    dest: &Path,
) -> Result<String, String> {
    let opened = Store::open_in(store, object.map(|(bucket, _)| bucket))?;
    let key = match (object, expected) {
        (Some((_, key)), _) => key.to_string(),
        (None, Some(sha256)) => opened.image_key(&sha256.to_lowercase()),
        (None, None) => return Err("no image to download: no key, no digest".into()),
    };
    match opened.bucket.download(&key, expected, dest) {
        Ok((_, digest)) => Ok(digest),
        Err(e) => {
            let _ = std::fs::remove_file(dest);
            Err(e.to_string())
        }
    }
}

/// Whether the store has the image with this SHA-256.
pub fn has_image(store: &Value, sha256: &str) -> Result<bool, String> {
    let opened = Store::open(store)?;
    opened
        .bucket
        .exists(&opened.image_key(&sha256.to_lowercase()))
        .map_err(|e| e.to_string())
}

/// The URL of the store's image with this SHA-256, when the store has it.
pub fn stored_url(store: &Value, sha256: &str) -> Result<Option<String>, String> {
    let opened = Store::open(store)?;
    let key = opened.image_key(&sha256.to_lowercase());
    let there = opened.bucket.exists(&key).map_err(|e| e.to_string())?;
    Ok(there.then(|| opened.bucket.url_of(&key)))
}

/// Uploads the image file at `path` (content `sha256`) into the store unless it is there: in
/// parts, resumable (what was sent is recorded under hive's data directory), then described
/// beside it with the tags of `target`. Its URL in the store.
pub fn upload(
    store: &Value,
    path: &Path,
    sha256: &str,
    target: &Target<'_>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<String, String> {
    let opened = Store::open(store)?;
    let key = opened.image_key(sha256);
    let dir = hive_sdk::identity::data_dir().join("uploads");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    progress(&format!("uploading into {}", opened.url));
    let uploaded = opened
        .bucket
        .upload_file(
            path,
            &key,
            sha256,
            crate::upload::PART_SIZE,
            &dir.join(format!("{sha256}.json")),
        )
        .map_err(|e| e.to_string())?;
    opened
        .describe_image(
            sha256,
            uploaded.size,
            &tags(target.lineage, &target.address.to_string()),
        )
        .map_err(|e| e.to_string())?;
    if uploaded.parts_resumed > 0 {
        progress(&format!(
            "upload resumed: {} parts were sent by an interrupted try, {} bytes sent now",
            uploaded.parts_resumed, uploaded.bytes_sent
        ));
    }
    Ok(opened.bucket.url_of(&key))
}
