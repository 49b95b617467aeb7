//! The enrichment steps of `[enrich] steps`, driven through `ragops build` and `search`.

use std::path::{Path, PathBuf};

use ragops_engine::ops::SearchResults;

use crate::common::*;

const EMAIL: &str = "jane.doe@example.com";
const CARD: &str = "4111 1111 1111 1111";
const PHONE: &str = "+44 20 7946 0958";

/// A corpus of two Markdown files, one holding PII in several sections, and a pipeline with
/// `enrich` appended.
fn setup(enrich: &str) -> (tempfile::TempDir, PathBuf) {
    let billing = format!(
        "# Billing runbook\n\nRefunds go through the payments team. Escalations go to \
         {EMAIL} during office hours.\n\n## Card disputes\n\nThe customer paid with card \
         {CARD}; the dispute was opened on Monday.\n\n## Contact\n\nOn-call phone \
         {PHONE}. Nothing else here.\n"
    );
    let clean = "# Index tuning\n\nRaise the refresh interval of an index during bulk loads.\n";
    let (tmp, _, p) = corpus(
        &[("billing.md", billing), ("clean.md", clean.into())],
        24,
        enrich,
    );
    (tmp, p)
}

/// A temp dir with the tiny model, `files` (name, text) under `docs/` and a pipeline over them
/// with chunks of `size` tokens and `enrich` appended; returns the dir, `docs/` and the
/// pipeline.
fn corpus(
    files: &[(&str, String)],
    size: usize,
    enrich: &str,
) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).expect("mkdir");
    for (name, text) in files {
        std::fs::write(docs.join(name), text).expect("write");
    }
    let p = pipeline(
        tmp.path(),
        "p.toml",
        std::slice::from_ref(&docs),
        s(&model),
        size,
        "",
    );
    let mut text = std::fs::read_to_string(&p).expect("pipeline");
    text.push_str(enrich);
    std::fs::write(&p, text).expect("pipeline");
    (tmp, docs, p)
}

fn texts(store: &Path) -> Vec<String> {
    table(store, &current(s(store)))
        .into_values()
        .map(|(_, text, _)| text)
        .collect()
}

fn bm25(store: &Path, query: &str) -> SearchResults {
    json(&[
        "search",
        query,
        "--store",
        s(store),
        "--mode",
        "bm25",
        "-k",
        "20",
        "--json",
    ])
}

#[test]
fn redact_replaces_values_in_stored_text_and_the_full_text_index() {
    let (tmp, p) = setup(
        "\n[enrich]\nsteps = [\"pii\", \"contextual_header\"]\n\n[enrich.pii]\nmode = \"redact\"\n",
    );
    let store = tmp.path().join("store");
    let r = build(&p, &[]);
    let pii = r.pii.expect("pii tally");
    assert_eq!(pii.found.get("EMAIL"), Some(&1), "{pii:?}");
    assert_eq!(pii.found.get("CREDIT_CARD"), Some(&1), "{pii:?}");
    assert_eq!(pii.found.get("PHONE"), Some(&1), "{pii:?}");
    assert_eq!(
        (pii.documents_with_findings, pii.documents_redacted),
        (1, 1)
    );
    let all = texts(&store).join("\n");
    for value in [EMAIL, CARD, PHONE, "jane.doe", "7946"] {
        assert!(!all.contains(value), "{value:?} stored");
    }
    for placeholder in ["[EMAIL]", "[CREDIT_CARD]", "[PHONE]"] {
        assert!(
            all.contains(placeholder),
            "{placeholder} missing from {all}"
        );
    }
    // The full-text index holds the redacted text: the value's words find nothing, the
    // placeholder's word finds the chunk.
    for q in ["jane.doe", "example.com", "7946", "4111"] {
        let hits = bm25(&store, q);
        assert!(hits.results.is_empty(), "{q:?} found {:?}", hits.results);
    }
    let hits = bm25(&store, "EMAIL");
    assert!(hits.results.iter().any(|h| h.text.contains("[EMAIL]")));
    // Offsets are into the redacted text: each chunk spans exactly its own characters, and
    // chunks of one document are cut from one text (their ranges never disagree).
    let st = ragops_store::Store::open(&store).expect("store");
    let snap = st.snapshot(&current(s(&store))).expect("snapshot");
    for f in snap.fragments().expect("fragments") {
        let t = f.read_chunks().expect("table");
        for r in &t.rows {
            let c = &r.chunk;
            assert_eq!(
                (c.end_char - c.start_char) as usize,
                c.text.chars().count(),
                "{c:?}"
            );
            assert_eq!((c.end_byte - c.start_byte) as usize, c.text.len(), "{c:?}");
        }
    }
    // verify re-reads every file of the snapshot against its manifest
    assert!(shown_ok(&store));
}

fn shown_ok(store: &Path) -> bool {
    show_verified(s(store), "current")
        .verify
        .is_some_and(|v| v.ok)
}

