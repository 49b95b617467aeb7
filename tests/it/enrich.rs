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
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).expect("mkdir");
    std::fs::write(
        docs.join("billing.md"),
        format!(
            "# Billing runbook\n\nRefunds go through the payments team. Escalations go to \
             {EMAIL} during office hours.\n\n## Card disputes\n\nThe customer paid with card \
             {CARD}; the dispute was opened on Monday.\n\n## Contact\n\nOn-call phone \
             {PHONE}. Nothing else here.\n"
        ),
    )
    .expect("write");
    std::fs::write(
        docs.join("clean.md"),
        "# Index tuning\n\nRaise the refresh interval of an index during bulk loads.\n",
    )
    .expect("write");
    let p = pipeline(tmp.path(), "p.toml", &[docs], s(&model), 24, "");
    let mut text = std::fs::read_to_string(&p).expect("pipeline");
    text.push_str(enrich);
    std::fs::write(&p, text).expect("pipeline");
    (tmp, p)
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
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).expect("mkdir");
    std::fs::write(
        docs.join("en.md"),
        "# Certificates\n\nRotate the TLS certificates before they expire, then restart the \
         proxy so that it reads the new files.\n",
    )
    .expect("write");
    std::fs::write(
        docs.join("de.md"),
        "# Zertifikate\n\nDie Zertifikate müssen vor dem Ablauf erneuert werden, danach wird \
         der Dienst neu gestartet, damit er die neuen Dateien liest.\n",
    )
    .expect("write");
    let p = pipeline(
        tmp.path(),
        "p.toml",
        std::slice::from_ref(&docs),
        s(&model),
        64,
        "",
    );
    let mut text = std::fs::read_to_string(&p).expect("pipeline");
    text.push_str("\n[enrich]\nsteps = [\"language\", \"contextual_header\"]\n");
    std::fs::write(&p, text).expect("pipeline");
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
