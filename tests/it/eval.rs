//! `ragops eval` on BEIR and span question sets, `ragops questions convert`, and
//! `ragops experiment` (grid → tagged snapshots → leaderboard → reports → rerun skips →
//! promote). Tiny random BERT for speed; BM25 results are real.

use std::path::Path;

use ragops_core::{Mode, SnapshotId};
use ragops_engine::ops::{EvalReport, SearchResults};
use ragops_eval::{ExperimentReport, Metric, SetKind};

use crate::common::*;

fn beir_pipeline(dir: &Path, model: &Path) -> std::path::PathBuf {
    let corpus = fixtures().join("beir-mini").join("corpus.jsonl");
    let p = dir.join("beir.toml");
    std::fs::write(
        &p,
        format!(
            "[sources]\npaths = [{:?}]\n[sources.jsonl]\nid_field = \"_id\"\ntext_field = \"text\"\ntitle_field = \"title\"\ntitle_in_text = true\n[chunking]\nsize = 64\noverlap = 0\n[embedding]\nmodel = {:?}\n[store]\ndir = {:?}\n",
            s(&corpus),
            s(model),
            s(&dir.join("store"))
        ),
    )
    .expect("write pipeline");
    p
}

#[test]
fn eval_scores_a_beir_set_with_graded_qrels() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let p = beir_pipeline(tmp.path(), &model);
    ok(&["build", "-p", s(&p), "-q"]);
    // The corpus text is "title text" (BEIR convention) and ids are the records' _id.
    let hit: SearchResults = json(&[
        "search",
        "Snapshot rollback",
        "-p",
        s(&p),
        "--mode",
        "bm25",
        "--json",
        "-k",
        "1",
    ]);
    assert_eq!(hit.results[0].doc_id, "corpus.jsonl#d1");
    assert!(hit.results[0].text.starts_with("Snapshot rollback To undo"));

    let beir = fixtures().join("beir-mini");
    let eval = |args: &[&str]| -> EvalReport {
        let mut all = vec!["eval", "--queries", s(&beir), "-p", s(&p), "--json"];
        all.extend_from_slice(args);
        json(&all)
    };
    let r = eval(&["--mode", "bm25,vector", "-k", "1,5"]);
    assert_eq!(r.kind, SetKind::Beir);
    assert_eq!(r.question_count, 5);
    let metrics = &r.metrics;
    assert_eq!(metrics.len(), 4, "2 modes × 2 cut-offs");
    for m in metrics {
        assert_eq!(m.evaluated, 4, "q5 has no relevant document");
        assert_eq!(m.skipped, 1);
        assert_eq!(m.span_iou, None, "no spans in a BEIR set");
        for metric in [Metric::Recall, Metric::Precision, Metric::Mrr, Metric::Ndcg] {
            let v = m.get(metric).expect("a document metric");
            assert!((0.0..=1.0).contains(&v), "{metric} = {v}");
        }
    }
    // Every query shares distinctive words with its best document: BM25 ranks it first.
    let bm25_5 = &metrics[1];
    assert_eq!((bm25_5.mode, bm25_5.k), (Mode::Bm25, 5));
    assert_eq!(bm25_5.mrr, 1.0);
    assert_eq!(
        bm25_5.recall, 1.0,
        "every relevant document shares a query word"
    );
    assert!(bm25_5.ndcg > 0.8);
    // Precision@5 divides by 5: (2 + 1 + 1 + 2) relevant found / (4 × 5).
    assert!((bm25_5.precision - 6.0 / 20.0).abs() < 1e-9);

    // The questions embedded at int8 against the snapshot's f32 vectors: the same first hits,
    // scores that differ by the rounding only.
    let at = |precision: &str| {
        eval(&[
            "--mode",
            "vector",
            "-k",
            "5",
            "--hits",
            "1",
            "--query-precision",
            precision,
        ])
    };
    let (f32s, int8s) = (at("f32"), at("int8"));
    assert_eq!(f32s.hits.len(), 5);
    let mut moved = false;
    for (a, b) in f32s.hits.iter().zip(&int8s.hits) {
        assert_eq!(a.hits[0].doc_id, b.hits[0].doc_id, "{}", a.query);
        let (x, y) = (a.hits[0].score, b.hits[0].score);
        assert!((x - y).abs() < 0.02, "{}: {x} vs {y}", a.query);
        moved |= x != y;
    }
    assert!(moved, "int8 questions scored exactly as f32 ones");
}

/// A span question set over the fixture handbook: each query is a sentence of a document,
/// its reference the sentence's character range (computed here from the file).
fn span_questions(dir: &Path, docs: &Path) -> std::path::PathBuf {
    let mut lines = String::new();
    for (doc, sentence) in [
        ("handbook/backup-restore.md", "Snapshots"),
        ("handbook/index-rollback.md", "rollback"),
    ] {
        let text = std::fs::read_to_string(docs.join(doc)).expect("read doc");
        let para = text
            .split("\n\n")
            .find(|p| p.contains(sentence) && !p.starts_with('#') && p.len() > 80)
            .expect("a paragraph");
        let byte = text.find(para).expect("offset");
        let start = text[..byte].chars().count();
        let end = start + para.chars().count();
        lines.push_str(
            &serde_json::json!({
                "query": para,
                "relevant": [{"doc_id": doc, "start": start, "end": end}]
            })
            .to_string(),
        );
        lines.push('\n');
    }
    let q = dir.join("spans.jsonl");
    std::fs::write(&q, lines).expect("write questions");
    q
}

