//! Running one script: `/bin/sh -c` in its own process group, as the child subreaper of
//! everything it starts (see [`crate::spawn`]), with its output in unlinked files rather
//! than pipes.
//!
//! - The step ends when the shell exits. A background child (`server &`) keeps running and
//!   may keep writing: its output goes to a file nobody waits on, so it is neither waited for
//!   nor killed by a closed pipe.
//! - On timeout or cancellation the whole tree is ended: while the shell lives it is the
//!   subreaper of its descendants, so even one that left the process group with `setsid` is
//!   still below it, and is found through `/proc`.

use crate::spawn::spawn;
use hive_sdk::provider::Cancel;
use std::ffi::OsString;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

/// Output kept per stream; the rest is cut (state files must stay small).
pub const MAX_OUTPUT: usize = 1 << 20;
/// How often a running command is checked for exit, timeout and cancellation: quickly at
/// first (most commands are short), backing off to this.
const MAX_POLL: Duration = Duration::from_millis(50);
/// How long the processes of a command that is ended get after SIGTERM, before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

pub struct Script<'a> {
    pub script: &'a str,
    pub dir: &'a Path,
    pub environment: Vec<(&'a str, &'a str)>,
    pub timeout: Option<Duration>,
}

pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

pub enum Failure {
    /// The shell could not be started, or waited for.
    Start(String),
    TimedOut(Duration),
    Cancelled,
}

pub fn run(script: &Script<'_>, cancel: &Cancel) -> Result<Finished, Failure> {
    let stdout = output_file().map_err(Failure::Start)?;
    let stderr = output_file().map_err(Failure::Start)?;
    let stdin = File::open("/dev/null").map_err(|e| Failure::Start(format!("/dev/null: {e}")))?;
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !script.environment.iter().any(|(name, _)| k == name))
        .collect();
    env.extend(
        script
            .environment
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
    );
    let child = spawn(
        "/bin/sh",
        &["-c", script.script],
        &env,
        script.dir,
        &stdin,
        &stdout,
        &stderr,
    )
    .map_err(|e| {
        Failure::Start(format!(
            "cannot start /bin/sh in {}: {e}",
            script.dir.display()
        ))
    })?;
    let started = Instant::now();
    let mut poll = Duration::from_micros(250);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                end_tree(child.pid as u32);
                child.wait();
                return Err(Failure::Start(format!("waiting for the command: {e}")));
            }
        }
        let timed_out = script.timeout.filter(|t| started.elapsed() >= *t);
        if timed_out.is_some() || cancel.is_cancelled() {
            end_tree(child.pid as u32);
            child.wait();
            return Err(match timed_out {
                Some(t) => Failure::TimedOut(t),
                None => Failure::Cancelled,
            });
        }
        std::thread::sleep(poll);
        poll = (poll * 2).min(MAX_POLL);
    };
    Ok(Finished {
        status,
        stdout: read_output(&stdout),
        stderr: read_output(&stderr),
    })
}

/// A new file for a stream, already unlinked: it lives as long as someone writes to it.
fn output_file() -> Result<File, String> {
    let dir = std::env::temp_dir();
    let id = hive_sdk::random::hex_id(8).map_err(|e| e.to_string())?;
    let path = dir.join(format!("hive-command-{id}"));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("creating an output file in {}: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&path);
    Ok(file)
}

/// The first [`MAX_OUTPUT`] bytes written so far (the shell's own offset is left alone).
fn read_output(file: &File) -> String {
    let mut buf = vec![0u8; MAX_OUTPUT];
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], filled as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    buf.truncate(filled);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Ends the shell `root` and everything below it: SIGTERM first, SIGKILL to what is left
/// after a grace. The shell goes last, so that nothing below it is reparented away meanwhile.
fn end_tree(root: u32) {
    let deadline = Instant::now() + TERM_GRACE;
    signal_tree(root, libc::SIGTERM);
    while Instant::now() < deadline && !descendants(root).is_empty() {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Each round can only find processes still alive: what a killed process started is
    // reparented to the shell and found in the next.
    for _ in 0..100 {
        let below = descendants(root);
        if below.is_empty() {
            break;
        }
        for pid in below {
            // SAFETY: kill with a pid read from /proc and a constant signal.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
    // SAFETY: as above; the group is the shell's own (process_group(0)).
    unsafe {
        libc::killpg(root as libc::pid_t, libc::SIGKILL);
        libc::kill(root as libc::pid_t, libc::SIGKILL);
    }
}

fn signal_tree(root: u32, signal: libc::c_int) {
    for pid in descendants(root) {
        // SAFETY: kill with a pid read from /proc and a constant signal.
        unsafe { libc::kill(pid as libc::pid_t, signal) };
    }
    // SAFETY: as above.
    unsafe { libc::killpg(root as libc::pid_t, signal) };
}

/// The live (not zombie) processes below `root`, from every process's parent in `/proc`.
fn descendants(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `PID (COMM) STATE PPID ...`; COMM may hold spaces and parentheses.
        let Some((_, after)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = after.split_whitespace();
        let state = fields.next().unwrap_or_default();
        let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
        if let (Some(ppid), false) = (ppid, state == "Z" || state == "X") {
            parents.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(pid, ppid)| *ppid == parent && *pid != root)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    found.remove(0);
    found
}
