//! `HIVE_LOG=debug`: a line per provider call, on standard error or appended to
//! `HIVE_LOG_FILE`, for a CI job's post-mortem:
//! `2026-12-04T19:00:00Z hive[4242] libvirt create instance.node[0] 12.345s ok`.

use crate::engine::call_log::{Call, CallLog};
use std::io::Write;
use std::sync::{Arc, Mutex};

enum Sink {
    Stderr,
    File(Mutex<std::fs::File>),
}

pub struct DebugLog {
    sink: Sink,
}

impl DebugLog {
    /// The log `HIVE_LOG` asks for: `None` unless it says `debug`. A log file that cannot be
    /// opened is an error (a post-mortem without its log would be lost in silence).
    pub fn from_env() -> Result<Option<Arc<DebugLog>>, String> {
        let level = std::env::var("HIVE_LOG").unwrap_or_default();
        match level.to_ascii_lowercase().as_str() {
            "" | "off" | "error" | "warn" | "info" => return Ok(None),
            "debug" | "trace" => {}
            other => {
                return Err(format!(
                    "HIVE_LOG={other}: expected debug (or off); nothing else is logged"
                ))
            }
        }
        let sink = match std::env::var_os("HIVE_LOG_FILE") {
            None => Sink::Stderr,
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| {
                        format!(
                            "HIVE_LOG_FILE={}: {e}",
                            std::path::Path::new(&path).display()
                        )
                    })?;
                Sink::File(Mutex::new(file))
            }
        };
        Ok(Some(Arc::new(DebugLog { sink })))
    }
}

impl CallLog for DebugLog {
    fn call(&self, call: &Call<'_>) {
        let outcome = match call.outcome {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("error: {}", e.replace('\n', " ")),
        };
        let line = format!(
            "{} hive[{}] {} {} {} {:.3}s {outcome}\n",
            hive_state::lock::rfc3339_now(),
            std::process::id(),
            call.driver,
            call.method,
            call.address.as_deref().unwrap_or("-"),
            call.elapsed.as_secs_f64(),
        );
        // One write per line: lines of concurrent calls never interleave.
        match &self.sink {
            Sink::Stderr => {
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            Sink::File(file) => {
                let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
                let _ = file.write_all(line.as_bytes());
            }
        }
    }
}
