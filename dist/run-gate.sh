#!/usr/bin/env bash
# Runs the release gate for the action (`mode: gate`) over the evidence artifacts this workflow
# run uploaded, or over a folder of evidence already on the runner (the `evidence-dir` input:
# artifacts downloaded by an earlier step, or cells run in this job), and turns its exit code
# into the action's outputs.
#
# The gate itself writes the job summary and the ::error::/::warning:: lines for each cell; this
# script only checks the inputs, passes them on, and reports the overall verdict. A waivers
# directory that does not exist means no waivers apply (the default, edge/waivers, is optional);
# an evidence folder that does not exist is an error, since gating on nothing would only block.
#
# Inputs (environment): PM_BIN, PM_POLICY, PM_GATE_MODE, PM_WAIVERS, PM_EVIDENCE_DIR (empty:
# this run's artifacts), GITHUB_TOKEN, RUNNER_TEMP (and GITHUB_REPOSITORY, GITHUB_RUN_ID,
# GITHUB_API_URL, GITHUB_SHA, read by the gate; with an evidence folder only GITHUB_SHA).
# Outputs: pass, status (PASS, BLOCKED, ERROR), report (gate.json), seed (empty).
# Exit: the gate's, 0 pass, 1 blocked, 2 could not decide.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=dist/lib.sh
source "$here/lib.sh"

bin=${PM_BIN:?PM_BIN names the portability-matrix binary}
policy=${PM_POLICY:-phase1}
mode=${PM_GATE_MODE:-nightly}
waivers=${PM_WAIVERS:-}
evidence=${PM_EVIDENCE_DIR:-}
temp=${RUNNER_TEMP:-${TMPDIR:-/tmp}}

[[ $mode == nightly || $mode == release ]] || pm_die "gate-mode must be nightly or release, not '$mode'"
case $policy in
  phase1 | phase2) ;;
  *) [[ -f $policy ]] || pm_die "policy must be phase1, phase2 or a policy file; '$policy' is neither" ;;
esac
if [[ -n $waivers && ! -d $waivers ]]; then
  echo "no waivers directory $waivers; no waivers apply"
  waivers=""
fi
if [[ -n $evidence ]]; then
  [[ -d $evidence ]] || pm_die "evidence-dir '$evidence' is not a directory; give the folder the evidence was written or downloaded to, or leave evidence-dir empty to gate on this run's artifacts"
  source_text="evidence in $evidence"
else
  [[ -n ${GITHUB_TOKEN:-} ]] || echo "GITHUB_TOKEN is empty; the gate may not be able to list this run's artifacts"
  source_text="this run's artifacts"
fi

mkdir -p "$temp/portability-matrix"
out="$temp/portability-matrix/gate.json"
rm -f "$out"
pm_output seed ""

pm_group "Release gate on $source_text: policy $policy, $mode mode${waivers:+, waivers in $waivers}"
set +e
pm_cli_gate "$bin" "$policy" "$mode" "$out" "$waivers" "$evidence"
code=$?
set -e
pm_endgroup

case $code in
  0) status=PASS ;;
  1) status=BLOCKED ;;
  *) status=ERROR ;;
esac
pm_output pass "$([[ $status == PASS ]] && echo true || echo false)"
pm_output status "$status"
pm_output report "$([[ -f $out ]] && echo "$out" || true)"
case $status in
  PASS) pm_annotate notice "portability-matrix gate" "PASS: the evidence satisfies policy $policy ($mode)" ;;
  BLOCKED) pm_annotate error "portability-matrix gate" "BLOCKED: the evidence does not satisfy policy $policy ($mode); see the gate's summary" ;;
  ERROR) pm_annotate error "portability-matrix gate" "ERROR: the gate could not decide (exit $code); see the log above" ;;
esac
exit "$code"
