//! End to end on real libvirt (`qemu:///system`) with real guests under QEMU TCG: the tiny
//! busybox + dropbear guest, and the Debian guest with real cloud-init. `bash lab/setup.sh`
//! (run by `make test`) installs and starts everything these need.
//!
//! Every test uses its own names and subnet, and checks what exists with `virsh`, not with
//! hive. Guests boot one test at a time: two cores emulating several guests of several
//! tests at once would measure the machine, not hive.

#[path = "../support/mod.rs"]
mod support;

mod cache;
mod cloud_init;
mod cluster;
mod crash;
mod drift;
mod errors;
mod images;
mod lab;
mod linux_bridge;
mod nics;
#[path = "../s3/lab.rs"]
#[allow(dead_code)]
mod s3lab;
mod scan;
mod store;
