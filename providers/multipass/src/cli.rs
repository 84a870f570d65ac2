//! Running the `multipass` binary a host names, with its exit codes turned into errors that
//! say what they mean (1 command line, 2 the command failed, 3 the daemon is unavailable,
//! 5 timed out), multipass's own message kept.

use hive_sdk::provider::ProviderError;
use hive_sdk::Value;
use serde_json::Value as Json;
use std::process::Command;

/// The binary of a resource's host (`host { multipass { path } }`), else `multipass` on PATH.
pub fn binary(config: &Value) -> String {
    config
        .attr("host")
        .and_then(|h| h.attr("multipass"))
        .and_then(|m| m.attr_str("path"))
        .unwrap_or("multipass")
        .to_string()
}

/// What a run of the binary gave.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `binary args`; a binary that cannot start is an error naming it.
pub fn run(binary: &str, args: &[&str]) -> Result<Ran, ProviderError> {
    let out = Command::new(binary).args(args).output().map_err(|e| {
        ProviderError::new(format!(
            "running {binary}: {e} (is multipass installed? a host's multipass {{ path }} names the binary)"
        ))
    })?;
    Ok(Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// Runs a command that must succeed; `doing` says what hive was doing.
pub fn must(binary: &str, args: &[&str], doing: &str) -> Result<String, ProviderError> {
    let ran = run(binary, args)?;
    if ran.code == 0 {
        return Ok(ran.stdout);
    }
    Err(failure(&ran, doing))
}

/// A failed run as an error: what the exit code means, and multipass's message.
pub fn failure(ran: &Ran, doing: &str) -> ProviderError {
    let meaning = match ran.code {
        1 => "multipass refused the command line",
        2 => "multipass failed",
        3 => "the multipass daemon is not available",
        5 => "multipass timed out",
        _ => "multipass ended unexpectedly",
    };
    let error = ProviderError::new(format!(
        "{doing}: {meaning} (exit {}): {}",
        ran.code, ran.stderr
    ));
    if ran.code == 2 && ran.stderr.contains("does not exist") {
        ProviderError::not_found(error.message)
    } else {
        error
    }
}

/// What `multipass info NAME --format json` says of one instance, `None` when it does not
/// exist. multipass prints `cpu_count` and disk sizes as strings, memory as integers.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    pub state: String,
    pub cpus: Option<u64>,
    pub memory: Option<u64>,
    pub disk: Option<u64>,
    pub ipv4: Vec<String>,
}

fn number(v: &Json) -> Option<u64> {
    match v {
        Json::Number(n) => n.as_u64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn parse_info(text: &str, name: &str) -> Result<Info, String> {
    let json: Json =
        serde_json::from_str(text).map_err(|e| format!("not multipass's JSON: {e}"))?;
    let me = json
        .get("info")
        .and_then(|i| i.get(name))
        .ok_or_else(|| format!("its answer has no instance {name}"))?;
    Ok(Info {
        state: me
            .get("state")
            .and_then(Json::as_str)
            .unwrap_or("Unknown")
            .to_string(),
        cpus: me.get("cpu_count").and_then(number),
        memory: me
            .get("memory")
            .and_then(|m| m.get("total"))
            .and_then(number),
        disk: me
            .get("disks")
            .and_then(Json::as_object)
            .and_then(|d| d.values().next())
            .and_then(|d| d.get("total"))
            .and_then(number),
        ipv4: me
            .get("ipv4")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .map(str::to_string)
            .collect(),
    })
}

pub fn info(binary: &str, name: &str) -> Result<Option<Info>, ProviderError> {
    let ran = run(binary, &["info", name, "--format", "json"])?;
    match ran.code {
        0 => parse_info(&ran.stdout, name)
            .map(Some)
            .map_err(|e| ProviderError::new(format!("reading multipass info of {name}: {e}"))),
        2 if ran.stderr.contains("does not exist") => Ok(None),
        _ => Err(failure(&ran, &format!("reading multipass info of {name}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_reads_strings_and_integers_as_multipass_prints_them() {
        let text = r#"{"errors":[],"info":{"a":{"state":"Running","cpu_count":"2",
            "disks":{"sda1":{"total":"5036310528","used":"1"}},
            "memory":{"total":1024,"used":3},"ipv4":["10.1.2.3"]}}}"#;
        let info = parse_info(text, "a").unwrap();
        assert_eq!(info.cpus, Some(2));
        assert_eq!(info.memory, Some(1024));
        assert_eq!(info.disk, Some(5036310528));
        assert_eq!(info.ipv4, ["10.1.2.3"]);
        assert!(parse_info(text, "b").is_err());
        assert!(parse_info("no", "a").is_err());
    }

    #[test]
    fn exit_codes_say_what_they_mean() {
        let ran = |code| Ran {
            code,
            stdout: String::new(),
            stderr: "launch failed: instance \"x\" already exists".into(),
        };
        assert!(failure(&ran(3), "launching x")
            .message
            .contains("daemon is not available"));
        assert!(failure(&ran(5), "launching x")
            .message
            .contains("timed out"));
        assert!(failure(&ran(2), "launching x")
            .message
            .contains("already exists"));
    }
}
