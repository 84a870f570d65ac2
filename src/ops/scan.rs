//! `hive scan`: every object hive made on the configuration's hosts (and others named), by
//! the tags they carry, each judged against the state its tag names: live, expired, or
//! orphaned (its state is gone or no longer records it). `-reap` is [`super::reap`].

use crate::engine::registry::Registry;
use crate::ops::validate::{validate, Validated, VarOptions};
use hive_sdk::addr::InstanceAddr;
use hive_sdk::provider::{Found, Provider, ScanRequest};
use hive_sdk::Value;
use hive_state::backend::StateBackend;
use hive_state::file::FileBackend;
use hive_state::settings::BackendConfig;
use hive_state::State;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    pub vars: VarOptions,
    /// `-host [USER@]ADDRESS[:PORT]`: hosts the configuration does not declare.
    pub hosts: Vec<String>,
    /// The key and known_hosts file for those hosts (default: the agent and
    /// `~/.ssh/known_hosts`).
    pub ssh_key: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
}

/// What a scanned object is to the state its tag names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Its state records it and has not expired.
    Live,
    /// Its state records it, but its `ttl` ran out.
    Expired,
    /// Its state is gone or no longer records it.
    Orphaned,
    /// Its state could not be read: it is left alone.
    Unknown,
    /// Its state no longer holds it, and it outlives its state on purpose (a snapshot in a
    /// store) without an expiry that passed.
    Kept,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Live => "live",
            Status::Expired => "expired",
            Status::Orphaned => "orphaned",
            Status::Unknown => "unknown",
            Status::Kept => "kept",
        }
    }
}

/// A host a scan looks at: its name for people, and the configuration its providers get.
#[derive(Debug, Clone)]
pub struct ScanHost {
    pub name: String,
    pub request: Value,
    /// A store of the configuration (`request` is its block), not a host.
    pub store: bool,
}

#[derive(Debug, Clone)]
pub struct Scanned {
    /// Index into [`ScanReport::hosts`].
    pub host: usize,
    pub driver: &'static str,
    pub found: Found,
    pub status: Status,
    /// Why it is orphaned or unknown.
    pub reason: String,
    /// When it expires: its state's expiry where the state was read, else its tag's.
    pub expires: Option<u64>,
}

pub struct ScanReport {
    pub hosts: Vec<ScanHost>,
    pub objects: Vec<Scanned>,
    /// Hosts or backends that could not be scanned, in words.
    pub problems: Vec<String>,
    /// The configuration's own state settings (credentials included), for states kept
    /// where the configuration keeps its own.
    pub(super) backend: Option<OwnBackend>,
    /// What each state location holds.
    pub(super) holders: BTreeMap<String, Holder>,
}

/// The configuration's state settings and its directory.
pub(super) type OwnBackend = (BackendConfig, PathBuf);

/// What a scan found at a state location.
#[derive(Debug, Clone)]
pub(super) enum Holder {
    /// Nothing there (or a state of another lineage): every object naming it is orphaned.
    Gone(String),
    Unreachable(String),
    Here {
        state: Box<State>,
        source: Source,
    },
}

