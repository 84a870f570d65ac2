//! The `command` resource: `run` through `/bin/sh -c` on create (and so on replace),
//! `destroy` on delete, on the machine running hive. With no `run` it only records its
//! `input` and `triggers`.
//!
//! Computed attributes: `id`, `stdout`, `stderr`, `exit_code`. A non-zero exit fails the step
//! with the command's own last lines of error output.

use hive_sdk::provider::{
    random_id, ApplyRequest, ApplyResponse, Cancel, DeleteRequest, Provider, ProviderError,
    ReadRequest, ReadResponse, Target,
};
use hive_sdk::units::parse_duration;
use hive_sdk::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Output kept in the state per stream; the rest is cut (state files must stay small).
const MAX_OUTPUT: usize = 1 << 20;
/// How often a running command is checked for exit, timeout and cancellation: quickly at
/// first (most commands are short), backing off to this.
const MAX_POLL: Duration = Duration::from_millis(50);

pub struct CommandProvider;

impl Provider for CommandProvider {
    fn driver(&self) -> &'static str {
        "local"
    }

    fn kinds(&self) -> &'static [&'static str] {
        &["command"]
    }

    fn validate(&self, _kind: &str, config: &Value) -> Vec<String> {
        match config.attr_str("timeout") {
            Some(t) => parse_duration(t)
                .err()
                .map(|e| format!("timeout: {e}"))
                .into_iter()
                .collect(),
            None => Vec::new(),
        }
    }

    fn create(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        let mut state = object(request.config);
        let (stdout, stderr, code) = match request.config.attr_str("run") {
            Some(script) => run(
                script,
                request.config,
                request.target.base_dir,
                request.cancel,
            )?,
            None => (String::new(), String::new(), 0),
        };
        let id = random_id();
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
            )?;
        }
        Ok(())
    }

    fn import(&self, _: &Target<'_>, _: &str, _: &Value) -> Result<Value, ProviderError> {
        Err(ProviderError::new(
            "a command has nothing outside hive to import: declare it and apply instead",
        ))
    }
}

fn object(config: &Value) -> BTreeMap<String, Value> {
    config.as_map().cloned().unwrap_or_default()
}

/// Runs a script; returns its output and exit code, or an error for a non-zero exit, a
/// timeout or a cancellation.
fn run(
    script: &str,
    config: &Value,
    base_dir: &Path,
    cancel: &Cancel,
) -> Result<(String, String, i32), ProviderError> {
    let timeout = match config.attr_str("timeout") {
        Some(t) => Some(parse_duration(t).map_err(ProviderError::new)?),
        None => None,
    };
    let dir: PathBuf = match config.attr_str("working_dir") {
        Some(d) => base_dir.join(d),
        None => base_dir.to_path_buf(),
    };
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(script)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(env) = config
        .as_map()
        .and_then(|m| m.get("environment"))
        .and_then(Value::as_map)
    {
        for (k, v) in env {
            if let Some(v) = v.as_str() {
                command.env(k, v);
            }
        }
    }
    let mut child = command.spawn().map_err(|e| {
        ProviderError::new(format!("cannot start /bin/sh in {}: {e}", dir.display()))
    })?;
    // Readers on their own threads, so a chatty command never blocks on a full pipe.
    let stdout = child.stdout.take().map(reader);
    let stderr = child.stderr.take().map(reader);
    let started = Instant::now();
    let mut poll = Duration::from_micros(250);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(ProviderError::new(format!("waiting for the command: {e}"))),
        }
        let timed_out = timeout.is_some_and(|t| started.elapsed() >= t);
        if timed_out || cancel.is_cancelled() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ProviderError::new(if timed_out {
                format!(
                    "the command did not finish within its timeout ({}s) and was killed",
                    timeout.map_or(0, |t| t.as_secs())
                )
            } else {
                "the command was interrupted".to_string()
            }));
        }
        std::thread::sleep(poll);
        poll = (poll * 2).min(MAX_POLL);
    };
    let stdout = stdout.map(join).unwrap_or_default();
    let stderr = stderr.map(join).unwrap_or_default();
    let code = status.code().unwrap_or(-1);
    if !status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let how = match status.code() {
            Some(c) => format!("exited with code {c}"),
            None => "was killed by a signal".to_string(),
        };
        return Err(ProviderError::new(if tail.is_empty() {
            format!("the command {how}")
        } else {
            format!("the command {how}:\n{}", tail.join("\n"))
        }));
    }
    Ok((stdout, stderr, code))
}

fn reader(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.by_ref().take(MAX_OUTPUT as u64).read_to_end(&mut buf);
        // Drain the rest so the command is never blocked writing.
        let _ = std::io::copy(&mut pipe, &mut std::io::sink());
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn join(handle: std::thread::JoinHandle<String>) -> String {
    handle.join().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hive_sdk::provider::Target;

    fn config(pairs: &[(&str, Value)]) -> Value {
        Value::map(pairs.iter().map(|(k, v)| (*k, v.clone())))
    }

    fn create(config: &Value, dir: &Path) -> Result<ApplyResponse, ProviderError> {
        let cancel = Cancel::default();
        CommandProvider.create(&ApplyRequest {
            target: Target {
                address: "command.t",
                kind: "command",
                lineage: "l",
                base_dir: dir,
            },
            config,
            prior: None,
            cancel: &cancel,
            progress: &hive_sdk::provider::no_progress,
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
    fn a_timeout_kills_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(&[
            ("run", Value::string("sleep 30")),
            ("timeout", Value::string("200ms")),
        ]);
        let started = Instant::now();
        let err = create(&c, dir.path()).unwrap_err().message;
        assert!(err.contains("timeout"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
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
}
