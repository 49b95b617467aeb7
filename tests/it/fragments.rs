//! Format 2: incremental builds that reference their parent's fragments and mask replaced
//! rows, compared with full builds; gc counting fragment references; compaction; and
//! format-1 snapshots read and built upon. Tiny random BERT for speed (real code path).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ragops_core::SnapshotId;
use ragops_engine::ops::{GcReport, SearchResults};

use crate::common::*;

pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for e in std::fs::read_dir(src).expect("read_dir").flatten() {
        let to = dst.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).expect("copy");
        }
    }
}

/// A temp dir with the tiny model, a writable copy of the fixture corpus and a 64-token
/// pipeline over it with `extra` appended (TOML).
pub fn setup(extra: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    copy_dir(&fixtures().join("corpus"), &docs);
    let p = pipeline(
        tmp.path(),
        "p.toml",
        std::slice::from_ref(&docs),
        s(&model),
        64,
        "",
    );
    let mut text = std::fs::read_to_string(&p).expect("pipeline");
    text.push_str(extra);
    std::fs::write(&p, text).expect("pipeline");
    (tmp, docs, p)
}

const QUERIES: [&str; 5] = [
    "disaster recovery drill failover",
    "refresh interval of an index",
    "rotate the TLS certificates",
    "billing and pricing tiers",
    "stuck merge runbook",
];

/// `(chunk id, score)` of a top-10, sorted by score then id (so that equal scores compare
/// equal whatever order each index broke the tie in).
fn top10(store: &Path, mode: &str, query: &str) -> Vec<(String, f32)> {
    let r: SearchResults = json(&[
        "search",
        query,
        "--store",
        s(store),
        "--mode",
        mode,
        "--exact",
        "-k",
        "10",
        "--json",
    ]);
    let mut v: Vec<(String, f32)> = r
        .results
        .into_iter()
        .map(|h| (h.chunk_id, h.score))
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// The incremental store's `current` holds what a full build of the same sources holds: the
/// same chunks with the same vectors, and the same BM25 and exact vector top-10s.
pub fn assert_equals_full_build(p: &Path, store: &Path, full: &Path, round: &str) {
    let f = build(p, &["--full", "--store", s(full)]);
    let inc = current(s(store));
    let (a, b) = (table(store, &inc), table(full, &f.snapshot));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{round}: same chunk ids"
    );
    for (id, (doc, text, v)) in &a {
        let (doc2, text2, v2) = &b[id];
        assert_eq!((doc, text), (doc2, text2), "{round}: chunk {id}");
        let dot: f32 = v.iter().zip(v2).map(|(x, y)| x * y).sum();
        let norm = |u: &[f32]| u.iter().map(|x| x * x).sum::<f32>().sqrt();
        let cos = dot / (norm(v) * norm(v2));
        assert!(cos > 0.99999, "{round}: chunk {id}: cosine {cos}");
    }
    for q in QUERIES {
        // BM25 with global statistics: the scores are those of one index of the live rows.
        assert_eq!(
            top10(store, "bm25", q),
            top10(full, "bm25", q),
            "{round}: bm25 {q:?}"
        );
        let (x, y) = (top10(store, "vector", q), top10(full, "vector", q));
        let ids = |v: &[(String, f32)]| v.iter().map(|h| h.0.clone()).collect::<Vec<_>>();
        let mut xi = ids(&x);
        let mut yi = ids(&y);
        xi.sort();
        yi.sort();
        assert_eq!(xi, yi, "{round}: vector {q:?}");
        for ((_, s1), (_, s2)) in x.iter().zip(&y) {
            assert!(
                (s1 - s2).abs() < 1e-5,
                "{round}: vector {q:?}: {s1} vs {s2}"
            );
        }
    }
}

pub fn edit_record(file: &Path, line: usize, append: &str) {
    let text = std::fs::read_to_string(file).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut v: serde_json::Value = serde_json::from_str(&lines[line]).expect("record");
    let t = v["text"].as_str().expect("text").to_string();
    v["text"] = serde_json::json!(format!("{t} {append}"));
    lines[line] = v.to_string();
    std::fs::write(file, lines.join("\n") + "\n").expect("write");
}

fn shown(store: &Path) -> Shown {
    show_verified(s(store), "current")
}

