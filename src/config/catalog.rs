//! The resource kinds a configuration may declare, as the compiled-in providers describe them:
//! for each kind, the schema its blocks are read with (every driver's attributes together)
//! and each driver's own.

use hive_sdk::schema::Schema;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct KindInfo {
    /// What a block of the kind may hold, whatever its driver.
    pub schema: Arc<Schema>,
    /// What each driver takes.
    pub drivers: BTreeMap<&'static str, Arc<Schema>>,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    kinds: BTreeMap<String, KindInfo>,
}

impl Catalog {
    /// Adds what `driver` serves of `kind`; a kind several drivers serve takes the union of
    /// their schemas. `Err` when two declarations of one name disagree.
    pub fn add(&mut self, kind: &str, driver: &'static str, schema: Schema) -> Result<(), String> {
        let schema = Arc::new(schema);
        match self.kinds.get_mut(kind) {
            None => {
                self.kinds.insert(
                    kind.to_string(),
                    KindInfo {
                        schema: schema.clone(),
                        drivers: BTreeMap::from([(driver, schema)]),
                    },
                );
            }
            Some(info) => {
                let merged = info
                    .schema
                    .merged(&schema)
                    .map_err(|e| format!("{kind} with driver {driver}: {e}"))?;
                info.schema = Arc::new(merged);
                info.drivers.insert(driver, schema);
            }
        }
        Ok(())
    }

    pub fn kind(&self, name: &str) -> Option<&KindInfo> {
        self.kinds.get(name)
    }

    pub fn is_kind(&self, name: &str) -> bool {
        self.kinds.contains_key(name)
    }

    /// Every kind's name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.kinds.keys().map(String::as_str)
    }

    /// The schema of a driver of a kind.
    pub fn driver_schema(&self, kind: &str, driver: &str) -> Option<&Schema> {
        self.kinds.get(kind)?.drivers.get(driver).map(|s| &**s)
    }
}
