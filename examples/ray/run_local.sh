#!/usr/bin/env bash
# Runs the sharded Ray build on a real Ray cluster started on this machine, then stops it.
#
#   examples/ray/run_local.sh [--ragops BIN] [--pipeline FILE] [--store DIR] [--shards N]
#                             [--workers N] [--cpus-per-worker N] [-- DRIVER ARGS...]
#
# Each option can also come from the environment: RAGOPS_BIN, RAGOPS_PIPELINE, RAGOPS_STORE,
# SHARDS, RAY_WORKERS, RAY_CPUS_PER_WORKER. Defaults: target/release/ragops,
# pipelines/default.toml, the pipeline's [store] dir, 2 shards, 2 worker nodes with 1 CPU each.
# Arguments after `--` go to driver.py as they are (e.g. -- --report out.json --env K=V).
#
# The cluster: a head node that schedules nothing (num_cpus=0) and worker nodes, each its own
# raylet and object store (100 MB), all on 127.0.0.1 (local_cluster.py says why it is not
# `ray start` here). Ray comes from a virtual environment at <repo>/.cache/ray-venv (or
# RAY_VENV), made with `pip install ray==$RAY_VERSION` when missing.
#
# Example:
#   examples/ray/run_local.sh --ragops target/release/ragops \
#       --pipeline pipelines/default.toml --store /tmp/ragops-ray-store --shards 2 \
#       -- --report /tmp/ray-report.json
set -euo pipefail

RAY_VERSION="${RAY_VERSION:-2.60.0}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

ragops="${RAGOPS_BIN:-$repo/target/release/ragops}"
pipeline="${RAGOPS_PIPELINE:-}"
store="${RAGOPS_STORE:-}"
shards="${SHARDS:-2}"
workers="${RAY_WORKERS:-2}"
cpus="${RAY_CPUS_PER_WORKER:-1}"
driver_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ragops) ragops="$2"; shift 2 ;;
    --pipeline|-p) pipeline="$2"; shift 2 ;;
    --store) store="$2"; shift 2 ;;
    --shards) shards="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --cpus-per-worker) cpus="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; driver_args=("$@"); break ;;
    *) echo "run_local.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$pipeline" ] && [ -f "$repo/pipelines/default.toml" ]; then
  pipeline="$repo/pipelines/default.toml"
fi
[ -x "$ragops" ] || { echo "run_local.sh: no ragops binary at $ragops (--ragops)" >&2; exit 2; }

# Ray in its own virtual environment.
venv="${RAY_VENV:-$repo/.cache/ray-venv}"
py="$venv/bin/python"
if ! "$py" -c "import ray" >/dev/null 2>&1; then
  echo "==> setting up $venv (ray==$RAY_VERSION from PyPI)"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$py" -m pip install --quiet --disable-pip-version-check "ray==$RAY_VERSION"
fi
echo "==> $("$py" -c 'import ray; print("ray", ray.__version__)') from $venv"

# Everything on loopback; no usage reporting.
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_USAGE_STATS_ENABLED=0
# Ray runs task workers at niceness 15 by default; the shards are the work here, so they run
# at the priority a plain `ragops build` would have (set RAY_worker_niceness to change it).
export RAY_worker_niceness="${RAY_worker_niceness:-0}"
# A short temp dir of our own (Ray's socket paths must stay under ~107 bytes).
tmp="$(mktemp -d /tmp/rgray.XXXXXX)"
holder=""
driver=""
ok=0
cleanup() {
  local rc=$?
  trap '' INT TERM
  if [ -n "$driver" ] && kill -0 "$driver" 2>/dev/null; then
    kill -TERM "$driver" 2>/dev/null || true
    wait "$driver" 2>/dev/null || true
  fi
  if [ -n "$holder" ] && kill -0 "$holder" 2>/dev/null; then
    kill -TERM "$holder" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$holder" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$holder" 2>/dev/null || true
  fi
  # Whatever survived the holder (a holder killed hard leaves its raylets): only the
  # processes of this cluster, which name its temp dir. Never another Ray on this machine.
  local left
  left="$(pgrep -f -- "$tmp/" || true)"
  if [ -n "$left" ]; then
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null || true
  fi
  if [ "$ok" = 1 ] && [ -z "${KEEP_RAY_LOGS:-}" ]; then
    rm -rf "$tmp"
  else
    echo "==> Ray logs kept in $tmp/session_latest/logs" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "==> starting a local Ray cluster: head (0 CPUs) + $workers workers x $cpus CPU"
"$py" "$here/local_cluster.py" --workers "$workers" --cpus "$cpus" \
  --object-store-memory 100000000 --temp-dir "$tmp" \
  --address-file "$tmp/address" --parent-pid $$ >"$tmp/cluster.log" 2>&1 &
holder=$!
for _ in $(seq 240); do
  [ -s "$tmp/address" ] && break
  kill -0 "$holder" 2>/dev/null || { cat "$tmp/cluster.log" >&2; echo "run_local.sh: the cluster did not start" >&2; exit 1; }
  sleep 0.5
done
[ -s "$tmp/address" ] || { cat "$tmp/cluster.log" >&2; echo "run_local.sh: the cluster did not start in 120s" >&2; exit 1; }
address="$(cat "$tmp/address")"
# `ray status` reports what the autoscaler last saw, a few seconds behind the nodes: wait
# until it lists all of them, so the log shows the cluster the driver will use.
echo "==> ray status --address $address"
for _ in $(seq 30); do
  status="$("$venv/bin/ray" status --address "$address" 2>&1 || true)"
  [ "$(grep -c ' node_' <<<"$status")" -ge $((workers + 1)) ] && break
  sleep 1
done
echo "$status"

args=(--address "$address" --ragops "$ragops" --shards "$shards")
[ -n "$pipeline" ] && args+=(--pipeline "$pipeline")
[ -n "$store" ] && args+=(--store "$store")
echo "==> driver.py ${args[*]} ${driver_args[*]:-}"
# In the background and waited for, so that a TERM or INT reaches the trap at once.
"$py" "$here/driver.py" "${args[@]}" "${driver_args[@]}" &
driver=$!
wait "$driver"
ok=1
