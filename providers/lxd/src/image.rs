//! `image` with `driver = "lxd"`: an LXD image imported from local files, either a unified
//! tarball (`source`) or split metadata (`source`) and root filesystem (`rootfs`, a squashfs
//! or tarball). Identified by its fingerprint (SHA-256 of the file, or of both files one
//! after the other), which hive computes first: an image the daemon already has is not sent
//! again, so each image is imported once per host. hive marks the images it imported
//! (`hive.lineage` and `hive.address` properties) and deletes only those, and only when no
//! instance on the daemon still uses them. A file rebuilt in place is noticed at plan time
//! (its modification time is recorded; only then is it hashed again) and replaces the image.

use crate::api::{Image, Instance};
use crate::client::{url_part, Body, Client};
use crate::host::Clients;
use crate::lx;
use hive_s3::images::{self, ImageSource};
use hive_sdk::problem::Problem;
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, DeleteRequest, PlanRequest, PlanResponse, ProviderError,
    ReadRequest, ReadResponse, Target,
};
use hive_sdk::schema::{self, computed, optional, Schema};
use hive_sdk::{Type, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// An LXD image: every driver's, with a split image's root filesystem, and when its files
/// last changed.
pub fn schema() -> Schema {
    let own = schema::schema(
        vec![
            optional("rootfs", Type::String)
                .replaces()
                .about("a split image: the root filesystem beside the metadata in source"),
            computed("source_mtime", Type::String)
                .about("when the image's files last changed, as imported"),
        ],
        vec![],
    );
    hive_sdk::disk::image_schema()
        .merged(&own)
        .unwrap_or_else(|_| hive_sdk::disk::image_schema())
}

pub fn validate(config: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    if config.attr("source").is_none() {
        problems.push(Problem::whole("an LXD image needs source (a unified image tarball, or the metadata tarball with rootfs)"));
    }
    problems.extend(hive_sdk::disk::validate_stored_image(config));
    if hive_sdk::disk::store_of(config).is_some() && config.attr("rootfs").is_some() {
        problems.push(Problem::at(
            "store",
            "a split image (source and rootfs) is not kept in a store; a unified tarball is",
        ));
    }
    if let Some(s) = config.attr_str("source") {
        if s.starts_with("http://") || s.starts_with("https://") {
            problems.push(Problem::at(
                "source",
                format!("source = \"{s}\": LXD images are imported from local files"),
            ));
        }
    }
    problems
}

/// A path of the configuration, relative to the configuration's directory.
fn local_path(text: &str, base_dir: &Path) -> PathBuf {
    let path = Path::new(text.strip_prefix("file://").unwrap_or(text));
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }
}

/// The files of the image, in the order LXD hashes them.
fn files(config: &Value, base_dir: &Path) -> Vec<PathBuf> {
    ["source", "rootfs"]
        .iter()
        .filter_map(|a| config.attr_str(a))
        .map(|p| local_path(p, base_dir))
        .collect()
}

/// LXD's fingerprint of an image made of these files.
pub fn fingerprint(files: &[PathBuf]) -> Result<String, ProviderError> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for path in files {
        let mut f = std::fs::File::open(path)
            .map_err(|e| ProviderError::new(format!("reading {}: {e}", path.display())))?;
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| ProviderError::new(format!("reading {}: {e}", path.display())))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// When the newest of the files last changed (seconds and nanoseconds since the epoch), or
/// `None` when one cannot be read.
fn files_mtime(files: &[PathBuf]) -> Option<String> {
    let mut newest = UNIX_EPOCH;
    for file in files {
        newest = newest.max(std::fs::metadata(file).and_then(|m| m.modified()).ok()?);
    }
    let since = newest.duration_since(UNIX_EPOCH).ok()?;
    Some(format!("{}.{:09}", since.as_secs(), since.subsec_nanos()))
}

