//! The `store` resource (`driver = "s3"`): an S3 bucket that images and volumes are kept in.
//!
//! The block describes a bucket hive uses but does not own: planning checks that the bucket
//! answers with the credentials found for it, creating records where it is, and destroying
//! leaves the bucket and what is in it alone (volumes' snapshots outlive a cluster; that is
//! what they are for). The images and volumes kept in a store are their own providers'
//! (through `hive_s3::store`); its credentials are used while a command runs and never
//! recorded.

use hive_s3::store::Store;
use hive_sdk::problem::Problem;
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, DeleteRequest, Found, KindSpec, PlanRequest, PlanResponse,
    Provider, ProviderError, ReadRequest, ReadResponse, ReapRequest,
};
use hive_sdk::schema::{computed, optional, required, schema, Schema};
use hive_sdk::{Type, Value};

pub struct StoreProvider;

/// What says where the bucket is and how to reach it.
const SETTINGS: &[&str] = &[
    "endpoint",
    "bucket",
    "prefix",
    "region",
    "access_key",
    "secret_key",
    "profile",
    "path_style",
];

pub fn store_schema() -> Schema {
    schema(
        vec![
            optional("driver", Type::String)
                .replaces()
                .about("\"s3\", the only one"),
            optional("endpoint", Type::String)
                .replaces()
                .about("the S3 server, such as http://127.0.0.1:9000 (default: Amazon's)"),
            required("bucket", Type::String).replaces(),
            optional("prefix", Type::String)
                .replaces()
                .default(Value::string(hive_s3::store::DEFAULT_PREFIX))
                .about("where in the bucket hive keeps its objects"),
            optional("region", Type::String)
                .about("the region (default AWS_REGION, else us-east-1)"),
            optional("access_key", Type::String)
                .sensitive()
                .unrecorded()
                .about("the access key (default AWS_ACCESS_KEY_ID or a profile)"),
            optional("secret_key", Type::String)
                .sensitive()
                .unrecorded()
                .about("the secret key (default AWS_SECRET_ACCESS_KEY or a profile)"),
            optional("profile", Type::String)
                .about("a profile of ~/.aws/credentials (default AWS_PROFILE, else default)"),
            optional("path_style", Type::Bool)
                .default(Value::Bool(true))
                .about("path-style addressing; false for virtual-host style"),
            computed("id", Type::String),
            computed("url", Type::String),
        ],
        vec![],
    )
}

fn text<'a>(config: &'a Value, name: &str) -> Option<&'a str> {
    config
        .attr(name)
        .map(Value::unmarked)
        .and_then(Value::as_str)
}

/// The bucket answers with the credentials found for it.
fn check_bucket(config: &Value) -> Result<Store, ProviderError> {
    let store = Store::open(config).map_err(ProviderError::new)?;
    store.bucket.check(&store.prefix).map_err(|e| {
        ProviderError::new(format!(
            "{e}{}",
            match e.kind {
                hive_s3::S3ErrorKind::NoBucket => " (hive does not make buckets: make it first)",
                _ => "",
            }
        ))
    })?;
    Ok(store)
}

fn state_of(config: &Value, store: &Store) -> ApplyResponse {
    let mut state = config.as_map().cloned().unwrap_or_default();
    state.insert("id".into(), Value::string(store.url.clone()));
    state.insert("url".into(), Value::string(store.url.clone()));
    ApplyResponse {
        state: Value::Map(state),
        id: store.url.clone(),
    }
}

const SNAPSHOT: &str = "s3 volume snapshot";

impl Provider for StoreProvider {
    /// The volume snapshots kept in the store, by the tags in their manifests. (Images are
    /// shared by content: no state's end is theirs.)
    fn scan_store(&self, store: &Value) -> Result<Vec<Found>, ProviderError> {
        let opened = Store::open(store).map_err(ProviderError::new)?;
        let snapshots = opened
            .all_snapshots()
            .map_err(|e| ProviderError::new(format!("listing the snapshots: {e}")))?;
        Ok(snapshots
            .into_iter()
            .filter_map(|(key, manifest)| {
                Some(Found {
                    kind: SNAPSHOT.into(),
                    name: key,
                    tag: hive_s3::store::tag_of(&manifest.tags)?,
                    id: String::new(),
                    order: 4,
                    outlives_state: true,
                })
            })
            .collect())
    }

