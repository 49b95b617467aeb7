//! Writers stopped at named failpoints (the `failpoints` feature, which the test suite builds
//! with): a build SIGKILLed at each step of the publication protocol, an incremental build and
//! gc killed at theirs, and a rollback made while a build waits before publishing.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ragops_core::SnapshotId;
use ragops_engine::ops::{GcReport, SearchResult};

use crate::common::*;
use crate::kill::results;

/// Starts `ragops args...` stopped at failpoint `point` and returns once it is there.
pub fn paused_at(args: &[&str], point: &str) -> std::process::Child {
    let mut child = ragops(args)
        .env("RAGOPS_FAILPOINT", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn build");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    let marker = format!("RAGOPS_FAILPOINT {point}");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(&marker) {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(120)).is_err() {
        let _ = child.kill();
        panic!("{args:?} never reached {point}");
    }
    child
}

/// A full build (no reuse: every stage runs) stopped at `point`.
fn build_paused_at(pipeline: &str, point: &str) -> std::process::Child {
    paused_at(&["build", "-p", pipeline, "--full"], point)
}

#[test]
fn sigkill_at_every_step_keeps_the_live_snapshot() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = fixtures().join("corpus");
    let p = pipeline(tmp.path(), "p.toml", &[docs], s(&model), 64, "");
    let store = tmp.path().join("store");
    let st = s(&store);
    let first = build(&p, &[]).snapshot;
    let expected = results(st);

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

        assert_store_intact(st, &first, &expected, point);
    }
    // Killed before publishing, a complete snapshot exists but was never published; killed
    // before the rename, a staged one is left in staging/.
    assert_eq!(
        std::fs::read_dir(store.join("staging"))
            .expect("staging")
            .count(),
        1
    );
    assert_eq!(list(st).len(), 2);

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
    let report: ragops_engine::BuildReport = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(current(st), report.snapshot);
    assert_eq!(report.parent, Some(first));
    let staging = std::fs::read_dir(store.join("staging"))
        .expect("staging")
        .count();
    assert_eq!(staging, 0, "staging cleaned");
}

/// After a kill: `current` is `live`, searches as before, and verifies.
fn assert_store_intact(st: &str, live: &SnapshotId, expected: &[SearchResult], at: &str) {
    assert_eq!(&current(st), live, "killed at {at}: current moved");
    assert_eq!(results(st), expected, "killed at {at}: search changed");
    let v = show_verified(st, "current").verify.expect("verify report");
    assert!(v.ok, "killed at {at}: live snapshot damaged: {v:?}");
}

#[test]
fn sigkill_during_incremental_build_or_gc_keeps_the_store_usable() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).expect("mkdir");
    for f in ["index-rollback.md", "backup-restore.md", "dr-drill.md"] {
        std::fs::copy(fixtures().join("corpus/handbook").join(f), docs.join(f)).expect("copy");
    }
    let p = pipeline(
        tmp.path(),
        "p.toml",
        std::slice::from_ref(&docs),
        s(&model),
        64,
        "",
    );
    let store = tmp.path().join("store");
    let st = s(&store);
    build(&p, &[]);
    let edited = docs.join("dr-drill.md");
    let mut text = std::fs::read_to_string(&edited).expect("read");
    text.push_str("\n\nA new paragraph about restoring a backup in another region.\n");
    std::fs::write(&edited, text).expect("edit");
    let live = build(&p, &[]).snapshot;
    let expected = results(st);

    // Incremental build (one file changed again) killed at each step.
    std::fs::write(
        docs.join("backup-restore.md"),
        "# Backup\n\nRewritten: snapshots hourly.\n",
    )
    .expect("edit");
    for point in [
        "after-reuse",
        "after-embed",
        "before-cache-commit",
        "after-parquet",
        "before-publish",
    ] {
        let mut child = paused_at(&["build", "-p", s(&p)], point);
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        assert_store_intact(st, &live, &expected, point);
    }
    let next = build(&p, &[]);
    assert_eq!(next.incremental.documents_reused, 2, "{next:?}");
    assert_eq!(next.incremental.cache_entries_torn, 0);
    let live = next.snapshot;
    let expected = results(st);

    // gc killed after moving a snapshot to trash, and after rewriting a cache segment.
    for point in ["gc-after-trash", "gc-after-rewrite"] {
        let mut child = paused_at(&["snapshots", "gc", "--keep", "0", "--store", st], point);
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        assert_store_intact(st, &live, &expected, point);
        assert!(!list(st).is_empty(), "store lists after {point}");
    }
    let r: GcReport = json(&["snapshots", "gc", "--keep", "0", "--store", st, "--json"]);
    assert!(!r.deleted.contains(&live));
    assert_store_intact(st, &live, &expected, "after gc");
    assert!(
        !store.join("trash").exists()
            || std::fs::read_dir(store.join("trash"))
                .map(|d| d.count())
                .unwrap_or(0)
                == 0
    );
    // And a build still works on top.
    std::fs::write(docs.join("new.md"), "# New\n\nA new document.\n").expect("add");
    let after = build(&p, &[]);
    assert_eq!(after.incremental.documents_added, 1);
    assert_eq!(after.incremental.cache_entries_torn, 0);
}