/// An image whose files were rebuilt since hive imported them is made anew (and with it the
/// instances made from it). The files are hashed again only when their modification time is
/// not the one recorded; files that are gone leave the imported image as it is.
pub fn plan(request: &PlanRequest<'_>, mut proposal: PlanResponse) -> PlanResponse {
    let Some(prior) = request.prior else {
        return proposal;
    };
    if !proposal.requires_replace.is_empty() {
        return proposal;
    }
    let files = files(request.config, request.target.base_dir);
    let Some(mtime) = files_mtime(&files) else {
        return proposal;
    };
    let (Some(recorded), Some(old)) = (prior.attr_str("source_mtime"), prior.attr_str("id")) else {
        return proposal;
    };
    if recorded == mtime {
        return proposal;
    }
    let Ok(new) = fingerprint(&files) else {
        return proposal;
    };
    if new != old {
        let short = |f: &str| f.get(..12).unwrap_or(f).to_string();
        proposal.requires_replace.push("source".into());
        proposal.notes.push(format!(
            "its files changed since they were imported: fingerprint {} is now {}",
            short(old),
            short(&new)
        ));
    }
    proposal
}

/// The multipart field of a split image's root filesystem: LXD takes a disk image
/// (`rootfs.img`, qcow2) as a VM image, and a squashfs or tarball (`rootfs`) as a container's.
fn rootfs_part(rootfs: &Path) -> &'static str {
    if hive_sdk::disk::is_qcow2(rootfs) {
        "rootfs.img"
    } else {
        "rootfs"
    }
}

fn get(client: &Client, fingerprint: &str) -> Result<Option<Image>, ProviderError> {
    client
        .get_opt(&format!("/1.0/images/{}", url_part(fingerprint)))
        .map_err(lx(format!("looking up image {fingerprint}")))
}

fn state_of(
    config: &Value,
    image: &Image,
    mtime: Option<&str>,
    stored_at: Option<String>,
) -> ApplyResponse {
    let mut state = config.as_map().cloned().unwrap_or_default();
    state.insert(
        "stored_at".into(),
        stored_at.map_or(Value::Null, Value::String),
    );
    state.insert("id".into(), Value::string(&image.fingerprint));
    state.insert("size".into(), Value::Number(image.size as f64));
    state.insert(
        "source_mtime".into(),
        mtime.map(Value::string).unwrap_or(Value::Null),
    );
    state.insert("path".into(), Value::Null);
    ApplyResponse {
        state: Value::Map(state),
        id: image.fingerprint.clone(),
    }
}

/// The files an image is imported from: its own, or one downloaded from its store (kept
/// until the import is done), with where it is kept in the store.
struct Sources {
    files: Vec<PathBuf>,
    _downloaded: Option<hive_sdk::scratch::Scratch>,
    /// Its URL in the store: known already, or `None` until the files are uploaded.
    stored_at: Option<String>,
}

/// Where the image's files come from, for an image kept in a store: an `s3://` source and a
/// local file that is gone (its `sha256` given) are downloaded from the store.
fn sources(config: &Value, request: &ApplyRequest<'_>) -> Result<Sources, ProviderError> {
    let own = files(config, request.target.base_dir);
    let Some(store) = hive_sdk::disk::store_of(config) else {
        return Ok(Sources {
            files: own,
            _downloaded: None,
            stored_at: None,
        });
    };
    let expected = config.attr_str("sha256");
    let source = config.attr_str("source").unwrap_or_default();
    let object = match images::image_source(source) {
        ImageSource::Object { bucket, key } => Some((bucket, key)),
        ImageSource::Elsewhere if own.iter().all(|f| f.exists()) || expected.is_none() => {
            return Ok(Sources {
                files: own,
                _downloaded: None,
                stored_at: None,
            })
        }
        ImageSource::Elsewhere => None,
    };
    let scratch = hive_sdk::scratch::Scratch::new("image", "tar")?;
    (request.progress)(&format!(
        "downloading {}",
        if object.is_some() {
            source
        } else {
            "from its store"
        }
    ));
    images::download(store, object, expected, &scratch.0).map_err(ProviderError::new)?;
    let stored_at = match object {
        Some(_) => source.to_string(),
        None => hive_s3::store::Store::open(store)
            .map(|s| {
                s.bucket
                    .url_of(&s.image_key(&expected.unwrap_or_default().to_lowercase()))
            })
            .map_err(ProviderError::new)?,
    };
    Ok(Sources {
        files: vec![scratch.0.clone()],
        _downloaded: Some(scratch),
        stored_at: Some(stored_at),
    })
}

