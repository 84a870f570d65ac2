//! `hive plan`, `hive apply` and `hive destroy` as one sequence: load, read the settings,
//! lock, read the state, plan, (confirm, apply, record).

use super::plan::{make_plan, PlanOptions, Planned};
use super::state::{open_state, OpenState, StateSource};
use crate::config::load_dir;
use crate::diag::{Diagnostic, Diagnostics, Sources};
use crate::engine::apply::{apply, ApplyInput, ApplyReport};
use crate::engine::registry::Registry;
use crate::engine::Hook;
use crate::lang::walk::{variables, MissingVars};
use crate::plan::Plan;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The cap on concurrent steps when neither the command line nor the configuration sets one.
pub const DEFAULT_PARALLELISM: usize = 10;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub plan: PlanOptions,
    pub lock_timeout: Duration,
    /// Global cap on concurrent steps (`-parallelism`); the configuration's or 10 if unset.
    pub parallelism: Option<usize>,
    /// The command as the lock records it.
    pub command: String,
    /// A saved plan to apply exactly (`hive apply F`).
    pub saved_plan: Option<Plan>,
    pub state: StateSource,
    /// `-ttl`: wins over the configuration's `ttl`.
    pub ttl: Option<Duration>,
}

pub struct RunResult {
    pub diagnostics: Diagnostics,
    pub sources: Sources,
    pub plan: Option<Plan>,
    pub report: Option<ApplyReport>,
    /// The user said no at the prompt.
    pub declined: bool,
    /// Messages about recovery from an interrupted command.
    pub recovered: Vec<String>,
}

/// What to do once the plan exists.
pub enum Then<'h> {
    /// Stop: `hive plan`.
    Stop,
    /// Show the plan and ask; `true` means go on.
    Confirm(&'h mut dyn FnMut(&Plan) -> bool),
    /// Do something else with what planning found, the lock still held (`hive snapshot`).
    Use(&'h mut dyn FnMut(&Found<'_>)),
}

/// What a plan found: the configuration as evaluated, and the refreshed state.
pub struct Found<'a> {
    pub config: &'a crate::config::Config,
    pub evaluated: &'a crate::lang::walk::Evaluated,
    pub state: &'a hive_state::State,
    pub registry: &'a Registry,
    /// Where the state lives.
    pub location: &'a str,
}

