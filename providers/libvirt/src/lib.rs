//! hive's libvirt provider: `instance`, `volume`, `image` and `bridge` with `driver =
//! "libvirt"`, through the `virt` crate (libvirt's C API).
//!
//! # Layout
//! - [`host`]: which libvirt a resource lives on (`host` attribute: `uri`, `accel`), and the
//!   connections to it.
//! - [`pool`]: hive's storage pool on each host, and the lock that serialises its operations.
//! - [`image`], [`volume`], [`network`], [`instance`]: one module per resource kind.
//! - [`seed`]: NoCloud seed ISOs; [`wait`]: waiting for a guest (running, ip, ssh).
//! - [`xml`]: the XML given to libvirt, and what is read back from it.
//!
//! Every object hive makes is recognisable as hive's: domains carry a `<metadata>` tag with
//! the address and the state's lineage; volumes and seeds live in hive's pool under names
//! derived from their owner.

pub mod cache;
pub mod checkpoint;
pub mod fetch_here;
pub mod fetch_on_host;
pub mod host;
pub mod image;
pub mod instance;
pub mod network;
pub mod pool;
mod scan;
pub mod seed;
pub mod stored;
pub mod volume;
pub mod wait;
pub mod xml;

use hive_sdk::addr::InstanceAddr;
use hive_sdk::problem::Problem;
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, DeleteRequest, Found, KindSpec, Login, LoginRequest, Object,
    PlanRequest, PlanResponse, Provider, ProviderError, ReadRequest, ReadResponse, ReapRequest,
    RetagRequest, ScanRequest, SnapshotRequest, Snapshotted, Target,
};
use hive_sdk::schema::{optional, schema, Schema};
use hive_sdk::{Type, Value};
use std::collections::BTreeMap;

pub use host::Connections;

#[derive(Default)]
pub struct LibvirtProvider {
    connections: Connections,
}

impl LibvirtProvider {
    pub fn new() -> LibvirtProvider {
        LibvirtProvider::default()
    }

    /// Its connections: the `test:///default` driver keeps state per connection, so tests
    /// look through the provider's own.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }
}

