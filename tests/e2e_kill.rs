//! Crash safety: a build SIGKILLed at each step of the publication protocol leaves the live
//! snapshot intact and searchable, and the next build succeeds. A second concurrent build is
//! refused with a clear message while the first holds the store lock.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;

/// Starts `ragops args...` stopped at `point` (test hook) and returns once it is there.
fn paused_at(args: &[&str], point: &str) -> Child {
    let mut child = ragops(args)
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
        panic!("{args:?} never reached {point}");
    }
    child
}

/// A full build (no reuse: every stage runs) stopped at `point`.
fn build_paused_at(pipeline: &str, point: &str) -> Child {
    paused_at(&["build", "-p", pipeline, "--full"], point)
}

/// The search whose results must survive every kill.
fn query(st: &str) -> [&str; 9] {
    [
        "search",
        "restore a backup",
        "--store",
        st,
        "--mode",
        "hybrid",
        "--json",
        "-k",
        "3",
    ]
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
    let q = query(st);
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

        assert_store_intact(st, &first, &q, &expected, point);
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

/// After a kill: `current` is `live`, searches as before, verifies, and a build succeeds.
fn assert_store_intact(st: &str, live: &str, q: &[&str], expected: &serde_json::Value, at: &str) {
    assert_eq!(current(st), live, "killed at {at}: current moved");
    let res = ok_json(q);
    assert_eq!(&res["results"], expected, "killed at {at}: search changed");
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
        "killed at {at}: live snapshot damaged"
    );
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
    ok_json(&["build", "-p", s(&p), "--json", "-q"]);
    let edited = docs.join("dr-drill.md");
    let mut text = std::fs::read_to_string(&edited).expect("read");
    text.push_str("\n\nA new paragraph about restoring a backup in another region.\n");
    std::fs::write(&edited, text).expect("edit");
    let live = ok_json(&["build", "-p", s(&p), "--json", "-q"])["snapshot"]
        .as_str()
        .expect("id")
        .to_string();
    let q = query(st);
    let expected = ok_json(&q)["results"].clone();

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
        assert_store_intact(st, &live, &q, &expected, point);
    }
    let next = ok_json(&["build", "-p", s(&p), "--json", "-q"]);
    assert_eq!(next["incremental"]["documents_reused"], 2, "{next}");
    assert_eq!(next["incremental"]["cache_entries_torn"], 0);
    let live = next["snapshot"].as_str().expect("id").to_string();
    let expected = ok_json(&q)["results"].clone();

    // gc killed after moving a snapshot to trash, and after rewriting a cache segment.
    for point in ["gc-after-trash", "gc-after-rewrite"] {
        let mut child = paused_at(&["snapshots", "gc", "--keep", "0", "--store", st], point);
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        assert_store_intact(st, &live, &q, &expected, point);
        let listed = ok_json(&["snapshots", "list", "--store", st, "--json"]);
        assert!(
            listed.as_array().is_some_and(|l| !l.is_empty()),
            "store lists after {point}"
        );
    }
    let r = ok_json(&["snapshots", "gc", "--keep", "0", "--store", st, "--json"]);
    assert!(r["deleted"]
        .as_array()
        .is_some_and(|d| d.iter().all(|id| id != live.as_str())));
    assert_store_intact(st, &live, &q, &expected, "after gc");
    assert!(
        !store.join("trash").exists()
            || std::fs::read_dir(store.join("trash"))
                .map(|d| d.count())
                .unwrap_or(0)
                == 0
    );
    // And a build still works on top.
    std::fs::write(docs.join("new.md"), "# New\n\nA new document.\n").expect("add");
    let after = ok_json(&["build", "-p", s(&p), "--json", "-q"]);
    assert_eq!(after["incremental"]["documents_added"], 1);
    assert_eq!(after["incremental"]["cache_entries_torn"], 0);
}

/// A small xorshift generator: the kill times of a run come from its printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `[0, max)`.
    fn below(&mut self, max: Duration) -> Duration {
        Duration::from_nanos(self.next() % (max.as_nanos() as u64).max(1))
    }
}

/// 50 SIGKILLs at uniformly random times over a full build of the fixtures. After each, the
/// snapshot `current` names (the old one, or the new one if the build got there first)
/// verifies and answers a search; the next build cleans up whatever the kill left.
#[test]
fn sigkill_at_random_times_never_damages_the_live_snapshot() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = fixtures().join("corpus");
    let p = pipeline(tmp.path(), "p.toml", &[docs], s(&model), 64, "");
    let store = tmp.path().join("store");
    let st = s(&store);
    // How long a full build takes here: kills land anywhere in it, and a little after.
    let t = std::time::Instant::now();
    ok(&["build", "-p", s(&p), "-q", "--full", "--force"]);
    let span = t.elapsed().mul_f64(1.2);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    eprintln!("random kills: seed {seed}, over {span:?}");
    let mut rng = Rng(seed);
    let mut published = 0;
    for i in 0..50 {
        let before = current(st);
        let mut child = ragops(&["build", "-p", s(&p), "-q", "--full", "--force"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let at = rng.below(span);
        std::thread::sleep(at);
        let _ = child.kill();
        child.wait().expect("reaped");
        let now = current(st);
        if now != before {
            published += 1;
        }
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
            "kill {i} at {at:?} (seed {seed}): live snapshot damaged: {}",
            v["verify"]
        );
        let hits = ok_json(&query(st));
        assert!(
            hits["results"].as_array().is_some_and(|r| !r.is_empty()),
            "kill {i} at {at:?} (seed {seed}): no results"
        );
    }
    eprintln!("random kills: {published} of 50 builds published before their kill");
    // What the kills left behind is cleaned by the next build.
    ok(&["build", "-p", s(&p), "-q", "--full", "--force"]);
    let staging = std::fs::read_dir(store.join("staging"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(staging, 0, "staging cleaned");
}
