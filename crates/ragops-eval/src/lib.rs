//! Retrieval evaluation: question sets (span-level JSONL, BEIR), metric functions, and the
//! experiment report (JSON and a self-contained HTML page with SVG charts).

pub mod metrics;
pub mod questions;
pub mod report;

pub use metrics::{doc_metrics, rank_documents, span_metrics, DocMetrics, Span, SpanMetrics};
pub use questions::{convert_chunking_eval, load, Conversion, Question, QuestionSet, SetKind};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Format {
        path: PathBuf,
        line: usize,
        message: String,
    },
}
