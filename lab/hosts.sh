#!/usr/bin/env bash
# A lab of test hosts on this machine, for multi-host hive.
#
#   bash lab/hosts.sh up N     makes hosts hive-h1 .. hive-hN (those already up are kept) and
#                              prints one line per host: NAME ADDRESS USER KEY_FILE
#   bash lab/hosts.sh list     prints the same lines for the hosts that are up
#   bash lab/hosts.sh down     removes every host and everything in it
#   bash lab/hosts.sh install  installs what the hosts need (lab/setup.sh does)
#
# Each host is a network namespace with its own address on the bridge hivehosts0 (10.231.0.1/24
# in this namespace; host K is 10.231.0.(10+K)), so hosts reach each other and this machine;
# its own sshd on port 22 with its own host key; and its own libvirtd, in a mount namespace of
# its own (and a host name of its own) with private /run/libvirt, /var/lib/libvirt, /etc/libvirt and hive's own directories
# (/var/lib/hive, /var/log/hive), so that two hosts share nothing but the kernel. The sshd
# runs in that mount namespace too: `qemu+ssh://` and commands over SSH reach that host's
# libvirtd and files. Login is root with the lab's key; the hosts' keys are in the lab's
# known_hosts file (both named on stderr). Nothing here leaves this machine: the bridge has
# no route out and no NAT.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf 'hosts: %s\n' "$*" >&2; }
. "$here/lib.sh"

lab=/var/lib/hive-lab-hosts
bridge=hivehosts0
net=10.231.0
key="$lab/id_ed25519"
known="$lab/known_hosts"

[ "$(id -u)" = 0 ] || { log "must run as root (namespaces, daemons)"; exit 1; }

address_of() { echo "$net.$((10 + ${1#hive-h}))"; }
pid_of() { cat "$lab/$1/sshd.pid" 2>/dev/null; }
alive() { local pid; pid=$(pid_of "$1") && kill -0 "$pid" 2>/dev/null; }
line() { echo "$1 $(address_of "$1") root $key"; }

# Installing openssh-server must not start an sshd of Debian's on this machine's port 22.
install_packages() {
  local policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' RETURN
  fi
  need_packages openssh-server openssh-client iproute2 util-linux
}

ensure_bridge() {
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add "$net.1/24" dev "$bridge"
  fi
  ip link set "$bridge" up
}

ensure_key() {
  mkdir -p "$lab"
  chmod 755 "$lab"
  [ -f "$key" ] || ssh-keygen -q -t ed25519 -N '' -C hive-lab-hosts -f "$key"
  touch "$known"
}

