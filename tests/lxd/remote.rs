//! A remote daemon over HTTPS: the local LXD listening on loopback, hive presenting a client
//! certificate the daemon trusts and pinning the daemon's own; the image is uploaded and the
//! container made through it, on a network of that daemon. A wrong pin is refused.

use crate::lab::{fingerprint, forget_image, images, lxc, lxc_status, Lab, IMAGES};
use std::process::Command;

const REMOTE: &str = r##"
host "remote" {
  lxd {
    endpoint    = "https://127.0.0.1:PORT"
    client_cert = "CERT"
    client_key  = "KEY"
    server_cert = "SERVER"
  }
}

image "far_busybox" {
  format = "lxd"
  host   = host.remote
  source = "IMAGES/busybox.tar.gz"
}

instance "far" {
  driver = "lxd"
  host   = host.remote
  image  = image.far_busybox
  name   = "PFX-far"
  network {
    bridge = "hivelxd0"
  }
  wait_for = "ip"
}
"##;

/// Undoes the daemon's HTTPS listener and trust, whatever happens.
struct Listening {
    before: String,
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = lxc_status(&["config", "trust", "remove", "hive-e2e"]);
        let _ = lxc_status(&["config", "set", "core.https_address", &self.before]);
    }
}

#[test]
fn a_remote_daemon_over_https_with_certificates() {
    let lab = Lab::new("e2er", 6);
    let port = "18443";
    let _listening = Listening {
        before: lxc(&["config", "get", "core.https_address"])
            .trim()
            .to_string(),
    };
    assert!(lxc_status(&[
        "config",
        "set",
        "core.https_address",
        &format!("127.0.0.1:{port}")
    ]));
    let dir = lab.dir.path();
    let (cert, key) = (dir.join("client.crt"), dir.join("client.key"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=hive-e2e"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let _ = lxc_status(&["config", "trust", "remove", "hive-e2e"]);
    assert!(lxc_status(&[
        "config",
        "trust",
        "add",
        &cert.display().to_string(),
        "--name",
        "hive-e2e"
    ]));
    let server = "/var/lib/lxd/server.crt";
    let config = |pin: &str| {
        REMOTE
            .replace("PORT", port)
            .replace("CERT", &cert.display().to_string())
            .replace("KEY", &key.display().to_string())
            .replace("SERVER", pin)
    };

    // Pinned to the wrong certificate (the client's own): refused before anything is made.
    lab.write(&config(&cert.display().to_string()));
    let refused = lab.hive(&["plan"]);
    assert_ne!(refused.code, 0);
    let all = format!("{}{}", refused.stdout, refused.stderr);
    assert!(all.contains("pinned"), "{all}");

    // The image goes over TLS too: make the daemon forget it first.
    let busybox = fingerprint(&[&format!("{IMAGES}/busybox.tar.gz")]);
    forget_image(&busybox);
    lab.write(&config(server));
    lab.ok(&["apply", "-auto-approve"]);
    assert!(
        images().contains(&busybox),
        "the image was not imported over HTTPS"
    );
    let far = lab.instances();
    assert_eq!(far.len(), 1);
    assert_eq!(far[0]["status"], "Running");
    assert_eq!(lab.hive(&["plan", "-detailed-exitcode"]).code, 0);
    lab.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
}
