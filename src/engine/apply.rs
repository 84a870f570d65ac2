//! Executing a plan: a walk over its steps ([`super::steps`]), each starting as soon as what it
//! depends on is done, under a global cap and per-host caps. Each step's configuration is
//! evaluated just before it runs ([`super::evaluate`]); every intent and result is recorded
//! ([`super::record`]). Provider calls run on blocking worker threads; a call that panics
//! fails its step. Ctrl-C stops new steps and a second one cancels running ones; SIGTERM (what
//! CI runners send) does both at once and waits a bounded time for running steps.

use super::evaluate::StepEvaluator;
use super::record::Recording;
use super::registry::Registry;
use super::steps::{self, Step};
use super::{Event, Hook, StepKind};
use crate::config::Config;
use crate::diag::Diagnostics;
use crate::lang::walk::Evaluated;
use crate::plan::{Action, Change, Plan};
use hive_sdk::provider::{
    ApplyRequest, Cancel, DeleteRequest, Provider, ProviderError, Target as ProviderTarget,
};
use hive_sdk::value::tagged;
use hive_sdk::Value;
use hive_state::{ObjectAddr, OutputState, Recorder, State, StateError};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long running steps get to end after SIGTERM before hive stops waiting for them.
pub const TERMINATE_BOUND: Duration = Duration::from_secs(20);

pub struct ApplyInput<'a> {
    /// The configuration and what its plan evaluated, for evaluating steps; `None` when only
    /// deleting (destroy).
    pub config: Option<(&'a Config, &'a Evaluated)>,
    pub plan: &'a Plan,
    pub registry: &'a Registry,
    /// The (refreshed) state the plan was made from.
    pub state: State,
    pub recorder: Box<dyn Recorder>,
    pub parallelism: usize,
    /// Where the state lives, for the tags of what is made.
    pub state_location: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Ctrl-C.
    Interrupted,
    /// SIGTERM.
    Terminated,
    /// The state's storage has no room to record more steps.
    NoRoom,
}

/// A step that failed: its object, what it was doing (`creating`), and why, in the backend's
/// words.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub address: String,
    pub doing: &'static str,
    pub error: String,
}

pub struct ApplyReport {
    pub state: State,
    pub completed: usize,
    pub failed: Vec<Failure>,
    pub skipped: Vec<String>,
    /// Why the walk stopped starting steps, if it did.
    pub stopped: Option<Stop>,
    /// Steps that never started (stopped, or what they wait on failed).
    pub not_started: usize,
    pub outputs: BTreeMap<String, Value>,
    pub diagnostics: Diagnostics,
}

impl ApplyReport {
    pub fn interrupted(&self) -> bool {
        matches!(self.stopped, Some(Stop::Interrupted | Stop::Terminated))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum StepState {
    Waiting,
    Running,
    Done,
    Failed,
    Skipped,
}

/// A provider call ready to run on a worker thread: the object's new attributes and id, or
/// nothing for a delete.
type ProviderCall = Box<dyn FnOnce() -> Result<Option<(Value, String)>, ProviderError> + Send>;

/// What a finished provider call sends back.
struct Outcome {
    step: usize,
    result: Result<Option<(Value, String)>, ProviderError>,
    elapsed: Duration,
}

pub fn apply(input: ApplyInput<'_>, hook: &mut dyn Hook) -> Result<ApplyReport, StateError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| StateError::Io {
            doing: "starting the apply runtime".into(),
            error,
        })?;
    runtime.block_on(Walk::new(input).run(hook))
}

struct Walk<'a> {
    plan: &'a Plan,
    registry: &'a Registry,
    base_dir: PathBuf,
    state_location: String,
    steps: Vec<Step>,
    status: Vec<StepState>,
    remaining: Vec<usize>,
    recording: Recording,
    evaluator: Option<StepEvaluator<'a>>,
    parallelism: usize,
    /// Steps on each host now, and the hosts of steps that took a slot.
    host_running: HashMap<String, usize>,
    holding_slot: HashMap<usize, String>,
    cancel: Cancel,
    /// Providers' progress messages, (address, message), from the worker threads.
    progress: tokio::sync::mpsc::UnboundedSender<(String, String)>,
    progress_received: Option<tokio::sync::mpsc::UnboundedReceiver<(String, String)>>,
    /// Where each create-before-destroy change moved its old object.
    deposed: HashMap<usize, ObjectAddr>,
    report: ApplyReport,
}

