//! hive's LXD provider: `instance`, `image` and `volume` with `driver = "lxd"`, through
//! LXD's REST API (its unix socket, or HTTPS with certificates for a remote daemon).
//!
//! # Layout
//! - [`client`]: HTTP/1.1 over the socket or TLS, LXD's envelope, operations, errors.
//! - [`api`]: hive's types for the LXD objects it reads.
//! - [`host`]: which daemon a resource lives on (its host's `lxd` block), one client each.
//! - [`image`], [`volume`], [`instance`]: one module per resource kind.
//!
//! Every object hive makes carries its address and the state's lineage: instances and
//! volumes in `user.hive.*` config keys, images in `hive.*` properties.

pub mod api;
mod checkpoint;
pub mod client;
pub mod host;
mod http;
pub mod image;
pub mod instance;
mod scan;
pub mod stored;
pub mod volume;

use client::LxdError;
use hive_sdk::addr::InstanceAddr;
use hive_sdk::problem::Problem;
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, CheckpointRequest, DeleteRequest, Found, KindSpec, Login,
    LoginRequest, PlanRequest, PlanResponse, Provider, ProviderError, ReadRequest, ReadResponse,
    ReapRequest, RetagRequest, ScanRequest, SnapshotRequest, Snapshotted, Target,
};
use hive_sdk::schema::{block, optional, schema, Nesting, Schema};
use hive_sdk::{Type, Value};
use std::collections::BTreeMap;

pub use host::Clients;

#[derive(Default)]
pub struct LxdProvider {
    clients: Clients,
}

impl LxdProvider {
    pub fn new() -> LxdProvider {
        LxdProvider::default()
    }

    pub fn clients(&self) -> &Clients {
        &self.clients
    }
}

/// hive's tag on an instance or volume: who it belongs to, and whether it is whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub address: String,
    pub lineage: String,
    /// Where the state lives, and when the object expires (`ttl`).
    pub state: String,
    pub expires: Option<u64>,
    /// `creating` until the object is whole, then `ready`.
    pub status: String,
}

impl Tag {
    /// The tag of the object a request is about.
    pub fn of_target(target: &hive_sdk::provider::Target<'_>, status: &str) -> Tag {
        Tag::of_owner(&hive_sdk::tag::Tag::of(target), status)
    }

    pub fn of_owner(owner: &hive_sdk::tag::Tag, status: &str) -> Tag {
        Tag {
            address: owner.address.clone(),
            lineage: owner.lineage.clone(),
            state: owner.state.clone(),
            expires: owner.expires,
            status: status.to_string(),
        }
    }

    pub fn owner(&self) -> hive_sdk::tag::Tag {
        hive_sdk::tag::Tag {
            lineage: self.lineage.clone(),
            state: self.state.clone(),
            address: self.address.clone(),
            expires: self.expires,
        }
    }

    /// The config keys, those with no value left out.
    pub fn config(&self) -> BTreeMap<String, String> {
        let mut keys = BTreeMap::from([
            ("user.hive.address".to_string(), self.address.clone()),
            ("user.hive.lineage".to_string(), self.lineage.clone()),
            ("user.hive.state".to_string(), self.state.clone()),
            (
                "user.hive.expires".to_string(),
                self.expires.map(|e| e.to_string()).unwrap_or_default(),
            ),
            ("user.hive.status".to_string(), self.status.clone()),
        ]);
        keys.retain(|_, v| !v.is_empty());
        keys
    }

    /// The config keys for a `PATCH` that makes the object carry this tag and no other
    /// (an empty value unsets a key).
    pub fn patch(&self) -> BTreeMap<String, String> {
        let mut keys = Tag::cleared();
        keys.extend(self.config());
        keys
    }

    /// The config keys that make an object no longer hive's.
    pub fn cleared() -> BTreeMap<String, String> {
        ["address", "lineage", "state", "expires", "status"]
            .into_iter()
            .map(|k| (format!("user.hive.{k}"), String::new()))
            .collect()
    }

