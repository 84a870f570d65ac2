#!/usr/bin/env bash
# Installs LXD from Debian 12, starts its daemon without systemd and preseeds it: a `dir`
# storage pool and a bridge with an explicit address (LXD must never pick a subnet itself
# here: it probes foreign addresses to find a free one), no NAT, no IPv6, no image
# auto-update (no image server is reachable). Idempotent.
set -euo pipefail
log() { printf 'lab: %s\n' "$*" >&2; }
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Packages must not start daemons behind our back: Debian's lxd init script would start an
# LXD of its own while this script starts another on the same /var/lib/lxd, and two daemons
# there delete each other's files.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi

# nftables before LXD's first start, or LXD falls back to iptables rules it leaves behind.
need_packages nftables
need_packages lxd lxd-client lxcfs dnsmasq-base

# The pid of the nearest ancestor whose root is not ours, if this script runs in a chroot
# (as in the fresh-machine check); nothing otherwise.
outside_ancestor() {
  local mine pid root
  mine=$(stat -L -c %d:%i /)
  pid=$$
  while pid=$(awk '/^PPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null) && [ "${pid:-0}" -gt 1 ]; do
    root=$(stat -L -c %d:%i "/proc/$pid/root" 2>/dev/null) || continue
    if [ "$root" != "$mine" ]; then echo "$pid"; return; fi
  done
}

# One daemon: the one whose pid is in /run/lxd.pid (where the init script keeps it too), or
# a new one.
running() { local pid; pid=$(cat /run/lxd.pid 2>/dev/null) && kill -0 "$pid" 2>/dev/null; }
start() {
  mkdir -p /var/log/lxd
  getent group lxd >/dev/null || groupadd --system lxd
  local daemon=(lxd --group lxd --logfile=/var/log/lxd/lxd.log) outside
  outside=$(outside_ancestor)
  if [ -z "$outside" ]; then
    setsid "${daemon[@]}" </dev/null >/dev/null 2>&1 &
    echo $! > /run/lxd.pid
    return
  fi
  # In a chroot the kernel refuses user namespaces, so LXD's containers cannot start ("Failed
  # to clone a new set of namespaces"). The daemon is started in a mount namespace of its own
  # whose real root (pivot_root) is this chroot's root, with the host's whole /sys (cgroups)
  # mounted: from there it sees the same files as we do and is not chrooted. The path to
  # this root, as the host sees it, is reached through fd 9.
  local inner='mount --make-rprivate / && mount --rbind /sys sys && pivot_root . . &&
    umount -l . && cd / && exec "$@"'
  local outer='cd /proc/self/fd/9 && exec 9<&- && exec unshare -m /bin/sh -c "$0" lxd "$@"'
  log "in a chroot: starting lxd outside it, in a mount namespace rooted here"
  setsid chroot "/proc/$outside/root" /bin/sh -c "$outer" "$inner" "${daemon[@]}" \
    9</ </dev/null >/dev/null 2>&1 &
  echo $! > /run/lxd.pid
  # That daemon is not killed with the chroot's processes when the check ends: a watcher in
  # the chroot is, and then tells LXD to stop its containers and exit (SIGPWR).
  setsid bash -c 'trap "kill -PWR $0 2>/dev/null; exit 0" TERM INT HUP
    tail --pid="$0" -f /dev/null & wait $!' "$!" </dev/null >/dev/null 2>&1 &
}
if ! lxd waitready --timeout=1 >/dev/null 2>&1; then
  if running; then
    log "waiting for the lxd that is starting"
    lxd waitready --timeout=120
  else
    # A daemon that has not made its socket after 40 s will not (seen in fresh chroots, now
    # and then): stop it and start another.
    for attempt in 1 2 3; do
      log "starting lxd (attempt $attempt)"
      start
      lxd waitready --timeout=40 >/dev/null 2>&1 && break
      log "lxd did not become ready; its log ends with:"
      tail -n 5 /var/log/lxd/lxd.log >&2 || true
      kill "$(cat /run/lxd.pid)" 2>/dev/null || true
      for _ in $(seq 50); do running || break; sleep 0.2; done
      kill -9 "$(cat /run/lxd.pid)" 2>/dev/null || true
    done
    lxd waitready --timeout=1
  fi
fi

if ! lxc storage show default >/dev/null 2>&1; then
  # A hivelxd0 left by an earlier LXD (stopped, or in a chroot sharing this network
  # namespace) would be taken by the preseed for an existing network it cannot update.
  if ip link show hivelxd0 >/dev/null 2>&1; then
    log "removing a leftover hivelxd0 bridge no LXD manages"
    ip link del hivelxd0
  fi
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