#[test]
fn rollback_and_tag_never_wait_for_a_build_and_the_build_does_not_publish_over_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).expect("mkdir");
    std::fs::write(docs.join("a.md"), "# A\n\nAlpha restores backups.\n").expect("write");
    let p = pipeline(
        tmp.path(),
        "p.toml",
        std::slice::from_ref(&docs),
        s(&model),
        64,
        "",
    );
    let store = tmp.path().join("store");
    let st = s(&store);
    let first = build(&p, &[]).snapshot;
    std::fs::write(docs.join("b.md"), "# B\n\nBeta.\n").expect("write");
    ok(&["build", "-p", s(&p), "-q"]);
    std::fs::write(docs.join("c.md"), "# C\n\nGamma.\n").expect("write");

    let resume = tmp.path().join("resume");
    let mut build = ragops(&["build", "-p", s(&p), "--json"])
        .env("RAGOPS_FAILPOINT", "after-embed")
        .env("RAGOPS_FAILPOINT_RESUME", &resume)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = build.stderr.take().expect("stderr");
    let paused = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).contains("RAGOPS_FAILPOINT after-embed") {
                return (true, stderr);
            }
        }
        (false, stderr)
    });
    let (reached, mut stderr) = paused.join().expect("reader");
    assert!(reached, "the build never paused");

    let t = Instant::now();
    ok(&["snapshots", "rollback", first.as_str(), "--store", st]);
    ok(&["snapshots", "tag", first.as_str(), "golden", "--store", st]);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());

    std::fs::write(&resume, "").expect("resume");
    let out = build.wait_with_output().expect("build ends");
    let mut err = String::new();
    stderr.read_to_string(&mut err).expect("stderr");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("`current` moved"), "{err}");
    assert_eq!(current(st), first, "the rollback stands");
    assert_eq!(
        list(st).len(),
        3,
        "the build's snapshot was written, not published"
    );

    // With --force, a build publishes over a rollback made while it ran.
    let before = list(st).len();
    std::fs::write(docs.join("d.md"), "# D\n\nDelta.\n").expect("write");
    std::fs::remove_file(&resume).expect("reset resume");
    let mut forced = ragops(&["build", "-p", s(&p), "--json", "-q", "--force"])
        .env("RAGOPS_FAILPOINT", "after-embed")
        .env("RAGOPS_FAILPOINT_RESUME", &resume)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = forced.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("RAGOPS_FAILPOINT after-embed") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the forced build paused");
    let other = list(st)
        .into_iter()
        .map(|x| x.id)
        .find(|id| *id != first)
        .expect("another snapshot");
    ok(&["snapshots", "rollback", other.as_str(), "--store", st]);
    std::fs::write(&resume, "").expect("resume");
    let out = forced.wait_with_output().expect("build ends");
    assert!(out.status.success(), "the forced build publishes");
    let report: ragops_engine::BuildReport = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(current(st), report.snapshot, "published over the rollback");
    assert_eq!(list(st).len(), before + 1);
}

#[test]
fn sigkill_during_compaction_keeps_the_live_snapshot() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).expect("mkdir");
    for f in ["index-rollback.md", "backup-restore.md", "dr-drill.md"] {
        std::fs::copy(fixtures().join("corpus/handbook").join(f), docs.join(f)).expect("copy");
    }
    let p = pipeline(
        tmp.path(),
        "p.toml",
        std::slice::from_ref(&docs),
        s(&model),
        64,
        "",
    );
    // Every incremental build past two fragments compacts.
    let mut text = std::fs::read_to_string(&p).expect("pipeline");
    text.push_str("\n[index.compaction]\nmax_fragments = 2\n");
    std::fs::write(&p, text).expect("pipeline");
    let store = tmp.path().join("store");
    let st = s(&store);
    build(&p, &[]);
    std::fs::write(docs.join("a.md"), "# A\n\nThe second fragment.\n").expect("add");
    let live = build(&p, &[]).snapshot;
    let expected = results(st);
    std::fs::write(docs.join("b.md"), "# B\n\nThe third fragment, compacted.\n").expect("add");
    for point in [
        "before-compaction",
        "during-copy",
        "after-fragment",
        "before-rename",
    ] {
        let mut child = paused_at(&["build", "-p", s(&p)], point);
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        assert_store_intact(st, &live, &expected, point);
    }
    let r = build(&p, &[]);
    let m = show_verified(st, "current");
    assert!(m.verify.expect("verified").ok);
    assert_eq!(m.manifest.fragments.len(), 1, "compacted");
    assert_eq!(r.incremental.documents_added, 1);
    // What the killed builds left (an installed fragment no snapshot lists) is collected.
    let g: GcReport = json(&["snapshots", "gc", "--keep", "2", "--store", st, "--json"]);
    let listed: std::collections::HashSet<String> = list(st)
        .iter()
        .flat_map(|row| {
            ragops_store::Store::open(&store)
                .and_then(|s| s.manifest(&row.id))
                .map(|m| {
                    m.fragments
                        .iter()
                        .map(|f| f.id.to_string())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .collect();
    let on_disk: std::collections::HashSet<String> = std::fs::read_dir(store.join("fragments"))
        .expect("fragments")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(on_disk, listed, "{g:?}");
}
