//! Executing a plan: a walk over its steps, each starting as soon as what it depends on is
//! done, under a global cap and per-host caps. Each step's configuration is evaluated just
//! before it runs, with the values its dependencies produced. Every step is recorded in the
//! state journal: the intent before a create, the result after.

use super::registry::Registry;
use super::{Event, Hook, StepKind};
use crate::config::Config;
use crate::diag::Diagnostics;
use crate::graph::ConfigGraph;
use crate::lang::eval::ResourceTable;
use crate::lang::refs::{references, Subject};
use crate::lang::walk::{
    each_values, eval_instance, eval_local, eval_output, resource_table, Evaluated,
};
use crate::plan::{Action, Change, Plan};
use hive_sdk::addr::{InstanceAddr, InstanceKey, ResourceAddr, Target};
use hive_sdk::provider::{
    ApplyRequest, Cancel, DeleteRequest, Provider, ProviderError, Target as ProviderTarget,
};
use hive_sdk::value::tagged;
use hive_sdk::Value;
use hive_state::file::{Entry, FileBackend, Journal, StateError};
use hive_state::{OutputState, ResourceState, State, Status};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct ApplyInput<'a> {
    /// The configuration, for evaluating steps; `None` when only deleting (destroy).
    pub config: Option<&'a Config>,
    /// What the plan's evaluation produced: variables, locals, planned resource values.
    pub evaluated: Option<&'a Evaluated>,
    pub plan: &'a Plan,
    pub registry: &'a Registry,
    /// The (refreshed) state the plan was made from.
    pub state: State,
    pub backend: &'a FileBackend,
    pub parallelism: usize,
}

pub struct ApplyReport {
    pub state: State,
    pub completed: usize,
    pub failed: Vec<(String, String)>,
    pub skipped: Vec<String>,
    /// The user interrupted: some steps did not run.
    pub interrupted: bool,
    pub outputs: BTreeMap<String, Value>,
    pub diagnostics: Diagnostics,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum StepState {
    Waiting,
    Running,
    Done,
    Failed,
    Skipped,
}

struct Step {
    change: usize,
    kind: StepKind,
    deps: Vec<usize>,
    dependants: Vec<usize>,
    /// The host whose `max_parallel` applies, if any.
    host: Option<String>,
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

/// A finished worker's outcome; a worker that panicked counts as a failed step.
fn outcome_of(joined: Result<Outcome, tokio::task::JoinError>) -> Outcome {
    joined.unwrap_or_else(|e| Outcome {
        step: usize::MAX,
        result: Err(ProviderError::new(format!("a step panicked: {e}"))),
        elapsed: Duration::ZERO,
    })
}

/// Address of the old object of a create-before-destroy replacement while both exist; the
/// old object's id keeps two of them apart (a retry after a failed create).
pub fn deposed_address(address: &str, id: &str) -> String {
    let short: String = id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!("{address}#deposed-{short}")
}

/// The instance address an object belongs to: `command.a` for `command.a#deposed-1f2e`.
pub fn base_address(address: &str) -> &str {
    address.split('#').next().unwrap_or(address)
}

pub fn apply(input: ApplyInput<'_>, hook: &mut dyn Hook) -> Result<ApplyReport, StateError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| StateError::Io {
            doing: "starting the apply runtime".into(),
            error,
        })?;
    runtime.block_on(Walk::new(input)?.run(hook))
}

