#!/usr/bin/env bash
# The stored-volume example, start to end: the lab's S3 server on loopback, a VM that writes
# to its S3-backed volume, a snapshot, a destroy and a re-apply that finds the data again.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
hive=${HIVE:-$root/target/release/hive}
s3dir=${S3_DIR:-/var/tmp/hive-demo-s3}
s3port=${S3_PORT:-9100}
export HIVE_VAR_s3_endpoint="http://127.0.0.1:$s3port"
# The configuration directory: this one, or a copy of it (the tests run the demo in theirs).
config=${DEMO_DIR:-$here}
run() { echo "\$ hive $*" >&2; "$hive" -C "$config" "$@"; }
# The 64 MiB disk in the guest (the tiny guest boots its kernel directly: no root disk).
device='dev=$(for d in /sys/block/vd*; do [ "$(cat $d/size)" = 131072 ] && echo /dev/${d##*/}; done)'

echo "== the lab's S3 server (SeaweedFS) on 127.0.0.1:$s3port, and the bucket hive-demo"
bash "$root/lab/s3.sh" start "$s3dir" "$s3port"
bash "$root/lab/s3.sh" bucket "$s3port" hive-demo

echo "== apply: a VM with a volume kept in the store (restored if the store has it)"
run apply -auto-approve
echo "== the guest writes to its volume"
stamp="written by $(hostname) at $(date -u +%FT%TZ)"
run ssh instance.vm -- "$device; printf '%s\n' '$stamp' | dd of=\$dev conv=notrunc 2>/dev/null; sync"
echo "== hive snapshot: only chunks the store lacks are sent; the guest is paused meanwhile"
run snapshot volume.data
echo "== destroy: the volume is snapshotted first (snapshot_on_destroy), then everything goes"
run destroy -auto-approve
echo "== apply again: the volume is restored from its latest snapshot"
run apply -auto-approve
run output restored_from
echo "== the guest reads what it wrote before the destroy"
back=$(run ssh instance.vm -- "$device; head -n 1 \$dev")
echo "$back"
if [ "$back" != "$stamp" ]; then
  echo "demo: the data did not come back (expected: $stamp)" >&2
  exit 1
fi
echo "== the data survived destroy and re-apply"
echo "Remove it:  $hive -C $config destroy   (the snapshots stay in the bucket; stop the server with bash lab/s3.sh stop $s3dir)"
