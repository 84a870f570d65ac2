#!/usr/bin/env bash
# Builds the Debian test guest: a Debian 12 (bookworm) root filesystem with real cloud-init
# (NoCloud only), OpenSSH and ifupdown + dhclient, as a whole-disk ext4 image (no partition
# table, no bootloader) in qcow2 compat 1.1, plus the kernel and initrd for direct kernel boot.
# Boot it with kernel cmdline `root=/dev/vda console=ttyS0`, the image as a virtio disk and a
# NoCloud seed (label cidata). cloud-init DHCPs the first NIC, generates the SSH host keys and
# installs the seed's keys for the default user and for root.
#
# Packages come only from the Debian mirror configured for apt on this machine. The result is
# cached under $HIVE_TEST_CACHE/debian/<recipe hash> (default /var/cache/hive-test) with a
# `current` symlink, so a second run takes a moment. Prints the paths of debian.qcow2,
# vmlinuz and initrd.img.
set -euo pipefail

cache="${HIVE_TEST_CACHE:-/var/cache/hive-test}/debian"
log() { printf 'debian-guest: %s\n' "$*" >&2; }
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

suite=bookworm
packages=(linux-image-cloud-amd64 initramfs-tools cloud-init openssh-server
  python3-cffi-backend systemd-sysv udev dbus kmod iproute2 ifupdown isc-dhcp-client netbase
  sudo procps zstd)
recipe=$( { cat "${BASH_SOURCE[0]}"; echo "$suite ${packages[*]}"; } | sha256sum | cut -c1-16)
out="$cache/$recipe"

done_already() {
  [ -f "$out/debian.qcow2" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ]
}
report() {
  ln -sfn "$recipe" "$cache/current"
  echo "debian guest: $out/debian.qcow2"
  echo "debian kernel: $out/vmlinuz"
  echo "debian initrd: $out/initrd.img"
}
if done_already; then report; exit 0; fi

[ "$(id -u)" = 0 ] || { log "must run as root (debootstrap, chroot)"; exit 1; }
mkdir -p "$cache"
# One build at a time; a run that waited here may find the work done.
exec 9>"$cache/.lock"
flock 9
if done_already; then report; exit 0; fi

need=()
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v mkfs.ext4 >/dev/null 2>&1 || need+=(e2fsprogs) # -d needs e2fsprogs >= 1.43
# qemu-utils may come from backports (LAB.md): any qemu-img will do.
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
apt_install "${need[@]}"

# The mirror apt uses for this suite; nothing else may be contacted.
mirror=$(apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE) $(TARGET_OF)' |
  awk -v s="$suite" '$2 == s && $3 == "deb" {print $1; exit}')
[ -n "$mirror" ] || { log "no apt source for $suite in /etc/apt/sources.list(.d)"; exit 1; }

work=$(mktemp -d "$cache/.build.XXXXXX")
root="$work/rootfs"
cleanup() {
  # Unmount whatever debootstrap or the chroot left mounted (deepest first) before deleting:
  # removing a bind-mounted /dev or /proc would hurt the host.
  local m
  for m in $(awk -v w="$work/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  if awk -v w="$work/" 'index($2, w) == 1 {found = 1} END {exit !found}' /proc/mounts; then
    log "leaving $work: still mounted"
  else
    rm -rf --one-file-system "$work"
  fi
}
trap cleanup EXIT

log "building $out from $mirror (several minutes)"
include=$(IFS=,; echo "${packages[*]}")
# Two stages so that a policy-rc.d is in place before any package is configured: no service
# may start inside the chroot.
debootstrap --foreign --variant=minbase --arch=amd64 --include="$include" \
  "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
chroot "$root" /debootstrap/debootstrap --second-stage >>"$work/debootstrap.log" 2>&1 ||
  { tail -n 30 "$work/debootstrap.log" "$root/debootstrap/debootstrap.log" 2>/dev/null >&2; exit 1; }
log "debootstrap done after $SECONDS s"

in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }

# Root filesystem: the whole disk, found by the kernel cmdline root=/dev/vda.
cat > "$root/etc/fstab" <<'EOF'
/dev/vda / ext4 defaults,errors=remount-ro 0 1
EOF

