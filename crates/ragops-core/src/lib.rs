//! Core types shared by every ragops stage: pipeline configuration, typed ids, documents,
//! chunks, skip reasons, the model identity, source diffs and the small hashing helpers that
//! make ids deterministic.
//!
//! This crate has no I/O beyond reading a pipeline file and hashing a file; every other crate
//! depends on it.

pub mod config;
pub mod drift;
pub mod filter;
pub mod hash;
pub mod ids;
pub mod model;
pub mod skip;
pub mod types;

pub use config::{
    config_diff, content_part, is_local_model_ref, normalize_path, ChunkStrategy, ChunkUnit,
    ChunkingConfig, CompactionConfig, ConfigChange, ConfigError, DedupAction, DedupConfig,
    DedupLevel, EmbeddingConfig, EnrichConfig, EnrichStep, IndexConfig, JsonlConfig,
    KeywordsConfig, LoadedPipeline, MetadataConfig, PiiConfig, PiiMode, PipelineConfig,
    RetentionConfig, ServeSettings, SourcesConfig, StoreConfig, CONTEXTUAL_HEADER, DEFAULT_MODEL,
    PII_RULES, TOKEN_SPLITTER,
};
pub use drift::SourceDiff;
pub use hash::{sha256_file, sha256_hex, sha256_reader, FileDigest, Sha256Hasher};
pub use ids::{is_build_id, is_snapshot_id, BuildId, ChunkId, DocId, IdError, Sha256, SnapshotId};
pub use model::{ModelIdentity, ModelSource, Pooling, Precision};
pub use skip::{SkipReason, Skipped};
pub use types::{Chunk, ChunkMeta, ChunkRow, Document, EmbedKey, Format, Mode, PageSpan, Section};

/// Version of the ragops tool, recorded in every manifest.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
