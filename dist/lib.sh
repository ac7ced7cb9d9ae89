# shellcheck shell=bash
# Helpers shared by the action's scripts (dist/*.sh), sourced, never run.
#
# Why one file: the action talks to GitHub through files and printed commands ($GITHUB_OUTPUT,
# $GITHUB_STEP_SUMMARY, ::group::, ::error::), names architectures three ways (GitHub's X64,
# the kernel's x86_64, Debian's amd64), and calls the portability-matrix CLI. Each of those is
# done here once. In particular every command line the action passes to the CLI is built in the
# `pm_cli_*` functions at the end of this file, so the flags it relies on are in one place.
#
# Everything works outside GitHub too: without GITHUB_OUTPUT or GITHUB_STEP_SUMMARY the outputs
# and the summary are printed instead, so a script can be tried on a laptop.

# Escapes a workflow command's message (https://github.com/actions/toolkit, command.ts).
pm_escape_data() {
  local s=$1
  s=${s//'%'/'%25'}
  s=${s//$'\r'/'%0D'}
  s=${s//$'\n'/'%0A'}
  printf '%s' "$s"
}

# Escapes a workflow command's property (title=…).
pm_escape_prop() {
  local s
  s=$(pm_escape_data "$1")
  s=${s//':'/'%3A'}
  s=${s//','/'%2C'}
  printf '%s' "$s"
}

# pm_annotate LEVEL TITLE MESSAGE: an ::error::, ::warning:: or ::notice:: line.
pm_annotate() {
  printf '::%s title=%s::%s\n' "$1" "$(pm_escape_prop "$2")" "$(pm_escape_data "$3")"
}

# pm_die MESSAGE [EXIT]: reports an error as an annotation and exits (2 = could not decide).
# It writes to stderr, which the runner reads for workflow commands too, so the message is not
# swallowed when the function runs inside $(…).
pm_die() {
  pm_annotate error "portability-matrix" "$1" >&2
  exit "${2:-2}"
}

pm_group() { echo "::group::$1"; }
pm_endgroup() { echo "::endgroup::"; }

# pm_output NAME VALUE: a step output. Values are single lines; anything else is a bug here.
pm_output() {
  local name=$1 value=$2
  [[ $value != *$'\n'* && $value != *$'\r'* ]] || pm_die "output $name would span lines: $value"
  if [[ -n ${GITHUB_OUTPUT:-} ]]; then
    printf '%s=%s\n' "$name" "$value" >>"$GITHUB_OUTPUT"
  fi
  printf 'output %s=%s\n' "$name" "$value"
}

# pm_summary: appends stdin (markdown) to the job summary, or prints it.
pm_summary() {
  if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
    cat >>"$GITHUB_STEP_SUMMARY"
  else
    cat
  fi
}

# pm_debian_arch NAME: the Debian name of an architecture given in any usual spelling.
pm_debian_arch() {
  case ${1,,} in
    amd64 | x86_64 | x64 | x86-64) echo amd64 ;;
    arm64 | aarch64) echo arm64 ;;
    riscv64 | riscv64gc) echo riscv64 ;;
    s390x) echo s390x ;;
    *) return 1 ;;
  esac
}

# pm_host_arch: the runner's own architecture (Debian name), from RUNNER_ARCH when GitHub set it,
# else from `uname -m`.
pm_host_arch() {
  local raw
  if [[ -n ${RUNNER_ARCH:-} ]]; then
    case $RUNNER_ARCH in
      X64) echo amd64 ;;
      ARM64) echo arm64 ;;
      *) pm_die "runner architecture $RUNNER_ARCH is not supported; portability-matrix runs on X64 and ARM64 runners" ;;
    esac
    return
  fi
  raw=$(uname -m) || pm_die "cannot tell this machine's architecture: uname -m failed"
  pm_debian_arch "$raw" || pm_die "this machine's architecture ($raw) is not supported"
}

# pm_check_linux: the action runs on Linux runners only (RUNNER_OS, else uname -s).
pm_check_linux() {
  local os=${RUNNER_OS:-}
  [[ -n $os ]] || os=$(uname -s)
  [[ ${os,,} == linux ]] || pm_die "portability-matrix runs on Linux runners; this one is $os"
}

# pm_json_field FILE KEY: a top-level value of a JSON file as text (true/false for booleans,
# empty for null or missing). Python keeps big integers exact; jq is the fallback.
pm_json_field() {
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$1" "$2" <<'PY'
import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2])
print("" if v is None else json.dumps(v) if isinstance(v, (bool, list, dict)) else v)
PY
  elif command -v jq >/dev/null 2>&1; then
    jq -r --arg k "$2" '.[$k] | if . == null then "" else tostring end' "$1"
  else
    pm_die "reading $1 needs python3 or jq, and neither is installed"
  fi
}

# pm_json_block_replay FILE: one sentence on the cell's block replay (power loss on the real
# filesystem in a guest kernel): which accelerator ran and what it checked, or why it was
# skipped; nothing for evidence from before block replay existed.
pm_json_block_replay() {
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$1" <<'PY'
import json, sys
b = json.load(open(sys.argv[1])).get("block_replay")
if isinstance(b, dict):
    s = b.get("status", "?")
    if "states_checked" in b:
        k = b.get("kernel", {})
        print(f"{s}: {b.get('guest_arch')} guest ({k.get('package')} {k.get('version')}) under {b.get('accelerator')}, "
              f"{b.get('states_checked')} states checked, {b.get('violations')} violation(s), {b.get('seconds', 0):.0f} s")
    else:
        print(f"{s}: {b.get('reason', 'no reason given')}")
PY
  elif command -v jq >/dev/null 2>&1; then
    jq -r '.block_replay // empty | if .states_checked then "\(.status): \(.guest_arch) guest (\(.kernel.package) \(.kernel.version)) under \(.accelerator), \(.states_checked) states checked, \(.violations) violation(s)" else "\(.status): \(.reason // "no reason given")" end' "$1"
  fi
}