# The initramfs must find the root filesystem on a virtio disk. Rebuild it now that fstab
# exists (so it carries fsck.ext4) and zstd is installed.
kver=$(basename "$(ls -d "$root"/lib/modules/* | sort -V | tail -n 1)")
initrd_has() { # module...: each one built into the kernel or in the initramfs
  local mod
  in_root lsinitramfs "/boot/initrd.img-$kver" > "$work/initrd.list"
  for mod; do
    grep -qE "/$mod\.ko" "$root/lib/modules/$kver/modules.builtin" "$work/initrd.list" || return 1
  done
}
# Its fsck hook would probe /dev/vda of the build host: name the type instead.
echo FSTYPE=ext4 > "$root/etc/initramfs-tools/conf.d/hive-rootfs"
for mod in virtio_pci virtio_blk ext4; do
  initrd_has "$mod" || echo "$mod" >> "$root/etc/initramfs-tools/modules"
done
in_root update-initramfs -u -k "$kver" >"$work/initramfs.log" 2>&1 ||
  { tail -n 20 "$work/initramfs.log" >&2; exit 1; }
initrd_has virtio_pci virtio_blk ext4 || { log "the initramfs lacks virtio_blk or ext4"; exit 1; }

# Names, network.
echo debian > "$root/etc/hostname"
cat > "$root/etc/hosts" <<'EOF'
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
EOF
: > "$root/etc/resolv.conf"
echo 'LANG=C.UTF-8' > "$root/etc/default/locale"
cat > "$root/etc/network/interfaces" <<'EOF'
# cloud-init writes the NIC configuration into interfaces.d.
auto lo
iface lo inet loopback

source /etc/network/interfaces.d/*
EOF
mkdir -p "$root/etc/network/interfaces.d"
# The guest's apt points at the same mirror (not that the guest can usually reach it).
echo "deb $mirror $suite main" > "$root/etc/apt/sources.list"

# cloud-init: NoCloud only, root may log in with the seed's keys.
cat > "$root/etc/cloud/cloud.cfg.d/90-hive.cfg" <<'EOF'
datasource_list: [ NoCloud, None ]
locale: C.UTF-8
disable_root: false
ssh_pwauth: false
ssh_deletekeys: true
ssh_genkeytypes: [ rsa, ecdsa, ed25519 ]
EOF
mkdir -p "$root/etc/ssh/sshd_config.d"
cat > "$root/etc/ssh/sshd_config.d/hive.conf" <<'EOF'
PermitRootLogin prohibit-password
PasswordAuthentication no
EOF
rm -f "$root"/etc/ssh/ssh_host_*
# sshd needs the host keys cloud-init generates.
mkdir -p "$root/etc/systemd/system/ssh.service.d"
cat > "$root/etc/systemd/system/ssh.service.d/hive.conf" <<'EOF'
[Unit]
After=cloud-init.service
EOF

# Keep boot short: no periodic maintenance in a throwaway guest.
for unit in apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service \
  e2scrub_all.timer e2scrub_reap.service fstrim.timer man-db.timer dpkg-db-backup.timer; do
  ln -sfn /dev/null "$root/etc/systemd/system/$unit"
done

# Per-instance state is created at first boot, not baked in.
: > "$root/etc/machine-id"
[ -L "$root/var/lib/dbus/machine-id" ] || rm -f "$root/var/lib/dbus/machine-id"
rm -rf "$root"/var/lib/cloud/* "$root"/var/log/cloud-init*
rm -f "$root/usr/sbin/policy-rc.d"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root/debootstrap"
find "$root/var/log" -type f -exec truncate -s 0 {} +

leftover=$(awk -v r="$root/" 'index($2, r) == 1 {print $2}' /proc/mounts)
[ -z "$leftover" ] || { log "still mounted in the rootfs: $leftover"; exit 1; }

mkdir -p "$work/out"
cp "$root/boot/vmlinuz-$kver" "$work/out/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$work/out/initrd.img"
mkfs.ext4 -q -F -L root -d "$root" "$work/root.raw" 2G >/dev/null
qemu-img convert -O qcow2 -o compat=1.1 "$work/root.raw" "$work/out/debian.qcow2"
rm -f "$work/root.raw"

rm -rf "$out"
mv "$work/out" "$out"
log "built in $SECONDS s: $(du -h "$out/debian.qcow2" | cut -f1) qcow2, kernel $kver"
report
