//! Remote hosts over SSH (the `ssh2` crate): a host's connection settings, its host key
//! checked against known_hosts or a pinned key (never accepted silently), and [`SshExec`],
//! the [`Exec`] that runs programs there.

use crate::exec::{Exec, ExecOutput};
use crate::Value;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// How long connecting, and then each call, may take: an unreachable host never hangs hive.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Where and how to log into a remote host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SshTarget {
    /// The host's name in hive (`host "NAME"`), for messages.
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    /// A private key file; none: the SSH agent.
    pub key: Option<PathBuf>,
    pub known_hosts: PathBuf,
    /// A pinned host key (`SHA256:...` fingerprint, or `TYPE BASE64` as in known_hosts),
    /// which wins over known_hosts.
    pub host_key: Option<String>,
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from)
}

/// `~/x` as the user means it.
pub fn expand_home(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home().join(rest),
        None => PathBuf::from(path),
    }
}

impl SshTarget {
    /// The SSH settings of a host's record (`address`, `user`, `port`, `ssh_key`,
    /// `known_hosts`, `host_key`); `None` for a local host (no address).
    pub fn of_host(host: &Value) -> Option<SshTarget> {
        let address = host.attr_str("address")?.to_string();
        let port = host
            .attr("port")
            .and_then(Value::as_number)
            .filter(|p| (1.0..=65535.0).contains(p) && p.fract() == 0.0)
            .map_or(22, |p| p as u16);
        Some(SshTarget {
            name: host
                .attr_str("name")
                .or_else(|| host.attr_str("id"))
                .unwrap_or(&address)
                .to_string(),
            port,
            user: host.attr_str("user").unwrap_or("root").to_string(),
            key: host.attr_str("ssh_key").map(expand_home),
            known_hosts: host
                .attr_str("known_hosts")
                .map_or_else(|| home().join(".ssh/known_hosts"), expand_home),
            host_key: host.attr_str("host_key").map(str::to_string),
            address,
        })
    }

    /// `user@address:port`, for messages.
    pub fn describe(&self) -> String {
        format!("{}@{}:{}", self.user, self.address, self.port)
    }

    /// A logged-in session: connected within [`CONNECT_TIMEOUT`], the host key checked, then
    /// authenticated with the key file or the agent.
    pub fn connect(&self) -> Result<ssh2::Session, String> {
        let at = self.describe();
        let addr = (self.address.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("{at}: resolving the address: {e}"))?
            .next()
            .ok_or_else(|| format!("{at}: the address resolves to nothing"))?;
        let tcp = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|e| {
            format!(
                "{at}: connecting: {e} (within {} s)",
                CONNECT_TIMEOUT.as_secs()
            )
        })?;
        let _ = tcp.set_read_timeout(Some(CALL_TIMEOUT));
        let _ = tcp.set_write_timeout(Some(CALL_TIMEOUT));
        // A call is a few small messages each way: without this, delayed ACKs add ~40 ms to
        // each of them.
        let _ = tcp.set_nodelay(true);
        let mut session = ssh2::Session::new().map_err(|e| format!("{at}: ssh: {e}"))?;
        session.set_timeout(CONNECT_TIMEOUT.as_millis() as u32);
        session.set_tcp_stream(tcp);
        session
            .handshake()
            .map_err(|e| format!("{at}: the SSH handshake failed: {e}"))?;
        self.check_host_key(&session)?;
        match &self.key {
            Some(key) => session
                .userauth_pubkey_file(&self.user, None, key, None)
                .map_err(|e| format!("{at}: the server refused the key {}: {e}", key.display()))?,
            None => session.userauth_agent(&self.user).map_err(|e| {
                format!("{at}: no key given (ssh_key) and the SSH agent's keys were refused: {e}")
            })?,
        }
        if !session.authenticated() {
            return Err(format!("{at}: not logged in"));
        }
        session.set_timeout(CALL_TIMEOUT.as_millis() as u32);
        Ok(session)
    }

    /// The host key the server showed, against the pinned one or known_hosts: unknown or
    /// changed is an error that shows the fingerprints.
    fn check_host_key(&self, session: &ssh2::Session) -> Result<(), String> {
        let at = self.describe();
        let (key, kind) = session
            .host_key()
            .ok_or_else(|| format!("{at}: the server showed no host key"))?;
        let shown = fingerprint(key);
        if let Some(pinned) = &self.host_key {
            let wanted = pinned_fingerprint(pinned)
                .ok_or_else(|| format!("host {}: host_key = {pinned:?} is neither a SHA256:... fingerprint nor a TYPE BASE64 public key", self.name))?;
            return if wanted == shown {
                Ok(())
            } else {
                Err(format!(
                    "{at}: the host key is not the pinned one: pinned {wanted}, shown {shown}; if the host was rebuilt, pin the new key"
                ))
            };
        }
        let mut known = session
            .known_hosts()
            .map_err(|e| format!("{at}: known hosts: {e}"))?;
        if self.known_hosts.exists() {
            known
                .read_file(&self.known_hosts, ssh2::KnownHostFileKind::OpenSSH)
                .map_err(|e| format!("reading {}: {e}", self.known_hosts.display()))?;
        }
        let file = self.known_hosts.display();
        match known.check_port(&self.address, self.port, key) {
            ssh2::CheckResult::Match => Ok(()),
            ssh2::CheckResult::Mismatch => {
                let recorded = recorded_fingerprints(&known, &self.address, self.port);
                Err(format!(
                    "{at}: the host key changed: {file} has {}, the server shows {shown} ({kind:?}); if the host was rebuilt, remove its line (ssh-keygen -R {}) and check the new key",
                    if recorded.is_empty() { "another key".to_string() } else { recorded.join(", ") },
                    self.address
                ))
            }
            ssh2::CheckResult::NotFound => Err(format!(
                "{at}: unknown host key {shown} ({kind:?}): it is not in {file}; check it, then add it (ssh-keyscan -p {} {} >> {file}) or pin it (host_key = \"{shown}\")",
                self.port, self.address
            )),
            ssh2::CheckResult::Failure => Err(format!("{at}: checking the host key against {file} failed")),
        }
    }
}

