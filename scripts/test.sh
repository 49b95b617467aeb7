#!/usr/bin/env bash
# The test suite: provisions the default model if needed (the reference-vector test and the
# end-to-end search tests run the real all-MiniLM-L6-v2), checks formatting and lints, then runs
# every unit and integration test in the release profile (candle is far too slow unoptimised).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --release --all-targets --locked -- -D warnings
cargo test --release --workspace --locked
