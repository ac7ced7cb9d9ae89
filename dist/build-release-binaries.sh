#!/usr/bin/env bash
# Builds the binaries a release ships and the nightly cells certify, into
# target/cross/<debian-arch>/portability-matrix: every architecture by scripts/cross-build.sh
# (static, cell builds), then the x86_64 one again with the `github` feature (static, with the
# gate's GitHub transport), so that `mode: gate` can run from a release on x86_64 runners.
# Both with the `dist` profile (thin LTO), kept for what is shipped and certified.
# Fails unless amd64, arm64 and riscv64 binaries exist at the end (s390x is optional).
# Usage: dist/build-release-binaries.sh   (from anywhere; builds this checkout)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=dist/lib.sh
source "$here/lib.sh"
root=$(dirname "$here")
out=$root/target/cross

pm_group "Install the cross toolchains"
pm_cli_install_matrix_deps "$root"
pm_endgroup
pm_group "Cross-build the cell binaries"
CROSS_PROFILE=dist pm_cli_cross_build "$root"
pm_endgroup
if [[ $(uname -m) == x86_64 ]]; then
  pm_group "Build the x86_64 binary with the gate's GitHub transport"
  (cd "$root" && RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --profile dist --locked --features github --target x86_64-unknown-linux-gnu)
  mkdir -p "$out/amd64"
  cp "$root/target/x86_64-unknown-linux-gnu/dist/portability-matrix" "$out/amd64/portability-matrix"
  pm_endgroup
fi
for a in amd64 arm64 riscv64; do
  [[ -x $out/$a/portability-matrix ]] || pm_die "no $a binary at $out/$a/portability-matrix"
done
for f in "$out"/*/portability-matrix; do
  echo "$f: $(file -b "$f" 2>/dev/null || echo "$(wc -c <"$f") bytes")"
done