    fn reap(&self, request: &ReapRequest<'_>) -> Result<(), ProviderError> {
        let found = request.found;
        let opened = Store::open(request.host).map_err(ProviderError::new)?;
        // Only the snapshot that still carries the tag the scan saw.
        let manifest = opened.volumes().manifest(&found.name);
        match manifest {
            Ok(m) if hive_s3::store::tag_of(&m.tags).as_ref() == Some(&found.tag) => opened
                .remove_snapshot(&found.name)
                .map_err(|e| ProviderError::new(format!("removing {}: {e}", found.name))),
            _ => Ok(()),
        }
    }

    fn driver(&self) -> &'static str {
        "s3"
    }

    fn kinds(&self) -> Vec<KindSpec> {
        vec![KindSpec {
            kind: "store",
            schema: store_schema(),
            default_driver: true,
        }]
    }

    fn validate(&self, _kind: &str, config: &Value) -> Vec<Problem> {
        let mut problems = Vec::new();
        if let Some(e) = text(config, "endpoint").and_then(|e| hive_s3::check_endpoint(e).err()) {
            problems.push(Problem::at("endpoint", e));
        }
        if let Some(e) = text(config, "bucket").and_then(|b| hive_s3::check_bucket(b).err()) {
            problems.push(Problem::at("bucket", e));
        }
        if let Some(prefix) = text(config, "prefix").filter(|p| !p.trim_matches('/').is_empty()) {
            if let Err(e) = hive_s3::check_key(prefix.trim_matches('/')) {
                problems.push(Problem::at("prefix", e));
            }
        }
        let set = |name| text(config, name).is_some();
        match (set("access_key"), set("secret_key")) {
            (true, false) => problems.push(Problem::at(
                "access_key",
                "access_key is set without secret_key",
            )),
            (false, true) => problems.push(Problem::at(
                "secret_key",
                "secret_key is set without access_key",
            )),
            _ => {}
        }
        problems
    }

    /// A plan that uses a store first checks that its bucket answers: a wrong key or a
    /// missing bucket is found before anything is made.
    fn plan(
        &self,
        request: &PlanRequest<'_>,
        proposal: PlanResponse,
    ) -> Result<PlanResponse, ProviderError> {
        let settings_known = SETTINGS.iter().all(|name| {
            request
                .config
                .attr(name)
                .is_none_or(|v| v.unmarked().is_wholly_known())
        });
        if settings_known {
            check_bucket(request.config)?;
        }
        Ok(proposal)
    }

    fn create(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        let store = check_bucket(request.config)?;
        Ok(state_of(request.config, &store))
    }

    fn update(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        self.create(request)
    }

    /// Nothing to ask: the block describes the bucket, and its credentials are not recorded.
    fn refreshes(&self) -> bool {
        false
    }

    fn read(&self, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
        Ok(ReadResponse::Found(request.prior.clone()))
    }

    /// The bucket is not hive's, and what is kept in it outlives the configuration.
    fn delete(&self, _request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_problems_at_their_attribute() {
        let config = Value::map([
            ("endpoint", Value::string("ftp://x")),
            ("bucket", Value::string("Hive_Bucket")),
            ("access_key", Value::string("k")),
        ]);
        let problems = StoreProvider.validate("store", &config);
        let at: Vec<String> = problems.iter().map(|p| p.path_text()).collect();
        assert_eq!(at, ["endpoint", "bucket", "access_key"], "{problems:?}");
    }

    #[test]
    fn credentials_are_never_recorded() {
        let schema = store_schema();
        for name in ["access_key", "secret_key"] {
            let a = schema.attribute(name).unwrap();
            assert!(a.unrecorded && a.sensitive, "{name}");
        }
    }
}