#[test]
fn drop_leaves_out_the_chunks_that_hold_pii() {
    let (tmp, p) = setup("\n[enrich]\nsteps = [\"pii\"]\n\n[enrich.pii]\nmode = \"drop\"\n");
    let store = tmp.path().join("store");
    let full = build(&p, &[]);
    let pii = full.pii.expect("pii tally");
    assert!(pii.chunks_dropped >= 1, "{pii:?}");
    let kept = full.counts.chunks;
    let (_tmp2, p2) = setup("\n[enrich]\ncontextual_header = false\n");
    let all_chunks = build(&p2, &[]).counts.chunks;
    assert_eq!(kept + pii.chunks_dropped, all_chunks, "{pii:?}");
    let all = texts(&store).join("\n");
    for value in [EMAIL, CARD, PHONE] {
        assert!(!all.contains(value), "{value:?} stored");
    }
    assert!(all.contains("refresh interval"), "clean chunks stay");
    assert!(shown_ok(&store));
}

#[test]
fn detect_counts_without_changing_text_and_the_default_does_nothing() {
    let (tmp, p) = setup("\n[enrich]\nsteps = [\"pii\", \"contextual_header\"]\n");
    let store = tmp.path().join("store");
    let r = build(&p, &[]);
    let pii = r.pii.expect("pii tally");
    assert_eq!(pii.found.values().sum::<u64>(), 3, "{pii:?}");
    assert_eq!((pii.documents_redacted, pii.chunks_dropped), (0, 0));
    assert!(texts(&store).join("\n").contains(EMAIL));
    // The step is part of the reuse key: turning it off rebuilds, and reports nothing.
    let text = std::fs::read_to_string(&p).expect("pipeline");
    std::fs::write(
        &p,
        text.replace("steps = [\"pii\", \"contextual_header\"]", ""),
    )
    .expect("pipeline");
    let r = build(&p, &[]);
    assert!(r.pii.is_none());
    assert!(!r.up_to_date);
}

#[test]
fn bad_pii_settings_are_named() {
    let (_tmp, p) =
        setup("\n[enrich]\nsteps = [\"pii\"]\n\n[enrich.pii]\ntypes = [\"EMAIL\", \"PASSPORT\"]\n");
    let err = fails(&["build", "-p", s(&p), "-q"]);
    assert!(err.contains("PASSPORT") && err.contains("EMAIL"), "{err}");
    let (_tmp, p) = setup("\n[enrich]\nsteps = [\"pii\", \"sentiment\"]\n");
    let err = fails(&["build", "-p", s(&p), "-q"]);
    assert!(err.contains("sentiment"), "{err}");
}

