//! The `command` resource: `run` through `/bin/sh -c` on create (and so on replace),
//! `destroy` on delete, on the machine running hive, or over SSH on the `host` it names
//! when that host has an address. With no `run` it only records its
//! `input` and `triggers`.
//!
//! Computed attributes: `id`, `stdout`, `stderr`, `exit_code`. A non-zero exit fails the step
//! with the command's own last lines of error output.

mod process;
mod spawn;

use hive_sdk::addr::InstanceAddr;
use hive_sdk::problem::Problem;
use hive_sdk::provider::{
    random_id, ApplyRequest, ApplyResponse, Cancel, DeleteRequest, KindSpec, Provider,
    ProviderError, ReadRequest, ReadResponse, Target,
};
use hive_sdk::schema::{computed, map, optional, schema, Schema};
use hive_sdk::ssh::{SshPool, SshTarget};
use hive_sdk::units::parse_duration;
use hive_sdk::{Type, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use process::MAX_OUTPUT;

/// What a command's run, environment or input is made of shows in its output: when they
/// hold secrets, the output is secret as a whole.
const OUTPUT_FROM: &[&str] = &["run", "environment", "input", "destroy"];

pub struct CommandProvider;

fn command_schema() -> Schema {
    schema(
        vec![
            optional("run", Type::String)
                .replaces()
                .about("run through /bin/sh -c on create"),
            optional("destroy", Type::String).about("run on delete"),
            optional("triggers", Type::Any)
                .replaces()
                .about("a change forces replacement"),
            optional("input", Type::Any),
            optional("timeout", Type::String),
            optional("environment", map(Type::String)),
            optional("working_dir", Type::String),
            optional("host", Type::Any).refers_to("host").replaces(),
            computed("id", Type::String),
            computed("stdout", Type::String).sensitive_from(OUTPUT_FROM),
            computed("stderr", Type::String).sensitive_from(OUTPUT_FROM),
            computed("exit_code", Type::Number),
        ],
        vec![],
    )
}

impl Provider for CommandProvider {
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

    fn validate(&self, _kind: &str, config: &Value) -> Vec<Problem> {
        let mut problems = Vec::new();
        if let Some(t) = config.attr_str("timeout") {
            if let Err(e) = parse_duration(t) {
                problems.push(Problem::at("timeout", format!("timeout: {e}")));
            }
        }
        problems
    }

    fn create(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        let mut state = object(request.config);
        let (stdout, stderr, code) = match request.config.attr_str("run") {
            Some(script) => run(
                script,
                request.config,
                request.target.base_dir,
                request.cancel,
                hides_output(request.sensitive),
            )?,
            None => (String::new(), String::new(), 0),
        };
        let id = random_id()?;
        state.insert("id".into(), Value::String(id.clone()));
        state.insert("stdout".into(), Value::String(stdout));
        state.insert("stderr".into(), Value::String(stderr));
        state.insert("exit_code".into(), Value::Number(f64::from(code)));
        Ok(ApplyResponse {
            state: Value::Map(state),
            id,
        })
    }

    fn update(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        // What can change in place (input, destroy, environment...) needs no run: keep what
        // the last run produced.
        let mut state = object(request.config);
        let prior = request.prior.and_then(Value::as_map);
        for key in ["id", "stdout", "stderr", "exit_code"] {
            let v = prior
                .and_then(|p| p.get(key))
                .cloned()
                .unwrap_or(Value::Null);
            state.insert(key.into(), v);
        }
        let id = state
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok(ApplyResponse {
            state: Value::Map(state),
            id,
        })
    }

    fn refreshes(&self) -> bool {
        false
    }

    fn read(&self, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
        // Nothing outside the state: what was recorded is what exists.
        Ok(ReadResponse::Found(request.prior.clone()))
    }

    fn delete(&self, request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
        if let Some(script) = request.prior.attr_str("destroy") {
            run(
                script,
                request.prior,
                request.target.base_dir,
                request.cancel,
                hides_output(request.sensitive),
            )?;
        }
        Ok(())
    }

    fn import(&self, _: &Target<'_>, _: &str, _: &Value) -> Result<Value, ProviderError> {
        Err(ProviderError::new(
            "a command has nothing outside hive to import: declare it and apply instead",
        ))
    }

    fn backend_name(&self, _: &str, _: &InstanceAddr, _: &Value) -> Option<String> {
        None
    }
}

/// Whether the configured attributes the output can echo hold secrets.
fn hides_output(sensitive: &[String]) -> bool {
    sensitive.iter().any(|a| OUTPUT_FROM.contains(&a.as_str()))
}

fn object(config: &Value) -> BTreeMap<String, Value> {
    config.as_map().cloned().unwrap_or_default()
}

/// Runs a script; returns its output and exit code, or an error for a non-zero exit, a
/// timeout or a cancellation. `secret`: the script is made of secrets, so the error says
/// nothing of its output.
fn run(
    script: &str,
    config: &Value,
    base_dir: &Path,
    cancel: &Cancel,
    secret: bool,
) -> Result<(String, String, i32), ProviderError> {
    let timeout = match config.attr_str("timeout") {
        Some(t) => Some(parse_duration(t).map_err(ProviderError::new)?),
        None => None,
    };
    let dir: PathBuf = match config.attr_str("working_dir") {
        Some(d) => base_dir.join(d),
        None => base_dir.to_path_buf(),
    };
    let environment = config
        .attr("environment")
        .and_then(Value::as_map)
        .map(|env| {
            env.iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    if let Some(host) = config.attr("host").and_then(SshTarget::of_host) {
        return run_remote(&host, script, config, environment, timeout, secret);
    }
    let script = process::Script {
        script,
        dir: &dir,
        environment,
        timeout,
    };
    let finished = process::run(&script, cancel).map_err(|f| match f {
        process::Failure::Start(e) => ProviderError::new(e),
        process::Failure::TimedOut(t) => ProviderError::new(format!(
            "the command did not finish within its timeout ({}) and was ended with everything it started",
            hive_sdk::units::format_duration(t)
        )),
        process::Failure::Cancelled => {
            ProviderError::new("the command was interrupted and ended with everything it started")
        }
    })?;
    judged(
        finished.status.code(),
        finished.stdout,
        finished.stderr,
        secret,
    )
}

/// A script on a remote host, through `sh -c` over SSH: in `working_dir` (else the login's
/// home), with the environment, under `timeout` (coreutils' on the host).
/// This process's sessions to remote hosts, kept from one command step to the next.
static SESSIONS: std::sync::LazyLock<SshPool> = std::sync::LazyLock::new(SshPool::default);

fn run_remote(
    host: &SshTarget,
    script: &str,
    config: &Value,
    environment: Vec<(&str, &str)>,
    timeout: Option<std::time::Duration>,
    secret: bool,
) -> Result<(String, String, i32), ProviderError> {
    let mut argv: Vec<String> = Vec::new();
    let dir = config.attr_str("working_dir");
    if dir.is_some() || !environment.is_empty() || timeout.is_some() {
        argv.push("env".into());
        argv.extend(environment.iter().map(|(k, v)| format!("{k}={v}")));
    }
    if let Some(t) = timeout {
        argv.extend(["timeout".into(), "-s".into(), "KILL".into()]);
        argv.push(format!("{}", t.as_secs_f64().max(0.001)));
    }
    let wrapped = match dir {
        Some(d) => format!("cd {} && {script}", hive_sdk::ssh::shell_quote(d)),
        None => script.to_string(),
    };
    argv.extend(["sh".into(), "-c".into(), wrapped]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    // The host's `timeout` bounds the command; the session waits a little longer for it.
    let out = SESSIONS
        .run_within(
            host,
            &argv,
            None,
            timeout.map(|t| t + std::time::Duration::from_secs(30)),
        )
        .map_err(|e| ProviderError::new(format!("on {}: {e}", host.name)))?;
    if let (Some(t), 137) = (timeout, out.status) {
        return Err(ProviderError::new(format!(
            "the command did not finish within its timeout ({}) on {} and was killed",
            hive_sdk::units::format_duration(t),
            host.name
        )));
    }
    judged(Some(out.status), out.stdout, out.stderr, secret)
}

/// A finished command's outcome: its output and code, or an error quoting the last lines of
/// its error output (nothing of it when the command is made of secrets).
fn judged(
    code: Option<i32>,
    stdout: String,
    stderr: String,
    secret: bool,
) -> Result<(String, String, i32), ProviderError> {
    if code != Some(0) {
        let how = match code {
            Some(c) => format!("exited with code {c}"),
            None => "was killed by a signal".to_string(),
        };
        if secret {
            return Err(ProviderError::new(format!(
                "the command {how} (its output is not shown: the command is made of sensitive values)"
            )));
        }
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(ProviderError::new(if tail.is_empty() {
            format!("the command {how}")
        } else {
            format!("the command {how}:\n{}", tail.join("\n"))
        }));
    }
    Ok((stdout, stderr, code.unwrap_or(-1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hive_sdk::provider::Target;
    use std::time::{Duration, Instant};

    fn config(pairs: &[(&str, Value)]) -> Value {
        Value::map(pairs.iter().map(|(k, v)| (*k, v.clone())))
    }

    fn create_with(
        config: &Value,
        dir: &Path,
        sensitive: &[String],
    ) -> Result<ApplyResponse, ProviderError> {
        let cancel = Cancel::default();
        let address: InstanceAddr = "command.t".parse().unwrap();
        CommandProvider.create(&ApplyRequest {
            target: Target {
                address: &address,
                kind: "command",
                lineage: "l",
                state: "",
                expires: None,
                base_dir: dir,
            },
            config,
            prior: None,
            cancel: &cancel,
            sensitive,
            progress: &hive_sdk::provider::no_progress,
        })
    }

    fn create(config: &Value, dir: &Path) -> Result<ApplyResponse, ProviderError> {
        create_with(config, dir, &[])
    }

    /// Whether a process whose command line holds `marker` is running.
    fn running(marker: &str) -> bool {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(marker)
                })
                .unwrap_or(false)
        })
    }

    #[test]
    fn run_captures_output_in_the_config_directory_with_its_environment() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(&[
            (
                "run",
                Value::string("echo \"$GREETING from $(basename $PWD)\"; echo oops >&2"),
            ),
            (
                "environment",
                Value::map([("GREETING", Value::string("hello"))]),
            ),
        ]);
        let out = create(&c, dir.path()).unwrap();
        let state = out.state.as_map().unwrap();
        let name = dir.path().file_name().unwrap().to_string_lossy();
        assert_eq!(
            state["stdout"],
            Value::string(format!("hello from {name}\n"))
        );
        assert_eq!(state["stderr"], Value::string("oops\n"));
        assert_eq!(state["exit_code"], Value::Number(0.0));
        assert_eq!(out.id.len(), 32);
    }

    #[test]
    fn a_failing_command_reports_its_code_and_error_output() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(&[("run", Value::string("echo disk full >&2; exit 3"))]);
        let err = create(&c, dir.path()).unwrap_err().message;
        assert_eq!(err, "the command exited with code 3:\ndisk full");
    }

    #[test]
    fn a_command_made_of_secrets_fails_without_showing_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(&[("run", Value::string("echo hunter2 >&2; exit 3"))]);
        let err = create_with(&c, dir.path(), &["run".to_string()])
            .unwrap_err()
            .message;
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("exited with code 3"), "{err}");
    }

    #[test]
    fn a_timeout_ends_the_command_and_everything_it_started() {
        let dir = tempfile::tempdir().unwrap();
        // One child in the shell's group, one that left it with setsid.
        let c = config(&[
            (
                "run",
                Value::string("sleep 301 & setsid sh -c 'sleep 302' & sleep 303"),
            ),
            ("timeout", Value::string("500ms")),
        ]);
        let started = Instant::now();
        let err = create(&c, dir.path()).unwrap_err().message;
        assert!(err.contains("timeout (500ms)"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        for marker in ["sleep 301", "sleep 302", "sleep 303"] {
            assert!(!running(marker), "{marker} is still running");
        }
    }

    #[test]
    fn the_step_ends_with_its_shell_and_a_background_child_keeps_running() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(&[
            ("run", Value::string("sleep 304 & echo started")),
            ("timeout", Value::string("20s")),
        ]);
        let started = Instant::now();
        let out = create(&c, dir.path()).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "it waited for the child"
        );
        assert_eq!(out.state.attr_str("stdout"), Some("started\n"));
        assert!(running("sleep 304"), "the background child was ended");
        let _ = std::process::Command::new("pkill")
            .args(["-f", "sleep 304"])
            .status();
    }

    #[test]
    fn a_command_starts_with_no_signal_blocked_and_sigpipe_not_ignored() {
        // Rust ignores SIGPIPE and blocks nothing, hive's engine catches SIGINT and SIGTERM:
        // the shell gets the defaults, and ignores only what the one who started hive made
        // ignored (a shell's background job ignores SIGINT, as every program would).
        let dir = tempfile::tempdir().unwrap();
        let c = config(&[(
            "run",
            Value::string("grep -E '^Sig(Ign|Blk)' /proc/self/status; yes | head -1"),
        )]);
        let out = create(&c, dir.path()).unwrap();
        let stdout = out.state.attr_str("stdout").unwrap_or_default().to_string();
        let mask = |text: &str, name: &str| {
            let line = text
                .lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_default();
            u64::from_str_radix(line.rsplit('\t').next().unwrap_or_default().trim(), 16)
                .unwrap_or(u64::MAX)
        };
        let ours = std::fs::read_to_string("/proc/self/status").unwrap();
        // Bit n-1 is signal n.
        let sigpipe = 1u64 << (libc::SIGPIPE - 1);
        assert_eq!(
            mask(&stdout, "SigIgn"),
            mask(&ours, "SigIgn") & !sigpipe,
            "{stdout}"
        );
        assert_eq!(mask(&stdout, "SigBlk"), 0, "{stdout}");
        assert!(stdout.ends_with("y\n"), "{stdout}");
    }

    #[test]
    fn a_missing_working_directory_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(&[
            ("run", Value::string("true")),
            ("working_dir", Value::string("nowhere")),
        ]);
        let err = create(&c, dir.path()).unwrap_err().message;
        assert!(err.contains("cannot start /bin/sh in"), "{err}");
        assert!(err.contains("No such file or directory"), "{err}");
    }

    #[test]
    fn without_run_it_only_records() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(&[("input", Value::map([("a", Value::Number(1.0))]))]);
        let out = create(&c, dir.path()).unwrap();
        assert_eq!(
            out.state.as_map().unwrap()["input"],
            c.as_map().unwrap()["input"]
        );
    }

    #[test]
    fn a_command_on_a_host_that_does_not_answer_fails_naming_it() {
        // A port nothing listens on: refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let host = Value::map([
            ("address", Value::string("127.0.0.1")),
            ("port", Value::Number(f64::from(port))),
            ("id", Value::string("db")),
        ]);
        let c = config(&[("host", host), ("run", Value::string("true"))]);
        assert!(CommandProvider.validate("command", &c).is_empty());
        let dir = tempfile::tempdir().unwrap();
        let e = create(&c, dir.path()).unwrap_err();
        assert!(
            e.message
                .contains(&format!("on db: root@127.0.0.1:{port}: connecting")),
            "{}",
            e.message
        );
    }
}
