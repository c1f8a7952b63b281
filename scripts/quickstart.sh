#!/usr/bin/env bash
# The main job, offline, on a fresh machine: installs what is missing (the .venv with moto and
# the Google client; graphviz is optional), builds the `terrace` binary, starts the sandbox
# (moto + the Compute Engine emulator on loopback), plans and applies the region group `eu` of
# the reference architecture, and prints its outputs. Running it again changes nothing.
# Afterwards: target/debug/terrace sandbox stop (state stays in .terrace/).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install Rust (https://rustup.rs), then run this again" >&2
  exit 1
fi
bash scripts/ensure-venv.sh
echo "== building terrace"
cargo build --quiet -p terrace-cli --features sandbox
terrace="${CARGO_TARGET_DIR:-$root/target}/debug/terrace"

# The replica mesh's VPN keys are secrets, so the workspace needs a secrets key
# (`secrets:` in terrace.yaml, from a passphrase). Without TERRACE_PASSPHRASE, the sandbox gets
# a random one, kept in .terrace/quickstart-passphrase (git ignores .terrace/).
if [ -z "${TERRACE_PASSPHRASE:-}" ]; then
  mkdir -p .terrace
  if [ ! -s .terrace/quickstart-passphrase ]; then
    (umask 077 && head -c 24 /dev/urandom | base64 > .terrace/quickstart-passphrase)
  fi
  TERRACE_PASSPHRASE="$(cat .terrace/quickstart-passphrase)"
  export TERRACE_PASSPHRASE
  echo "== TERRACE_PASSPHRASE is not set: using the one in .terrace/quickstart-passphrase"
fi
echo "== terrace config init-secrets"
"$terrace" config init-secrets
echo "== terrace sandbox start"
"$terrace" sandbox start
echo "== terrace plan --group eu"
"$terrace" plan --group eu
echo "== terrace apply --group eu"
"$terrace" apply --group eu --yes
echo "== terrace output --group eu"
"$terrace" output --group eu
echo
echo "Next: export TERRACE_PASSPHRASE=\"\$(cat .terrace/quickstart-passphrase)\"   (unless you set your own)"
echo "      $terrace plan --group eu --detailed-exitcode   (exit 0: nothing to change)"
echo "      $terrace graph --group eu --plan | dot -Tsvg > eu.svg"
echo "      $terrace sandbox stop"
