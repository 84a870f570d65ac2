//! End to end against a real S3 server: SeaweedFS (`lab/s3.sh`, installed by `make test`'s
//! set-up), one server per test binary on loopback ports of its own, a bucket per test.
//! What is in the bucket is checked with curl (`lab/s3.sh list`), not with hive's client.

#[path = "../support/mod.rs"]
mod support;

mod chunks;
mod errors;
mod lab;
mod migrate;
mod state;
mod upload;
