//! Volume snapshots into the lab's SeaweedFS on loopback: a disk image (1 GiB;
//! `HIVE_BENCH_MIB` changes it) snapshotted whole, then again after 50 MiB changed in one
//! place and after 50 scattered 1 MiB writes (fixed 4 MiB chunks); and a tar-like stream
//! snapshotted again after 1 KiB was inserted at its front (content-defined chunks against
//! fixed ones). Bytes sent are hive's count and the growth of the chunks on the server;
//! against what a user would do instead, `aws s3 cp` of the whole image after each change.
//!
//! Run with `cargo bench --bench s3_snapshot` (it installs the AWS CLI into a venv).

#[path = "support/mod.rs"]
mod support;

use hive_s3::chunks::Chunking;
use hive_s3::store::{tags, Store};
use hive_sdk::Value;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{aws, bench_mib, s3_lab, s3_server, S3_KEY, S3_SECRET};

const MIB: u64 = 1 << 20;

fn random_file(path: &Path, mib: u64) {
    let made = Command::new("head")
        .args(["-c", &format!("{}", mib * MIB), "/dev/urandom"])
        .stdout(std::fs::File::create(path).expect("create"))
        .status()
        .expect("head");
    assert!(made.success());
}

/// Overwrites `len` bytes at `offset` with fresh random bytes.
fn scribble(path: &Path, offset: u64, len: u64) {
    let mut fresh = vec![0u8; len as usize];
    let mut state = offset | 1;
    for b in fresh.iter_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *b = state as u8;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open");
    file.seek(SeekFrom::Start(offset)).expect("seek");
    file.write_all(&fresh).expect("write");
}

/// The bytes of the chunks on the server, as it lists them.
fn server_chunk_bytes(port: u16, bucket: &str) -> u64 {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/s3.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(["sizes", &port.to_string(), bucket, "hive/chunks"])
        .output()
        .expect("bash runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
        .sum()
}

struct Row {
    what: String,
    changed: u64,
    took: Duration,
    sent: u64,
    on_server: u64,
    aws: Option<Duration>,
}

fn main() {
    let mib = bench_mib();
    let port = 23600u16;
    let server = s3_server(port, "snapshots");
    let block = Value::map([
        (
            "endpoint",
            Value::string(format!("http://127.0.0.1:{port}")),
        ),
        ("bucket", Value::string("snapshots")),
        ("access_key", Value::string(S3_KEY)),
        ("secret_key", Value::string(S3_SECRET)),
    ]);
    let store = Store::open(&block).expect("store");
    let work = tempfile::tempdir().expect("temp dir");
    let disk = work.path().join("disk.qcow2");
    random_file(&disk, mib);

    let mut rows = Vec::new();
    let mut snapshot = |what: &str, name: &str, path: &Path, chunking, changed, with_aws: bool| {
        let before = server_chunk_bytes(port, "snapshots");
        let start = Instant::now();
        let file = std::fs::File::open(path).expect("open");
        let done = store
            .snapshot(
                name,
                std::io::BufReader::with_capacity(1 << 20, file),
                chunking,
                tags("bench", name),
                100,
                "not in use",
            )
            .expect("snapshot");
        let took = start.elapsed();
        let on_server = server_chunk_bytes(port, "snapshots") - before;
        let aws = with_aws.then(|| {
            aws(
                port,
                &[
                    "s3",
                    "cp",
                    "--quiet",
                    &path.display().to_string(),
                    "s3://snapshots/aws/copy",
                ],
            )
        });
        rows.push(Row {
            what: what.to_string(),
            changed,
            took,
            sent: done.bytes_sent,
            on_server,
            aws,
        });
    };
    snapshot(
        "disk: first snapshot",
        "disk",
        &disk,
        Chunking::Fixed,
        mib * MIB,
        true,
    );
    scribble(&disk, mib * MIB / 3, 50 * MIB);
    snapshot(
        "disk: 50 MiB in one place",
        "disk",
        &disk,
        Chunking::Fixed,
        50 * MIB,
        true,
    );
    let spacing = (mib * MIB / 50).max(MIB);
    for i in 0..50 {
        scribble(&disk, i * spacing + MIB / 2, MIB.min(spacing));
    }
    snapshot(
        "disk: 50 x 1 MiB scattered",
        "disk",
        &disk,
        Chunking::Fixed,
        50 * MIB,
        true,
    );

    // A stream whose bytes shift: 1 KiB inserted at the front.
    let stream_mib = (mib / 4).max(16);
    let stream = work.path().join("export.tar");
    random_file(&stream, stream_mib);
    for (label, name, chunking) in [
        ("tar, content-defined", "tar-cdc", Chunking::ContentDefined),
        ("tar, fixed", "tar-fixed", Chunking::Fixed),
    ] {
        random_file(&stream, stream_mib);
        let _ = std::fs::copy(&stream, work.path().join("base.tar"));
        snapshot(
            &format!("{label}: first"),
            name,
            &stream,
            chunking,
            stream_mib * MIB,
            false,
        );
        let original = std::fs::read(work.path().join("base.tar")).expect("read");
        let mut shifted = vec![7u8; 1024];
        shifted.extend_from_slice(&original);
        std::fs::write(&stream, shifted).expect("write");
        snapshot(
            &format!("{label}: 1 KiB at the front"),
            name,
            &stream,
            chunking,
            1024,
            false,
        );
    }
    s3_lab(&["stop", &server.path().display().to_string()]);

    println!(
        "snapshots of a {mib} MiB disk and a {stream_mib} MiB stream into SeaweedFS on loopback"
    );
    println!(
        "{:<42} {:>10} {:>9} {:>10} {:>10} {:>9} {:>10} {:>8}",
        "", "changed", "time", "sent", "on server", "sent/chg", "aws cp", "aws/hive"
    );
    let size = |b: u64| {
        if b < MIB {
            format!("{:.1}K", b as f64 / 1024.0)
        } else {
            format!("{:.1}M", b as f64 / MIB as f64)
        }
    };
    for r in rows {
        println!(
            "{:<42} {:>10} {:>8.2}s {:>10} {:>10} {:>9.2} {:>10} {:>8}",
            r.what,
            size(r.changed),
            r.took.as_secs_f64(),
            size(r.sent),
            size(r.on_server),
            r.sent as f64 / r.changed as f64,
            r.aws
                .map_or("-".into(), |a| format!("{:.2}s", a.as_secs_f64())),
            r.aws.map_or("-".into(), |a| format!(
                "{:.2}x",
                a.as_secs_f64() / r.took.as_secs_f64()
            )),
        );
    }
}