# A private copy of libvirt's configuration: no pools, networks or domains of this machine's.
libvirt_config() { # DIR
  local etc="$1/etc"
  mkdir -p "$etc"
  if [ -d /etc/libvirt ]; then
    cp -a /etc/libvirt/. "$etc/"
    rm -f "$etc"/storage/*.xml "$etc"/storage/autostart/*.xml "$etc"/qemu/*.xml \
      "$etc"/qemu/networks/*.xml "$etc"/qemu/networks/autostart/*.xml
  fi
}

up_one() { # NAME
  local name=$1 dir="$lab/$1" addr
  addr=$(address_of "$name")
  if alive "$name"; then record_key "$name"; return; fi
  # The host is there but its sshd stopped (a test stops it to see the host DOWN): its sshd
  # starts again, in the host's own namespaces, with the same host key.
  local daemon
  if daemon=$(cat "$dir/libvirtd.pid" 2>/dev/null) && kill -0 "$daemon" 2>/dev/null; then
    # -r: the daemon's root, not the mount namespace's own (they differ in a chroot).
    nsenter -t "$daemon" -m -n -u -r /usr/sbin/sshd -f "$dir/sshd_config"
    local deadline=$((SECONDS + 90))
    until ssh -i "$key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
      -o LogLevel=ERROR -o ConnectTimeout=2 "root@$addr" true 2>/dev/null; do
      [ $SECONDS -lt $deadline ] || { log "$name: sshd does not answer on $addr"; exit 1; }
      sleep 0.2
    done
    record_key "$name"
    return
  fi
  down_one "$name" # whatever a half-made host left
  mkdir -p "$dir"/{run,lib,log,hive,hivelog,pool,sshd}
  libvirt_config "$dir"
  ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$dir/ssh_host_ed25519_key"
  cp "$key.pub" "$dir/authorized_keys"
  chmod 600 "$dir/authorized_keys"
  cat > "$dir/sshd_config" <<EOF
ListenAddress $addr
Port 22
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
EOF

  ip netns add "$name"
  ip link add "h-$name" type veth peer name eth0 netns "$name"
  ip link set "h-$name" master "$bridge" up
  ip -n "$name" addr add "$addr/24" dev eth0
  ip -n "$name" link set lo up
  ip -n "$name" link set eth0 up
  ip -n "$name" route add default via "$net.1"

  # One mount namespace for the host's daemons: its libvirtd (when this machine has one) and
  # its sshd, started last so that it sees the others' sockets.
  local daemons="hostname $name && mkdir -p /run/sshd"
  if [ -x /usr/sbin/libvirtd ]; then
    daemons="$daemons && mount --bind $dir/run /run/libvirt && mount --bind $dir/lib /var/lib/libvirt &&
      mount --bind $dir/etc /etc/libvirt && mount --bind $dir/log /var/log/libvirt &&
      /usr/sbin/virtlogd -d -p $dir/virtlogd.pid && /usr/sbin/libvirtd -d --pid-file $dir/libvirtd.pid"
  fi
  mkdir -p /var/lib/hive /var/log/hive /var/log/libvirt /run/libvirt /var/lib/libvirt /etc/libvirt
  daemons="$daemons && mount --bind $dir/hive /var/lib/hive && mount --bind $dir/hivelog /var/log/hive &&
    /usr/sbin/sshd -f $dir/sshd_config"
  ip netns exec "$name" unshare -m -u --propagation private sh -c "$daemons" ||
    { log "$name: starting its daemons failed"; exit 1; }

  local deadline=$((SECONDS + 90))
  until ssh -i "$key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -o ConnectTimeout=2 "root@$addr" true 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { log "$name: sshd does not answer on $addr"; exit 1; }
    sleep 0.2
  done
  if [ -x /usr/sbin/libvirtd ]; then
    until ssh -i "$key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
      "root@$addr" "virsh -c qemu:///system version" >/dev/null 2>&1; do
      [ $SECONDS -lt $deadline ] || { log "$name: its libvirtd does not answer"; exit 1; }
      sleep 0.2
    done
    # The storage pool hive's libvirt provider uses, private to the host.
    ssh -i "$key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
      "root@$addr" "virsh -q -c qemu:///system pool-define-as hive dir --target $dir/pool &&
        virsh -q -c qemu:///system pool-start hive && virsh -q -c qemu:///system pool-autostart hive" \
      >/dev/null
  fi
  record_key "$name"
}

# The host's key, as a client records it.
record_key() { # NAME
  local addr dir="$lab/$1"
  addr=$(address_of "$1")
  grep -v "^$addr " "$known" > "$known.new" || true
  echo "$addr $(cut -d' ' -f1,2 "$dir/ssh_host_ed25519_key.pub")" >> "$known.new"
  mv "$known.new" "$known"
}

down_one() { # NAME
  local name=$1 dir="$lab/$1" pids attempt
  if ip netns list | grep -qw "^$name"; then
    # Every process in the host's network namespace (its daemons, its guests' QEMU), then
    # the namespace.
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
      pids=$(ip netns pids "$name" 2>/dev/null || true)
      [ -n "$pids" ] || break
      if [ "$attempt" -lt 6 ]; then kill $pids 2>/dev/null || true; else kill -9 $pids 2>/dev/null || true; fi
      sleep 0.3
    done
    ip netns del "$name"
  fi
  ip link del "h-$name" 2>/dev/null || true
  rm -rf --one-file-system "$dir"
  [ ! -f "$known" ] || { grep -v "^$(address_of "$name") " "$known" > "$known.new" || true; mv "$known.new" "$known"; }
}

hosts_up() { ls "$lab" 2>/dev/null | grep -E '^hive-h[0-9]+$' | sort -V || true; }

case "${1:-}" in
  install)
    install_packages
    ;;
  up)
    n=${2:-}
    [[ "$n" =~ ^[1-9][0-9]?$ ]] || { log "usage: hosts.sh up N (1 to 99)"; exit 1; }
    install_packages
    ensure_bridge
    ensure_key
    for i in $(seq 1 "$n"); do up_one "hive-h$i"; done
    log "key: $key; known hosts: $known"
    for i in $(seq 1 "$n"); do line "hive-h$i"; done
    ;;
  list)
    for name in $(hosts_up); do alive "$name" && line "$name"; done
    ;;
  down)
    for name in $(hosts_up); do down_one "$name"; done
    for name in $(ip netns list | awk '{print $1}' | grep -E '^hive-h[0-9]+$' || true); do
      down_one "$name"
    done
    ip link del "$bridge" 2>/dev/null || true
    rm -f "$known"
    ;;
  *)
    log "usage: hosts.sh up N | list | down | install"
    exit 1
    ;;
esac
