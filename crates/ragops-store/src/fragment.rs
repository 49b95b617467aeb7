//! Fragments (format 2): immutable, content-addressed sets of rows that snapshots reference.
//!
//! A fragment is a directory `fragments/<id>/` holding a chunk table, its vector file, its
//! full-text index and, for large fragments, its HNSW graph; `<id>` is derived from the
//! SHA-256 of every file in it, so two snapshots that hold the same rows share one copy. A
//! snapshot lists the fragments it reads and, per fragment, a deletion vector masking the rows
//! of documents it no longer holds (the rows stay in the fragment for older snapshots).
//! Snapshots of format 1 have no `fragments/` entry: their own directory is read as one
//! fragment with nothing masked.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ragops_core::{sha256_file, DocId, EmbedKey, Sha256Hasher};
use serde::{Deserialize, Serialize};

use crate::ann::{AnnIndex, ANN_FILE};
use crate::chunks::{
    read_chunks, read_embed_keys, ChunkBatches, ChunkRows, ChunkTable, CHUNKS_FILE,
};
use crate::fsutil::{create_dir_durable, rel_path, sync_dir, walk_files};
use crate::fulltext::{FulltextIndex, FULLTEXT_DIR};
use crate::manifest::FileRecord;
use crate::store::TRASH;
use crate::vectors::{VectorFile, Vectors, VECTORS_FILE};
use crate::{io, Store, StoreError, StoreLock};

/// Directory of the fragments, in the store.
pub(crate) const FRAGMENTS: &str = "fragments";
/// The new fragment of a snapshot being written, inside its staging directory.
pub(crate) const NEW_FRAGMENT: &str = "fragment";
/// Deletion vectors, inside a snapshot's directory (`deletions/<fragment id>.del`).
pub(crate) const DELETIONS_DIR: &str = "deletions";

/// Files tantivy leaves in an index directory that are locks, not data: empty, never
/// checksummed, and created by older ragops readers inside published snapshots.
pub(crate) fn is_tantivy_lock(rel: &str) -> bool {
    rel.rsplit('/')
        .next()
        .is_some_and(|n| n.starts_with(".tantivy-") && n.ends_with(".lock"))
}

/// A fragment's id: the first 32 hex digits of the SHA-256 of its files' names and checksums.
/// Only values of that form are held, so an id read from a manifest never names a path
/// outside `fragments/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FragmentId(String);

impl FragmentId {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(s.to_string()))
        } else {
            Err(format!(
                "`{}` is not a fragment id (32 hex digits)",
                s.chars().take(64).collect::<String>()
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of a fragment with these files.
    pub(crate) fn of(files: &BTreeMap<String, FileRecord>) -> Self {
        let mut h = Sha256Hasher::new();
        for (rel, rec) in files {
            h = h
                .part(rel)
                .part(rec.sha256.as_str())
                .part(rec.bytes.to_le_bytes());
        }
        Self(h.hex()[..32].to_string())
    }
}

impl TryFrom<String> for FragmentId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<FragmentId> for String {
    fn from(id: FragmentId) -> String {
        id.0
    }
}

impl std::fmt::Display for FragmentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fragment as a snapshot's manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FragmentEntry {
    pub id: FragmentId,
    /// Rows in the fragment's chunk table.
    pub rows: u64,
    /// Rows this snapshot masks (documents replaced or deleted since the fragment was written).
    #[serde(default)]
    pub deleted: u64,
    /// The deletion vector, relative to the snapshot's directory, when rows are masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletions: Option<String>,
    /// Tokens of the masked rows per full-text field, so that BM25 statistics leave them out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deleted_tokens: BTreeMap<String, u64>,
    /// The fragment's files (relative to its directory) with size and SHA-256.
    pub files: BTreeMap<String, FileRecord>,
}

impl FragmentEntry {
    /// Bytes of the fragment's files.
    pub fn bytes(&self) -> u64 {
        self.files.values().map(|f| f.bytes).sum()
    }

    /// Rows not masked.
    pub fn live_rows(&self) -> u64 {
        self.rows.saturating_sub(self.deleted)
    }
}

/// Which rows of a fragment a snapshot masks: a bitset, one bit per row.
///
/// File layout: `"RGDEL001"`, rows (u64 LE), then ⌈rows / 64⌉ words (u64 LE), bit `r % 64` of
/// word `r / 64` set when row `r` is masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionVector {
    rows: usize,
    words: Vec<u64>,
}

const DELETION_MAGIC: &[u8; 8] = b"RGDEL001";

