//! What every instance driver shares about guests: what `wait_for` means, how `type`,
//! `cpus` and `memory` size a guest, and a real SSH login as the proof that a guest is
//! reachable.

use crate::problem::Problem;
use crate::provider::{Cancel, ProviderError};
use crate::schema::{
    block, computed, list, optional, optional_computed, schema, BlockType, Nesting, Schema,
};
use crate::units::parse_size;
use crate::{Type, Value};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// Instance types and their sizes (vCPUs, MiB), as in the SPEC.
pub const INSTANCE_TYPES: &[(&str, u32, u64)] = &[
    ("t3.nano", 2, 512),
    ("t3.micro", 2, 1024),
    ("t3.small", 2, 2048),
    ("t3.medium", 2, 4096),
    ("t3.large", 2, 8192),
];

/// What an `instance` block holds for every driver: a driver adds what is its own (LXD's
/// `kind`).
pub fn instance_schema() -> Schema {
    let network = schema(
        vec![
            optional("bridge", Type::Any).refers_to("bridge").or_name(),
            optional_computed("mac", Type::String),
            optional("ip", Type::String),
            optional("model", Type::String),
        ],
        vec![],
    );
    let cloud_init = schema(
        vec![
            optional("hostname", Type::String),
            optional("ssh_authorized_keys", list(Type::String)),
            optional("user_data", Type::String),
            optional("network_config", Type::String),
        ],
        vec![],
    );
    let disk = schema(vec![optional("size", Type::String)], vec![]);
    schema(
        vec![
            optional("driver", Type::String)
                .replaces()
                .about("\"libvirt\", \"lxd\" or \"multipass\""),
            optional("host", Type::Any).refers_to("host").replaces(),
            optional("hosts", Type::Any)
                .refers_to("host")
                .about("hosts to place the instances across (hive sets host to one of them)"),
            optional("placement", Type::String)
                .about("\"spread\" (default: fewest instances first) or \"pack\" (fill the first host with room)"),
            optional("image", Type::Any)
                .refers_to("image")
                .or_name()
                .replaces(),
            optional("type", Type::String),
            optional("cpus", Type::Number),
            optional("memory", Type::String),
            optional("attach", list(Type::Any)).refers_to("volume"),
            optional("wait_for", Type::String)
                .about("\"none\", \"running\", \"ip\", \"ssh\", \"cloud-init\"")
                .default(Value::string("none")),
            optional("wait_timeout", Type::String),
            optional("power", Type::String)
                .about("\"running\" or \"stopped\"")
                .default(Value::string("running")),
            optional("ssh_user", Type::String)
                .about("who `hive ssh` logs in as")
                .default(Value::string("root")),
            optional_computed("name", Type::String).replaces(),
            computed("id", Type::String),
            computed("ip", Type::String),
            computed("ips", list(Type::String)),
            computed("macs", list(Type::String)),
            computed("console_log", Type::String),
        ],
        vec![
            block("disk", Nesting::Single, disk),
            block("network", Nesting::List, network),
            BlockType::replaces(block("cloud_init", Nesting::Single, cloud_init)),
        ],
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    None,
    Running,
    Ip,
    Ssh,
    /// cloud-init has finished (`cloud-init status --wait` inside the guest).
    CloudInit,
}

impl WaitFor {
    /// What holds once the wait is over, for progress messages.
    pub fn reached(self) -> &'static str {
        match self {
            WaitFor::None => "defined",
            WaitFor::Running => "running",
            WaitFor::Ip => "has an IP address",
            WaitFor::Ssh => "reachable over SSH",
            WaitFor::CloudInit => "cloud-init done",
        }
    }

    /// What is awaited, for timeout messages ("x was not ...").
    pub fn describe(self) -> &'static str {
        match self {
            WaitFor::None => "anything",
            WaitFor::Running => "running",
            WaitFor::Ip => "given an IP address",
            WaitFor::Ssh => "reachable over SSH",
            WaitFor::CloudInit => "done with cloud-init",
        }
    }

    /// `wait_for`; absent means `running`.
    pub fn parse(text: Option<&str>) -> Result<WaitFor, String> {
        match text {
            None | Some("running") => Ok(WaitFor::Running),
            Some("none") => Ok(WaitFor::None),
            Some("ip") => Ok(WaitFor::Ip),
            Some("ssh") => Ok(WaitFor::Ssh),
            Some("cloud-init") => Ok(WaitFor::CloudInit),
            Some(other) => Err(format!(
                "wait_for = \"{other}\": expected \"none\", \"running\", \"ip\", \"ssh\" or \"cloud-init\""
            )),
        }
    }
}

