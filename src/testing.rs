//! What the crate's unit tests share: a mock provider serving the `command` kind with a small
//! schema, whose objects live in memory and which fails, panics or waits on demand; and
//! loading a one-file configuration with it.

use crate::config::{load_dir, Config};
use crate::diag::Diagnostics;
use crate::engine::registry::Registry;
use crate::lang::walk::{variables, MissingVars, Variables};
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, DeleteRequest, KindSpec, PlanRequest, PlanResponse, Provider,
    ProviderError, ReadRequest, ReadResponse, Target,
};
use hive_sdk::schema::{computed, optional, schema, Schema};
use hive_sdk::{Type, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the mock does for an address.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Behaviour {
    Fail,
    Panic,
    /// Waits until cancelled (or a minute passes).
    Hang,
    /// Reports the object gone on refresh.
    Gone,
    /// Reports `input` changed on refresh.
    Changed,
    /// Says its object must be made anew although its configuration is the same.
    Stale,
    /// Takes a while: returns once another call runs beside it, or after 300 ms.
    Slow,
}

/// The mock backend. Clones share what it saw.
#[derive(Clone, Default)]
pub struct Mock {
    pub behaviours: Arc<Mutex<BTreeMap<String, Behaviour>>>,
    /// Every call, `create command.a`, in order.
    pub calls: Arc<Mutex<Vec<String>>>,
    /// The most calls running at once.
    pub peak: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    /// Objects made elsewhere, by id, for import.
    pub elsewhere: Arc<Mutex<BTreeMap<String, Value>>>,
}

impl Mock {
    pub fn with(behaviours: &[(&str, Behaviour)]) -> Mock {
        let mock = Mock::default();
        if let Ok(mut b) = mock.behaviours.lock() {
            for (address, behaviour) in behaviours {
                b.insert(address.to_string(), *behaviour);
            }
        }
        mock
    }

    fn behaviour(&self, target: &Target<'_>) -> Option<Behaviour> {
        let b = self.behaviours.lock().ok()?;
        b.get(&target.address.to_string()).copied()
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn call(&self, what: &str, target: &Target<'_>) -> Result<(), ProviderError> {
        if let Ok(mut c) = self.calls.lock() {
            c.push(format!("{what} {}", target.address));
        }
        Ok(())
    }

    /// Runs a call's body, counting how many run at once.
    fn running<T>(&self, body: impl FnOnce() -> T) -> T {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let out = body();
        self.running.fetch_sub(1, Ordering::SeqCst);
        out
    }

    /// Returns once another call runs beside this one, or after 300 ms: a cap that holds
    /// shows as a peak of one, whatever the machine's speed.
    fn linger(&self) {
        let deadline = Instant::now() + Duration::from_millis(300);
        while self.running.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// What refresh finds for an object.
    fn look(&self, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
        match self.behaviour(&request.target) {
            Some(Behaviour::Slow) => {
                self.linger();
                Ok(ReadResponse::Found(request.prior.clone()))
            }
            Some(Behaviour::Gone) => Ok(ReadResponse::Gone),
            Some(Behaviour::Changed) => {
                let mut now = request.prior.clone();
                if let Value::Map(m) = &mut now {
                    m.insert("input".into(), Value::string("edited by hand"));
                }
                Ok(ReadResponse::Found(now))
            }
            _ => Ok(ReadResponse::Found(request.prior.clone())),
        }
    }

    fn make(&self, request: &ApplyRequest<'_>, what: &str) -> Result<ApplyResponse, ProviderError> {
        self.call(what, &request.target)?;
        self.running(|| match self.behaviour(&request.target) {
            Some(Behaviour::Fail) => Err(ProviderError::new("the mock refuses")),
            Some(Behaviour::Panic) => panic!("the mock panics"),
            Some(Behaviour::Hang) => {
                let deadline = Instant::now() + Duration::from_secs(60);
                while !request.cancel.is_cancelled() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(ProviderError::new("the mock was cancelled"))
            }
            _ => {
                let mut state = request.config.as_map().cloned().unwrap_or_default();
                let id = format!("id-{}", request.target.address);
                state.insert("id".into(), Value::string(&id));
                state.insert("output".into(), Value::string("made"));
                Ok(ApplyResponse {
                    state: Value::Map(state),
                    id,
                })
            }
        })
    }
}

/// The mock's `command`: an input, triggers that replace it, a host, and what it computes.
pub fn command_schema() -> Schema {
    schema(
        vec![
            optional("input", Type::Any),
            optional("triggers", Type::Any).replaces(),
            optional("host", Type::Any).refers_to("host").replaces(),
            optional("hosts", Type::Any).refers_to("host"),
            optional("placement", Type::String),
            optional("memory", Type::String),
            optional("name", Type::String),
            computed("id", Type::String),
            computed("output", Type::String).sensitive_from(&["input"]),
        ],
        vec![],
    )
}

impl Provider for Mock {
    fn driver(&self) -> &'static str {
        "local"
    }

    fn kinds(&self) -> Vec<KindSpec> {
        vec![KindSpec {
            kind: "command",
            schema: command_schema(),
            default_driver: true,
        }]
    }

    fn backend_name(
        &self,
        _kind: &str,
        address: &hive_sdk::addr::InstanceAddr,
        config: &Value,
    ) -> Option<String> {
        Some(
            config
                .attr_str("name")
                .map_or_else(|| hive_sdk::addr::backend_name(address), str::to_string),
        )
    }

    fn plan(
        &self,
        request: &PlanRequest<'_>,
        mut proposal: PlanResponse,
    ) -> Result<PlanResponse, ProviderError> {
        if request.prior.is_some() && self.behaviour(&request.target) == Some(Behaviour::Stale) {
            proposal.requires_replace.push("input".into());
            proposal.notes.push("its source changed".into());
        }
        Ok(proposal)
    }

    fn create(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        self.make(request, "create")
    }

    fn update(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        self.make(request, "update")
    }

    fn read(&self, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
        self.running(|| self.look(request))
    }

    fn delete(&self, request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
        self.call("delete", &request.target)?;
        self.running(|| match self.behaviour(&request.target) {
            Some(Behaviour::Fail) => Err(ProviderError::new("the mock refuses")),
            Some(Behaviour::Panic) => panic!("the mock panics"),
            Some(Behaviour::Slow) => {
                self.linger();
                Ok(())
            }
            _ => Ok(()),
        })
    }

    fn import(&self, _: &Target<'_>, id: &str, _: &Value) -> Result<Value, ProviderError> {
        let found = self.elsewhere.lock().ok().and_then(|e| e.get(id).cloned());
        found.ok_or_else(|| ProviderError::not_found(format!("no object {id}")))
    }
}

/// A registry of the mock alone (and the `host` kind).
pub fn registry(mock: &Mock) -> Registry {
    match Registry::with(vec![Arc::new(mock.clone())]) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

/// A configuration of one file, loaded with `registry`'s kinds, in a directory kept for the
/// test's life.
pub fn loaded(text: &str, registry: &Registry) -> (Config, tempfile::TempDir) {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    if let Err(e) = std::fs::write(dir.path().join("main.hive.hcl"), text) {
        panic!("{e}");
    }
    match load_dir(dir.path(), registry.catalog()) {
        Ok((config, diags)) if !diags.has_errors() => (config, dir),
        Ok((_, d)) | Err((_, d)) => panic!("{d:?}"),
    }
}

/// The configuration's variables from their defaults.
pub fn defaults(config: &Config) -> Variables {
    let mut diags = Diagnostics::default();
    variables(config, &[], MissingVars::Error, &mut diags)
}
