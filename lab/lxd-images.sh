#!/usr/bin/env bash
# Builds the LXD test images as files (hive imports them; this script does not touch LXD):
#  - busybox.tar.gz: a unified image (metadata.yaml + rootfs/) of busybox-static. Its init
#    DHCPs every ethN (default route only through eth0), names the host after the instance and
#    halts on SIGPWR, so `lxc stop` is quick.
#  - debian.meta.tar.gz + debian.rootfs.squashfs: a split image of Debian 12 with real
#    cloud-init (NoCloud), taken from the libvirt Debian guest (lab/debian-guest.sh) instead of
#    a second debootstrap. Its metadata.yaml carries LXD's templates that write the NoCloud
#    seed from cloud-init.user-data, cloud-init.vendor-data and cloud-init.network-config.
#  - debian-lxd.rootfs.squashfs: the same Debian with Debian's LXD installed (not started,
#    not initialised), for the multipass stand-in: Ubuntu's cloud images, which multipass
#    launches, come with LXD, and the LXD-cluster example runs LXD in its instances. It
#    shares debian.meta.tar.gz.
#
# The qcow2 is read without mounting it (no loop devices in a CI chroot): qemu-img converts it
# to raw and debugfs copies the files out. The result is cached under
# $HIVE_TEST_CACHE/lxd/<recipe hash> (default /var/cache/hive-test) with a `current` symlink.
# Prints the paths of the four files.
set -euo pipefail

cache_root="${HIVE_TEST_CACHE:-/var/cache/hive-test}"
cache="$cache_root/lxd"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf 'lxd-images: %s\n' "$*" >&2; }
. "$here/lib.sh"

[ "$(id -u)" = 0 ] || { log "must run as root (debugfs restores ownership, chroot)"; exit 1; }

need=()
[ -x /bin/busybox ] && dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v mksquashfs >/dev/null 2>&1 || need+=(squashfs-tools)
command -v debugfs >/dev/null 2>&1 || need+=(e2fsprogs)
command -v setfattr >/dev/null 2>&1 || need+=(attr)
# qemu-utils may come from backports (LAB.md): any qemu-img will do.
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
apt_install "${need[@]}"

# The Debian guest is our source; its script is a quick no-op when its cache is current.
qcow2=$(bash "$here/debian-guest.sh" | sed -n 's/^debian guest: //p')
[ -f "$qcow2" ] || { log "lab/debian-guest.sh gave no debian.qcow2"; exit 1; }
debian_recipe=$(basename "$(dirname "$(readlink -f "$qcow2")")")

busybox_version=$(dpkg-query -W -f='${Version}' busybox-static)
recipe=$( { cat "${BASH_SOURCE[0]}"; echo "busybox-static $busybox_version"; \
  echo "debian $debian_recipe"; } | sha256sum | cut -c1-16)
out="$cache/$recipe"

done_already() {
  [ -f "$out/busybox.tar.gz" ] && [ -f "$out/debian.meta.tar.gz" ] &&
    [ -f "$out/debian.rootfs.squashfs" ] && [ -f "$out/debian-lxd.rootfs.squashfs" ]
}
report() {
  # Renamed into place: tests may be reading through `current` meanwhile.
  ln -sfn "$recipe" "$cache/.current.$$"
  mv -Tf "$cache/.current.$$" "$cache/current"
  echo "lxd busybox: $out/busybox.tar.gz"
  echo "lxd debian metadata: $out/debian.meta.tar.gz"
  echo "lxd debian rootfs: $out/debian.rootfs.squashfs"
  echo "lxd debian-lxd rootfs: $out/debian-lxd.rootfs.squashfs"
}
if done_already; then report; exit 0; fi

mkdir -p "$cache"
# One build at a time; a run that waited here may find the work done.
exec 9>"$cache/.lock"
flock 9
if done_already; then report; exit 0; fi

work=$(mktemp -d "$cache/.build.XXXXXX")
# A chroot's /proc is unmounted before anything is deleted.
trap 'umount -l "$work/debian-lxd/proc" "$work/debian-lxd/dev" 2>/dev/null || true; rm -rf --one-file-system "$work"' EXIT
mkdir -p "$out"

# Each file is moved into place whole, so an interrupted build never leaves a partial one.
publish() { mv "$1" "$out/$(basename "$1")"; }

