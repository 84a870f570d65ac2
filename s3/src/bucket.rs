//! One bucket and the operations hive needs of it. The async methods serve providers; the
//! blocking ones serve the state backends, whose interface is synchronous: they run on a
//! runtime of this crate's own, so they may be called from anywhere, also from inside
//! another runtime's task.

use crate::{Credentials, S3Config};
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path as Key;
use object_store::{
    ClientOptions, ObjectStore, PutMode, PutOptions, PutPayload, RetryConfig, TagSet, UpdateVersion,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long one request may take, and how long a server that does not answer is retried:
/// a stopped server is an error within seconds, never a hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const RETRY_TIMEOUT: Duration = Duration::from_secs(10);
const RETRIES: usize = 2;

#[derive(Clone)]
pub struct Bucket {
    store: Arc<AmazonS3>,
    url: String,
}

/// An object read whole.
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Vec<u8>,
    pub etag: Option<String>,
    pub modified: SystemTime,
}

/// An object as a listing shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub modified: SystemTime,
}

/// When a put may replace what is there.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Always,
    /// Only if there is no object yet (`If-None-Match: *`).
    IfAbsent,
    /// Only if the object is still the one with this ETag (`If-Match`).
    IfMatch(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3ErrorKind {
    NotFound,
    /// A condition did not hold: the object exists, or changed.
    Precondition,
    /// The credentials were refused.
    Denied,
    NoBucket,
    /// The server did not answer.
    Unreachable,
    /// What was read is not what was written (a digest does not match).
    Damaged,
    Other,
}

#[derive(Debug, Clone)]
pub struct S3Error {
    pub kind: S3ErrorKind,
    /// What hive was doing: `writing http://127.0.0.1:9000/b/state.json`.
    pub doing: String,
    /// The server's (or the client's) own words.
    pub message: String,
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.doing, self.message)
    }
}

impl std::error::Error for S3Error {}

impl S3Error {
    pub fn new(kind: S3ErrorKind, doing: impl Into<String>, message: impl Into<String>) -> S3Error {
        S3Error {
            kind,
            doing: doing.into(),
            message: message.into(),
        }
    }

    pub(crate) fn from_store(doing: String, error: object_store::Error) -> S3Error {
        let text = error.to_string();
        let code = xml_field(&text, "Code");
        let kind = match (&error, code.as_deref()) {
            (_, Some("NoSuchBucket")) => S3ErrorKind::NoBucket,
            (object_store::Error::NotFound { .. }, _) | (_, Some("NoSuchKey")) => {
                S3ErrorKind::NotFound
            }
            (object_store::Error::AlreadyExists { .. }, _)
            | (object_store::Error::Precondition { .. }, _)
            | (_, Some("PreconditionFailed")) => S3ErrorKind::Precondition,
            (object_store::Error::PermissionDenied { .. }, _)
            | (object_store::Error::Unauthenticated { .. }, _)
            | (_, Some("AccessDenied" | "SignatureDoesNotMatch" | "InvalidAccessKeyId")) => {
                S3ErrorKind::Denied
            }
            _ if code.is_none() && unreachable(&text) => S3ErrorKind::Unreachable,
            _ => S3ErrorKind::Other,
        };
        let message = match (code, xml_field(&text, "Message")) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code,
            // The client's last words say what failed; the rest repeats the request.
            _ if kind == S3ErrorKind::Unreachable => format!(
                "the server does not answer ({})",
                text.rsplit(" - ").next().unwrap_or(&text).trim()
            ),
            _ => text,
        };
        S3Error::new(kind, doing, message)
    }
}

/// The text of `<name>...</name>` in an S3 error body quoted inside an error message.
fn xml_field(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{name}>"))? + start;
    Some(text[start..end].trim().to_string()).filter(|s| !s.is_empty())
}

