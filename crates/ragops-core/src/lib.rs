//! Core types shared by every ragops stage: pipeline configuration, documents, chunks and the
//! small hashing helpers that make ids deterministic.
//!
//! This crate has no I/O beyond reading a pipeline file; every stage crate depends on it.

pub mod config;
pub mod hash;
pub mod types;

pub use config::{
    config_diff, content_part, is_local_model_ref, normalize_path, ChunkStrategy, ChunkUnit,
    ChunkingConfig, ConfigChange, ConfigError, EmbeddingConfig, EnrichConfig, IndexConfig,
    JsonlConfig, LoadedPipeline, PipelineConfig, RetentionConfig, SourcesConfig, StoreConfig,
    CONTEXTUAL_HEADER, TOKEN_SPLITTER,
};
pub use hash::{sha256_file, sha256_hex, sha256_reader, FileDigest, Sha256Hasher};
pub use types::{Chunk, Document, Format, PageSpan, Section, Skipped};

/// Version of the ragops tool, recorded in every manifest.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
