//! The tantivy full-text index over a snapshot's chunks (BM25).

use std::path::{Path, PathBuf};

use ragops_core::{Chunk, ChunkId};
use tantivy::collector::TopDocs;
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, WatchCallback, WatchHandle, WritePtr,
};
use tantivy::query::QueryParser;
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING,
};
use tantivy::{doc, Index, IndexWriter, ReloadPolicy, TantivyDocument};

use crate::StoreError;

pub(crate) const FULLTEXT_DIR: &str = "fulltext";

struct Fields {
    chunk_id: Field,
    doc_id: Field,
    title: Field,
    headings: Field,
    text: Field,
    /// The chunk's row in the chunk table; absent from indexes written before it existed.
    row: Option<Field>,
}

/// One BM25 hit: the chunk, its row in the chunk table when the index records it, the score.
#[derive(Debug, Clone, PartialEq)]
pub struct FulltextHit {
    pub chunk_id: ChunkId,
    pub row: Option<usize>,
    pub score: f32,
}

/// Tokenizer of the searchable fields: tantivy's `en_stem` (simple tokenizer, length filter,
/// lower case, English Snowball stemmer), so "rebuilds" matches "rebuild". Indexes written
/// before it used `default` (no stemming) and keep it: queries use each index's own schema.
const TOKENIZER: &str = "en_stem";

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let stemmed = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        chunk_id: b.add_text_field("chunk_id", STRING | STORED),
        doc_id: b.add_text_field("doc_id", STRING | STORED),
        title: b.add_text_field("title", stemmed.clone()),
        headings: b.add_text_field("headings", stemmed.clone()),
        text: b.add_text_field("text", stemmed),
        row: None,
    };
    let row = b.add_u64_field("row", STORED);
    (
        b.build(),
        Fields {
            row: Some(row),
            ..fields
        },
    )
}

fn ft_err(path: &Path, e: impl Into<crate::Source>) -> StoreError {
    StoreError::Fulltext {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// Memory arena of the full-text index writer.
const FULLTEXT_ARENA_BYTES: usize = 20 * 1024 * 1024;

pub struct FulltextWriter {
    path: PathBuf,
    fields: Fields,
    writer: IndexWriter,
    /// Row of the next chunk: chunks arrive in the chunk table's row order.
    next_row: u64,
}

impl FulltextWriter {
    /// Creates an empty index in `dir` (which must not exist yet).
    pub(crate) fn create(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(crate::io(dir))?;
        let (schema, fields) = schema();
        let index = Index::create_in_dir(dir, schema).map_err(|e| ft_err(dir, e))?;
        // One indexing thread with a small arena: tantivy flushes a segment whenever the arena
        // is full, so the memory held stays flat however large the corpus (tantivy's minimum is
        // 15 MB per thread).
        let writer = index
            .writer_with_num_threads(1, FULLTEXT_ARENA_BYTES)
            .map_err(|e| ft_err(dir, e))?;
        Ok(Self {
            path: dir.to_path_buf(),
            fields,
            writer,
            next_row: 0,
        })
    }

    /// Adds chunks; they must come in the order of the snapshot's chunk table, whose row
    /// numbers the index records (the build writes both from the same batches).
    pub fn add<'a>(
        &mut self,
        chunks: impl IntoIterator<Item = &'a Chunk>,
    ) -> Result<(), StoreError> {
        let f = &self.fields;
        for c in chunks {
            let mut d = doc!(
                f.chunk_id => c.id.as_str(),
                f.doc_id => c.doc_id.as_str(),
                f.title => c.title.as_str(),
                f.headings => c.heading_path.join(" \n "),
                f.text => c.text.as_str(),
            );
            if let Some(row) = f.row {
                d.add_u64(row, self.next_row);
            }
            self.writer
                .add_document(d)
                .map_err(|e| ft_err(&self.path, e))?;
            self.next_row += 1;
        }
        Ok(())
    }

    /// Chunks added so far.
    pub fn rows(&self) -> u64 {
        self.next_row
    }

    /// Commits and waits for merges so the directory is complete when this returns. The lock
    /// files tantivy's writer leaves are removed: they are not data. `table_rows` is the row
    /// count of the chunk table the index was written beside: the row numbers it records are
    /// only right if the counts agree.
    pub fn finish(mut self, table_rows: u64) -> Result<(), StoreError> {
        if table_rows != self.next_row {
            return Err(ft_err(
                &self.path,
                format!(
                    "{} chunks indexed for a chunk table of {table_rows} rows",
                    self.next_row
                ),
            ));
        }
        self.writer.commit().map_err(|e| ft_err(&self.path, e))?;
        self.writer
            .wait_merging_threads()
            .map_err(|e| ft_err(&self.path, e))?;
        for lock in [".tantivy-meta.lock", ".tantivy-writer.lock"] {
            let p = self.path.join(lock);
            if p.is_file() {
                std::fs::remove_file(&p).map_err(crate::io(&p))?;
            }
        }
        Ok(())
    }
}

/// A tantivy directory for reading a published snapshot: every read goes to the memory-mapped
/// files, and nothing is ever written. Its locks are no-ops (a published index never changes,
/// so there is nothing to exclude), which is what lets a read-only store be searched.
#[derive(Debug, Clone)]
struct ReadOnlyDirectory(MmapDirectory);

fn read_only(path: &Path) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!("{}: published snapshots are read-only", path.display()),
    )
}

