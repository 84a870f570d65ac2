//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `hive` binary under test.
pub fn hive() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hive"));
    cmd.env_remove("NO_COLOR")
        .env("NO_COLOR", "1")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::var_os("HOME").unwrap_or_default());
    cmd
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("hive runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Compares `actual` with the golden file, or rewrites it when HIVE_BLESS=1.
pub fn assert_golden(path: &Path, actual: &str) {
    if std::env::var_os("HIVE_BLESS").is_some() {
        std::fs::write(path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|_| {
        panic!(
            "no golden file {}; run with HIVE_BLESS=1 to create it. Actual:\n{actual}",
            path.display()
        )
    });
    if expected != actual {
        let diff = similar::TextDiff::from_lines(&expected, actual)
            .unified_diff()
            .header("expected", "actual")
            .to_string();
        panic!(
            "{} differs (HIVE_BLESS=1 to accept):\n{diff}",
            path.display()
        );
    }
}

/// A temporary configuration directory with the given files.
pub fn config_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write file");
    }
    dir
}

/// Subdirectories of a fixture folder, sorted.
pub fn cases(folder: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(fixtures().join(folder))
        .expect("fixture folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

/// One end-to-end test's configuration directory and hive data directory (keys), and the
/// words `write` replaces in a configuration (a name prefix, a subnet, image paths).
pub struct Workdir {
    pub dir: tempfile::TempDir,
    data: tempfile::TempDir,
    words: Vec<(&'static str, String)>,
}

impl Workdir {
    pub fn new(words: Vec<(&'static str, String)>) -> Workdir {
        Workdir {
            dir: tempfile::tempdir().expect("temp dir"),
            data: tempfile::tempdir().expect("temp dir"),
            words,
        }
    }

    /// hive's data directory for this configuration (`HIVE_DATA_DIR`: keys, upload progress).
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    pub fn write(&self, hcl: &str) {
        let mut text = hcl.to_string();
        for (word, value) in &self.words {
            text = text.replace(word, value);
        }
        std::fs::write(self.dir.path().join("main.hive.hcl"), text).expect("write config");
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = hive();
        cmd.arg("-C")
            .arg(self.dir.path())
            .args(args)
            .env("HIVE_DATA_DIR", self.data.path());
        cmd
    }

    pub fn hive(&self, args: &[&str]) -> Run {
        run(&mut self.cmd(args))
    }

    /// Runs hive and insists that it succeeds.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.hive(args);
        assert_eq!(
            r.code, 0,
            "hive {args:?} failed:\n{}\n{}",
            r.stdout, r.stderr
        );
        r
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("hive starts")
    }
}

/// Polls `check` until it holds or the deadline passes.
pub fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// This build's providers.
pub fn registry() -> hive::engine::registry::Registry {
    hive::engine::registry::Registry::standard().unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `command` on every host of an Ansible inventory file with the `raw` module (tiny
/// guests have no Python); what Ansible printed. Insists on success.
#[allow(dead_code)]
pub fn ansible_raw(inventory: &Path, command: &str) -> String {
    ansible_module(inventory, "raw", command)
}

/// Runs an Ansible module on every host of an inventory file; what Ansible printed. Insists
/// on success.
#[allow(dead_code)]
pub fn ansible_module(inventory: &Path, module: &str, args: &str) -> String {
    let temp = inventory.with_file_name(".ansible-tmp");
    let out = Command::new("/opt/hive-test/ansible/bin/ansible")
        .args(["all", "-i"])
        .arg(inventory)
        .args(["-m", module, "-a", args, "--forks", "6"])
        .env("ANSIBLE_LOCAL_TEMP", temp)
        .output()
        .expect("ansible runs (lab/ansible.sh installs it)");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    said
}

/// `ssh -F config host command`: what it printed. Insists on success.
#[allow(dead_code)]
pub fn ssh_with_config(config: &Path, host: &str, command: &str) -> String {
    let out = Command::new("ssh")
        .arg("-F")
        .arg(config)
        .args([host, command])
        .output()
        .expect("ssh runs");
    assert!(
        out.status.success(),
        "ssh -F {} {host}: {}",
        config.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
