//! `ragops eval`: score a snapshot on a question set.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use ragops_core::{Mode, SnapshotId};
use ragops_embed::Embedder;
use ragops_eval::{
    doc_metrics, rank_documents, span_metrics, ModeMetrics, Question, QuestionSet, SetKind, Span,
};
use ragops_search::{SearchHit, Searcher};
use ragops_store::Store;
use serde::{Deserialize, Serialize};

use crate::model::load_for_snapshot_at;
use crate::ops::open_searcher;
use crate::EngineError;

/// Chunk hits retrieved per question to rank documents (documents may have many chunks).
const DOC_DEPTH: usize = 10;

#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub store: PathBuf,
    pub snapshot: String,
    pub questions: PathBuf,
    pub modes: Vec<Mode>,
    pub ks: Vec<usize>,
    /// Chunks to report per question and mode (0: metrics only).
    pub show_hits: usize,
    /// Force the exact vector scan (ignore the snapshot's HNSW graph).
    pub exact: bool,
    /// Search only the rows this filter admits.
    pub filter: Option<ragops_search::Filter>,
    /// Embed the questions at this precision instead of the snapshot's own.
    pub query_precision: Option<ragops_core::Precision>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    pub snapshot: SnapshotId,
    pub questions: PathBuf,
    pub kind: SetKind,
    pub question_count: usize,
    /// How vector lists were found: `hnsw` or `flat` (absent for BM25 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector_search: Option<String>,
    pub metrics: Vec<ModeMetrics>,
    /// Each question's best chunks per mode, when asked for ([`EvalOptions::show_hits`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hits: Vec<QuestionHits>,
}

/// A question's best chunks in one mode: where they are, and whether their document is
/// judged relevant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuestionHits {
    pub mode: Mode,
    pub question_id: String,
    pub query: String,
    pub hits: Vec<HitLocation>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HitLocation {
    pub doc_id: String,
    /// First and last page of the chunk, for paginated sources (PDF).
    pub page_start: Option<u32>,
    pub page_end: Option<u32>,
    pub start_char: u64,
    pub end_char: u64,
    pub score: f32,
    /// The question grades the chunk's document above 0.
    pub relevant: bool,
}

pub fn load_questions(path: &Path) -> Result<QuestionSet, EngineError> {
    Ok(ragops_eval::load(path)?)
}

/// Embeds every question with the snapshot's model.
pub(crate) fn query_vectors(
    embedder: &Embedder,
    set: &QuestionSet,
) -> Result<Vec<Vec<f32>>, EngineError> {
    let texts: Vec<&str> = set.questions.iter().map(|q| q.query.as_str()).collect();
    Ok(embedder.embed(&texts, 64, |_| {})?.vectors)
}

