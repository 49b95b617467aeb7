//! `manifest.json`: everything needed to reproduce, audit and check a snapshot.

use std::collections::BTreeMap;
use std::path::Path;

use ragops_core::{DocId, Format, ModelIdentity, Sha256, Skipped, SnapshotId};
use serde::{Deserialize, Serialize};

use crate::fragment::FragmentEntry;
use crate::{io, StoreError};

/// Version of the on-disk snapshot format. A snapshot of a newer version is refused. Format 1
/// kept every data file in the snapshot's directory and the catalog in the manifest; format 2
/// references fragments and keeps the catalog in `catalog.json.lz4`. Both are read.
pub const FORMAT_VERSION: u32 = 2;
/// The catalog of a format-2 snapshot: its documents, the files of its source walk and what
/// was skipped (JSON, LZ4 frame).
pub(crate) const CATALOG_FILE: &str = "catalog.json.lz4";
pub(crate) const MANIFEST_FILE: &str = "manifest.json";
/// SHA-256 of `manifest.json`, written beside it before the snapshot is renamed into place:
/// an edited manifest no longer matches it.
pub(crate) const MANIFEST_SHA256_FILE: &str = "manifest.sha256";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub id: SnapshotId,
    /// The snapshot `current` named when the build started.
    pub parent: Option<SnapshotId>,
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
    pub model: ModelIdentity,
    /// Hash of every setting that shapes a document's chunks and vectors (chunking, enrich,
    /// JSONL mapping, limits, model identity and weights). Documents are reused from a parent
    /// snapshot only when it is equal.
    #[serde(default)]
    pub reuse_key: String,
    pub counts: Counts,
    pub timings: Timings,
    /// Files in the snapshot's own directory (relative path -> size and SHA-256): the catalog
    /// and the deletion vectors (format 2), every data file (format 1).
    pub files: BTreeMap<String, FileRecord>,
    /// The fragments the snapshot reads, in row order (format 2; empty in format 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fragments: Vec<FragmentEntry>,
    /// What the build's enrichment steps counted in the documents it processed (`pii`: findings
    /// per type, never values; `dedup`: duplicates found and dropped); reused documents were
    /// counted by the build that processed them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrichment: Option<serde_json::Value>,
}

impl Manifest {
    /// Rows the snapshot reads (masked rows left out).
    pub fn live_rows(&self) -> u64 {
        if self.fragments.is_empty() {
            self.counts.chunks
        } else {
            self.fragments.iter().map(FragmentEntry::live_rows).sum()
        }
    }
}

/// What a snapshot holds beyond its rows: every document, every file the source walk found,
/// and what was skipped. Kept out of the manifest (which every query reads) because it grows
/// with the corpus; read by builds, `check`, `diff` and `show`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    #[serde(default)]
    pub sources: Vec<SourceRecord>,
    /// Every file the source walk found (loaded or skipped), with the SHA-256 of its bytes:
    /// what `ragops check` and incremental builds compare against.
    #[serde(default)]
    pub source_files: Vec<SourceFileRecord>,
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

