//! Retrieval metrics.
//!
//! Document level (per question, given the ranked documents and graded judgments):
//! - recall@k = |relevant ∩ top k| / |relevant|
//! - precision@k = |relevant ∩ top k| / k (k, not the list length: a short list is not rewarded)
//! - MRR@k = 1 / rank of the first relevant document in the top k, else 0
//! - nDCG@k = DCG@k / IDCG@k with gain = grade and discount log2(rank + 1), as in pytrec_eval
//!
//! "Relevant" means grade > 0. A question with no relevant document has no defined recall or
//! nDCG: the functions return `None` and the question is left out of the means (and counted).
//!
//! Span level (token-level in the chunking-evaluation sense, over character positions): the
//! retrieved chunks' character ranges R and the reference excerpts E, per document, as sets of
//! positions (overlapping ranges count once):
//! - recall = |R ∩ E| / |E|, precision = |R ∩ E| / |R|, IoU = |R ∩ E| / |R ∪ E|.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// A character range `[start, end)` in a document (Unicode code points).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct Span {
    pub doc_id: String,
    pub start: u64,
    pub end: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct DocMetrics {
    pub recall: f64,
    pub precision: f64,
    pub mrr: f64,
    pub ndcg: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct SpanMetrics {
    pub recall: f64,
    pub precision: f64,
    pub iou: f64,
}

/// Documents ranked by their best chunk's score (ties: document id order), each once.
pub fn rank_documents(hits: &[(String, f32)]) -> Vec<String> {
    let mut best: HashMap<&str, f32> = HashMap::new();
    for (d, s) in hits {
        let e = best.entry(d.as_str()).or_insert(f32::NEG_INFINITY);
        if *s > *e {
            *e = *s;
        }
    }
    let mut docs: Vec<(&str, f32)> = best.into_iter().collect();
    docs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    docs.into_iter().map(|(d, _)| d.to_string()).collect()
}

/// Document-level metrics at `k` for one question; `None` when nothing is relevant or k = 0.
pub fn doc_metrics(
    ranked: &[String],
    grades: &BTreeMap<String, u32>,
    k: usize,
) -> Option<DocMetrics> {
    let relevant = grades.values().filter(|g| **g > 0).count();
    if relevant == 0 || k == 0 {
        return None;
    }
    let top = &ranked[..ranked.len().min(k)];
    let grade = |d: &String| grades.get(d).copied().unwrap_or(0);
    let hits = top.iter().filter(|d| grade(d) > 0).count();
    let mrr = top
        .iter()
        .position(|d| grade(d) > 0)
        .map(|i| 1.0 / (i + 1) as f64)
        .unwrap_or(0.0);
    let dcg: f64 = top
        .iter()
        .enumerate()
        .map(|(i, d)| grade(d) as f64 / ((i + 2) as f64).log2())
        .sum();
    let mut ideal: Vec<u32> = grades.values().copied().filter(|g| *g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, g)| *g as f64 / ((i + 2) as f64).log2())
        .sum();
    Some(DocMetrics {
        recall: hits as f64 / relevant as f64,
        precision: hits as f64 / k as f64,
        mrr,
        ndcg: dcg / idcg,
    })
}