# Same bytes for the same busybox: a fixed timestamp and owner, sorted, no name in gzip.
pack() { # DIR TARBALL MTIME: tar.gz of DIR's contents
  tar -C "$1" --sort=name --mtime="@$3" --owner=0 --group=0 --numeric-owner -cf - . |
    gzip -n -6 > "$2"
}

build_busybox() {
  local img="$work/busybox" r="$work/busybox/rootfs" epoch upstream
  upstream=${busybox_version#*:}
  upstream=${upstream%%-*}
  epoch=$(stat -c %Y /bin/busybox)
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,usr/share/udhcpc,proc,sys,dev,run,root,tmp,var/log} \
    "$img/templates"
  chmod 700 "$r/root"
  chmod 1777 "$r/tmp"
  ln -s ../run "$r/var/run"
  cp /bin/busybox "$r/bin/busybox"
  # One process makes every applet link (/bin/busybox as target, as inside the container).
  chroot "$r" /bin/busybox --install -s

  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    > "$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$r/etc/group"
  printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' > "$r/etc/hosts"
  echo busybox > "$r/etc/hostname"
  : > "$r/etc/resolv.conf"

  # SIGPWR (what `lxc stop` sends) makes busybox init run the shutdown actions, then signal
  # everything and halt after two 1 s pauses (3.5 s per stop, measured). rcK halts at once
  # instead: in a container `halt -f` ends it. syslogd (ring buffer: see logread) keeps init
  # company and gives udhcpc somewhere to log.
  cat > "$r/etc/inittab" <<'EOF'
::sysinit:/etc/init.d/rcS
::respawn:/sbin/syslogd -n -C64
::ctrlaltdel:/sbin/reboot
::shutdown:/etc/init.d/rcK
EOF
  cat > "$r/etc/init.d/rcK" <<'EOF'
#!/bin/sh
# A reboot must go busybox init's slow way, or it would become a halt.
[ -e /run/rebooting ] && exit 0
kill -TERM -1
usleep 100000
sync
halt -f
EOF
  rm "$r/sbin/reboot"
  cat > "$r/sbin/reboot" <<'EOF'
#!/bin/sh
# Tells rcK not to halt.
: > /run/rebooting
exec /bin/busybox reboot "$@"
EOF
  chmod 755 "$r/etc/init.d/rcK" "$r/sbin/reboot"

  cat > "$r/etc/init.d/rcS" <<'EOF'
#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
# LXD has mounted /proc, /sys and /dev already; mount only what is missing.
mounted() { grep -q "^[^ ]* $1 " /proc/mounts 2>/dev/null; }
mounted /proc || mount -t proc proc /proc
mounted /sys || mount -t sysfs sysfs /sys
mounted /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mounted /dev/pts || mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
# /run must not keep pid files across a restart.
mounted /run || mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run

[ -s /etc/hostname ] && hostname -F /etc/hostname
ip link set lo up
# Every NIC in parallel: one without a DHCP server must not hold up the others.
for path in /sys/class/net/eth*; do
  [ -e "$path" ] || continue
  nic=${path##*/}
  ip link set "$nic" up
  udhcpc -b -S -i "$nic" -x hostname:"$(hostname)" -s /usr/share/udhcpc/hive.script \
    >/dev/null 2>&1 &
done
exit 0
EOF

  cat > "$r/usr/share/udhcpc/hive.script" <<'EOF'
#!/bin/sh
# udhcpc hook. Only eth0 takes the default route and DNS, so that extra NICs never steal them.
case "$1" in
deconfig)
  ip -4 addr flush dev "$interface"
  ip link set "$interface" up
  ;;
bound|renew)
  prefix=$mask
  [ -n "$prefix" ] || prefix=$(ipcalc -p "$ip" "${subnet:-255.255.255.0}" | cut -d= -f2)
  # busybox ip has no `addr replace`: re-add only when the address changed.
  if ! ip -4 -o addr show dev "$interface" | grep -q " $ip/$prefix "; then
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$prefix" ${broadcast:+broadcast $broadcast} dev "$interface"
  fi
  if [ "$interface" = eth0 ]; then
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev eth0
    : > /etc/resolv.conf
    [ -n "$domain" ] && echo "search $domain" >> /etc/resolv.conf
    for s in $dns; do echo "nameserver $s" >> /etc/resolv.conf; done
  fi
  ;;