pub fn run(
    dir: &Path,
    registry: &Registry,
    options: &RunOptions,
    then: Then<'_>,
    hook: &mut dyn Hook,
) -> RunResult {
    let mut result = RunResult {
        diagnostics: Diagnostics::default(),
        sources: Sources::default(),
        plan: None,
        report: None,
        declined: false,
        recovered: Vec::new(),
    };
    let (mut config, load_diags) = match load_dir(dir, registry.catalog()) {
        Ok(loaded) => loaded,
        Err((sources, diags)) => {
            result.sources = sources;
            result.diagnostics = diags;
            return result;
        }
    };
    result.diagnostics.extend(load_diags);
    if result.diagnostics.has_errors() {
        result.sources = config.sources.clone();
        return result;
    }
    let mut plan_options = options.plan.clone();
    if let Some(saved) = &options.saved_plan {
        plan_options.vars.saved = saved.variables.clone().into_iter().collect();
        plan_options.destroy = saved.destroy;
        plan_options.refresh = saved.refresh;
        plan_options.targets = saved.targets.clone();
        plan_options.excludes = saved.excludes.clone();
        plan_options.replace = saved.replace.clone();
    }
    let inputs = super::validate::gather_inputs(
        &plan_options.vars,
        &mut config.sources,
        &mut result.diagnostics,
    );
    let missing = if plan_options.destroy {
        MissingVars::Unknown
    } else {
        MissingVars::Error
    };
    let vars = variables(&config, &inputs, missing, &mut result.diagnostics);
    let settings =
        crate::lang::settings::decode(&config, &vars.values, false, &mut result.diagnostics);
    result.sources = config.sources.clone();
    if result.diagnostics.has_errors() {
        return result;
    }
    let mut opened = match open_state(
        &settings,
        dir,
        &options.state,
        Some(&options.command),
        options.lock_timeout,
    ) {
        Ok(o) => o,
        Err(d) => {
            result.diagnostics.push(d);
            return result;
        }
    };
    result.recovered = opened.recovered.clone();
    if let Some(saved) = &options.saved_plan {
        if let Err(d) = check_not_stale(saved, opened.state.as_ref()) {
            result.diagnostics.push(d);
            return result;
        }
    }
    let saved_lineage = options
        .saved_plan
        .as_ref()
        .and_then(|p| p.new_lineage.clone());
    let lineage = match (opened.state.as_ref(), saved_lineage) {
        (Some(s), _) => s.lineage.clone(),
        (None, Some(planned)) => planned,
        (None, None) => match hive_state::new_lineage() {
            Ok(l) => l,
            Err(e) => {
                result.diagnostics.push(Diagnostic::error(format!(
                    "making the state's lineage: {e}"
                )));
                return result;
            }
        },
    };
    let parallelism = options
        .parallelism
        .or(settings.parallelism)
        .unwrap_or(DEFAULT_PARALLELISM);
    let had_state = opened.state.is_some();
    let planned = make_plan(
        config,
        &vars,
        opened.state.take(),
        &lineage,
        registry,
        &plan_options,
        parallelism,
        &mut result.diagnostics,
    );
    let Some(Planned {
        config,
        evaluated,
        plan,
        refreshed,
        forgotten,
    }) = planned
    else {
        return result;
    };
    // The rest of the command's life is short: what it built is not freed piece by piece
    // (for large configurations that costs more than planning).
    let config = std::mem::ManuallyDrop::new(config);
    let evaluated = std::mem::ManuallyDrop::new(evaluated);
    result.sources = config.sources.clone();
    let context = Finish {
        config: &config,
        evaluated: &evaluated,
        plan: &plan,
        options,
        had_state,
        registry,
        parallelism,
        ttl: options.ttl.or(settings.ttl),
        forgotten: &forgotten,
    };
    result.report = context.finish(refreshed, then, &mut opened, hook, &mut result);
    result.plan = Some(plan);
    opened.unlock();
    result
}

/// What finishing a run needs once the plan exists.
struct Finish<'a> {
    config: &'a crate::config::Config,
    evaluated: &'a crate::lang::walk::Evaluated,
    plan: &'a Plan,
    options: &'a RunOptions,
    had_state: bool,
    registry: &'a Registry,
    parallelism: usize,
    ttl: Option<Duration>,
    /// What `removed { lifecycle { destroy = false } }` forgets.
    forgotten: &'a [hive_state::ResourceState],
}

