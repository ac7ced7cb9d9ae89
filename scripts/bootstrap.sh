#!/usr/bin/env bash
# Makes sure a Debian or Ubuntu machine can build and test the project: a C toolchain for
# crates that build C, and a Rust toolchain (rustup's stable when cargo is missing).
# Idempotent and quiet when everything is already there.
set -euo pipefail

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v curl >/dev/null 2>&1 || need_apt+=(curl ca-certificates)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
if ((${#need_apt[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "bootstrap: installing ${need_apt[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

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
      echo "bootstrap: no rustup for $(uname -m); install Rust $(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml) or newer yourself" >&2
      exit 2
      ;;
  esac
  local url="https://static.rust-lang.org/rustup/dist/$triple/rustup-init" tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
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
  "$tmp/rustup-init" -y --profile minimal -c rustfmt,clippy
}

export PATH="$HOME/.cargo/bin:$PATH"
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  echo "bootstrap: installing the Rust toolchain (rustup, stable) into ~/.cargo" >&2
  install_rustup
fi
