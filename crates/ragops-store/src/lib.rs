//! The snapshot store.
//!
//! ```text
//! <store>/
//!   snapshots/<id>/manifest.json    immutable once written
//!   snapshots/<id>/chunks.parquet
//!   snapshots/<id>/fulltext/        tantivy index
//!   refs/current                    the alias; replaced atomically (write temp, fsync, rename)
//!   refs/tags/<name>
//!   refs/log.jsonl                  every ref move (audit trail)
//!   staging/<id>/                   snapshots being written; never read by queries
//!   trash/<id>/                     snapshots being deleted by gc (renamed here first)
//!   cache/embeddings/<model>/       content-addressed embedding cache (see `cache`)
//!   LOCK                            one writer at a time (advisory lock, released on exit/kill)
//! ```
//!
//! Invariants: a snapshot is written under `staging/`, fsynced, then renamed into `snapshots/`
//! with its manifest already in place; it becomes visible to readers only when a ref (`current`
//! or a tag) names it. Data files are never modified after that. Rollback and tag only move refs.

mod cache;
mod chunks;
mod fulltext;
mod layout;
mod manifest;

pub use cache::{
    cache_key, gc_cache, model_key, CacheGcReport, CacheKey, CacheStats, CachedEmbedding,
    EmbeddingCache, SegmentWriter, CACHE_DIR,
};
pub use chunks::{
    read_chunks, read_embed_keys, ChunkBatches, ChunkTable, ChunkTableWriter, CHUNKS_FILE,
};
pub use fulltext::{FulltextIndex, FulltextWriter, FULLTEXT_DIR};
pub use layout::{
    dir_size, pause_point, RefMove, SnapshotSummary, SnapshotWriter, Store, StoreLock,
};
pub use manifest::{
    Counts, FileRecord, Manifest, ModelRecord, SourceFileRecord, SourceRecord, FORMAT_VERSION,
    MANIFEST_FILE,
};

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no ragops store at {0} (run `ragops build` first, or pass --store)")]
    NoStore(PathBuf),
    #[error("the store {path} is locked by another writer ({holder}); wait for it to finish")]
    Locked { path: PathBuf, holder: String },
    #[error("no snapshot matches `{0}` (see `ragops snapshots list`)")]
    UnknownSnapshot(String),
    #[error("`{0}` matches several snapshots; give more characters of the id")]
    Ambiguous(String),
    #[error("no tag named `{0}` (see `ragops snapshots list`)")]
    UnknownTag(String),
    #[error("snapshot {0} is named by `current` or a tag; move or remove the ref first")]
    Referenced(String),
    #[error("no snapshot is published yet (run `ragops build`)")]
    NothingPublished,
    #[error("invalid tag name `{0}`: use letters, digits, '.', '_', '-' and '/'")]
    BadTag(String),
    #[error("manifest {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error(
        "snapshot {id} was written by a newer ragops (format {found}, this build reads up to \
         {supported}); upgrade ragops"
    )]
    NewerFormat {
        id: String,
        found: u32,
        supported: u32,
    },
    #[error("chunk table {path}: {message}")]
    Parquet { path: PathBuf, message: String },
    #[error("full-text index {path}: {message}")]
    Fulltext { path: PathBuf, message: String },
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}
