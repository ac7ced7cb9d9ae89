#!/usr/bin/env bash
# Runs one matrix cell for the action (`mode: cell`) and reports it the way GitHub shows things:
# outputs, an annotation with the verdict, and a short job summary.
#
# When the requested filesystem is the one the runner's temp directory is already on, a native
# cell runs there directly, unprivileged. Everything else goes through the full matrix, asked for
# exactly this one cell (`matrix --arch A --fs F`) with the runner's own binary as the driver: a
# foreign cell, so that the evidence records the emulator it ran under, and any other
# filesystem, which the matrix provisions on a loop device as root, runs the cell in and always
# removes again; this script only makes sure the mkfs tool exists. The seed is fixed before the cell starts, so it is known (and printed) even
# if the cell dies.
#
# Inputs (environment): PM_BIN (the cell binary), PM_DRIVER (a binary for the runner's own arch,
# needed only to provision), PM_BINARIES (a tree <dir>/<arch>/portability-matrix), PM_ARCH,
# PM_FS, PM_ITERATIONS, PM_SEED, PM_EVIDENCE_DIR, RUNNER_TEMP.
# Outputs: pass, status (PASS, FAIL, SKIP, ERROR), report, seed, run-dir, artifact-name,
# artifact-path. Exit: 0 PASS or SKIP, 1 FAIL, 2 ERROR.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=dist/lib.sh
source "$here/lib.sh"

bin=${PM_BIN:?PM_BIN names the portability-matrix binary}
arch=${PM_ARCH:?PM_ARCH names the cell architecture}
fs=${PM_FS:-ext4}
iterations=${PM_ITERATIONS:-20}
seed=${PM_SEED:-}
evidence=${PM_EVIDENCE_DIR:-evidence}
temp=${RUNNER_TEMP:-${TMPDIR:-/tmp}}
work=${PM_WORK_DIR:-$temp/portability-matrix-work}

# The one rule for cell names (src/cell_id.rs, NAME_PATTERN).
name_rule='^[a-z0-9_]{1,32}$'
[[ $arch =~ $name_rule ]] || pm_die "arch must be an architecture name such as amd64 (1 to 32 lowercase letters, digits and _), not '$arch'"
[[ $fs =~ $name_rule ]] || pm_die "fs must be a filesystem type such as ext4 or xfs (1 to 32 lowercase letters, digits and _), not '$fs'"
[[ $iterations =~ ^[1-9][0-9]{0,5}$ ]] || pm_die "iterations must be a whole number from 1 to 999999, not '$iterations'"
# shellcheck disable=SC2071 # comparing equal-length digit strings as strings is numeric
if [[ -z $seed ]]; then
  # Below 2^48: exact in JSON, and as random as the harness needs.
  read -r s1 s2 s3 < <(od -An -N6 -tu2 /dev/urandom)
  seed=$(((s1 << 32) | (s2 << 16) | s3))
  echo "generated seed $seed"
