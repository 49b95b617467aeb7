//! Sharded builds: shards as separate processes, then one commit. A 4-shard build equals a
//! single-process build (chunk ids, vectors, top-10s), incrementally and through compaction;
//! a missing shard fails the commit and publishes nothing; a commit whose parent moved fails
//! unless forced; a plan file assigns files. Tiny random BERT for speed (real code path).
//! The kill and race tests need failpoints (`tests/it/failpoints.rs` has the helper).

use std::path::Path;
use std::process::Child;

use ragops_engine::{CommitReport, ShardReport, ShardStatus};

use crate::common::*;
use crate::fragments::{assert_equals_full_build, edit_record, setup};

/// Starts shard `i` of `n` of build `id` as its own process.
fn spawn_shard(p: &Path, store: &Path, id: &str, i: u32, n: u32) -> Child {
    ragops(&[
        "build",
        "-p",
        s(p),
        "--store",
        s(store),
        "--shard",
        &format!("{i}/{n}"),
        "--build-id",
        id,
        "--json",
        "-q",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("spawn shard")
}

/// Runs every shard of build `id` side by side and returns their reports.
fn run_shards(p: &Path, store: &Path, id: &str, n: u32) -> Vec<ShardReport> {
    let children: Vec<Child> = (0..n).map(|i| spawn_shard(p, store, id, i, n)).collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("shard runs");
            assert!(
                out.status.success(),
                "shard failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).expect("shard report")
        })
        .collect()
}

/// Waits for two coordinators committing build `id` at once: exactly one publishes, the other
/// finds the build committed. Returns the winner's report.
pub fn one_winner(coordinators: [Child; 2], id: &str) -> CommitReport {
    let outs = coordinators.map(|c| c.wait_with_output().expect("coordinator runs"));
    let won: Vec<CommitReport> = outs
        .iter()
        .filter(|o| o.status.success())
        .map(|o| serde_json::from_slice(&o.stdout).expect("report"))
        .collect();
    assert_eq!(won.len(), 1, "exactly one coordinator publishes");
    let lost = outs.iter().find(|o| !o.status.success()).expect("a loser");
    let err = String::from_utf8_lossy(&lost.stderr);
    assert!(err.contains(&format!("no build `{id}`")), "{err}");
    won.into_iter().next().expect("the winner")
}

fn commit(store: &Path, id: &str) -> CommitReport {
    json(&["commit", id, "--store", s(store), "--json"])
}

#[test]
fn four_shards_equal_a_single_process_build_through_edits_and_compaction() {
    let (tmp, docs, p) = setup("");
    let store = tmp.path().join("store");
    let full = tmp.path().join("full");

    // Round 1: no parent.
    let reports = run_shards(&p, &store, "r1", 4);
    assert!(
        reports.iter().filter(|r| r.counts.documents > 0).count() >= 3,
        "hashing spreads the fixture files over the shards: {:?}",
        reports
            .iter()
            .map(|r| r.counts.documents)
            .collect::<Vec<_>>()
    );
    let c1 = commit(&store, "r1");
    assert_eq!(current(s(&store)), c1.snapshot);
    assert_eq!(c1.carried_fragments, 0);
    assert_eq!(
        c1.counts.documents,
        reports.iter().map(|r| r.counts.documents).sum::<u64>()
    );
    assert!(
        !store.join("builds/r1").exists(),
        "the commit removes the build"
    );
    assert_equals_full_build(&p, &store, &full, "4 shards");
    show_verified(s(&store), "current");

    // Round 2: one file edited, one deleted, one added, one JSONL record changed: each
    // shard keeps its unchanged documents in the parent's fragments; the commit masks the rest.
    let md = docs.join("handbook/dr-drill.md");
    let text = std::fs::read_to_string(&md).expect("read");
    std::fs::write(
        &md,
        format!("{text}\n\nA new paragraph about failover drills.\n"),
    )
    .expect("edit");
    std::fs::remove_file(docs.join("notes/glossary.txt")).expect("delete");
    std::fs::write(
        docs.join("notes/new-runbook.txt"),
        "Runbook: rotating the TLS certificates of the search cluster every ninety days.\n",
    )
    .expect("add");
    edit_record(
        &docs.join("kb/faq.jsonl"),
        1,
        "Edited for the sharded build.",
    );
    let reports = run_shards(&p, &store, "r2", 4);
    assert!(reports.iter().map(|r| r.kept_documents).sum::<u64>() > 30);
    let c2 = commit(&store, "r2");
    assert_eq!(c2.parent.as_ref(), Some(&c1.snapshot));
    assert!(c2.carried_fragments > 0, "{c2:?}");
    assert!(!c2.compacted);
    assert_equals_full_build(&p, &store, &full, "4 shards, incremental");
    show_verified(s(&store), "current");

    // Round 3: parent fragments + 4 new ones pass max_fragments (8): the shards copy what
    // they keep, and the snapshot reads only their fragments.
    let frags_before = c2.fragments;
    std::fs::write(&md, format!("{text}\n\nAnother paragraph.\n")).expect("edit");
    let _ = run_shards(&p, &store, "r3", 4);
    let c3 = commit(&store, "r3");
    if frags_before + 4 > 8 {
        assert!(c3.compacted, "{frags_before} fragments + 4: {c3:?}");
        assert_eq!(c3.carried_fragments, 0);
    }
    assert_equals_full_build(&p, &store, &full, "4 shards, round 3");
    show_verified(s(&store), "current");
}

#[test]
fn a_missing_shard_fails_the_commit_and_publishes_nothing() {
    let (tmp, _docs, p) = setup("");
    let store = tmp.path().join("store");
    let first = build(&p, &["--store", s(&store)]).snapshot;
    for i in [0, 2, 3] {
        let out = spawn_shard(&p, &store, "b", i, 4)
            .wait_with_output()
            .expect("shard");
        assert!(out.status.success());
    }
    let st: ShardStatus = json(&["shards", "status", "b", "--store", s(&store), "--json"]);
    assert_eq!((st.present, st.missing), (vec![0, 2, 3], vec![1]));
    let err = fails(&["commit", "b", "--store", s(&store)]);
    assert!(
        err.contains("missing: 1") && err.contains("nothing was published"),
        "{err}"
    );
    assert_eq!(current(s(&store)), first, "nothing published");
    assert_eq!(list(s(&store)).len(), 1, "no snapshot written");
    // The shards stay staged: the missing one can still run and the build commit.
    let out = spawn_shard(&p, &store, "b", 1, 4)
        .wait_with_output()
        .expect("shard");
    assert!(out.status.success());
    let c = commit(&store, "b");
    assert_eq!(current(s(&store)), c.snapshot);
    assert_eq!(c.parent, Some(first.clone()));
    // Nothing changed since `first`: nothing was published.
    assert!(c.up_to_date && !c.published, "{c:?}");
    assert_eq!(c.snapshot, first);
    assert_eq!(list(s(&store)).len(), 1);
    // A second commit of the same build finds it gone.
    let err = fails(&["commit", "b", "--store", s(&store)]);
    assert!(err.contains("no build `b`"), "{err}");
}

#[test]
fn a_commit_whose_parent_moved_fails_unless_forced() {
    let (tmp, docs, p) = setup("");
    let store = tmp.path().join("store");
    let first = build(&p, &["--store", s(&store)]).snapshot;
    let plan: ragops_store::BuildPlanRecord = json(&[
        "shards",
        "plan",
        "--build-id",
        "b",
        "--shards",
        "2",
        "--store",
        s(&store),
        "--json",
    ]);
    assert_eq!(plan.parent.as_ref(), Some(&first));
    // Another count for the same build is refused.
    let err = fails(&[
        "shards",
        "plan",
        "--build-id",
        "b",
        "--shards",
        "3",
        "--store",
        s(&store),
    ]);
    assert!(err.contains("planned with 2 shard(s), not 3"), "{err}");
    run_shards(&p, &store, "b", 2);
    // A regular build publishes meanwhile.
    std::fs::write(
        docs.join("notes/extra.txt"),
        "An extra note about shards.\n",
    )
    .expect("add");
    let moved = build(&p, &["--store", s(&store)]).snapshot;
    let err = fails(&["commit", "b", "--store", s(&store)]);
    assert!(err.contains("`current` moved"), "{err}");
    assert_eq!(current(s(&store)), moved);
    let c: CommitReport = json(&["commit", "b", "--store", s(&store), "--force", "--json"]);
    assert_eq!(current(s(&store)), c.snapshot);
    assert_eq!(c.parent.as_ref(), Some(&first), "the plan's parent");
}

#[test]
fn a_plan_file_assigns_files_to_shards() {
    let (tmp, docs, p) = setup("");
    let store = tmp.path().join("store");
    let md = docs.join("handbook/dr-drill.md");
    let path = md.to_string_lossy().into_owned();
    // Which path form the build reports: take it from a single-process build's catalog.
    let one = build(&p, &["--store", s(&tmp.path().join("one"))]).snapshot;
    let cat = catalog(&tmp.path().join("one"), &one);
    let listed = cat
        .source_files
        .iter()
        .find(|f| f.path.ends_with("handbook/dr-drill.md"))
        .map(|f| f.path.clone())
        .unwrap_or(path);
    let plan = tmp.path().join("plan.json");
    std::fs::write(
        &plan,
        serde_json::json!({"shards": [[], [listed]]}).to_string(),
    )
    .expect("plan");
    let mut reports = Vec::new();
    for i in 0..2 {
        let r: ShardReport = json(&[
            "build",
            "-p",
            s(&p),
            "--store",
            s(&store),
            "--shard",
            &format!("{i}/2"),
            "--build-id",
            "pf",
            "--plan",
            s(&plan),
            "--json",
            "-q",
        ]);
        reports.push(r);
    }
    let c = commit(&store, "pf");
    let cat = catalog(&store, &c.snapshot);
    assert!(cat
        .sources
        .iter()
        .any(|d| d.path.ends_with("handbook/dr-drill.md")));
    // A plan naming a file the walk does not find is refused.
    std::fs::write(&plan, r#"{"shards": [["nope.md"], []]}"#).expect("plan");
    let err = fails(&[
        "build",
        "-p",
        s(&p),
        "--store",
        s(&store),
        "--shard",
        "0/2",
        "--build-id",
        "pf2",
        "--plan",
        s(&plan),
    ]);
    assert!(
        err.contains("not among the pipeline's source files"),
        "{err}"
    );
}

#[test]
fn two_coordinators_committing_at_once_exactly_one_wins() {
    let (tmp, docs, p) = setup("");
    let store = tmp.path().join("store");
    let first = build(&p, &["--store", s(&store)]).snapshot;
    std::fs::write(
        docs.join("notes/extra.txt"),
        "An extra note about shards.\n",
    )
    .expect("add");
    run_shards(&p, &store, "twice", 2);
    let spawn = || {
        ragops(&[
            "commit",
            "twice",
            "--store",
            s(&store),
            "--wait",
            "60s",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("coordinator")
    };
    let won = one_winner([spawn(), spawn()], "twice");
    assert_eq!(current(s(&store)), won.snapshot);
    assert_eq!(won.parent.as_ref(), Some(&first));
    assert_eq!(list(s(&store)).len(), 2, "one snapshot added");
}

#[cfg(feature = "failpoints")]
mod faults {
    use super::*;
    use crate::failpoints::paused_at;

    #[test]
    fn a_killed_shard_is_retried_and_the_build_commits() {
        let (tmp, _docs, p) = setup("");
        let store = tmp.path().join("store");
        for i in [0, 2] {
            let out = spawn_shard(&p, &store, "k", i, 3)
                .wait_with_output()
                .expect("shard");
            assert!(out.status.success());
        }
        let done0 = std::fs::read(store.join("builds/k/shard-0/shard.json")).expect("shard 0");
        // Shard 1 killed after embedding (its staging half-written), then before its rename.
        for point in ["after-embed", "shard-before-rename"] {
            let args = [
                "build",
                "-p",
                s(&p),
                "--store",
                s(&store),
                "--shard",
                "1/3",
                "--build-id",
                "k",
            ];
            let mut child = paused_at(&args, point);
            child.kill().expect("kill");
            child.wait().expect("wait");
            let st: ShardStatus = json(&["shards", "status", "k", "--store", s(&store), "--json"]);
            assert_eq!(st.missing, vec![1], "{point}");
            let err = fails(&["commit", "k", "--store", s(&store)]);
            assert!(err.contains("missing: 1"), "{err}");
            assert!(
                list(s(&store)).is_empty(),
                "nothing published after a kill at {point}"
            );
        }
        // The retry replaces only its own staging.
        let out = spawn_shard(&p, &store, "k", 1, 3)
            .wait_with_output()
            .expect("retry");
        assert!(out.status.success());
        let leftovers: Vec<String> = std::fs::read_dir(store.join("builds/k"))
            .expect("build dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".shard-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert_eq!(
            std::fs::read(store.join("builds/k/shard-0/shard.json")).expect("shard 0"),
            done0,
            "other shards untouched"
        );
        let c = commit(&store, "k");
        assert_eq!(current(s(&store)), c.snapshot);
        show_verified(s(&store), "current");
    }

    #[test]
    fn two_coordinators_racing_to_commit_one_wins() {
        let (tmp, _docs, p) = setup("");
        let store = tmp.path().join("store");
        run_shards(&p, &store, "race", 2);
        // The first coordinator stops just before publishing, holding the writer lock.
        let mut first = paused_at(
            &["commit", "race", "--store", s(&store)],
            "commit-before-publish",
        );
        let err = fails(&["commit", "race", "--store", s(&store)]);
        assert!(err.contains("locked by another writer"), "{err}");
        // A second one that waits for the lock runs once the first is done.
        let waiting = ragops(&["commit", "race", "--store", s(&store), "--wait", "60s"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("second coordinator");
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(
            list(s(&store)).iter().all(|r| !r.current),
            "not yet published"
        );
        // Kill the first: the lock is released, nothing was published; the waiting one wins.
        first.kill().expect("kill");
        first.wait().expect("wait");
        let out = waiting.wait_with_output().expect("second");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let published = current(s(&store));
        // A third finds the build committed.
        let err = fails(&["commit", "race", "--store", s(&store)]);
        assert!(err.contains("no build `race`"), "{err}");
        assert_eq!(current(s(&store)), published);
        show_verified(s(&store), "current");
    }
}
