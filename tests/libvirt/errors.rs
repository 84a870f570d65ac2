//! Bad input on a real libvirt: each a clear error naming the resource, and the state still
//! true (nothing recorded as made that was not).

use crate::lab::{Lab, BASE};
use std::io::{Read, Write};
use std::net::TcpListener;

/// A web server on loopback that answers every request with 404.
fn not_found_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    port
}

fn failing(lab: &Lab, hcl: &str, address: &str, expected: &[&str]) {
    lab.write(hcl);
    let r = lab.hive(&["apply", "-auto-approve"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let said = r.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(said.contains(address), "names {address}: {said}");
    for e in expected {
        assert!(said.contains(e), "says {e:?}: {said}");
    }
    assert!(!said.contains("panicked"), "{said}");
    // The state records no object for the failed resource that is not real.
    let listed = lab.hive(&["state", "list"]).stdout;
    for line in listed.lines().filter(|l| l.starts_with(address)) {
        let shown = lab.hive(&["state", "show", line]).stdout;
        assert!(
            !shown.contains("status = ready") || !shown.contains("id "),
            "{address} recorded as made: {shown}"
        );
    }
}

#[test]
fn bad_images_hosts_and_bridges_fail_clearly() {
    let lab = Lab::new("e2ee", 5);
    let port = not_found_server();
    failing(
        &lab,
        &format!(
            "host \"local\" {{}}\nimage \"gone\" {{\n  host = host.local\n  source = \"http://127.0.0.1:{port}/missing.qcow2\"\n}}\n"
        ),
        "image.gone",
        &["404", &format!("http://127.0.0.1:{port}/missing.qcow2")],
    );

    let file = lab.dir.path().join("disk.raw");
    std::fs::write(&file, vec![0u8; 1 << 16]).expect("write image");
    let wrong = "0".repeat(64);
    failing(
        &lab,
        &format!(
            "host \"local\" {{}}\nimage \"sum\" {{\n  host = host.local\n  source = \"disk.raw\"\n  sha256 = \"{wrong}\"\n}}\n"
        ),
        "image.sum",
        &["sha256 mismatch", &wrong, "expected"],
    );

    let huge = format!(
        "{BASE}\ninstance \"big\" {{\n  driver = \"libvirt\"\n  host = host.local\n  image = image.tiny\n  name = \"PFX-big\"\n  memory = \"4096GiB\"\n}}\n"
    );
    failing(&lab, &huge, "instance.big", &["memory", "more than"]);
    assert!(
        lab.domains().is_empty(),
        "no domain for a guest that cannot fit"
    );

    let nowhere = format!(
        "{BASE}\ninstance \"lost\" {{\n  driver = \"libvirt\"\n  host = host.local\n  image = image.tiny\n  name = \"PFX-lost\"\n  network {{\n    bridge = bridge.nowhere\n  }}\n}}\n"
    );
    // Caught before anything is made, at its place in the file.
    failing(&lab, &nowhere, "bridge.nowhere", &["main.hive.hcl:29"]);
    assert!(lab.domains().is_empty());

    let down = "host \"dead\" {\n  uri = \"qemu+unix:///system?socket=/nonexistent/libvirt-sock\"\n}\nimage \"k\" {\n  host = host.dead\n  format = \"kernel\"\n  kernel = \"TINY/vmlinuz\"\n}\n";
    failing(
        &lab,
        down,
        "image.k",
        &["connecting to libvirt", "is libvirtd running"],
    );

    lab.hive(&["destroy", "-auto-approve"]);
}

/// A guest under kvm that never prints on its console: the error suggests tcg.
#[test]
fn a_silent_kvm_guest_suggests_tcg() {
    let lab = Lab::new("e2ev", 7);
    let hcl = BASE.replace("host \"local\" {}", "host \"local\" {\n  accel = \"kvm\"\n}")
        + "\ninstance \"k\" {\n  driver = \"libvirt\"\n  host = host.local\n  image = image.tiny\n  name = \"PFX-k\"\n  network {\n    bridge = bridge.net\n  }\n  wait_for = \"ip\"\n  wait_timeout = \"20s\"\n}\n";
    lab.write(&hcl);
    let r = lab.hive(&["apply", "-auto-approve"]);
    let said = r.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    if r.code == 0 {
        // This machine's KVM runs the guest after all: nothing to suggest.
        lab.ok(&["destroy", "-auto-approve"]);
        return;
    }
    assert!(said.contains("instance.k"), "{said}");
    assert!(said.contains("accel = \"tcg\""), "{said}");
    lab.ok(&["destroy", "-auto-approve"]);
    lab.assert_clean();
}
