//! `manifest.json`: everything needed to reproduce, audit and check a snapshot.

use std::collections::BTreeMap;
use std::path::Path;

use ragops_core::Skipped;
use serde::{Deserialize, Serialize};

use crate::{io, StoreError};

/// Version of the on-disk snapshot format. A store holding a newer version is refused.
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub id: String,
    /// The snapshot `current` named when the build started.
    pub parent: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub created_unix: i64,
    pub tool_version: String,
    /// Pipeline file the build ran.
    pub pipeline: String,
    /// Effective configuration, defaults filled in.
    pub config: serde_json::Value,
    pub config_hash: String,
    pub chunking_hash: String,
    pub model: ModelRecord,
    pub sources: Vec<SourceRecord>,
    /// Every file the source walk found (loaded or skipped), with the SHA-256 of its bytes:
    /// what `ragops check` and incremental builds compare against.
    #[serde(default)]
    pub source_files: Vec<SourceFileRecord>,
    /// Hash of every setting that shapes a document's chunks and vectors (chunking, enrich,
    /// JSONL mapping, model identity and weights). Documents are reused from a parent snapshot
    /// only when it is equal.
    #[serde(default)]
    pub reuse_key: String,
    pub skipped: Vec<Skipped>,
    pub counts: Counts,
    /// Seconds per stage.
    pub timings: BTreeMap<String, f64>,
    /// Data files of the snapshot (relative path -> size and SHA-256).
    pub files: BTreeMap<String, FileRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRecord {
    pub id: String,
    pub revision: String,
    pub weights_sha256: String,
    pub dim: usize,
    pub max_tokens: usize,
    pub pooling: String,
    pub normalize: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    pub id: String,
    pub path: String,
    pub format: String,
    pub size: u64,
    pub mtime: Option<i64>,
    pub content_hash: String,
    pub chunks: u32,
}

/// A file found by the source walk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFileRecord {
    /// Path relative to its source root (the document id, or the prefix of JSONL record ids).
    pub id: String,
    /// Path as configured.
    pub path: String,
    pub size: u64,
    pub mtime: Option<i64>,
    /// SHA-256 of the file's bytes; empty when it could not be read.
    pub sha256: String,
    /// Documents it produced (0 when skipped).
    pub documents: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub documents: u64,
    pub chunks: u64,
    /// Model tokens embedded (special tokens included).
    pub tokens: u64,
    pub skipped: u64,
    /// Embedded texts cut at the model's maximum length.
    pub truncated: u64,
    /// Documents (and their chunks) copied unchanged from the parent snapshot.
    #[serde(default)]
    pub reused_documents: u64,
    #[serde(default)]
    pub reused_chunks: u64,
    /// Chunks whose vectors came from the embedding cache / were computed by the model.
    #[serde(default)]
    pub embeddings_cached: u64,
    #[serde(default)]
    pub embeddings_computed: u64,
    /// Cache entries found torn or corrupt (recomputed, never served).
    #[serde(default)]
    pub cache_entries_torn: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub bytes: u64,
    pub sha256: String,
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Manifest, StoreError> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| StoreError::Manifest {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let version = value
            .get("format_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as u32;
        if version > FORMAT_VERSION {
            return Err(StoreError::NewerFormat {
                id: value
                    .get("id")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
                    .to_string(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        serde_json::from_value(value).map_err(|e| StoreError::Manifest {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}
