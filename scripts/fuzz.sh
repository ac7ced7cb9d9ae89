#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60), starting from the corpus kept in
# fuzz/corpus/<target>. Installs the nightly toolchain (through rustup) and cargo-fuzz when they
# are missing. New inputs found during the run go to a scratch corpus,
# so the kept corpus only changes on purpose (see "Fuzzing" in docs/crash-model.md for the long run).
#
#   scripts/fuzz.sh          # ~1 minute per target
#   scripts/fuzz.sh 3600     # an hour per target
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
targets=(frame_decode recover_dir verify)

export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo +nightly --version >/dev/null 2>&1; then
  if ! command -v rustup >/dev/null 2>&1; then
    echo "fuzz: the nightly toolchain is missing, and there is no rustup to install it (scripts/bootstrap.sh installs rustup)" >&2
    exit 2
  fi
  echo "fuzz: installing the nightly toolchain" >&2
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install --locked cargo-fuzz
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  echo "== fuzz $t for ${seconds}s"
  # -malloc_limit_mb: inputs are at most 64 KiB, so any allocation of 8 MiB or more could only
  # be sized by an unchecked length field.
  if ! cargo +nightly fuzz run --fuzz-dir fuzz "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
      -max_total_time="$seconds" -max_len=65536 -malloc_limit_mb=8 -rss_limit_mb=2048 \
      -print_final_stats=1 2>&1 | tail -n 25; then
    status=1
  fi
done
if ((status)); then
  echo "fuzz: a target failed; the crashing input is under fuzz/artifacts/<target>/" >&2
fi
exit $status
