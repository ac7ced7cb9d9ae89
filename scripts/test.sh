#!/usr/bin/env bash
# The README's test command (`make test`): every test of the workspace, then one honest summary.
# Tests that need something this machine lacks (root, QEMU, a mkfs, a tool) record why in
# $PM_SKIP_LOG and return early; cargo counts them as passed, so this script lists them and
# subtracts them: a skipped test is never reported as passed.
set -uo pipefail
cd "$(dirname "$0")/.."
skips=$(mktemp)
out=$(mktemp)
trap 'rm -f "$skips" "$out"' EXIT
export PM_SKIP_LOG=$skips
# With the gate's GitHub transport, so that its tests (tests/gate_github.rs) build and run too;
# both runs below use it, so the second reuses the first's dependencies.
github=portability-matrix/github
cargo test --workspace --locked --no-fail-fast --features "$github" "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
# The crash explorer's own tests also run against the deliberately broken protocol variants,
# which exist only in builds with the `defects` feature (never in a release build).
cargo test --locked --no-fail-fast --features "$github,defects" --bin portability-matrix "$@" -- crash:: 2>&1 | tee -a "$out"
((PIPESTATUS[0] == 0)) || rc=1
read -r passed failed < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i } } END { print p + 0, f + 0 }' "$out")
skipped=$(sort -u "$skips" | grep -c . || true)
if ((skipped > 0)); then
  echo
  echo "skipped here (not run, not counted as passed):"
  sort -u "$skips" | sed 's/^/  /'
fi
echo
echo "summary: $((passed - skipped)) passed, $failed failed, $skipped skipped"
exit "$rc"
