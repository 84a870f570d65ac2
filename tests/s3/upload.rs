//! Images into the store and out to host caches: uploaded once by content, in parts that
//! survive the server stopping midway, and downloaded only when their digest matches.

use crate::lab::Server;
use hive_s3::upload::sha256_file;
use hive_s3::S3ErrorKind;
use std::time::Duration;

const PART: u64 = 5 << 20;

fn image(dir: &std::path::Path, mib: usize) -> std::path::PathBuf {
    let path = dir.join("image.qcow2");
    let bytes = crate::lab::pseudo_random(mib << 20, 0x9e37_79b9);
    std::fs::write(&path, bytes).expect("write image");
    path
}

#[test]
fn an_image_goes_up_once_and_down_verified_into_two_host_caches() {
    let server = Server::start();
    let bucket = server.bucket("images");
    let client = server.client(&bucket);
    let work = tempfile::tempdir().expect("temp dir");
    let file = image(work.path(), 12);
    let sha = sha256_file(&file).expect("hash");
    let key = format!("images/{sha}");
    let progress = work.path().join("image.qcow2.upload");
    let first = client
        .upload_file(&file, &key, &sha, PART, &progress)
        .expect("upload");
    assert_eq!((first.bytes_sent, first.already_there), (12 << 20, false));
    assert_eq!(
        server.sizes(&bucket, "images/").get(&key),
        Some(&(12 << 20))
    );
    assert!(!progress.exists());
    let again = client
        .upload_file(&file, &key, &sha, PART, &progress)
        .expect("again");
    assert!(again.already_there && again.bytes_sent == 0);

    for host in ["host-a", "host-b"] {
        let cache = work.path().join(host);
        std::fs::create_dir_all(&cache).expect("cache");
        let dest = cache.join(&sha);
        client
            .download_verified(&key, &sha, &dest)
            .expect("download");
        assert_eq!(sha256_file(&dest).expect("hash"), sha);
    }

    // A damaged object is refused and nothing is left in the cache.
    server.put(&bucket, &key, b"not the image");
    let dest = work.path().join("host-c");
    let error = client
        .download_verified(&key, &sha, &dest)
        .expect_err("refused");
    assert_eq!(error.kind, S3ErrorKind::Damaged);
    assert!(!dest.exists() && !work.path().join("host-c.part").exists());
}

#[test]
fn an_upload_cut_off_by_the_server_stopping_resumes_with_the_parts_that_are_missing() {
    let server = Server::start();
    let bucket = server.bucket("resume");
    let client = server.client(&bucket);
    let work = tempfile::tempdir().expect("temp dir");
    let file = image(work.path(), 60);
    let sha = sha256_file(&file).expect("hash");
    let key = format!("images/{sha}");
    let progress = work.path().join("image.qcow2.upload");
    let uploading = {
        let (client, file, key, sha, progress) = (
            client.clone(),
            file.clone(),
            key.clone(),
            sha.clone(),
            progress.clone(),
        );
        std::thread::spawn(move || client.upload_file(&file, &key, &sha, PART, &progress))
    };
    // Stop the server once two parts are recorded as sent.
    crate::support::eventually("two parts sent", Duration::from_secs(60), || {
        std::fs::read(&progress)
            .ok()
            .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok())
            .and_then(|p| p["parts"].as_array().map(Vec::len))
            .is_some_and(|sent| sent >= 2)
    });
    server.stop();
    let cut = uploading.join().expect("thread");
    let error = cut.expect_err("the upload cannot finish without a server");
    assert!(progress.exists(), "{error}");
    server.restart();
    let resumed = client
        .upload_file(&file, &key, &sha, PART, &progress)
        .expect("resumed");
    assert!(resumed.parts_resumed >= 2, "{resumed:?}");
    assert!(resumed.bytes_sent < 60 << 20, "{resumed:?}");
    let dest = work.path().join("fetched");
    client.download_verified(&key, &sha, &dest).expect("whole");
}
