//! Retrieval evaluation without I/O on snapshots: question sets (span-level JSONL, BEIR,
//! chunking-eval conversion), metric functions, and the experiment report as data.

pub mod metrics;
pub mod questions;
pub mod report;

pub use metrics::{doc_metrics, rank_documents, span_metrics, DocMetrics, Span, SpanMetrics};
pub use questions::{convert_chunking_eval, load, Conversion, Question, QuestionSet, SetKind};
pub use report::{ExperimentReport, Metric, ModeMetrics, VariantResult};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Format {
        path: PathBuf,
        line: usize,
        message: String,
    },
}
