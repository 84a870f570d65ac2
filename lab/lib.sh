# What the lab scripts share; sourced, after the caller has defined log().

# Installs the Debian packages named (none: nothing to do), with extra apt-get options in
# APT_OPTIONS.
apt_install() {
  (($#)) || return 0
  log "installing $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq ${APT_OPTIONS:-} "$@" >/dev/null
}

# Installs those of the packages named that dpkg does not have.
need_packages() {
  local p missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  apt_install "${missing[@]}"
}