/// A key's fingerprint as OpenSSH prints it: `SHA256:` and unpadded base64.
pub fn fingerprint(key: &[u8]) -> String {
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(key))
    )
}

/// The fingerprint a pinned `host_key` names.
fn pinned_fingerprint(pinned: &str) -> Option<String> {
    let pinned = pinned.trim();
    if pinned.starts_with("SHA256:") {
        return Some(pinned.to_string());
    }
    let blob = pinned.split_whitespace().nth(1)?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .ok()?;
    Some(fingerprint(&key))
}

/// The fingerprints known_hosts records for a host (plain entries; hashed ones cannot be
/// told apart without the key).
fn recorded_fingerprints(known: &ssh2::KnownHosts, address: &str, port: u16) -> Vec<String> {
    let names = [address.to_string(), format!("[{address}]:{port}")];
    known
        .iter()
        .unwrap_or_default()
        .iter()
        .filter(|h| {
            h.name()
                .is_some_and(|n| n.split(',').any(|n| names.iter().any(|w| w == n)))
        })
        .filter_map(|h| {
            base64::engine::general_purpose::STANDARD
                .decode(h.key())
                .ok()
                .map(|k| fingerprint(&k))
        })
        .collect()
}

/// Single quotes for a POSIX shell: the remote side runs the command through the login
/// user's shell, so each argument is quoted to arrive whole.
pub fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        return arg.to_string();
    }
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// Programs run on a remote host over one SSH session, opened at first use and again after
/// it breaks. A host that could not be reached stays unreachable for this `SshExec`'s life
/// (one command): every later call fails at once with the same error, instead of waiting
/// out the connect timeout again.
pub struct SshExec {
    pub target: SshTarget,
    session: Mutex<Session>,
}

enum Session {
    NotYet,
    Open(ssh2::Session),
    Unreachable(String),
}

impl SshExec {
    pub fn new(target: SshTarget) -> SshExec {
        SshExec {
            target,
            session: Mutex::new(Session::NotYet),
        }
    }