esac
exit 0
EOF
  chmod 755 "$r/etc/init.d/rcS" "$r/usr/share/udhcpc/hive.script"

  echo '{{ container.name }}' > "$img/templates/hostname.tpl"
  cat > "$img/metadata.yaml" <<EOF
architecture: x86_64
creation_date: $epoch
properties:
  os: busybox
  release: "${upstream}"
  description: busybox ${upstream} (hive test image)
templates:
  /etc/hostname:
    when: [create, copy]
    template: hostname.tpl
EOF
  pack "$img" "$work/busybox.tar.gz" "$epoch"
  publish "$work/busybox.tar.gz"
}

# debugfs rdump keeps owners, modes and symlinks, but it drops the setuid, setgid and sticky
# bits and extended attributes, and skips device nodes. So list what the filesystem holds
# (`ls -p` on every directory, one debugfs run per tree level, by inode so that no path needs
# quoting) as "path<TAB>perms<TAB>uid<TAB>gid<TAB>type<TAB>inode", perms being the low 12 bits
# in octal, and put the tree right from it.
list_image() { # RAW > list
  local raw=$1 level="$work/level" next="$work/next"
  printf '2\t\n' > "$level" # inode 2 is the root directory
  printf '\t0755\t0\t0\td\t2\n'
  while [ -s "$level" ]; do
    awk -F'\t' '{print "ls -p <" $1 ">"}' "$level" > "$work/cmds"
    debugfs -f "$work/cmds" "$raw" 2>/dev/null | awk -v levelf="$level" -v nextf="$next" '
      BEGIN {
        while ((getline l < levelf) > 0) { split(l, a, "\t"); dir[a[1]] = a[2] }
        FS = "/"; printf "" > nextf
      }
      /^debugfs: ls -p </ { ino = $0; sub(/.*</, "", ino); sub(/>.*/, "", ino); cur = dir[ino]; next }
      # /inode/mode/uid/gid/name/size/
      NF >= 7 && $6 != "." && $6 != ".." {
        path = (cur == "" ? "" : cur "/") $6
        mode = $3; fmt = substr(mode, 1, length(mode) - 4)
        type = fmt == "04" ? "d" : fmt == "10" ? "f" : fmt == "12" ? "l" : "special"
        print path "\t" substr(mode, length(mode) - 3) "\t" $4 "\t" $5 "\t" type "\t" $2
        if (type == "d") print $2 "\t" path > nextf
      }'
    mv "$next" "$level"
  done
}

# Lines of the listing whose file is missing or differs in the tree (special files excepted).
differences() { # LIST ROOT
  find "$2" -printf '%P\t%m\t%U\t%G\t%y\n' | awk -F'\t' -v listf="$1" '
    BEGIN { while ((getline l < listf) > 0) { split(l, a, "\t"); want[a[1]] = l } }
    { have[$1] = ($2 + 0) "\t" $3 "\t" $4 "\t" $5 }
    END {
      for (p in want) {
        split(want[p], w, "\t")
        if (w[5] == "special") continue
        # A symlink has no mode of its own.
        if (w[5] == "l") { if (have[p] !~ ("^[0-9]+\t" w[3] "\t" w[4] "\tl$")) print want[p] }
        else if (have[p] != (w[2] + 0) "\t" w[3] "\t" w[4] "\t" w[5]) print want[p]
      }
    }'
}

