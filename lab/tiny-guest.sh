#!/usr/bin/env bash
# Builds the tiny test guest: Debian's cloud kernel plus a busybox + dropbear initramfs, for
# direct kernel boot. At boot it reads hostname and SSH keys from a NoCloud seed ISO (label
# cidata), DHCPs every NIC, starts SSH and prints HIVE-TINY-READY on the serial console.
#
# The result is cached under $HIVE_TEST_CACHE (default /var/cache/hive-test) keyed by the
# recipe (this script and the package versions it uses), so a second run takes a moment.
# Prints the directory holding vmlinuz and initrd.img.
set -euo pipefail

cache="${HIVE_TEST_CACHE:-/var/cache/hive-test}"
log() { printf 'tiny-guest: %s\n' "$*" >&2; }

# The cloud kernel package this Debian release points at.
find_kernel() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}'; }
kernel_pkg=$(find_kernel)
if [ -z "$kernel_pkg" ]; then
  apt-get update -qq
  kernel_pkg=$(find_kernel)
fi
[ -n "$kernel_pkg" ] || { log "cannot find the cloud kernel package (run apt-get update)"; exit 1; }
versions="$kernel_pkg $(apt-cache policy "$kernel_pkg" | awk '/Candidate/ {print $2}')"
versions="$versions $(dpkg-query -W -f='${Version}' busybox-static dropbear-bin 2>/dev/null)"
recipe=$( { cat "$0"; echo "$versions"; } | sha256sum | cut -c1-16)
out="$cache/tiny/$recipe"
if [ -f "$out/initrd.img" ] && [ -f "$out/vmlinuz" ]; then
  ln -sfn "$out" "$cache/tiny/current"
  echo "$out"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "building $out from $kernel_pkg"
(cd "$work" && apt-get download -qq "$kernel_pkg" 2>/dev/null)
dpkg-deb -x "$work"/"$kernel_pkg"_*.deb "$work/kernel"
kver=${kernel_pkg#linux-image-}
moddir="$work/kernel/lib/modules/$kver"

root="$work/root"
mkdir -p "$root"/{bin,sbin,etc/dropbear,proc,sys,dev,run,tmp,seed,root/.ssh,lib/modules,usr/share/udhcpc,var/log}
cp /bin/busybox "$root/bin/busybox"

# Kernel modules the guest needs, with their dependencies first.
wanted="virtio_pci virtio_net virtio_blk virtio_console ata_piix sr_mod isofs button evdev"
order=()
declare -A seen=()
add_module() {
  local name=$1 file deps dep
  [ -n "${seen[$name]:-}" ] && return 0
  seen[$name]=1
  file=$(find "$moddir" -name "$name.ko" -o -name "${name//_/-}.ko" | head -n 1)
  [ -n "$file" ] || return 0 # built into the kernel
  deps=$(modinfo -F depends "$file" | tr ',' ' ')
  for dep in $deps; do add_module "$dep"; done
  cp "$file" "$root/lib/modules/$name.ko"
  order+=("$name")
}
for m in $wanted; do add_module "$m"; done
printf '%s\n' "${order[@]}" > "$root/etc/modules.order"

# dropbear and the libraries it links.
cp /usr/sbin/dropbear /usr/bin/dropbearkey "$root/bin/"
for lib in $(ldd /usr/sbin/dropbear /usr/bin/dropbearkey | awk '/=>/ {print $3} /ld-linux/ {print $1}' | sort -u); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

cat > "$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
EOF
echo 'root:*:19000:0:99999:7:::' > "$root/etc/shadow"
echo '/bin/sh' > "$root/etc/shells"

cat > "$root/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
# Applies a DHCP lease with busybox ip.
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    echo "lease $interface $ip" > /dev/console ;;
esac
exit 0
EOF
chmod +x "$root/usr/share/udhcpc/default.script"

cat > "$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
for m in $(cat /etc/modules.order); do insmod "/lib/modules/$m.ko" 2>/dev/null; done

# The NoCloud seed: a CD (IDE) or a virtio disk labelled cidata.
for i in $(seq 50); do
  for dev in /dev/sr0 /dev/sr1 /dev/vd*; do
    [ -b "$dev" ] || continue
    mount -t iso9660 -o ro "$dev" /seed 2>/dev/null && break 2
  done
  sleep 0.1
done
name=tiny
if [ -f /seed/meta-data ]; then
  n=$(sed -n 's/^local-hostname:[ ]*//p' /seed/meta-data | tr -d '"'"'" | head -n 1)
  [ -n "$n" ] && name=$n
fi
if [ -f /seed/user-data ]; then
  h=$(sed -n 's/^hostname:[ ]*//p' /seed/user-data | tr -d '"'"'" | head -n 1)
  [ -n "$h" ] && name=$h
  # The list under ssh_authorized_keys: "  - ssh-ed25519 AAAA... comment"
  awk '/^ssh_authorized_keys:/ {keys=1; next} keys && /^[ ]*- / {sub(/^[ ]*- /, ""); gsub(/["'"'"']/, ""); print; next} keys && /^[^ ]/ {keys=0}' /seed/user-data > /root/.ssh/authorized_keys
fi
hostname "$name"
chmod 700 /root /root/.ssh
chmod 600 /root/.ssh/authorized_keys 2>/dev/null

ip link set lo up
for path in /sys/class/net/*; do
  nic=${path##*/}
  [ "$nic" = lo ] && continue
  ip link set "$nic" up
  udhcpc -i "$nic" -b -t 30 -T 2 -A 3 -q -s /usr/share/udhcpc/default.script >/dev/null 2>&1 &
done

dropbear -R -E -p 22 2>/dev/null
# ACPI power button: shut down cleanly when libvirt asks.
mkdir -p /etc/acpi/PWRF
printf '#!/bin/sh\npoweroff -f\n' > /etc/acpi/PWRF/00000080
chmod +x /etc/acpi/PWRF/00000080
acpid -c /etc/acpi 2>/dev/null
echo "HIVE-TINY-READY $name" > /dev/console
while true; do sleep 3600; done
EOF
chmod +x "$root/init"

mkdir -p "$out.tmp"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.tmp/initrd.img"
cp "$work/kernel/boot/vmlinuz-$kver" "$out.tmp/vmlinuz"
rm -rf "$out"
mv "$out.tmp" "$out"
ln -sfn "$out" "$cache/tiny/current"
log "built in $SECONDS s: $(du -sh "$out" | cut -f1)"
echo "$out"
