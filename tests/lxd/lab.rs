//! A test's own corner of the real LXD: a configuration directory, a name prefix, a subnet,
//! hive's key directory, and `lxc` to look at what really exists.

pub use crate::support::eventually;
use crate::support::Workdir;
use serde_json::Value as Json;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};

pub const IMAGES: &str = "/var/cache/hive-test/lxd/current";

/// One test at a time: they share the daemon and its images.
static DAEMON: Mutex<()> = Mutex::new(());

pub struct Lab {
    work: Workdir,
    /// Prefix of every LXD name the test makes (instances, volumes, bridges).
    pub prefix: String,
    /// The test's /24: `10.233.N`.
    pub net: String,
    _turn: MutexGuard<'static, ()>,
}

impl Lab {
    pub fn new(prefix: &str, subnet: u8) -> Lab {
        let turn = DAEMON.lock().unwrap_or_else(|e| e.into_inner());
        let ready = Command::new("lxc")
            .args(["query", "/1.0"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ready,
            "LXD is not answering: run `bash lab/setup.sh` (make test does)"
        );
        assert!(
            Path::new(IMAGES).join("busybox.tar.gz").exists(),
            "no LXD test images at {IMAGES}: run `bash lab/setup.sh`"
        );
        let net = format!("10.233.{subnet}");
        let lab = Lab {
            work: Workdir::new(vec![
                ("PFX", prefix.to_string()),
                ("NET", net.clone()),
                ("IMAGES", IMAGES.to_string()),
            ]),
            prefix: prefix.to_string(),
            net,
            _turn: turn,
        };
        lab.remove_leftovers();
        lab
    }

    /// This test's instances, as LXD lists them.
    pub fn instances(&self) -> Vec<Json> {
        let listing: Json =
            serde_json::from_str(&lxc(&["list", "--format", "json"])).expect("lxc list gives JSON");
        let mut ours: Vec<Json> = listing
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|i| {
                i["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(&self.prefix))
            })
            .collect();
        ours.sort_by_key(|i| i["name"].as_str().unwrap_or_default().to_string());
        ours
    }

    pub fn names(&self) -> Vec<String> {
        self.instances()
            .iter()
            .filter_map(|i| i["name"].as_str().map(str::to_string))
            .collect()
    }

    /// This test's custom volumes in the default pool.
    pub fn volumes(&self) -> Vec<String> {
        let listing: Json = serde_json::from_str(&lxc(&[
            "storage", "volume", "list", "default", "--format", "json",
        ]))
        .expect("lxc storage volume list gives JSON");
        listing
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|v| v["type"] == "custom")
            .filter_map(|v| v["name"].as_str().map(str::to_string))
            .filter(|n| n.starts_with(&self.prefix))
            .collect()
    }

    /// Nothing of this test left in LXD, nor its bridge.
    pub fn assert_clean(&self) {
        assert_eq!(self.names(), Vec::<String>::new(), "instances left");
        assert_eq!(self.volumes(), Vec::<String>::new(), "volumes left");
        let bridge = format!("/sys/class/net/{}-br", self.prefix);
        assert!(!Path::new(&bridge).exists(), "bridge left: {bridge}");
    }

    /// What an earlier, failed run of this test left behind.
    fn remove_leftovers(&self) {
        for name in self.names() {
            let _ = lxc_status(&["delete", "--force", &name]);
        }
        for v in self.volumes() {
            let _ = lxc_status(&["storage", "volume", "delete", "default", &v]);
        }
        // The test's Linux bridge, with its dnsmasq, when a destroy could not run.
        let bridge = format!("{}-br", self.prefix);
        if Path::new("/sys/class/net").join(&bridge).exists() {
            let conf = format!("bridges/{bridge}/dnsmasq.conf");
            let _ = Command::new("pkill").args(["-f", &conf]).status();
            let _ = Command::new("ip").args(["link", "del", &bridge]).status();
            let _ = std::fs::remove_dir_all(format!("/var/lib/hive/bridges/{bridge}"));
        }
    }
}

impl std::ops::Deref for Lab {
    type Target = Workdir;
    fn deref(&self) -> &Workdir {
        &self.work
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.hive(&["destroy", "-auto-approve"]);
        }
        self.remove_leftovers();
    }
}

/// Everything hive printed, without whitespace or the frame of its error boxes: messages
/// wrap wherever the terminal width says.
pub fn both(r: &crate::support::Run) -> String {
    format!("{}{}", r.stdout, r.stderr)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect()
}

/// Whether `all` (from [`both`]) says `text`.
pub fn says(all: &str, text: &str) -> bool {
    all.contains(&text.replace(' ', ""))
}

pub fn lxc(args: &[&str]) -> String {
    let out = Command::new("lxc").args(args).output().expect("lxc runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn lxc_status(args: &[&str]) -> bool {
    Command::new("lxc")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A configuration key of an instance (`volatile.uuid`), as LXD has it.
pub fn config_key(instance: &str, key: &str) -> String {
    lxc(&["config", "get", instance, key]).trim().to_string()
}

/// Runs a command in an instance: (exit code, stdout).
pub fn exec(instance: &str, command: &[&str]) -> (i32, String) {
    let out = Command::new("lxc")
        .args(["exec", instance, "--"])
        .args(command)
        .output()
        .expect("lxc runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The IPv4 addresses LXD sees in an instance.
pub fn ipv4(instance: &Json) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(nics) = instance["state"]["network"].as_object() {
        for (name, nic) in nics {
            if name == "lo" {
                continue;
            }
            for a in nic["addresses"].as_array().cloned().unwrap_or_default() {
                if a["family"] == "inet" {
                    out.push(a["address"].as_str().unwrap_or_default().to_string());
                }
            }
        }
    }
    out
}

/// The memory limit the kernel enforces on a running container (cgroup v1 or v2), read
/// through the daemon's own root: in a chroot check LXD runs outside the chroot, whose `/sys`
/// has no cgroups.
pub fn kernel_memory_limit(instance: &str) -> String {
    let server: Json = serde_json::from_str(&lxc(&["query", "/1.0"])).expect("JSON");
    let pid = server["environment"]["server_pid"]
        .as_u64()
        .unwrap_or_default();
    let cgroups = format!("/proc/{pid}/root/sys/fs/cgroup");
    [
        format!("{cgroups}/memory/lxc.payload.{instance}/memory.limit_in_bytes"),
        format!("{cgroups}/lxc.payload.{instance}/memory.max"),
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .unwrap_or_default()
    .trim()
    .to_string()
}

/// The fingerprints of the images the daemon has.
pub fn images() -> Vec<String> {
    let listing: Json =
        serde_json::from_str(&lxc(&["image", "list", "--format", "json"])).expect("JSON");
    listing
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i["fingerprint"].as_str().map(str::to_string))
        .collect()
}

/// SHA-256 of files one after the other, as LXD fingerprints images.
pub fn fingerprint(files: &[&str]) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("cat {} | sha256sum", files.join(" ")))
        .output()
        .expect("sha256sum runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Removes an image from the daemon if no instance uses it, so a test sees hive import it.
pub fn forget_image(fingerprint: &str) {
    let _ = lxc_status(&["image", "delete", fingerprint]);
}

/// A host, a hive Linux bridge with DHCP, and the busybox image.
pub const BASE: &str = r#"
host "local" {}

bridge "lan" {
  host = host.local
  name = "PFX-br"
  cidr = "NET.1/24"
  dhcp {
    range = ["NET.100", "NET.200"]
  }
}

image "busybox" {
  format = "lxd"
  host   = host.local
  source = "IMAGES/busybox.tar.gz"
}
"#;