impl Directory for ReadOnlyDirectory {
    fn get_file_handle(
        &self,
        path: &Path,
    ) -> Result<std::sync::Arc<dyn FileHandle>, OpenReadError> {
        self.0.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        Err(DeleteError::IoError {
            io_error: std::sync::Arc::new(read_only(path)),
            filepath: path.to_path_buf(),
        })
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.0.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        Err(OpenWriteError::wrap_io_error(
            read_only(path),
            path.to_path_buf(),
        ))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.0.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, _data: &[u8]) -> std::io::Result<()> {
        Err(read_only(path))
    }

    fn sync_directory(&self) -> std::io::Result<()> {
        Ok(())
    }

    fn acquire_lock(&self, _lock: &Lock) -> Result<DirectoryLock, LockError> {
        Ok(DirectoryLock::from(Box::new(())))
    }

    fn watch(&self, _cb: WatchCallback) -> tantivy::Result<WatchHandle> {
        Ok(WatchHandle::empty())
    }
}

/// Most hits one full-text query collects (tantivy reserves memory for the limit up front).
const MAX_LIMIT: usize = 100_000;

/// A read-only full-text index.
pub struct FulltextIndex {
    path: PathBuf,
    index: Index,
    reader: tantivy::IndexReader,
    fields: Fields,
}

impl FulltextIndex {
    /// Opens an index for reading without writing anything into its directory.
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        let mmap = MmapDirectory::open(dir).map_err(|e| ft_err(dir, e))?;
        let index = Index::open(ReadOnlyDirectory(mmap)).map_err(|e| ft_err(dir, e))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| ft_err(dir, e))?;
        // Fields by name from the index's own schema (older indexes have no `row`).
        let schema = index.schema();
        let field = |name: &str| schema.get_field(name).map_err(|e| ft_err(dir, e));
        let fields = Fields {
            chunk_id: field("chunk_id")?,
            doc_id: field("doc_id")?,
            title: field("title")?,
            headings: field("headings")?,
            text: field("text")?,
            row: schema.get_field("row").ok(),
        };
        Ok(Self {
            path: dir.to_path_buf(),
            index,
            reader,
            fields,
        })
    }

    /// BM25 search over text, headings and title; returns hits, best first. Query syntax
    /// errors are forgiven (lenient parsing), so any user text is a valid query.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<FulltextHit>, StoreError> {
        let f = &self.fields;
        let mut parser = QueryParser::for_index(&self.index, vec![f.text, f.headings, f.title]);
        parser.set_field_boost(f.headings, 0.5);
        parser.set_field_boost(f.title, 0.5);
        let (q, _errors) = parser.parse_query_lenient(query);
        let searcher = self.reader.searcher();
        let top = searcher
            .search(
                &q,
                &TopDocs::with_limit(limit.clamp(1, MAX_LIMIT)).order_by_score(),
            )
            .map_err(|e| ft_err(&self.path, e))?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let d: TantivyDocument = searcher.doc(addr).map_err(|e| ft_err(&self.path, e))?;
            if let Some(id) = d
                .get_first(f.chunk_id)
                .and_then(|v| v.as_str())
                .and_then(|id| ChunkId::parse(id).ok())
            {
                let row = f
                    .row
                    .and_then(|r| d.get_first(r))
                    .and_then(|v| v.as_u64())
                    .map(|r| r as usize);
                out.push(FulltextHit {
                    chunk_id: id,
                    row,
                    score,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunks::tests::sample_chunk;

    #[test]
    fn english_stemming_matches_inflections() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(FULLTEXT_DIR);
        let mut w = FulltextWriter::create(&dir).unwrap();
        let mut a = sample_chunk(0);
        a.text = "Nightly rebuilds of the index".into();
        let mut b = sample_chunk(1);
        b.text = "Rolling back a snapshot".into();
        let (ida, idb) = (a.id.clone(), b.id.clone());
        w.add(&[a, b]).unwrap();
        w.finish(2).unwrap();
        let idx = FulltextIndex::open(&dir).unwrap();
        let ids = |q: &str| -> Vec<ChunkId> {
            idx.search(q, 5)
                .unwrap()
                .into_iter()
                .map(|h| {
                    assert!(h.row.is_some(), "new indexes record rows");
                    h.chunk_id
                })
                .collect()
        };
        assert_eq!(ids("rebuild"), vec![ida]);
        assert_eq!(ids("rolled back snapshots"), vec![idb]);
        assert!(ids("unrelated").is_empty());
    }

    #[test]
    fn reading_writes_nothing_into_the_index() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(FULLTEXT_DIR);
        let mut w = FulltextWriter::create(&dir).unwrap();
        w.add(&[sample_chunk(0)]).unwrap();
        w.finish(1).unwrap();
        let listing = || {
            let mut v: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect();
            v.sort();
            v
        };
        let before = listing();
        assert!(
            !before
                .iter()
                .any(|n| n.to_string_lossy().ends_with(".lock")),
            "{before:?}"
        );
        let idx = FulltextIndex::open(&dir).unwrap();
        idx.search("text", 5).unwrap();
        assert_eq!(listing(), before);
    }
}
