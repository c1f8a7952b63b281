#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs the test tools into .venv when missing,
# checks formatting and lints, then runs every test of the workspace (nextest prints the
# summary line) and the doc tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/ensure-venv.sh
export TERRACE_VENV="${TERRACE_VENV:-$root/.venv}"

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
