//! `image`: a disk image (qcow2 or raw) or a kernel (`kernel`, `initrd`, `cmdline`) for direct
//! kernel boot, fetched from a path, `file://` or `http(s)://` URL, verified against `sha256`,
//! and cached once per host in hive's pool under a name made of its digest. Every volume and
//! instance built on it shares the one copy.

use crate::host::{Connections, Host};
use crate::pool::{self, Pool};
use crate::{cache, object};
use hive_s3::images::{self, ImageSource};
use hive_sdk::disk::QCOW2_MAGIC;
use hive_sdk::host_files::HostFiles;
use hive_sdk::problem::Problem;
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, DeleteRequest, ProviderError, ReadRequest, ReadResponse,
};
use hive_sdk::schema::{self, computed, optional, Schema};
use hive_sdk::scratch::Scratch;
use hive_sdk::{Type, Value};
use std::path::Path;

/// A libvirt image: every driver's, with a checksum and what a direct kernel boot needs.
pub fn schema() -> Schema {
    let own = schema::schema(
        vec![
            optional("kernel", Type::String).replaces(),
            optional("initrd", Type::String).replaces(),
            optional("cmdline", Type::String).replaces(),
            computed("kernel_path", Type::String),
            computed("initrd_path", Type::String),
        ],
        vec![],
    );
    // Both are declarations of this crate's and the sdk's that share no names.
    hive_sdk::disk::image_schema()
        .merged(&own)
        .unwrap_or_else(|_| hive_sdk::disk::image_schema())
}

pub fn validate(config: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let format = config.attr_str("format");
    match format {
        None | Some("qcow2") | Some("raw") => {
            if config.attr("source").is_none() {
                problems.push(Problem::whole(
                    "source is required (a path, file:// or http(s):// URL)",
                ));
            }
        }
        Some("kernel") => {
            if config.attr("kernel").is_none() {
                problems.push(Problem::at(
                    "format",
                    "format = \"kernel\" needs kernel (and usually initrd)",
                ));
            }
        }
        Some(other) => problems.push(Problem::at(
            "format",
            format!(
                "format = \"{other}\": expected \"qcow2\", \"raw\" or \"kernel\" for the libvirt driver"
            ),
        )),
    }
    problems.extend(hive_sdk::disk::validate_stored_image(config));
    if crate::stored::store_of(config).is_some() && config.attr_str("format") == Some("kernel") {
        problems.push(Problem::at(
            "store",
            "kernel images are not kept in a store; disk images (qcow2, raw) are",
        ));
    }
    problems
}

pub fn create(
    connections: &Connections,
    request: &ApplyRequest<'_>,
) -> Result<ApplyResponse, ProviderError> {
    let config = request.config;
    let site = connections.get(&Host::of(config))?;
    let base = request.target.base_dir;
    let mut state = object(config);
    // A kernel (and initrd) for direct boot: alone (format = "kernel"), or beside a disk
    // whose root file system it mounts.
    let (kernel_path, initrd_path) = match config.attr_str("kernel") {
        Some(kernel) => {
            let kernel_path = cache(&site, request, base, kernel, None, "kernel")?;
            let initrd_path = match config.attr_str("initrd") {
                Some(initrd) => Some(cache(&site, request, base, initrd, None, "initrd")?),
                None => None,
            };
            (Some(kernel_path), initrd_path)
        }
        None => (None, None),
    };
    let as_value = |p: &Option<String>| p.as_deref().map_or(Value::Null, Value::string);
    state.insert("kernel_path".into(), as_value(&kernel_path));
    state.insert("initrd_path".into(), as_value(&initrd_path));
    let id = if config.attr_str("format") == Some("kernel") {
        let kernel_path = kernel_path.unwrap_or_default();
        let size = file_len(&*site.files, Path::new(&kernel_path));
        state.insert("path".into(), Value::String(kernel_path.clone()));
        state.insert("size".into(), Value::Number(size as f64));
        file_name(&kernel_path)
    } else {
        let source = config.attr_str("source").unwrap_or_default();
        let expected = config.attr_str("sha256");
        let what = config.attr_str("format").unwrap_or("disk");
        let path = match crate::stored::store_of(config) {
            None => cache(&site, request, base, source, expected, what)?,
            Some(store) => {
                let (path, url) = cache_stored(&site, request, store, source, expected, what)?;
                state.insert("stored_at".into(), Value::String(url));
                path
            }
        };
        let format = detect_format(&*site.files, Path::new(&path));
        if let Some(declared) = config.attr_str("format") {
            if declared != format {
                return Err(ProviderError::new(format!(
                    "{source} is a {format} image, but format = \"{declared}\""
                )));
            }
        }
        state.insert("path".into(), Value::String(path.clone()));
        state.insert(
            "size".into(),
            Value::Number(virtual_size(&*site.files, Path::new(&path)) as f64),
        );
        file_name(&path)
    };
    state.insert("id".into(), Value::String(id.clone()));
    let files: Vec<String> = ["path", "kernel_path", "initrd_path"]
        .iter()
        .filter_map(|k| state.get(*k).and_then(Value::as_str))
        .map(file_name)
        .collect();
    use_cached(
        &site,
        config,
        &files,
        &cache::user(&request.target),
        request.progress,
    )?;
    Ok(ApplyResponse {
        state: Value::Map(state),
        id,
    })
}

