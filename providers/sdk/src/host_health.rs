//! Whether a host can take work, and how much: it answers (over SSH with the right key, for
//! a remote host), and its free memory, CPUs and free disk, or the capacity it declares
//! (`capacity { memory, cpus }`), which wins: hosts that share one kernel (the lab's) look
//! alike from inside.

use crate::exec::{Exec, LocalExec};
use crate::ssh::{SshExec, SshTarget};
use crate::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub up: bool,
    /// Why it is DOWN, or what was seen.
    pub reason: String,
    /// Free (or declared) memory, MiB.
    pub memory_mib: Option<u64>,
    pub cpus: Option<u64>,
    /// Free disk under /var/lib, MiB.
    pub disk_mib: Option<u64>,
    /// Whether memory and CPUs are the host's declared capacity.
    pub declared: bool,
}

/// One look, one program: what /proc/meminfo, nproc and df say.
const READINGS: &str = "awk '/^MemAvailable:/ {print $2}' /proc/meminfo; nproc; \
    df -Pk /var/lib | awk 'NR == 2 {print $4}'";

/// Checks the host a record describes (a `host` block's value).
pub fn check(host: &Value) -> Health {
    let readings = match SshTarget::of_host(host) {
        Some(target) => SshExec::new(target).run(&["sh", "-c", READINGS], None),
        None => LocalExec.run(&["sh", "-c", READINGS], None),
    };
    let mut health = match readings {
        Err(e) => Health {
            up: false,
            reason: e,
            memory_mib: None,
            cpus: None,
            disk_mib: None,
            declared: false,
        },
        Ok(out) if !out.success() => Health {
            up: false,
            reason: format!(
                "it answers, but reading its memory and disk failed: {}",
                out.stderr.trim()
            ),
            memory_mib: None,
            cpus: None,
            disk_mib: None,
            declared: false,
        },
        Ok(out) => {
            let numbers: Vec<Option<u64>> =
                out.stdout.lines().map(|l| l.trim().parse().ok()).collect();
            let at = |i: usize| numbers.get(i).copied().flatten();
            Health {
                up: true,
                reason: "answers".into(),
                memory_mib: at(0).map(|kib| kib / 1024),
                cpus: at(1),
                disk_mib: at(2).map(|kib| kib / 1024),
                declared: false,
            }
        }
    };
    if let Some(capacity) = host.attr("capacity").filter(|c| !c.is_null()) {
        if let Some(memory) = capacity
            .attr_str("memory")
            .and_then(|m| crate::units::parse_size(m).ok())
        {
            health.memory_mib = Some(memory >> 20);
            health.declared = true;
        }
        if let Some(cpus) = capacity.attr("cpus").and_then(Value::as_number) {
            health.cpus = Some(cpus as u64);
            health.declared = true;
        }
    }
    health
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_answers_and_a_declared_capacity_wins() {
        let here = check(&Value::map([("id", Value::string("local"))]));
        assert!(here.up, "{here:?}");
        assert!(here.cpus.is_some_and(|c| c >= 1) && here.memory_mib.is_some());
        assert!(!here.declared);
        let declared = check(&Value::map([(
            "capacity",
            Value::map([
                ("memory", Value::string("2GiB")),
                ("cpus", Value::Number(3.0)),
            ]),
        )]));
        assert_eq!(
            (declared.memory_mib, declared.cpus, declared.declared),
            (Some(2048), Some(3), true)
        );
    }
}
