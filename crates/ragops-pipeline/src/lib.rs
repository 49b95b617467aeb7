//! The pipeline runner: load → chunk → enrich → embed → persist → publish, plus the read-side
//! operations the CLI needs (search, snapshot management, model provisioning) so that the CLI
//! stays a thin layer of argument parsing and printing.

mod build;
mod check;
mod embed_file;
mod eval;
mod experiment;
mod maintain;
mod ops;
pub mod progress;

pub use build::{build, build_pipeline, BuildOptions, BuildReport, IncrementalReport};
pub use check::{
    check, CheckOptions, CheckReport, ModelDrift, SourceDrift, CHECK_ERROR, CHECK_FRESH,
    CHECK_STALE,
};
pub use embed_file::{bert_flops, embed_file, read_texts, EmbedFileOptions, EmbedFileReport};
pub use eval::{eval, load_questions, EvalOptions, EvalReport};
pub use experiment::{expand, experiment, ExperimentFile, ExperimentOptions, Variant};
pub use maintain::{
    diff, gc, parse_duration, retention_with, untag, ChangedDocument, GcReport, Kept, SnapshotDiff,
};
pub use ops::{
    load_embedder, resolve_store, rollback, search, tag, SearchResult, SearchResults,
    DEFAULT_PIPELINE,
};
pub use progress::{Progress, ProgressMode};

use std::path::PathBuf;

use ragops_core::Skipped;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Config(#[from] ragops_core::ConfigError),
    #[error(transparent)]
    Store(#[from] ragops_store::StoreError),
    #[error(transparent)]
    Embed(#[from] ragops_embed::EmbedError),
    #[error(transparent)]
    Chunk(#[from] ragops_chunk::ChunkError),
    #[error(transparent)]
    Search(#[from] ragops_search::SearchError),
    #[error("{} source(s) could not be loaded and --strict is set; nothing was published:\n{}", .0.len(), format_skipped(.0))]
    Strict(Vec<Skipped>),
    #[error("no documents were loaded from the sources ({skipped} skipped); check [sources] paths in {pipeline}")]
    NoDocuments { pipeline: PathBuf, skipped: usize },
    #[error(
        "the model `{model}` in the cache is not the one snapshot {snapshot} was built with \
         ({differs} differ; weights {expected:.12} expected, {found:.12} found)"
    )]
    ModelMismatch {
        snapshot: String,
        model: String,
        differs: String,
        expected: String,
        found: String,
    },
    #[error("snapshot {id} is damaged: {}", problems.join("; "))]
    Damaged { id: String, problems: Vec<String> },
    #[error("{0}")]
    Usage(String),
}

fn format_skipped(s: &[Skipped]) -> String {
    s.iter()
        .map(|s| format!("  {}: {}", s.path, s.reason))
        .collect::<Vec<_>>()
        .join("\n")
}