/// How to reach a state again to reap under its lock or destroy through it.
#[derive(Debug, Clone)]
pub(super) enum Source {
    File(PathBuf),
    Configured,
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Scans every host, every provider on each at once, and judges what they found.
pub fn scan(
    dir: &Path,
    registry: &Registry,
    options: &ScanOptions,
) -> Result<ScanReport, Box<Validated>> {
    let (mut hosts, backend) = configured_hosts(dir, registry, options)?;
    for text in &options.hosts {
        hosts.push(ScanHost {
            name: text.clone(),
            request: named_host(text, options),
            store: false,
        });
    }
    let providers: Vec<&Arc<dyn Provider>> = registry.providers().iter().collect();
    let asks: Vec<(usize, &Arc<dyn Provider>)> = (0..hosts.len())
        .flat_map(|h| providers.iter().map(move |p| (h, *p)))
        .collect();
    let answers: Vec<_> = std::thread::scope(|scope| {
        let running: Vec<_> = asks
            .iter()
            .map(|(h, provider)| {
                let host = &hosts[*h];
                scope.spawn(move || {
                    if host.store {
                        provider.scan_store(&host.request)
                    } else {
                        provider.scan(&ScanRequest {
                            host: &host.request,
                        })
                    }
                })
            })
            .collect();
        running.into_iter().map(|r| r.join()).collect()
    });
    let mut report = ScanReport {
        hosts,
        objects: Vec::new(),
        problems: Vec::new(),
        backend,
        holders: BTreeMap::new(),
    };
    for ((h, provider), answer) in asks.iter().zip(answers) {
        match answer {
            Ok(Ok(found)) => report
                .objects
                .extend(found.into_iter().map(|found| Scanned {
                    host: *h,
                    driver: provider.driver(),
                    found,
                    status: Status::Unknown,
                    reason: String::new(),
                    expires: None,
                })),
            Ok(Err(e)) => report.problems.push(format!(
                "{}: the {} driver could not scan: {e}",
                report.hosts[*h].name,
                provider.driver()
            )),
            Err(_) => report.problems.push(format!(
                "{}: the {} driver failed while scanning",
                report.hosts[*h].name,
                provider.driver()
            )),
        }
    }
    report.judge();
    Ok(report)
}

/// The kind whose blocks are places objects are kept in, scanned like hosts.
const STORE_KIND: &str = "store";

/// The hosts the configuration declares (and this machine when something lives on it
/// without naming a host), and its state settings. A directory with no configuration scans this machine.
fn configured_hosts(
    dir: &Path,
    registry: &Registry,
    options: &ScanOptions,
) -> Result<(Vec<ScanHost>, Option<OwnBackend>), Box<Validated>> {
    let local = ScanHost {
        name: "local".into(),
        request: Value::map(Vec::<(&str, Value)>::new()),
        store: false,
    };
    if !has_configuration(dir) {
        return Ok((vec![local], None));
    }
    let validated = validate(dir, registry, &options.vars);
    if validated.diagnostics.has_errors() {
        return Err(Box::new(validated));
    }
    let Some(evaluated) = &validated.evaluated else {
        return Err(Box::new(validated));
    };
    let mut hosts: Vec<ScanHost> = evaluated
        .instances()
        .into_iter()
        .filter(|(addr, _)| addr.resource.kind == crate::engine::hosts::KIND)
        .map(|(addr, value)| ScanHost {
            name: addr.to_string(),
            request: Value::map(vec![("host", value.clone().unmark_deep().0)]),
            store: false,
        })
        .collect();
    let declares_local = hosts.iter().any(|h| {
        h.request
            .attr("host")
            .is_some_and(|v| v.attr_str("address").is_none())
    });
    // This machine too when something lives on it without naming a host.
    let names_no_host = |v: &Value| {
        ["host", "hosts"]
            .iter()
            .all(|a| v.attr(a).is_none_or(Value::is_null))
    };
    let uses_local = evaluated
        .instances()
        .into_iter()
        .any(|(addr, v)| addr.resource.kind != crate::engine::hosts::KIND && names_no_host(v));
    if !declares_local && (hosts.is_empty() || uses_local) {
        hosts.insert(0, local);
    }
    hosts.extend(
        evaluated
            .instances()
            .into_iter()
            .filter(|(addr, _)| addr.resource.kind == STORE_KIND)
            .map(|(addr, value)| ScanHost {
                name: addr.to_string(),
                request: value.clone().unmark_deep().0,
                store: true,
            }),
    );
    Ok((
        hosts,
        Some((validated.settings.backend.clone(), dir.to_path_buf())),
    ))
}

fn has_configuration(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".hive.hcl"))
    })
}

/// A `-host [USER@]ADDRESS[:PORT]` as a host record.
fn named_host(text: &str, options: &ScanOptions) -> Value {
    let (user, rest) = match text.split_once('@') {
        Some((u, r)) => (Some(u), r),
        None => (None, text),
    };
    let (address, port) = match rest.rsplit_once(':') {
        Some((a, p)) if p.parse::<u16>().is_ok() => (a, p.parse::<f64>().ok()),
        _ => (rest, None),
    };
    let mut host = vec![("address", Value::string(address))];
    if let Some(u) = user {
        host.push(("user", Value::string(u)));
    }
    if let Some(p) = port {
        host.push(("port", Value::Number(p)));
    }
    if let Some(k) = &options.ssh_key {
        host.push(("ssh_key", Value::string(k.to_string_lossy())));
    }
    if let Some(k) = &options.known_hosts {
        host.push(("known_hosts", Value::string(k.to_string_lossy())));
    }
    Value::map(vec![("host", Value::map(host))])
}

