#!/usr/bin/env bash
# Puts a portability-matrix binary for the requested architecture on the runner: the action's
# first step.
#
# A binary that certifies a release must itself be trustworthy, so this script only ever
# installs one of three things, in this order:
#   1. the file named by the `binary` input, as is (the caller built it);
#   2. a release asset whose SHA-256 matches the checksum pinned in this repository, in
#      dist/checksums/<version>.sha256, for the version named by the `version` input or by the
#      action's ref (v1.2.3, or v1 / v1.2 = the newest pinned release with that prefix);
#   3. a build from this checkout's source with cargo, when the ref names no pinned release
#      (a branch, a commit, `uses: ./`). An explicit `version` never falls back to source.
# A checksum mismatch, a missing checksum, a missing hash tool or a download that keeps failing
# stops the action; an unverified file never reaches the install path.
#
# Inputs (environment): PM_MODE, PM_ARCH, PM_VERSION, PM_BINARY, PM_ACTION_REF,
# PM_ACTION_REPOSITORY, GITHUB_ACTION_PATH, RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP.
# Overrides: PM_RELEASE_BASE_URL (where release assets are downloaded from; https only, plain
# http is accepted for 127.0.0.1/localhost, which exists for tests), PM_CHECKSUMS_DIR,
# PM_DOWNLOAD_RETRIES. Outputs: path, binaries, driver, arch, host-arch, foreign,
# qemu-platform, version, source.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=dist/lib.sh
source "$here/lib.sh"

action_root=${GITHUB_ACTION_PATH:-$(dirname "$here")}
checksums_dir=${PM_CHECKSUMS_DIR:-$action_root/dist/checksums}
mode=${PM_MODE:-cell}
temp=${RUNNER_TEMP:-${TMPDIR:-/tmp}}
install_root=$temp/portability-matrix
retries=${PM_DOWNLOAD_RETRIES:-5}

[[ $mode == cell || $mode == gate ]] || pm_die "mode must be cell or gate, not '$mode'"
[[ $retries =~ ^[0-9]+$ ]] || pm_die "PM_DOWNLOAD_RETRIES must be a number, not '$retries'"
pm_check_linux
host=$(pm_host_arch)
if [[ -z ${PM_ARCH:-} ]]; then
  arch=$host
else
  arch=$(pm_debian_arch "$PM_ARCH") ||
    pm_die "arch '$PM_ARCH' is not one portability-matrix supports (amd64, arm64, riscv64, s390x)"
fi
if [[ $mode == gate && $arch != "$host" ]]; then
  pm_die "the gate runs on the runner's own architecture ($host); leave arch empty in gate mode"
fi
foreign=false
[[ $arch == "$host" ]] || foreign=true

# The version the action's ref names, if any: PM_ACTION_REF (github.action_ref, empty for
# composite actions on some runners), else the ref directory the runner checked the action
# out into (…/_actions/<owner>/<repo>/<ref>).
action_ref() {
  if [[ -n ${PM_ACTION_REF:-} ]]; then
    echo "$PM_ACTION_REF"
  elif [[ $action_root =~ /_actions/[^/]+/[^/]+/([^/]+)/?$ ]]; then
    echo "${BASH_REMATCH[1]}"
  fi
}