impl Provider for LibvirtProvider {
    fn driver(&self) -> &'static str {
        "libvirt"
    }

    fn kinds(&self) -> Vec<KindSpec> {
        let own = |kind, schema| KindSpec {
            kind,
            schema,
            default_driver: true,
        };
        vec![
            own("image", image::schema()),
            own("volume", volume::schema()),
            KindSpec {
                default_driver: false,
                ..own("bridge", hive_sdk::net::bridge_schema())
            },
            own("instance", hive_sdk::guest::instance_schema()),
        ]
    }

    fn host_settings(&self) -> Schema {
        schema(
            vec![
                optional("uri", Type::String).about("libvirt connection URI"),
                optional("accel", Type::String).about("\"tcg\" or \"kvm\""),
                optional("cache_limit", Type::String)
                    .about("the size of the host's image cache, beyond which images nothing uses are removed, least recently used first (default 20GiB)"),
            ],
            vec![],
        )
    }

    fn validate(&self, kind: &str, config: &Value) -> Vec<Problem> {
        let mut problems = host::validate(config);
        problems.extend(match kind {
            "image" => image::validate(config),
            "volume" => volume::validate(config),
            "bridge" => network::validate(config),
            "instance" => instance::validate(config),
            _ => Vec::new(),
        });
        problems
    }

    fn check_together(&self, objects: &[Object<'_>]) -> Vec<(usize, Problem)> {
        hive_sdk::net::overlapping_subnets(objects)
    }

    fn backend_name(&self, kind: &str, address: &InstanceAddr, config: &Value) -> Option<String> {
        if config.attr("name").is_some_and(Value::is_unknown) {
            return None;
        }
        match kind {
            "instance" => Some(instance::domain_name(config, address)),
            "bridge" => Some(network::network_name(config, address)),
            _ => None,
        }
    }

    fn checkpoint(
        &self,
        request: &hive_sdk::provider::CheckpointRequest<'_>,
    ) -> Result<String, ProviderError> {
        match request.target.kind {
            "instance" => checkpoint::checkpoint(&self.connections, request),
            other => Err(ProviderError::new(format!(
                "{} is a {other}: only instances are checkpointed",
                request.target.address
            ))),
        }
    }

    fn login(&self, request: &LoginRequest<'_>) -> Result<Login, ProviderError> {
        match request.target.kind {
            "instance" => {
                let mut login = hive_sdk::guest::ssh_login_to(request, false)?;
                if let (hive_sdk::provider::Login::Ssh { jump, .. }, Some(via)) =
                    (&mut login, host::reached_through(request.attributes))
                {
                    let ssh = self.connections.logins().ssh(&via);
                    *jump = Some(ssh.jump().map_err(ProviderError::new)?);
                }
                Ok(login)
            }
            _ => Err(ProviderError::new(format!(
                "{} is a {}: only instances can be logged into",
                request.target.address, request.target.kind
            ))),
        }
    }

    fn check_create_before_destroy(&self, kind: &str, _config: &Value) -> Result<(), String> {
        // Domains, networks and volumes are named after their address (or a fixed `name`):
        // the new object would find, and be taken for, the old one. Images are named by
        // content and may overlap.
        match kind {
            "instance" | "bridge" | "volume" => Err(format!(
                "a libvirt {kind} is named after its address, so the new one cannot exist beside the old"
            )),
            _ => Ok(()),
        }
    }

    fn plan(
        &self,
        request: &PlanRequest<'_>,
        proposal: PlanResponse,
    ) -> Result<PlanResponse, ProviderError> {
        match request.target.kind {
            "volume" => Ok(volume::plan(request, proposal)),
            "instance" => Ok(instance::plan(request, proposal)),
            _ => Ok(proposal),
        }
    }

    fn create(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        let c = &self.connections;
        match request.target.kind {
            "image" => image::create(c, request),
            "volume" => volume::create(c, request),
            "bridge" => network::create(c, request),
            "instance" => instance::create(c, request),
            other => Err(unsupported(other)),
        }
    }

    fn update(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        let c = &self.connections;
        match request.target.kind {
            "image" => image::create(c, request),
            "volume" => volume::update(c, request),
            "bridge" => network::update(c, request),
            "instance" => instance::update(c, request),
            other => Err(unsupported(other)),
        }
    }

    fn read(&self, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
        let c = &self.connections;
        match request.target.kind {
            "image" => image::read(c, request),
            "volume" => volume::read(c, request),
            "bridge" => network::read(c, request),
            "instance" => instance::read(c, request),
            other => Err(unsupported(other)),
        }
    }

    fn delete(&self, request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
        let c = &self.connections;
        match request.target.kind {
            "image" => image::delete(c, request),
            "volume" => volume::delete(c, request),
            "bridge" => network::delete(c, request),
            "instance" => instance::delete(c, request),
            other => Err(unsupported(other)),
        }
    }

    fn scan(&self, request: &ScanRequest<'_>) -> Result<Vec<Found>, ProviderError> {
        scan::scan(&self.connections, request)
    }

    fn reap(&self, request: &ReapRequest<'_>) -> Result<(), ProviderError> {
        scan::reap(&self.connections, request)
    }

    fn retag(&self, request: &RetagRequest<'_>) -> Result<(), ProviderError> {
        scan::retag(&self.connections, request)
    }

    fn snapshot(&self, request: &SnapshotRequest<'_>) -> Result<Snapshotted, ProviderError> {
        match request.target.kind {
            "volume" => volume::snapshot(&self.connections, request),
            other => Err(ProviderError::new(format!(
                "{} is a {other}: only volumes kept in a store are snapshotted",
                request.target.address
            ))),
        }
    }

    fn import(
        &self,
        target: &Target<'_>,
        id: &str,
        config: &Value,
    ) -> Result<Value, ProviderError> {
        match target.kind {
            "instance" => instance::import(&self.connections, id, config),
            other => Err(ProviderError::new(format!(
                "the libvirt driver cannot import {other} resources (only instances)"
            ))),
        }
    }
}

fn unsupported(kind: &str) -> ProviderError {
    ProviderError::new(format!("the libvirt driver has no {kind} resources"))
}

/// A libvirt failure, with what hive was doing.
pub(crate) fn lv(
    doing: impl std::fmt::Display,
) -> impl FnOnce(virt::error::Error) -> ProviderError {
    move |e| {
        let message = format!("{doing}: libvirt: {}", e.message());
        if not_found(&e) {
            ProviderError::not_found(message)
        } else {
            ProviderError::new(message)
        }
    }
}

/// Whether a libvirt error says the object does not exist (as opposed to any other failure,
/// which must never be taken for "gone").
pub(crate) fn not_found(e: &virt::error::Error) -> bool {
    use virt::error::ErrorNumber::{NoDomain, NoNetwork, NoStoragePool, NoStorageVolume};
    e.code()
        .is_any(vec![NoDomain, NoNetwork, NoStoragePool, NoStorageVolume])
}

/// The configuration as a map, to which computed attributes are added.
pub(crate) fn object(config: &Value) -> BTreeMap<String, Value> {
    config.as_map().cloned().unwrap_or_default()
}

/// A name for a libvirt object, from its address.
pub(crate) fn name_from_address(address: &InstanceAddr) -> String {
    hive_sdk::addr::backend_name(address)
}

/// Hex of the SHA-256 of some bytes.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