/// One look at a guest during [`poll`]: the wait is over (`Done`), or not yet, with what was
/// seen (for the message if time runs out).
pub enum Look<T> {
    Done(T),
    NotYet(String),
}

/// Looks at a guest until `look` says the wait is over, backing off from `first_pause` (cheap
/// looks at quick guests can start small) to 1 s, until `timeout` (the error then says what
/// was seen last, then `detail()`, such as the end of the guest's console) or until the user
/// cancels. `look` gets the time spent so far.
pub fn poll<T>(
    name: &str,
    what: WaitFor,
    timeout: Duration,
    first_pause: Duration,
    cancel: &Cancel,
    detail: impl Fn() -> String,
    mut look: impl FnMut(Duration) -> Result<Look<T>, ProviderError>,
) -> Result<T, ProviderError> {
    let start = std::time::Instant::now();
    let mut pause = first_pause;
    loop {
        let seen = match look(start.elapsed())? {
            Look::Done(v) => return Ok(v),
            Look::NotYet(seen) => seen,
        };
        if cancel.is_cancelled() {
            return Err(ProviderError::new(format!(
                "stopped waiting for {name} to be {}: cancelled (last seen: {seen})",
                what.describe()
            )));
        }
        if start.elapsed() >= timeout {
            return Err(ProviderError::new(format!(
                "{name} was not {} after {} s; last seen: {seen}{}",
                what.describe(),
                timeout.as_secs(),
                detail()
            )));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// How long a wait lasts when `wait_timeout` is not set.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(300);

/// What to wait for and how long, from `wait_for`, `wait_timeout` and `power` (a guest meant
/// to be stopped is not waited for).
pub fn wait_settings(config: &Value) -> Result<(WaitFor, Duration), ProviderError> {
    let mut what = WaitFor::parse(config.attr_str("wait_for")).map_err(ProviderError::new)?;
    if !power_wanted(config) {
        what = WaitFor::None;
    }
    let timeout = config
        .attr_str("wait_timeout")
        .map(crate::units::parse_duration)
        .transpose()
        .map_err(|e| ProviderError::new(format!("wait_timeout: {e}")))?
        .unwrap_or(DEFAULT_WAIT);
    Ok((what, timeout))
}

/// Runs a wait and reports on `progress` how long it took ("running after waiting 2.1 s
/// for the guest").
pub fn timed_wait<T>(
    what: WaitFor,
    progress: &(dyn Fn(&str) + Sync),
    wait: impl FnOnce() -> Result<T, ProviderError>,
) -> Result<T, ProviderError> {
    let start = std::time::Instant::now();
    let out = wait()?;
    if what != WaitFor::None {
        progress(&format!(
            "{} after waiting {:.1} s for the guest",
            what.reached(),
            start.elapsed().as_secs_f64()
        ));
    }
    Ok(out)
}

const DEFAULT_CPUS: u32 = 1;
const DEFAULT_MEMORY_MIB: u64 = 512;

/// (cpus, memory in MiB): `cpus`/`memory` override what `type` gives.
pub fn sizing(config: &Value) -> Result<(u32, u64), Problem> {
    let (mut cpus, mut mib) = (DEFAULT_CPUS, DEFAULT_MEMORY_MIB);
    if let Some(t) = config.attr_str("type") {
        let Some((_, c, m)) = INSTANCE_TYPES.iter().find(|(name, _, _)| *name == t) else {
            let known: Vec<&str> = INSTANCE_TYPES.iter().map(|t| t.0).collect();
            return Err(Problem::at(
                "type",
                format!("type = \"{t}\": expected one of {}", known.join(", ")),
            ));
        };
        (cpus, mib) = (*c, *m);
    }
    if let Some(c) = config.attr("cpus").and_then(Value::as_number) {
        if c < 1.0 || c.fract() != 0.0 || c > 256.0 {
            return Err(Problem::at(
                "cpus",
                format!("cpus = {c}: expected a whole number from 1 to 256"),
            ));
        }
        cpus = c as u32;
    }
    if let Some(m) = config.attr_str("memory") {
        let bytes = parse_size(m).map_err(|e| Problem::at("memory", format!("memory: {e}")))?;
        if bytes < 64 << 20 {
            return Err(Problem::at(
                "memory",
                format!("memory = \"{m}\": at least 64MiB"),
            ));
        }
        mib = bytes >> 20;
    }
    Ok((cpus, mib))
}

/// What every instance driver checks of a configuration: `wait_for` (and that a wait for an
/// address has a NIC to get one on; `cloud_init_over_ssh`: the driver awaits cloud-init over
/// SSH, so that wait needs one too), `wait_timeout`, `type`/`cpus`/`memory`, `power` and the
/// root disk's `size`.
pub fn validate(config: &Value, cloud_init_over_ssh: bool) -> Vec<Problem> {
    let mut problems = Vec::new();
    match WaitFor::parse(config.attr_str("wait_for")) {
        Err(e) => problems.push(Problem::at("wait_for", e)),
        Ok(what @ (WaitFor::Ip | WaitFor::Ssh)) => problems.extend(without_network(config, what)),
        Ok(WaitFor::CloudInit) if cloud_init_over_ssh => {
            problems.extend(without_network(config, WaitFor::CloudInit))
        }
        Ok(_) => {}
    }
    if let Some(t) = config.attr_str("wait_timeout") {
        if let Err(e) = crate::units::parse_duration(t) {
            problems.push(Problem::at("wait_timeout", format!("wait_timeout: {e}")));
        }
    }
    if let Err(e) = sizing(config) {
        problems.push(e);
    }
    match config.attr_str("power") {
        None | Some("running") | Some("stopped") => {}
        Some(other) => problems.push(Problem::at(
            "power",
            format!("power = \"{other}\": expected \"running\" or \"stopped\""),
        )),
    }
    if let Some(size) = config.attr("disk").and_then(|d| d.attr_str("size")) {
        if let Err(e) = parse_size(size) {
            problems.push(Problem::at("disk", format!("disk size: {e}")).then("size"));
        }
    }
    problems
}

/// The problem with a wait that needs an address on an instance that has no `network` block
/// (it would only time out), if so. An unknown `network` may have some: no problem yet.
fn without_network(config: &Value, what: WaitFor) -> Option<Problem> {
    let networked = match config.attr("network") {
        None => false,
        Some(v) if v.is_null() => false,
        Some(v) => v.as_items().is_none_or(|nics| !nics.is_empty()),
    };
    let name = match what {
        WaitFor::Ip => "ip",
        WaitFor::Ssh => "ssh",
        WaitFor::CloudInit => "cloud-init",
        WaitFor::Running | WaitFor::None => return None,
    };
    (!networked).then(|| {
        Problem::at(
            "wait_for",
            format!("wait_for = \"{name}\" needs a network block: without a NIC the instance never gets an address"),
        )
    })
}

/// Whether the configuration wants the guest running (`power`, default `running`).
pub fn power_wanted(config: &Value) -> bool {
    config.attr_str("power") != Some("stopped")
}

/// Who `hive ssh` and `wait_for = "ssh"` log in as.
pub fn ssh_user(config: &Value) -> &str {
    config.attr_str("ssh_user").unwrap_or("root")
}

/// How `hive ssh` logs into an instance over SSH: its recorded address, `ssh_user`, and the
/// state's key. `announce`: say that SSH was chosen over another way in.
pub fn ssh_login_to(
    request: &crate::provider::LoginRequest<'_>,
    announce: bool,
) -> Result<crate::provider::Login, ProviderError> {
    let address = request.target.address;
    let ip = request.attributes.attr_str("ip").ok_or_else(|| {
        ProviderError::new(format!(
            "{address} has no IP address recorded (is it running? wait_for = \"ip\" or \"ssh\" records one)"
        ))
    })?;
    let key = crate::identity::private_key_path(request.target.lineage);
    if !key.exists() {
        return Err(ProviderError::new(format!(
            "hive's key for this state is missing ({}); it is made when an instance is created",
            key.display()
        )));
    }
    Ok(crate::provider::Login::Ssh {
        ip: ip.to_string(),
        user: ssh_user(request.attributes).to_string(),
        key,
        announce,
        jump: None,
    })
}

/// A real SSH login with hive's key: handshake, then public-key authentication.
pub fn ssh_login(ip: &str, user: &str, key: &Path) -> Result<(), String> {
    ssh_login_via(ip, user, key, None)
}

/// [`ssh_login`], through the host `via` when the guest is on a remote host's bridge.
pub fn ssh_login_via(
    ip: &str,
    user: &str,
    key: &Path,
    via: Option<&crate::ssh::SshTarget>,
) -> Result<(), String> {
    ssh_session(ip, user, key, via).map(|_| ())
}

fn ssh_session(
    ip: &str,
    user: &str,
    key: &Path,
    via: Option<&crate::ssh::SshTarget>,
) -> Result<ssh2::Session, String> {
    let mut session = ssh2::Session::new().map_err(|e| format!("ssh: {e}"))?;
    session.set_timeout(10_000);
    match via {
        None => {
            let addr: SocketAddr = format!("{ip}:22")
                .parse()
                .map_err(|e| format!("bad address: {e}"))?;
            let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
                .map_err(|e| format!("port 22: {e}"))?;
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = tcp.set_write_timeout(Some(Duration::from_secs(10)));
            let _ = tcp.set_nodelay(true);
            session.set_tcp_stream(tcp);
        }
        Some(host) => {
            let stream = crate::ssh_tunnel::connect_via(host, ip, 22)
                .map_err(|e| format!("port 22: {e}"))?;
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
            session.set_tcp_stream(stream);
        }
    }
    session
        .handshake()
        .map_err(|e| format!("port 22 open, SSH handshake failed: {e}"))?;
    session
        .userauth_pubkey_file(user, None, key, None)
        .map_err(|e| format!("SSH server answers, but refused hive's key for {user}: {e}"))?;
    if session.authenticated() {
        Ok(session)
    } else {
        Err(format!("SSH server answers, but {user} is not logged in"))
    }
}

/// Runs a short command over SSH: (exit code, stdout and stderr).
pub fn ssh_run(ip: &str, user: &str, key: &Path, command: &str) -> Result<(i32, String), String> {
    ssh_run_via(ip, user, key, command, None)
}

/// [`ssh_run`], through the host `via` when the guest is on a remote host's bridge.
pub fn ssh_run_via(
    ip: &str,
    user: &str,
    key: &Path,
    command: &str,
    via: Option<&crate::ssh::SshTarget>,
) -> Result<(i32, String), String> {
    use std::io::Read;
    let session = ssh_session(ip, user, key, via)?;
    let mut channel = session
        .channel_session()
        .map_err(|e| format!("ssh: opening a channel: {e}"))?;
    channel
        .exec(command)
        .map_err(|e| format!("ssh: running {command}: {e}"))?;
    let mut out = String::new();
    let _ = channel.read_to_string(&mut out);
    let _ = channel.stderr().read_to_string(&mut out);
    let _ = channel.wait_close();
    let code = channel
        .exit_status()
        .map_err(|e| format!("ssh: {command}: {e}"))?;
    Ok((code, out))
}

/// What `cloud-init status` printed: `Some(Ok)` when done, `Some(Err)` when it failed,
/// `None` while it still runs.
pub fn cloud_init_outcome(code: i32, output: &str) -> Option<Result<(), String>> {
    let status = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("status:"))
        .map(str::trim);
    match status {
        Some("done") => Some(Ok(())),
        Some("error") | Some("degraded") | Some("disabled") => Some(Err(format!(
            "cloud-init reports {}: {}",
            status.unwrap_or_default(),
            output.trim()
        ))),
        _ if code == 127 => Some(Err("the guest has no cloud-init".into())),
        _ => None,
    }
}

/// A MAC address (under the vendor prefix `oui`) that is the same every time for one NIC of
/// one instance of one state, so a create redone after a crash gets the same DHCP
/// reservation.
pub fn stable_mac(oui: &str, lineage: &str, address: &str, index: usize) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{lineage}\0{address}\0{index}").as_bytes());
    format!(
        "{oui}:{:02x}:{:02x}:{:02x}",
        digest[0], digest[1], digest[2]
    )
}

/// Whether something listens on port 22 of `ip` (answering within a second).
pub fn ssh_port_open(ip: &str) -> bool {
    format!("{ip}:22")
        .parse::<SocketAddr>()
        .is_ok_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizing_from_type_and_overrides() {
        let config = Value::map([
            ("type", Value::string("t3.small")),
            ("memory", Value::string("1GiB")),
        ]);
        assert_eq!(sizing(&config), Ok((2, 1024)));
        assert_eq!(sizing(&Value::map::<&str>([])), Ok((1, 512)));
        let bad = Value::map([("type", Value::string("t9.huge"))]);
        let bad = sizing(&bad).unwrap_err();
        assert!(bad.message.contains("t3.micro") && bad.path_text() == "type");
        let small = Value::map([("memory", Value::string("1MiB"))]);
        assert!(sizing(&small)
            .unwrap_err()
            .message
            .contains("at least 64MiB"));
    }

    #[test]
    fn cloud_init_outcomes() {
        assert_eq!(cloud_init_outcome(0, "\nstatus: done\n"), Some(Ok(())));
        assert!(cloud_init_outcome(1, "status: error\n").is_some_and(|r| r.is_err()));
        assert_eq!(cloud_init_outcome(0, "status: running\n"), None);
        assert!(cloud_init_outcome(127, "sh: cloud-init: not found").is_some_and(|r| r.is_err()));
    }

    #[test]
    fn waits_that_need_an_address_need_a_network_block() {
        let with = |wait: &str, network: Value| {
            validate(
                &Value::map([("wait_for", Value::string(wait)), ("network", network)]),
                false,
            )
        };
        let nic = Value::List(vec![Value::map([("bridge", Value::string("br0"))])]);
        assert_eq!(with("ip", nic.clone()), Vec::<Problem>::new());
        assert_eq!(with("ssh", Value::Unknown), Vec::<Problem>::new());
        assert_eq!(with("running", Value::List(vec![])), Vec::<Problem>::new());
        let problems = with("ssh", Value::List(vec![]));
        assert_eq!(problems.len(), 1);
        assert!(problems[0]
            .message
            .contains("wait_for = \"ssh\" needs a network block"));
        assert_eq!(problems[0].path_text(), "wait_for");
        let none = Value::map([("wait_for", Value::string("ip"))]);
        assert_eq!(validate(&none, false).len(), 1);
        let cloud_init = Value::map([("wait_for", Value::string("cloud-init"))]);
        assert_eq!(validate(&cloud_init, true).len(), 1);
        assert!(validate(&cloud_init, false).is_empty());
    }

    #[test]
    fn wait_kinds() {
        assert_eq!(WaitFor::parse(None), Ok(WaitFor::Running));
        assert_eq!(WaitFor::parse(Some("cloud-init")), Ok(WaitFor::CloudInit));
        assert!(WaitFor::parse(Some("soon"))
            .unwrap_err()
            .contains("\"ssh\""));
    }
}
