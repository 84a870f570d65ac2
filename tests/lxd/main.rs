//! End to end on the real LXD daemon (Debian's 5.0, started by `lab/lxd.sh`), with the two
//! local test images of `lab/lxd-images.sh`: busybox (a unified tarball) and Debian with
//! real cloud-init (metadata plus a rootfs squashfs). `bash lab/setup.sh` (run by
//! `make test`) installs and starts everything these need.
//!
//! Every test uses its own names and subnet (10.233.N), and checks what exists with `lxc`,
//! not with hive. One test at a time touches the daemon.

#[path = "../support/mod.rs"]
mod support;

mod checkpoint;
mod cluster;
mod crash;
mod debian;
mod errors;
mod example;
mod import;
mod lab;
mod lxd_cluster;
mod multipass;
mod parallel;
mod rebuild;
mod refactor;
mod remote;
#[path = "../s3/lab.rs"]
#[allow(dead_code)]
mod s3lab;
mod scan;
mod store;
