#!/usr/bin/env python3
"""Sharded `ragops build` on a Ray cluster: plan, build N shards as Ray tasks, commit once.

  1. `ragops shards plan --build-id ID --shards N`   (here, on the driver)
  2. `ragops build --shard I/N --build-id ID`         (one Ray task per shard, anywhere)
  3. `ragops commit ID`                               (here, once every shard is staged)

Each shard builds the source files whose stable id hashes to it and stages its fragment and
embedding-cache segment under the build id; nothing is visible to readers until the commit
publishes one snapshot (compare-and-swap on `current`). A shard whose process exits non-zero
raises, and Ray runs it again (up to --retries more times); a retried shard replaces only its
own staging. If a shard still fails, nothing is committed: rerun with the same --build-id to
build just what is missing (the shards already staged are skipped), or look with
`ragops shards status ID`.

The store must be one that every node and the driver see at the same address: a shared
filesystem path (NFS, ...) or object storage (s3://bucket/prefix). The ragops binary and the
pipeline file (and its sources) must be at the same absolute paths on every worker node.
"""

import argparse
import datetime
import json
import os
import re
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import time

BUILD_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

EXAMPLE = """\
example:
  # on the head node of a running cluster (ray start --head ...), store on shared storage
  python examples/ray/driver.py --ragops /opt/ragops/bin/ragops \\
      --pipeline /shared/pipelines/docs.toml --store /shared/ragops-store \\
      --shards 8 --cpus-per-task 4 --env RUST_LOG=info --report build-report.json

  # a local test cluster started and stopped for you:
  examples/ray/run_local.sh --ragops target/release/ragops --store /tmp/store --shards 2
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class ShardFailed(RuntimeError):
    """A shard's `ragops build` exited non-zero (Ray retries the task when this is raised)."""


def run_ragops(argv, env=None):
    """Runs ragops, returns (exit code, stdout, stderr)."""
    p = subprocess.run(argv, capture_output=True, text=True, env=env)
    return p.returncode, p.stdout, p.stderr


def parse_json(stdout: str, what: str):
    try:
        return json.loads(stdout)
    except json.JSONDecodeError as e:
        raise RuntimeError(f"{what}: stdout is not JSON ({e}):\n{stdout[-2000:]}") from None


def tail(text: str, n: int = 40) -> str:
    lines = text.strip().splitlines()
    return "\n".join(lines[-n:])


