//! The snapshot store.
//!
//! ```text
//! <store>/
//!   store.json                      marker: this directory is a ragops store (format, version)
//!   snapshots/<id>/manifest.json    immutable once written; lists the fragments it reads
//!   snapshots/<id>/manifest.sha256  SHA-256 of manifest.json
//!   snapshots/<id>/catalog.json.lz4 documents, source files and skips
//!   snapshots/<id>/deletions/<f>.del rows of fragment <f> this snapshot masks
//!   fragments/<f>/chunks.parquet    immutable, content-addressed rows shared by snapshots
//!   fragments/<f>/vectors.f32       the same rows' vectors, memory-mapped by queries
//!   fragments/<f>/vectors.hnsw      HNSW graph over them (large fragments), memory-mapped
//!   fragments/<f>/vectors.hnsw.unreached  rows no walk of the graph reaches, with their vectors
//!   fragments/<f>/fulltext/         tantivy index
//!   refs/current                    the alias; replaced atomically (write temp, fsync, rename)
//!   refs/tags/<name>
//!   refs/log.jsonl                  every ref move (audit trail)
//!   staging/<id>/                   snapshots being written; never read by queries
//!   trash/<id>/                     snapshots being deleted by gc (renamed here first)
//!   cache/embeddings/<model>/       content-addressed embedding cache (see `cache`)
//!   builds/<build id>/              a sharded build's plan and finished shards (see `builds`)
//!   leases/<holder>.json            snapshots a running reader (serve) holds open; gc keeps them
//!   LOCK                            one data writer at a time (advisory lock, released on exit/kill)
//!   refs/LOCK                       short lock around every ref move
//! ```
//!
//! (Format-1 snapshots hold `chunks.parquet`, `vectors.*` and `fulltext/` in their own
//! directory and their catalog in the manifest; they are read as one fragment.)
//!
//! Invariants: a snapshot is written under `staging/`, fsynced, then renamed into `snapshots/`
//! with its manifest already in place (its new fragment is moved into `fragments/` first); it becomes visible to readers only when a ref (`current`
//! or a tag) names it. Data files are never modified after that. Rollback and tag only move refs.

mod ann;
mod builds;
mod cache;
mod chunks;
mod columns;
mod failpoint;
mod fragment;
mod fsutil;
mod fulltext;
mod lease;
mod lock;
mod manifest;
pub mod mirror;
mod refs;
mod rowset;
mod snapshot;
mod store;
mod vectors;

pub use ann::AnnIndex;
pub use builds::{BuildPlanRecord, ShardLock, ShardParts, ShardRecord};
pub use cache::{
    cache_key, gc_cache, CacheGcReport, CacheStats, CachedEmbedding, EmbeddingCache, SegmentWriter,
};
pub use chunks::{ChunkBatches, ChunkRows, ChunkTable, ChunkTableWriter, RowBatch};
pub use failpoint::failpoint;
pub use fragment::{DeletionVector, Fragment, FragmentEntry, FragmentId};
pub use fulltext::{search_parts, FulltextHit, FulltextIndex, FulltextPart, FulltextWriter};
pub use lease::{FoundLease, LeaseInfo, ReaderLease};
pub use lock::{RefsLock, StoreLock};
pub use manifest::{
    Catalog, Counts, FileRecord, Manifest, SourceFileRecord, SourceRecord, Timings, FORMAT_VERSION,
};
pub use refs::{parse_ref, valid_tag, Expect, RefMove, RefStamp};
pub use rowset::{ListColumn, RowSet, TextColumn};
pub use snapshot::{CarriedFragment, Snapshot, SnapshotWriter, VerifyReport};
pub use store::{SnapshotSummary, Store, MARKER_FILE, STORE_VERSION};
pub use vectors::{VectorFile, Vectors};

use std::path::{Path, PathBuf};

use ragops_core::SnapshotId;

/// The error a Parquet or tantivy call gave.
pub type Source = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no ragops store at {0}")]
    NoStore(PathBuf),
    #[error(
        "{path} is not a ragops store: it is not empty and has no {marker} (it holds {})",
        found.join(", "),
        marker = store::MARKER_FILE
    )]
    NotAStore { path: PathBuf, found: Vec<String> },
    #[error("store marker {path} is invalid: {message}")]
    BadMarker { path: PathBuf, message: String },
    #[error(
        "the store {path} was written by a newer ragops (store version {found}, this build \
         reads up to {supported})"
    )]
    NewerStore {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("the store is locked by another writer ({holder}): {path}")]
    Locked { path: PathBuf, holder: String },
    #[error("ref `{name}` does not hold a snapshot id (it holds {contents:?})")]
    BadRef { name: String, contents: String },
    #[error(
        "`current` moved while snapshot {snapshot} was being built (it named {}, now {}); \
         the snapshot was written but not published",
        expected.as_ref().map_or("nothing", |i| i.as_str()),
        found.as_ref().map_or("nothing", |i| i.as_str())
    )]
    CurrentMoved {
        expected: Option<SnapshotId>,
        found: Option<SnapshotId>,
        snapshot: SnapshotId,
    },
    #[error("manifest of snapshot {id} does not match its checksum (edited?): {path}")]
    ManifestTampered { id: SnapshotId, path: PathBuf },
    #[error("the manifest in snapshot directory {dir} names another snapshot id ({manifest})")]
    IdMismatch {
        dir: SnapshotId,
        manifest: SnapshotId,
    },
    #[error("no snapshot matches `{0}`")]
    UnknownSnapshot(String),
    #[error("`{0}` matches several snapshots; give more characters of the id")]
    Ambiguous(String),
    #[error("no tag named `{0}`")]
    UnknownTag(String),
    #[error("snapshot {0} is named by `current` or a tag; move or remove the ref first")]
    Referenced(SnapshotId),
    #[error(
        "build {build} was planned with {planned} shard(s), not {asked}; use the same count \
         for every shard, or another build id"
    )]
    ShardCount {
        build: ragops_core::BuildId,
        planned: u32,
        asked: u32,
    },
    #[error(
        "`{0}` is an object-store URL: build, commit, shards, search, eval, serve and \
         snapshots rollback accept one; this command needs a local store"
    )]
    UrlNotHere(String),
    #[error("no snapshot is published yet")]
    NothingPublished,
    #[error(
        "invalid tag name `{0}`: use letters, digits, '.', '_', '-' and '/', and not the \
         form of a snapshot id"
    )]
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
    #[error("chunk table {path}: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: Source,
    },
    #[error("vector file {path}: {message}")]
    Vectors { path: PathBuf, message: String },
    #[error("vector index {path}: {message}")]
    Ann { path: PathBuf, message: String },
    #[error("full-text index {path}: {source}")]
    Fulltext {
        path: PathBuf,
        #[source]
        source: Source,
    },
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}
