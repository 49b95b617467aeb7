//! `ragops eval`: score a snapshot on a question set.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use ragops_embed::Embedder;
use ragops_eval::report::ModeMetrics;
use ragops_eval::{doc_metrics, rank_documents, span_metrics, QuestionSet, SetKind, Span};
use ragops_search::{Mode, SnapshotSearcher};
use ragops_store::Store;
use serde::Serialize;

use crate::{load_embedder, PipelineError};

/// Chunk hits retrieved per question to rank documents (documents may have many chunks).
const DOC_DEPTH: usize = 10;

#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub store: PathBuf,
    pub snapshot: String,
    pub questions: PathBuf,
    pub modes: Vec<Mode>,
    pub ks: Vec<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub snapshot: String,
    pub questions: PathBuf,
    pub kind: SetKind,
    pub question_count: usize,
    pub metrics: Vec<ModeMetrics>,
}

pub fn load_questions(path: &Path) -> Result<QuestionSet, PipelineError> {
    ragops_eval::load(path).map_err(|e| PipelineError::Usage(e.to_string()))
}

/// Embeds every question with the snapshot's model.
pub(crate) fn query_vectors(
    embedder: &Embedder,
    set: &QuestionSet,
) -> Result<Vec<Vec<f32>>, PipelineError> {
    let texts: Vec<&str> = set.questions.iter().map(|q| q.query.as_str()).collect();
    Ok(embedder.embed(&texts, 64, |_| {})?.vectors)
}

pub fn eval(opts: &EvalOptions) -> Result<EvalReport, PipelineError> {
    let store = Store::open(&opts.store)?;
    let id = store.resolve(&opts.snapshot)?;
    let set = load_questions(&opts.questions)?;
    let searcher = SnapshotSearcher::open(&store, &id)?;
    let vectors = if opts
        .modes
        .iter()
        .any(|m| SnapshotSearcher::needs_vector(*m))
    {
        query_vectors(&load_embedder(&searcher.manifest)?, &set)?
    } else {
        Vec::new()
    };
    let metrics = evaluate(&searcher, &set, &vectors, &opts.modes, &opts.ks)?;
    Ok(EvalReport {
        snapshot: id,
        questions: opts.questions.clone(),
        kind: set.kind,
        question_count: set.questions.len(),
        metrics,
    })
}

/// The question set's id for a chunk's document: equal ids, or the record id of a JSONL
/// document (`corpus.jsonl#<id>`, as BEIR qrels name corpus records).
fn judged_id<'a>(doc_id: &'a str, judged: &HashSet<&str>) -> &'a str {
    if judged.contains(doc_id) {
        return doc_id;
    }
    match doc_id.rsplit_once('#') {
        Some((_, rec)) if judged.contains(rec) => rec,
        _ => doc_id,
    }
}

/// Scores a snapshot for every mode and cut-off; `vectors` holds one query vector per question
/// (may be empty for BM25 only).
pub(crate) fn evaluate(
    searcher: &SnapshotSearcher,
    set: &QuestionSet,
    vectors: &[Vec<f32>],
    modes: &[Mode],
    ks: &[usize],
) -> Result<Vec<ModeMetrics>, PipelineError> {
    let judged = set.doc_ids();
    let kmax = ks.iter().copied().max().unwrap_or(0);
    let chunks = &searcher.table.chunks;
    let mut out = Vec::new();
    for &mode in modes {
        // Per question: chunk hits (best first), deep enough to rank documents at kmax.
        let mut hits = Vec::with_capacity(set.questions.len());
        for (i, q) in set.questions.iter().enumerate() {
            let v = vectors.get(i).map(Vec::as_slice);
            hits.push(searcher.search(&q.query, v, mode, kmax * DOC_DEPTH)?);
        }
        for &k in ks {
            let mut m = ModeMetrics {
                mode: format!("{mode:?}").to_lowercase(),
                k,
                evaluated: 0,
                skipped: 0,
                recall: 0.0,
                precision: 0.0,
                mrr: 0.0,
                ndcg: 0.0,
                span_recall: None,
                span_precision: None,
                span_iou: None,
            };
            let (mut sr, mut sp, mut si, mut spans_n) = (0.0, 0.0, 0.0, 0usize);
            for (q, h) in set.questions.iter().zip(&hits) {
                let scored: Vec<(String, f32)> = h
                    .iter()
                    .map(|h| {
                        let d = judged_id(&chunks[h.row].doc_id, &judged).to_string();
                        (d, h.score)
                    })
                    .collect();
                let Some(d) = doc_metrics(&rank_documents(&scored), &q.grades, k) else {
                    m.skipped += 1;
                    continue;
                };
                m.evaluated += 1;
                m.recall += d.recall;
                m.precision += d.precision;
                m.mrr += d.mrr;
                m.ndcg += d.ndcg;
                let retrieved: Vec<Span> = h
                    .iter()
                    .take(k)
                    .map(|h| {
                        let c = &chunks[h.row];
                        Span {
                            doc_id: judged_id(&c.doc_id, &judged).to_string(),
                            start: c.start_char,
                            end: c.end_char,
                        }
                    })
                    .collect();
                if let Some(s) = span_metrics(&retrieved, &q.spans) {
                    sr += s.recall;
                    sp += s.precision;
                    si += s.iou;
                    spans_n += 1;
                }
            }
            let n = m.evaluated.max(1) as f64;
            m.recall /= n;
            m.precision /= n;
            m.mrr /= n;
            m.ndcg /= n;
            if spans_n > 0 {
                let n = spans_n as f64;
                m.span_recall = Some(sr / n);
                m.span_precision = Some(sp / n);
                m.span_iou = Some(si / n);
            }
            out.push(m);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judged_ids_match_paths_and_jsonl_records() {
        let judged: HashSet<&str> = ["a.md", "d7"].into_iter().collect();
        assert_eq!(judged_id("a.md", &judged), "a.md");
        assert_eq!(judged_id("corpus.jsonl#d7", &judged), "d7");
        assert_eq!(judged_id("corpus.jsonl#d8", &judged), "corpus.jsonl#d8");
    }
}