fn unreachable(text: &str) -> bool {
    [
        "error sending request",
        "connection",
        "Connection",
        "timed out",
        "dns error",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// The runtime the blocking calls run on: two threads, made once, never dropped (dropping a
/// runtime inside another one's task would panic).
fn runtime() -> Result<&'static tokio::runtime::Runtime, S3Error> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("hive-s3")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| S3Error::new(S3ErrorKind::Other, "starting the S3 client", e.clone()))
}

fn system_time(when: object_store::ObjectMeta) -> SystemTime {
    let seconds = when.last_modified.timestamp();
    let nanos = when.last_modified.timestamp_subsec_nanos();
    u64::try_from(seconds)
        .ok()
        .and_then(|s| UNIX_EPOCH.checked_add(Duration::new(s, nanos)))
        .unwrap_or(UNIX_EPOCH)
}

/// A call started on the client's runtime.
pub struct Pending<T> {
    result: std::sync::mpsc::Receiver<Result<T, S3Error>>,
    url: String,
}

impl<T> Pending<T> {
    pub fn wait(self) -> Result<T, S3Error> {
        self.result.recv().unwrap_or_else(|_| {
            Err(S3Error::new(
                S3ErrorKind::Other,
                format!("talking to {}", self.url),
                "the S3 client stopped",
            ))
        })
    }
}

impl Bucket {
    /// A client of the bucket `config` names, with `credentials`. Nothing is sent yet.
    pub fn connect(config: &S3Config, credentials: &Credentials) -> Result<Bucket, S3Error> {
        let url = config.url();
        let client = ClientOptions::new()
            .with_allow_http(true)
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT);
        let retry = RetryConfig {
            max_retries: RETRIES,
            retry_timeout: RETRY_TIMEOUT,
            ..RetryConfig::default()
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(config.region())
            .with_access_key_id(&credentials.access_key)
            .with_secret_access_key(&credentials.secret_key)
            .with_virtual_hosted_style_request(!config.path_style)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_client_options(client)
            .with_retry(retry);
        if let Some(token) = &credentials.session_token {
            builder = builder.with_token(token);
        }
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint).with_allow_http(true);
        }
        let store = builder.build().map_err(|e| {
            S3Error::new(
                S3ErrorKind::Other,
                format!("setting up the S3 client for {url}"),
                e.to_string(),
            )
        })?;
        Ok(Bucket {
            store: Arc::new(store),
            url,
        })
    }

    pub(crate) fn store(&self) -> Arc<AmazonS3> {
        self.store.clone()
    }

    /// `http://127.0.0.1:9000/bucket/key`, for messages.
    pub fn url_of(&self, key: &str) -> String {
        format!("{}/{key}", self.url)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Starts `call` on this crate's runtime; [`Pending::wait`] waits for its result.
    fn start<T, Fut>(&self, call: impl FnOnce(Bucket) -> Fut) -> Pending<T>
    where
        Fut: Future<Output = Result<T, S3Error>> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let work = call(self.clone());
        match runtime() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let _ = tx.send(work.await);
                });
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        }
        Pending {
            result: rx,
            url: self.url.clone(),
        }
    }

    /// Runs `call` on this crate's runtime and waits for it.
    pub(crate) fn block<T, Fut>(&self, call: impl FnOnce(Bucket) -> Fut) -> Result<T, S3Error>
    where
        Fut: Future<Output = Result<T, S3Error>> + Send + 'static,
        T: Send + 'static,
    {
        self.start(call).wait()
    }

    pub async fn get_async(&self, key: &str) -> Result<Option<Object>, S3Error> {
        let doing = || format!("reading {}", self.url_of(key));
        let found = match self.store.get(&Key::from(key)).await {
            Ok(found) => found,
            Err(e) => {
                let error = S3Error::from_store(doing(), e);
                return match error.kind {
                    S3ErrorKind::NotFound => Ok(None),
                    _ => Err(error),
                };
            }
        };
        let etag = found.meta.e_tag.clone();
        let modified = system_time(found.meta.clone());
        let bytes = found
            .bytes()
            .await
            .map_err(|e| S3Error::from_store(doing(), e))?;
        Ok(Some(Object {
            bytes: bytes.to_vec(),
            etag,
            modified,
        }))
    }

    /// Writes `bytes` at `key` if `condition` holds, with S3 tags; returns the new ETag.
    pub async fn put_async(
        &self,
        key: &str,
        bytes: Vec<u8>,
        condition: Condition,
        tags: &[(&str, &str)],
    ) -> Result<Option<String>, S3Error> {
        let mode = match condition {
            Condition::Always => PutMode::Overwrite,
            Condition::IfAbsent => PutMode::Create,
            Condition::IfMatch(etag) => PutMode::Update(UpdateVersion {
                e_tag: Some(etag),
                version: None,
            }),
        };
        let mut tag_set = TagSet::default();
        for (k, v) in tags {
            tag_set.push(k, v);
        }
        let options = PutOptions {
            mode,
            tags: tag_set,
            ..PutOptions::default()
        };
        self.store
            .put_opts(&Key::from(key), PutPayload::from(bytes), options)
            .await
            .map(|done| done.e_tag)
            .map_err(|e| S3Error::from_store(format!("writing {}", self.url_of(key)), e))
    }

    /// Removes `key`; a key that is not there is not an error.
    pub async fn delete_async(&self, key: &str) -> Result<(), S3Error> {
        match self.store.delete(&Key::from(key)).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let error = S3Error::from_store(format!("removing {}", self.url_of(key)), e);
                match error.kind {
                    S3ErrorKind::NotFound => Ok(()),
                    _ => Err(error),
                }
            }
        }
    }

    /// Removes every key (many per request); keys that are not there are not errors.
    pub async fn delete_many_async(&self, keys: Vec<String>) -> Result<(), S3Error> {
        if keys.is_empty() {
            return Ok(());
        }
        let count = keys.len();
        let paths = futures::stream::iter(keys.into_iter().map(|k| Ok(Key::from(k)))).boxed();
        let results: Vec<_> = self.store.delete_stream(paths).collect().await;
        for result in results {
            if let Err(e) = result {
                let error =
                    S3Error::from_store(format!("removing {count} object(s) of {}", self.url), e);
                if error.kind != S3ErrorKind::NotFound {
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// Every object whose key starts with `prefix/` (a folder), in key order.
    pub async fn list_async(&self, prefix: &str) -> Result<Vec<Listed>, S3Error> {
        let folder = Key::from(prefix);
        let mut listed: Vec<Listed> = self
            .store
            .list(Some(&folder))
            .map_ok(|meta| Listed {
                key: meta.location.to_string(),
                size: meta.size,
                modified: system_time(meta),
            })
            .try_collect()
            .await
            .map_err(|e| S3Error::from_store(format!("listing {}/", self.url_of(prefix)), e))?;
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listed)
    }

    /// Copies an object within the bucket, on the server.
    pub async fn copy_async(&self, from: &str, to: &str) -> Result<(), S3Error> {
        self.store
            .copy(&Key::from(from), &Key::from(to))
            .await
            .map_err(|e| S3Error::from_store(format!("copying {} to {to}", self.url_of(from)), e))
    }

    pub fn get(&self, key: &str) -> Result<Option<Object>, S3Error> {
        let key = key.to_string();
        self.block(|b| async move { b.get_async(&key).await })
    }

    /// Starts a put and returns at once; the result comes from [`Pending::wait`].
    pub fn start_put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        condition: Condition,
    ) -> Pending<Option<String>> {
        let key = key.to_string();
        self.start(|b| async move { b.put_async(&key, bytes, condition, &[]).await })
    }

    pub fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        condition: Condition,
    ) -> Result<Option<String>, S3Error> {
        let key = key.to_string();
        self.block(|b| async move { b.put_async(&key, bytes, condition, &[]).await })
    }

    /// As [`Bucket::put`], with S3 tags on the object. A tag value holds only what S3 allows
    /// (letters, digits, spaces and `+ - = . _ : / @`): anything else becomes `_`
    /// (`image.x["k"]` is `image.x__k__`); the object's own content keeps the exact text.
    pub fn put_tagged(
        &self,
        key: &str,
        bytes: Vec<u8>,
        condition: Condition,
        tags: &BTreeMap<String, String>,
    ) -> Result<Option<String>, S3Error> {
        let key = key.to_string();
        let tags = tags.clone();
        self.block(|b| async move {
            let allowed = |c: char| c.is_alphanumeric() || " +-=._:/@".contains(c);
            let values: Vec<(String, String)> = tags
                .iter()
                .map(|(k, v)| {
                    let v: String = v
                        .chars()
                        .map(|c| if allowed(c) { c } else { '_' })
                        .take(256)
                        .collect();
                    (k.clone(), v)
                })
                .collect();
            let pairs: Vec<(&str, &str)> = values
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            b.put_async(&key, bytes, condition, &pairs).await
        })
    }

    pub fn delete(&self, key: &str) -> Result<(), S3Error> {
        let key = key.to_string();
        self.block(|b| async move { b.delete_async(&key).await })
    }

    pub fn delete_many(&self, keys: Vec<String>) -> Result<(), S3Error> {
        self.block(|b| async move { b.delete_many_async(keys).await })
    }

    pub fn list(&self, prefix: &str) -> Result<Vec<Listed>, S3Error> {
        let prefix = prefix.to_string();
        self.block(|b| async move { b.list_async(&prefix).await })
    }

    pub fn copy(&self, from: &str, to: &str) -> Result<(), S3Error> {
        let (from, to) = (from.to_string(), to.to_string());
        self.block(|b| async move { b.copy_async(&from, &to).await })
    }

    /// Checks that the bucket exists and the credentials are taken (one listing).
    pub fn check(&self, prefix: &str) -> Result<(), S3Error> {
        let prefix = prefix.to_string();
        self.block(|b| async move {
            b.store
                .list_with_delimiter(Some(&Key::from(prefix.as_str())))
                .await
                .map(|_| ())
                .map_err(|e| S3Error::from_store(format!("opening {}", b.url), e))
        })
    }

    /// Checks that the server honours conditional writes, as the lock relies on: a second
    /// `If-None-Match: *` create of one key is refused, and so is an `If-Match` with a stale
    /// version, while one with the current version is taken. Some S3-compatible servers ignore
    /// these headers and overwrite.
    pub fn check_conditional_writes(&self, probe: &str) -> Result<(), S3Error> {
        let result = self.probe(probe);
        let removed = self.delete(probe);
        result.and(removed)
    }

    fn probe(&self, probe: &str) -> Result<(), S3Error> {
        let ignored = |what: &str| {
            S3Error::new(
                S3ErrorKind::Other,
                format!("checking that {} honours conditional writes", self.url),
                format!(
                    "the server accepted {what}, so it ignores conditional writes and cannot hold a lock; use a server that supports them (AWS S3, SeaweedFS, recent MinIO)"
                ),
            )
        };
        let refused = |result: Result<Option<String>, S3Error>, what: &str| match result {
            Ok(_) => Err(ignored(what)),
            Err(e) if e.kind == S3ErrorKind::Precondition => Ok(()),
            Err(e) => Err(e),
        };
        let first = self.put(probe, b"1".to_vec(), Condition::IfAbsent)?;
        refused(
            self.put(probe, b"2".to_vec(), Condition::IfAbsent),
            "a second If-None-Match: * create of one object",
        )?;
        refused(
            self.put(probe, b"3".to_vec(), Condition::IfMatch("\"0\"".into())),
            "an If-Match write with a version the object does not have",
        )?;
        match first {
            Some(etag) => self
                .put(probe, b"4".to_vec(), Condition::IfMatch(etag))
                .map(|_| ()),
            None => Err(ignored("writes without answering an ETag")),
        }
    }
}