impl Catalog {
    pub(crate) fn write(&self, path: &Path) -> Result<(), StoreError> {
        let file = std::fs::File::create(path).map_err(io(path))?;
        let mut enc = lz4_flex::frame::FrameEncoder::new(std::io::BufWriter::new(file));
        serde_json::to_writer(&mut enc, self).map_err(|e| StoreError::Manifest {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let buf = enc.finish().map_err(|e| StoreError::Manifest {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let file = buf.into_inner().map_err(|e| io(path)(e.into_error()))?;
        file.sync_all().map_err(io(path))
    }

    pub(crate) fn read(path: &Path) -> Result<Catalog, StoreError> {
        let file = std::fs::File::open(path).map_err(io(path))?;
        let dec = lz4_flex::frame::FrameDecoder::new(std::io::BufReader::new(file));
        serde_json::from_reader(dec).map_err(|e| StoreError::Manifest {
            path: path.to_path_buf(),
            message: format!("catalog: {e}"),
        })
    }

    /// The catalog of a format-1 snapshot: its manifest's `sources`, `source_files` and
    /// `skipped`.
    pub(crate) fn from_v1_manifest(bytes: &[u8], path: &Path) -> Result<Catalog, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| StoreError::Manifest {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

/// A document of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    pub id: DocId,
    pub path: String,
    pub format: Format,
    pub size: u64,
    pub mtime: Option<i64>,
    pub content_hash: Sha256,
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
    /// SHA-256 of the file's bytes; `None` (stored as "") when it was not read: unreadable or
    /// over `max_file_bytes`.
    #[serde(with = "empty_is_none")]
    pub sha256: Option<Sha256>,
    /// Documents it produced (0 when skipped).
    pub documents: u32,
}

/// `Option<Sha256>` stored as a string, "" for `None` (as every version wrote it).
mod empty_is_none {
    use ragops_core::Sha256;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<Sha256>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_ref().map_or("", |h| h.as_str()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Sha256>, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            Ok(None)
        } else {
            Sha256::parse(&text)
                .map(Some)
                .map_err(serde::de::Error::custom)
        }
    }
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
    /// Chunks whose vectors came from the embedding cache (or repeated a text embedded just
    /// before, in the same slice of 512) / were computed by the model.
    #[serde(default)]
    pub embeddings_cached: u64,
    #[serde(default)]
    pub embeddings_computed: u64,
    /// Cache entries found torn or corrupt (recomputed, never served).
    #[serde(default)]
    pub cache_entries_torn: u64,
}

/// Seconds spent per stage of a build.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Timings {
    /// Resolving, hashing and loading the model.
    pub model_load: f64,
    /// Hashing the source files.
    pub hash: f64,
    /// Copying the reused documents' rows from the parent.
    pub reuse: f64,
    /// Loading, chunking and enriching.
    pub load_chunk: f64,
    /// Embedding (cache lookups included).
    pub embed: f64,
    /// Writing the chunk table and the full-text index.
    pub persist: f64,
    /// Building the HNSW graph (0 without one).
    pub vector_index: f64,
    /// The whole build.
    pub total: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub bytes: u64,
    pub sha256: Sha256,
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Manifest, StoreError> {
        let bytes = std::fs::read(path).map_err(io(path))?;
        Manifest::parse(&bytes, path)
    }

    /// Parses a manifest; a newer format is refused. `path` is only used in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Manifest, StoreError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| StoreError::Manifest {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let version = value
            .get("format_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        if version > u64::from(FORMAT_VERSION) {
            return Err(StoreError::NewerFormat {
                id: value
                    .get("id")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
                    .chars()
                    .take(64)
                    .collect(),
                found: u32::try_from(version).unwrap_or(u32::MAX),
                supported: FORMAT_VERSION,
            });
        }
        serde_json::from_value(value).map_err(|e| StoreError::Manifest {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Checks that the manifest belongs where it was found: its id is the directory's. (Its
    /// parent is a `SnapshotId`, checked when parsed.)
    pub fn check_identity(&self, dir_id: &SnapshotId) -> Result<(), StoreError> {
        if self.id != *dir_id {
            return Err(StoreError::IdMismatch {
                dir: dir_id.clone(),
                manifest: self.id.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_format_is_refused() {
        let v = serde_json::json!({"format_version": FORMAT_VERSION + 1, "id": "x"});
        let err = Manifest::parse(v.to_string().as_bytes(), Path::new("m.json")).unwrap_err();
        assert!(matches!(err, StoreError::NewerFormat { .. }), "{err}");
        let err = Manifest::parse(b"{", Path::new("m.json")).unwrap_err();
        assert!(matches!(err, StoreError::Manifest { .. }), "{err}");
    }
}