extract_ext4() { # RAW ROOT: the filesystem's files, with owners, modes and xattrs
  local raw=$1 r=$2 list="$work/image.list" n hex
  debugfs -R "rdump / \"$r\"" "$raw" 2> "$work/rdump.log"
  if grep -qv '^debugfs [0-9]' "$work/rdump.log"; then
    head -n 20 "$work/rdump.log" >&2
    log "debugfs rdump failed"; exit 1
  fi
  list_image "$raw" > "$list"
  differences "$list" "$r" > "$work/fix.list"
  # chown before chmod: chown clears the setuid bit. Five digits so that chmod also clears a
  # directory's setgid bit when the image says so.
  while IFS=$'\t' read -r path perms uid gid type _; do
    [ -e "$r/$path" ] || [ -L "$r/$path" ] || { log "debugfs did not copy /$path"; exit 1; }
    chown -h "$uid:$gid" "$r/$path"
    [ "$type" = l ] || chmod "0$perms" "$r/$path"
  done < "$work/fix.list"
  differences "$list" "$r" > "$work/fix.list"
  if [ -s "$work/fix.list" ]; then
    head -n 20 "$work/fix.list" >&2
    log "the extracted tree still differs from the image"; exit 1
  fi

  # Extended attributes (file capabilities, say), after the chowns, which clear capabilities.
  # Not POSIX ACLs: squashfs cannot store them (this image's only one, on /var/log/journal,
  # systemd-tmpfiles sets again at boot).
  awk -F'\t' '$5 == "f" || $5 == "d" {print "ea_list <" $6 ">"}' "$list" | sort -u > "$work/cmds"
  debugfs -f "$work/cmds" "$raw" 2>/dev/null | awk '
    /^debugfs: ea_list </ { ino = $0; sub(/.*</, "", ino); sub(/>.*/, "", ino); next }
    /^  [^ ]+ \([0-9]+\)/ && $1 !~ /^system\.posix_acl_/ { print ino "\t" $1 }' > "$work/xattrs"
  if [ -s "$work/xattrs" ]; then
    # ea_get gives each value as the kernel takes it.
    awk -F'\t' -v d="$work/xattr" '{print "ea_get -f \"" d "." NR "\" <" $1 "> " $2}' \
      "$work/xattrs" | debugfs -f - "$raw" >/dev/null 2>&1
    n=0
    while IFS=$'\t' read -r ino name; do
      n=$((n + 1))
      [ -f "$work/xattr.$n" ] || { log "debugfs could not read $name of inode $ino"; exit 1; }
      hex=$(od -An -tx1 -v "$work/xattr.$n" | tr -d ' \n')
      awk -F'\t' -v i="$ino" '$6 == i {print $1}' "$list" | while IFS= read -r path; do
        setfattr -h -n "$name" ${hex:+-v "0x$hex"} "$r/$path"
      done
    done < "$work/xattrs"
  fi
}

