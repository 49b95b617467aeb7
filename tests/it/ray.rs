//! The Ray example (examples/ray): `run_local.sh` starts a real Ray cluster on this machine
//! (a head that schedules nothing and two one-CPU worker nodes, on loopback), `driver.py`
//! plans a sharded build, runs `ragops build --shard I/2` as Ray tasks and commits. The
//! published snapshot must be the one the commit reported and hold the same chunks as a
//! single-process build of the same pipeline. Tiny random BERT for speed (real code path).
//!
//! Needs `python3 -m venv` and PyPI (Ray goes into `<repo>/.cache/ray-venv` on first use).

use std::collections::BTreeSet;
use std::process::Command;

use crate::common::*;

#[test]
fn ray_example_builds_and_commits_on_a_local_cluster() {
    let c = ctx().corpus(&[fixtures().join("corpus")]);
    let p = c.pipeline();
    let ray_store = c.dir().join("ray-store");
    let report_path = c.dir().join("ray-report.json");

    let script = repo().join("examples/ray/run_local.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args(["--ragops", s(&bin()), "--pipeline", s(&p)])
        .args(["--store", s(&ray_store), "--shards", "2"])
        .args(["--", "--report", s(&report_path), "--timeout", "600"])
        .env_remove("RAGOPS_STORE")
        .env_remove("RAGOPS_FAILPOINT")
        .env_remove("RAGOPS_FAILPOINT_RESUME")
        .env_remove("RAY_ADDRESS")
        .output()
        .expect("run_local.sh runs");
    let log = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "run_local.sh failed ({}):\n{log}",
        out.status
    );
    // The log shows the cluster (`ray status`), and the driver found two worker nodes.
    assert!(log.contains("ray status"), "{log}");
    assert!(log.contains(": 2 nodes with CPUs"), "{log}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_path).expect("driver report"))
            .expect("report is JSON");
    assert_eq!(report["committed"], true, "{report:#}");
    assert_eq!(report["shards"], 2, "{report:#}");
    let shards: BTreeSet<u64> = report["per_shard"]
        .as_array()
        .expect("per_shard")
        .iter()
        .map(|s| s["shard"].as_u64().expect("shard index"))
        .collect();
    assert_eq!(shards, BTreeSet::from([0, 1]), "{report:#}");
    let snapshot = report["snapshot"]
        .as_str()
        .expect("the commit's snapshot id");

    // The commit published it: `current` names the committed snapshot, and it verifies.
    let store = s(&ray_store);
    assert_eq!(current(store).as_str(), snapshot, "{log}");
    let shown = show_verified(store, "current");
    let verify = shown.verify.expect("verify report");
    assert!(verify.ok, "{:?}", verify.problems());

    // Same chunks as one process building the same pipeline into another store.
    let single_store = c.dir().join("single-store");
    let single = build(&p, &["--store", s(&single_store)]);
    assert!(single.counts.chunks > 0);
    assert_eq!(shown.manifest.counts.chunks, single.counts.chunks);
    assert_eq!(shown.manifest.counts.documents, single.counts.documents);
    assert_eq!(
        report["chunks"].as_u64(),
        Some(single.counts.chunks),
        "{report:#}"
    );
    let rows =
        |store: &std::path::Path, id: &ragops_core::SnapshotId| -> BTreeSet<(String, String)> {
            table(store, id)
                .into_values()
                .map(|(doc, text, _)| (doc, text))
                .collect()
        };
    assert_eq!(
        rows(&ray_store, &shown.manifest.id),
        rows(&single_store, &single.snapshot),
        "the sharded snapshot's chunks differ from the single-process build's"
    );
}