struct Walk<'a> {
    input: ApplyInput<'a>,
    steps: Vec<Step>,
    status: Vec<StepState>,
    remaining: Vec<usize>,
    journal: Journal,
    state: State,
    /// Every declared resource and its value as far as known now.
    table: ResourceTable,
    locals: BTreeMap<String, Value>,
    graph: Option<ConfigGraph>,
    /// The graph's evaluation order, computed once.
    order: Vec<crate::graph::Node>,
    local_deps: HashMap<ResourceAddr, Vec<String>>,
    host_limits: HashMap<String, usize>,
    host_running: HashMap<String, usize>,
    cancel: Cancel,
    /// Providers' progress messages, (address, message), from the worker threads.
    progress: tokio::sync::mpsc::UnboundedSender<(String, String)>,
    progress_received: Option<tokio::sync::mpsc::UnboundedReceiver<(String, String)>>,
    /// The `#deposed-…` address each create-before-destroy change moved its old object to.
    deposed: HashMap<usize, String>,
    /// `each.value` of every for_each instance, by resource, once evaluated.
    each_values: HashMap<ResourceAddr, HashMap<String, Value>>,
    /// The texts of sensitive values: never shown in an error, marked wherever a backend's
    /// answer repeats them.
    secrets: Vec<String>,
    report: ApplyReport,
    started_at: HashMap<usize, Instant>,
}

