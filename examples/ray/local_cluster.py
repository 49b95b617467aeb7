#!/usr/bin/env python3
"""Hold a real multi-node Ray cluster on this one machine, on the loopback address.

A head node that schedules nothing (num_cpus=0) and --workers worker nodes with --cpus CPUs
each: one GCS, and one raylet with its own object store per node, as `ray start` would give on
separate machines. The cluster lives as long as this process: SIGTERM or SIGINT (or the death
of --parent-pid) shuts every node down.

Why not `ray start --address=...` for the workers? On Linux, Ray resolves 127.0.0.1 to the
machine's outward address for a multi-node cluster, and the switch that keeps it on loopback
(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0) makes `ray start` refuse to join a second node. Ray's
own `ray.cluster_utils.Cluster` starts the same processes on loopback. On real machines use
`ray start` (see README.md).

Example:
  RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 python local_cluster.py --address-file /tmp/addr &
"""

import argparse
import os
import signal
import sys
import time


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workers", type=int, default=2, help="worker nodes (default 2)")
    ap.add_argument("--cpus", type=int, default=1, help="CPUs per worker node (default 1)")
    ap.add_argument(
        "--object-store-memory",
        type=int,
        default=100_000_000,
        help="object store bytes per node (default 100000000)",
    )
    ap.add_argument("--temp-dir", help="Ray's temp dir (keep it short: socket paths)")
    ap.add_argument("--address-file", required=True, help="where to write host:port")
    ap.add_argument(
        "--parent-pid",
        type=int,
        help="shut down when this process is gone (so a killed script leaves no cluster)",
    )
    args = ap.parse_args()

    # Loopback only: set before Ray is imported (it reads the switch at import time).
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from ray.cluster_utils import Cluster

    head = dict(
        num_cpus=0,
        object_store_memory=args.object_store_memory,
        include_dashboard=False,
    )
    if args.temp_dir:
        head["temp_dir"] = args.temp_dir
    cluster = Cluster(initialize_head=True, head_node_args=head)
    stopping = False

    def stop(*_):
        nonlocal stopping
        if not stopping:
            stopping = True
            cluster.shutdown()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for _ in range(args.workers):
            cluster.add_node(num_cpus=args.cpus, object_store_memory=args.object_store_memory)
        cluster.wait_for_nodes()
        tmp = args.address_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(cluster.address + "\n")
        os.replace(tmp, args.address_file)
        print(f"local Ray cluster up at {cluster.address}: head (0 CPUs) + "
              f"{args.workers} workers x {args.cpus} CPU", flush=True)
        while True:
            time.sleep(1)
            if args.parent_pid and not alive(args.parent_pid):
                print("parent gone: shutting the cluster down", flush=True)
                stop()
    except BaseException:
        if not stopping:
            cluster.shutdown()
        raise


if __name__ == "__main__":
    sys.exit(main())