/// Marks the cached files as this state's, then keeps the cache within its limit.
fn use_cached(
    site: &crate::host::Site,
    config: &Value,
    files: &[String],
    user: &str,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), ProviderError> {
    let limit = cache::limit_of(config)?;
    let pool = pool::open(site)?;
    for file in files {
        let path = pool.path_of(file);
        cache::mark_used(&*pool.files, &pool.data_dir, &path, user)?;
        // Another hive's eviction may have come between caching and marking.
        if !pool.exists(file) {
            return Err(ProviderError::new(format!(
                "{} left the image cache while it was being cached (another hive made room in it); apply again",
                path.display()
            )));
        }
    }
    let in_use = paths_in_use(&site.conn, &pool)?;
    let evicted = cache::evict(&pool, limit, &in_use, files)?;
    if !evicted.files.is_empty() {
        progress(&format!(
            "the image cache was over its limit: removed {} unused image(s), {} bytes, least recently used first",
            evicted.files.len(),
            evicted.bytes
        ));
    }
    if evicted.over_by > 0 {
        progress(&format!(
            "the image cache is {} bytes over its limit with only images in use",
            evicted.over_by
        ));
    }
    Ok(())
}

pub fn read(
    connections: &Connections,
    request: &ReadRequest<'_>,
) -> Result<ReadResponse, ProviderError> {
    let site = connections.get(&Host::of(request.prior))?;
    let paths: Vec<&str> = ["path", "kernel_path", "initrd_path"]
        .iter()
        .filter_map(|k| request.prior.attr_str(k))
        .collect();
    let cached = paths.iter().all(|p| site.files.exists(Path::new(p)));
    if cached {
        // A record made before images marked their files is marked now.
        for path in &paths {
            cache::mark_used(
                &*site.files,
                &site.data_dir,
                Path::new(path),
                &cache::user(&request.target),
            )?;
        }
    }
    Ok(if cached {
        ReadResponse::Found(request.prior.clone())
    } else {
        ReadResponse::Gone
    })
}

/// Removes the cached copy unless something else on the host still uses it: another
/// image of the same content (of this state or another), or volumes or domains built on it.
pub fn delete(connections: &Connections, request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
    let site = connections.get(&Host::of(request.prior))?;
    let pool = pool::open(&site)?;
    let in_use = paths_in_use(&site.conn, &pool)?;
    for key in ["path", "kernel_path", "initrd_path"] {
        let Some(path) = request.prior.attr_str(key) else {
            continue;
        };
        let other_images = cache::unmark(&pool, &file_name(path), &cache::user(&request.target));
        if other_images || in_use.iter().any(|p| p == path) {
            continue;
        }
        pool.delete(&file_name(path))?;
    }
    Ok(())
}

