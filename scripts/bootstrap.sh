#!/usr/bin/env bash
# Makes sure a Debian or Ubuntu machine can build and test the project: a C toolchain for
# crates that build C, and a Rust toolchain: rustup's, at the version rust-toolchain.toml pins,
# when cargo is missing or rustc is older than Cargo.toml's rust-version; with rustup present,
# the pinned toolchain is installed when it is missing.
# Idempotent and quiet when everything is already there.
#
# --lints (what .ci/run asks for): also cargo fmt and cargo clippy, and rustup itself (the
# fuzzing installs its nightly toolchain through it). A distribution's Rust (Debian's cargo and
# rustc) comes without them; rustup's stable toolchain is then installed into ~/.cargo, ahead of
# it on PATH.
set -euo pipefail
lints=0
for a in "$@"; do
  case $a in
    --lints) lints=1 ;;
    *) echo "bootstrap: unknown argument '$a' (known: --lints)" >&2; exit 2 ;;
  esac
done

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v curl >/dev/null 2>&1 || need_apt+=(curl ca-certificates)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
if ((${#need_apt[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "bootstrap: installing ${need_apt[*]}" >&2
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The toolchain rust-toolchain.toml pins, e.g. 1.95.0 (empty without the file).
pinned_toolchain() {
  sed -n 's/^channel = "\([^"]*\)"/\1/p' rust-toolchain.toml 2>/dev/null | head -n1
}

# What rustup installs: the pinned toolchain, or stable without the file.
toolchain_to_install() {
  local t
  t=$(pinned_toolchain || true)
  echo "${t:-stable}"
}

# The Rust version Cargo.toml requires (rust-version), e.g. 1.89.
rust_version() {
  sed -n 's/^rust-version = "\([0-9.]*\)"/\1/p' Cargo.toml | head -n1
}

# True when the rustc on PATH is at least rust-version (false when it is missing or says
# something unreadable).
rustc_new_enough() {
  local want have
  want=$(rust_version)
  have=$(rustc --version 2>/dev/null | awk '{print $2}') || return 1
  have=${have%%-*}
  [[ $have =~ ^[0-9]+\.[0-9]+ ]] || return 1
  [[ -z $want ]] && return 0
  [[ $(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1) == "$want" ]]
}

# The download directory of install_rustup, removed however the script ends (an EXIT trap: a
# RETURN trap would be skipped when a failing download exits the script).
rustup_tmp=""
cleanup() {
  if [[ -n $rustup_tmp ]]; then rm -rf "$rustup_tmp"; fi
}
trap cleanup EXIT

# rustup-init straight from the Rust distribution server, checked against its published SHA-256
# (the same file sh.rustup.rs would fetch, without needing that host).
install_rustup() {
  local triple
  case $(uname -m) in
    x86_64) triple=x86_64-unknown-linux-gnu ;;
    aarch64 | arm64) triple=aarch64-unknown-linux-gnu ;;
    riscv64) triple=riscv64gc-unknown-linux-gnu ;;
    s390x) triple=s390x-unknown-linux-gnu ;;
    *)
      echo "bootstrap: no rustup for $(uname -m); install Rust $(rust_version) or newer yourself" >&2
      exit 2
      ;;
  esac
  local url="https://static.rust-lang.org/rustup/dist/$triple/rustup-init" tmp
  rustup_tmp=$(mktemp -d)
  tmp=$rustup_tmp
  curl --proto '=https' --tlsv1.2 -sSfL --retry 3 -o "$tmp/rustup-init" "$url"
  curl --proto '=https' --tlsv1.2 -sSfL --retry 3 -o "$tmp/rustup-init.sha256" "$url.sha256"
  local want got
  want=$(cut -d' ' -f1 "$tmp/rustup-init.sha256")
  got=$(sha256sum "$tmp/rustup-init" | cut -d' ' -f1)
  if [[ -z $want || $want != "$got" ]]; then
    echo "bootstrap: rustup-init from $url does not match its published SHA-256; not running it" >&2
    exit 2
  fi
  chmod +x "$tmp/rustup-init"
  # An older distribution Rust may be on PATH; ~/.cargo/bin goes first, so rustup's wins.
  RUSTUP_INIT_SKIP_PATH_CHECK=yes "$tmp/rustup-init" -y --profile minimal -c rustfmt,clippy \
    --default-toolchain "$(toolchain_to_install)"
  rm -rf "$tmp"
  rustup_tmp=""
}

export PATH="$HOME/.cargo/bin:$PATH"
cd "$(dirname "$0")/.."
want=$(toolchain_to_install)
if ! command -v cargo >/dev/null 2>&1; then
  echo "bootstrap: installing the Rust toolchain (rustup, $want) into ~/.cargo" >&2
  install_rustup
elif command -v rustup >/dev/null 2>&1 && [[ -n $(pinned_toolchain || true) ]] &&
  ! rustup toolchain list 2>/dev/null | grep -q "^$want-"; then
  echo "bootstrap: installing the pinned toolchain $want (rust-toolchain.toml)" >&2
  rustup toolchain install "$want" --profile minimal -c rustfmt,clippy
elif ! rustc_new_enough; then
  echo "bootstrap: $(rustc --version 2>/dev/null || echo 'rustc (unreadable version)') is older than the $(rust_version) Cargo.toml needs" >&2
  if command -v rustup >/dev/null 2>&1; then
    echo "bootstrap: installing rustup's $want toolchain" >&2
    rustup toolchain install "$want" --profile minimal -c rustfmt,clippy
    rustup default "$want"
  else
    echo "bootstrap: installing the Rust toolchain (rustup, $want) into ~/.cargo" >&2
    install_rustup
  fi
fi
if ! rustc_new_enough; then
  echo "bootstrap: $(rustc --version 2>/dev/null || echo 'no rustc') on PATH is still older than $(rust_version); install Rust $(rust_version) or newer" >&2
  exit 2
fi
if ((lints)); then
  if ! command -v rustup >/dev/null 2>&1; then
    echo "bootstrap: $(cargo --version) is not rustup's; installing rustup's $want toolchain into ~/.cargo for rustfmt, clippy and the fuzzing's nightly" >&2
    install_rustup
  fi
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    echo "bootstrap: adding rustfmt and clippy to $(rustup show active-toolchain 2>/dev/null | cut -d' ' -f1)" >&2
    rustup component add rustfmt clippy
  fi
fi
