# Installing Debian packages from the project's scripts, sourced (never run): what is installed
# already is left alone, `apt-get update` runs at most once (set `apt_updated=0` to ask for it
# again, after `dpkg --add-architecture`), and APT_UPDATE=no skips it. The sourcing script
# defines `say` for its messages; `sudo` is used when not root and it exists.
# shellcheck shell=bash

sudo=""
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi

# The packages among "$@" that are not installed, one a line.
missing_pkgs() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}

apt_updated=0
apt_update() {
  if ((apt_updated == 0)) && [[ ${APT_UPDATE:-auto} != no ]]; then
    say "apt-get update"
    $sudo apt-get update -qq
    apt_updated=1
  fi
}

# Installs the packages among "$@" that are missing, without recommends.
apt_install() {
  local missing
  mapfile -t missing < <(missing_pkgs "$@")
  ((${#missing[@]})) || return 0
  apt_update
  say "installing ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}