/// Every path a volume is backed by or a domain boots from or mounts.
fn paths_in_use(
    conn: &virt::connect::Connect,
    pool: &Pool<'_>,
) -> Result<Vec<String>, ProviderError> {
    let mut used = pool.backing_paths()?;
    let domains = conn
        .list_all_domains(0)
        .map_err(crate::lv("listing domains, to see which use the image"))?;
    for domain in domains {
        let Ok(xml) = domain.xml_desc(0) else {
            continue;
        };
        let Ok(doc) = roxmltree::Document::parse(&xml) else {
            continue;
        };
        for node in doc.descendants() {
            match node.tag_name().name() {
                "kernel" | "initrd" => used.extend(node.text().map(str::to_string)),
                "source" => used.extend(node.attribute("file").map(str::to_string)),
                _ => {}
            }
        }
    }
    Ok(used)
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn file_len(files: &dyn HostFiles, path: &Path) -> u64 {
    files.info(path).ok().flatten().map_or(0, |i| i.len)
}

/// The image of the instance `request` makes, as the instance's host has it. An image is
/// cached on the host its record names; an instance placed on another host (one of its
/// `hosts`) gets the same files cached on its own, from the image's sources, checked against
/// the digests the files are named by.
pub fn on_host(
    site: &crate::host::Site,
    request: &ApplyRequest<'_>,
) -> Result<Value, ProviderError> {
    let image = request.config.attr("image").ok_or_else(|| {
        ProviderError::new("an instance with the libvirt driver needs image = image.NAME")
    })?;
    if Host::of(image).key() == Host::of(request.config).key() {
        return Ok(image.clone());
    }
    let mut here = image.as_map().cloned().unwrap_or_default();
    for (key, source_key) in [
        ("path", "source"),
        ("kernel_path", "kernel"),
        ("initrd_path", "initrd"),
    ] {
        let Some(path) = image.attr_str(key).filter(|p| !p.is_empty()) else {
            continue;
        };
        let name = file_name(path);
        let (Some((what, digest)), Some(source)) =
            (name.split_once('-'), image.attr_str(source_key))
        else {
            continue;
        };
        let cached = cache(
            site,
            request,
            request.target.base_dir,
            source,
            Some(digest),
            what,
        )?;
        here.insert(key.to_string(), Value::String(cached));
    }
    Ok(Value::Map(here))
}

/// Puts the content of `source` in the pool as `<what>-<sha256>` and returns its path. With
/// an expected digest whose file is already cached, nothing is read at all.
fn cache(
    site: &crate::host::Site,
    request: &ApplyRequest<'_>,
    base: &Path,
    source: &str,
    expected: Option<&str>,
    what: &str,
) -> Result<String, ProviderError> {
    let name_for = |digest: &str| format!("{what}-{digest}");
    if let Some(sum) = expected {
        let pool = pool::open(site)?;
        let name = name_for(&sum.to_lowercase());
        if pool.exists(&name) {
            return Ok(pool.path_of(&name).to_string_lossy().into_owned());
        }
    }
    if let Some(path) = crate::fetch_on_host::fetch(site, request, source, expected, what)? {
        return Ok(path);
    }
    let temp = pool::temp_path(what)?;
    let fetched = crate::fetch_here::fetch(source, base, &temp, request.progress, request.cancel);
    let digest = match fetched {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
    };
    if let Some(sum) = expected {
        if !sum.eq_ignore_ascii_case(&digest) {
            let _ = std::fs::remove_file(&temp);
            return Err(ProviderError::new(format!(
                "{source}: sha256 mismatch: expected {}, got {digest}",
                sum.to_lowercase()
            )));
        }
    }
    keep(site, request.progress, &temp, &name_for(&digest), &digest)
}

/// Moves a fetched file into the pool as `name` (sent to a remote host first), unless a
/// copy of the same content is already there; its path.
fn keep(
    site: &crate::host::Site,
    progress: &(dyn Fn(&str) + Sync),
    temp: &Path,
    name: &str,
    digest: &str,
) -> Result<String, ProviderError> {
    let there = || -> Result<Option<String>, ProviderError> {
        let pool = pool::open(site)?;
        Ok(pool
            .exists(name)
            .then(|| pool.path_of(name).to_string_lossy().into_owned()))
    };
    let arriving = site.arriving(name);
    let _turn = arriving.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = there()? {
        let _ = std::fs::remove_file(temp);
        return Ok(path);
    }
    if let Err(e) = pool::send(site, temp, name, Some(digest), progress) {
        let _ = std::fs::remove_file(temp);
        return Err(e);
    }
    let pool = pool::open(site)?;
    if pool.exists(name) {
        let _ = std::fs::remove_file(temp);
        return Ok(pool.path_of(name).to_string_lossy().into_owned());
    }
    let path = pool.adopt_file(temp, name)?;
    Ok(path.to_string_lossy().into_owned())
}

/// The cached path of an image kept in a store, and its URL there. An `s3://` source is
/// read from its bucket; otherwise the store's copy (by digest) is fetched when it has one,
/// the source when not, and what was fetched is uploaded once.
fn cache_stored(
    site: &crate::host::Site,
    request: &ApplyRequest<'_>,
    store: &Value,
    source: &str,
    expected: Option<&str>,
    what: &str,
) -> Result<(String, String), ProviderError> {
    let cached = |sum: &str| -> Result<Option<String>, ProviderError> {
        let pool = pool::open(site)?;
        let name = format!("{what}-{}", sum.to_lowercase());
        Ok(pool
            .exists(&name)
            .then(|| pool.path_of(&name).to_string_lossy().into_owned()))
    };
    let fetch = |object: Option<(&str, &str)>, what_shown: &str| {
        (request.progress)(&format!("downloading {what_shown}"));
        let temp = pool::temp_path(what)?;
        let digest =
            images::download(store, object, expected, &temp).map_err(ProviderError::new)?;
        keep(
            site,
            request.progress,
            &temp,
            &format!("{what}-{digest}"),
            &digest,
        )
    };
    if let ImageSource::Object { bucket, key } = images::image_source(source) {
        let path = match expected.map(cached).transpose()?.flatten() {
            Some(path) => path,
            None => fetch(Some((bucket, key)), source)?,
        };
        return Ok((path, source.to_string()));
    }
    let path = match expected {
        Some(sum) => match cached(sum)? {
            Some(path) => path,
            None if images::has_image(store, sum).map_err(ProviderError::new)? => {
                fetch(None, "from its store")?
            }
            None => cache(
                site,
                request,
                request.target.base_dir,
                source,
                expected,
                what,
            )?,
        },
        None => cache(site, request, request.target.base_dir, source, None, what)?,
    };
    let digest = file_name(&path)
        .strip_prefix(&format!("{what}-"))
        .unwrap_or_default()
        .to_string();
    let url = upload(site, request, store, &path, &digest)?;
    Ok((path, url))
}

/// Uploads the cached image at `path` into the store: its URL there. The store is reached
/// from this machine, so a remote host's copy comes here first, unless the store has it.
fn upload(
    site: &crate::host::Site,
    request: &ApplyRequest<'_>,
    store: &Value,
    path: &str,
    digest: &str,
) -> Result<String, ProviderError> {
    let upload_from = |file: &Path| {
        images::upload(store, file, digest, &request.target, request.progress)
            .map_err(ProviderError::new)
    };
    if site.files.is_local() {
        return upload_from(Path::new(path));
    }
    if let Some(url) = images::stored_url(store, digest).map_err(ProviderError::new)? {
        return Ok(url);
    }
    let copy = Scratch(pool::temp_path("upload")?);
    (request.progress)(&format!(
        "copying {} from {} to upload it",
        file_name(path),
        site.files.describe()
    ));
    site.files
        .get(Path::new(path), &copy.0)
        .map_err(ProviderError::new)?;
    upload_from(&copy.0)
}

/// The first 32 bytes of a file on the host (zeros where it is shorter or unreadable).
fn header_on(files: &dyn HostFiles, path: &Path) -> [u8; 32] {
    let mut head = [0u8; 32];
    if let Ok(Some(bytes)) = files.read_head(path, head.len()) {
        head[..bytes.len()].copy_from_slice(&bytes);
    }
    head
}

/// A disk image's format on the host, by its content.
pub fn detect_format(files: &dyn HostFiles, path: &Path) -> &'static str {
    if &header_on(files, path)[..4] == QCOW2_MAGIC {
        "qcow2"
    } else {
        "raw"
    }
}