def build_shard(ragops, common_args, build_id, shard, shards):
    """The Ray task: `ragops build --shard shard/shards` on whichever node Ray picked. Its
    environment is the worker's, with the driver's runtime_env env_vars set."""
    import ray  # on the worker

    argv = [ragops, "build", *common_args, "--shard", f"{shard}/{shards}",
            "--build-id", build_id, "--json", "-q"]
    ctx = ray.get_runtime_context()
    started = time.time()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    code, out, err = run_ragops(argv)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    where = f"{socket.gethostname()} node {ctx.get_node_id()[:12]}"
    if code != 0:
        # Raising makes Ray retry the task (retry_exceptions=True), up to max_retries times.
        raise ShardFailed(
            f"shard {shard}/{shards} exited {code} on {where} after {wall:.1f}s: "
            f"{' '.join(argv)}\n{tail(err)}"
        )
    return {
        "shard": shard,
        "node_id": ctx.get_node_id(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_unix": started,
        "wall_s": wall,
        "cpu_s": cpu,
        "report": parse_json(out, f"shard {shard}/{shards}"),
    }


def dig(obj, *paths, default=None):
    """The first of several key paths present in a JSON object (reports may nest counts)."""
    for path in paths:
        cur = obj
        for key in path.split("."):
            if isinstance(cur, dict) and key in cur:
                cur = cur[key]
            else:
                cur = None
                break
        if cur is not None:
            return cur
    return default


def shard_numbers(report):
    return {
        "documents": dig(report, "counts.documents", "documents", default=0),
        "chunks": dig(report, "counts.chunks", "chunks", default=0),
        "embeddings_computed": dig(
            report, "counts.embeddings_computed", "incremental.embeddings_computed",
            "embeddings_computed", default=0),
        "embeddings_cached": dig(
            report, "counts.embeddings_cached", "incremental.embeddings_cached",
            "embeddings_cached", default=0),
    }


def default_build_id() -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"ray-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def parse_env(pairs):
    env = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env takes KEY=VALUE, not {p!r}")
        env[key] = value
    return env


def resolve_binary(path: str) -> str:
    found = shutil.which(path) if os.sep not in path else path
    if not found or not os.path.isfile(found):
        raise SystemExit(f"ragops binary not found: {path} (pass --ragops PATH)")
    return os.path.abspath(found)


def is_url(s: str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", s) is not None


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--address", default="auto",
                    help="Ray cluster address for ray.init (default: auto, the cluster "
                         "started on this machine or RAY_ADDRESS)")
    ap.add_argument("--ragops", default="ragops",
                    help="ragops binary (default: `ragops` on PATH); run by absolute path, "
                         "so it must be at the same path on every node")
    ap.add_argument("--pipeline", "-p", help="pipeline file (absolute paths are safest)")
    ap.add_argument("--store", help="store directory or URL (s3://...); default: the "
                                    "pipeline's [store] dir. Every node must reach it")
    ap.add_argument("--shard-plan", metavar="FILE",
                    help="JSON {\"shards\": [[path, ...], ...]} assigning source files to "
                         "shards, passed to each shard as `ragops build --plan FILE` (to "
                         "balance a few large files); must be readable on every node")
    ap.add_argument("--shards", type=int, default=2, help="number of shards (default 2)")
    ap.add_argument("--build-id", default=None,
                    help="build id, [A-Za-z0-9._-]{1,64} (default: ray-<UTC time>-<hex>); "
                         "reuse one to resume a build whose shards partly failed")
    ap.add_argument("--cpus-per-task", type=float, default=1,
                    help="CPUs Ray reserves per shard task (default 1); also the shard's "
                         "RAYON_NUM_THREADS unless --env sets it")
    ap.add_argument("--retries", type=int, default=2,
                    help="times Ray reruns a failed shard task (default 2)")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="environment for the shard processes (repeatable), e.g. "
                         "RAYON_NUM_THREADS=4")
    ap.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                    help="give up on shards still running after this long (no commit)")
    ap.add_argument("--rebuild-all", action="store_true",
                    help="build every shard even if a previous run of this build id "
                         "staged some (default: only the missing ones)")
    ap.add_argument("--force", action="store_true", help="pass --force to `ragops commit`")
    ap.add_argument("--no-commit", action="store_true",
                    help="stage the shards but leave the commit to you")
    ap.add_argument("--report", metavar="FILE", help="also write the summary as JSON here")
    args = ap.parse_args(argv)
    if args.shards < 1:
        ap.error("--shards must be at least 1")
    if args.retries < 0:
        ap.error("--retries must be 0 or more")
    if args.build_id is None:
        args.build_id = default_build_id()
    if not BUILD_ID_RE.match(args.build_id):
        ap.error(f"--build-id must match [A-Za-z0-9._-]{{1,64}}: {args.build_id!r}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    ragops = resolve_binary(args.ragops)
    common = []
    if args.pipeline:
        common += ["-p", os.path.abspath(args.pipeline)]
    store = args.store
    if store:
        store = store if is_url(store) else os.path.abspath(store)
        common += ["--store", store]

    shard_args = list(common)
    if args.shard_plan:
        shard_args += ["--plan", os.path.abspath(args.shard_plan)]

    # The shards' environment, explicit rather than whatever each raylet inherited. No
    # secrets by default: Ray keeps a task's runtime_env in its control store, where the
    # dashboard shows it. Object-store credentials belong on the nodes (instance roles,
    # ~/.aws); --env passes one through when you accept that.
    task_env = {}
    for key in ("HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "RUST_LOG",
                "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        if key in os.environ:
            task_env[key] = os.environ[key]
    if args.cpus_per_task >= 1:
        task_env["RAYON_NUM_THREADS"] = str(int(args.cpus_per_task))
    task_env.update(parse_env(args.env))
    task_env.pop("RAGOPS_STORE", None)  # --store is passed explicitly, or the pipeline's

    import ray

    t_start = time.monotonic()
    started_at = datetime.datetime.now(datetime.timezone.utc).isoformat()

    # 1. Plan: records the parent snapshot (what `current` names now) for the commit's CAS.
    code, out, err = run_ragops([ragops, "shards", "plan", *common, "--build-id",
                                 args.build_id, "--shards", str(args.shards), "--json"])
    if code != 0:
        log(f"ragops shards plan failed ({code}):\n{tail(err)}")
        return 1
    plan = parse_json(out, "shards plan")
    t_planned = time.monotonic()
    log(f"planned build {args.build_id}: {args.shards} shards, parent "
        f"{plan.get('parent') or '(none)'}, store {plan.get('store') or store}")

    # A rerun with the same build id builds only the shards not yet staged.
    todo = list(range(args.shards))
    if not args.rebuild_all:
        code, out, err = run_ragops([ragops, "shards", "status", args.build_id, *common,
                                     "--json"])
        if code == 0:
            present = set(parse_json(out, "shards status").get("present") or [])
            todo = [i for i in todo if i not in present]
            if present:
                log(f"shards already staged for {args.build_id}: {sorted(present)}; "
                    f"building {todo}")

    ray.init(address=args.address, logging_level="WARNING", log_to_driver=True)
    workers = [n for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU", 0) > 0]
    log(f"Ray {ray.__version__}: {len(workers)} nodes with CPUs, "
        f"{ray.cluster_resources().get('CPU', 0):g} CPUs in all")

    task = ray.remote(build_shard).options(
        num_cpus=args.cpus_per_task,
        max_retries=args.retries,
        retry_exceptions=True,
        runtime_env={"env_vars": task_env},
        name="ragops-build-shard",
    )
    t_build = time.monotonic()
    pending = {task.remote(ragops, shard_args, args.build_id, i, args.shards): i for i in todo}
    results, failures = {}, {}
    deadline = t_build + args.timeout if args.timeout else None
    while pending:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        done, _ = ray.wait(list(pending), num_returns=1, timeout=left)
        if not done:
            for ref, i in pending.items():
                failures[i] = f"timed out after {args.timeout}s"
                ray.cancel(ref, force=True)
            log(f"timed out after {args.timeout}s waiting for shards {sorted(pending.values())}")
            break
        ref = done[0]
        i = pending.pop(ref)
        try:
            r = ray.get(ref)
        except Exception as e:  # retries exhausted
            failures[i] = str(e)
            log(f"shard {i}/{args.shards} FAILED after {args.retries} retries: {e}")
            continue
        r["end_s"] = time.monotonic() - t_build
        results[i] = r
        n = shard_numbers(r["report"])
        log(f"shard {i}/{args.shards} done in {r['wall_s']:.1f}s on node "
            f"{r['node_id'][:12]}: {n['chunks']} chunks, {n['embeddings_computed']} embedded")
    t_built = time.monotonic()

    commit = None
    if failures:
        code, out, err = run_ragops([ragops, "shards", "status", args.build_id, *common,
                                     "--json"])
        status = parse_json(out, "shards status") if code == 0 else None
        log(f"not committing: {len(failures)} of {args.shards} shards failed; "
            f"missing: {status.get('missing') if status else '?'}. Rerun with "
            f"--build-id {args.build_id} to build what is missing.")
    elif not args.no_commit:
        argv = [ragops, "commit", args.build_id, *common, "--json"]
        if args.force:
            argv.append("--force")
        code, out, err = run_ragops(argv)
        if code != 0:
            log(f"ragops commit failed ({code}):\n{tail(err)}")
            failures["commit"] = tail(err)
        else:
            commit = parse_json(out, "commit")
    t_end = time.monotonic()

    per_shard = []
    for i in sorted(results):
        r = results[i]
        per_shard.append({"shard": i, "node_id": r["node_id"], "host": r["host"],
                          "wall_s": round(r["wall_s"], 3), "cpu_s": round(r["cpu_s"], 3),
                          **shard_numbers(r["report"])})
    chunks = sum(s["chunks"] for s in per_shard)
    total = t_end - t_start
    summary = {
        "build_id": args.build_id,
        "shards": args.shards,
        "parent": plan.get("parent"),
        "store": plan.get("store") or store,
        "snapshot": commit.get("snapshot") if commit else None,
        "committed": commit is not None,
        "started_at": started_at,
        "ray_version": ray.__version__,
        "cpus_per_task": args.cpus_per_task,
        "retries": args.retries,
        "nodes_used": len({s["node_id"] for s in per_shard}),
        "wall_s": {"plan": round(t_planned - t_start, 3),
                   "ray_init": round(t_build - t_planned, 3),
                   "build": round(t_built - t_build, 3),
                   "commit": round(t_end - t_built, 3),
                   "total": round(total, 3)},
        "documents": sum(s["documents"] for s in per_shard),
        "chunks": chunks,
        "embeddings_computed": sum(s["embeddings_computed"] for s in per_shard),
        "embeddings_cached": sum(s["embeddings_cached"] for s in per_shard),
        "chunks_per_s": round(chunks / total, 2) if total > 0 else None,
        "shards_built": sorted(results),
        "snapshot_chunks": dig(commit or {}, "counts.chunks", "chunks"),
        "per_shard": per_shard,
        "failures": {str(k): v for k, v in failures.items()},
        "commit": commit,
        "shard_reports": {str(i): results[i]["report"] for i in sorted(results)},
    }

    print(f"\nbuild {args.build_id}: {args.shards} shards on {summary['nodes_used']} nodes")
    print(f"{'shard':>5} {'node':<12} {'wall s':>8} {'cpu s':>7} {'docs':>6} {'chunks':>7} "
          f"{'embedded':>9} {'cached':>7}")
    for s in per_shard:
        print(f"{s['shard']:>5} {s['node_id'][:12]:<12} {s['wall_s']:>8.1f} {s['cpu_s']:>7.1f} "
              f"{s['documents']:>6} {s['chunks']:>7} {s['embeddings_computed']:>9} "
              f"{s['embeddings_cached']:>7}")
    w = summary["wall_s"]
    print(f"total: {chunks} chunks, {summary['embeddings_computed']} embeddings computed; "
          f"wall {w['total']:.1f}s (plan {w['plan']:.1f}s, connect {w['ray_init']:.1f}s, "
          f"shards {w['build']:.1f}s, "
          f"commit {w['commit']:.1f}s); {summary['chunks_per_s'] or 0:.1f} chunks/s")
    if commit:
        print(f"committed snapshot {summary['snapshot']} (parent {plan.get('parent')})")
    else:
        print("nothing committed")
    sys.stdout.flush()
    if args.report:
        with open(args.report, "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
    return 0 if not failures and (commit or args.no_commit) else 1


if __name__ == "__main__":
    sys.exit(main())