# The newest pinned version starting with PREFIX ("1." or "1.2.").
newest_pinned() {
  local f v best=""
  for f in "$checksums_dir"/*.sha256; do
    [[ -f $f ]] || continue
    v=$(basename "$f" .sha256)
    [[ $v == "$1"* ]] || continue
    if [[ -z $best ]] || [[ $(printf '%s\n%s\n' "$best" "$v" | sort -V | tail -n1) == "$v" ]]; then
      best=$v
    fi
  done
  echo "$best"
}

# The pinned checksum of ASSET in FILE (sha256sum format: "<hash>  <name>" or "<hash> *<name>").
pinned_hash() {
  local hash name
  while read -r hash name; do
    [[ ${name#\*} == "$1" ]] || continue
    [[ $hash =~ ^[0-9a-fA-F]{64}$ ]] || pm_die "the pinned checksum of $1 in $2 is not a SHA-256: $hash"
    echo "${hash,,}"
    return
  done <"$2"
}

# The action's repository: PM_ACTION_REPOSITORY (github.action_repository), else the checkout
# directory (…/_actions/<owner>/<repo>/<ref>), else the project's own.
action_repository() {
  if [[ -n ${PM_ACTION_REPOSITORY:-} ]]; then
    echo "$PM_ACTION_REPOSITORY"
  elif [[ $action_root =~ /_actions/([^/]+)/([^/]+)/[^/]+/?$ ]]; then
    echo "${BASH_REMATCH[1]}/${BASH_REMATCH[2]}"
  else
    echo org/portability-matrix
  fi
}

base_url() {
  local repo
  repo=$(action_repository)
  local url=${PM_RELEASE_BASE_URL:-https://github.com/$repo/releases/download}
  if [[ $url =~ ^https:// ]] || [[ $url =~ ^http://(127\.0\.0\.1|localhost)(:[0-9]+)?(/|$) ]]; then
    echo "${url%/}"
  else
    pm_die "release downloads must use https (plain http is accepted only for 127.0.0.1 and localhost, for tests): $url"
  fi
}

# download_verified VERSION ARCH: the asset for ARCH, checked against the pinned checksum, at
# $install_root/<version>/<arch>/portability-matrix.
download_verified() {
  local version=$1 a=$2 asset expected actual url dest tmp proto
  asset="portability-matrix-$version-linux-$a"
  expected=$(pinned_hash "$asset" "$checksums_dir/$version.sha256")
  [[ -n $expected ]] || pm_die "no checksum for $asset is pinned in $checksums_dir/$version.sha256; refusing to install an unverified binary"
  url="$(base_url)/v$version/$asset"
  dest="$install_root/$version/$a"
  mkdir -p "$dest"
  tmp=$(mktemp "$dest/.download.XXXXXX")
  proto="=https"
  [[ $url == http://* ]] && proto="=http"
  echo "downloading $url"
  if ! curl --fail --silent --show-error --location --proto "$proto" --proto-redir =https \
    --retry "$retries" --retry-delay 1 --retry-connrefused --connect-timeout 20 \
    --output "$tmp" "$url"; then
    rm -f "$tmp"
    pm_die "could not download $url after $((retries + 1)) attempts"
  fi
  # pm_sha256 reports its own error (no hash tool, unreadable file); never keep the download then.
  actual=$(pm_sha256 "$tmp") || {
    rm -f "$tmp"
    exit 2
  }
  if [[ $actual != "$expected" ]]; then
    rm -f "$tmp"
    pm_die "checksum mismatch for $asset: downloaded $actual, pinned $expected; the file was deleted"
  fi
  echo "verified $asset: sha256 $actual"
  chmod 755 "$tmp"
  mv -f "$tmp" "$dest/portability-matrix"
}

# build_from_source: this checkout built with cargo, for the host or (foreign) for the cell's
# arch and the host's, after installing the cross toolchains that needs.
build_from_source() {
  local out="$install_root/source"
  command -v cargo >/dev/null 2>&1 ||
    pm_die "no pinned release matches this action's ref, so it builds from source, and cargo is not installed; install Rust first or pass 'version' or 'binary'"
  [[ -f $action_root/Cargo.toml ]] || pm_die "no Cargo.toml in $action_root to build from"
  pm_group "Build portability-matrix from source ($action_root)"
  if [[ $foreign == false ]]; then
    # With the gate's GitHub transport: the same binary serves `mode: gate`.
    CARGO_TARGET_DIR="$install_root/target" cargo build --release --locked --features github \
      --manifest-path "$action_root/Cargo.toml" ||
      pm_die "cargo build failed in $action_root"
    mkdir -p "$out/$arch"
    cp "$install_root/target/release/portability-matrix" "$out/$arch/portability-matrix"
  else
    pm_cli_install_matrix_deps "$action_root" ||
      pm_die "scripts/install-matrix-deps.sh failed; the cross-build of the $arch binary needs its toolchains"
    pm_cli_cross_build "$action_root" "$arch" "$host" ||
      pm_die "scripts/cross-build.sh $arch $host failed in $action_root"
    local a
    for a in "$arch" "$host"; do
      if [[ -x $action_root/target/cross/$a/portability-matrix ]]; then
        mkdir -p "$out/$a"
        cp "$action_root/target/cross/$a/portability-matrix" "$out/$a/portability-matrix"
      fi
    done
  fi
  pm_endgroup
  [[ -x $out/$arch/portability-matrix ]] || pm_die "the source build produced no binary for $arch"
  binaries=$out
  source_kind=source
}

binaries=""
version=""
source_kind=""
if [[ -n ${PM_BINARY:-} ]]; then
  [[ -f $PM_BINARY ]] || pm_die "binary '$PM_BINARY' does not exist"
  [[ -x $PM_BINARY ]] || pm_die "binary '$PM_BINARY' is not executable (chmod +x it; artifacts lose the bit)"
  bin=$(cd "$(dirname "$PM_BINARY")" && pwd)/$(basename "$PM_BINARY")
  source_kind=binary
  if [[ $bin == */$arch/portability-matrix ]]; then
    # A cross-build tree (<dir>/<arch>/portability-matrix): the matrix can use it as is, and it
    # may hold the host's binary too.
    binaries=${bin%/"$arch"/portability-matrix}
  else
    binaries="$install_root/given"
    mkdir -p "$binaries/$arch"
    ln -sf "$bin" "$binaries/$arch/portability-matrix"
  fi