/// Sorted, merged `[start, end)` ranges per document.
fn merged(spans: &[Span]) -> BTreeMap<&str, Vec<(u64, u64)>> {
    let mut by_doc: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    for s in spans.iter().filter(|s| s.end > s.start) {
        by_doc
            .entry(s.doc_id.as_str())
            .or_default()
            .push((s.start, s.end));
    }
    for ranges in by_doc.values_mut() {
        ranges.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for &(s, e) in ranges.iter() {
            match out.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        *ranges = out;
    }
    by_doc
}

fn total(ranges: &BTreeMap<&str, Vec<(u64, u64)>>) -> u64 {
    ranges.values().flatten().map(|(s, e)| e - s).sum()
}

/// Span-level metrics of retrieved chunk ranges against reference excerpts; `None` when there
/// is no reference excerpt.
pub fn span_metrics(retrieved: &[Span], references: &[Span]) -> Option<SpanMetrics> {
    let r = merged(retrieved);
    let e = merged(references);
    let (rl, el) = (total(&r), total(&e));
    if el == 0 {
        return None;
    }
    let mut inter = 0u64;
    for (doc, er) in &e {
        let Some(rr) = r.get(doc) else { continue };
        // Both lists are sorted and disjoint: a linear sweep.
        let (mut i, mut j) = (0, 0);
        while i < rr.len() && j < er.len() {
            let lo = rr[i].0.max(er[j].0);
            let hi = rr[i].1.min(er[j].1);
            if hi > lo {
                inter += hi - lo;
            }
            if rr[i].1 < er[j].1 {
                i += 1;
            } else {
                j += 1;
            }
        }
    }
    let union = rl + el - inter;
    Some(SpanMetrics {
        recall: inter as f64 / el as f64,
        precision: if rl == 0 {
            0.0
        } else {
            inter as f64 / rl as f64
        },
        iou: inter as f64 / union as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grades(g: &[(&str, u32)]) -> BTreeMap<String, u32> {
        g.iter().map(|(d, g)| (d.to_string(), *g)).collect()
    }

    fn docs(d: &[&str]) -> Vec<String> {
        d.iter().map(|s| s.to_string()).collect()
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn doc_metrics_hand_computed() {
        // Relevant: a (grade 2), c (grade 1). Ranked: b, a, d, c.
        let g = grades(&[("a", 2), ("c", 1), ("x", 0)]);
        let r = docs(&["b", "a", "d", "c"]);
        let m = doc_metrics(&r, &g, 3).unwrap();
        close(m.recall, 0.5); // a found, c at rank 4
        close(m.precision, 1.0 / 3.0);
        close(m.mrr, 0.5);
        // DCG@3 = 2/log2(3); IDCG@3 = 2/log2(2) + 1/log2(3).
        let dcg = 2.0 / 3f64.log2();
        let idcg = 2.0 + 1.0 / 3f64.log2();
        close(m.ndcg, dcg / idcg);
        let m4 = doc_metrics(&r, &g, 4).unwrap();
        close(m4.recall, 1.0);
        close(m4.ndcg, (dcg + 1.0 / 5f64.log2()) / idcg);
    }

    #[test]
    fn no_relevant_documents_is_undefined() {
        assert_eq!(doc_metrics(&docs(&["a"]), &grades(&[("a", 0)]), 5), None);
        assert_eq!(doc_metrics(&docs(&["a"]), &grades(&[]), 5), None);
        assert_eq!(doc_metrics(&docs(&["a"]), &grades(&[("a", 1)]), 0), None);
    }

    #[test]
    fn k_larger_than_the_result_list() {
        // Two results, k = 10: precision divides by k; recall and nDCG use what is there.
        let g = grades(&[("a", 1), ("z", 1)]);
        let m = doc_metrics(&docs(&["a", "b"]), &g, 10).unwrap();
        close(m.precision, 0.1);
        close(m.recall, 0.5);
        close(m.mrr, 1.0);
        close(m.ndcg, 1.0 / (1.0 + 1.0 / 3f64.log2()));
        let empty = doc_metrics(&[], &g, 10).unwrap();
        assert_eq!(empty, DocMetrics::default());
    }

    #[test]
    fn ties_rank_by_document_id_and_best_chunk() {
        let hits = vec![
            ("b".to_string(), 0.5),
            ("a".to_string(), 0.5),
            ("c".to_string(), 0.9),
            ("b".to_string(), 0.95), // b's best chunk
        ];
        assert_eq!(rank_documents(&hits), docs(&["b", "c", "a"]));
        let tied = vec![("z".to_string(), 1.0), ("y".to_string(), 1.0)];
        assert_eq!(rank_documents(&tied), docs(&["y", "z"]));
    }

    fn span(d: &str, s: u64, e: u64) -> Span {
        Span {
            doc_id: d.into(),
            start: s,
            end: e,
        }
    }

    #[test]
    fn span_metrics_hand_computed() {
        // Reference [10, 30) in d. Retrieved [0, 20) and [25, 45): overlap 10 + 5 = 15.
        let m = span_metrics(&[span("d", 0, 20), span("d", 25, 45)], &[span("d", 10, 30)]).unwrap();
        close(m.recall, 15.0 / 20.0);
        close(m.precision, 15.0 / 40.0);
        close(m.iou, 15.0 / (40.0 + 20.0 - 15.0));
        // Same ranges in another document do not count.
        let other = span_metrics(&[span("e", 10, 30)], &[span("d", 10, 30)]).unwrap();
        assert_eq!(other, SpanMetrics::default());
        assert_eq!(span_metrics(&[span("d", 0, 5)], &[]), None);
        let nothing = span_metrics(&[], &[span("d", 0, 5)]).unwrap();
        assert_eq!(nothing.precision, 0.0);
    }

    #[test]
    fn overlapping_chunks_count_once() {
        // Chunks [0, 20) and [10, 30) overlap on [10, 20): retrieved = [0, 30), 30 positions.
        let m = span_metrics(
            &[span("d", 0, 20), span("d", 10, 30)],
            &[span("d", 5, 15), span("d", 12, 25)],
        )
        .unwrap();
        // References merge to [5, 25): 20 positions, all retrieved.
        close(m.recall, 1.0);
        close(m.precision, 20.0 / 30.0);
        close(m.iou, 20.0 / 30.0);
    }

    #[test]
    fn multi_byte_characters_use_code_point_offsets() {
        // "héllo wörld": é and ö are 2 bytes but 1 character; offsets are characters.
        let text = "héllo wörld";
        let chars: Vec<char> = text.chars().collect();
        assert_eq!(chars.len(), 11);
        let reference = span("d", 6, 11); // "wörld"
        let got: String = chars[6..11].iter().collect();
        assert_eq!(got, "wörld");
        let m = span_metrics(&[span("d", 0, 11)], &[reference]).unwrap();
        close(m.recall, 1.0);
        close(m.precision, 5.0 / 11.0);
    }
}
