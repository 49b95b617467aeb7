//! Evaluation results and the experiment report, as data (the CLI renders them).

use std::collections::BTreeMap;

use ragops_core::{ChunkUnit, Mode, SnapshotId};
use serde::{Deserialize, Serialize};

/// Metrics of one snapshot for one retrieval mode and cut-off, averaged over the questions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeMetrics {
    pub mode: Mode,
    pub k: usize,
    /// Questions with at least one relevant document (the means are over these).
    pub evaluated: usize,
    /// Questions left out: no relevant document.
    pub skipped: usize,
    pub recall: f64,
    pub precision: f64,
    pub mrr: f64,
    pub ndcg: f64,
    /// Span-level metrics (span question sets only).
    pub span_recall: Option<f64>,
    pub span_precision: Option<f64>,
    pub span_iou: Option<f64>,
}

/// A metric an experiment ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Recall,
    Precision,
    Mrr,
    Ndcg,
    SpanRecall,
    SpanPrecision,
    SpanIou,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::Recall,
        Metric::Precision,
        Metric::Mrr,
        Metric::Ndcg,
        Metric::SpanRecall,
        Metric::SpanPrecision,
        Metric::SpanIou,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Recall => "recall",
            Metric::Precision => "precision",
            Metric::Mrr => "mrr",
            Metric::Ndcg => "ndcg",
            Metric::SpanRecall => "span_recall",
            Metric::SpanPrecision => "span_precision",
            Metric::SpanIou => "span_iou",
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Metric::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
                format!("unknown metric `{s}`: use one of {}", names.join(", "))
            })
    }
}

impl ModeMetrics {
    pub fn get(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::Recall => Some(self.recall),
            Metric::Precision => Some(self.precision),
            Metric::Mrr => Some(self.mrr),
            Metric::Ndcg => Some(self.ndcg),
            Metric::SpanRecall => self.span_recall,
            Metric::SpanPrecision => self.span_precision,
            Metric::SpanIou => self.span_iou,
        }
    }
}

/// One variant of an experiment: its settings, its cost and its scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantResult {
    pub name: String,
    /// The grid values that define the variant (dotted pipeline keys).
    pub settings: BTreeMap<String, serde_json::Value>,
    pub snapshot: SnapshotId,
    /// Chunk size and unit after the grid was applied.
    pub chunk_size: usize,
    pub unit: ChunkUnit,
    pub chunks: u64,
    /// Bytes of the snapshot's data files (chunk table and full-text index).
    pub index_bytes: u64,
    pub build_seconds: f64,
    pub embed_seconds: f64,
    pub embeddings_computed: u64,
    pub embeddings_cached: u64,
    /// Embedded texts longer than the model's limit (cut for embedding, stored whole).
    pub truncated: u64,
    pub metrics: Vec<ModeMetrics>,
    /// The ranking metric at the primary mode and k.
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentReport {
    pub name: String,
    pub questions: String,
    pub question_count: usize,
    pub metric: Metric,
    pub mode: Mode,
    pub k: usize,
    pub model: String,
    /// Best first.
    pub variants: Vec<VariantResult>,
    pub winner: Option<String>,
}

impl ExperimentReport {
    /// A variant's metrics at the report's ranking mode and k.
    pub fn primary<'a>(&self, v: &'a VariantResult) -> Option<&'a ModeMetrics> {
        v.metrics
            .iter()
            .find(|m| m.mode == self.mode && m.k == self.k)
    }

    /// Sorts variants best first (ties: fewer chunks, then name) and names the winner.
    pub fn rank(&mut self) {
        self.variants.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.chunks.cmp(&b.chunks))
                .then(a.name.cmp(&b.name))
        });
        self.winner = self.variants.first().map(|v| v.name.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(name: &str, size: usize, score: f64, chunks: u64) -> VariantResult {
        VariantResult {
            name: name.into(),
            settings: [("chunking.size".to_string(), serde_json::json!(size))].into(),
            snapshot: SnapshotId::parse("20260101T000000000Z-00000000").unwrap(),
            chunk_size: size,
            unit: ChunkUnit::Tokens,
            chunks,
            index_bytes: 1000,
            build_seconds: 1.0,
            embed_seconds: 1.0,
            embeddings_computed: 1,
            embeddings_cached: 0,
            truncated: 0,
            metrics: vec![ModeMetrics {
                mode: Mode::Vector,
                k: 5,
                evaluated: 3,
                skipped: 0,
                recall: score,
                precision: 0.1,
                mrr: 0.2,
                ndcg: 0.3,
                span_recall: Some(0.4),
                span_precision: Some(0.05),
                span_iou: Some(score),
            }],
            score,
        }
    }

    #[test]
    fn ranks_best_first_with_ties_on_cost() {
        let mut r = ExperimentReport {
            name: "e".into(),
            questions: "q.jsonl".into(),
            question_count: 3,
            metric: Metric::SpanIou,
            mode: Mode::Vector,
            k: 5,
            model: "m".into(),
            variants: vec![
                variant("a", 200, 0.3, 10),
                variant("b", 400, 0.5, 9),
                variant("c", 800, 0.5, 5),
            ],
            winner: None,
        };
        r.rank();
        let names: Vec<&str> = r.variants.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["c", "b", "a"],
            "tie on score: fewer chunks first"
        );
        assert_eq!(r.winner.as_deref(), Some("c"));
        assert_eq!(r.primary(&r.variants[0]).map(|m| m.k), Some(5));
        assert_eq!("span_iou".parse::<Metric>(), Ok(Metric::SpanIou));
        assert!("iou".parse::<Metric>().is_err());
    }
}
