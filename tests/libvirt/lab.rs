//! A test's own corner of the real libvirt: a configuration directory, a name prefix, a
//! subnet, hive's key directory, and `virsh` to look at what really exists.

pub use crate::support::eventually;
use crate::support::Workdir;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};

pub const TINY: &str = "/var/cache/hive-test/tiny/current";

/// One guest-booting test at a time.
static GUESTS: Mutex<()> = Mutex::new(());

pub struct Lab {
    work: Workdir,
    /// Prefix of every libvirt name the test makes (domains, networks, volumes).
    pub prefix: String,
    /// The test's /24: `10.231.N`.
    pub net: String,
    _turn: MutexGuard<'static, ()>,
}

impl Lab {
    pub fn new(prefix: &str, subnet: u8) -> Lab {
        let turn = GUESTS.lock().unwrap_or_else(|e| e.into_inner());
        let ready = Command::new("virsh")
            .args(["-c", "qemu:///system", "version"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ready,
            "libvirtd is not answering at qemu:///system: run `bash lab/setup.sh` (make test does)"
        );
        assert!(
            Path::new(TINY).join("vmlinuz").exists(),
            "no tiny test guest at {TINY}: run `bash lab/setup.sh`"
        );
        let net = format!("10.231.{subnet}");
        let lab = Lab {
            work: Workdir::new(vec![
                ("PFX", prefix.to_string()),
                ("NET", net.clone()),
                ("TINY", TINY.to_string()),
            ]),
            prefix: prefix.to_string(),
            net,
            _turn: turn,
        };
        lab.remove_leftovers();
        lab
    }

    /// Names of this test's domains, as libvirt lists them.
    pub fn domains(&self) -> Vec<String> {
        self.ours(&virsh(&["list", "--all", "--name"]))
    }

    pub fn volumes(&self) -> Vec<String> {
        let listing = virsh(&["vol-list", "hive"]);
        self.ours(&listing)
    }

    pub fn networks(&self) -> Vec<String> {
        self.ours(&virsh(&["net-list", "--all", "--name"]))
    }

    fn ours(&self, listing: &str) -> Vec<String> {
        listing
            .split_whitespace()
            .filter(|w| w.starts_with(&self.prefix) && !w.contains('/'))
            .map(str::to_string)
            .collect()
    }

    pub fn uuid(&self, domain: &str) -> String {
        virsh(&["domuuid", domain]).trim().to_string()
    }

    /// Nothing of this test left in libvirt.
    pub fn assert_clean(&self) {
        assert_eq!(self.domains(), Vec::<String>::new(), "domains left");
        assert_eq!(self.volumes(), Vec::<String>::new(), "volumes left");
        assert_eq!(self.networks(), Vec::<String>::new(), "networks left");
    }

    /// What an earlier, failed run of this test left behind.
    fn remove_leftovers(&self) {
        for d in self.domains() {
            let _ = virsh_status(&["destroy", &d]);
            let _ = virsh_status(&["undefine", &d]);
        }
        for v in self.volumes() {
            let _ = virsh_status(&["vol-delete", "--pool", "hive", &v]);
        }
        for n in self.networks() {
            let _ = virsh_status(&["net-destroy", &n]);
            let _ = virsh_status(&["net-undefine", &n]);
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

pub fn virsh(args: &[&str]) -> String {
    let out = Command::new("virsh")
        .args(["-c", "qemu:///system"])
        .args(args)
        .output()
        .expect("virsh runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn virsh_status(args: &[&str]) -> bool {
    Command::new("virsh")
        .args(["-c", "qemu:///system", "-q"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The tiny guest as an image resource, and a host.
pub const BASE: &str = r#"
host "local" {}

image "tiny" {
  host    = host.local
  format  = "kernel"
  kernel  = "TINY/vmlinuz"
  initrd  = "TINY/initrd.img"
  cmdline = "console=ttyS0 quiet"
}

bridge "net" {
  driver = "libvirt"
  host   = host.local
  name   = "PFX"
  cidr   = "NET.1/24"
  dhcp {
    range = ["NET.100", "NET.200"]
  }
  nat = false
}
"#;

/// A second libvirtd, as a second host has (LAB.md): in a mount namespace of its own, with
/// private `/run/libvirt`, `/var/lib/libvirt` and `/etc/libvirt`, reached through its socket,
/// and hive's pool defined in it at a directory of its own, so its image cache is its own.
pub struct SecondLibvirt {
    dir: tempfile::TempDir,
    pub uri: String,
}

impl SecondLibvirt {
    pub fn start() -> SecondLibvirt {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display().to_string();
        let script = format!(
            "set -e; mkdir -p {d}/run {d}/lib {d}/etc {d}/pool; cp -a /etc/libvirt/. {d}/etc/; \
             rm -f {d}/etc/storage/*.xml {d}/etc/storage/autostart/*.xml {d}/etc/qemu/*.xml \
               {d}/etc/qemu/networks/*.xml {d}/etc/qemu/networks/autostart/*.xml; \
             unshare -m --propagation private sh -c 'mount --bind {d}/run /run/libvirt && \
               mount --bind {d}/lib /var/lib/libvirt && mount --bind {d}/etc /etc/libvirt && \
               /usr/sbin/virtlogd -d -p {d}/virtlogd.pid && /usr/sbin/libvirtd -d --pid-file {d}/libvirtd.pid'"
        );
        let started = Command::new("sh")
            .args(["-c", &script])
            .status()
            .expect("sh runs");
        assert!(started.success(), "starting a second libvirtd");
        let uri = format!("qemu:///system?socket={d}/run/libvirt-sock");
        eventually(
            "the second libvirtd answers",
            std::time::Duration::from_secs(30),
            || virsh_at(&uri, &["version"]).is_some(),
        );
        let pool = format!("{d}/pool");
        for args in [
            vec!["pool-define-as", "hive", "dir", "--target", pool.as_str()],
            vec!["pool-start", "hive"],
        ] {
            assert!(virsh_at(&uri, &args).is_some(), "virsh {args:?} on {uri}");
        }
        SecondLibvirt { dir, uri }
    }

    /// The files of its image cache.
    pub fn cached(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.path().join("pool"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for SecondLibvirt {
    fn drop(&mut self) {
        for daemon in ["libvirtd", "virtlogd"] {
            let pid = self.dir.path().join(format!("{daemon}.pid"));
            if let Ok(pid) = std::fs::read_to_string(pid) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
    }
}

/// `virsh -c URI ARGS`: its output, or `None` when it fails.
pub fn virsh_at(uri: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("virsh")
        .args(["-c", uri])
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
