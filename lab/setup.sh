#!/usr/bin/env bash
# Installs what hive's tests need on a fresh Debian 12 machine of this project's kind.
# Idempotent: a second run only checks. Later backends (libvirt, LXD, S3) add their steps here.
set -euo pipefail

log() { printf 'lab: %s\n' "$*"; }

need_apt=()
for pkg in pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
  log "installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The fuzzer driver, built from the Rust package registry (about a minute, once).
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install --locked --quiet cargo-fuzz
fi
log "ready"
