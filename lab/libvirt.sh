#!/usr/bin/env bash
# Installs libvirt and QEMU (from Debian 12, as LAB.md prescribes), starts virtlogd and
# libvirtd without systemd, and waits until qemu:///system answers. Idempotent.
set -euo pipefail
log() { printf 'lab: %s\n' "$*" >&2; }
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

packages=(qemu-system-x86 libvirt-daemon-system libvirt-clients libvirt-dev pkg-config
  dnsmasq-base iptables bridge-utils openssh-client cloud-image-utils genisoimage
  busybox-static dropbear-bin cpio kmod)
# The machine image carries qemu-utils from backports, which conflicts with Debian 12's QEMU:
# take all of QEMU from Debian 12.
APT_OPTIONS="--allow-downgrades qemu-utils/bookworm" need_packages "${packages[@]}"

if ! virsh -c qemu:///system version >/dev/null 2>&1; then
  # By their sockets, not by process name: another system's daemons (a container's or a
  # chroot's host) may show in the process table without serving this one.
  # A socket whose daemon is gone (its pid file names no process) was left by a daemon that
  # died: remove it and start anew.
  for d in virtlogd:virtlogd-sock libvirtd:libvirt-sock; do
    name=${d%%:*} sock=/run/libvirt/${d#*:}
    pid=$(cat "/run/$name.pid" 2>/dev/null || true)
    if [ -S "$sock" ] && ! { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }; then
      rm -f "$sock" "$sock-ro" "${sock%-sock}-admin-sock" "/run/$name.pid"
    fi
    [ -S "$sock" ] || "/usr/sbin/$name" -d
  done
  for _ in $(seq 100); do
    virsh -c qemu:///system version >/dev/null 2>&1 && break
    sleep 0.1
  done
fi
virsh -c qemu:///system version >/dev/null || { log "libvirtd did not start"; exit 1; }
log "libvirt ready: $(virsh -c qemu:///system version | awk '/Running hypervisor/ {print $3, $4}')"
