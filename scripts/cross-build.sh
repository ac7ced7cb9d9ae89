#!/usr/bin/env bash
# Builds the `portability-matrix` cell binary as a statically linked executable for each matrix
# architecture, into target/cross/<debian-arch>/portability-matrix.
#
# Static, because a foreign binary runs under binfmt_misc/QEMU on a host that has no loader and
# no libc for that architecture. Built with --no-default-features: the `github` feature (the
# gate's TLS transport) is for the native gate only; the CLI is the same.
#
# Two routes, detected (or forced with CROSS_ROUTE=rustup|debian), and printed:
#   rustup  rustup's cargo with `rustup target add`ed standard libraries (GitHub's runners);
#   debian  Debian's /usr/bin/cargo and /usr/bin/rustc (rustc-web): aarch64 against
#           libstd-rust-web-dev:arm64, riscv64 and s390x with std built from rust-web-src
#           (-Zbuild-std), for machines that cannot reach rustup's download server.
# scripts/install-matrix-deps.sh installs either route's prerequisites.
#
# Usage: scripts/cross-build.sh [ARCH...]   (default: amd64 arm64 riscv64 s390x)
# CROSS_PROFILE=dist builds with the release assets' profile (thin LTO, minutes slower per
# target); the default, release, is what the matrix's cells need.
# Builds are incremental: cargo's target directory lives under ~/.cache (CROSS_TARGET_DIR
# overrides), so a second run on the same machine only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${CROSS_PROFILE:-release}
ARCHES=("$@")
((${#ARCHES[@]})) || ARCHES=(amd64 arm64 riscv64 s390x)
OUT=${CROSS_OUT:-target/cross}

triple_of() {
  case $1 in
    amd64) echo x86_64-unknown-linux-gnu ;;
    arm64) echo aarch64-unknown-linux-gnu ;;
    riscv64) echo riscv64gc-unknown-linux-gnu ;;
    s390x) echo s390x-unknown-linux-gnu ;;
    *) echo "cross-build: unknown architecture '$1' (known: amd64 arm64 riscv64 s390x)" >&2; return 1 ;;
  esac
}
gcc_of() {
  case $1 in
    amd64) if [[ $(uname -m) == x86_64 ]]; then echo cc; else echo x86_64-linux-gnu-gcc; fi ;;
    arm64) if [[ $(uname -m) == aarch64 ]]; then echo cc; else echo aarch64-linux-gnu-gcc; fi ;;
    riscv64) echo riscv64-linux-gnu-gcc ;;
    s390x) echo s390x-linux-gnu-gcc ;;
  esac
}
# What `readelf -h` calls each machine.
machine_of() {
  case $1 in
    amd64) echo "X86-64" ;;
    arm64) echo "AArch64" ;;
    riscv64) echo "RISC-V" ;;
    s390x) echo "S/390" ;;
  esac
}

rustup_has() {
  command -v rustup >/dev/null 2>&1 || return 1
  local installed t
  installed=$(rustup target list --installed 2>/dev/null) || return 1
  for t in "$@"; do grep -qx "$t" <<<"$installed" || return 1; done
}

TRIPLES=()
for a in "${ARCHES[@]}"; do TRIPLES+=("$(triple_of "$a")"); done

ROUTE=${CROSS_ROUTE:-}
if [[ -z $ROUTE ]]; then
  if rustup_has "${TRIPLES[@]}"; then
    ROUTE=rustup
  elif [[ -x /usr/bin/cargo && -x /usr/bin/rustc ]]; then
    ROUTE=debian
  else
    echo "cross-build: no route: rustup has not got the targets ${TRIPLES[*]} and Debian's" \
      "rustc-web is not installed; run scripts/install-matrix-deps.sh first" >&2
    exit 2
  fi
fi