impl DeletionVector {
    pub fn new(rows: usize) -> Self {
        Self {
            rows,
            words: vec![0; rows.div_ceil(64)],
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Masks `row` (rows past the end are ignored).
    pub fn delete(&mut self, row: usize) {
        if row < self.rows {
            self.words[row / 64] |= 1 << (row % 64);
        }
    }

    pub fn is_deleted(&self, row: usize) -> bool {
        self.words
            .get(row / 64)
            .is_some_and(|w| w & (1 << (row % 64)) != 0)
    }

    /// Masked rows.
    pub fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// Masks every row `other` masks.
    pub fn union(&mut self, other: &DeletionVector) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }

    pub(crate) fn write(&self, path: &Path) -> Result<(), StoreError> {
        let mut bytes = Vec::with_capacity(16 + self.words.len() * 8);
        bytes.extend_from_slice(DELETION_MAGIC);
        bytes.extend_from_slice(&(self.rows as u64).to_le_bytes());
        for w in &self.words {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        let mut f = File::create(path).map_err(io(path))?;
        f.write_all(&bytes).map_err(io(path))?;
        f.sync_all().map_err(io(path))
    }

    pub(crate) fn read(path: &Path, rows: u64) -> Result<Self, StoreError> {
        let bad = |m: String| StoreError::Manifest {
            path: path.to_path_buf(),
            message: m,
        };
        let mut f = File::open(path).map_err(io(path))?;
        let words = usize::try_from(rows.div_ceil(64)).map_err(|_| bad("too many rows".into()))?;
        let want = 16 + words as u64 * 8;
        let len = f.metadata().map_err(io(path))?.len();
        if len != want {
            return Err(bad(format!(
                "deletion vector of {len} bytes for {rows} rows (expected {want})"
            )));
        }
        let mut bytes = Vec::with_capacity(want as usize);
        f.read_to_end(&mut bytes).map_err(io(path))?;
        if &bytes[..8] != DELETION_MAGIC {
            return Err(bad("not a deletion vector".into()));
        }
        let mut n = [0u8; 8];
        n.copy_from_slice(&bytes[8..16]);
        if u64::from_le_bytes(n) != rows {
            return Err(bad("deletion vector is for another row count".into()));
        }
        let words = bytes[16..]
            .chunks_exact(8)
            .map(|c| {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                u64::from_le_bytes(w)
            })
            .collect();
        Ok(Self {
            rows: rows as usize,
            words,
        })
    }
}

/// Size and SHA-256 of every data file under `dir` (streaming; each fsynced first), keyed by
/// `/`-separated relative path; `skip` leaves names out. The directories holding them are
/// returned too, for fsync.
pub(crate) fn checksum_files(
    dir: &Path,
    skip: impl Fn(&str) -> bool,
) -> Result<(BTreeMap<String, FileRecord>, Vec<PathBuf>), StoreError> {
    let mut files = BTreeMap::new();
    let mut dirs = vec![dir.to_path_buf()];
    for path in walk_files(dir) {
        if let Some(parent) = path.parent() {
            if !dirs.iter().any(|d| d == parent) {
                dirs.push(parent.to_path_buf());
            }
        }
        let Some(rel) = rel_path(dir, &path) else {
            continue;
        };
        if skip(&rel) || is_tantivy_lock(&rel) {
            continue;
        }
        let file = File::open(&path).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        let digest = ragops_core::sha256_reader(file).map_err(io(&path))?;
        files.insert(
            rel,
            FileRecord {
                bytes: digest.bytes,
                sha256: digest.sha256,
            },
        );
    }
    Ok((files, dirs))
}

pub(crate) fn file_matches(path: &Path, rec: &FileRecord) -> Result<bool, std::io::Error> {
    let meta = std::fs::metadata(path)?;
    if meta.len() != rec.bytes {
        return Ok(false);
    }
    Ok(sha256_file(path)?.sha256 == rec.sha256)
}

impl Store {
    pub(crate) fn fragments_dir(&self) -> PathBuf {
        self.root().join(FRAGMENTS)
    }

    pub(crate) fn fragment_dir(&self, id: &FragmentId) -> PathBuf {
        self.fragments_dir().join(id.as_str())
    }

    /// Moves a finished fragment directory (`staged`, holding `files`) into `fragments/` under
    /// its content id. When a fragment of that id is already there and intact, it is the same
    /// rows: the staged copy is dropped. A damaged one is moved to `trash/` and replaced.
    pub(crate) fn install_fragment(
        &self,
        staged: &Path,
        rows: u64,
        files: BTreeMap<String, FileRecord>,
    ) -> Result<FragmentEntry, StoreError> {
        let id = FragmentId::of(&files);
        let target = self.fragment_dir(&id);
        create_dir_durable(&self.fragments_dir())?;
        if target.exists() {
            let intact = files
                .iter()
                .all(|(rel, rec)| file_matches(&target.join(rel), rec).unwrap_or(false));
            if intact {
                std::fs::remove_dir_all(staged).map_err(io(staged))?;
            } else {
                let trash = self.root().join(TRASH);
                create_dir_durable(&trash)?;
                let dest = trash.join(id.as_str());
                let _ = std::fs::remove_dir_all(&dest);
                std::fs::rename(&target, &dest).map_err(io(&target))?;
                std::fs::rename(staged, &target).map_err(io(&target))?;
            }
        } else {
            std::fs::rename(staged, &target).map_err(io(&target))?;
        }
        sync_dir(&self.fragments_dir())?;
        Ok(FragmentEntry {
            id,
            rows,
            deleted: 0,
            deletions: None,
            deleted_tokens: BTreeMap::new(),
            files,
        })
    }

    /// Ids of every fragment directory.
    pub fn fragment_ids(&self) -> Result<Vec<FragmentId>, StoreError> {
        let dir = self.fragments_dir();
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir)(e)),
        };
        let mut ids: Vec<FragmentId> = rd
            .flatten()
            .filter_map(|e| FragmentId::parse(&e.file_name().to_string_lossy()).ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Bytes of a fragment's directory.
    pub fn fragment_bytes(&self, id: &FragmentId) -> u64 {
        crate::fsutil::dir_size(&self.fragment_dir(id))
    }

    /// Deletes a fragment: renamed into `trash/` first (so a half-deleted fragment is never
    /// found under its id), then removed. The caller has checked that no snapshot lists it.
    pub fn delete_fragment(&self, _lock: &StoreLock, id: &FragmentId) -> Result<u64, StoreError> {
        let dir = self.fragment_dir(id);
        let trash = self.root().join(TRASH);
        create_dir_durable(&trash)?;
        let target = trash.join(id.as_str());
        let _ = std::fs::remove_dir_all(&target);
        std::fs::rename(&dir, &target).map_err(io(&dir))?;
        sync_dir(&self.fragments_dir())?;
        crate::failpoint::failpoint("gc-after-fragment-trash");
        let bytes = crate::fsutil::dir_size(&target);
        std::fs::remove_dir_all(&target).map_err(io(&target))?;
        Ok(bytes)
    }
}

/// One fragment of an opened snapshot: where its files are and which rows are masked.
#[derive(Debug, Clone)]
pub struct Fragment {
    /// `None` for the single implicit fragment of a format-1 snapshot.
    id: Option<FragmentId>,
    dir: PathBuf,
    files: BTreeMap<String, FileRecord>,
    deletions: Option<Arc<DeletionVector>>,
    deleted_tokens: BTreeMap<String, u64>,
}

impl Fragment {
    pub(crate) fn new(
        id: Option<FragmentId>,
        dir: PathBuf,
        files: BTreeMap<String, FileRecord>,
        deletions: Option<DeletionVector>,
        deleted_tokens: BTreeMap<String, u64>,
    ) -> Self {
        Self {
            id,
            dir,
            files,
            deletions: deletions.map(Arc::new),
            deleted_tokens,
        }
    }