    /// Runs one command. `Ok(Err(_))`: it started and then failed (never to be run again:
    /// it may have done its work); `Err(_)`: it never started (safe to try again).
    fn run_once(
        &self,
        session: &ssh2::Session,
        command: &str,
        stdin: Option<&str>,
    ) -> Result<Result<ExecOutput, String>, String> {
        let at = self.target.describe();
        let mut channel = session
            .channel_session()
            .map_err(|e| format!("{at}: opening a channel: {e}"))?;
        channel
            .exec(command)
            .map_err(|e| format!("{at}: running {command}: {e}"))?;
        let mut started = || -> Result<ExecOutput, String> {
            if let Some(text) = stdin {
                channel
                    .write_all(text.as_bytes())
                    .map_err(|e| format!("{at}: writing to {command}: {e}"))?;
            }
            let _ = channel.send_eof();
            let mut stdout = Vec::new();
            channel
                .read_to_end(&mut stdout)
                .map_err(|e| format!("{at}: reading from {command}: {e}"))?;
            let mut stderr = Vec::new();
            let _ = channel.stderr().read_to_end(&mut stderr);
            let _ = channel.wait_close();
            let status = channel
                .exit_status()
                .map_err(|e| format!("{at}: {command}: {e}"))?;
            Ok(ExecOutput {
                status,
                stdout: String::from_utf8_lossy(&stdout).into_owned(),
                stderr: String::from_utf8_lossy(&stderr).into_owned(),
            })
        };
        Ok(started())
    }

    /// Runs a command that may take longer than [`CALL_TIMEOUT`]: the session waits up to
    /// `within` for it (no limit when `None`, for a command bounded on the host itself).
    pub fn run_within(
        &self,
        argv: &[&str],
        stdin: Option<&str>,
        within: Option<Duration>,
    ) -> Result<ExecOutput, String> {
        let command = remote_command(argv)?;
        self.on_session(|session| {
            session.set_timeout(within.map_or(0, |w| w.as_millis().min(u32::MAX as u128) as u32));
            let out = self.run_once(session, &command, stdin);
            session.set_timeout(CALL_TIMEOUT.as_millis() as u32);
            out
        })?
    }
}

/// Sessions to remote hosts kept for the steps that follow: a step takes an idle one (or
/// opens one), so steps one after another skip the SSH handshake, and steps at once still
/// each have their own. A session that failed is not kept.
#[derive(Default)]
pub struct SshPool {
    idle: Mutex<std::collections::HashMap<SshTarget, Vec<SshExec>>>,
}

impl SshPool {
    /// [`SshExec::run_within`] on a session of the pool.
    pub fn run_within(
        &self,
        target: &SshTarget,
        argv: &[&str],
        stdin: Option<&str>,
        within: Option<Duration>,
    ) -> Result<ExecOutput, String> {
        let taken = self
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(target)
            .and_then(Vec::pop);
        let exec = taken.unwrap_or_else(|| SshExec::new(target.clone()));
        let out = exec.run_within(argv, stdin, within);
        if out.is_ok() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(target.clone())
                .or_default()
                .push(exec);
        }
        out
    }
}

fn remote_command(argv: &[&str]) -> Result<String, String> {
    if argv.is_empty() {
        return Err("nothing to run".into());
    }
    Ok(argv
        .iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" "))
}

impl SshExec {
    /// Runs `work` on the host's session, opening it first if need be. A session that broke
    /// since its last use (the host restarted sshd) is opened again, once, and `work`
    /// retried: what it does must be safe to do twice.
    pub fn on_session<T>(
        &self,
        mut work: impl FnMut(&ssh2::Session) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut slot = self
            .session
            .lock()
            .map_err(|_| "the SSH session broke".to_string())?;
        for attempt in 0..2 {
            if let Session::Unreachable(e) = &*slot {
                return Err(e.clone());
            }
            if matches!(*slot, Session::NotYet) {
                match self.target.connect() {
                    Ok(session) => *slot = Session::Open(session),
                    Err(e) => {
                        *slot = Session::Unreachable(e.clone());
                        return Err(e);
                    }
                }
            }
            let Session::Open(session) = &*slot else {
                continue;
            };
            match work(session) {
                Ok(out) => return Ok(out),
                Err(_) if attempt == 0 => *slot = Session::NotYet,
                Err(e) => return Err(e),
            }
        }
        Err(format!("{}: no SSH session", self.target.describe()))
    }