case $ROUTE in
  rustup)
    CARGO=(cargo)
    RUSTC_BIN=$(rustup which rustc 2>/dev/null || command -v rustc)
    ;;
  debian)
    # rustup's cargo usually comes first on PATH: name Debian's by full path.
    CARGO=(/usr/bin/cargo)
    RUSTC_BIN=/usr/bin/rustc
    ;;
  *) echo "cross-build: CROSS_ROUTE must be rustup or debian, not '$ROUTE'" >&2; exit 2 ;;
esac
echo "cross-build: route $ROUTE ($("$RUSTC_BIN" -V)), profile $PROFILE"
HOST_TRIPLE=$("$RUSTC_BIN" -vV | sed -n 's/^host: //p')

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/portability-matrix
TARGET_DIR=${CROSS_TARGET_DIR:-$CACHE/cross-$ROUTE}
export RUSTC=$RUSTC_BIN
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# The commit is recorded in every binary; read it here so build.rs does not depend on where
# the .git directory is.
PM_BUILD_COMMIT=${PM_BUILD_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
export PM_BUILD_COMMIT

status=0
for a in "${ARCHES[@]}"; do
  triple=$(triple_of "$a")
  linker=$(gcc_of "$a")
  if ! command -v "$linker" >/dev/null 2>&1; then
    echo "cross-build: $a: linker $linker not found; run scripts/install-matrix-deps.sh" >&2
    status=1
    continue
  fi
  extra=()
  env_extra=()
  export CARGO_TARGET_DIR=$TARGET_DIR
  # Debian ships no matching std for riscv64 and s390x: build it from rust-web-src. Those
  # builds get their own target directory: build scripts watch RUSTC_BOOTSTRAP, and sharing
  # one directory with the other targets would rebuild everything at every switch.
  if [[ $ROUTE == debian && ($a == riscv64 || $a == s390x) ]]; then
    extra=(-Zbuild-std=std,panic_abort)
    env_extra=(RUSTC_BOOTSTRAP=1)
    export CARGO_TARGET_DIR=$TARGET_DIR-build-std
  fi
  upper=$(tr 'a-z-' 'A-Z_' <<<"$triple")
  # For the host's own triple the linker setting would also reach build scripts and proc
  # macros, changing their fingerprints and rebuilding everything when the next target comes:
  # leave the host triple on its default linker.
  linker_env=("CARGO_TARGET_${upper}_LINKER=$linker")
  [[ $triple == "$HOST_TRIPLE" ]] && linker_env=()
  started=$EPOCHREALTIME
  echo "cross-build: $a ($triple, linker $linker${extra:+, ${extra[*]}})"
  # RUSTFLAGS (not the per-target variable) so that with --target they reach only the target's
  # artifacts: build scripts and proc macros stay host-native and are shared by every target.
  if ! env "${env_extra[@]}" "${linker_env[@]}" \
    "RUSTFLAGS=-C target-feature=+crt-static" \
    "${CARGO[@]}" build --profile "$PROFILE" --locked --no-default-features \
    --bin portability-matrix --target "$triple" "${extra[@]}"; then
    echo "cross-build: $a: build failed" >&2
    status=1
    continue
  fi
  secs=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  bin=$CARGO_TARGET_DIR/$triple/$PROFILE/portability-matrix
  mkdir -p "$OUT/$a"
  cp -f "$bin" "$OUT/$a/portability-matrix.tmp"
  mv -f "$OUT/$a/portability-matrix.tmp" "$OUT/$a/portability-matrix"

  # Check what was built: the right machine, and static (no program interpreter).
  machine=$(readelf -h "$OUT/$a/portability-matrix" | sed -n 's/^ *Machine: *//p')
  if ! grep -qF "$(machine_of "$a")" <<<"$machine"; then
    echo "cross-build: $a: built binary is for '$machine', not $(machine_of "$a")" >&2
    status=1
    continue
  fi
  if readelf -l "$OUT/$a/portability-matrix" | grep -q INTERP; then
    echo "cross-build: $a: the binary is dynamically linked (it has a program interpreter)" >&2
    status=1
    continue
  fi
  echo "cross-build: $a: $OUT/$a/portability-matrix ($machine, static) in $secs s"
done
exit $status