elif ! [[ $seed =~ ^(0|[1-9][0-9]{0,19})$ ]] ||
  { ((${#seed} == 20)) && [[ $seed > 18446744073709551615 ]]; }; then
  pm_die "seed must be a whole number below 2^64 without leading zeros, not '$seed'"
fi
pm_output seed "$seed"

mkdir -p "$evidence" "$work"
evidence=$(cd "$evidence" && pwd)
work=$(cd "$work" && pwd)
cell_dir="$evidence/$arch/$fs"
before=$(pm_highest_run "$cell_dir")
pm_output artifact-name "portability-evidence-$arch-$fs"
pm_output artifact-path "$cell_dir"

default_fs=$(findmnt -n -o FSTYPE --target "$work" 2>/dev/null || df --output=fstype "$work" | tail -n1)
default_fs=${default_fs//[[:space:]]/}

# mkfs.<fs> for the matrix to use, from the distribution when it is missing.
ensure_mkfs() {
  command -v "mkfs.$fs" >/dev/null 2>&1 && return
  local pkg
  # The package comes from the binary's table of filesystems (src/filesystems.rs).
  pkg=$("$bin" fs-package "$fs") || pm_die "mkfs.$fs is not installed and there is no known package for it"
  command -v apt-get >/dev/null 2>&1 || pm_die "mkfs.$fs is not installed; install $pkg"
  pm_group "Install $pkg for mkfs.$fs"
  pm_as_root apt-get update -qq
  pm_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg"
  pm_endgroup
}

host=$(pm_host_arch)
driver=${PM_DRIVER:-}
binaries=${PM_BINARIES:-$(dirname "$(dirname "$bin")")}
set +e
if [[ $default_fs == "$fs" && ($arch == "$host" || -z $driver) ]]; then
  # The native cell, or a foreign one straight through binfmt_misc when no host binary is there.
  pm_group "Cell $arch/$fs: $iterations iterations, seed $seed, in $work ($fs)"
  pm_cli_cell "$bin" "$work" "$evidence" "$iterations" "$seed"
  code=$?
elif [[ $default_fs == "$fs" ]]; then
  # A foreign cell on the temp dir: the matrix runs it and records the emulator. The matrix runs
  # an unprivileged cell in its temp dir (TMPDIR, else /tmp), so TMPDIR is $work: the directory
  # whose filesystem was checked above, not /tmp, which may be another filesystem.
  pm_group "Cell $arch/$fs under emulation in $work ($fs): $iterations iterations, seed $seed"
  TMPDIR=$work pm_cli_matrix user "$driver" "$arch" "$fs" "$iterations" "$seed" "$evidence" "$binaries"
  code=$?
else
  if [[ -z $driver ]]; then
    pm_die "the $fs cell needs a provisioned filesystem (the temp dir is on $default_fs), and that needs a portability-matrix binary for the runner's own architecture; none was installed (with 'binary', give a cross-build tree <dir>/<arch>/portability-matrix that also holds the host's)"
  fi
  ensure_mkfs
  pm_group "Cell $arch/$fs on a provisioned $fs loop filesystem: $iterations iterations, seed $seed"
  pm_cli_matrix root "$driver" "$arch" "$fs" "$iterations" "$seed" "$evidence" "$binaries"
  code=$?
  # Evidence written as root stays readable and removable by the runner's user.
  [[ $(id -u) -eq 0 ]] || pm_as_root chown -R "$(id -u):$(id -g)" "$evidence"
fi
pm_endgroup
set -e

after=$(pm_highest_run "$cell_dir")
report=""
run_dir=""
if ((after > before)); then
  run_dir="$cell_dir/run-$after"
  [[ -f $run_dir/wal_verify.json ]] && report="$run_dir/wal_verify.json"
fi

# The verdict: PASS needs exit 0 AND "pass": true; anything contradictory is a failure. A cell
# the matrix could not run leaves a record saying so ("skipped": true, with the reason), which
# is uploaded like any evidence so that the gate reports SKIP and why, not a missing artifact.
recorded=""
skipped=""
skip_reason=""
if [[ -n $report ]]; then
  recorded=$(pm_json_field "$report" pass)
  skipped=$(pm_json_field "$report" skipped)
  skip_reason=$(pm_json_field "$report" skip_reason)
fi
if [[ -n $report && $recorded == true && $code -eq 0 ]]; then
  status=PASS
elif [[ -n $report && $skipped == true && $recorded == false && $code -eq 0 ]]; then
  status=SKIP
elif [[ -n $report && ($code -eq 0 || $code -eq 1) ]]; then
  status=FAIL
elif [[ -z $run_dir && $code -eq 0 ]]; then
  status=SKIP
else
  status=ERROR
fi

pm_output pass "$([[ $status == PASS ]] && echo true || echo false)"
pm_output status "$status"
pm_output report "$report"
pm_output run-dir "$run_dir"

title="portability-matrix $arch/$fs"
# The same cell again (step 2's kill -9 runs and the power-loss exploration included, as `cell`
# runs them by default), with the $arch binary, in a directory DIR on $fs.
reproduce="portability-matrix cell --dir DIR --seed $seed --iterations $iterations"
detail=""
if [[ $status == SKIP ]]; then
  detail="${skip_reason:-see the output above}"
elif [[ -n $report ]]; then
  detail="$(pm_json_field "$report" passed) of $(pm_json_field "$report" total_iterations) iterations passed, atomic rename $(pm_json_field "$report" rename_atomic)"
fi
case $status in
  PASS) pm_annotate notice "$title" "PASS: $detail (seed $seed)" ;;
  FAIL) pm_annotate error "$title" "FAIL: $detail (seed $seed). Reproduce: $reproduce (the $arch binary, DIR on $fs). Evidence: artifact portability-evidence-$arch-$fs" ;;
  SKIP) pm_annotate warning "$title" "SKIP: the cell could not run here: $detail. Nothing was certified" ;;
  ERROR) pm_annotate error "$title" "ERROR: the cell could not run (exit $code$([[ -n $run_dir && -z $report ]] && echo ", no wal_verify.json in $run_dir")); see the log above" ;;
esac

{
  echo "### portability-matrix cell $arch/$fs: $status"
  echo
  echo "| arch | fs | status | iterations passed | atomic rename | seed |"
  echo "|---|---|---|---|---|---|"
  if [[ $status == SKIP ]]; then
    echo "| $arch | $fs | **$status** | n/a | n/a | \`$seed\` |"
    echo
    echo "Skipped: ${detail//|/\\|}"
  elif [[ -n $report ]]; then
    echo "| $arch | $fs | **$status** | $(pm_json_field "$report" passed)/$(pm_json_field "$report" total_iterations) | $(pm_json_field "$report" rename_atomic) | \`$seed\` |"
  else
    echo "| $arch | $fs | **$status** | n/a | n/a | \`$seed\` |"
  fi
  if [[ -n $report && $status != SKIP ]]; then
    violations=$(pm_json_violations "$report" 10)
    if [[ -n $violations ]]; then
      echo
      echo "Violations (first 10):"
      echo
      while IFS=$'\t' read -r code_ invariant msg; do
        echo "- \`$code_\` ${invariant:+($invariant) }${msg//|/\\|}"
      done <<<"$violations"
    fi
  fi
  if [[ -n $report && $status != SKIP ]]; then
    block_replay=$(pm_json_block_replay "$report")
    if [[ -n $block_replay ]]; then
      echo
      echo "Block replay: ${block_replay//|/\\|}"
    fi
  fi
  if [[ $status != PASS ]]; then
    echo
    echo "Reproduce: \`$reproduce\` with the $arch binary and DIR on $fs (the artifact's \`cmd.txt\` has the exact cell command)."
  fi
  if [[ -n $run_dir ]]; then
    echo
    echo "Evidence: \`$run_dir\` (artifact \`portability-evidence-$arch-$fs\`)."
  fi
} | pm_summary

case $status in
  PASS | SKIP) exit 0 ;;
  FAIL) exit 1 ;;
  *) exit 2 ;;
esac
