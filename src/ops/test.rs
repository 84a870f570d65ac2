//! `hive test`: each test file's runs, in order, against the configuration, on a state of the
//! file's own (`.hive/test/NAME.json`); everything the file made is destroyed when it ends,
//! whether its runs passed, failed or were interrupted.

use super::apply::{run, Found, RunOptions, RunResult, Then};
use super::checkpoint;
use super::plan::PlanOptions;
use super::state::StateSource;
use super::validate::VarOptions;
use crate::config::testfile::{load_tests, GuestExec, Run, RunCommand, TestFile};
use crate::diag::{Diagnostics, Sources};
use crate::engine::registry::Registry;
use crate::engine::Hook;
use crate::lang::eval::ResourceTable;
use crate::lang::eval::Scope;
use crate::lang::walk::resource_table;
use hive_sdk::addr::InstanceAddr;
use hive_sdk::provider::Login;
use hive_sdk::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct TestOptions {
    /// `-filter FILE`: only these files (as named in reports, or their file names).
    pub filter: Vec<String>,
    pub vars: VarOptions,
    pub parallelism: Option<usize>,
    /// Set when the command is interrupted (Ctrl-C, SIGTERM): no run starts after it, and the
    /// teardown still happens.
    pub stop: Arc<AtomicBool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    /// An assertion or a check in a guest did not hold.
    Fail,
    /// The run could not be carried out (the plan or apply failed).
    Error,
    /// Not run: an earlier run of the file was interrupted.
    Skip,
}

pub struct RunOutcome {
    pub name: String,
    pub status: Status,
    pub failures: Vec<String>,
    pub elapsed: Duration,
}

pub struct Teardown {
    /// How many objects the destroy removed.
    pub destroyed: usize,
    pub error: Option<String>,
    pub elapsed: Duration,
}

pub struct FileOutcome {
    pub name: String,
    pub runs: Vec<RunOutcome>,
    pub teardown: Teardown,
}

impl FileOutcome {
    pub fn passed(&self) -> bool {
        self.teardown.error.is_none() && self.runs.iter().all(|r| r.status == Status::Pass)
    }
}