    pub fn of(config: &BTreeMap<String, String>) -> Option<Tag> {
        Some(Tag {
            address: config.get("user.hive.address")?.clone(),
            lineage: config.get("user.hive.lineage")?.clone(),
            state: config.get("user.hive.state").cloned().unwrap_or_default(),
            expires: hive_sdk::tag::Tag::parse_expires(
                config.get("user.hive.expires").map(String::as_str),
            ),
            status: config.get("user.hive.status").cloned().unwrap_or_default(),
        })
    }
}

/// Maps an LXD failure to a provider error saying what hive was doing.
pub(crate) fn lx(what: String) -> impl FnOnce(LxdError) -> ProviderError {
    move |e| {
        let message = format!("{what}: {e}");
        if e.is_not_found() {
            ProviderError::not_found(message)
        } else {
            ProviderError::new(message)
        }
    }
}

/// A size as LXD is given it: whole MiB, rounded up (so a small size never becomes "0MiB",
/// which LXD reads as no limit).
pub(crate) fn lxd_size(bytes: u64) -> String {
    format!("{}MiB", bytes.div_ceil(1 << 20))
}

fn unsupported(kind: &str) -> ProviderError {
    ProviderError::new(format!("the lxd driver has no {kind} resources"))
}

impl Provider for LxdProvider {
    fn driver(&self) -> &'static str {
        "lxd"
    }

    fn scan(&self, request: &ScanRequest<'_>) -> Result<Vec<Found>, ProviderError> {
        scan::scan(&self.clients, request)
    }

    fn reap(&self, request: &ReapRequest<'_>) -> Result<(), ProviderError> {
        scan::reap(&self.clients, request)
    }

    fn retag(&self, request: &RetagRequest<'_>) -> Result<(), ProviderError> {
        scan::retag(&self.clients, request)
    }

    fn kinds(&self) -> Vec<KindSpec> {
        let own = |kind, schema| KindSpec {
            kind,
            schema,
            default_driver: false,
        };
        vec![
            own("image", image::schema()),
            own("volume", volume::schema()),
            own("instance", instance::schema()),
        ]
    }

    fn host_settings(&self) -> Schema {
        schema(
            vec![],
            vec![block(
                "lxd",
                Nesting::Single,
                schema(
                    vec![
                        optional("socket", Type::String),
                        optional("endpoint", Type::String),
                        optional("client_cert", Type::String),
                        optional("client_key", Type::String).sensitive(),
                        optional("server_cert", Type::String),
                        optional("pool", Type::String),
                    ],
                    vec![],
                ),
            )],
        )
    }

    /// An image in LXD's format can only be LXD's.
    fn claims(&self, kind: &str, config: &Value) -> bool {
        kind == "image" && config.attr_str("format") == Some("lxd")
    }

    fn validate(&self, kind: &str, config: &Value) -> Vec<Problem> {
        let mut problems = host::validate(config);
        problems.extend(match kind {
            "image" => image::validate(config),
            "volume" => volume::validate(config),
            "instance" => instance::validate(config),
            _ => Vec::new(),
        });
        problems
    }

    fn check_environment(&self, target: &Target<'_>, config: &Value) -> Vec<Problem> {
        match target.kind {
            "instance" => instance::check_environment(&self.clients, config),
            "volume" => volume::check_environment(&self.clients, config),
            _ => Vec::new(),
        }
    }

    fn backend_name(&self, kind: &str, address: &InstanceAddr, config: &Value) -> Option<String> {
        if config.attr("name").is_some_and(Value::is_unknown) {
            return None;
        }
        (kind == "instance").then(|| instance::instance_name(config, address))
    }

    fn login(&self, request: &LoginRequest<'_>) -> Result<Login, ProviderError> {
        match request.target.kind {
            "instance" => instance::login(request),
            _ => Err(ProviderError::new(format!(
                "{} is a {}: only instances can be logged into",
                request.target.address, request.target.kind
            ))),
        }
    }

    fn check_create_before_destroy(&self, kind: &str, _config: &Value) -> Result<(), String> {
        match kind {
            "instance" | "volume" => Err(format!(
                "an LXD {kind} is named after its address, so the new one cannot exist beside the old"
            )),
            _ => Ok(()),
        }
    }

    fn plan(
        &self,
        request: &PlanRequest<'_>,
        proposal: PlanResponse,
    ) -> Result<PlanResponse, ProviderError> {
        Ok(match request.target.kind {
            "image" => image::plan(request, proposal),
            "instance" => instance::plan(request, proposal),
            _ => proposal,
        })
    }

    fn create(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        match request.target.kind {
            "image" => image::create(&self.clients, request),
            "volume" => volume::create(&self.clients, request),
            "instance" => instance::create(&self.clients, request),
            other => Err(unsupported(other)),
        }
    }

    fn update(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        match request.target.kind {
            "image" => image::create(&self.clients, request),
            "volume" => volume::update(&self.clients, request),
            "instance" => instance::update(&self.clients, request),
            other => Err(unsupported(other)),
        }
    }

    fn read(&self, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
        match request.target.kind {
            "image" => image::read(&self.clients, request),
            "volume" => volume::read(&self.clients, request),
            "instance" => instance::read(&self.clients, request),
            other => Err(unsupported(other)),
        }
    }

    fn import(
        &self,
        target: &Target<'_>,
        id: &str,
        config: &Value,
    ) -> Result<Value, ProviderError> {
        match target.kind {
            "instance" => instance::import(&self.clients, target, id, config),
            other => Err(ProviderError::new(format!(
                "the lxd driver cannot import {other} resources (only instances)"
            ))),
        }
    }

    fn delete(&self, request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
        match request.target.kind {
            "image" => image::delete(&self.clients, request),
            "volume" => volume::delete(&self.clients, request),
            "instance" => instance::delete(&self.clients, request),
            other => Err(unsupported(other)),
        }
    }

    fn checkpoint(&self, request: &CheckpointRequest<'_>) -> Result<String, ProviderError> {
        match request.target.kind {
            "instance" => checkpoint::checkpoint(&self.clients, request),
            other => Err(ProviderError::new(format!(
                "{} is a {other}: only instances are checkpointed",
                request.target.address
            ))),
        }
    }

    fn snapshot(&self, request: &SnapshotRequest<'_>) -> Result<Snapshotted, ProviderError> {
        match request.target.kind {
            "volume" => volume::snapshot(&self.clients, request),
            other => Err(ProviderError::new(format!(
                "{} is a {other}: only volumes kept in a store are snapshotted",
                request.target.address
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_host_without_an_lxd_endpoint_is_refused_at_its_host() {
        let remote = |lxd: Option<Value>| {
            let mut host = vec![("address", Value::string("10.0.0.9"))];
            if let Some(l) = lxd {
                host.push(("lxd", l));
            }
            Value::map([("host", Value::map(host))])
        };
        let problems = host::validate(&remote(None));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path_text(), "host");
        assert!(problems[0].message.contains("10.0.0.9 is remote"));
        // A local socket does not reach a remote host either.
        let socket = Value::map([("socket", Value::string("/var/lib/lxd/unix.socket"))]);
        assert_eq!(host::validate(&remote(Some(socket))).len(), 1);
        let endpoint = Value::map([
            ("endpoint", Value::string("https://10.0.0.9:8443")),
            ("client_cert", Value::string("c")),
            ("client_key", Value::string("k")),
            ("server_cert", Value::string("s")),
        ]);
        assert!(host::validate(&remote(Some(endpoint))).is_empty());
    }

    #[test]
    fn sizes_are_whole_mib_rounded_up() {
        assert_eq!(lxd_size(64 << 20), "64MiB");
        assert_eq!(lxd_size(512 << 10), "1MiB");
        assert_eq!(lxd_size((1 << 30) + 1), "1025MiB");
    }
}
