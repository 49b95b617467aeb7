//! Stores on object storage, against a real S3-compatible server (moto's server mode, started
//! by the test): a sharded build whose shards and commit run as separate "machines" (their
//! own cache directories) equals a local build, incrementally too; the ref moves only by a
//! conditional write; the lock object's lease keeps a second coordinator out until it expires;
//! racing coordinators leave exactly one winner. Tiny random BERT for speed.

use std::path::Path;
use std::process::{Command, Output};

use ragops_engine::ops::SearchResults;
use ragops_engine::CommitReport;
use ragops_test_support::s3::S3Server;

use crate::common::*;
use crate::fragments::{edit_record, setup};

/// A ragops command against the server, with its own cache directory (one "machine").
fn on(server: &S3Server, machine: &Path, args: &[&str]) -> Command {
    let mut c = ragops(args);
    for (k, v) in server.env() {
        c.env(k, v);
    }
    c.env("RAGOPS_CACHE_DIR", machine);
    c
}

fn out_ok(mut c: Command) -> Output {
    let out = c.output().expect("ragops runs");
    assert!(
        out.status.success(),
        "{c:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a ragops command that prints JSON (`--json` in `args`) on one "machine" and reads it.
fn json_on<T: serde::de::DeserializeOwned>(server: &S3Server, machine: &Path, args: &[&str]) -> T {
    let out = out_ok(on(server, machine, args));
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

fn shards(server: &S3Server, tmp: &Path, p: &Path, url: &str, id: &str, n: u32) {
    let children: Vec<_> = (0..n)
        .map(|i| {
            on(
                server,
                &tmp.join(format!("machine-{i}")),
                &[
                    "build",
                    "-p",
                    s(p),
                    "--store",
                    url,
                    "--shard",
                    &format!("{i}/{n}"),
                    "--build-id",
                    id,
                    "-q",
                ],
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("shard")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("shard runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn commit(server: &S3Server, tmp: &Path, url: &str, id: &str) -> CommitReport {
    json_on(
        server,
        &tmp.join("coordinator"),
        &["commit", id, "--store", url, "--json"],
    )
}

const QUERIES: [&str; 3] = [
    "disaster recovery drill failover",
    "rotate the TLS certificates",
    "stuck merge runbook",
];

/// `(chunk id, score)` of an exact top-10 from a reader with a fresh cache directory.
fn top10(
    server: Option<&S3Server>,
    reader: &Path,
    store: &str,
    mode: &str,
    q: &str,
) -> Vec<(String, f32)> {
    let args = [
        "search", q, "--store", store, "--mode", mode, "--exact", "-k", "10", "--json",
    ];
    let c = match server {
        Some(srv) => on(srv, reader, &args),
        None => ragops(&args),
    };
    let r: SearchResults = serde_json::from_slice(&out_ok(c).stdout).expect("results");
    let mut v: Vec<(String, f32)> = r
        .results
        .into_iter()
        .map(|h| (h.chunk_id, h.score))
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

fn assert_same_answers(server: &S3Server, reader: &Path, url: &str, local: &Path, round: &str) {
    for q in QUERIES {
        // Hybrid is left out: its fused ranks tie often, and ties at rank 10 may admit either chunk.
        for mode in ["bm25", "vector"] {
            let a = top10(Some(server), reader, url, mode, q);
            let b = top10(None, reader, s(local), mode, q);
            assert_eq!(a.len(), b.len(), "{round}: {mode} {q:?}");
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x.0, y.0, "{round}: {mode} {q:?}");
                assert!((x.1 - y.1).abs() < 1e-5, "{round}: {mode} {q:?}");
            }
        }
    }
}

#[test]
fn a_sharded_build_on_s3_equals_a_local_build() {
    let server = S3Server::start(&repo(), "ragops-it");
    let (tmp, docs, p) = setup("");
    let url = server.url("idx");
    let local = tmp.path().join("local");

    shards(&server, tmp.path(), &p, &url, "n1", 3);
    let c1 = commit(&server, tmp.path(), &url, "n1");
    assert_eq!(c1.shard_fragments, 3);
    let current = server.get("idx/refs/current").expect("refs/current");
    assert_eq!(
        String::from_utf8_lossy(&current).trim(),
        c1.snapshot.as_str()
    );
    assert!(
        server.keys("idx/builds/").is_empty(),
        "the commit removes the build"
    );
    let mirror0 = std::fs::read_dir(tmp.path().join("machine-0/stores"))
        .expect("shard 0's mirror")
        .flatten()
        .next()
        .expect("one mirror")
        .path();
    assert!(
        !mirror0.join("builds/n1/shard-0").exists(),
        "a shard's local copy is removed once uploaded"
    );
    assert!(
        server.keys("idx/LOCK").is_empty(),
        "the lock object is released"
    );
    assert!(
        !server.keys("idx/cache/embeddings/").is_empty(),
        "cache segments committed"
    );
    build(&p, &["--store", s(&local)]);
    assert_same_answers(&server, &tmp.path().join("reader-1"), &url, &local, "first");

    // Incremental: an edited file and record; shards keep the rest in the parent's fragments.
    let md = docs.join("handbook/dr-drill.md");
    let text = std::fs::read_to_string(&md).expect("read");
    std::fs::write(
        &md,
        format!("{text}\n\nFailover drills happen every quarter.\n"),
    )
    .expect("edit");
    edit_record(&docs.join("kb/faq.jsonl"), 0, "Edited on object storage.");
    shards(&server, tmp.path(), &p, &url, "n2", 3);
    let c2 = commit(&server, tmp.path(), &url, "n2");
    assert_eq!(c2.parent.as_ref(), Some(&c1.snapshot));
    assert!(c2.carried_fragments > 0, "{c2:?}");
    let full = tmp.path().join("full");
    build(&p, &["--store", s(&full), "--full"]);
    assert_same_answers(
        &server,
        &tmp.path().join("reader-2"),
        &url,
        &full,
        "incremental",
    );
    // The reader's mirror verifies like any local store.
    let mirror = std::fs::read_dir(tmp.path().join("reader-2/stores"))
        .expect("mirror")
        .flatten()
        .next()
        .expect("one mirror")
        .path();
    show_verified(s(&mirror), "current");

    // A plain build on the bucket is a one-shard build and its commit: nothing changed, so
    // nothing is written; after an edit, a new snapshot on top of the sharded one.
    let cron_build = ["build", "-p", s(&p), "--store", &url, "--json", "-q"];
    let up: ragops_engine::BuildReport = json_on(&server, &tmp.path().join("cron"), &cron_build);
    assert!(up.up_to_date, "{up:?}");
    assert_eq!(up.snapshot, c2.snapshot);
    std::fs::write(
        &md,
        format!("{text}\n\nDrills are announced a week ahead.\n"),
    )
    .expect("edit");
    let next: ragops_engine::BuildReport = json_on(&server, &tmp.path().join("cron"), &cron_build);
    assert_eq!(next.parent.as_ref(), Some(&c2.snapshot));
    assert_eq!(
        next.incremental.documents_changed, 1,
        "{:?}",
        next.incremental
    );
    let current = server.get("idx/refs/current").expect("refs/current");
    assert_eq!(
        String::from_utf8_lossy(&current).trim(),
        next.snapshot.as_str()
    );
}

#[test]
fn the_ref_and_the_lock_move_only_by_conditional_writes() {
    let server = S3Server::start(&repo(), "ragops-cas");
    let (tmp, _docs, p) = setup("");
    let url = server.url("idx");
    let t = tmp.path();

    // Build "a" is planned with no parent; build "b" publishes first.
    let plan = on(
        &server,
        &t.join("coordinator"),
        &[
            "shards",
            "plan",
            "--build-id",
            "a",
            "--shards",
            "2",
            "--store",
            &url,
        ],
    );
    out_ok(plan);
    shards(&server, t, &p, &url, "a", 2);
    shards(&server, t, &p, &url, "b", 1);
    let b = commit(&server, t, &url, "b");
    let out = on(
        &server,
        &t.join("coordinator"),
        &["commit", "a", "--store", &url],
    )
    .output()
    .expect("commit a");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("`current` moved"),
        "{err}"
    );
    let current = || {
        String::from_utf8_lossy(&server.get("idx/refs/current").expect("ref"))
            .trim()
            .to_string()
    };
    assert_eq!(current(), b.snapshot.as_str(), "nothing published");

    // A live lease held by someone else keeps the commit out; an expired one is taken over.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let lease = |expires: u64| {
        serde_json::json!({"holder": "another coordinator", "expires_unix": expires}).to_string()
    };
    server.put("idx/LOCK", lease(now + 600).as_bytes());
    let out = on(
        &server,
        &t.join("coordinator"),
        &["commit", "a", "--store", &url, "--force"],
    )
    .output()
    .expect("commit a");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("another coordinator"),
        "{err}"
    );
    assert_eq!(current(), b.snapshot.as_str());
    server.put("idx/LOCK", lease(now - 1).as_bytes());
    let forced: CommitReport = json_on(
        &server,
        &t.join("coordinator"),
        &["commit", "a", "--store", &url, "--force", "--json"],
    );
    assert_eq!(current(), forced.snapshot.as_str());
    assert!(server.keys("idx/LOCK").is_empty());

    // Two coordinators at once: exactly one publishes.
    shards(&server, t, &p, &url, "race", 2);
    let spawn = |m: &str| {
        on(
            &server,
            &t.join(m),
            &["commit", "race", "--store", &url, "--wait", "60s", "--json"],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("coordinator")
    };
    let won = crate::sharded::one_winner([spawn("coord-x"), spawn("coord-y")], "race");
    assert_eq!(current(), won.snapshot.as_str());
}

#[test]
fn serve_follows_a_store_on_s3() {
    use crate::serve::{answer, search, Server};
    let server = S3Server::start(&repo(), "ragops-serve");
    let (tmp, docs, p) = setup("");
    let url = server.url("idx");
    let cron = tmp.path().join("cron");
    let build_on_s3 = || -> ragops_engine::BuildReport {
        json_on(
            &server,
            &cron,
            &["build", "-p", s(&p), "--store", &url, "--json", "-q"],
        )
    };
    let first = build_on_s3();
    let cache = tmp.path().join("server-machine");
    let env: Vec<(String, String)> = server.env();
    let mut env: Vec<(&str, &Path)> = env
        .iter()
        .map(|(k, v)| (k.as_str(), Path::new(v)))
        .collect();
    env.push(("RAGOPS_CACHE_DIR", &cache));
    let srv = Server::start(Path::new(&url), &env, &[]);
    let (status, body) = search(srv.addr, r#"{"query": "zeppelin maintenance", "k": 3}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(answer(&body).snapshot, first.snapshot.as_str());
    std::fs::write(
        docs.join("notes/zeppelin.txt"),
        "Zeppelin maintenance: the airship hangar is inspected every spring.\n",
    )
    .expect("add");
    let second = build_on_s3();
    assert_ne!(second.snapshot, first.snapshot);
    // The server polls the bucket's `current` (every 2 s), pulls the snapshot, swaps it in.
    let t = std::time::Instant::now();
    loop {
        let (status, body) = search(srv.addr, r#"{"query": "zeppelin maintenance", "k": 3}"#);
        assert_eq!(status, 200, "{body}");
        if answer(&body).snapshot == second.snapshot.as_str() {
            break;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(30),
            "still on {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // A rollback on the bucket (If-Match on the ref) reaches the server the same way.
    out_ok(on(
        &server,
        &tmp.path().join("operator"),
        &["snapshots", "rollback", "--store", &url],
    ));
    let current = server.get("idx/refs/current").expect("refs/current");
    assert_eq!(
        String::from_utf8_lossy(&current).trim(),
        first.snapshot.as_str()
    );
    let t = std::time::Instant::now();
    loop {
        let (_, body) = search(srv.addr, r#"{"query": "zeppelin maintenance", "k": 3}"#);
        if answer(&body).snapshot == first.snapshot.as_str() {
            break;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(30),
            "still on {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