impl ScanReport {
    /// Reads each state the objects name, once, and judges every object against it.
    fn judge(&mut self) {
        let locations: Vec<String> = self
            .objects
            .iter()
            .map(|o| o.found.tag.state.clone())
            .collect();
        for location in locations {
            if !self.holders.contains_key(&location) {
                let holder = self.holder_of(&location);
                self.holders.insert(location, holder);
            }
        }
        let now = now();
        for object in &mut self.objects {
            let tag = &object.found.tag;
            object.expires = tag.expires;
            let (status, reason) = match &self.holders[&tag.state] {
                Holder::Gone(why) => (Status::Orphaned, why.clone()),
                Holder::Unreachable(why) => (Status::Unknown, why.clone()),
                Holder::Here { state, .. } => {
                    if state.lineage != tag.lineage {
                        (
                            Status::Orphaned,
                            format!(
                                "the state at {} is another one now (lineage {})",
                                tag.state, state.lineage
                            ),
                        )
                    } else if records(state, &object.found) {
                        object.expires = state.expires;
                        match state.expires {
                            Some(at) if at <= now => (Status::Expired, String::new()),
                            _ => (Status::Live, String::new()),
                        }
                    } else {
                        (
                            Status::Orphaned,
                            format!("its state no longer records {}", tag.address),
                        )
                    }
                }
            };
            let (status, reason) =
                match status {
                    Status::Orphaned if object.found.outlives_state => {
                        match object.found.tag.expires {
                        Some(at) if at <= now => {
                            (Status::Orphaned, format!("{reason}, and its ttl ran out"))
                        }
                        _ => (
                            Status::Kept,
                            "kept on purpose: a snapshot outlives its cluster (one made under a ttl expires with it)"
                                .to_string(),
                        ),
                    }
                    }
                    other => (other, reason),
                };
            object.status = status;
            object.reason = reason;
        }
    }

    fn holder_of(&self, location: &str) -> Holder {
        if location.is_empty() {
            return Holder::Unreachable(
                "its tag names no state (made by an older hive): left alone".into(),
            );
        }
        if let Some((config, dir)) = &self.backend {
            if config.location(dir) == location && config.backend != "local" {
                return match hive_state::settings::open(config, dir)
                    .and_then(|mut b| b.read().map_err(|e| e.to_string()))
                {
                    Ok(loaded) => match loaded.state {
                        Some(state) => Holder::Here {
                            state: Box::new(state),
                            source: Source::Configured,
                        },
                        None => Holder::Gone(format!("there is no state at {location}")),
                    },
                    Err(e) => Holder::Unreachable(format!("reading its state at {location}: {e}")),
                };
            }
        }
        if !location.starts_with('/') {
            return Holder::Unreachable(format!(
                "its state is at {location}, which only the configuration keeping its state there can read"
            ));
        }
        read_file_state(Path::new(location), true)
    }

    /// The objects `-reap` removes or destroys.
    pub fn reapable(&self) -> impl Iterator<Item = &Scanned> {
        self.objects
            .iter()
            .filter(|o| matches!(o.status, Status::Orphaned | Status::Expired))
    }
}

fn read_file_state(path: &Path, follow: bool) -> Holder {
    let location = path.display().to_string();
    match FileBackend::new(path).read() {
        Ok(loaded) => match (loaded.state, loaded.moved_to) {
            (Some(state), _) => Holder::Here {
                state: Box::new(state),
                source: Source::File(path.to_path_buf()),
            },
            (None, Some(to)) if follow && to.starts_with('/') => {
                read_file_state(Path::new(&to), false)
            }
            (None, Some(to)) => Holder::Unreachable(format!(
                "its state moved from {location} to {to}, which scan does not follow"
            )),
            (None, None) => Holder::Gone(format!("its state {location} is gone")),
        },
        Err(e) => Holder::Unreachable(format!("reading its state {location}: {e}")),
    }
}

