//! `image` with `driver = "lxd"`: an LXD image imported from local files, either a unified
//! tarball (`source`) or split metadata (`source`) and root filesystem (`rootfs`, a squashfs
//! or tarball). Identified by its fingerprint (SHA-256 of the file, or of both files one
//! after the other), which hive computes first: an image the daemon already has is not sent
//! again, so each image is imported once per host. hive marks the images it imported
//! (`hive.lineage` and `hive.address` properties) and deletes only those, and only when no
//! instance on the daemon still uses them.

use crate::api::{Image, Instance};
use crate::client::{url_part, Body, Client};
use crate::host::Clients;
use crate::lx;
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, DeleteRequest, ProviderError, ReadRequest, ReadResponse,
};
use hive_sdk::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn validate(config: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if config.attr("source").is_none() {
        problems.push("an LXD image needs source (a unified image tarball, or the metadata tarball with rootfs)".into());
    }
    if let Some(s) = config.attr_str("source") {
        if s.starts_with("http://") || s.starts_with("https://") {
            problems.push(format!(
                "source = \"{s}\": LXD images are imported from local files"
            ));
        }
    }
    for unused in ["sha256", "kernel", "initrd", "cmdline"] {
        if config.attr(unused).is_some() {
            problems.push(format!(
                "{unused}: not used by LXD images (they are identified by their fingerprint)"
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

fn get(client: &Client, fingerprint: &str) -> Result<Option<Image>, ProviderError> {
    client
        .get_opt(&format!("/1.0/images/{}", url_part(fingerprint)))
        .map_err(lx(format!("looking up image {fingerprint}")))
}

fn state_of(config: &Value, image: &Image) -> ApplyResponse {
    let mut state = config.as_map().cloned().unwrap_or_default();
    state.insert("id".into(), Value::string(&image.fingerprint));
    state.insert("size".into(), Value::Number(image.size as f64));
    state.insert("path".into(), Value::Null);
    state.insert("kernel_path".into(), Value::Null);
    state.insert("initrd_path".into(), Value::Null);
    ApplyResponse {
        state: Value::Map(state),
        id: image.fingerprint.clone(),
    }
}

pub fn create(
    clients: &Clients,
    request: &ApplyRequest<'_>,
) -> Result<ApplyResponse, ProviderError> {
    let config = request.config;
    let client = clients.get(config)?;
    let files = files(config, request.target.base_dir);
    (request.progress)("computing the fingerprint");
    let fingerprint = fingerprint(&files)?;
    if let Some(image) = get(&client, &fingerprint)? {
        return Ok(state_of(config, &image));
    }
    let size: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    (request.progress)(&format!("importing {} MiB into LXD", size >> 20));
    let properties = format!(
        "hive.lineage={}&hive.address={}",
        url_part(request.target.lineage),
        url_part(request.target.address)
    );
    let headers = [("X-LXD-properties", properties)];
    let parts;
    let body = match files.as_slice() {
        [one] => Body::File(one),
        [meta, rootfs] => {
            parts = [("metadata", meta.as_path()), ("rootfs", rootfs.as_path())];
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
            return Ok(state_of(config, &image));
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
    Ok(state_of(config, &image))
}

pub fn read(clients: &Clients, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
    let client = clients.get(request.prior)?;
    Ok(match get(&client, request.id)? {
        Some(_) => ReadResponse::Found(request.prior.clone()),
        None => ReadResponse::Gone,
    })
}

pub fn delete(clients: &Clients, request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
    let client = clients.get(request.prior)?;
    // No id recorded: the import was interrupted; its fingerprint comes from the files.
    let fingerprint = if request.id.is_empty() {
        match fingerprint(&files(request.prior, request.target.base_dir)) {
            Ok(f) => f,
            Err(_) => return Ok(()),
        }
    } else {
        request.id.to_string()
    };
    let Some(image) = get(&client, &fingerprint)? else {
        return Ok(());
    };
    // Only what hive imported for this address of this state, and only once nothing uses it.
    let property = |key: &str| image.properties.get(key).map(String::as_str);
    if property("hive.lineage") != Some(request.target.lineage)
        || property("hive.address") != Some(request.target.address)
    {
        return Ok(());
    }
    let instances: Vec<Instance> = client.get("/1.0/instances?recursion=1").map_err(lx(
        "listing the instances that may use the image".to_string(),
    ))?;
    if instances
        .iter()
        .any(|i| i.config.get("volatile.base_image") == Some(&image.fingerprint))
    {
        return Ok(());
    }
    client
        .delete(&format!("/1.0/images/{}", url_part(&fingerprint)))
        .map_err(lx(format!("deleting image {fingerprint}")))
}
