#!/usr/bin/env bash
# Sharded builds, measured (issue 19; figures and the scaling model in benches/README.md):
#
#   A. Throughput of a build of CORPUS (default: ../shared/data/chunking-eval/corpora, 1,791
#      chunks) with the real model: one `ragops build` process (the peer: what a user runs
#      without sharding), then the Ray path on a local Ray cluster (examples/ray/run_local.sh:
#      a head and two one-CPU worker nodes) with 1 shard of 1 thread, 1 shard of 2 threads and
#      2 shards of 1 thread. Fresh stores, so every chunk is embedded.
#   B. What a commit costs as shards grow: N = 1, 2, 4, 8 shards of the fixtures corpus, then
#      one edited file and N shards again; the second commit masks the parent's fragments
#      (N of them) and installs N new ones. Prints the commit's seconds and fragment counts.
#
#   benches/scale_out.sh [--only A|B] [CORPUS]
#
# Needs target/release/ragops (./scripts/setup.sh) and, for A, Ray (run_local.sh installs it
# into .cache/ray-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
only=""
if [ "${1:-}" = "--only" ]; then only="$2"; shift 2; fi
corpus="${1:-../shared/data/chunking-eval/corpora}"
B="$PWD/target/release/ragops"
work="$(mktemp -d /tmp/ragops-scale-out.XXXXXX)"
trap 'rm -rf "$work"' EXIT
[ -x "$B" ] || { echo "no $B: run ./scripts/setup.sh" >&2; exit 2; }

# A pipeline = pipelines/default.toml with other sources and store.
pipeline() { # out sources store
  sed -e "s|^paths = .*|paths = [\"$2\"]|" -e "s|^dir = .*|dir = \"$3\"|" \
    pipelines/default.toml > "$1"
}

if [ "$only" != "B" ]; then
  [ -d "$corpus" ] || { echo "no corpus at $corpus" >&2; exit 2; }
  corpus="$(cd "$corpus" && pwd)"
  P="$work/a.toml"
  pipeline "$P" "$corpus" "$work/a-store"
  printf '\n## A. build throughput, %s (real model)\n\n' "$corpus"
  printf '| run | chunks | wall s | chunks/s |\n|---|---:|---:|---:|\n'
  t0=$(date +%s.%N)
  RAYON_NUM_THREADS=2 "$B" build -p "$P" --store "$work/single" --json -q > "$work/single.json"
  t1=$(date +%s.%N)
  chunks=$(python3 -c "import json;print(json.load(open('$work/single.json'))['counts']['chunks'])")
  python3 -c "w=$t1-$t0; print(f'| one process, 2 threads (the peer) | $chunks | {w:.1f} | {$chunks/w:.1f} |')"
  ray_run() { # label shards extra-driver-args...
    local label=$1 n=$2; shift 2
    local store="$work/ray-$n-$RANDOM"
    examples/ray/run_local.sh --ragops "$B" --pipeline "$P" --store "$store" --shards "$n" \
      -- --report "$work/ray.json" "$@" > "$work/ray.log" 2>&1 \
      || { cat "$work/ray.log" >&2; exit 1; }
    python3 - "$work/ray.json" "$label" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
total = r["wall_s"]["total"]
print(f"| {sys.argv[2]} | {r['chunks']} | {total:.1f} | {r['chunks'] / total:.1f} |")
EOF
  }
  ray_run "Ray, 1 shard x 1 thread" 1
  ray_run "Ray, 1 shard x 2 threads" 1 --env RAYON_NUM_THREADS=2
  ray_run "Ray, 2 shards x 1 thread" 2
  echo
  echo "(Ray rows: the driver's wall time, plan + shards + commit, cluster start excluded.)"
fi

if [ "$only" != "A" ]; then
  printf '\n## B. commit cost (fixtures corpus, real model)\n\n'
  printf '| shards | first commit s | fragments | incremental commit s | fragments (parent + new) |\n'
  printf '|---:|---:|---:|---:|---:|\n'
  for n in 1 2 4 8; do
    docs="$work/docs-$n"
    cp -r fixtures/corpus "$docs"
    store="$work/b-$n"
    P="$work/b-$n.toml"
    pipeline "$P" "$docs" "$store"
    # max_fragments high enough that 8 + 8 fragments are carried, not compacted.
    printf '\n[index.compaction]\nmax_fragments = 64\n' >> "$P"
    commit_round() { # build-id
      for ((i = 0; i < n; i++)); do
        "$B" build -p "$P" --shard "$i/$n" --build-id "$1" -q > /dev/null &
      done
      wait
      "$B" commit "$1" --store "$store" --json > "$work/c.json"
      python3 -c "import json; r=json.load(open('$work/c.json')); print(f\"{r['seconds']:.3f} {r['carried_fragments']}+{r['shard_fragments']}\")"
    }
    read -r s1 f1 < <(commit_round "first")
    echo "A paragraph added for the incremental round." >> "$docs/handbook/dr-drill.md"
    read -r s2 f2 < <(commit_round "second")
    echo "| $n | $s1 | $f1 | $s2 | $f2 |"
  done
fi