/// Whether `state` holds what `found` is (part of): the record at the tag's address (one
/// still being made has no id yet), or one of the same kind with its id anywhere (it moved).
pub(super) fn records(state: &State, found: &Found) -> bool {
    let address: Option<InstanceAddr> = found.tag.address.parse().ok();
    let kind = address.as_ref().map(|a| a.resource.kind.clone());
    state.resources.values().any(|r| {
        let same_id = r.id.as_deref() == Some(found.id.as_str());
        if Some(&r.address) == address.as_ref() {
            return r.id.is_none() || found.id.is_empty() || same_id;
        }
        same_id && Some(&r.kind) == kind.as_ref()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hive_sdk::tag::Tag;
    use hive_state::{ResourceState, Status as RecordStatus};

    fn record(address: &str, id: Option<&str>) -> ResourceState {
        let address: InstanceAddr = address.parse().expect("an address");
        ResourceState {
            kind: address.resource.kind.clone(),
            address,
            deposed: None,
            driver: "lxd".into(),
            id: id.map(str::to_string),
            attributes: serde_json::json!({}),
            dependencies: Vec::new(),
            status: RecordStatus::Ready,
        }
    }

    fn found(state: &Path, lineage: &str, address: &str, id: &str) -> Scanned {
        Scanned {
            host: 0,
            driver: "lxd",
            found: Found {
                kind: "lxd instance".into(),
                name: id.into(),
                tag: Tag {
                    lineage: lineage.into(),
                    state: state.display().to_string(),
                    address: address.into(),
                    expires: None,
                },
                id: id.into(),
                order: 0,
                outlives_state: false,
            },
            status: Status::Unknown,
            reason: String::new(),
            expires: None,
        }
    }

    fn judged(objects: Vec<Scanned>) -> Vec<(Status, String)> {
        let mut report = ScanReport {
            hosts: Vec::new(),
            objects,
            problems: Vec::new(),
            backend: None,
            holders: BTreeMap::new(),
        };
        report.judge();
        report
            .objects
            .into_iter()
            .map(|o| (o.status, o.reason))
            .collect()
    }

    #[test]
    fn objects_are_judged_against_the_state_their_tag_names() {
        let dir = tempfile::tempdir().expect("temp dir");
        let live_path = dir.path().join("live.json");
        let expired_path = dir.path().join("expired.json");
        let mut live = State::new("L1".into());
        live.put(record("instance.a", Some("a")));
        live.put(record("instance.b", None));
        live.put(record("instance.moved_to", Some("m")));
        live.expires = Some(now() + 3600);
        FileBackend::new(&live_path).write(&live).expect("write");
        let mut expired = State::new("L2".into());
        expired.put(record("instance.c", Some("c")));
        expired.expires = Some(now() - 1);
        FileBackend::new(&expired_path)
            .write(&expired)
            .expect("write");
        let gone = dir.path().join("gone.json");
        let statuses = judged(vec![
            found(&live_path, "L1", "instance.a", "a"),
            // Still being made: recorded without an id yet.
            found(&live_path, "L1", "instance.b", "b"),
            // Moved by an address change the tag did not follow: found by its id.
            found(&live_path, "L1", "instance.moved_from", "m"),
            // An id the state no longer records at its address.
            found(&live_path, "L1", "instance.a", "old"),
            found(&live_path, "L9", "instance.a", "a"),
            found(&expired_path, "L2", "instance.c", "c"),
            found(&gone, "L3", "instance.d", "d"),
            found(Path::new(""), "L4", "instance.e", "e"),
            found(Path::new("s3-somewhere"), "L5", "instance.f", "f"),
        ]);
        let words: Vec<&str> = statuses.iter().map(|(s, _)| s.word()).collect();
        assert_eq!(
            words,
            [
                "live", "live", "live", "orphaned", "orphaned", "expired", "orphaned", "unknown",
                "unknown"
            ]
        );
        assert!(statuses[3].1.contains("no longer records instance.a"));
        assert!(statuses[4].1.contains("another one now (lineage L1)"));
        assert!(statuses[6].1.contains("is gone"), "{}", statuses[6].1);
    }
}
