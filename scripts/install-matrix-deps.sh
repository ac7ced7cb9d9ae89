#!/usr/bin/env bash
# Installs what the full matrix needs on a Debian or Ubuntu machine: QEMU user emulation with
# binfmt_misc handlers, mkfs for the matrix filesystems, the cross C toolchains (linkers and
# static libc for each foreign architecture) and a Rust standard library for each foreign target.
#
# Rust for foreign targets comes by one of two routes; scripts/cross-build.sh detects the same:
#   rustup  `rustup target add` (the normal route, e.g. on GitHub's Ubuntu runners);
#   debian  Debian's rustc-web/cargo-web at /usr/bin, libstd-rust-web-dev:arm64 for aarch64 and
#           rust-web-src to build std from source for riscv64 and s390x (for machines that cannot
#           reach rustup's download server).
# CROSS_ROUTE=rustup|debian forces one. Idempotent: when everything is present it only checks.
set -euo pipefail

TARGETS=(aarch64-unknown-linux-gnu riscv64gc-unknown-linux-gnu s390x-unknown-linux-gnu)
QEMU_ARCHES=(aarch64 riscv64 s390x)
ROUTE=${CROSS_ROUTE:-auto}

say() { echo "install-matrix-deps: $*" >&2; }
# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

# 1. Emulation, filesystems, inspection tools, cross linkers and static C libraries.
apt_install qemu-user-static binfmt-support xfsprogs e2fsprogs file binutils util-linux \
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
  gcc-riscv64-linux-gnu libc6-dev-riscv64-cross \
  gcc-s390x-linux-gnu libc6-dev-s390x-cross

# 2. A Rust standard library for each foreign target.
rustup_targets_ok() {
  command -v rustup >/dev/null 2>&1 || return 1
  local installed t
  installed=$(rustup target list --installed 2>/dev/null) || return 1
  for t in "${TARGETS[@]}"; do grep -qx "$t" <<<"$installed" || return 1; done
}

debian_route_ok() {
  [[ -x /usr/bin/cargo && -x /usr/bin/rustc ]] &&
    [[ -z $(missing_pkgs rustc-web cargo-web rust-web-src libstd-rust-web-dev:arm64) ]]
}

if [[ $ROUTE == auto ]] && ! rustup_targets_ok && debian_route_ok; then
  ROUTE=debian # already installed: nothing to download
fi
if [[ $ROUTE == auto || $ROUTE == rustup ]]; then
  if rustup_targets_ok; then
    ROUTE=rustup
  elif command -v rustup >/dev/null 2>&1 &&
    timeout "${RUSTUP_TIMEOUT:-300}" rustup target add "${TARGETS[@]}" >/dev/null 2>&1 &&
    rustup_targets_ok; then
    say "added rustup targets ${TARGETS[*]}"
    ROUTE=rustup
  elif [[ $ROUTE == rustup ]]; then
    say "CROSS_ROUTE=rustup but 'rustup target add ${TARGETS[*]}' failed"
    exit 1
  else
    say "rustup cannot add the foreign targets here; taking the Debian route"
    ROUTE=debian
  fi
fi

if [[ $ROUTE == debian ]]; then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    say "dpkg --add-architecture arm64"
    $sudo dpkg --add-architecture arm64
    apt_updated=0
  fi
  apt_install rustc-web cargo-web rust-web-src libstd-rust-web-dev:arm64
fi
say "Rust cross route: $ROUTE"

# 3. binfmt_misc handlers, so that a static foreign binary runs like a native one. Needs root;
#    without it the matrix falls back to running qemu-<arch>-static explicitly.
if [[ $(id -u) -eq 0 || -n $sudo ]]; then
  bm=/proc/sys/fs/binfmt_misc
  if [[ ! -e $bm/register ]]; then
    $sudo mount -t binfmt_misc binfmt_misc "$bm" 2>/dev/null ||
      say "could not mount binfmt_misc at $bm; foreign cells will use explicit QEMU"
  fi
  if [[ -e $bm/register ]]; then
    for a in "${QEMU_ARCHES[@]}"; do
      if [[ -f $bm/qemu-$a ]] && head -n1 "$bm/qemu-$a" | grep -qx enabled; then continue; fi
      if $sudo update-binfmts --enable "qemu-$a" 2>/dev/null; then
        say "enabled binfmt_misc handler qemu-$a"
      elif [[ -d /usr/lib/binfmt.d ]] && command -v systemctl >/dev/null 2>&1 &&
        $sudo systemctl restart systemd-binfmt 2>/dev/null; then
        say "registered binfmt_misc handlers through systemd-binfmt"
      else
        say "could not enable binfmt_misc handler qemu-$a; that cell will use explicit QEMU"
      fi
    done
  fi
else
  say "not root: binfmt_misc handlers not registered (the matrix falls back to explicit QEMU)"
fi
