//! The compiled-in providers: the one list of them, each behind its cargo feature, and what
//! they say they serve (kinds, drivers, schemas, default drivers), gathered into the catalog
//! configurations are read with. Adding a provider is its crate, one line here and one feature.

use super::hosts::HostProvider;
use crate::config::Catalog;
use hive_sdk::provider::Provider;
use hive_sdk::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct Registry {
    providers: Vec<Arc<dyn Provider>>,
    /// Which provider serves each kind with each driver, by index.
    served: BTreeMap<String, Vec<(&'static str, usize)>>,
    catalog: Arc<Catalog>,
    /// The driver of a kind's blocks that name none.
    defaults: BTreeMap<String, &'static str>,
}

impl Registry {
    /// Every provider this build has.
    pub fn standard() -> Result<Registry, String> {
        let providers: Vec<Arc<dyn Provider>> = vec![
            #[cfg(feature = "command")]
            Arc::new(hive_provider_command::CommandProvider),
            #[cfg(feature = "libvirt")]
            Arc::new(hive_provider_libvirt::LibvirtProvider::new()),
            #[cfg(feature = "bridge")]
            Arc::new(hive_provider_bridge::LinuxBridgeProvider::default()),
            #[cfg(feature = "lxd")]
            Arc::new(hive_provider_lxd::LxdProvider::new()),
            #[cfg(feature = "store")]
            Arc::new(hive_provider_store::StoreProvider),
            #[cfg(feature = "multipass")]
            Arc::new(hive_provider_multipass::MultipassProvider),
        ];
        Registry::with(providers)
    }

    /// These providers, and the `host` kind every build has. `Err` when two of them
    /// declare one kind and driver, or one attribute two ways.
    pub fn with(providers: Vec<Arc<dyn Provider>>) -> Result<Registry, String> {
        let mut catalog = Catalog::default();
        let mut defaults = BTreeMap::new();
        let mut host_schema = super::hosts::schema();
        let mut all: Vec<Arc<dyn Provider>> = vec![Arc::new(HostProvider)];
        all.extend(providers);
        let mut served = BTreeMap::new();
        for (index, provider) in all.iter().enumerate() {
            let driver = provider.driver();
            host_schema = host_schema
                .merged(&provider.host_settings())
                .map_err(|e| format!("the {driver} provider's host settings: {e}"))?;
            for spec in provider.kinds() {
                let drivers: &mut Vec<(&'static str, usize)> =
                    served.entry(spec.kind.to_string()).or_default();
                if drivers.iter().any(|(d, _)| *d == driver) {
                    return Err(format!(
                        "two providers serve {} with driver {driver}",
                        spec.kind
                    ));
                }
                drivers.push((driver, index));
                if spec.default_driver {
                    if let Some(other) = defaults.insert(spec.kind.to_string(), driver) {
                        return Err(format!(
                            "{} has two default drivers: {other} and {driver}",
                            spec.kind
                        ));
                    }
                }
                if spec.kind == super::hosts::KIND {
                    continue;
                }
                catalog.add(spec.kind, driver, spec.schema)?;
            }
        }
        catalog.add(super::hosts::KIND, super::hosts::DRIVER, host_schema)?;
        Ok(Registry {
            providers: all,
            served,
            catalog: Arc::new(catalog),
            defaults,
        })
    }

    /// The same registry, with every provider call told to `log` (`HIVE_LOG=debug`).
    pub fn logged(self, log: Arc<dyn super::call_log::CallLog>) -> Registry {
        let providers = self
            .providers
            .into_iter()
            .map(|p| -> Arc<dyn Provider> {
                Arc::new(super::call_log::Logged::new(p, log.clone()))
            })
            .collect();
        Registry { providers, ..self }
    }

    /// The kinds this build serves, for reading configurations.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub fn get(&self, kind: &str, driver: &str) -> Option<Arc<dyn Provider>> {
        let (_, index) = self.served.get(kind)?.iter().find(|(d, _)| *d == driver)?;
        self.providers.get(*index).cloned()
    }

    /// The driver an object of `kind` uses: its `driver` attribute; else the driver that
    /// claims it by what it holds (an image in LXD's format); else the kind's default.
    pub fn driver_of(&self, kind: &str, config: &Value) -> String {
        if let Some(d) = config.attr_str("driver") {
            return d.to_string();
        }
        if let Some(p) = self.providers.iter().find(|p| p.claims(kind, config)) {
            return p.driver().to_string();
        }
        self.defaults
            .get(kind)
            .map_or_else(String::new, |d| d.to_string())
    }

    /// The drivers that implement `kind`, for error messages.
    pub fn drivers_for(&self, kind: &str) -> Vec<&'static str> {
        let mut drivers: Vec<&'static str> = self
            .served
            .get(kind)
            .into_iter()
            .flatten()
            .map(|(d, _)| *d)
            .collect();
        drivers.sort();
        drivers
    }

    /// The kinds the provider of `driver` serves.
    pub fn kinds_of(&self, driver: &str) -> Vec<&str> {
        self.served
            .iter()
            .filter(|(_, drivers)| drivers.iter().any(|(d, _)| *d == driver))
            .map(|(k, _)| k.as_str())
            .collect()
    }

    /// Every provider, for checks across objects.
    pub fn providers(&self) -> &[Arc<dyn Provider>] {
        &self.providers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_providers_agree_on_their_schemas() {
        let registry = match Registry::standard() {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let kinds: Vec<&str> = registry.catalog().names().collect();
        for kind in ["bridge", "command", "host", "image", "instance", "volume"] {
            assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
            let id = registry
                .catalog()
                .kind(kind)
                .and_then(|k| k.schema.attribute("id").map(|a| a.mode));
            assert_eq!(id, Some(hive_sdk::schema::Mode::Computed), "{kind}.id");
        }
        let empty = Value::map::<&str>([]);
        assert_eq!(registry.driver_of("instance", &empty), "libvirt");
        assert_eq!(registry.driver_of("bridge", &empty), "linux");
        assert_eq!(registry.driver_of("command", &empty), "local");
        let lxd_image = Value::map([("format", Value::string("lxd"))]);
        assert_eq!(registry.driver_of("image", &lxd_image), "lxd");
        // What a driver serves of a shared kind stays its own.
        let catalog = registry.catalog();
        assert!(catalog
            .driver_schema("instance", "lxd")
            .is_some_and(|s| s.attribute("kind").is_some()));
        assert!(catalog
            .driver_schema("instance", "libvirt")
            .is_some_and(|s| s.attribute("kind").is_none()));
        let host = catalog.kind("host").map(|k| k.schema.clone());
        assert!(host.is_some_and(|h| h.block("lxd").is_some() && h.attribute("uri").is_some()));
    }
}