impl Finish<'_> {
    /// After planning: check a saved plan, confirm, apply, fold the journal.
    fn finish(
        &self,
        refreshed: hive_state::State,
        then: Then<'_>,
        opened: &mut OpenState,
        hook: &mut dyn Hook,
        result: &mut RunResult,
    ) -> Option<ApplyReport> {
        let plan = self.plan;
        if let Some(saved) = &self.options.saved_plan {
            if !same_changes(saved, &plan.as_saved(self.registry.catalog())) {
                result.diagnostics.push(
                    Diagnostic::error("the saved plan no longer matches the configuration")
                        .detail("planning again with its variables gives different changes: the configuration or the infrastructure changed since it was saved")
                        .help("make a new plan with hive plan -out FILE"),
                );
                return None;
            }
        }
        let confirm = match then {
            Then::Stop => return None,
            Then::Use(use_it) => {
                use_it(&Found {
                    config: self.config,
                    evaluated: self.evaluated,
                    state: &refreshed,
                    registry: self.registry,
                    location: &opened.backend.location(),
                });
                return None;
            }
            Then::Confirm(confirm) => confirm,
        };
        // Objects kept as they are still take the dependencies the configuration now gives
        // them: destroy order comes from these.
        let mut refreshed = refreshed;
        let dependencies_moved = sync_dependencies(&mut refreshed, plan);
        // The TTL counts from the last apply, one that changes nothing included.
        let expires = expiry(self.ttl, plan.destroy);
        let expiry_moved = refreshed.expires != expires;
        refreshed.expires = expires;
        // Nothing to do still folds a journal left by an interrupted command into the
        // snapshot.
        if !plan.has_changes() {
            if !opened.recovered.is_empty() || dependencies_moved || expiry_moved {
                refreshed.serial += 1;
                if let Err(e) = opened.backend.write(&refreshed) {
                    result.diagnostics.push(fold_failed(&e));
                }
            }
            return None;
        }
        if !confirm(plan) {
            result.declined = true;
            return None;
        }
        if !self.refactor(&mut refreshed, opened, result) {
            return None;
        }
        // The journal applies to a snapshot: a first apply writes the empty one first.
        if !self.had_state {
            if let Err(e) = opened.backend.write(&refreshed) {
                result
                    .diagnostics
                    .push(Diagnostic::error(format!("creating the state: {e}")));
                return None;
            }
        }
        let recorder = match opened.backend.recorder(refreshed.serial) {
            Ok(r) => r,
            Err(e) => {
                result
                    .diagnostics
                    .push(Diagnostic::error(format!("recording the apply: {e}")));
                return None;
            }
        };
        let input = ApplyInput {
            config: Some((self.config, self.evaluated)),
            plan,
            registry: self.registry,
            state: refreshed,
            recorder,
            parallelism: self.parallelism,
            state_location: opened.backend.location(),
        };
        match apply(input, hook) {
            Ok(mut report) => {
                result
                    .diagnostics
                    .extend(std::mem::take(&mut report.diagnostics));
                // A check the plan already reported is said once.
                result.diagnostics.dedup();
                if let Err(e) = opened.backend.write(&report.state) {
                    result.diagnostics.push(fold_failed(&e));
                }
                Some(report)
            }
            Err(e) => {
                result.diagnostics.push(Diagnostic::error(format!(
                    "recording the state: {e}; steps done so far are recorded"
                )));
                None
            }
        }
    }
}

impl Finish<'_> {
    /// Records what moved and what is forgotten before any step runs (the journal applies
    /// to this snapshot), the forgotten untagged first (a tagged object no state records
    /// would be reaped by `hive scan`), the moved re-tagged after; `false` when nothing may
    /// go on.
    fn refactor(
        &self,
        refreshed: &mut hive_state::State,
        opened: &mut OpenState,
        result: &mut RunResult,
    ) -> bool {
        use super::retag::{retag, tag_for, Retag};
        if self.plan.moved.is_empty() && self.forgotten.is_empty() && self.plan.imports.is_empty() {
            return true;
        }
        let location = opened.backend.location();
        let dir = &self.config.dir;
        for (address, id) in &self.plan.imports {
            let Some(change) = self.plan.changes.iter().find(|c| &c.address == address) else {
                continue;
            };
            let Some(provider) = self.registry.get(&change.kind, &change.driver) else {
                continue;
            };
            let configured = change.after.clone().unwrap_or(hive_sdk::Value::Null);
            match super::import::adopt(
                provider.as_ref(),
                refreshed,
                &location,
                dir,
                address,
                (&change.kind, &change.driver),
                id,
                &configured,
            ) {
                Ok(record) => refreshed.put(record),
                Err(d) => {
                    result.diagnostics.push(d);
                    return false;
                }
            }
        }
        let released: Vec<Retag<'_>> = self
            .forgotten
            .iter()
            .map(|record| Retag { record, tag: None })
            .collect();
        let failed = retag(self.registry, dir, &refreshed.lineage, &location, &released);
        if !failed.is_empty() {
            result.diagnostics.push(
                Diagnostic::error("nothing was applied: hive could not take its tag off what removed blocks forget")
                    .detail(failed.join("; "))
                    .help("a tagged object no state records would be reaped by hive scan; fix that and apply again"),
            );
            return false;
        }
        refreshed.serial += 1;
        if let Err(e) = opened.backend.write(refreshed) {
            result.diagnostics.push(Diagnostic::error(format!(
                "recording the moved and forgotten objects: {e}"
            )));
            return false;
        }
        // Each moved object as recorded before (its old address), with its new tag.
        let moved: Vec<(hive_state::ResourceState, hive_sdk::tag::Tag)> = self
            .plan
            .moved
            .iter()
            .filter_map(|(from, to)| {
                let mut old = refreshed.resource(to)?.clone();
                old.address = from.clone();
                Some((old, tag_for(refreshed, &location, to)))
            })
            .collect();
        let items: Vec<Retag<'_>> = moved
            .iter()
            .map(|(record, tag)| Retag {
                record,
                tag: Some(tag.clone()),
            })
            .collect();
        for failure in retag(self.registry, dir, &refreshed.lineage, &location, &items) {
            result.diagnostics.push(Diagnostic::warning(format!(
                "re-tagging what moved: {failure}"
            )));
        }
        true
    }
}

