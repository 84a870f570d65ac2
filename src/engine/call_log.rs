//! Every provider call, timed, for a CI job's post-mortem (`HIVE_LOG=debug`): the registry
//! wraps each provider in [`Logged`], which tells a [`CallLog`] (the CLI's) what was called on
//! which object, how long it took and how it ended. No values are told; an error's text has
//! the sensitive values of the call's object taken out.

use hive_sdk::problem::Problem;
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, CheckpointRequest, DeleteRequest, KindSpec, Login, LoginRequest,
    Object, PlanRequest, PlanResponse, Provider, ProviderError, ReadRequest, ReadResponse,
    SnapshotRequest, Snapshotted, Target,
};
use hive_sdk::schema::Schema;
use hive_sdk::{addr::InstanceAddr, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One provider call as the log tells it.
pub struct Call<'a> {
    pub driver: &'static str,
    pub method: &'static str,
    /// The object it was about (`instance.node[0]`), when it was about one.
    pub address: Option<String>,
    pub elapsed: Duration,
    /// `Err` with the error's text, secrets taken out.
    pub outcome: Result<(), &'a str>,
}

pub trait CallLog: Send + Sync {
    fn call(&self, call: &Call<'_>);
}

pub struct Logged {
    inner: Arc<dyn Provider>,
    log: Arc<dyn CallLog>,
}

impl Logged {
    pub fn new(inner: Arc<dyn Provider>, log: Arc<dyn CallLog>) -> Logged {
        Logged { inner, log }
    }
}

/// The texts of the attributes named `sensitive` in `values`, and of whatever is marked
/// sensitive in them: what an error must not show.
fn secrets_of(values: &[Option<&Value>], sensitive: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for value in values.iter().flatten() {
        value.sensitive_texts(&mut out);
        for name in sensitive {
            if let Some(v) = value.attr(name) {
                Value::Sensitive(Box::new(v.clone())).sensitive_texts(&mut out);
            }
        }
    }
    // Short ones would blank out ordinary words.
    out.retain(|s| s.len() >= 4);
    out
}

impl Logged {
    fn timed<T>(
        &self,
        method: &'static str,
        address: Option<&InstanceAddr>,
        secrets: &[String],
        outcome: impl Fn(&T) -> Option<String>,
        call: impl FnOnce() -> T,
    ) -> T {
        let started = Instant::now();
        let result = call();
        let error = outcome(&result).map(|mut text| {
            for s in secrets {
                text = text.replace(s.as_str(), "(sensitive value)");
            }
            text
        });
        self.log.call(&Call {
            driver: self.inner.driver(),
            method,
            address: address.map(ToString::to_string),
            elapsed: started.elapsed(),
            outcome: error.as_deref().map_or(Ok(()), Err),
        });
        result
    }
}

fn failed<T>(r: &Result<T, ProviderError>) -> Option<String> {
    r.as_ref().err().map(|e| e.message.clone())
}

fn problems(p: &[Problem]) -> Option<String> {
    (!p.is_empty()).then(|| {
        p.iter()
            .map(|p| p.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    })
}

impl Provider for Logged {
    fn driver(&self) -> &'static str {
        self.inner.driver()
    }

    fn kinds(&self) -> Vec<KindSpec> {
        self.inner.kinds()
    }

    fn host_settings(&self) -> Schema {
        self.inner.host_settings()
    }

    fn claims(&self, kind: &str, config: &Value) -> bool {
        self.inner.claims(kind, config)
    }

    fn validate(&self, kind: &str, config: &Value) -> Vec<Problem> {
        let secrets = secrets_of(&[Some(config)], &[]);
        self.timed(
            "validate",
            None,
            &secrets,
            |p: &Vec<Problem>| problems(p),
            || self.inner.validate(kind, config),
        )
    }

    fn check_environment(&self, target: &Target<'_>, config: &Value) -> Vec<Problem> {
        let secrets = secrets_of(&[Some(config)], &[]);
        self.timed(
            "check_environment",
            Some(target.address),
            &secrets,
            |p: &Vec<Problem>| problems(p),
            || self.inner.check_environment(target, config),
        )
    }

    fn check_together(&self, objects: &[Object<'_>]) -> Vec<(usize, Problem)> {
        self.timed(
            "check_together",
            None,
            &[],
            |p: &Vec<(usize, Problem)>| (!p.is_empty()).then(|| format!("{} problem(s)", p.len())),
            || self.inner.check_together(objects),
        )
    }

    fn backend_name(&self, kind: &str, address: &InstanceAddr, config: &Value) -> Option<String> {
        self.inner.backend_name(kind, address, config)
    }

    fn plan(
        &self,
        request: &PlanRequest<'_>,
        proposal: PlanResponse,
    ) -> Result<PlanResponse, ProviderError> {
        let secrets = secrets_of(&[Some(request.config), request.prior], &[]);
        self.timed(
            "plan",
            Some(request.target.address),
            &secrets,
            failed,
            || self.inner.plan(request, proposal),
        )
    }

    fn check_create_before_destroy(&self, kind: &str, config: &Value) -> Result<(), String> {
        self.inner.check_create_before_destroy(kind, config)
    }

    fn create(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        let secrets = secrets_of(&[Some(request.config)], request.sensitive);
        self.timed(
            "create",
            Some(request.target.address),
            &secrets,
            failed,
            || self.inner.create(request),
        )
    }

    fn update(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        let secrets = secrets_of(&[Some(request.config), request.prior], request.sensitive);
        self.timed(
            "update",
            Some(request.target.address),
            &secrets,
            failed,
            || self.inner.update(request),
        )
    }

    fn read(&self, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
        self.timed("read", Some(request.target.address), &[], failed, || {
            self.inner.read(request)
        })
    }

    fn refreshes(&self) -> bool {
        self.inner.refreshes()
    }

    fn delete(&self, request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
        let secrets = secrets_of(&[Some(request.prior)], request.sensitive);
        self.timed(
            "delete",
            Some(request.target.address),
            &secrets,
            failed,
            || self.inner.delete(request),
        )
    }

    fn import(
        &self,
        target: &Target<'_>,
        id: &str,
        config: &Value,
    ) -> Result<Value, ProviderError> {
        let secrets = secrets_of(&[Some(config)], &[]);
        self.timed("import", Some(target.address), &secrets, failed, || {
            self.inner.import(target, id, config)
        })
    }

    fn snapshot(&self, request: &SnapshotRequest<'_>) -> Result<Snapshotted, ProviderError> {
        let secrets = secrets_of(&[Some(request.attributes)], &[]);
        self.timed(
            "snapshot",
            Some(request.target.address),
            &secrets,
            failed,
            || self.inner.snapshot(request),
        )
    }

    fn checkpoint(&self, request: &CheckpointRequest<'_>) -> Result<String, ProviderError> {
        self.timed(
            "checkpoint",
            Some(request.target.address),
            &[],
            failed,
            || self.inner.checkpoint(request),
        )
    }

    fn login(&self, request: &LoginRequest<'_>) -> Result<Login, ProviderError> {
        self.timed("login", Some(request.target.address), &[], failed, || {
            self.inner.login(request)
        })
    }
}