/// Languages per chunk, stored in the table, returned with hits, and kept by rows that later
/// builds reuse.
#[test]
fn language_is_detected_per_chunk_stored_and_returned() {
    let (tmp, docs, p) = corpus(
        &[
            (
                "en.md",
                "# Certificates\n\nRotate the TLS certificates before they expire, then restart \
                 the proxy so that it reads the new files.\n"
                    .into(),
            ),
            (
                "de.md",
                "# Zertifikate\n\nDie Zertifikate müssen vor dem Ablauf erneuert werden, danach \
                 wird der Dienst neu gestartet, damit er die neuen Dateien liest.\n"
                    .into(),
            ),
        ],
        64,
        "\n[enrich]\nsteps = [\"language\", \"contextual_header\"]\n",
    );
    let store = tmp.path().join("store");
    build(&p, &[]);
    let langs = |store: &Path| -> Vec<(String, Option<String>)> {
        let st = ragops_store::Store::open(store).expect("store");
        let snap = st.snapshot(&current(s(store))).expect("snapshot");
        let mut v: Vec<(String, Option<String>)> = snap
            .fragments()
            .expect("fragments")
            .iter()
            .flat_map(|f| {
                let t = f.read_chunks().expect("table");
                (0..t.rows.len())
                    .filter(|&i| !f.is_deleted(i))
                    .map(|i| {
                        (
                            t.rows[i].chunk.doc_id.to_string(),
                            t.rows[i].meta.lang.clone(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        v.sort();
        v.dedup();
        v
    };
    assert_eq!(
        langs(&store),
        vec![
            ("de.md".to_string(), Some("de".to_string())),
            ("en.md".to_string(), Some("en".to_string())),
        ]
    );
    let hits = bm25(&store, "Zertifikate");
    assert_eq!(hits.results[0].lang.as_deref(), Some("de"));
    // a new document: the others' rows are reused with their languages
    std::fs::write(
        docs.join("fr.md"),
        "# Certificats\n\nLes certificats doivent être renouvelés avant leur expiration, puis \
         le service redémarré.\n",
    )
    .expect("write");
    let r = build(&p, &[]);
    assert_eq!(r.incremental.documents_unchanged, 2, "{r:?}");
    let l = langs(&store);
    assert!(l.contains(&("fr.md".into(), Some("fr".into()))), "{l:?}");
    assert!(l.contains(&("de.md".into(), Some("de".into()))), "{l:?}");
}

const RUNBOOK: &str = "# Failover\n\nPromote the standby database in the second region, then \
    repoint the billing service at it, watch replication lag for ten minutes, page the \
    database owner if lag stays above thirty seconds, and close the incident ticket with a \
    timeline of what happened and who approved the promotion.\n";

fn dedup_corpus(dedup: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    corpus(
        &[
            ("a.md", RUNBOOK.into()),
            // the same text, other case and spacing: an exact duplicate once normalised
            ("b.md", RUNBOOK.to_uppercase().replace(", ", " ,  ")),
            // one word changed: a near duplicate
            ("c.md", RUNBOOK.replace("billing", "payments")),
            (
                "d.md",
                "# Certificates\n\nRotate the TLS certificates before they expire, then restart \
                 the proxy.\n"
                    .into(),
            ),
        ],
        256,
        &format!(
            "\n[enrich]\nsteps = [\"dedup\", \"contextual_header\"]\n\n[enrich.dedup]\n{dedup}"
        ),
    )
}

fn doc_ids(store: &Path) -> Vec<String> {
    let mut v: Vec<String> = table(store, &current(s(store)))
        .into_values()
        .map(|(doc, _, _)| doc)
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn dedup_drops_exact_then_near_duplicates_and_stays_corpus_wide_across_builds() {
    // exact only: b.md goes, c.md stays
    let (tmp, docs, p) = dedup_corpus("");
    let store = tmp.path().join("store");
    let r = build(&p, &[]);
    let d = r.dedup.expect("dedup tally");
    assert_eq!(d.documents, 1, "{d:?}");
    assert_eq!(doc_ids(&store), vec!["a.md", "c.md", "d.md"]);
    // the manifest counts them too
    let m = ragops_store::Store::open(&store)
        .and_then(|st| st.manifest(&r.snapshot))
        .expect("manifest");
    assert_eq!(m.enrichment.expect("enrichment")["dedup"]["documents"], 1);
    // near duplicates too
    let text = std::fs::read_to_string(&p).expect("pipeline");
    std::fs::write(&p, format!("{text}near = true\nthreshold = 0.7\n")).expect("pipeline");
    let r = build(&p, &[]);
    assert_eq!(r.dedup.expect("tally").documents, 2);
    assert_eq!(doc_ids(&store), vec!["a.md", "d.md"]);
    // an incremental build compares a new document with the reused ones' stored signatures
    std::fs::write(
        docs.join("e.md"),
        RUNBOOK.replace("ten minutes", "fifteen minutes"),
    )
    .expect("write");
    let r = build(&p, &[]);
    assert!(r.incremental.documents_unchanged >= 2, "{r:?}");
    let d = r.dedup.expect("tally");
    assert_eq!(d.documents, 1, "e.md duplicates the reused a.md: {d:?}");
    assert_eq!(doc_ids(&store), vec!["a.md", "d.md"]);
    assert!(shown_ok(&store));
}

#[test]
fn dedup_can_mark_instead_of_dropping() {
    let (tmp, _docs, p) = dedup_corpus("action = \"mark\"\n");
    let store = tmp.path().join("store");
    let r = build(&p, &[]);
    assert_eq!(r.dedup.expect("tally").chunks_dropped, 0);
    assert_eq!(doc_ids(&store), vec!["a.md", "b.md", "c.md", "d.md"]);
    let st = ragops_store::Store::open(&store).expect("store");
    let snap = st.snapshot(&current(s(&store))).expect("snapshot");
    let marked: Vec<(String, Option<String>)> = snap
        .fragments()
        .expect("fragments")
        .iter()
        .flat_map(|f| {
            let t = f.read_chunks().expect("table");
            t.rows
                .into_iter()
                .map(|r| (r.chunk.doc_id.to_string(), r.meta.duplicate_of))
                .collect::<Vec<_>>()
        })
        .collect();
    let of = |doc: &str| -> Vec<Option<String>> {
        marked
            .iter()
            .filter(|(d, _)| d == doc)
            .map(|(_, o)| o.clone())
            .collect()
    };
    // the exact duplicate document names the original document
    assert!(
        of("b.md").iter().all(|o| o.as_deref() == Some("a.md")),
        "{marked:?}"
    );
    assert!(
        of("a.md").iter().chain(&of("d.md")).all(Option::is_none),
        "{marked:?}"
    );
    // the near duplicate (exact-only dedup) keeps its changed chunk; its chunks that equal
    // a.md's name them
    let a_ids: Vec<String> = table(&store, &current(s(&store)))
        .into_iter()
        .filter(|(_, (d, _, _))| d == "a.md")
        .map(|(id, _)| id)
        .collect();
    let c = of("c.md");
    assert!(c.iter().any(Option::is_none), "{marked:?}");
    assert!(c.iter().flatten().all(|o| a_ids.contains(o)), "{marked:?}");
}
