//! The lazy query path: searches read the memory-mapped `vectors.f32` and fetch only the top
//! rows; snapshots written before the vector file existed still search the same, and a
//! damaged vector file is an error that names it.

use ragops_engine::ops::SearchResults;

use crate::common::*;

fn results(c: &TestContext, p: &str, mode: &str) -> Vec<(String, String)> {
    let r: SearchResults = c.json(&[
        "search",
        "restore a backup after an incident",
        "-p",
        p,
        "--mode",
        mode,
        "-k",
        "5",
        "--json",
    ]);
    r.results
        .into_iter()
        .map(|h| (h.chunk_id, format!("{:.5}", h.score)))
        .collect()
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
    let dir = c.store().join("snapshots").join(report.snapshot.as_str());
    let vectors = dir.join("vectors.f32");
    assert!(vectors.is_file(), "new snapshots have a vector file");
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
