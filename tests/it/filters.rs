//! Filters (`search --filter`, `eval --filter`) and tenants: the rows a filter admits are the
//! only ones any list ranks, before its top-k.

use std::path::{Path, PathBuf};

use ragops_engine::ops::SearchResults;

use crate::common::*;

/// Two tenants with near-duplicate runbooks (globex's is acme's with one word changed), a
/// German page of acme's, a JSONL file of records with authors under `globex/`, and a
/// pipeline running the metadata and language steps. Returns the pipeline and the store.
pub fn tenant_corpus(dir: &Path) -> (PathBuf, PathBuf) {
    let model = tiny_model(dir);
    let docs = dir.join("docs");
    for t in ["acme", "globex"] {
        std::fs::create_dir_all(docs.join(t)).expect("mkdir");
    }
    let runbook = |tenant: &str, word: &str| {
        format!(
            "---\ntenant: {tenant}\nauthor: ops-{tenant}\nacl: [ops, sre]\ndate: 2026-03-01\n---\n\
             # Failover runbook\n\nPromote the standby database, then repoint the {word} \
             service at it and watch replication lag for ten minutes.\n"
        )
    };
    std::fs::write(docs.join("acme/failover.md"), runbook("acme", "billing")).expect("write");
    std::fs::write(
        docs.join("globex/failover.md"),
        runbook("globex", "payments"),
    )
    .expect("write");
    std::fs::write(
        docs.join("acme/zertifikate.md"),
        "---\ntenant: acme\n---\n# Zertifikate\n\nDie Zertifikate müssen vor dem Ablauf erneuert \
         werden, danach wird der Dienst neu gestartet, damit er die neuen Dateien liest.\n",
    )
    .expect("write");
    std::fs::write(
        docs.join("globex/faq.jsonl"),
        "{\"id\": \"q1\", \"text\": \"Refunds for failover incidents are credited within ten days.\", \"author\": \"jane\"}\n\
         {\"id\": \"q2\", \"text\": \"The standby database is promoted by the on-call engineer.\", \"author\": \"omar\"}\n",
    )
    .expect("write");
    let p = pipeline(
        dir,
        "p.toml",
        std::slice::from_ref(&docs),
        s(&model),
        64,
        "",
    );
    let text = std::fs::read_to_string(&p).expect("pipeline").replace(
        "[chunking]",
        "[sources.jsonl]\nid_field = \"id\"\ntext_field = \"text\"\nmetadata_fields = [\"author\"]\n\n[chunking]",
    );
    let text = format!(
        "{text}\n[enrich]\nsteps = [\"metadata\", \"language\", \"keywords\", \"contextual_header\"]\n\n\
         [enrich.metadata]\ntenant_from_path = \"{{tenant}}/**\"\n"
    );
    std::fs::write(&p, text).expect("pipeline");
    build(&p, &[]);
    (p, dir.join("store"))
}

fn query(store: &Path, q: &str, mode: &str, k: &str, filter: Option<&str>) -> SearchResults {
    let mut args = vec![
        "search",
        q,
        "--store",
        s(store),
        "--mode",
        mode,
        "-k",
        k,
        "--json",
    ];
    if let Some(f) = filter {
        args.extend(["--filter", f]);
    }
    json(&args)
}

#[test]
fn a_tenant_filter_never_returns_the_other_tenants_near_duplicate() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_p, store) = tenant_corpus(tmp.path());
    for mode in ["bm25", "vector", "hybrid"] {
        // unfiltered, both near-duplicates rank
        let all = query(
            &store,
            "promote the standby database failover",
            mode,
            "10",
            None,
        );
        assert!(
            all.results.iter().any(|h| h.doc_id.starts_with("globex/")),
            "{mode}: {:?}",
            all.results
        );
        let acme = query(
            &store,
            "promote the standby database failover",
            mode,
            "10",
            Some("tenant = \"acme\""),
        );
        assert!(!acme.results.is_empty(), "{mode}");
        assert!(
            acme.results.iter().all(|h| h.doc_id.starts_with("acme/")),
            "{mode}: {:?}",
            acme.results
        );
        assert_eq!(acme.filter.as_deref(), Some("tenant = \"acme\""));
    }
}

#[test]
fn filters_apply_before_top_k_in_every_mode() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_p, store) = tenant_corpus(tmp.path());
    for (filter, want) in [
        // declared fields, path tenants, languages, dates, lists
        ("meta.author = \"jane\"", vec!["globex/faq.jsonl#q1"]),
        (
            "tenant = \"globex\" AND format = \"jsonl\"",
            vec!["globex/faq.jsonl#q1", "globex/faq.jsonl#q2"],
        ),
        ("lang = \"de\"", vec!["acme/zertifikate.md"]),
        (
            "created >= 2026-03-01 AND acl = \"sre\"",
            vec!["acme/failover.md", "globex/failover.md"],
        ),
        ("created < 2026-03-01", vec![]),
        ("NOT tenant IN (\"acme\", \"globex\")", vec![]),
    ] {
        for mode in ["bm25", "vector", "hybrid"] {
            // Vector and hybrid rank every admitted row; BM25 only those holding a query term.
            let r = query(
                &store,
                "database failover refunds zertifikate",
                mode,
                "20",
                Some(filter),
            );
            let mut docs: Vec<String> = r.results.iter().map(|h| h.doc_id.clone()).collect();
            docs.sort();
            docs.dedup();
            if mode != "bm25" {
                assert_eq!(docs, want, "{mode} {filter}");
            } else {
                assert!(
                    docs.iter().all(|d| want.contains(&d.as_str())),
                    "{mode} {filter}: {docs:?}"
                );
            }
            // k = 1: an admitted row comes back even where the unfiltered top-1 is another
            // document's
            if !want.is_empty() {
                let one = query(
                    &store,
                    "database failover refunds zertifikate",
                    mode,
                    "1",
                    Some(filter),
                );
                if mode != "bm25" {
                    assert_eq!(one.results.len(), 1, "{mode} {filter}");
                }
                assert!(one
                    .results
                    .iter()
                    .all(|h| want.contains(&h.doc_id.as_str())));
            }
        }
    }
}

#[test]
fn a_bad_filter_is_named_with_its_place() {
    let err = fails(&[
        "search",
        "x",
        "--store",
        "/nonexistent",
        "--filter",
        "lang = en",
    ]);
    assert!(err.contains("quote strings"), "{err}");
    assert!(err.contains("       ^"), "{err}");
}

#[test]
fn keywords_are_stored_returned_and_filterable() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_p, store) = tenant_corpus(tmp.path());
    let all = query(&store, "standby database replication", "vector", "20", None);
    let with: Vec<_> = all
        .results
        .iter()
        .filter(|h| !h.keywords.is_empty())
        .collect();
    assert!(!with.is_empty(), "{:?}", all.results);
    assert!(with.iter().all(|h| h.keywords.len() <= 5));
    let kw = with[0].keywords[0].clone();
    let f = format!("keywords = \"{kw}\"");
    let r = query(
        &store,
        "standby database replication",
        "hybrid",
        "20",
        Some(&f),
    );
    assert!(!r.results.is_empty());
    assert!(
        r.results.iter().all(|h| h.keywords.contains(&kw)),
        "{kw}: {:?}",
        r.results
    );
    assert!(
        all.results.iter().any(|h| !h.keywords.contains(&kw)),
        "the filter narrows"
    );
}