/// Writes the base pipeline, the span questions and a 5-variant grid; returns the grid file
/// and the questions file.
fn experiment_files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let model = tiny_model(dir);
    let docs = fixtures().join("corpus");
    // Chunks keep their configured size (the tiny model's 128 positions would cap them).
    std::fs::write(
        dir.join("base.toml"),
        format!(
            "[sources]\npaths = [{:?}]\n[chunking]\nsize = 64\noverlap = 0\nfit_model = false\n[embedding]\nmodel = {:?}\n[store]\ndir = \"store\"\n",
            s(&docs),
            s(&model)
        ),
    )
    .expect("write base");
    let questions = span_questions(dir, &docs);
    let exp = dir.join("grid.toml");
    std::fs::write(
        &exp,
        "name = \"t\"\nbase = \"base.toml\"\nquestions = \"spans.jsonl\"\nmetric = \"span_recall\"\nmodes = [\"bm25\", \"vector\"]\nk = [3, 1]\n\n[[grid]]\n\"chunking.size\" = [32, 96]\n\"chunking.overlap\" = [\"0%\", \"50%\"]\n\n[[grid]]\n\"enrich.contextual_header\" = [false]\n\"chunking.size\" = [32]\n\"chunking.overlap\" = [\"0%\"]\n",
    )
    .expect("write experiment");
    (exp, questions)
}

/// A damaged winner is never promoted: `--promote` verifies it first. Repairs it after.
fn promote_refuses_a_damaged_winner(exp: &Path, reports: &Path, store: &Path, best: &SnapshotId) {
    let table = first_fragment_dir(store, best).join("chunks.parquet");
    let good = std::fs::read(&table).expect("read table");
    let mut bad = good.clone();
    bad.push(b'x');
    std::fs::write(&table, &bad).expect("damage");
    let out = ragops(&["experiment", s(exp), "--report", s(reports), "--promote"])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("chunks.parquet: checksum differs"), "{err}");
    assert!(
        !store.join("refs/current").exists(),
        "nothing was published"
    );
    std::fs::write(&table, &good).expect("repair");
}

#[test]
fn experiment_builds_tags_ranks_reports_skips_and_promotes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (exp, questions) = experiment_files(tmp.path());
    let reports = tmp.path().join("reports");
    let out = ragops(&["experiment", s(&exp), "--report", s(&reports), "--json"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: ExperimentReport = serde_json::from_slice(&out.stdout).expect("json");
    let variants = &r.variants;
    assert_eq!(variants.len(), 5);
    assert_eq!((r.metric, r.mode, r.k), (Metric::SpanRecall, Mode::Bm25, 3));
    // Best first, by the score the report computed from its own metrics.
    let scores: Vec<f64> = variants.iter().map(|v| v.score).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    for v in variants {
        let primary = v
            .metrics
            .iter()
            .find(|m| m.mode == Mode::Bm25 && m.k == 3)
            .expect("primary metrics");
        assert_eq!(primary.span_recall, Some(v.score));
        assert!(v.chunks > 0 && v.index_bytes > 0);
    }
    // Overlap 50% of 96 is 48: more chunks than without overlap.
    let chunks = |name: &str| {
        variants
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.chunks)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert!(chunks("markdown-tok96-ov50pct-hdr") > chunks("markdown-tok96-ov0pct-hdr"));
    // The query is a paragraph of the document: BM25's top 3 chunks cover some of it.
    let best = &variants[0];
    assert!(best.score > 0.0, "{best:?}");
    assert_eq!(r.winner.as_ref(), Some(&best.name));

    // Every variant is a tagged snapshot; reports were written.
    let store = tmp.path().join("store");
    let listed = list(s(&store));
    let tags: Vec<&String> = listed.iter().flat_map(|s| &s.tags).collect();
    for v in variants {
        let tag = format!("exp/t/{}", v.name);
        assert!(tags.contains(&&tag), "{} not tagged: {tags:?}", v.name);
    }
    let html = std::fs::read_to_string(reports.join("report.html")).expect("html");
    assert!(html.contains("<svg") && html.contains(&best.name));
    let written: ExperimentReport =
        serde_json::from_slice(&std::fs::read(reports.join("report.json")).expect("json file"))
            .expect("parses");
    assert_eq!(written, r, "report.json is what --json printed");
    let snapshots_before = listed.len();

    promote_refuses_a_damaged_winner(&exp, &reports, &store, &best.snapshot);

    // A rerun skips every variant and writes no snapshot; --promote moves current.
    let out = ragops(&[
        "experiment",
        s(&exp),
        "--report",
        s(&reports),
        "--json",
        "--promote",
    ])
    .output()
    .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("done before, skipped").count(), 5, "{err}");
    let again: ExperimentReport = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(again.winner, r.winner);
    assert_eq!(list(s(&store)).len(), snapshots_before);
    assert_eq!(current(s(&store)), best.snapshot);

    // Changing the questions re-scores (the old results no longer apply).
    let mut text = std::fs::read_to_string(&questions).expect("read");
    text.push_str(&text.clone());
    std::fs::write(&questions, text).expect("write");
    let out = ragops(&["experiment", s(&exp), "--report", s(&reports)])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("done before").count(), 0, "{err}");
    assert_eq!(
        list(s(&store)).len(),
        snapshots_before + 5,
        "each variant rebuilt into a new snapshot"
    );
}
