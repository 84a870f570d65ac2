#!/usr/bin/env bash
# Installs LXD from Debian 12, starts its daemon without systemd and preseeds it: a `dir`
# storage pool and a bridge with an explicit address (LXD must never pick a subnet itself
# here: it probes foreign addresses to find a free one), no NAT, no IPv6, no image
# auto-update (no image server is reachable). Idempotent.
set -euo pipefail
log() { printf 'lab: %s\n' "$*" >&2; }
export DEBIAN_FRONTEND=noninteractive

need() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}
# nftables before LXD's first start, or LXD falls back to iptables rules it leaves behind.
need nftables
need lxd lxd-client lxcfs dnsmasq-base

if ! lxd waitready --timeout=1 >/dev/null 2>&1; then
  mkdir -p /var/log/lxd
  getent group lxd >/dev/null || groupadd --system lxd
  log "starting lxd"
  setsid lxd --group lxd --logfile=/var/log/lxd/lxd.log </dev/null >/dev/null 2>&1 &
  lxd waitready --timeout=120
fi

if ! lxc storage show default >/dev/null 2>&1; then
  log "preseeding lxd (dir pool, bridge hivelxd0 on 10.250.0.1/24)"
  lxd init --preseed <<'YAML'
config:
  images.auto_update_interval: "0"
networks:
- name: hivelxd0
  type: bridge
  config:
    ipv4.address: 10.250.0.1/24
    ipv4.nat: "false"
    ipv6.address: none
storage_pools:
- name: default
  driver: dir
profiles:
- name: default
  devices:
    root:
      path: /
      pool: default
      type: disk
    eth0:
      name: eth0
      network: hivelxd0
      type: nic
YAML
fi
log "lxd ready: $(lxd --version)"