impl<'a> Walk<'a> {
    fn new(input: ApplyInput<'a>) -> Walk<'a> {
        let mut secrets = Vec::new();
        for v in input.plan.variables.values() {
            v.sensitive_texts(&mut secrets);
        }
        if let Some((_, evaluated)) = input.config {
            for v in evaluated.vars.values() {
                v.sensitive_texts(&mut secrets);
            }
        }
        let steps = steps::build(input.plan, &input.state);
        let (progress_sender, progress_receiver) = tokio::sync::mpsc::unbounded_channel();
        Walk {
            plan: input.plan,
            registry: input.registry,
            base_dir: input
                .config
                .map_or_else(|| PathBuf::from("."), |(c, _)| c.dir.clone()),
            state_location: input.state_location,
            status: vec![StepState::Waiting; steps.len()],
            remaining: steps.iter().map(|s| s.deps.len()).collect(),
            steps,
            report: ApplyReport {
                state: State::new(input.state.lineage.clone()),
                completed: 0,
                failed: Vec::new(),
                skipped: Vec::new(),
                stopped: None,
                not_started: 0,
                outputs: BTreeMap::new(),
                diagnostics: Diagnostics::default(),
            },
            recording: Recording::new(
                input.recorder,
                input.state,
                secrets,
                input.registry.catalog().clone(),
            ),
            evaluator: input
                .config
                .map(|(config, evaluated)| StepEvaluator::new(config, evaluated)),
            parallelism: input.parallelism.max(1),
            host_running: HashMap::new(),
            holding_slot: HashMap::new(),
            cancel: Cancel::default(),
            progress: progress_sender,
            progress_received: Some(progress_receiver),
            deposed: HashMap::new(),
        }
    }

    fn change(&self, s: usize) -> &'a Change {
        let plan: &'a Plan = self.plan;
        &plan.changes[self.steps[s].change]
    }

    /// How a step's object is named in events: its address, and which old object for one
    /// kept aside.
    fn shown(&self, s: usize) -> String {
        self.change(s).object().to_string()
    }

