#!/usr/bin/env bash
# The test suite: provisions the default model if needed (the reference-vector test and the
# end-to-end search tests run the real all-MiniLM-L6-v2), checks formatting and lints, then runs
# every unit and integration test in the release profile (candle is far too slow unoptimised).
# Installs what the tests need that the machine lacks (strace from Debian's packages; moto, Ray
# and the Kubernetes schema validator from PyPI, into .cache/).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The crash-order test traces a build's system calls.
if ! command -v strace >/dev/null 2>&1; then
  echo "==> installing strace (Debian package) for the crash-order test"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq strace >/dev/null
fi
# The object-storage tests run against a real S3-compatible server: moto's server mode.
if [ ! -x .cache/moto-venv/bin/moto_server ]; then
  echo "==> installing moto[server] (PyPI) into .cache/moto-venv for the object-storage tests"
  python3 -m venv .cache/moto-venv
  .cache/moto-venv/bin/pip install --quiet 'moto[server]==5.2.5'
fi
cargo fmt --all -- --check
# The suite builds with failpoints (named stopping points for the crash tests); release
# binaries are built without them.
cargo clippy --release --workspace --all-targets --locked --features ragops/failpoints -- -D warnings
cargo test --release --workspace --locked --features ragops/failpoints
