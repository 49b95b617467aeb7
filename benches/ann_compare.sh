#!/usr/bin/env bash
# The ANN candidates side by side (usearch f32/f16/i8, hnsw_rs) on real-model vectors: the
# vectors.f32 of the 200k-record corpus that `cargo bench --bench search_scale` builds with the
# real model (or any ragops vectors.f32 given as $1). Prints build time, size, open time,
# memory, recall@10 against the exact scan and query latency. Figures: benches/README.md.
# Usage: benches/ann_compare.sh [VECTORS.f32] [--queries 1000] [--only f16,hnsw_rs] (comma-separated: f32, f16, i8, hnsw_rs)
set -euo pipefail
cd "$(dirname "$0")/.."
vectors="${1:-}"
if [ -z "$vectors" ] || [ "${vectors#--}" != "$vectors" ]; then
    store=.cache/bench/search-scale/real/store
    vectors="$store/snapshots/$(cat "$store/refs/current")/vectors.f32"
else
    shift
fi
[ -f "$vectors" ] || { echo "no vector file at $vectors: run cargo bench --bench search_scale first" >&2; exit 1; }
CARGO_TARGET_DIR="$PWD/target/ann-compare" cargo run --release -q --manifest-path benches/ann-compare/Cargo.toml -- \
    "$vectors" --work "$PWD/target/ann-compare/work" "$@"
