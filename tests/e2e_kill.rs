//! Crash safety: a build SIGKILLed at each step of the publication protocol leaves the live
//! snapshot intact and searchable, and the next build succeeds. A second concurrent build is
//! refused with a clear message while the first holds the store lock.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;

/// Starts a build that stops at `point` (test hook) and returns once it is there.
fn build_paused_at(pipeline: &str, point: &str) -> Child {
    let mut child = ragops(&["build", "-p", pipeline])
        .env("RAGOPS_TEST_PAUSE_AT", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn build");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    let marker = format!("RAGOPS_PAUSED_AT {point}");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(&marker) {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(120)).is_err() {
        let _ = child.kill();
        panic!("build never reached {point}");
    }
    child
}

fn current(store: &str) -> String {
    ok_json(&["snapshots", "show", "current", "--store", store, "--json"])["id"]
        .as_str()
        .expect("id")
        .to_string()
}

#[test]
fn sigkill_at_every_step_keeps_the_live_snapshot() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = fixtures().join("corpus");
    let p = pipeline(tmp.path(), "p.toml", &[docs], s(&model), 64, "");
    let store = tmp.path().join("store");
    let st = s(&store);
    let first = ok_json(&["build", "-p", s(&p), "--json", "-q"])["snapshot"]
        .as_str()
        .expect("id")
        .to_string();
    let q = [
        "search",
        "restore a backup",
        "--store",
        st,
        "--mode",
        "hybrid",
        "--json",
        "-k",
        "3",
    ];
    let expected = ok_json(&q)["results"].clone();

    for point in [
        "after-load",
        "after-embed",
        "after-parquet",
        "before-manifest",
        "before-publish",
        "before-rename",
    ] {
        let mut child = build_paused_at(s(&p), point);
        // While the build holds the lock, a second build is refused clearly.
        if point == "after-load" {
            let err = fails(&["build", "-p", s(&p)]);
            assert!(
                err.contains("locked by another writer") && err.contains("ragops build"),
                "{err}"
            );
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");

        assert_eq!(current(st), first, "killed at {point}: current moved");
        let res = ok_json(&q);
        assert_eq!(res["snapshot"], first.as_str());
        assert_eq!(
            res["results"], expected,
            "killed at {point}: search changed"
        );
        let v = ok_json(&[
            "snapshots",
            "show",
            "current",
            "--store",
            st,
            "--json",
            "--verify",
        ]);
        assert_eq!(
            v["verify"]["ok"], true,
            "killed at {point}: live snapshot damaged"
        );
    }
    // Killed before publishing, a complete snapshot exists but was never published; killed
    // before the rename, a staged one is left in staging/.
    assert_eq!(
        std::fs::read_dir(store.join("staging"))
            .expect("staging")
            .count(),
        1
    );
    let listed = ok_json(&["snapshots", "list", "--store", st, "--json"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(2));

    // The next build cleans up the leftovers and publishes.
    let out = ragops(&["build", "-p", s(&p), "--json"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("unfinished snapshot"));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let next = report["snapshot"].as_str().expect("id");
    assert_eq!(current(st), next);
    assert_eq!(report["parent"], first.as_str());
    let staging = std::fs::read_dir(store.join("staging"))
        .expect("staging")
        .count();
    assert_eq!(staging, 0, "staging cleaned");
}