    async fn run(mut self, hook: &mut dyn Hook) -> Result<ApplyReport, StateError> {
        let mut ready: VecDeque<usize> = (0..self.steps.len())
            .filter(|&s| self.remaining[s] == 0)
            .collect();
        let mut running = tokio::task::JoinSet::new();
        let mut interrupts = 0;
        let (_, closed) = tokio::sync::mpsc::unbounded_channel();
        let mut progress = self.progress_received.take().unwrap_or(closed);
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let mut give_up_at: Option<tokio::time::Instant> = None;
        loop {
            if self.report.stopped.is_none() {
                self.start_ready(&mut ready, &mut running, hook)?;
            }
            if running.is_empty() {
                break;
            }
            let deadline = give_up_at;
            tokio::select! {
                joined = running.join_next() => {
                    let Some(joined) = joined else { break };
                    // What a step said just before it ended is shown before its end.
                    while let Ok((address, message)) = progress.try_recv() {
                        self.show_progress(address, message, hook);
                    }
                    self.finish_joined(joined, &mut ready, hook)?;
                    // Take every other step that finished meanwhile, so the next round starts
                    // all that became ready with one journal sync.
                    while let Some(joined) = running.try_join_next() {
                        self.finish_joined(joined, &mut ready, hook)?;
                    }
                }
                Some((address, message)) = progress.recv() => {
                    self.show_progress(address, message, hook);
                }
                _ = tokio::signal::ctrl_c() => {
                    interrupts += 1;
                    if interrupts == 1 && self.report.stopped.is_none() {
                        self.report.stopped = Some(Stop::Interrupted);
                        hook.event(&Event::Interrupted { running: running.len() });
                    } else {
                        self.cancel.cancel();
                        hook.event(&Event::Abandoning { running: running.len() });
                    }
                }
                _ = async { match terminate.as_mut() {
                    Some(t) => { t.recv().await; }
                    None => std::future::pending::<()>().await,
                } } => {
                    self.report.stopped = Some(Stop::Terminated);
                    self.cancel.cancel();
                    give_up_at = Some(tokio::time::Instant::now() + TERMINATE_BOUND);
                    hook.event(&Event::Abandoning { running: running.len() });
                }
                _ = async { match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending::<()>().await,
                } } => {
                    // What still runs keeps its "creating" record: the next command finds it.
                    break;
                }
            }
        }
        if self.report.stopped.is_none() {
            self.fail_unreachable(hook);
        }
        self.report.not_started = self
            .status
            .iter()
            .filter(|s| matches!(s, StepState::Waiting | StepState::Skipped))
            .count();
        self.finish_outputs()?;
        self.recording.sync()?;
        self.report.state = self.recording.into_state();
        Ok(self.report)
    }

    /// Steps still waiting when nothing runs can never start (their order is circular): they
    /// are failures, never silently dropped.
    fn fail_unreachable(&mut self, hook: &mut dyn Hook) {
        for s in 0..self.steps.len() {
            if self.status[s] != StepState::Waiting {
                continue;
            }
            self.status[s] = StepState::Failed;
            let address = self.shown(s);
            let error = "it waits on steps that wait on it (an ordering cycle between replacements); nothing was done to it".to_string();
            hook.event(&Event::Failed {
                address: address.clone(),
                kind: self.steps[s].kind,
                error: error.clone(),
                elapsed: Duration::ZERO,
            });
            self.report.failed.push(Failure {
                address,
                doing: self.steps[s].kind.words().0,
                error,
            });
        }
    }

    /// Starts every ready step the caps allow.
    fn start_ready(
        &mut self,
        ready: &mut VecDeque<usize>,
        running: &mut tokio::task::JoinSet<Outcome>,
        hook: &mut dyn Hook,
    ) -> Result<(), StateError> {
        let mut deferred = VecDeque::new();
        let mut starting = Vec::new();
        while running.len() + starting.len() < self.parallelism {
            let Some(s) = ready.pop_front() else { break };
            if let Some((host, cap)) = &self.steps[s].host {
                if self.host_running.get(host).copied().unwrap_or(0) >= *cap {
                    deferred.push_back(s);
                    continue;
                }
            }
            // Room to record what it does, before it does anything.
            if let Err(e) = self.recording.reserve(running.len() + starting.len() + 1) {
                self.report.stopped = Some(Stop::NoRoom);
                self.report
                    .diagnostics
                    .push(crate::diag::Diagnostic::error(format!(
                        "no more steps were started: {e}; every step that ran is recorded"
                    )));
                deferred.push_back(s);
                break;
            }
            match self.prepare(s)? {
                Ok(call) => {
                    if let Some((host, _)) = &self.steps[s].host {
                        *self.host_running.entry(host.clone()).or_default() += 1;
                        self.holding_slot.insert(s, host.clone());
                    }
                    self.status[s] = StepState::Running;
                    hook.event(&Event::Started {
                        address: self.shown(s),
                        kind: self.steps[s].kind,
                    });
                    starting.push((s, call));
                }
                Err(error) => {
                    // It failed before reaching its backend: it took no slot and touched
                    // no object.
                    self.fail(s, error, Duration::ZERO, false, hook)?;
                }
            }
        }
        // Every intent (and earlier result) is on disk before its backend call begins.
        if !starting.is_empty() {
            self.recording.sync()?;
        }
        for (s, call) in starting {
            running.spawn_blocking(move || {
                let started = Instant::now();
                let result = catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|panic| {
                    Err(ProviderError::new(format!(
                        "the provider panicked: {}",
                        super::parallel::panic_text(panic.as_ref())
                    )))
                });
                Outcome {
                    step: s,
                    result,
                    elapsed: started.elapsed(),
                }
            });
        }
        deferred.extend(ready.drain(..));
        *ready = deferred;
        Ok(())
    }

    /// Evaluates a step's configuration and records its intent; returns the provider call to
    /// run, or why the step cannot run.
    fn prepare(&mut self, s: usize) -> Result<Result<ProviderCall, String>, StateError> {
        let step_kind = self.steps[s].kind;
        let change = self.change(s);
        let Some(provider) = self.registry.get(&change.kind, &change.driver) else {
            return Ok(Err(format!(
                "no provider for {} resources with driver \"{}\"",
                change.kind, change.driver
            )));
        };
        let lineage = self.recording.state.lineage.clone();
        let call = CallTarget {
            provider,
            address: change.address.clone(),
            kind: change.kind.clone(),
            lineage,
            state: self.state_location.clone(),
            expires: self.recording.state.expires,
            base_dir: self.base_dir.clone(),
            cancel: self.cancel.clone(),
        };
        match step_kind {
            StepKind::Create | StepKind::Update => {
                let evaluated = match self.evaluator.as_mut() {
                    Some(e) => e.config_of(change),
                    None => Err("no configuration to evaluate".to_string()),
                };
                let config = match evaluated {
                    Ok(c) => c,
                    Err(e) => return Ok(Err(e)),
                };
                let prior = change.before.clone().map(|p| p.unmark_deep().0);
                if step_kind == StepKind::Create {
                    if change.action == Action::CreateThenDelete {
                        if let Some(object) = self.recording.depose(change)? {
                            self.deposed.insert(self.steps[s].change, object);
                        }
                    }
                    self.recording.intent(change, &config)?;
                }
                let sensitive = sensitive_attributes(&config);
                let plain = config.unmark_deep().0;
                let progress = self.progress.clone();
                let shown = self.shown(s);
                let update = step_kind == StepKind::Update;
                Ok(Ok(Box::new(move || {
                    call.apply(plain, prior, update, sensitive, shown, progress)
                })))
            }
            StepKind::Delete | StepKind::DeleteDeposed => {
                let before = change.before.clone().unwrap_or(Value::Null);
                let sensitive = sensitive_attributes(&before);
                let prior = self.with_lent_credentials(&change.kind, before.unmark_deep().0);
                let id = change.id.clone().unwrap_or_default();
                Ok(Ok(Box::new(move || {
                    call.delete(&id, &prior, &sensitive).map(|()| None)
                })))
            }
        }
    }

    fn show_progress(&self, address: String, mut message: String, hook: &mut dyn Hook) {
        crate::diag::redact_text(&mut message, &self.recording.secrets);
        hook.event(&Event::Progress { address, message });
    }

    /// A record about to be deleted, with the credentials of what it refers to lent from
    /// the configuration (a volume snapshotted into its store first needs the store's keys).
    fn with_lent_credentials(&self, kind: &str, prior: Value) -> Value {
        match self.evaluator.as_ref() {
            Some(evaluator) => {
                evaluator.with_lent_credentials(self.registry.catalog(), kind, prior)
            }
            None => prior,
        }
    }

    fn finish_joined(
        &mut self,
        joined: Result<Outcome, tokio::task::JoinError>,
        ready: &mut VecDeque<usize>,
        hook: &mut dyn Hook,
    ) -> Result<(), StateError> {
        match joined {
            Ok(outcome) => self.finish(outcome, ready, hook),
            // Only a runtime shutting down cancels a task; its step keeps what was recorded.
            Err(e) => {
                self.report.failed.push(Failure {
                    address: "?".into(),
                    doing: "running",
                    error: format!("a step was lost: {e}"),
                });
                Ok(())
            }
        }
    }

    fn finish(
        &mut self,
        outcome: Outcome,
        ready: &mut VecDeque<usize>,
        hook: &mut dyn Hook,
    ) -> Result<(), StateError> {
        let s = outcome.step;
        if let Some(host) = self.holding_slot.remove(&s) {
            if let Some(n) = self.host_running.get_mut(&host) {
                *n = n.saturating_sub(1);
            }
        }
        let kind = self.steps[s].kind;
        let change = self.change(s);
        let result = match outcome.result {
            Ok(result) => result,
            Err(error) => {
                let message = if self.cancel.is_cancelled() {
                    format!("abandoned: {error}")
                } else {
                    error.to_string()
                };
                return self.fail(s, message, outcome.elapsed, true, hook);
            }
        };
        match (kind, result) {
            (StepKind::Create | StepKind::Update, Some((attributes, id))) => {
                let value = self.recording.created(change, attributes, id)?;
                if let Some(e) = self.evaluator.as_mut() {
                    e.set(&change.address, value);
                }
            }
            (StepKind::Delete, _) => self.recording.removed(&change.object())?,
            (StepKind::DeleteDeposed, _) => {
                if let Some(object) = self.deposed.get(&self.steps[s].change).cloned() {
                    self.recording.removed(&object)?;
                }
            }
            (_, None) => {}
        }
        self.status[s] = StepState::Done;
        self.report.completed += 1;
        hook.event(&Event::Finished {
            address: self.shown(s),
            kind,
            elapsed: outcome.elapsed,
        });
        for &d in &self.steps[s].dependants {
            self.remaining[d] = self.remaining[d].saturating_sub(1);
            if self.remaining[d] == 0 && self.status[d] == StepState::Waiting {
                ready.push_back(d);
            }
        }
        Ok(())
    }

    /// A step failed: `reached_backend` says whether its backend call ran (a create or
    /// update that did may have left a broken object: it is tainted, unless it was
    /// abandoned, whose "creating" record the next refresh acts on). What depends on it is
    /// skipped.
    fn fail(
        &mut self,
        s: usize,
        mut message: String,
        elapsed: Duration,
        reached_backend: bool,
        hook: &mut dyn Hook,
    ) -> Result<(), StateError> {
        let kind = self.steps[s].kind;
        let change = self.change(s);
        let abandoned = self.cancel.is_cancelled();
        if reached_backend && matches!(kind, StepKind::Create | StepKind::Update) && !abandoned {
            self.recording.taint(change)?;
        }
        self.status[s] = StepState::Failed;
        crate::diag::redact_text(&mut message, &self.recording.secrets);
        let address = self.shown(s);
        hook.event(&Event::Failed {
            address: address.clone(),
            kind,
            error: message.clone(),
            elapsed,
        });
        self.report.failed.push(Failure {
            address: address.clone(),
            doing: kind.words().0,
            error: message,
        });
        self.skip_dependants(s, &address, hook);
        Ok(())
    }

    fn skip_dependants(&mut self, s: usize, because: &str, hook: &mut dyn Hook) {
        let mut stack = self.steps[s].dependants.clone();
        while let Some(d) = stack.pop() {
            if self.status[d] != StepState::Waiting {
                continue;
            }
            self.status[d] = StepState::Skipped;
            let address = self.shown(d);
            hook.event(&Event::Skipped {
                address: address.clone(),
                kind: self.steps[d].kind,
                because: because.to_string(),
            });
            self.report.skipped.push(address);
            stack.extend(self.steps[d].dependants.iter().copied());
        }
    }

    /// Outputs evaluated with the final values, recorded in the state.
    fn finish_outputs(&mut self) -> Result<(), StateError> {
        // Nothing is left to describe after a destroy; after a targeted one, the outputs
        // (or one that left some out) the outputs stay as they were until the next apply.
        if self.plan.destroy && !(self.plan.targets.is_empty() && self.plan.excludes.is_empty()) {
            return Ok(());
        }
        if self.plan.destroy {
            if !self.recording.state.outputs.is_empty() {
                self.recording.record(hive_state::journal::Entry::Outputs {
                    outputs: BTreeMap::new(),
                })?;
            }
            return Ok(());
        }
        let Some(evaluator) = self.evaluator.as_mut() else {
            return Ok(());
        };
        let outputs = evaluator.outputs();
        let checks = evaluator.checks();
        self.report.diagnostics.extend(checks);
        let mut recorded = BTreeMap::new();
        for (name, value) in &outputs {
            if value.is_wholly_known() {
                recorded.insert(
                    name.clone(),
                    OutputState {
                        value: tagged::to_json(value),
                        sensitive: value.contains_sensitive(),
                    },
                );
            } else if let Some(previous) = self.recording.state.outputs.get(name) {
                // Not known yet (what it reads was not applied, say with -target): the last
                // known value stays until it is.
                recorded.insert(name.clone(), previous.clone());
            }
        }
        if recorded != self.recording.state.outputs {
            self.recording
                .record(hive_state::journal::Entry::Outputs { outputs: recorded })?;
        }
        self.report.outputs = outputs;
        Ok(())
    }
}