/// What the command tells as it goes.
pub enum TestEvent<'a> {
    FileStarted(&'a str),
    RunStarted(&'a str, &'a str),
    RunFinished(&'a str, &'a RunOutcome),
    TeardownStarted(&'a str),
    TeardownFinished(&'a str, &'a Teardown),
}

pub struct Tested {
    pub files: Vec<FileOutcome>,
    /// Problems with the test files themselves (nothing ran then) or with running them.
    pub diagnostics: Diagnostics,
    pub sources: Sources,
}

pub fn test(
    dir: &Path,
    registry: &Registry,
    options: &TestOptions,
    steps: &mut dyn Hook,
    tell: &mut dyn FnMut(TestEvent<'_>),
) -> Tested {
    let mut tested = Tested {
        files: Vec::new(),
        diagnostics: Diagnostics::default(),
        sources: Sources::default(),
    };
    let files = load_tests(dir, &mut tested.sources, &mut tested.diagnostics);
    if tested.diagnostics.has_errors() {
        return tested;
    }
    let chosen: Vec<&TestFile> = files
        .iter()
        .filter(|f| {
            options.filter.is_empty()
                || options.filter.iter().any(|want| {
                    let want = want.trim_start_matches("./");
                    f.name == want || f.path.ends_with(want)
                })
        })
        .collect();
    if chosen.is_empty() {
        tested.diagnostics.push(
            crate::diag::Diagnostic::error(format!(
                "no test files to run in {}{}",
                dir.display(),
                if options.filter.is_empty() {
                    String::new()
                } else {
                    format!(" matching -filter {}", options.filter.join(", "))
                }
            ))
            .help(format!(
                "test files are named *{} in the configuration directory or its tests/",
                crate::config::testfile::TEST_SUFFIX
            )),
        );
        return tested;
    }
    for file in chosen {
        tell(TestEvent::FileStarted(&file.name));
        let outcome = FileRun {
            dir,
            registry,
            options,
            file,
            state: state_path(dir, &file.name),
        }
        .run(steps, tell, &mut tested.sources);
        tested.files.push(outcome);
    }
    tested
}

/// Where a test file's state lives while it runs.
fn state_path(dir: &Path, file: &str) -> PathBuf {
    let name: String = file
        .trim_end_matches(crate::config::testfile::TEST_SUFFIX)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(".hive").join("test").join(format!("{name}.json"))
}

struct FileRun<'a> {
    dir: &'a Path,
    registry: &'a Registry,
    options: &'a TestOptions,
    file: &'a TestFile,
    state: PathBuf,
}

impl FileRun<'_> {
    fn run(
        &self,
        steps: &mut dyn Hook,
        tell: &mut dyn FnMut(TestEvent<'_>),
        sources: &mut Sources,
    ) -> FileOutcome {
        let mut runs = Vec::new();
        let mut last_vars = self.values(&BTreeMap::new(), sources);
        // What an earlier, killed `hive test` of this file left goes first.
        let leftovers = self.file_has_objects();
        if leftovers {
            tell(TestEvent::TeardownStarted(&self.file.name));
            let _ = self.teardown(&last_vars, steps);
        }
        for r in &self.file.runs {
            if self.options.stop.load(Ordering::SeqCst) {
                let skipped = RunOutcome {
                    name: r.name.clone(),
                    status: Status::Skip,
                    failures: vec!["not run: the test was interrupted".into()],
                    elapsed: Duration::ZERO,
                };
                tell(TestEvent::RunFinished(&self.file.name, &skipped));
                runs.push(skipped);
                continue;
            }
            tell(TestEvent::RunStarted(&self.file.name, &r.name));
            let started = Instant::now();
            let vars = self.values(&r.variables, sources);
            let restored = match &r.restore_checkpoint {
                None => Ok(()),
                Some(e) => self.checkpoint_name(e, sources).and_then(|name| {
                    checkpoint::restore(self.dir, self.registry, &self.place(), &name)
                        .map(drop)
                        .map_err(|e| format!("restoring checkpoint {name}: {e}"))
                }),
            };
            let mut outcome = match (&vars, restored.as_ref()) {
                (Ok(v), Ok(())) => self.one_run(r, v, steps, sources),
                (Err(e), _) | (_, Err(e)) => RunOutcome {
                    name: r.name.clone(),
                    status: Status::Error,
                    failures: vec![e.clone()],
                    elapsed: Duration::ZERO,
                },
            };
            if let (Some(e), Status::Pass) = (&r.save_checkpoint, outcome.status) {
                let saved = self.checkpoint_name(e, sources).and_then(|name| {
                    checkpoint::save(self.dir, self.registry, &self.place(), &name)
                        .map(drop)
                        .map_err(|e| format!("saving checkpoint {name}: {e}"))
                });
                if let Err(e) = saved {
                    outcome.status = Status::Error;
                    outcome.failures.push(e);
                }
            }
            // The teardown uses the variables of the last run that applied.
            if vars.is_ok() && r.command == RunCommand::Apply && outcome.status != Status::Error {
                last_vars = vars;
            }
            outcome.elapsed = started.elapsed();
            tell(TestEvent::RunFinished(&self.file.name, &outcome));
            runs.push(outcome);
        }
        tell(TestEvent::TeardownStarted(&self.file.name));
        let teardown = self.teardown(&last_vars, steps);
        tell(TestEvent::TeardownFinished(&self.file.name, &teardown));
        FileOutcome {
            name: self.file.name.clone(),
            runs,
            teardown,
        }
    }

    /// The file's checkpoints: of its own state, recorded beside it.
    fn place(&self) -> checkpoint::Place {
        checkpoint::Place {
            state: StateSource::File(self.state.clone()),
            records: self.state.with_extension("checkpoints"),
        }
    }

    fn checkpoint_name(
        &self,
        e: &crate::config::Expr,
        sources: &Sources,
    ) -> Result<String, String> {
        let values = self.values(&BTreeMap::from([("name".to_string(), e.clone())]), sources)?;
        match values
            .iter()
            .find(|(n, _)| n == "name")
            .map(|(_, v)| v.unmarked())
        {
            Some(Value::String(name)) => Ok(name.clone()),
            _ => Err("a checkpoint's name is a string".into()),
        }
    }

    /// Whether the file's state (with what its journal recorded since) holds objects.
    fn file_has_objects(&self) -> bool {
        use hive_state::backend::StateBackend;
        hive_state::file::FileBackend::new(&self.state)
            .read()
            .ok()
            .and_then(|loaded| loaded.state)
            .is_some_and(|s| !s.resources.is_empty())
    }

    /// The variables of a run: the file's, then the run's, over the command line's.
    fn values(
        &self,
        run_vars: &BTreeMap<String, crate::config::Expr>,
        sources: &Sources,
    ) -> Result<Vec<(String, Value)>, String> {
        let empty = BTreeMap::new();
        let table = ResourceTable::empty(self.registry.catalog().clone());
        let scope = Scope::plain(self.dir, &empty, &empty, &table);
        let mut out: BTreeMap<String, Value> = BTreeMap::new();
        for (name, e) in self.file.variables.iter().chain(run_vars) {
            let v = scope.eval(e).map_err(|d| render_one(&d, sources))?;
            out.insert(name.clone(), v);
        }
        Ok(out.into_iter().collect())
    }

    fn options(&self, vars: &[(String, Value)], destroy: bool, refresh: bool) -> RunOptions {
        let mut var_options = self.options.vars.clone();
        var_options.saved = vars.to_vec();
        RunOptions {
            plan: PlanOptions {
                vars: var_options,
                refresh,
                destroy,
                ..PlanOptions::default()
            },
            lock_timeout: Duration::ZERO,
            parallelism: self.options.parallelism,
            command: "hive test".into(),
            saved_plan: None,
            state: StateSource::File(self.state.clone()),
            ttl: None,
        }
    }

    fn one_run(
        &self,
        r: &Run,
        vars: &[(String, Value)],
        steps: &mut dyn Hook,
        sources: &Sources,
    ) -> RunOutcome {
        let mut outcome = RunOutcome {
            name: r.name.clone(),
            status: Status::Pass,
            failures: Vec::new(),
            elapsed: Duration::ZERO,
        };
        if r.command == RunCommand::Apply {
            let mut yes = |_: &crate::plan::Plan| true;
            let result = run(
                self.dir,
                self.registry,
                &self.options(vars, false, true),
                Then::Confirm(&mut yes),
                steps,
            );
            let problems = run_problems(&result);
            if let Some(done) = expected_failures(r, &problems) {
                return done_expecting(outcome, done);
            }
            if !problems.is_empty() {
                outcome.status = Status::Error;
                outcome.failures = problems;
                return outcome;
            }
        }
        // Assertions and checks look at what the configuration says now, with the state as
        // it is: a plan that changes nothing for an apply, the plan itself for a plan.
        let mut judged: Vec<String> = Vec::new();
        let mut look = |found: &Found<'_>| judged = self.judge(r, found, sources);
        let refresh = r.command == RunCommand::Plan;
        let result = run(
            self.dir,
            self.registry,
            &self.options(vars, false, refresh),
            Then::Use(&mut look),
            steps,
        );
        let problems = run_problems(&result);
        if !problems.is_empty() {
            if let Some(done) = expected_failures(r, &problems) {
                return done_expecting(outcome, done);
            }
            outcome.status = Status::Error;
            outcome.failures = problems;
            return outcome;
        }
        if !r.expect_failures.is_empty() {
            outcome.status = Status::Fail;
            outcome.failures.push(format!(
                "expected {} to fail, but the run succeeded",
                expected_list(r)
            ));
            return outcome;
        }
        if !judged.is_empty() {
            outcome.status = Status::Fail;
            outcome.failures = judged;
        }
        outcome
    }

    /// Every assertion and guest check of a run, against what planning found: what failed.
    fn judge(&self, r: &Run, found: &Found<'_>, sources: &Sources) -> Vec<String> {
        let table = resource_table(
            found.config,
            found
                .evaluated
                .resources
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        let scope = Scope::plain(
            self.dir,
            &found.evaluated.vars,
            &found.evaluated.locals,
            &table,
        );
        let outputs = Value::Map(found.evaluated.outputs.clone());
        let bindings = vec![("output".to_string(), outputs)];
        let mut failures = Vec::new();
        for a in &r.asserts {
            let at = where_is(&a.span, sources);
            match scope.eval_with(&a.condition, &bindings) {
                Ok(v) => match v.unmarked() {
                    Value::Bool(true) => {}
                    Value::Bool(false) => {
                        let message = a
                            .error_message
                            .as_ref()
                            .and_then(|m| scope.eval_with(m, &bindings).ok())
                            .and_then(|m| m.unmarked().as_str().map(str::to_string))
                            .unwrap_or_else(|| "the condition is false".into());
                        failures.push(format!("{at}: assertion failed: {message}"));
                    }
                    Value::Unknown => failures.push(format!(
                        "{at}: the condition is not known until apply: make the run command = apply"
                    )),
                    other => failures.push(format!(
                        "{at}: the condition is a {}, not a bool",
                        other.type_name()
                    )),
                },
                Err(d) => failures.push(format!("{at}: {}", render_one(&d, sources))),
            }
        }
        for x in &r.execs {
            failures.extend(self.check_in_guests(x, &scope, found, sources));
        }
        failures
    }

    /// Runs an exec block's command in every instance it names; what did not hold.
    fn check_in_guests(
        &self,
        x: &GuestExec,
        scope: &Scope<'_>,
        found: &Found<'_>,
        sources: &Sources,
    ) -> Vec<String> {
        let at = where_is(&x.span, sources);
        let fail = |m: String| vec![format!("{at}: exec \"{}\": {m}", x.name)];
        let text = |e: &crate::config::Expr| -> Result<Option<String>, String> {
            match scope
                .eval(e)
                .map_err(|d| render_one(&d, sources))?
                .unmarked()
            {
                Value::String(s) => Ok(Some(s.clone())),
                Value::Number(n) => Ok(Some(hive_sdk::value::format_number(*n))),
                Value::Null => Ok(None),
                other => Err(format!("expected a string, got a {}", other.type_name())),
            }
        };
        let command = match text(&x.command) {
            Ok(Some(c)) => c,
            Ok(None) => return fail("command is null".into()),
            Err(e) => return fail(e),
        };
        let want_code = match x.exit_code.as_ref().map(text).transpose() {
            Ok(c) => c.flatten().map_or(Ok(0), |c| c.parse::<i32>()),
            Err(e) => return fail(e),
        };
        let Ok(want_code) = want_code else {
            return fail("exit_code must be a whole number".into());
        };
        let contains = match x.output_contains.as_ref().map(text).transpose() {
            Ok(c) => c.flatten(),
            Err(e) => return fail(e),
        };
        let timeout = match x.timeout.as_ref().map(text).transpose() {
            Ok(t) => t.flatten().map_or(Ok(Duration::from_secs(60)), |t| {
                hive_sdk::units::parse_duration(&t)
            }),
            Err(e) => return fail(e),
        };
        let Ok(timeout) = timeout else {
            return fail("timeout must be a duration such as \"30s\"".into());
        };
        let addresses = match instances_named(&x.instance, scope, found.state) {
            Ok(a) if a.is_empty() => return fail("it names no instance the state records".into()),
            Ok(a) => a,
            Err(e) => return fail(e),
        };
        let mut failures = Vec::new();
        for address in addresses {
            let login =
                super::ssh::login(found.state, found.registry, self.dir, &address.to_string());
            let result = login.and_then(|l| run_in_guest(&l, &command, timeout));
            match result {
                Err(e) => failures.push(format!("{at}: exec \"{}\" in {address}: {e}", x.name)),
                Ok((code, output)) => {
                    if code != want_code {
                        failures.push(format!(
                            "{at}: exec \"{}\" in {address}: exit code {code}, expected {want_code}; output: {}",
                            x.name,
                            output.trim()
                        ));
                    } else if let Some(want) = contains.as_deref().filter(|w| !output.contains(w)) {
                        failures.push(format!(
                            "{at}: exec \"{}\" in {address}: the output does not contain {want:?}: {}",
                            x.name,
                            output.trim()
                        ));
                    }
                }
            }
        }
        failures
    }

    /// Destroys what the file's state holds; the state file goes with it when all is gone.
    fn teardown(
        &self,
        vars: &Result<Vec<(String, Value)>, String>,
        steps: &mut dyn Hook,
    ) -> Teardown {
        let started = Instant::now();
        // Checkpoints go first: what they keep beside the instances would outlive them.
        let place = self.place();
        for saved in checkpoint::list(&place).unwrap_or_default() {
            let _ = checkpoint::delete(self.dir, self.registry, &place, &saved.name);
        }
        let _ = std::fs::remove_dir_all(&place.records);
        let vars = vars.clone().unwrap_or_default();
        let mut yes = |_: &crate::plan::Plan| true;
        let result = run(
            self.dir,
            self.registry,
            &self.options(&vars, true, true),
            Then::Confirm(&mut yes),
            steps,
        );
        let destroyed = result.report.as_ref().map_or(0, |r| r.completed);
        let problems = run_problems(&result);
        let error = (!problems.is_empty()).then(|| {
            format!(
                "{}; what is left is recorded in {} (hive destroy cannot read it: run hive test again to finish)",
                problems.join("; "),
                self.state.display()
            )
        });
        if error.is_none() {
            for suffix in ["", ".journal", ".backup", ".lock"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.state.display()));
            }
        }
        Teardown {
            destroyed,
            error,
            elapsed: started.elapsed(),
        }
    }
}