#[test]
fn three_incremental_builds_equal_full_builds() {
    // Compaction out of the way: this test is about references and masks.
    let (tmp, docs, p) = setup("\n[index.compaction]\nmax_deleted_percent = 90\n");
    let store = tmp.path().join("store");
    let full = tmp.path().join("full");
    let first = build(&p, &[]);
    let rows0 = first.counts.chunks;

    // 1. A Markdown file and one JSONL record edited.
    let mut dr = std::fs::read_to_string(docs.join("handbook/dr-drill.md")).expect("read");
    dr.push_str("\n\n## Afterwards\n\nBackups are restored in the standby region weekly.\n");
    std::fs::write(docs.join("handbook/dr-drill.md"), dr).expect("edit");
    edit_record(
        &docs.join("kb/faq.jsonl"),
        2,
        "Refresh intervals can be tuned per tenant.",
    );
    let r1 = build(&p, &[]);
    assert_eq!(r1.incremental.documents_changed, 2, "{r1:?}");
    assert!(!r1.incremental.compacted);
    // The other seven records of faq.jsonl are kept by reference, like unchanged files.
    let total = r1.counts.documents;
    assert_eq!(r1.incremental.documents_reused, total - 2, "{r1:?}");
    let m1 = shown(&store);
    assert!(m1.verify.expect("verified").ok);
    assert_eq!(m1.manifest.format_version, 2);
    assert_eq!(
        m1.manifest.fragments.len(),
        2,
        "the parent's fragment and a new one"
    );
    assert_eq!(m1.manifest.fragments[0].id, {
        let m0 = ragops_store::Store::open(&store)
            .and_then(|s| s.manifest(&first.snapshot))
            .expect("first manifest");
        m0.fragments[0].id.clone()
    });
    assert!(
        m1.manifest.fragments[0].deleted > 0,
        "replaced rows are masked"
    );
    assert_eq!(
        m1.manifest.fragments[0].rows, rows0,
        "the parent's fragment is referenced as it is"
    );
    assert_equals_full_build(&p, &store, &full, "round 1");

    // 2. A file deleted, a file added, another record edited.
    std::fs::remove_file(docs.join("site/pricing.html")).expect("delete");
    std::fs::write(
        docs.join("notes/extra.md"),
        "# Extra\n\nA new note about rotating the TLS certificates every ninety days.\n",
    )
    .expect("add");
    edit_record(
        &docs.join("kb/tickets.jsonl"),
        1,
        "Escalated to the storage team.",
    );
    let r2 = build(&p, &[]);
    assert_eq!(r2.incremental.documents_deleted, 1, "{r2:?}");
    assert_eq!(r2.incremental.documents_added, 1, "{r2:?}");
    assert_equals_full_build(&p, &store, &full, "round 2");

    // 3. A file moved (its rows are copied with the new path, nothing embedded) and a record
    //    removed.
    std::fs::create_dir_all(docs.join("archive")).expect("mkdir");
    std::fs::rename(
        docs.join("notes/glossary.txt"),
        docs.join("archive/glossary.txt"),
    )
    .expect("move");
    let faq = std::fs::read_to_string(docs.join("kb/faq.jsonl")).expect("read");
    let kept: Vec<&str> = faq.lines().filter(|l| !l.contains("\"faq-005\"")).collect();
    assert_eq!(kept.len() + 1, faq.lines().count(), "faq-005 exists");
    std::fs::write(docs.join("kb/faq.jsonl"), kept.join("\n") + "\n").expect("write");
    let r3 = build(&p, &[]);
    assert_eq!(r3.incremental.embeddings_computed, 0, "{r3:?}");
    let m3 = shown(&store);
    assert!(m3.verify.expect("verified").ok);
    assert!(
        m3.manifest.fragments.len() >= 3,
        "{:?}",
        m3.manifest.fragments
    );
    assert_equals_full_build(&p, &store, &full, "round 3");
    // Search shows the moved file's new path.
    let r: SearchResults = json(&[
        "search",
        "glossary",
        "--store",
        s(&store),
        "--mode",
        "bm25",
        "--json",
    ]);
    assert!(
        r.results
            .iter()
            .any(|h| h.source_path.contains("archive/glossary.txt")),
        "{r:?}"
    );
    assert!(!r
        .results
        .iter()
        .any(|h| h.source_path.contains("notes/glossary.txt")));
}

/// The whole source root moved (same ids, new paths) and one ticket edited: the rows of every
/// unchanged document, the other tickets included, are copied with their new path rather than
/// loaded and embedded again.
#[test]
fn a_moved_source_root_copies_rows_of_unchanged_records() {
    let (tmp, docs, p) = setup("");
    let store = tmp.path().join("store");
    let full = tmp.path().join("full");
    build(&p, &[]);
    let moved = tmp.path().join("docs-moved");
    std::fs::rename(&docs, &moved).expect("move root");
    let text = std::fs::read_to_string(&p).expect("pipeline");
    std::fs::write(&p, text.replace(s(&docs), s(&moved))).expect("pipeline");
    edit_record(
        &moved.join("kb/tickets.jsonl"),
        0,
        "Reopened by the on-call engineer.",
    );
    let r4 = build(&p, &[]);
    assert_eq!(r4.incremental.documents_changed, 1, "{r4:?}");
    assert_eq!(
        r4.incremental.documents_reused,
        r4.counts.documents - 1,
        "every unchanged record reused: {r4:?}"
    );
    assert_equals_full_build(&p, &store, &full, "moved root");
    let t: SearchResults = json(&[
        "search",
        "index",
        "--store",
        s(&store),
        "--mode",
        "bm25",
        "-k",
        "50",
        "--json",
    ]);
    assert!(!t.results.is_empty());
    assert!(
        t.results
            .iter()
            .all(|h| h.source_path.contains("docs-moved")),
        "{t:?}"
    );
}