/// Scores one snapshot on a question set in every mode at every cut-off.
pub fn eval(opts: &EvalOptions) -> Result<EvalReport, EngineError> {
    let store = Store::open(&opts.store)?;
    let set = load_questions(&opts.questions)?;
    let mut searcher = open_searcher(&store, &opts.snapshot)?;
    searcher.set_exact(opts.exact);
    searcher.set_filter(opts.filter.clone());
    let needs_vectors = opts.modes.iter().any(|m| Searcher::needs_vector(*m));
    let vectors = if needs_vectors {
        query_vectors(
            &load_for_snapshot_at(searcher.manifest(), opts.query_precision)?,
            &set,
        )?
    } else {
        Vec::new()
    };
    let (metrics, hits) = evaluate_with_hits(
        &searcher,
        &set,
        &vectors,
        &opts.modes,
        &opts.ks,
        opts.show_hits,
    )?;
    Ok(EvalReport {
        snapshot: searcher.id().clone(),
        questions: opts.questions.clone(),
        kind: set.kind,
        question_count: set.questions.len(),
        vector_search: needs_vectors.then(|| searcher.vector_method().to_string()),
        metrics,
        hits,
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
    searcher: &Searcher,
    set: &QuestionSet,
    vectors: &[Vec<f32>],
    modes: &[Mode],
    ks: &[usize],
) -> Result<Vec<ModeMetrics>, EngineError> {
    Ok(evaluate_with_hits(searcher, set, vectors, modes, ks, 0)?.0)
}

/// [`evaluate`], also returning each question's `show` best chunks per mode.
fn evaluate_with_hits(
    searcher: &Searcher,
    set: &QuestionSet,
    vectors: &[Vec<f32>],
    modes: &[Mode],
    ks: &[usize],
    show: usize,
) -> Result<(Vec<ModeMetrics>, Vec<QuestionHits>), EngineError> {
    let judged = set.doc_ids();
    let kmax = ks.iter().copied().max().unwrap_or(0);
    let depth = (kmax * DOC_DEPTH).max(show);
    let mut out = Vec::new();
    let mut shown = Vec::new();
    for &mode in modes {
        // Per question: chunk hits (best first), deep enough to rank documents at kmax.
        let mut hits = Vec::with_capacity(set.questions.len());
        for (i, q) in set.questions.iter().enumerate() {
            let v = vectors.get(i).map(Vec::as_slice);
            hits.push(searcher.search(&q.query, v, mode, depth)?);
        }
        for &k in ks {
            out.push(score(mode, k, &set.questions, &hits, &judged));
        }
        if show > 0 {
            for (q, h) in set.questions.iter().zip(&hits) {
                shown.push(locate(mode, q, &h[..h.len().min(show)], &judged));
            }
        }
    }
    Ok((out, shown))
}

fn locate(mode: Mode, q: &Question, hits: &[SearchHit], judged: &HashSet<&str>) -> QuestionHits {
    QuestionHits {
        mode,
        question_id: q.id.clone(),
        query: q.query.clone(),
        hits: hits
            .iter()
            .map(|h| {
                let c = &h.chunk;
                let doc = judged_id(c.doc_id.as_str(), judged);
                HitLocation {
                    doc_id: c.doc_id.to_string(),
                    page_start: c.page_start,
                    page_end: c.page_end,
                    start_char: c.start_char,
                    end_char: c.end_char,
                    score: h.score,
                    relevant: q.grades.get(doc).is_some_and(|&g| g > 0),
                }
            })
            .collect(),
    }
}

/// Sums of the span metrics over the questions that have spans.
#[derive(Default)]
struct SpanSums {
    recall: f64,
    precision: f64,
    iou: f64,
    n: usize,
}

/// The mean metrics at cut-off `k` of one mode's hits.
fn score(
    mode: Mode,
    k: usize,
    questions: &[Question],
    hits: &[Vec<SearchHit>],
    judged: &HashSet<&str>,
) -> ModeMetrics {
    let mut m = ModeMetrics {
        mode,
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
    let mut spans = SpanSums::default();
    for (q, h) in questions.iter().zip(hits) {
        let scored: Vec<(String, f32)> = h
            .iter()
            .map(|h| {
                (
                    judged_id(h.chunk.doc_id.as_str(), judged).to_string(),
                    h.score,
                )
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
            .map(|h| Span {
                doc_id: judged_id(h.chunk.doc_id.as_str(), judged).to_string(),
                start: h.chunk.start_char,
                end: h.chunk.end_char,
            })
            .collect();
        if let Some(s) = span_metrics(&retrieved, &q.spans) {
            spans.recall += s.recall;
            spans.precision += s.precision;
            spans.iou += s.iou;
            spans.n += 1;
        }
    }
    let n = m.evaluated.max(1) as f64;
    m.recall /= n;
    m.precision /= n;
    m.mrr /= n;
    m.ndcg /= n;
    if spans.n > 0 {
        let n = spans.n as f64;
        m.span_recall = Some(spans.recall / n);
        m.span_precision = Some(spans.precision / n);
        m.span_iou = Some(spans.iou / n);
    }
    m
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
