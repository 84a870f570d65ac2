//! Which provider serves which kind and driver. Providers are compiled in.

use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, DeleteRequest, Provider, ProviderError, ReadRequest, ReadResponse,
};
use hive_sdk::Value;
use std::sync::Arc;

pub struct Registry {
    providers: Vec<Arc<dyn Provider>>,
}

impl Registry {
    /// Every provider this build has.
    pub fn standard() -> Registry {
        Registry {
            providers: vec![
                Arc::new(hive_provider_command::CommandProvider),
                Arc::new(LocalHost),
                Arc::new(hive_provider_libvirt::LibvirtProvider::new()),
                Arc::new(hive_provider_bridge::LinuxBridgeProvider::default()),
                Arc::new(hive_provider_lxd::LxdProvider::new()),
            ],
        }
    }

    pub fn with(providers: Vec<Arc<dyn Provider>>) -> Registry {
        Registry { providers }
    }

    pub fn get(&self, kind: &str, driver: &str) -> Option<Arc<dyn Provider>> {
        self.providers
            .iter()
            .find(|p| p.driver() == driver && p.kinds().contains(&kind))
            .cloned()
    }

    /// The drivers that implement `kind`, for error messages.
    pub fn drivers_for(&self, kind: &str) -> Vec<&'static str> {
        self.providers
            .iter()
            .filter(|p| p.kinds().contains(&kind))
            .map(|p| p.driver())
            .collect()
    }
}

/// The driver an object of `kind` uses: its `driver` attribute, or the kind's default.
pub fn driver_of(kind: &str, config: &Value) -> String {
    if let Some(d) = config
        .as_map()
        .and_then(|m| m.get("driver"))
        .and_then(Value::as_str)
    {
        return d.to_string();
    }
    // An image in LXD's format can only be LXD's.
    if kind == "image" && config.attr_str("format") == Some("lxd") {
        return "lxd".to_string();
    }
    match kind {
        "instance" | "volume" | "image" => "libvirt",
        "bridge" => "linux",
        "store" => "s3",
        _ => "local",
    }
    .to_string()
}

/// `host` blocks describe machines. Until the backends that use them check them, a host is
/// recorded as configured; its id is its address, or `local`.
struct LocalHost;

impl Provider for LocalHost {
    fn driver(&self) -> &'static str {
        "local"
    }

    fn kinds(&self) -> &'static [&'static str] {
        &["host"]
    }

    fn create(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        let id = request
            .config
            .as_map()
            .and_then(|m| m.get("address"))
            .and_then(Value::as_str)
            .unwrap_or("local")
            .to_string();
        let mut state = request.config.as_map().cloned().unwrap_or_default();
        state.insert("id".into(), Value::String(id.clone()));
        Ok(ApplyResponse {
            state: Value::Map(state),
            id,
        })
    }

    fn update(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        self.create(request)
    }

    fn refreshes(&self) -> bool {
        false
    }

    fn read(&self, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
        Ok(ReadResponse::Found(request.prior.clone()))
    }

    fn delete(&self, _request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
        Ok(())
    }
}