/// The fragment ids of a snapshot.
fn fragment_ids(store: &Path, id: &SnapshotId) -> Vec<String> {
    ragops_store::Store::open(store)
        .and_then(|s| s.manifest(id))
        .expect("manifest")
        .fragments
        .iter()
        .map(|f| f.id.to_string())
        .collect()
}

fn fragment_dirs(store: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(store.join("fragments"))
        .expect("fragments dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn gc_counts_fragment_references_and_compaction_rewrites() {
    let (tmp, docs, p) = setup("");
    let store = tmp.path().join("store");
    let st = s(&store);
    let a = build(&p, &[]).snapshot;
    std::fs::write(
        docs.join("notes/extra.md"),
        "# Extra\n\nShared fragments.\n",
    )
    .expect("add");
    let b = build(&p, &[]).snapshot;
    let (fa, fb) = (fragment_ids(&store, &a), fragment_ids(&store, &b));
    assert_eq!(fa.len(), 1);
    assert_eq!(fb.len(), 2);
    assert_eq!(fb[0], fa[0], "b references a's fragment");

    // Deleting a leaves its fragment: b lists it.
    let r: GcReport = json(&["snapshots", "gc", "--keep", "1", "--store", st, "--json"]);
    assert_eq!(r.deleted, vec![a.clone()]);
    assert!(r.fragments_deleted.is_empty(), "{r:?}");
    assert_eq!(fragment_dirs(&store), {
        let mut v = fb.clone();
        v.sort();
        v
    });
    assert!(shown(&store).verify.expect("verified").ok);
    let hits: SearchResults = json(&["search", "shared fragments", "--store", st, "--json"]);
    assert!(!hits.results.is_empty());

    // Compaction: past max_fragments, the next build rewrites every live row into one fragment.
    let mut text = std::fs::read_to_string(&p).expect("pipeline");
    text.push_str("\n[index.compaction]\nmax_fragments = 2\n");
    std::fs::write(&p, text).expect("pipeline");
    std::fs::write(docs.join("notes/more.md"), "# More\n\nA third fragment.\n").expect("add");
    let c = build(&p, &["--force"]);
    let fc = fragment_ids(&store, &c.snapshot);
    assert_eq!(fc.len(), 1, "compacted: {fc:?}");
    assert!(c.incremental.compacted, "{c:?}");
    assert!(!fb.contains(&fc[0]));
    assert_eq!(c.incremental.embeddings_computed, 1, "{c:?}");
    let m = shown(&store);
    assert!(m.verify.expect("verified").ok);
    assert_eq!(m.manifest.fragments[0].deleted, 0);
    assert_eq!(m.manifest.fragments[0].rows, c.counts.chunks);

    // A dry run reports b's two fragments without deleting them; gc then deletes them.
    let dry: GcReport = json(&[
        "snapshots",
        "gc",
        "--keep",
        "1",
        "--store",
        st,
        "--json",
        "--dry-run",
    ]);
    assert_eq!(dry.fragments_deleted.len(), 2, "{dry:?}");
    assert!(dry.fragment_bytes > 0);
    assert_eq!(fragment_dirs(&store).len(), 3);
    let r: GcReport = json(&["snapshots", "gc", "--keep", "1", "--store", st, "--json"]);
    assert_eq!(r.deleted, vec![b]);
    assert_eq!(r.fragments_deleted.len(), 2);
    assert_eq!(fragment_dirs(&store), fc);
    assert!(shown(&store).verify.expect("verified").ok);
    // A tagged snapshot keeps its fragments alive.
    ok(&[
        "snapshots",
        "tag",
        c.snapshot.as_str(),
        "keep-me",
        "--store",
        st,
    ]);
    std::fs::write(docs.join("notes/last.md"), "# Last\n\nOne more.\n").expect("add");
    let d = build(&p, &[]);
    assert!(fragment_ids(&store, &d.snapshot).contains(&fc[0]));
}

#[test]
fn format_1_snapshots_are_read_and_built_upon() {
    let (tmp, docs, p) = setup("");
    let store = tmp.path().join("store");
    let st = s(&store);
    let first = build(&p, &[]).snapshot;
    let before: BTreeMap<&str, Vec<(String, f32)>> = QUERIES
        .iter()
        .map(|q| (*q, top10(&store, "bm25", q)))
        .collect();
    downgrade_to_format_1(&store, &first);
    assert!(!store
        .join("snapshots")
        .join(first.as_str())
        .join("catalog.json.lz4")
        .exists());

    // Read as it is: search, verify, check.
    let m = shown(&store);
    assert_eq!(m.manifest.format_version, 1);
    assert!(m.verify.expect("verified").ok);
    for q in QUERIES {
        assert_eq!(top10(&store, "bm25", q), before[q], "{q}");
    }
    let (code, _) = check(&p, &[]);
    assert_eq!(code, 0, "a format-1 snapshot checks as fresh");

    // Built upon: the reused rows are copied into a fragment (nothing embedded), the
    // unchanged records of an edited JSONL file included.
    std::fs::write(
        docs.join("notes/extra.md"),
        "# Extra\n\nOn top of format 1.\n",
    )
    .expect("add");
    edit_record(&docs.join("kb/faq.jsonl"), 1, "Edited on top of format 1.");
    let r = build(&p, &[]);
    assert_eq!(r.incremental.documents_added, 1);
    assert_eq!(r.incremental.documents_changed, 1, "{r:?}");
    assert_eq!(
        r.incremental.documents_reused,
        r.counts.documents - 2,
        "{r:?}"
    );
    let m = shown(&store);
    assert_eq!(m.manifest.format_version, 2);
    assert_eq!(m.manifest.fragments.len(), 1);
    assert!(m.verify.expect("verified").ok);
    // And gc removes the format-1 snapshot whole.
    let g: GcReport = json(&["snapshots", "gc", "--keep", "1", "--store", st, "--json"]);
    assert_eq!(g.deleted, vec![first.clone()]);
    assert!(!store.join("snapshots").join(first.as_str()).exists());
}

/// A graph built with other M or ef_construction is rebuilt (the fragments are compacted); a
/// new ef_search, read at query time, keeps them.
#[test]
fn changed_graph_settings_rebuild_the_graph_but_ef_search_does_not() {
    let (tmp, docs, p) = setup("\n[index]\nvector = \"hnsw\"\n");
    let store = tmp.path().join("store");
    build(&p, &[]);
    let set = |extra: &str| {
        let text = std::fs::read_to_string(&p).expect("pipeline");
        let base = text
            .split("\n[index.hnsw]")
            .next()
            .unwrap_or_default()
            .to_string();
        std::fs::write(&p, format!("{base}{extra}")).expect("pipeline");
    };
    let touch = |n: usize| {
        std::fs::write(
            docs.join("notes/extra.md"),
            format!("# Extra\n\nRevision {n}.\n"),
        )
        .expect("write");
    };
    set("\n[index.hnsw]\nef_search = 200\n");
    touch(1);
    let r = build(&p, &[]);
    assert!(!r.incremental.compacted, "{r:?}");
    assert_eq!(fragment_ids(&store, &r.snapshot).len(), 2);
    set("\n[index.hnsw]\nef_search = 200\nm = 8\n");
    touch(2);
    let r = build(&p, &[]);
    assert!(r.incremental.compacted, "a new M rebuilds the graph: {r:?}");
    assert_eq!(fragment_ids(&store, &r.snapshot).len(), 1);
    assert!(shown(&store).verify.expect("verified").ok);
}

/// A graph written under the old default (f16, no `[index.hnsw]` table in its config) is
/// rebuilt in the new default (i8) on the next build, and the store stays valid.
#[test]
fn an_f16_graph_of_the_old_default_is_rebuilt_in_i8() {
    let (tmp, docs, p) = setup("\n[index]\nvector = \"hnsw\"\n");
    let store = tmp.path().join("store");
    let base = std::fs::read_to_string(&p).expect("pipeline");
    std::fs::write(
        &p,
        format!("{base}\n[index.hnsw]\nquantization = \"f16\"\n"),
    )
    .expect("pipeline");
    let first = build(&p, &[]);
    let touch = |n: usize| {
        std::fs::write(
            docs.join("notes/extra.md"),
            format!("# Extra\n\nRevision {n}.\n"),
        )
        .expect("write");
    };
    // Same f16 settings: the graph is kept and a fragment is added.
    touch(1);
    let r = build(&p, &[]);
    assert!(!r.incremental.compacted, "{r:?}");
    assert_eq!(fragment_ids(&store, &r.snapshot).len(), 2);
    assert_ne!(r.snapshot, first.snapshot);
    // The default (i8) differs from the f16 graph: everything is rewritten in one fragment.
    std::fs::write(&p, &base).expect("pipeline");
    touch(2);
    let r = build(&p, &[]);
    assert!(
        r.incremental.compacted,
        "the i8 default rebuilds the f16 graph: {r:?}"
    );
    assert_eq!(fragment_ids(&store, &r.snapshot).len(), 1);
    assert!(shown(&store).verify.expect("verified").ok);
}