    /// A known_hosts file holding only the host key hive checked (against the user's
    /// known_hosts or the pinned key), for the programs hive hands this host to: libvirt's
    /// SSH transport and the ssh client's jump check the host again, against what the user
    /// approved. Kept in hive's data directory, one file per host and port.
    pub fn checked_known_hosts(&self) -> Result<PathBuf, String> {
        let line = self.on_session(|session| {
            let (key, kind) = session.host_key().ok_or_else(|| {
                format!("{}: the server showed no host key", self.target.describe())
            })?;
            Ok(known_hosts_line(
                &self.target.address,
                self.target.port,
                kind,
                key,
            ))
        })?;
        let dir = crate::identity::data_dir().join("known_hosts");
        let path = dir.join(format!(
            "{}_{}",
            self.target.address.replace(['/', ':'], "_"),
            self.target.port
        ));
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let temp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&temp, format!("{line}\n"))?;
            std::fs::rename(&temp, &path)
        };
        write().map_err(|e| format!("writing {}: {e}", path.display()))?;
        Ok(path)
    }
}

impl SshExec {
    /// How `hive ssh` goes through this host to a guest on one of its bridges.
    pub fn jump(&self) -> Result<crate::provider::Jump, String> {
        Ok(crate::provider::Jump {
            user: self.target.user.clone(),
            address: self.target.address.clone(),
            port: self.target.port,
            key: self.target.key.clone(),
            known_hosts: self.checked_known_hosts()?,
        })
    }
}

/// A known_hosts line: `ADDRESS TYPE BASE64`, `[ADDRESS]:PORT ...` off port 22.
fn known_hosts_line(address: &str, port: u16, kind: ssh2::HostKeyType, key: &[u8]) -> String {
    let name = if port == 22 {
        address.to_string()
    } else {
        format!("[{address}]:{port}")
    };
    let kind = match kind {
        ssh2::HostKeyType::Rsa => "ssh-rsa",
        ssh2::HostKeyType::Dss => "ssh-dss",
        ssh2::HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        ssh2::HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        ssh2::HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        ssh2::HostKeyType::Ed25519 => "ssh-ed25519",
        ssh2::HostKeyType::Unknown => "unknown",
    };
    format!(
        "{name} {kind} {}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

impl Exec for SshExec {
    fn run(&self, argv: &[&str], stdin: Option<&str>) -> Result<ExecOutput, String> {
        let command = remote_command(argv)?;
        self.on_session(|session| self.run_once(session, &command, stdin))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_arguments_for_the_remote_shell() {
        assert_eq!(shell_quote("ip"), "ip");
        assert_eq!(shell_quote("10.0.0.1/24"), "10.0.0.1/24");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(reboot)"), "'$(reboot)'");
    }

    #[test]
    fn fingerprints_as_openssh_prints_them() {
        // ssh-keygen -lf of this ed25519 public key prints this fingerprint.
        let line =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNtqJdlWlVcPerIpKneEC91Io6Z7wBv0sdW/48h6t3h";
        let from_line = pinned_fingerprint(line).expect("a key line");
        assert_eq!(
            from_line,
            "SHA256:53e7xsPl2HFVittpY8oB8EOsDQowIRWIgYLfS8TLQ4o"
        );
        assert_eq!(pinned_fingerprint(&from_line), Some(from_line.clone()));
        assert_eq!(pinned_fingerprint("nonsense"), None);
    }

    #[test]
    fn an_unreachable_host_is_remembered_for_the_exec_s_life() {
        // A server that hangs up at once: the handshake fails. Then nothing listens, so a
        // second attempt would be refused, with another message.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let hang_up = std::thread::spawn(move || drop(listener.accept()));
        let exec = SshExec::new(SshTarget {
            name: "t".into(),
            address: "127.0.0.1".into(),
            port,
            user: "root".into(),
            key: None,
            known_hosts: PathBuf::from("/nonexistent/known_hosts"),
            host_key: None,
        });
        let first = exec.run(&["true"], None).expect_err("no SSH there");
        hang_up.join().expect("joined");
        let second = exec.run(&["true"], None).expect_err("still none");
        assert!(first.contains("handshake"), "{first}");
        assert_eq!(first, second);
    }

    #[test]
    fn a_host_without_an_address_is_local() {
        assert_eq!(
            SshTarget::of_host(&Value::map([("id", Value::string("local"))])),
            None
        );
        let remote = SshTarget::of_host(&Value::map([
            ("address", Value::string("10.0.0.5")),
            ("port", Value::Number(2222.0)),
            ("ssh_key", Value::string("~/.ssh/id")),
        ]))
        .expect("remote");
        assert_eq!((remote.port, remote.user.as_str()), (2222, "root"));
        assert!(remote
            .key
            .is_some_and(|k| k.ends_with(".ssh/id") && k.is_absolute()));
    }
}
