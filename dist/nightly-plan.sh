#!/usr/bin/env bash
# Plans a run of portability-nightly.yml: which cells run on which runners, and how strict the
# run is. A push of a v* tag is a release run: the gate runs in release mode and the evidence is
# kept 90 days; anything else (the 02:00 schedule, a manual run) is a nightly run kept 30 days.
#
# Inputs (environment): PM_EVENT (github.event_name), PM_REF (github.ref), PM_ARCHES
# (space-separated, default "amd64 arm64 riscv64"), PM_FILESYSTEMS (default "ext4 xfs"),
# PM_ITERATIONS (default 20), PM_SEED (default empty = each cell generates one).
# Outputs: matrix (JSON for strategy.matrix: include[] of {arch, fs, runner}), gate-mode,
# retention-days, release (true/false), iterations, seed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=dist/lib.sh
source "$here/lib.sh"

arches=${PM_ARCHES:-}
[[ -n ${arches//[[:space:]]/} ]] || arches="amd64 arm64 riscv64"
filesystems=${PM_FILESYSTEMS:-ext4 xfs}
iterations=${PM_ITERATIONS:-}
[[ -n $iterations ]] || iterations=20
seed=${PM_SEED:-}

[[ $iterations =~ ^[1-9][0-9]{0,5}$ ]] || pm_die "iterations must be a whole number from 1 to 999999, not '$iterations'"
[[ -z $seed || $seed =~ ^(0|[1-9][0-9]{0,19})$ ]] || pm_die "seed must be a whole number, not '$seed'"

# The runner each arch's cells run on: native where GitHub has one, QEMU on x86_64 otherwise.
runner_for() {
  case $1 in
    arm64) echo ubuntu-24.04-arm ;;
    *) echo ubuntu-24.04 ;;
  esac
}

entries=()
seen=" "
for raw in $arches; do
  a=$(pm_debian_arch "$raw") || pm_die "arches: '$raw' is not one of amd64, arm64, riscv64, s390x"
  [[ $seen == *" $a "* ]] && continue
  seen+="$a "
  for fs in $filesystems; do
    [[ $fs =~ ^[a-z0-9]+$ ]] || pm_die "filesystem '$fs' is not a filesystem type"
    entries+=("{\"arch\":\"$a\",\"fs\":\"$fs\",\"runner\":\"$(runner_for "$a")\"}")
  done
done
matrix="{\"include\":[$(
  IFS=,
  echo "${entries[*]}"
)]}"

release=false
if [[ ${PM_EVENT:-} == push && ${PM_REF:-} == refs/tags/v* ]]; then
  release=true
fi

pm_output matrix "$matrix"
pm_output release "$release"
pm_output gate-mode "$([[ $release == true ]] && echo release || echo nightly)"
pm_output retention-days "$([[ $release == true ]] && echo 90 || echo 30)"
pm_output iterations "$iterations"
pm_output seed "$seed"
{
  echo "### portability-matrix $([[ $release == true ]] && echo "release run (${PM_REF#refs/tags/})" || echo "nightly run")"
  echo
  echo "${#entries[@]} cells: $(for a in $seen; do printf '%s ' "$a"; done)× $filesystems; $iterations iterations; seed ${seed:-generated per cell}."
} | pm_summary