    pub fn id(&self) -> Option<&FragmentId> {
        self.id.as_ref()
    }

    /// The rows this snapshot masks, if any.
    pub fn deletions(&self) -> Option<&Arc<DeletionVector>> {
        self.deletions.as_ref()
    }

    pub fn is_deleted(&self, row: usize) -> bool {
        self.deletions.as_ref().is_some_and(|d| d.is_deleted(row))
    }

    /// Tokens of the masked rows per full-text field.
    pub fn deleted_tokens(&self) -> &BTreeMap<String, u64> {
        &self.deleted_tokens
    }

    /// Streams the chunk table a row group at a time (masked rows included: check
    /// [`Fragment::is_deleted`] with the running row number).
    pub fn chunk_batches(&self) -> Result<ChunkBatches, StoreError> {
        ChunkBatches::open(&self.dir.join(CHUNKS_FILE))
    }

    /// The chunk table opened for reading rows by number (its footer and page index only).
    pub fn rows(&self) -> Result<ChunkRows, StoreError> {
        ChunkRows::open(&self.dir.join(CHUNKS_FILE))
    }

    /// The vectors: `vectors.f32` memory-mapped, or for format-1 snapshots written before it
    /// existed, the chunk table's embedding column read into memory.
    pub fn vectors(&self, rows: &ChunkRows) -> Result<Vectors, StoreError> {
        let path = self.dir.join(VECTORS_FILE);
        if path.is_file() {
            let file = VectorFile::open(&path)?;
            if file.rows() != rows.len() {
                return Err(StoreError::Vectors {
                    path,
                    message: format!(
                        "{} vectors for a chunk table of {} rows",
                        file.rows(),
                        rows.len()
                    ),
                });
            }
            return Ok(Vectors::Mapped(file));
        }
        let (values, dim) = rows.read_vectors()?;
        Ok(Vectors::Loaded { dim, values })
    }

