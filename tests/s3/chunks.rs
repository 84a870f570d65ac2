//! Snapshots as content-addressed chunks in a real bucket: only what changed is uploaded,
//! what is read back is checked, and removal goes by reachability. Sizes are the server's.

use crate::lab::{pseudo_random, Server};
use hive_s3::chunks::{ChunkStore, Chunking, FIXED_SIZE};
use std::collections::BTreeMap;

fn tags() -> BTreeMap<String, String> {
    BTreeMap::from([("hive.address".to_string(), "volume.data".to_string())])
}

/// The chunk objects on the server and their total size.
fn stored(server: &Server, bucket: &str) -> (usize, u64) {
    let chunks = server.sizes(bucket, "store/chunks/");
    (chunks.len(), chunks.values().sum())
}

#[test]
fn a_second_snapshot_uploads_only_the_changed_chunks_and_both_read_back_whole() {
    let server = Server::start();
    let bucket = server.bucket("chunks");
    let store = ChunkStore::new(server.client(&bucket), "store");
    // A 40 MiB disk image, half of it zeros (as unused blocks are).
    let mut disk = pseudo_random(20 << 20, 3);
    disk.extend(vec![0u8; 20 << 20]);
    let first = store
        .write("data", &disk[..], Chunking::Fixed, tags())
        .expect("first snapshot");
    let (count, bytes) = stored(&server, &bucket);
    // Five zero chunks are one object.
    assert_eq!(count, 6, "{count}");
    assert_eq!(bytes, 6 * FIXED_SIZE as u64);
    assert_eq!(first.bytes_sent, bytes);

    // 1 MiB changed in place.
    let mut changed = disk.clone();
    changed[(12 << 20)..(13 << 20)].copy_from_slice(&pseudo_random(1 << 20, 9));
    let second = store
        .write("data", &changed[..], Chunking::Fixed, tags())
        .expect("second");
    let (count_after, bytes_after) = stored(&server, &bucket);
    assert_eq!(count_after, count + 1);
    assert_eq!(
        bytes_after - bytes,
        FIXED_SIZE as u64,
        "only the changed chunk is new"
    );
    assert_eq!(second.chunks_sent, 1);

    let latest = store.latest("data").expect("list").expect("a snapshot");
    assert_eq!(latest, second.manifest);
    assert_eq!(latest.tags, tags());
    let mut read = Vec::new();
    store.read(&latest, &mut read).expect("restore");
    assert!(read == changed, "the latest snapshot reads back as written");
    let mut read = Vec::new();
    store
        .read(&first.manifest, &mut read)
        .expect("restore the first");
    assert!(read == disk);

    // Prune to the newest, then collect: the chunk only the first snapshot had goes.
    assert_eq!(store.prune("data", 1).expect("prune"), 1);
    let collected = store.collect().expect("collect");
    assert_eq!(collected.chunks_removed, 1);
    assert_eq!(collected.bytes_removed, FIXED_SIZE as u64);
    let mut read = Vec::new();
    store.read(&latest, &mut read).expect("still whole");
    assert!(read == changed);
}

#[test]
fn a_damaged_chunk_is_found_by_its_digest_and_a_writer_stops_a_collection() {
    let server = Server::start();
    let bucket = server.bucket("damaged");
    let store = ChunkStore::new(server.client(&bucket), "store");
    let data = pseudo_random(3 << 20, 5);
    let written = store
        .write("v", &data[..], Chunking::Fixed, tags())
        .expect("write");
    let chunk = &written.manifest.chunks[0].sha256;
    let key = format!("store/chunks/{}/{chunk}", &chunk[..2]);
    let mut bad = data.clone();
    bad[100] ^= 1;
    server.put(&bucket, &key, &bad);
    let mut out = Vec::new();
    let error = store
        .read(&written.manifest, &mut out)
        .expect_err("damage found");
    assert_eq!(error.kind, hive_s3::S3ErrorKind::Damaged);
    assert!(
        error.to_string().contains(&key) && error.to_string().contains("damaged"),
        "{error}"
    );

    // A writer at work (its lock) keeps every chunk: the collection is refused.
    server.put(&bucket, "store/locks/writer-abc", b"v");
    let refused = store.collect().expect_err("refused");
    assert!(refused.to_string().contains("being written"), "{refused}");
    assert!(!server
        .list(&bucket, "store/locks/")
        .contains(&"store/locks/collect".to_string()));
}

#[test]
fn content_defined_chunks_upload_little_after_an_insertion() {
    let server = Server::start();
    let bucket = server.bucket("cdc");
    let store = ChunkStore::new(server.client(&bucket), "store");
    let export = pseudo_random(16 << 20, 11);
    let first = store
        .write("x", &export[..], Chunking::ContentDefined, tags())
        .expect("write");
    let mut shifted = export[..(7 << 20)].to_vec();
    shifted.extend_from_slice(b"one more file in the tarball");
    shifted.extend_from_slice(&export[(7 << 20)..]);
    let (_, before) = stored(&server, &bucket);
    let second = store
        .write("x", &shifted[..], Chunking::ContentDefined, tags())
        .expect("write");
    let (_, after) = stored(&server, &bucket);
    assert!(first.manifest.chunks.len() >= 8);
    assert!(
        second.chunks_sent <= 2,
        "{} chunks sent",
        second.chunks_sent
    );
    assert!(
        after - before < (5 << 20),
        "{} bytes stored",
        after - before
    );
    let mut read = Vec::new();
    store.read(&second.manifest, &mut read).expect("restore");
    assert!(read == shifted);
}
