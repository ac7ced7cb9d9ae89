#!/usr/bin/env bash
# Names the release binaries as the action's installer expects and writes their SHA256SUMS.
#
# From a tree <binaries>/<debian-arch>/portability-matrix it writes
# <out>/portability-matrix-<version>-linux-<debian-arch> for amd64, arm64 and riscv64 (all
# required) and s390x (when present), and <out>/SHA256SUMS in sha256sum's format. SHA256SUMS is
# also exactly the file to commit as dist/checksums/<version>.sha256, which is what makes the
# action download these assets at all (see docs/action.md, "Releasing").
# Usage: dist/package-release.sh --version 1.2.3 --binaries target/cross --out dist/out
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=dist/lib.sh
source "$here/lib.sh"

version="" binaries="" out=""
while (($#)); do
  case $1 in
    --version) version=${2:-} && shift 2 ;;
    --binaries) binaries=${2:-} && shift 2 ;;
    --out) out=${2:-} && shift 2 ;;
    *) pm_die "unknown argument $1 (usage: --version V --binaries DIR --out DIR)" ;;
  esac
done
version=${version#v}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] || pm_die "--version must be a release version such as 1.2.3, not '$version'"
[[ -d $binaries ]] || pm_die "--binaries $binaries is not a directory"
[[ -n $out ]] || pm_die "--out is required"
pm_sha256 /dev/null >/dev/null # fails now, before copying anything, when no SHA-256 tool is installed

mkdir -p "$out"
assets=()
for a in amd64 arm64 riscv64 s390x; do
  src=$binaries/$a/portability-matrix
  if [[ ! -f $src ]]; then
    [[ $a == s390x ]] && continue
    pm_die "no $a binary at $src"
  fi
  name=portability-matrix-$version-linux-$a
  cp "$src" "$out/$name"
  chmod 755 "$out/$name"
  assets+=("$name")
done
# sha256sum's format ("<hash>  <name>"), which is also what install.sh reads as pinned checksums.
for name in "${assets[@]}"; do
  h=$(pm_sha256 "$out/$name")
  printf '%s  %s\n' "$h" "$name"
done >"$out/SHA256SUMS.tmp"
mv "$out/SHA256SUMS.tmp" "$out/SHA256SUMS"
cat "$out/SHA256SUMS"
echo "pin these checksums for the action: cp $out/SHA256SUMS dist/checksums/$version.sha256"
