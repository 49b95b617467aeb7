//! PDF provenance end to end: a chunk that runs across pages records its page range in the
//! chunk table, search and eval show it, and its character offsets index the text that
//! `ragops extract` prints.

use ragops_engine::ops::{EvalReport, Extracted, SearchResults};
use ragops_test_support::pdf::text_pdf;

use crate::common::*;

/// Two pages whose text is one chunk at the context's chunk size.
fn two_page_pdf() -> Vec<u8> {
    // Short pages: the tiny test model takes few tokens, and the chunk must hold both.
    let pages = vec![
        vec!["Standby region drill.".to_string()],
        vec!["Primary region restored.".to_string()],
    ];
    text_pdf("Failover drill", &pages).expect("pdf")
}

#[test]
fn a_chunk_across_pages_reports_its_range_and_exact_offsets() {
    let docs = tempfile::tempdir().expect("tempdir");
    let pdf = docs.path().join("drill.pdf");
    std::fs::write(&pdf, two_page_pdf()).expect("write pdf");
    let c = ctx().corpus(&[docs.path().to_path_buf()]).chunk_size(256);
    let p = c.pipeline();
    let ps = s(&p);
    c.ok(&["build", "-p", ps, "--json"]);

    let res: SearchResults = c.json(&[
        "search",
        "standby region drill",
        "-p",
        ps,
        "--mode",
        "bm25",
        "--json",
    ]);
    let top = &res.results[0];
    assert_eq!(
        (top.page_start, top.page_end),
        (Some(1), Some(2)),
        "{top:?}"
    );

    // The offsets index the text the loader extracted, character for character.
    let ex: Vec<Extracted> = c.json(&["extract", s(&pdf), "-p", ps, "--json"]);
    let text: Vec<char> = ex[0].documents[0].text.chars().collect();
    let cut: String = text[top.start_char as usize..top.end_char as usize]
        .iter()
        .collect();
    assert_eq!(cut, top.text);
    assert_eq!(ex[0].documents[0].pages.len(), 2);

    let human = c.ok(&["search", "standby region drill", "-p", ps, "--mode", "bm25"]);
    assert!(human.contains("(pages 1–2)"), "{human}");

    // eval --hits lists the same range per question.
    let doc_id = &top.doc_id;
    let q = docs.path().join("q.jsonl");
    let line = serde_json::json!({
        "query": "Which region is restored?",
        "relevant": [{"doc_id": doc_id, "start": 0, "end": 20}],
    });
    std::fs::write(&q, format!("{line}\n")).expect("questions");
    let r: EvalReport = c.json(&[
        "eval",
        "--queries",
        s(&q),
        "-p",
        ps,
        "--mode",
        "bm25",
        "--hits",
        "1",
        "--json",
    ]);
    let hit = &r.hits[0].hits[0];
    assert_eq!((hit.page_start, hit.page_end), (Some(1), Some(2)));
    assert!(hit.relevant);
    let human = c.ok(&[
        "eval",
        "--queries",
        s(&q),
        "-p",
        ps,
        "--mode",
        "bm25",
        "--hits",
        "1",
    ]);
    assert!(human.contains("(pages 1–2)"), "{human}");
}

#[test]
fn extract_prints_text_or_the_skip_reason_and_fails_on_a_skip() {
    let docs = tempfile::tempdir().expect("tempdir");
    let pdf = docs.path().join("drill.pdf");
    std::fs::write(&pdf, two_page_pdf()).expect("write pdf");
    let c = ctx();
    let ex: Vec<Extracted> = c.json(&["extract", s(&pdf), "--json"]);
    assert!(ex[0].skipped.is_none());
    let d = &ex[0].documents[0];
    assert_eq!(d.title, "Failover drill");
    assert!(d.text.contains("Standby region drill."), "{}", d.text);
    let pages: Vec<u32> = d.pages.iter().map(|p| p.page).collect();
    assert_eq!(pages, vec![1, 2]);
    assert!(d.text[d.pages[1].start..d.pages[1].end].starts_with("Primary region restored"));

    let bad = fixtures().join("bad/encrypted.pdf");
    let out = c.run(&["extract", s(&pdf), s(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("-- page 2"), "{stdout}");
    assert!(
        stdout.contains("skipped: PDF: encrypted, a password is required"),
        "{stdout}"
    );
}