pub fn create(
    clients: &Clients,
    request: &ApplyRequest<'_>,
) -> Result<ApplyResponse, ProviderError> {
    let config = request.config;
    let client = clients.get(config)?;
    let expected = config.attr_str("sha256").map(str::to_lowercase);
    // An image the daemon has already needs none of its files here.
    if let (Some(sum), Some(_)) = (&expected, hive_sdk::disk::store_of(config)) {
        if let Some(image) = get(&client, sum)? {
            // Its file goes into the store only if it is still what the daemon has.
            let own = files(config, request.target.base_dir);
            let same =
                own.iter().all(|f| f.exists()) && fingerprint(&own).ok().as_ref() == Some(sum);
            let source = config.attr_str("source").unwrap_or_default();
            let stored_at = match images::image_source(source) {
                ImageSource::Object { .. } => Some(source.to_string()),
                ImageSource::Elsewhere if same => keep_in_store(config, request, &own, sum)?,
                ImageSource::Elsewhere => None,
            };
            return Ok(state_of(config, &image, None, stored_at));
        }
    }
    let sources = sources(config, request)?;
    let files = sources.files.clone();
    // Taken before hashing: a file changed meanwhile is noticed at the next plan.
    let mtime = match sources.stored_at {
        None => files_mtime(&files),
        Some(_) => None,
    };
    let mtime = mtime.as_deref();
    (request.progress)("computing the fingerprint");
    let fingerprint = fingerprint(&files)?;
    if let Some(sum) = expected.as_ref().filter(|sum| **sum != fingerprint) {
        return Err(ProviderError::new(format!(
            "the image's files have SHA-256 {fingerprint}, not {sum} (sha256)"
        )));
    }
    let stored_at = match sources.stored_at.clone() {
        Some(url) => Some(url),
        None => keep_in_store(config, request, &files, &fingerprint)?,
    };
    // What this address imported before, from files since rebuilt, once nothing uses it.
    remove_unused(
        &client,
        imports(&client, &request.target, |f| f != fingerprint)?,
    )?;
    if let Some(image) = get(&client, &fingerprint)? {
        return Ok(state_of(config, &image, mtime, stored_at));
    }
    let size: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    (request.progress)(&format!("importing {} MiB into LXD", size >> 20));
    let mut properties = format!(
        "hive.lineage={}&hive.address={}",
        url_part(request.target.lineage),
        url_part(&request.target.address.to_string())
    );
    if !request.target.state.is_empty() {
        properties.push_str(&format!("&hive.state={}", url_part(request.target.state)));
    }
    if let Some(expires) = request.target.expires {
        properties.push_str(&format!("&hive.expires={expires}"));
    }
    let headers = [("X-LXD-properties", properties)];
    let parts;
    let body = match files.as_slice() {
        [one] => Body::File(one),
        [meta, rootfs] => {
            parts = [
                ("metadata", meta.as_path()),
                (rootfs_part(rootfs), rootfs.as_path()),
            ];
            Body::Multipart(&parts)
        }
        _ => return Err(ProviderError::new("an LXD image needs source")),
    };
    let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let sent = client.send(
        "POST",
        "/1.0/images",
        &body,
        &headers,
        Duration::from_secs(1800),
        Some(request.cancel),
    );
    // Imported meanwhile by someone else (another hive run): the same image, by content.
    if sent.is_err() {
        if let Some(image) = get(&client, &fingerprint)? {
            return Ok(state_of(config, &image, mtime, stored_at));
        }
    }
    let metadata = sent
        .map_err(lx(format!(
            "importing {} into LXD at {} (is it an LXD image: a tarball with metadata.yaml and rootfs/, or metadata plus a rootfs squashfs?)",
            shown.join(" and "),
            client.label
        )))?;
    let got = metadata
        .get("fingerprint")
        .and_then(serde_json::Value::as_str)
        .unwrap_or(&fingerprint)
        .to_string();
    let image = get(&client, &got)?.ok_or_else(|| {
        ProviderError::new(format!("LXD imported image {got} but does not show it"))
    })?;
    drop(sources);
    Ok(state_of(config, &image, mtime, stored_at))
}

