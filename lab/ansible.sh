#!/usr/bin/env bash
# Ansible for the inventory tests (`hive output -format ansible`): ansible-core from PyPI in a
# venv of its own, so the machine's Python is left alone. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log() { printf 'ansible: %s\n' "$*"; }
. "$here/lib.sh"

version=2.17.7
venv=/opt/hive-test/ansible
if [[ -x "$venv/bin/ansible" ]] && [[ "$(cat "$venv/.version" 2>/dev/null)" == "$version" ]]; then
  exit 0
fi
need_packages python3-venv python3-pip openssh-client
log "installing ansible-core $version into $venv"
rm -rf "$venv"
/usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "ansible-core==$version"
echo "$version" >"$venv/.version"