/// The size the guest sees: a qcow2 header's, or a raw file's length.
pub fn virtual_size(files: &dyn HostFiles, path: &Path) -> u64 {
    let head = header_on(files, path);
    if &head[..4] == QCOW2_MAGIC {
        let mut size = [0u8; 8];
        size.copy_from_slice(&head[24..32]);
        u64::from_be_bytes(size)
    } else {
        file_len(files, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_sizes_come_from_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let raw = dir.path().join("disk.raw");
        std::fs::write(&raw, vec![0u8; 4096]).expect("write");
        let files = hive_sdk::host_files::LocalFiles;
        assert_eq!(detect_format(&files, &raw), "raw");
        assert_eq!(virtual_size(&files, &raw), 4096);
        let mut q = QCOW2_MAGIC.to_vec();
        q.extend_from_slice(&[0, 0, 0, 3]);
        q.extend_from_slice(&[0u8; 16]);
        q.extend_from_slice(&(10u64 << 30).to_be_bytes());
        let qcow = dir.path().join("disk.qcow2");
        std::fs::write(&qcow, &q).expect("write");
        assert_eq!(detect_format(&files, &qcow), "qcow2");
        assert_eq!(virtual_size(&files, &qcow), 10 << 30);
    }

    #[test]
    fn bad_settings_are_named() {
        let bad = Value::map([("format", Value::string("vmdk"))]);
        assert!(validate(&bad)
            .iter()
            .any(|p| p.message.contains("vmdk") && p.path_text() == "format"));
        let sum = Value::map([
            ("source", Value::string("x.qcow2")),
            ("sha256", Value::string("abc")),
        ]);
        assert!(validate(&sum)
            .iter()
            .any(|p| p.message.contains("64 hexadecimal") && p.path_text() == "sha256"));
    }
}
