#!/usr/bin/env bash
# Builds a release's bundle: the documentation and every cell's evidence in one tar.gz, with its
# SHA-256 next to it, so that what certified a release is kept with the release (workflow
# artifacts expire; release assets do not).
#
# The bundle portability-matrix-<version>-docs-and-evidence.tar.gz unpacks to
# portability-matrix-<version>/ holding README.md, docs/, schemas/, evidence/<arch>/<fs>/run-<N>/,
# gate.json and SHA256SUMS when given, INDEX.md (one line per run with its verdict and seed) and
# MANIFEST.sha256 (every other file's SHA-256). The archive is reproducible: sorted names, fixed
# owners, mtimes from SOURCE_DATE_EPOCH (default: the last commit's time, else 0), gzip -n.
#
# --evidence takes either an evidence tree (<arch>/<fs>/run-<N>/) or a directory of downloaded
# artifacts (portability-evidence-<arch>-<fs>/run-<N>/). It fails when there is no
# wal_verify.json at all: a release bundle without evidence certifies nothing.
#
# Usage: dist/build_docs_and_evidence.sh --version 1.2.3 --evidence DIR --out DIR
#          [--gate gate.json] [--sums SHA256SUMS]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=dist/lib.sh
source "$here/lib.sh"
root=$(dirname "$here")

version="" evidence="" out="" gate="" sums=""
while (($#)); do
  case $1 in
    --version) version=${2:-} && shift 2 ;;
    --evidence) evidence=${2:-} && shift 2 ;;
    --out) out=${2:-} && shift 2 ;;
    --gate) gate=${2:-} && shift 2 ;;
    --sums) sums=${2:-} && shift 2 ;;
    *) pm_die "unknown argument $1 (usage: --version V --evidence DIR --out DIR [--gate FILE] [--sums FILE])" ;;
  esac
done
version=${version#v}
[[ $version =~ ^[0-9A-Za-z][0-9A-Za-z.+-]*$ ]] || pm_die "--version must be a version such as 1.2.3, not '$version'"
[[ -d $evidence ]] || pm_die "--evidence $evidence is not a directory"
[[ -n $out ]] || pm_die "--out is required"
[[ -z $gate || -f $gate ]] || pm_die "--gate $gate does not exist"
[[ -z $sums || -f $sums ]] || pm_die "--sums $sums does not exist"
if ! tar --version 2>/dev/null | grep -q GNU; then
  pm_die "GNU tar is needed for a reproducible archive"
fi
pm_sha256 /dev/null >/dev/null # fails now, not half-way, when no SHA-256 tool is installed

name=portability-matrix-$version
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
top=$stage/$name
mkdir -p "$top/evidence"

# Documentation, as the repository has it.
cp "$root/README.md" "$top/"
for d in docs schemas; do
  [[ -d $root/$d ]] && cp -R "$root/$d" "$top/$d"
done

# Evidence: a tree, or artifacts named portability-evidence-<arch>-<fs>.
shopt -s nullglob
for d in "$evidence"/*/; do
  d=${d%/}
  base=${d##*/}
  if [[ $base == portability-evidence-* ]]; then
    rest=${base#portability-evidence-}
    arch=${rest%%-*}
    fs=${rest#*-}
    [[ -n $arch && -n $fs && $rest == *-* ]] || pm_die "cannot read arch and fs from the artifact name $base"
    mkdir -p "$top/evidence/$arch/$fs"
    cp -R "$d"/. "$top/evidence/$arch/$fs/"
  elif compgen -G "$d/*/run-*" >/dev/null; then
    mkdir -p "$top/evidence/$base"
    cp -R "$d"/. "$top/evidence/$base/"
  else
    echo "ignoring $d: neither an artifact nor an <arch>/<fs>/run-<N> tree"
  fi
done
[[ -f $evidence/matrix.json ]] && cp "$evidence/matrix.json" "$top/evidence/"
[[ -n $gate ]] && cp "$gate" "$top/gate.json"
[[ -n $sums ]] && cp "$sums" "$top/SHA256SUMS"

reports=("$top"/evidence/*/*/run-*/wal_verify.json)
((${#reports[@]})) || pm_die "no wal_verify.json under $evidence; a release bundle needs the cells' evidence"
{
  echo "# portability-matrix $version: evidence"
  echo
  echo "| arch | fs | run | pass | iterations passed | seed | commit |"
  echo "|---|---|---|---|---|---|---|"
  for r in "${reports[@]}"; do
    rel=${r#"$top/evidence/"}
    IFS=/ read -r arch fs run _ <<<"$rel"
    echo "| $arch | $fs | $run | $(pm_json_field "$r" pass) | $(pm_json_field "$r" passed)/$(pm_json_field "$r" total_iterations) | $(pm_json_field "$r" seed) | $(pm_json_field "$r" commit) |"
  done
} >"$top/INDEX.md"
# sha256sum's format ("<hash>  <name>"), so `sha256sum -c MANIFEST.sha256` checks the bundle.
# Written next to the tree, not in it, so that it does not list itself.
(cd "$top" && find . -type f -print0 | LC_ALL=C sort -z |
  while IFS= read -r -d '' f; do
    h=$(pm_sha256 "$f")
    printf '%s  %s\n' "$h" "$f"
  done >"$stage/MANIFEST.sha256")
mv "$stage/MANIFEST.sha256" "$top/MANIFEST.sha256"

epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}
mkdir -p "$out"
archive=$out/$name-docs-and-evidence.tar.gz
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$stage" -cf - "$name" | gzip -n -9 >"$archive.tmp"
mv "$archive.tmp" "$archive"
h=$(pm_sha256 "$archive")
printf '%s  %s\n' "$h" "${archive##*/}" >"$archive.sha256"
echo "bundle: $archive (${#reports[@]} runs)"
cat "$archive.sha256"