/// Uploads a unified image's file into the image's store, if it names one and the file is
/// here: its URL there.
fn keep_in_store(
    config: &Value,
    request: &ApplyRequest<'_>,
    files: &[PathBuf],
    fingerprint: &str,
) -> Result<Option<String>, ProviderError> {
    let (Some(store), [file]) = (hive_sdk::disk::store_of(config), files) else {
        return Ok(None);
    };
    if !file.exists() {
        return Ok(None);
    }
    images::upload(store, file, fingerprint, &request.target, request.progress)
        .map(Some)
        .map_err(ProviderError::new)
}

pub fn read(clients: &Clients, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
    let client = clients.get(request.prior)?;
    let found = if request.id.is_empty() {
        // An import that failed before its id was recorded: found by its properties.
        !imports(&client, &request.target, |_| true)?.is_empty()
    } else {
        get(&client, request.id)?.is_some()
    };
    Ok(if found {
        ReadResponse::Found(request.prior.clone())
    } else {
        ReadResponse::Gone
    })
}

/// Deletes the recorded image, or with no id recorded whatever this address imported, if
/// hive imported it and nothing uses it. (Never every import of the address: during a
/// create-before-destroy replacement the new image has the same properties.)
pub fn delete(clients: &Clients, request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
    let client = clients.get(request.prior)?;
    let target = &request.target;
    let candidates = if request.id.is_empty() {
        imports(&client, target, |_| true)?
    } else {
        get(&client, request.id)?
            .filter(|image| imported_for(image, target))
            .into_iter()
            .collect()
    };
    remove_unused(&client, candidates)
}

/// Whether hive imported the image for this address of this state (its properties say so).
fn imported_for(image: &Image, target: &Target<'_>) -> bool {
    let property = |key: &str| image.properties.get(key).map(String::as_str);
    property("hive.lineage") == Some(target.lineage)
        && property("hive.address") == Some(target.address.to_string().as_str())
}

/// The images imported for the target whose fingerprint `select` takes.
fn imports(
    client: &Client,
    target: &Target<'_>,
    select: impl Fn(&str) -> bool,
) -> Result<Vec<Image>, ProviderError> {
    let images: Vec<Image> = client.get("/1.0/images?recursion=1").map_err(lx(format!(
        "listing the images {} imported",
        target.address
    )))?;
    Ok(images
        .into_iter()
        .filter(|image| imported_for(image, target) && select(&image.fingerprint))
        .collect())
}

/// Deletes those of the images that no instance on the daemon uses.
pub(crate) fn remove_unused(client: &Client, images: Vec<Image>) -> Result<(), ProviderError> {
    if images.is_empty() {
        return Ok(());
    }
    let instances: Vec<Instance> = client.get("/1.0/instances?recursion=1").map_err(lx(
        "listing the instances that may use the image".to_string(),
    ))?;
    for image in images {
        let fingerprint = &image.fingerprint;
        if instances
            .iter()
            .any(|i| i.config.get("volatile.base_image") == Some(fingerprint))
        {
            continue;
        }
        client
            .delete(&format!("/1.0/images/{}", url_part(fingerprint)))
            .map_err(lx(format!("deleting image {fingerprint}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qcow2_rootfs_is_sent_as_a_vm_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (disk, squashfs) = (dir.path().join("disk.qcow2"), dir.path().join("root.sfs"));
        std::fs::write(&disk, b"QFI\xfb\0\0\0\x03rest").expect("write");
        std::fs::write(&squashfs, b"hsqs and more").expect("write");
        assert_eq!(rootfs_part(&disk), "rootfs.img");
        assert_eq!(rootfs_part(&squashfs), "rootfs");
        assert_eq!(rootfs_part(&dir.path().join("missing")), "rootfs");
    }
}