impl<'a> Walk<'a> {
    fn new(input: ApplyInput<'a>) -> Result<Walk<'a>, StateError> {
        let journal = input.backend.open_journal(input.state.serial)?;
        let state = input.state.clone();
        let graph = input.config.map(ConfigGraph::build);
        let order = graph
            .as_ref()
            .map(ConfigGraph::evaluation_order)
            .unwrap_or_default();
        let values: HashMap<ResourceAddr, Value> = input
            .evaluated
            .map(|e| {
                e.resources
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let table = match input.config {
            Some(config) => resource_table(config, values),
            None => ResourceTable {
                declared: HashMap::new(),
                values,
            },
        };
        let locals = input
            .evaluated
            .map(|e| e.locals.clone())
            .unwrap_or_default();
        let (progress_sender, progress_receiver) = tokio::sync::mpsc::unbounded_channel();
        let mut walk = Walk {
            steps: Vec::new(),
            status: Vec::new(),
            remaining: Vec::new(),
            journal,
            report: ApplyReport {
                state: State::new(state.lineage.clone()),
                completed: 0,
                failed: Vec::new(),
                skipped: Vec::new(),
                interrupted: false,
                outputs: BTreeMap::new(),
                diagnostics: Diagnostics::default(),
            },
            state,
            table,
            locals,
            graph,
            order,
            local_deps: HashMap::new(),
            host_limits: HashMap::new(),
            host_running: HashMap::new(),
            cancel: Cancel::default(),
            progress: progress_sender,
            progress_received: Some(progress_receiver),
            deposed: HashMap::new(),
            each_values: HashMap::new(),
            secrets: Vec::new(),
            started_at: HashMap::new(),
            input,
        };
        for v in walk.input.plan.variables.values() {
            v.sensitive_texts(&mut walk.secrets);
        }
        if let Some(e) = walk.input.evaluated {
            for v in e.vars.values() {
                v.sensitive_texts(&mut walk.secrets);
            }
        }
        walk.secrets.sort();
        walk.secrets.dedup();
        walk.build_steps();
        Ok(walk)
    }

    /// Turns changes into steps with their ordering.
    fn build_steps(&mut self) {
        let plan = self.input.plan;
        let mut create_step: HashMap<&str, usize> = HashMap::new();
        // The steps that delete an old object, by the base address it belongs to (its own
        // delete, and the deletes of replaced objects kept as `#deposed-…`).
        let mut deletes_of: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut own_delete: HashMap<usize, usize> = HashMap::new();
        for (i, change) in plan.changes.iter().enumerate() {
            let host = self.host_of(change);
            let mut push = |kind| {
                self.steps.push(Step {
                    change: i,
                    kind,
                    deps: Vec::new(),
                    dependants: Vec::new(),
                    host: host.clone(),
                });
                self.steps.len() - 1
            };
            let base = base_address(&change.address);
            match change.action {
                Action::NoOp => {}
                Action::Create | Action::Update => {
                    let kind = if change.action == Action::Create {
                        StepKind::Create
                    } else {
                        StepKind::Update
                    };
                    create_step.insert(&change.address, push(kind));
                }
                Action::Delete => {
                    let d = push(StepKind::Delete);
                    deletes_of.entry(base).or_default().push(d);
                    own_delete.insert(i, d);
                }
                Action::DeleteThenCreate => {
                    let d = push(StepKind::Delete);
                    let c = push(StepKind::Create);
                    deletes_of.entry(base).or_default().push(d);
                    own_delete.insert(i, d);
                    create_step.insert(&change.address, c);
                }
                Action::CreateThenDelete => {
                    let c = push(StepKind::Create);
                    let d = push(StepKind::DeleteDeposed);
                    create_step.insert(&change.address, c);
                    deletes_of.entry(base).or_default().push(d);
                }
            }
        }
        // What each existing object depended on when it was made: old objects go in the
        // reverse of that order.
        let recorded: Vec<(&str, &[String])> = self
            .input
            .state
            .resources
            .values()
            .map(|r| (base_address(&r.address), r.dependencies.as_slice()))
            .collect();
        let mut edges = Vec::new();
        for (s, step) in self.steps.iter().enumerate() {
            let change = &plan.changes[step.change];
            let base = base_address(&change.address);
            match step.kind {
                StepKind::Create | StepKind::Update => {
                    // After what it refers to is created or updated...
                    for dep in &change.dependencies {
                        if let Some(&d) = create_step.get(dep.as_str()) {
                            edges.push((s, d));
                        }
                    }
                    // ...and, when replacing, after the old object is gone.
                    if change.action == Action::DeleteThenCreate {
                        if let Some(&d) = own_delete.get(&step.change) {
                            edges.push((s, d));
                        }
                    }
                }
                StepKind::Delete | StepKind::DeleteDeposed => {
                    // After the old objects that depend on it are gone.
                    for (other, deps) in &recorded {
                        if *other != base && deps.iter().any(|d| base_address(d) == base) {
                            for &d in deletes_of.get(other).into_iter().flatten() {
                                edges.push((s, d));
                            }
                        }
                    }
                    if step.kind == StepKind::DeleteDeposed {
                        // After the new object exists and what depends on it moved over.
                        if let Some(&c) = create_step.get(change.address.as_str()) {
                            edges.push((s, c));
                        }
                        for other in &plan.changes {
                            if other.dependencies.iter().any(|d| d == &change.address) {
                                if let Some(&c) = create_step.get(other.address.as_str()) {
                                    edges.push((s, c));
                                }
                            }
                        }
                    }
                }
            }
        }
        for (from, to) in edges {
            if !self.steps[from].deps.contains(&to) {
                self.steps[from].deps.push(to);
                self.steps[to].dependants.push(from);
            }
        }
        self.status = vec![StepState::Waiting; self.steps.len()];
        self.remaining = self.steps.iter().map(|s| s.deps.len()).collect();
    }

    /// The host resource an instance names with `host = host.X`, and that host's cap.
    fn host_of(&mut self, change: &Change) -> Option<String> {
        let config = self.input.config?;
        let addr = parse_instance(&change.address)?;
        let resource = config.resources.get(&addr.resource)?;
        let attr = resource.body.attributes.get("host")?;
        let host = references(attr.expr.file, &attr.expr.expr)
            .into_iter()
            .find_map(|r| match r.subject {
                Subject::Resource(a) if a.kind == "host" => Some(a),
                _ => None,
            })?;
        let limit = self
            .input
            .evaluated
            .and_then(|e| e.resources.get(&host))
            .and_then(|v| v.as_map())
            .and_then(|m| m.get("max_parallel"))
            .and_then(Value::as_number)
            .filter(|n| *n >= 1.0);
        let name = host.to_string();
        if let Some(limit) = limit {
            self.host_limits.insert(name.clone(), limit as usize);
        }
        Some(name)
    }

    async fn run(mut self, hook: &mut dyn Hook) -> Result<ApplyReport, StateError> {
        let mut ready: VecDeque<usize> = (0..self.steps.len())
            .filter(|&s| self.remaining[s] == 0)
            .collect();
        let mut running = tokio::task::JoinSet::new();
        let parallelism = self.input.parallelism.max(1);
        let mut interrupts = 0;
        let (_, closed) = tokio::sync::mpsc::unbounded_channel();
        let mut progress = self.progress_received.take().unwrap_or(closed);
        loop {
            if interrupts == 0 {
                self.start_ready(&mut ready, &mut running, parallelism, hook)?;
            }
            if running.is_empty() {
                break;
            }
            tokio::select! {
                joined = running.join_next() => {
                    let Some(joined) = joined else { break };
                    self.finish(outcome_of(joined), &mut ready, hook)?;
                    // Take every other step that finished meanwhile, so the next round starts
                    // all that became ready with one journal sync.
                    while let Some(joined) = running.try_join_next() {
                        self.finish(outcome_of(joined), &mut ready, hook)?;
                    }
                }
                Some((address, mut message)) = progress.recv() => {
                    crate::diag::redact_text(&mut message, &self.secrets);
                    hook.event(&Event::Progress { address, message });
                }
                _ = tokio::signal::ctrl_c() => {
                    interrupts += 1;
                    self.report.interrupted = true;
                    if interrupts == 1 {
                        hook.event(&Event::Interrupted { running: running.len() });
                    } else {
                        self.cancel.cancel();
                        hook.event(&Event::Abandoning { running: running.len() });
                    }
                }
            }
        }
        if interrupts == 0 {
            self.fail_unreachable(hook);
        }
        self.finish_outputs()?;
        self.journal.sync()?;
        self.report.state = self.state;
        Ok(self.report)
    }

    /// Steps still waiting when nothing runs can never start (their order is circular): they
    /// are failures, never silently dropped.
    fn fail_unreachable(&mut self, hook: &mut dyn Hook) {
        let plan: &'a Plan = self.input.plan;
        for s in 0..self.steps.len() {
            if self.status[s] != StepState::Waiting {
                continue;
            }
            self.status[s] = StepState::Failed;
            let address = plan.changes[self.steps[s].change].address.clone();
            let error = "it waits on steps that wait on it (an ordering cycle between replacements); nothing was done to it".to_string();
            hook.event(&Event::Failed {
                address: address.clone(),
                kind: self.steps[s].kind,
                error: error.clone(),
                elapsed: Duration::ZERO,
            });
            self.report.failed.push((address, error));
        }
    }

    /// Starts every ready step the caps allow.
    fn start_ready(
        &mut self,
        ready: &mut VecDeque<usize>,
        running: &mut tokio::task::JoinSet<Outcome>,
        parallelism: usize,
        hook: &mut dyn Hook,
    ) -> Result<(), StateError> {
        let mut deferred = VecDeque::new();
        let mut starting = Vec::new();
        while running.len() + starting.len() < parallelism {
            let Some(s) = ready.pop_front() else { break };
            if let Some(host) = &self.steps[s].host {
                let limit = self.host_limits.get(host).copied().unwrap_or(usize::MAX);
                if self.host_running.get(host).copied().unwrap_or(0) >= limit {
                    deferred.push_back(s);
                    continue;
                }
            }
            match self.prepare(s)? {
                Ok(call) => {
                    if let Some(host) = &self.steps[s].host {
                        *self.host_running.entry(host.clone()).or_default() += 1;
                    }
                    self.status[s] = StepState::Running;
                    let change = &self.input.plan.changes[self.steps[s].change];
                    hook.event(&Event::Started {
                        address: change.address.clone(),
                        kind: self.steps[s].kind,
                    });
                    self.started_at.insert(s, Instant::now());
                    starting.push((s, call));
                }
                Err(error) => {
                    self.status[s] = StepState::Running;
                    self.finish(
                        Outcome {
                            step: s,
                            result: Err(ProviderError::new(error)),
                            elapsed: Duration::ZERO,
                        },
                        ready,
                        hook,
                    )?;
                }
            }
        }
        // Every intent (and earlier result) is on disk before its backend call begins.
        if !starting.is_empty() {
            self.journal.sync()?;
        }
        for (s, call) in starting {
            running.spawn_blocking(move || {
                let started = Instant::now();
                let result = call();
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
        let plan: &'a Plan = self.input.plan;
        let change = &plan.changes[self.steps[s].change];
        let Some(provider) = self.input.registry.get(&change.kind, &change.driver) else {
            return Ok(Err(format!(
                "no provider for {} resources with driver \"{}\"",
                change.kind, change.driver
            )));
        };
        let address = change.address.clone();
        let kind = change.kind.clone();
        let lineage = self.state.lineage.clone();
        let base_dir: PathBuf = self
            .input
            .config
            .map_or_else(|| PathBuf::from("."), |c| c.dir.clone());
        let cancel = self.cancel.clone();
        match step_kind {
            StepKind::Create | StepKind::Update => {
                let config = match self.evaluate(change) {
                    Ok(c) => c,
                    Err(e) => return Ok(Err(e)),
                };
                let prior = change.before.clone().map(|p| p.unmark_deep().0);
                if step_kind == StepKind::Create {
                    if change.action == Action::CreateThenDelete {
                        if let Some(old) = self.state.resource(&address).cloned() {
                            let id = old
                                .id
                                .clone()
                                .unwrap_or_else(|| self.state.serial.to_string());
                            let deposed = deposed_address(&address, &id);
                            self.deposed.insert(self.steps[s].change, deposed.clone());
                            self.record(Entry::Put {
                                resource: ResourceState {
                                    address: deposed,
                                    ..old
                                },
                            })?;
                        }
                    }
                    // The intent first: a crash from here on leaves a record to act on.
                    self.record(Entry::Put {
                        resource: ResourceState {
                            address: address.clone(),
                            kind: kind.clone(),
                            driver: change.driver.clone(),
                            id: None,
                            attributes: tagged::to_json(&config),
                            dependencies: change.dependencies.clone(),
                            status: Status::Creating,
                        },
                    })?;
                }
                let plain = config.unmark_deep().0;
                let progress = self.progress.clone();
                Ok(Ok(call_apply(
                    provider, address, kind, lineage, base_dir, plain, prior, cancel, step_kind,
                    progress,
                )))
            }
            StepKind::Delete | StepKind::DeleteDeposed => {
                let prior = change.before.clone().unwrap_or(Value::Null).unmark_deep().0;
                let id = change.id.clone().unwrap_or_default();
                Ok(Ok(Box::new(move || {
                    provider
                        .delete(&DeleteRequest {
                            target: ProviderTarget {
                                address: &address,
                                kind: &kind,
                                lineage: &lineage,
                                base_dir: &base_dir,
                            },
                            id: &id,
                            prior: &prior,
                            cancel: &cancel,
                        })
                        .map(|()| None)
                })))
            }
        }
    }

    /// The configuration of a change's instance, evaluated now.
    fn evaluate(&mut self, change: &Change) -> Result<Value, String> {
        let (Some(config), Some(evaluated)) = (self.input.config, self.input.evaluated) else {
            return Err("no configuration to evaluate".into());
        };
        let addr = parse_instance(&change.address)
            .ok_or_else(|| format!("bad address {}", change.address))?;
        let resource = config
            .resources
            .get(&addr.resource)
            .ok_or_else(|| format!("{} is not in the configuration", addr.resource))?;
        let graph = self.graph.as_ref().ok_or("no dependency graph")?;
        let order = &self.order;
        let local_names = self
            .local_deps
            .entry(addr.resource.clone())
            .or_insert_with(|| graph.local_dependencies(&addr.resource, order))
            .clone();
        for name in local_names {
            if let Ok(v) = eval_local(config, &name, &evaluated.vars, &self.locals, &self.table) {
                self.locals.insert(name, v);
            }
        }
        let each_value = match &addr.key {
            InstanceKey::Key(k) => self.each_value(config, evaluated, resource, k)?,
            _ => Value::Null,
        };
        let (value, diags) = eval_instance(
            config,
            resource,
            &addr.key,
            each_value,
            &evaluated.vars,
            &self.locals,
            &self.table,
        );
        let value = keep_ignored(resource, change, configured_part(resource.schema, value));
        if let Some(d) = diags.items.into_iter().find(|d| d.is_error()) {
            return Err(format!("evaluating its configuration: {}", d.summary));
        }
        if let Some(path) = value.first_unknown() {
            return Err(format!(
                "its configuration still holds values that are only known after apply ({path})"
            ));
        }
        Ok(value)
    }

    /// `each.value` of a for_each instance. The for_each is evaluated once per resource: all
    /// its instances start only after everything it refers to exists, so the first
    /// evaluation is final, and a resource with many keys is not evaluated once per key.
    fn each_value(
        &mut self,
        config: &Config,
        evaluated: &Evaluated,
        resource: &crate::config::Resource,
        key: &str,
    ) -> Result<Value, String> {
        if !self.each_values.contains_key(&resource.addr) {
            let values = each_values(config, resource, &evaluated.vars, &self.locals, &self.table)
                .map_err(|d| format!("evaluating its for_each: {}", d.summary))?
                .unwrap_or_default();
            self.each_values.insert(resource.addr.clone(), values);
        }
        Ok(self
            .each_values
            .get(&resource.addr)
            .and_then(|values| values.get(key))
            .cloned()
            .unwrap_or(Value::Unknown))
    }

    /// Records one change in the journal and in the state in memory.
    fn record(&mut self, entry: Entry) -> Result<(), StateError> {
        let serial = self.journal.append(&entry)?;
        entry.apply(&mut self.state);
        self.state.serial = serial;
        Ok(())
    }

    fn finish(
        &mut self,
        outcome: Outcome,
        ready: &mut VecDeque<usize>,
        hook: &mut dyn Hook,
    ) -> Result<(), StateError> {
        let s = outcome.step;
        if s >= self.steps.len() {
            self.report
                .failed
                .push(("?".into(), "a step failed unexpectedly".into()));
            return Ok(());
        }
        if let Some(host) = &self.steps[s].host {
            if let Some(n) = self.host_running.get_mut(host) {
                *n = n.saturating_sub(1);
            }
        }
        let kind = self.steps[s].kind;
        let plan: &'a Plan = self.input.plan;
        let change = &plan.changes[self.steps[s].change];
        let address = change.address.clone();
        match outcome.result {
            Ok(result) => {
                match (kind, result) {
                    (StepKind::Create | StepKind::Update, Some((new_state, id))) => {
                        let config_marks = change.after.clone().unwrap_or(Value::Null);
                        let value = remark(
                            new_state.mark_strings_containing(&self.secrets),
                            &config_marks,
                        );
                        self.record(Entry::Put {
                            resource: ResourceState {
                                address: address.clone(),
                                kind: change.kind.clone(),
                                driver: change.driver.clone(),
                                id: Some(id),
                                attributes: tagged::to_json(&value),
                                dependencies: change.dependencies.clone(),
                                status: Status::Ready,
                            },
                        })?;
                        if let Some(addr) = parse_instance(&address) {
                            set_instance(&mut self.table.values, &addr, value);
                        }
                    }
                    (StepKind::Delete, _) => self.record(Entry::Remove {
                        address: address.clone(),
                    })?,
                    (StepKind::DeleteDeposed, _) => {
                        let deposed = self.deposed.get(&self.steps[s].change).cloned();
                        if let Some(deposed) = deposed {
                            self.record(Entry::Remove { address: deposed })?;
                        }
                    }
                    (_, None) => {}
                }
                self.status[s] = StepState::Done;
                self.report.completed += 1;
                hook.event(&Event::Finished {
                    address,
                    kind,
                    elapsed: outcome.elapsed,
                });
                for &d in &self.steps[s].dependants.clone() {
                    self.remaining[d] = self.remaining[d].saturating_sub(1);
                    if self.remaining[d] == 0 && self.status[d] == StepState::Waiting {
                        ready.push_back(d);
                    }
                }
            }
            Err(error) => {
                let abandoned = self.cancel.is_cancelled();
                // A failed create or update leaves an object that must be replaced; an
                // abandoned create keeps its "creating" record for the next refresh.
                if matches!(kind, StepKind::Create | StepKind::Update) && !abandoned {
                    if let Some(mut record) = self.state.resource(&address).cloned() {
                        record.status = Status::Tainted;
                        self.record(Entry::Put { resource: record })?;
                    }
                }
                self.status[s] = StepState::Failed;
                let mut message = if abandoned {
                    format!("abandoned: {}", error.message)
                } else {
                    error.message
                };
                crate::diag::redact_text(&mut message, &self.secrets);
                hook.event(&Event::Failed {
                    address: address.clone(),
                    kind,
                    error: message.clone(),
                    elapsed: outcome.elapsed,
                });
                self.report.failed.push((address.clone(), message));
                self.skip_dependants(s, &address, hook);
            }
        }
        Ok(())
    }

    fn skip_dependants(&mut self, s: usize, because: &str, hook: &mut dyn Hook) {
        let mut stack = self.steps[s].dependants.clone();
        while let Some(d) = stack.pop() {
            if self.status[d] != StepState::Waiting {
                continue;
            }
            self.status[d] = StepState::Skipped;
            let change = &self.input.plan.changes[self.steps[d].change];
            hook.event(&Event::Skipped {
                address: change.address.clone(),
                kind: self.steps[d].kind,
                because: because.to_string(),
            });
            self.report.skipped.push(change.address.clone());
            stack.extend(self.steps[d].dependants.iter().copied());
        }
    }

    /// Outputs evaluated with the final values, recorded in the state.
    fn finish_outputs(&mut self) -> Result<(), StateError> {
        let configured = (self.input.config, self.input.evaluated);
        let (Some(config), Some(evaluated)) = configured else {
            return Ok(());
        };
        // Nothing is left to describe after a destroy.
        if self.input.plan.destroy {
            if !self.state.outputs.is_empty() {
                self.record(Entry::Outputs {
                    outputs: BTreeMap::new(),
                })?;
            }
            return Ok(());
        }
        let table = &self.table;
        for node in &self.order {
            if let crate::graph::Node::Local(name) = node {
                if let Ok(v) = eval_local(config, name, &evaluated.vars, &self.locals, table) {
                    self.locals.insert(name.clone(), v);
                }
            }
        }
        let mut outputs = BTreeMap::new();
        let mut recorded = BTreeMap::new();
        for name in config.outputs.keys() {
            let value = eval_output(config, name, &evaluated.vars, &self.locals, table)
                .unwrap_or(Value::Unknown);
            if value.is_wholly_known() {
                recorded.insert(
                    name.clone(),
                    OutputState {
                        value: tagged::to_json(&value),
                        sensitive: value.contains_sensitive(),
                    },
                );
            } else if let Some(previous) = self.state.outputs.get(name) {
                // Not known yet (what it reads was not applied, say with -target): the last
                // known value stays until it is.
                recorded.insert(name.clone(), previous.clone());
            }
            outputs.insert(name.clone(), value);
        }
        if recorded != self.state.outputs {
            self.record(Entry::Outputs { outputs: recorded })?;
        }
        self.report.outputs = outputs;
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn call_apply(
    provider: Arc<dyn Provider>,
    address: String,
    kind: String,
    lineage: String,
    base_dir: PathBuf,
    config: Value,
    prior: Option<Value>,
    cancel: Cancel,
    step: StepKind,
    progress: tokio::sync::mpsc::UnboundedSender<(String, String)>,
) -> ProviderCall {
    Box::new(move || {
        let report = |message: &str| {
            let _ = progress.send((address.clone(), message.to_string()));
        };
        let request = ApplyRequest {
            target: ProviderTarget {
                address: &address,
                kind: &kind,
                lineage: &lineage,
                base_dir: &base_dir,
            },
            config: &config,
            prior: if step == StepKind::Update {
                prior.as_ref()
            } else {
                None
            },
            cancel: &cancel,
            progress: &report,
        };
        let response = if step == StepKind::Update {
            provider.update(&request)
        } else {
            provider.create(&request)
        }?;
        Ok(Some((response.state, response.id)))
    })
}

/// Puts back the sensitive marks the configuration had on the backend's answer, at the same
/// places, so secrets stay secret in the state and in every output while their neighbours
/// stay readable.
fn remark(state: Value, marks: &Value) -> Value {
    match (state, marks) {
        (state, Value::Sensitive(_)) => state.mark_sensitive_if(true),
        (Value::Map(mut entries), Value::Map(marked)) => {
            for (k, v) in entries.iter_mut() {
                if let Some(m) = marked.get(k) {
                    *v = remark(std::mem::take(v), m);
                }
            }
            Value::Map(entries)
        }
        (Value::List(items), Value::List(marked)) if items.len() == marked.len() => Value::List(
            items
                .into_iter()
                .zip(marked)
                .map(|(v, m)| remark(v, m))
                .collect(),
        ),
        (state, _) => state,
    }
}

/// Attributes under `lifecycle { ignore_changes }` keep what the plan kept (the recorded
/// value) when the object is updated in place: the configuration's new value is ignored.
fn keep_ignored(resource: &crate::config::Resource, change: &Change, value: Value) -> Value {
    use crate::config::IgnoreChanges;
    if change.action != Action::Update {
        return value;
    }
    let Some(planned) = change.after.as_ref().and_then(Value::as_map) else {
        return value;
    };
    let Value::Map(mut entries) = value else {
        return value;
    };
    let ignored: Vec<String> = match &resource.lifecycle.ignore_changes {
        IgnoreChanges::None => Vec::new(),
        IgnoreChanges::All => entries.keys().cloned().collect(),
        IgnoreChanges::Attributes(names) => names.clone(),
    };
    for name in ignored {
        if let Some(kept) = planned.get(&name) {
            entries.insert(name, kept.clone());
        }
    }
    Value::Map(entries)
}

/// The attributes the configuration sets: computed ones (unknown until the backend answers)
/// are the provider's to fill, not its input.
fn configured_part(schema: &hive_sdk::schema::Schema, value: Value) -> Value {
    use hive_sdk::schema::Mode;
    let Value::Map(mut entries) = value else {
        return value;
    };
    for a in &schema.attributes {
        let drop = match a.mode {
            Mode::Computed => true,
            Mode::OptionalComputed => entries.get(a.name).is_some_and(Value::is_unknown),
            _ => false,
        };
        if drop {
            entries.remove(a.name);
        }
    }
    Value::Map(entries)
}

pub fn parse_instance(address: &str) -> Option<InstanceAddr> {
    match base_address(address).parse::<Target>().ok()? {
        Target::Instance(i) => Some(i),
        Target::Resource(r) => Some(r.instance(InstanceKey::None)),
    }
}

/// Replaces one instance's value inside its resource's value.
fn set_instance(table: &mut HashMap<ResourceAddr, Value>, addr: &InstanceAddr, value: Value) {
    let Some(slot) = table.get_mut(&addr.resource) else {
        return;
    };
    match (slot, &addr.key) {
        (Value::List(items), InstanceKey::Index(i)) => {
            if let Some(item) = items.get_mut(*i) {
                *item = value;
            }
        }
        (Value::Map(entries), InstanceKey::Key(k)) => {
            entries.insert(k.clone(), value);
        }
        (slot, InstanceKey::None) => *slot = value,
        _ => {}
    }
}
