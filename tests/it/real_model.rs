//! End-to-end with the real all-MiniLM-L6-v2: build the fixtures with the default pipeline, check
//! that fixture questions find the document that answers them, then change the chunk size,
//! rebuild, roll back, and check search answers from the first snapshot again.

use ragops_engine::ops::SearchResults;
use ragops_engine::BuildReport;

use crate::common::*;

struct Query {
    text: String,
    doc: String,
}

/// A line of `fixtures/queries.jsonl`.
#[derive(serde::Deserialize)]
struct Line {
    query: String,
    relevant: Vec<Relevant>,
}

#[derive(serde::Deserialize)]
struct Relevant {
    doc_id: String,
}

fn queries() -> Vec<Query> {
    std::fs::read_to_string(fixtures().join("queries.jsonl"))
        .expect("queries.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let line: Line = serde_json::from_str(l).expect("query line");
            Query {
                text: line.query,
                doc: line.relevant[0].doc_id.clone(),
            }
        })
        .collect()
}

fn search(store: &str, query: &str, mode: &str, snapshot: &str) -> SearchResults {
    json(&[
        "search",
        query,
        "--store",
        store,
        "--mode",
        mode,
        "-k",
        "5",
        "--snapshot",
        snapshot,
        "--json",
    ])
}

fn docs(res: &SearchResults) -> Vec<String> {
    res.results.iter().map(|r| r.doc_id.clone()).collect()
}

#[test]
fn fixtures_build_search_rebuild_and_rollback() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("store");
    let store_s = s(&store);
    let default = repo().join("pipelines/default.toml");

    // 1. The default pipeline over the fixtures, with the real model.
    let report: BuildReport = json(&[
        "build",
        "-p",
        s(&default),
        "--store",
        store_s,
        "--json",
        "-q",
    ]);
    let first = report.snapshot.clone();
    assert!(report.published);
    assert!(report.counts.documents >= 40);
    let skipped: Vec<&str> = report.skipped.iter().map(|s| s.path.as_str()).collect();
    for bad in [
        "empty.md",
        "encrypted.pdf",
        "latin1-notes.txt",
        "random-bytes.md",
        "truncated.pdf",
    ] {
        assert!(
            skipped.iter().any(|p| p.ends_with(bad)),
            "{bad} not reported: {skipped:?}"
        );
    }

    // 2. Every fixture question finds its document in the top 5 (vector and hybrid), hybrid ranks
    //    it first for at least 90% of questions and vector for at least 85%.
    let qs = queries();
    assert!(qs.len() >= 30);
    let (mut hybrid_first, mut vector_first) = (0, 0);
    for q in &qs {
        let h = docs(&search(store_s, &q.text, "hybrid", "current"));
        let v = docs(&search(store_s, &q.text, "vector", "current"));
        assert!(
            h.contains(&q.doc),
            "hybrid misses {} for {:?}: {h:?}",
            q.doc,
            q.text
        );
        assert!(
            v.contains(&q.doc),
            "vector misses {} for {:?}: {v:?}",
            q.doc,
            q.text
        );
        hybrid_first += usize::from(h[0] == q.doc);
        vector_first += usize::from(v[0] == q.doc);
    }
    eprintln!(
        "hit@1: hybrid {hybrid_first}/{n}, vector {vector_first}/{n}",
        n = qs.len()
    );
    assert!(
        hybrid_first * 10 >= qs.len() * 9,
        "hybrid hit@1 {hybrid_first}/{}",
        qs.len()
    );
    assert!(
        vector_first * 20 >= qs.len() * 17,
        "vector hit@1 {vector_first}/{}",
        qs.len()
    );
    // A question one PDF page answers: its chunk is first in both modes, with its page.
    let q = "How many filters can one query contain before it is rejected?";
    for mode in ["vector", "hybrid"] {
        let res = search(store_s, q, mode, "current");
        let top = &res.results[0];
        assert_eq!(top.doc_id, "manuals/query-language.pdf", "{mode}: {res:?}");
        assert!(
            top.page_start.is_some() && top.page_end >= top.page_start,
            "PDF chunks carry their page range"
        );
    }
    let before = search(store_s, q, "hybrid", "current");

    // 3. Change the chunk size, rebuild: a new snapshot with other chunks becomes current.
    let text = std::fs::read_to_string(&default).expect("default pipeline");
    let corpus = fixtures().join("corpus");
    let text = text.replace("size = 222 ", "size = 96 ").replace(
        "\"../fixtures/corpus\", \"../fixtures/bad\"",
        &format!("{:?}", s(&corpus)),
    );
    assert!(text.contains("size = 96 "), "default.toml layout changed");
    let small = tmp.path().join("small.toml");
    std::fs::write(&small, text).expect("write pipeline");
    let report2: BuildReport =
        json(&["build", "-p", s(&small), "--store", store_s, "--json", "-q"]);
    let second = report2.snapshot.clone();
    assert_ne!(first, second);
    assert_eq!(report2.parent.as_ref(), Some(&first));
    assert!(report2.counts.chunks > report.counts.chunks);
    let after = search(store_s, q, "hybrid", "current");
    assert_eq!(after.snapshot, second);
    assert_ne!(after.results[0].chunk_id, before.results[0].chunk_id);

    // 4. Roll back: current is the first snapshot and search answers exactly as before.
    let out = ok(&["snapshots", "rollback", "--store", store_s]);
    assert!(out.contains(&format!("{second} -> {first}")), "{out}");
    let rolled = search(store_s, q, "hybrid", "current");
    assert_eq!(rolled.snapshot, first);
    assert_eq!(rolled.results, before.results);
}