/// When what an apply now makes or keeps expires: `ttl` from now.
fn expiry(ttl: Option<Duration>, destroy: bool) -> Option<u64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    ttl.filter(|_| !destroy)
        .map(|ttl| now.saturating_add(ttl).as_secs())
}

/// Folding the recorded steps into a new snapshot failed: they are all kept, and the next
/// command folds them.
fn fold_failed(e: &hive_state::StateError) -> Diagnostic {
    Diagnostic::error(format!("writing the state snapshot: {e}")).detail(
        "every step is recorded in the state's journal, which the next hive command folds into the snapshot; nothing will be done twice",
    )
}

/// Updates the recorded dependencies of objects the plan keeps; returns whether any moved.
fn sync_dependencies(state: &mut hive_state::State, plan: &Plan) -> bool {
    let mut moved = false;
    for change in plan
        .changes
        .iter()
        .filter(|c| c.action == crate::plan::Action::NoOp)
    {
        if let Some(record) = state.resources.get_mut(&change.object()) {
            if record.dependencies != change.dependencies && change.after.is_some() {
                record.dependencies = change.dependencies.clone();
                moved = true;
            }
        }
    }
    moved
}

/// A saved plan applies only to the state it was made against.
fn check_not_stale(saved: &Plan, state: Option<&hive_state::State>) -> Result<(), Diagnostic> {
    let now = state.map(|s| (s.lineage.clone(), s.serial));
    let then = saved.lineage.clone().map(|l| (l, saved.serial));
    let fresh = match (&now, &then) {
        (None, None) => true,
        (Some((l1, s1)), Some((l2, s2))) => l1 == l2 && s1 == s2,
        (Some((_, serial)), None) => *serial == 0,
        (None, Some(_)) => false,
    };
    if fresh {
        return Ok(());
    }
    let describe = |x: &Option<(String, u64)>| match x {
        Some((l, s)) => format!("lineage {l}, serial {s}"),
        None => "no state".to_string(),
    };
    Err(
        Diagnostic::error("the saved plan is stale: the state changed since it was made")
            .detail(format!(
                "the plan was made against {}; the state is now {}",
                describe(&then),
                describe(&now)
            ))
            .help("make a new plan with hive plan -out FILE"),
    )
}

/// The same actions on the same instances with the same planned values.
fn same_changes(a: &Plan, b: &Plan) -> bool {
    use crate::plan::{Action, Change};
    // What each plan does, by address: its action and the planned attributes.
    let doing = |p: &Plan| -> BTreeMap<hive_state::ObjectAddr, Change> {
        p.changes
            .iter()
            .filter(|c| c.action != Action::NoOp)
            .map(|c| (c.object(), c.clone()))
            .collect()
    };
    let (a, b) = (doing(a), doing(b));
    a.len() == b.len()
        && a.iter().all(|(address, x)| {
            b.get(address).is_some_and(|y| {
                x.action == y.action
                    && match (&x.after, &y.after) {
                        (Some(p), Some(q)) => crate::lang::eval::values_equal(p, q),
                        (None, None) => true,
                        _ => false,
                    }
            })
        })
}