else
  explicit=false
  if [[ -n ${PM_VERSION:-} ]]; then
    version=${PM_VERSION#v}
    explicit=true
  else
    ref=$(action_ref)
    if [[ $ref =~ ^v?([0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?)$ ]]; then
      version=${BASH_REMATCH[1]}
    elif [[ $ref =~ ^v?([0-9]+(\.[0-9]+)?)$ ]]; then
      version=$(newest_pinned "${BASH_REMATCH[1]}.")
      [[ -n $version ]] || echo "no release pinned in $checksums_dir matches ref $ref"
    fi
  fi
  if [[ -n $version ]]; then
    [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] ||
      pm_die "version '${PM_VERSION:-}' is not a release version (1.2.3)"
  fi
  if [[ -n $version && -f $checksums_dir/$version.sha256 ]]; then
    command -v sha256sum >/dev/null 2>&1 || command -v shasum >/dev/null 2>&1 ||
      pm_die "neither sha256sum nor shasum is installed; cannot verify a downloaded binary"
    command -v curl >/dev/null 2>&1 || pm_die "curl is needed to download the release binary"
    pm_group "Install portability-matrix $version ($arch)"
    download_verified "$version" "$arch"
    if [[ $foreign == true ]]; then
      # The host's binary drives the matrix when the cell needs a provisioned filesystem.
      host_hash=$(pinned_hash "portability-matrix-$version-linux-$host" "$checksums_dir/$version.sha256")
      if [[ -n $host_hash ]]; then
        download_verified "$version" "$host"
      else
        echo "no $host asset is pinned for $version; non-default filesystems will need one"
      fi
    fi
    pm_endgroup
    binaries="$install_root/$version"
    source_kind=release
  elif [[ $explicit == true ]]; then
    pm_die "version $version has no checksums pinned in $checksums_dir/$version.sha256; refusing to download an unverified binary"
  else
    pm_annotate notice "portability-matrix" "no pinned release matches the action's ref '${ref:-(local)}'; building from source"
    build_from_source
  fi
  bin="$binaries/$arch/portability-matrix"
fi

driver=""
if [[ $foreign == false ]]; then
  driver=$bin
elif [[ -x $binaries/$host/portability-matrix ]]; then
  driver="$binaries/$host/portability-matrix"
fi
if [[ $foreign == false ]]; then
  tool_version=$("$bin" --version 2>&1) || pm_die "$bin does not run on this $host runner: $tool_version"
  echo "installed: $tool_version"
  [[ -n $version ]] || version=$(awk '{print $2; exit}' <<<"$tool_version")
fi

pm_output path "$bin"
pm_output binaries "$binaries"
pm_output driver "$driver"
pm_output arch "$arch"
pm_output host-arch "$host"
pm_output foreign "$foreign"
pm_output qemu-platform "$(if [[ $foreign == true ]]; then echo "$arch"; fi)"
pm_output version "$version"
pm_output source "$source_kind"