fn render_one(d: &crate::diag::Diagnostic, sources: &Sources) -> String {
    let mut one = Diagnostics::default();
    one.push(d.clone());
    crate::render::diag::render_text(&one, sources, crate::render::diag::Style::Plain)
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with("The configuration"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn where_is(span: &crate::diag::Span, sources: &Sources) -> String {
    match sources.get(span.file) {
        Some(f) => {
            let (line, col) = f.line_col(span.range.start);
            format!("{}:{line}:{col}", f.name)
        }
        None => "?".into(),
    }
}

/// What went wrong in a plan or apply: its errors and failed steps, as text.
fn run_problems(result: &RunResult) -> Vec<String> {
    let mut out: Vec<String> = result
        .diagnostics
        .items
        .iter()
        .filter(|d| d.is_error())
        .map(|d| render_one(d, &result.sources))
        .collect();
    if let Some(report) = &result.report {
        out.extend(
            report
                .failed
                .iter()
                .map(|f| format!("{} {}: {}", f.doing, f.address, f.error)),
        );
        if report.stopped.is_some() {
            out.push("interrupted".into());
        }
    }
    out
}

fn expected_list(r: &Run) -> String {
    r.expect_failures
        .iter()
        .map(|(t, _)| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// With `expect_failures`: `Some(Ok)` when the run failed and every expected reference is
/// among what failed, `Some(Err)` when it failed otherwise; `None` when nothing was expected
/// or nothing failed.
fn expected_failures(r: &Run, problems: &[String]) -> Option<Result<(), String>> {
    if r.expect_failures.is_empty() || problems.is_empty() {
        return None;
    }
    let text = problems.join("\n");
    let missing: Vec<&str> = r
        .expect_failures
        .iter()
        .map(|(t, _)| t.as_str())
        .filter(|t| {
            let bare = t.strip_prefix("var.").unwrap_or(t);
            !(text.contains(t) || text.contains(&format!("variable \"{bare}\"")))
        })
        .collect();
    Some(if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the run failed, but not (only) as expected: {} did not fail; what failed: {text}",
            missing.join(", ")
        ))
    })
}

fn done_expecting(mut outcome: RunOutcome, done: Result<(), String>) -> RunOutcome {
    if let Err(e) = done {
        outcome.status = Status::Fail;
        outcome.failures.push(e);
    }
    outcome
}

/// The instances a reference names: `instance.node[0]` one, `instance.node` all of them.
fn instances_named(
    e: &crate::config::Expr,
    scope: &Scope<'_>,
    state: &hive_state::State,
) -> Result<Vec<InstanceAddr>, String> {
    use hcl_edit::expr::{Expression, TraversalOperator};
    let bad = || "instance must be a reference: instance.node or instance.node[0]".to_string();
    let Expression::Traversal(t) = &e.expr else {
        return Err(bad());
    };
    let Expression::Variable(kind) = &t.expr else {
        return Err(bad());
    };
    let mut ops = t.operators.iter().map(|o| o.value());
    let Some(TraversalOperator::GetAttr(name)) = ops.next() else {
        return Err(bad());
    };
    let resource = hive_sdk::addr::ResourceAddr::new(kind.as_str(), name.as_str());
    let key = match ops.next() {
        None => None,
        Some(TraversalOperator::Index(i)) => {
            let index = crate::config::Expr {
                file: e.file,
                expr: i.clone(),
            };
            let v = scope.eval(&index).map_err(|d| d.summary.clone())?;
            Some(match v.unmarked() {
                Value::Number(n) => hive_sdk::addr::InstanceKey::Index(*n as usize),
                Value::String(s) => hive_sdk::addr::InstanceKey::Key(s.clone()),
                _ => return Err(bad()),
            })
        }
        Some(TraversalOperator::LegacyIndex(n)) => {
            Some(hive_sdk::addr::InstanceKey::Index(*n.value() as usize))
        }
        Some(_) => return Err(bad()),
    };
    Ok(state
        .resources
        .values()
        .filter(|r| r.deposed.is_none() && r.address.resource == resource)
        .filter(|r| key.as_ref().is_none_or(|k| &r.address.key == k))
        .map(|r| r.address.clone())
        .collect())
}

/// Runs `command` in a guest the way `hive ssh` gets in: (exit code, stdout and stderr).
fn run_in_guest(login: &Login, command: &str, timeout: Duration) -> Result<(i32, String), String> {
    let mut cmd = match login {
        Login::Ssh {
            ip,
            user,
            key,
            jump,
            ..
        } => {
            let mut ssh = super::ssh::ssh_command(key, jump.as_ref());
            ssh.args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=20"]);
            ssh.arg(format!("{user}@{ip}")).arg("--").arg(command);
            ssh
        }
        Login::Exec {
            program, args, env, ..
        } => {
            let mut exec = std::process::Command::new(program);
            exec.envs(env.iter().cloned())
                .args(args)
                .args(["sh", "-c", command]);
            exec
        }
    };
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("starting the command: {e}"))?;
    let deadline = Instant::now() + timeout;
    // Output is read on threads so a chatty command cannot fill a pipe and stall.
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {}s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for the command: {e}")),
        }
    };
    let mut output = out.join().unwrap_or_default();
    output.push_str(&err.join().unwrap_or_default());
    Ok((status.code().unwrap_or(-1), output))
}