    /// The HNSW graph, memory-mapped, if the fragment has one; `vectors` are the fragment's
    /// (the graph must cover exactly their rows).
    pub fn ann(&self, vectors: &Vectors, ef_search: usize) -> Result<Option<AnnIndex>, StoreError> {
        let path = self.dir.join(ANN_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        AnnIndex::open(&path, vectors.dim(), vectors.rows(), ef_search).map(Some)
    }

    /// The full-text index, if the fragment has one.
    pub fn fulltext(&self) -> Result<Option<FulltextIndex>, StoreError> {
        let dir = self.dir.join(FULLTEXT_DIR);
        if dir.is_dir() {
            FulltextIndex::open(&dir).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads the whole chunk table into memory (masked rows included).
    pub fn read_chunks(&self) -> Result<ChunkTable, StoreError> {
        read_chunks(&self.dir.join(CHUNKS_FILE))
    }

    /// The embedding-cache keys of every row (only that column is read); `None` when the
    /// table predates the key column.
    pub fn embed_keys(&self) -> Result<Option<Vec<EmbedKey>>, StoreError> {
        read_embed_keys(&self.dir.join(CHUNKS_FILE))
    }

    /// The document id and token count of every row (only those columns are read).
    pub fn doc_tokens(&self) -> Result<Vec<(DocId, u32)>, StoreError> {
        self.rows()?.doc_tokens()
    }

    /// Whether the fragment has an HNSW graph.
    pub fn has_graph(&self) -> bool {
        self.files.contains_key(ANN_FILE)
    }

    /// Whether the fragment has a full-text index.
    pub fn has_fulltext(&self) -> bool {
        let prefix = format!("{FULLTEXT_DIR}/");
        self.files.keys().any(|k| k.starts_with(&prefix))
    }

    /// Whether the chunk table and vector file are intact (checked before rows are reused).
    pub fn intact(&self) -> bool {
        [CHUNKS_FILE, VECTORS_FILE]
            .iter()
            .all(|rel| match self.files.get(*rel) {
                Some(rec) => file_matches(&self.dir.join(rel), rec).unwrap_or(false),
                // Format-1 snapshots written before vectors.f32 existed.
                None => *rel == VECTORS_FILE && !self.dir.join(rel).exists() && self.id.is_none(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletion_vectors_round_trip_and_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let mut d = DeletionVector::new(130);
        for r in [0, 63, 64, 129, 500] {
            d.delete(r);
        }
        assert_eq!(d.count(), 4, "a row past the end is ignored");
        assert!(d.is_deleted(64) && !d.is_deleted(65) && !d.is_deleted(1000));
        let path = tmp.path().join("x.del");
        d.write(&path).unwrap();
        assert_eq!(DeletionVector::read(&path, 130).unwrap(), d);
        assert!(
            DeletionVector::read(&path, 129).is_err(),
            "another row count"
        );
        std::fs::write(&path, b"RGDEL001").unwrap();
        assert!(DeletionVector::read(&path, 130).is_err(), "truncated");
        let mut e = DeletionVector::new(130);
        e.delete(1);
        e.union(&d);
        assert_eq!(e.count(), 5);
    }

    #[test]
    fn fragment_ids_only_hold_their_form() {
        assert!(FragmentId::parse("0123456789abcdef0123456789abcdef").is_ok());
        for bad in ["../../etc", "0123456789ABCDEF0123456789ABCDEF", "abc", ""] {
            assert!(FragmentId::parse(bad).is_err(), "{bad}");
        }
        let json = serde_json::json!("../x");
        assert!(serde_json::from_value::<FragmentId>(json).is_err());
    }
}
