//! Images fetched over HTTP, verified, cached once by content, with progress; volumes as
//! copy-on-write overlays that grow in place.

use crate::lab::{virsh, Lab};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Serves one file on loopback, slowly enough (1 MiB per 300 ms) that a download takes a
/// few seconds and reports progress; counts the requests.
fn serve(body: Vec<u8>) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            for chunk in body.chunks(1 << 20) {
                if stream.write_all(chunk).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    });
    (port, hits)
}

fn qemu_img_info(path: &str) -> serde_json::Value {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json", "-U", path])
        .output()
        .expect("qemu-img runs");
    serde_json::from_slice(&out.stdout).expect("qemu-img info is JSON")
}

#[test]
fn an_http_image_is_verified_cached_once_and_overlaid_by_volumes_that_grow() {
    let lab = Lab::new("e2eh", 8);
    // A qcow2 image with 8 MiB of data in it, so it downloads for a few seconds.
    let source = lab.dir.path().join("src.qcow2");
    let raw = lab.dir.path().join("src.raw");
    let mut data = vec![0u8; 8 << 20];
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i * 7 % 251) as u8;
    }
    std::fs::write(&raw, &data).expect("write raw");
    let converted = Command::new("qemu-img")
        .args(["convert", "-q", "-f", "raw", "-O", "qcow2"])
        .arg(&raw)
        .arg(&source)
        .status()
        .expect("qemu-img");
    assert!(converted.success());
    let body = std::fs::read(&source).expect("read qcow2");
    let sum = {
        use sha2::Digest;
        sha2::Sha256::digest(&body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let (port, hits) = serve(body);
    let image = |name: &str| {
        format!(
            "image \"{name}\" {{\n  host   = host.local\n  source = \"http://127.0.0.1:{port}/disk.qcow2\"\n  sha256 = \"{sum}\"\n}}\n"
        )
    };
    let volume = |size: &str| {
        format!("volume \"v\" {{\n  host  = host.local\n  image = image.disk\n  size  = \"{size}\"\n}}\n")
    };
    let host = "host \"local\" {}\n";

    lab.write(&format!("{host}{}{}", image("disk"), volume("64MiB")));
    let applied = lab.ok(&["apply", "-auto-approve"]);
    assert!(
        applied
            .stdout
            .contains("image.disk: fetching http://127.0.0.1"),
        "progress is shown: {}",
        applied.stdout
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let shown = lab.ok(&["state", "show", "volume.v"]).stdout;
    let path = shown
        .split('"')
        .find(|s| s.starts_with('/') && s.ends_with(".qcow2"))
        .expect("the volume's path")
        .to_string();
    let info = qemu_img_info(&path);
    assert_eq!(info["virtual-size"], 64 << 20);
    assert!(
        info["backing-filename"]
            .as_str()
            .is_some_and(|b| b.contains(&sum)),
        "an overlay of the cached image: {info}"
    );
    assert_eq!(info["format-specific"]["data"]["compat"], "1.1");

    // A second image of the same content: cached already, not fetched again.
    lab.write(&format!(
        "{host}{}{}{}",
        image("disk"),
        image("same"),
        volume("64MiB")
    ));
    lab.ok(&["apply", "-auto-approve"]);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "served once in all");

    // Growing the volume: in place, same file.
    lab.write(&format!(
        "{host}{}{}{}",
        image("disk"),
        image("same"),
        volume("256MiB")
    ));
    let plan = lab.ok(&["plan"]).stdout;
    assert!(plan.contains("volume.v will be updated in place"), "{plan}");
    lab.ok(&["apply", "-auto-approve"]);
    assert_eq!(qemu_img_info(&path)["virtual-size"], 256 << 20);

    // Shrinking cannot be done in place.
    lab.write(&format!(
        "{host}{}{}{}",
        image("disk"),
        image("same"),
        volume("128MiB")
    ));
    let plan = lab.ok(&["plan"]).stdout;
    assert!(plan.contains("volume.v must be replaced"), "{plan}");
    assert!(plan.contains("size cannot change in place"), "{plan}");

    lab.ok(&["destroy", "-auto-approve"]);
    assert!(!virsh(&["vol-list", "hive"]).contains(&path));
    assert!(
        !virsh(&["vol-list", "hive"]).contains(&sum),
        "the unused cache entry is gone"
    );
}

/// Many volumes made at once on one pool: libvirt refuses a pool operation while another
/// runs, so hive must take turns itself.
#[test]
fn volumes_made_in_parallel_all_succeed() {
    let lab = Lab::new("e2ep", 10);
    lab.write(
        r#"
host "local" {}

volume "e2ep" {
  count = 8
  host  = host.local
  size  = "32MiB"
}
"#,
    );
    let applied = lab.ok(&["apply", "-auto-approve", "-parallelism", "8"]);
    assert!(
        !applied.stderr.contains("asynchronous jobs"),
        "{}",
        applied.stderr
    );
    let listed = lab.ok(&["state", "list"]).stdout;
    assert_eq!(
        listed
            .lines()
            .filter(|l| l.starts_with("volume.e2ep["))
            .count(),
        8
    );
    // Named after their addresses, so the lab finds them by its prefix.
    assert_eq!(lab.volumes().len(), 8, "{:?}", lab.volumes());
    lab.ok(&["destroy", "-auto-approve"]);
    assert!(lab.volumes().is_empty(), "{:?}", lab.volumes());
}