# pm_json_violations FILE [MAX]: "code<TAB>invariant<TAB>msg" lines for the first MAX violations.
pm_json_violations() {
  local max=${2:-10}
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$1" "$max" <<'PY'
import json, sys
for v in (json.load(open(sys.argv[1])).get("violations") or [])[: int(sys.argv[2])]:
    clean = lambda s: " ".join(str(s if s is not None else "").split())
    print(clean(v.get("code")), clean(v.get("invariant")), clean(v.get("msg")), sep="\t")
PY
  elif command -v jq >/dev/null 2>&1; then
    jq -r --argjson n "$max" '(.violations // [])[:$n][] | [.code, (.invariant // ""), .msg] | map(tostring | gsub("\\s+"; " ")) | @tsv' "$1"
  fi
}

# pm_highest_run DIR: the highest N of DIR/run-N (0 when none).
pm_highest_run() {
  local n=0 d k
  for d in "$1"/run-*; do
    k=${d##*/run-}
    [[ $k =~ ^[0-9]+$ ]] && ((10#$k > n)) && n=$((10#$k))
  done
  echo "$n"
}

# pm_sha256 FILE: the SHA-256 of FILE as 64 lowercase hex digits, from sha256sum or, where
# that is missing (macOS), `shasum -a 256`. Dies when neither is installed; returns non-zero when
# FILE cannot be read. The file is read on stdin, so its name is never escaped into the output.
pm_sha256() {
  local out
  if command -v sha256sum >/dev/null 2>&1; then
    out=$(sha256sum <"$1") || return 1
  elif command -v shasum >/dev/null 2>&1; then
    out=$(shasum -a 256 <"$1") || return 1
  else
    pm_die "neither sha256sum nor shasum is installed; cannot compute the SHA-256 of $1"
  fi
  out=${out%% *}
  [[ $out =~ ^[0-9a-f]{64}$ ]] || pm_die "could not compute the SHA-256 of $1: got '$out'"
  echo "$out"
}

# pm_as_root CMD…: runs a command as root (sudo when not root already), keeping GITHUB_SHA so
# the evidence records the commit it certifies.
pm_as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  else
    command -v sudo >/dev/null 2>&1 || pm_die "provisioning a filesystem needs root, and sudo is not installed"
    sudo env "GITHUB_SHA=${GITHUB_SHA:-}" "$@"
  fi
}

# ---------------------------------------------------------------------------------------------
# The portability-matrix command lines. Every flag the action relies on is here.
# ---------------------------------------------------------------------------------------------

# pm_cli_cell BIN DIR EVIDENCE ITERATIONS SEED: one cell on the filesystem holding DIR.
pm_cli_cell() {
  "$1" cell --dir "$2" --evidence "$3" --iterations "$4" --seed "$5"
}

# pm_cli_matrix root|user DRIVER ARCH FS ITERATIONS SEED EVIDENCE BINARIES: exactly one cell of
# the full matrix, which runs the cell binary BINARIES/ARCH/portability-matrix (through QEMU when
# ARCH is foreign, recording the emulator in the evidence) on the temp dir when that is already
# FS, else on a loop filesystem of type FS that it provisions and always removes (as root).
pm_cli_matrix() {
  local run=()
  [[ $1 == root ]] && run=(pm_as_root)
  "${run[@]}" "$2" matrix --arch "$3" --fs "$4" --iterations "$5" --seed "$6" \
    --evidence "$7" --binaries "$8"
}

# pm_cli_gate BIN POLICY MODE OUT [WAIVERS] [EVIDENCE_DIR]: the release gate over the evidence
# in EVIDENCE_DIR, or without it over this workflow run's evidence artifacts, whose repository,
# run, token and API URL come from GITHUB_REPOSITORY, GITHUB_RUN_ID, GITHUB_TOKEN and
# GITHUB_API_URL. The commit released comes from GITHUB_SHA either way; the gate writes its own
# job summary and annotations.
pm_cli_gate() {
  local extra=()
  [[ -n ${5:-} ]] && extra+=(--waivers "$5")
  [[ -n ${6:-} ]] && extra+=(--evidence-dir "$6")
  "$1" gate --policy "$2" --mode "$3" --out "$4" "${extra[@]}"
}

# pm_cli_cross_build SOURCE_DIR [ARCH…]: static binaries, from source, into
# SOURCE_DIR/target/cross/<debian-arch>/portability-matrix (cell builds, without the gate's
# GitHub transport), for the ARCHes given (Debian names) or else for every supported arch
# (scripts/cross-build.sh's default). Needs the toolchains pm_cli_install_matrix_deps installs.
pm_cli_cross_build() {
  (cd "$1" && bash scripts/cross-build.sh "${@:2}")
}

# pm_cli_install_matrix_deps SOURCE_DIR: QEMU, binfmt support, mkfs tools, cross compilers.
pm_cli_install_matrix_deps() {
  (cd "$1" && bash scripts/install-matrix-deps.sh)
}
