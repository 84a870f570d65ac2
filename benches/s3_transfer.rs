//! Upload and download of one large image (1 GiB; `HIVE_BENCH_MIB` changes it) between this
//! machine and the lab's SeaweedFS on loopback: hive's client (parts of 16 MiB, four at a
//! time, resumable; the download checked against the image's SHA-256) against the AWS CLI
//! (`aws s3 cp`, its defaults) copying the same file to the same server.
//!
//! Run with `cargo bench --bench s3_transfer` (it installs the AWS CLI into a venv).

#[path = "support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::{aws, bench_mib, s3_lab, s3_server, S3_KEY, S3_SECRET};

fn rate(mib: u64, took: Duration) -> String {
    format!(
        "{:>8.3}s {:>7.0} MiB/s",
        took.as_secs_f64(),
        mib as f64 / took.as_secs_f64()
    )
}

fn main() {
    let mib = bench_mib();
    let port = 23500u16;
    let server = s3_server(port, "transfer");
    let work = tempfile::tempdir().expect("temp dir");
    let file = work.path().join("image.qcow2");
    // Incompressible bytes, as a real image's are to the network.
    let made = Command::new("head")
        .args(["-c", &format!("{}", mib << 20), "/dev/urandom"])
        .stdout(std::fs::File::create(&file).expect("create"))
        .status()
        .expect("head");
    assert!(made.success());
    let sha = hive_s3::upload::sha256_file(&file).expect("hash");

    let mut config = hive_s3::S3Config::new("transfer");
    config.endpoint = Some(format!("http://127.0.0.1:{port}"));
    config.access_key = Some(S3_KEY.into());
    config.secret_key = Some(S3_SECRET.into());
    let credentials = hive_s3::Credentials::find(&config).expect("credentials");
    let bucket = hive_s3::Bucket::connect(&config, &credentials).expect("client");

    let key = format!("images/{sha}");
    let start = Instant::now();
    let sent = bucket
        .upload_file(
            &file,
            &key,
            &sha,
            hive_s3::upload::PART_SIZE,
            &work.path().join("progress"),
        )
        .expect("upload");
    let hive_up = start.elapsed();
    assert_eq!(sent.bytes_sent, mib << 20);
    let start = Instant::now();
    bucket
        .download_verified(&key, &sha, &work.path().join("fetched-hive"))
        .expect("download");
    let hive_down = start.elapsed();

    let file_arg = file.display().to_string();
    let aws_up = aws(
        port,
        &[
            "s3",
            "cp",
            "--quiet",
            &file_arg,
            "s3://transfer/aws/image.qcow2",
        ],
    );
    let fetched = work.path().join("fetched-aws").display().to_string();
    let aws_down = aws(
        port,
        &[
            "s3",
            "cp",
            "--quiet",
            "s3://transfer/aws/image.qcow2",
            &fetched,
        ],
    );
    s3_lab(&["stop", &server.path().display().to_string()]);

    println!("{mib} MiB image to and from SeaweedFS on loopback");
    println!("{:<28} {:>24} {:>24}", "", "upload", "download");
    println!(
        "{:<28} {} {}",
        "hive (verified download)",
        rate(mib, hive_up),
        rate(mib, hive_down)
    );
    println!(
        "{:<28} {} {}",
        "aws s3 cp",
        rate(mib, aws_up),
        rate(mib, aws_down)
    );
    println!(
        "{:<28} {:>23.2}x {:>23.2}x",
        "aws time / hive time",
        aws_up.as_secs_f64() / hive_up.as_secs_f64(),
        aws_down.as_secs_f64() / hive_down.as_secs_f64()
    );
}