build_debian() {
  local img="$work/debian" r="$work/debian/rootfs" raw="$work/debian.raw" key
  mkdir -p "$img/templates" "$r"
  qemu-img convert -O raw "$qcow2" "$raw"
  extract_ext4 "$raw" "$r"
  rm -f "$raw"

  # A container needs no kernel, no boot loader files and no fstab (LXD mounts the root).
  rm -rf "$r/lost+found" "$r"/boot/* "$r"/usr/lib/modules/*
  rm -f "$r"/vmlinuz "$r"/vmlinuz.old "$r"/initrd.img "$r"/initrd.img.old
  echo '# LXD provides the root filesystem.' > "$r/etc/fstab"
  echo debian > "$r/etc/hostname"
  grep -q 'NoCloud' "$r/etc/cloud/cloud.cfg.d/90-hive.cfg" ||
    { log "the Debian guest's cloud-init is not set to NoCloud"; exit 1; }

  # A container cannot register binary formats (binfmt_misc belongs to the host): the unit
  # would only fail and leave the system degraded.
  ln -sfn /dev/null "$r/etc/systemd/system/systemd-binfmt.service"

  # gzip, not xz: a dir pool unpacks the image for every new container, and unsquashfs took
  # 1.4 s for gzip against 5.4 s for xz here; xz also built 25% slower on two cores, for a
  # 15% smaller file.
  mksquashfs "$r" "$work/debian.rootfs.squashfs" -noappend -comp gzip -no-progress -quiet \
    > "$work/mksquashfs.log" 2>&1 || { tail -n 20 "$work/mksquashfs.log" >&2; exit 1; }

  # LXD's templates (the same ones its own cloud images carry): the NoCloud seed from the
  # instance's cloud-init.* keys (the older user.* keys as a fallback), written at create and
  # copy so that a copy gets its own instance-id.
  echo '{{ container.name }}' > "$img/templates/hostname.tpl"
  cat > "$img/templates/cloud-init-meta.tpl" <<'EOF'
instance-id: {{ container.name }}
local-hostname: {{ container.name }}
{{ config_get("user.meta-data", "") }}
EOF
  for key in user-data vendor-data network-config; do
    printf '{{ config_get("cloud-init.%s", config_get("user.%s", properties.default)) }}\n' \
      "$key" "$key" > "$img/templates/cloud-init-$key.tpl"
  done
  cat > "$img/metadata.yaml" <<EOF
architecture: x86_64
creation_date: $(date +%s)
properties:
  os: debian
  release: bookworm
  variant: cloud
  description: Debian 12 bookworm with cloud-init (hive test image)
templates:
  /etc/hostname:
    when: [create, copy, start]
    template: hostname.tpl
  /var/lib/cloud/seed/nocloud-net/meta-data:
    when: [create, copy]
    template: cloud-init-meta.tpl
  /var/lib/cloud/seed/nocloud-net/user-data:
    when: [create, copy]
    template: cloud-init-user-data.tpl
    properties:
      default: |
        #cloud-config
        {}
  /var/lib/cloud/seed/nocloud-net/vendor-data:
    when: [create, copy]
    template: cloud-init-vendor-data.tpl
    properties:
      default: |
        #cloud-config
        {}
  /var/lib/cloud/seed/nocloud-net/network-config:
    when: [create, copy]
    template: cloud-init-network-config.tpl
    properties:
      default: |
        version: 1
        config:
          - type: physical
            name: eth0
            subnets:
              - type: dhcp
                control: auto
EOF
  tar -C "$img" --owner=0 --group=0 --numeric-owner -czf "$work/debian.meta.tar.gz" \
    metadata.yaml templates
  publish "$work/debian.rootfs.squashfs"
  publish "$work/debian.meta.tar.gz"
}

# Debian's LXD, from the mirror the guest's apt names (the Debian guest's own), installed in a
# chroot with no service started; then the image is as clean as the Debian one.
build_debian_lxd() {
  local r="$work/debian-lxd"
  unsquashfs -no-progress -d "$r" "$out/debian.rootfs.squashfs" >/dev/null
  printf '#!/bin/sh\nexit 101\n' > "$r/usr/sbin/policy-rc.d"
  chmod +x "$r/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$r/etc/resolv.conf"
  # The image has no device nodes (LXD makes them): the chroot borrows this machine's.
  mount -t proc proc "$r/proc"
  mount --bind /dev "$r/dev"
  local in_root=(chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8
    DEBIAN_FRONTEND=noninteractive)
  # The guest is minbase, without gpgv, so its apt could not check what it fetches: gpgv comes
  # first, fetched (and checked) by this machine's apt.
  if ! "${in_root[@]}" sh -c 'command -v gpgv' >/dev/null; then
    (cd "$work" && apt-get download -qq gpgv) > "$work/apt.log" 2>&1 ||
      { tail -n 20 "$work/apt.log" >&2; log "fetching gpgv failed"; exit 1; }
    mv "$work"/gpgv_*.deb "$r/tmp/"
    "${in_root[@]}" sh -c 'dpkg -i /tmp/gpgv_*.deb && rm /tmp/gpgv_*.deb' >> "$work/apt.log" 2>&1 ||
      { tail -n 20 "$work/apt.log" >&2; log "installing gpgv in the image failed"; exit 1; }
  fi
  if ! { "${in_root[@]}" apt-get update -qq &&
    "${in_root[@]}" apt-get install -y -qq --no-install-recommends lxd lxd-client; } \
    > "$work/apt.log" 2>&1; then
    tail -n 20 "$work/apt.log" >&2
    log "installing LXD in the Debian image failed"; exit 1
  fi
  "${in_root[@]}" lxd --version > /dev/null || { log "lxd does not run in the image"; exit 1; }
  umount "$r/proc" "$r/dev"
  rm -f "$r/usr/sbin/policy-rc.d"
  : > "$r/etc/resolv.conf"
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/*
  find "$r/var/log" -type f -exec truncate -s 0 {} +
  mksquashfs "$r" "$work/debian-lxd.rootfs.squashfs" -noappend -comp gzip -no-progress -quiet \
    > "$work/mksquashfs.log" 2>&1 || { tail -n 20 "$work/mksquashfs.log" >&2; exit 1; }
  publish "$work/debian-lxd.rootfs.squashfs"
}

[ -f "$out/busybox.tar.gz" ] || build_busybox
if [ ! -f "$out/debian.meta.tar.gz" ] || [ ! -f "$out/debian.rootfs.squashfs" ]; then
  log "building the Debian image from $qcow2"
  build_debian
fi
if [ ! -f "$out/debian-lxd.rootfs.squashfs" ]; then
  log "installing LXD into a copy of the Debian image"
  build_debian_lxd
fi
log "built in $SECONDS s: $(du -sh "$out" | cut -f1)"
report
