#!/usr/bin/env bash
# Long fuzzing run of the property tests (proptest, stable Rust): every loader (md, txt, html,
# pdf, jsonl), the pipeline-file parser, and the manifest, ref and cache-segment readers.
# The test suite runs the same targets with 256 to 1,024 cases each; this runs CASES per target
# (default 200000) and prints how many inputs each target ran, its time and its result.
# A failure prints proptest's minimal failing input: make it a regression test.
# Usage: benches/fuzz.sh [CASES]
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-200000}
cargo test --release --locked -p ragops-load -p ragops-core -p ragops-store --test fuzz --no-run -q
printf '%-58s %10s %9s  %s\n' target inputs seconds result
status=0
for crate in ragops-load ragops-core ragops-store; do
  for t in $(cargo test --release --locked -p "$crate" --test fuzz -q -- --list 2>/dev/null | sed -n 's/: test$//p'); do
    start=$EPOCHREALTIME
    if out=$(RAGOPS_FUZZ_CASES=$cases cargo test --release --locked -p "$crate" --test fuzz -q -- --exact "$t" 2>&1); then
      result=ok
    else
      result=FAILED; status=1
      echo "$out" | grep -A 20 "minimal failing input" || echo "$out" | tail -20
    fi
    secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {print b - a}')
    inputs=$cases
    [ "$t" = regressions ] && inputs=3
    printf '%-58s %10s %9.1f  %s\n' "$crate::$t" "$inputs" "$secs" "$result"
  done
done
exit $status
