//! The lazy query path: searches read the memory-mapped `vectors.f32` and fetch only the top
//! rows; snapshots written before the vector file existed still search the same, and a
//! damaged vector file is an error that names it.

use ragops_engine::ops::SearchResults;

use crate::common::*;

/// `ragops search` of the fixed query in `mode` with `k` results (and `extra` flags).
fn search(c: &TestContext, p: &str, mode: &str, k: &str, extra: &[&str]) -> SearchResults {
    let mut args = vec![
        "search",
        "restore a backup after an incident",
        "-p",
        p,
        "--mode",
        mode,
        "-k",
        k,
        "--json",
    ];
    args.extend_from_slice(extra);
    c.json(&args)
}

/// Chunk ids with their scores (5 decimals).
fn scored(r: &SearchResults) -> Vec<(String, String)> {
    r.results
        .iter()
        .map(|h| (h.chunk_id.clone(), format!("{:.5}", h.score)))
        .collect()
}

fn results(c: &TestContext, p: &str, mode: &str) -> Vec<(String, String)> {
    scored(&search(c, p, mode, "5", &[]))
}

#[test]
fn snapshots_without_a_vector_file_search_the_same_and_damage_is_named() {
    let c = ctx()
        .corpus(&[
            fixtures().join("corpus/handbook"),
            fixtures().join("corpus/notes"),
        ])
        .chunk_size(64);
    let p = c.pipeline();
    let ps = s(&p);
    let report = build(&p, &[]);
    let vectors = first_fragment_dir(&c.store(), &report.snapshot).join("vectors.f32");
    assert!(vectors.is_file(), "new snapshots have a vector file");
    // Format 1, as ragops wrote it before fragments: the data files in the snapshot's directory.
    downgrade_to_format_1(&c.store(), &report.snapshot);
    let dir = c.store().join("snapshots").join(report.snapshot.as_str());
    let vectors = dir.join("vectors.f32");
    assert!(vectors.is_file());
    let modes = ["vector", "bm25", "hybrid"];
    let before: Vec<_> = modes.iter().map(|m| results(&c, ps, m)).collect();
    assert!(before.iter().all(|r| r.len() == 5), "{before:?}");

    // As an older ragops wrote it: no vector file (vectors come from the chunk table).
    let bytes = std::fs::read(&vectors).expect("read vectors");
    std::fs::remove_file(&vectors).expect("remove vectors");
    rewrite_manifest(&dir, |m| {
        m["files"]
            .as_object_mut()
            .expect("files")
            .remove("vectors.f32");
    });
    let after: Vec<_> = modes.iter().map(|m| results(&c, ps, m)).collect();
    assert_eq!(before, after);
    c.ok(&["snapshots", "show", "current", "-p", ps, "--verify"]);

    // A truncated vector file: search fails and says which file and why.
    std::fs::write(&vectors, &bytes[..bytes.len() - 8]).expect("write damaged vectors");
    let err = c.fails(&["search", "backup", "-p", ps, "--mode", "vector"]);
    assert!(
        err.contains("vectors.f32") && err.contains("truncated"),
        "{err}"
    );
}

fn vector_search(c: &TestContext, p: &str, extra: &[&str]) -> SearchResults {
    search(c, p, "vector", "10", extra)
}

#[test]
fn an_hnsw_graph_is_built_when_asked_and_exact_search_scans() {
    let c = ctx()
        .corpus(&[
            fixtures().join("corpus/handbook"),
            fixtures().join("corpus/notes"),
        ])
        .chunk_size(64);
    let p = c.pipeline();
    let ps = s(&p);
    let graph =
        |id: &ragops_core::SnapshotId| first_fragment_dir(&c.store(), id).join("vectors.hnsw");
    // The default (`auto`) leaves a small snapshot to the exact scan.
    let flat = build(&p, &[]);
    assert!(!graph(&flat.snapshot).exists());
    let r = vector_search(&c, ps, &[]);
    assert_eq!(r.vector_search.as_deref(), Some("flat"));

    // Asked for, the graph is built and used; its candidates are re-scored with the f32 vectors.
    let mut text = std::fs::read_to_string(&p).expect("read pipeline");
    // A search width above the row count (1,395): the walk covers everything it can reach.
    text.push_str("\n[index]\nvector = \"hnsw\"\n\n[index.hnsw]\nef_search = 2000\n");
    std::fs::write(&p, text).expect("write pipeline");
    let built = build(&p, &[]);
    assert!(graph(&built.snapshot).is_file());
    let approx = vector_search(&c, ps, &[]);
    let exact = vector_search(&c, ps, &["--exact"]);
    assert_eq!(approx.vector_search.as_deref(), Some("hnsw"));
    assert_eq!(exact.vector_search.as_deref(), Some("flat"));
    // a filter admitting few rows is answered by scanning them, and says so
    let filtered = vector_search(&c, ps, &["--filter", "format = \"markdown\""]);
    assert_eq!(filtered.vector_search.as_deref(), Some("flat"));
    assert!(!filtered.results.is_empty());
    // The graph is built in parallel, so not the same graph every run, and it may leave rows
    // no walk reaches (the tiny model's vectors are near-duplicates); those are listed beside
    // it and searched too. So a search as wide as the graph finds every row, and the scores
    // are the exact ones: the graph's answer is the exact answer.
    assert_eq!(scored(&approx), scored(&exact));
    let all = |extra: &[&str]| scored(&search(&c, ps, "vector", "10000", extra));
    let every = all(&["--exact"]);
    assert!((1000..2000).contains(&every.len()), "{} rows", every.len());
    assert_eq!(all(&[]), every);
    let listed = first_fragment_dir(&c.store(), &built.snapshot).join("vectors.hnsw.unreached");
    assert!(listed.is_file());
    // The graph is part of the snapshot: listed in the manifest and verified.
    c.ok(&["snapshots", "show", "current", "-p", ps, "--verify"]);
    let eval: ragops_engine::ops::EvalReport = c.json(&[
        "eval",
        "--queries",
        s(&fixtures().join("queries.jsonl")),
        "-p",
        ps,
        "--exact",
        "--json",
    ]);
    assert_eq!(eval.vector_search.as_deref(), Some("flat"));

    // A damaged graph is an error that names it.
    std::fs::write(graph(&built.snapshot), b"not a graph").expect("damage");
    let err = c.fails(&["search", "backup", "-p", ps, "--mode", "vector"]);
    assert!(err.contains("vectors.hnsw"), "{err}");
}