/// The top-level attributes that hold sensitive values.
fn sensitive_attributes(value: &Value) -> Vec<String> {
    value
        .as_map()
        .into_iter()
        .flatten()
        .filter(|(_, v)| v.contains_sensitive())
        .map(|(k, _)| k.clone())
        .collect()
}

/// What a provider call is about, moved to its worker thread.
struct CallTarget {
    provider: Arc<dyn Provider>,
    address: hive_sdk::addr::InstanceAddr,
    kind: String,
    lineage: String,
    state: String,
    expires: Option<u64>,
    base_dir: PathBuf,
    cancel: Cancel,
}

impl CallTarget {
    fn target(&self) -> ProviderTarget<'_> {
        ProviderTarget {
            address: &self.address,
            kind: &self.kind,
            lineage: &self.lineage,
            state: &self.state,
            expires: self.expires,
            base_dir: &self.base_dir,
        }
    }

    fn apply(
        &self,
        config: Value,
        prior: Option<Value>,
        update: bool,
        sensitive: Vec<String>,
        shown: String,
        progress: tokio::sync::mpsc::UnboundedSender<(String, String)>,
    ) -> Result<Option<(Value, String)>, ProviderError> {
        let report = |message: &str| {
            let _ = progress.send((shown.clone(), message.to_string()));
        };
        let request = ApplyRequest {
            target: self.target(),
            config: &config,
            prior: if update { prior.as_ref() } else { None },
            cancel: &self.cancel,
            sensitive: &sensitive,
            progress: &report,
        };
        let response = if update {
            self.provider.update(&request)
        } else {
            self.provider.create(&request)
        }?;
        Ok(Some((response.state, response.id)))
    }

    fn delete(&self, id: &str, prior: &Value, sensitive: &[String]) -> Result<(), ProviderError> {
        self.provider.delete(&DeleteRequest {
            target: self.target(),
            id,
            prior,
            cancel: &self.cancel,
            sensitive,
        })
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
