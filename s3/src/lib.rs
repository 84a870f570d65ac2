//! hive's S3 client: what a `store` block or an S3 state backend says (endpoint, bucket,
//! region, credentials, addressing), the credentials found from it, and a [`Bucket`] with the
//! few operations hive needs, blocking (for the state backends) or async (for providers).
//!
//! Requests are signed and retried by `object_store`; nothing here signs by hand.

mod bucket;
pub mod chunks;
mod credentials;
pub mod images;
pub mod store;
pub mod upload;

pub use bucket::{Bucket, Condition, Listed, Object, Pending, S3Error, S3ErrorKind};
pub use credentials::{Credentials, CredentialsSource};

/// Where a bucket is and how to reach it, as a configuration says.
#[derive(Clone, Default, PartialEq)]
pub struct S3Config {
    /// `http://127.0.0.1:9000`; `None` is Amazon's own endpoint for the region.
    pub endpoint: Option<String>,
    pub bucket: String,
    /// `None`: `AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: Option<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    /// A profile of the shared credentials file; `None`: `AWS_PROFILE`, else `default`.
    pub profile: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`, the default, which S3-compatible
    /// servers expect) or virtual-host style (`bucket.endpoint/key`).
    pub path_style: bool,
}

impl S3Config {
    pub fn new(bucket: &str) -> S3Config {
        S3Config {
            bucket: bucket.to_string(),
            path_style: true,
            ..S3Config::default()
        }
    }

    /// The bucket as a URL, for messages and tags: `http://127.0.0.1:9000/hive` (path style)
    /// or `s3://hive` on Amazon's endpoint.
    pub fn url(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => format!("{}/{}", endpoint.trim_end_matches('/'), self.bucket),
            None => format!("s3://{}", self.bucket),
        }
    }

    pub fn region(&self) -> String {
        self.region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "us-east-1".into())
    }
}

/// Credentials are never shown, not even by `{:?}`.
impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key", &self.access_key.as_ref().map(|_| "(set)"))
            .field("secret_key", &self.secret_key.as_ref().map(|_| "(set)"))
            .field("profile", &self.profile)
            .field("path_style", &self.path_style)
            .finish()
    }
}

/// An object key hive can list and read back as written: S3 clients encode other
/// characters differently.
pub fn check_key(key: &str) -> Result<(), String> {
    let fine = |c: char| c.is_ascii_alphanumeric() || "._-/".contains(c);
    if key.is_empty() || key.starts_with('/') || key.ends_with('/') || key.contains("//") {
        return Err(format!(
            "\"{key}\" is not an object key: write it like ci/cluster.json"
        ));
    }
    match key.chars().find(|c| !fine(*c)) {
        Some(c) => Err(format!(
            "\"{key}\" holds {c:?}; a state key may hold letters, digits, '.', '_', '-' and '/'"
        )),
        None => Ok(()),
    }
}

/// An http(s) URL without credentials in it (they would be shown wherever the endpoint is).
pub fn check_endpoint(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "\"{url}\" is not a URL: write it like http://127.0.0.1:9000"
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!("\"{url}\" is not an http or https URL"));
    }
    if rest
        .split('/')
        .next()
        .is_some_and(|host| host.contains('@'))
    {
        return Err(
            "the endpoint holds credentials; give them as access_key and secret_key, which are never shown"
                .into(),
        );
    }
    Ok(())
}

/// A bucket name as S3 allows it: 3 to 63 lowercase letters, digits, '.' and '-', beginning
/// and ending with a letter or digit.
pub fn check_bucket(name: &str) -> Result<(), String> {
    let fine = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
    let ends = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if (3..=63).contains(&name.len())
        && name.chars().all(fine)
        && ends(name.chars().next())
        && ends(name.chars().last())
    {
        Ok(())
    } else {
        Err(format!(
            "\"{name}\" is not a bucket name: 3 to 63 lowercase letters, digits, '.' and '-', beginning and ending with a letter or digit"
        ))
    }
}
