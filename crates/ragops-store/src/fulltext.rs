//! The tantivy full-text index over a snapshot's chunks (BM25).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ragops_core::{Chunk, ChunkId, ChunkMeta, ChunkRow};
use tantivy::collector::{FilterCollector, TopDocs};
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, WatchCallback, WatchHandle, WritePtr,
};
use tantivy::query::{Bm25StatisticsProvider, Query, QueryParser};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, INDEXED, STORED,
    STRING,
};
use tantivy::{
    doc, DocAddress, DocSet, Index, IndexWriter, ReloadPolicy, Score, TantivyDocument, Term,
    TERMINATED,
};

use crate::fragment::DeletionVector;
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
    /// Enrichment outputs and document fields as raw terms (exact-match queries such as
    /// `lang:de` through tantivy; ragops's own filters read the chunk table); absent from
    /// indexes written before them.
    facets: Option<Facets>,
}

#[derive(Debug, Clone, Copy)]
struct Facets {
    lang: Field,
    tenant: Field,
    format: Field,
    path: Field,
    keywords: Field,
    acl: Field,
    created: Field,
    modified: Field,
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
        facets: None,
    };
    // A fast field too, so that the rows a snapshot masks are filtered while collecting
    // (indexes written before deletion vectors existed store it only; they never have any).
    let row = b.add_u64_field("row", STORED | FAST);
    let facets = Facets {
        lang: b.add_text_field("lang", STRING),
        tenant: b.add_text_field("tenant", STRING),
        format: b.add_text_field("format", STRING),
        path: b.add_text_field("path", STRING),
        keywords: b.add_text_field("keywords", STRING),
        acl: b.add_text_field("acl", STRING),
        created: b.add_i64_field("created", INDEXED | FAST),
        modified: b.add_i64_field("modified", INDEXED | FAST),
    };
    (
        b.build(),
        Fields {
            row: Some(row),
            facets: Some(facets),
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

    /// Adds chunks without enrichment fields (see [`FulltextWriter::add_rows`]).
    pub fn add<'a>(
        &mut self,
        chunks: impl IntoIterator<Item = &'a Chunk>,
    ) -> Result<(), StoreError> {
        let none = ChunkMeta::default();
        self.add_with(chunks.into_iter().map(|c| (c, &none)))
    }

    /// Adds table rows, with their enrichment outputs as raw-term fields; they must come in
    /// the order of the snapshot's chunk table, whose row numbers the index records (the build
    /// writes both from the same batches).
    pub fn add_rows<'a>(
        &mut self,
        rows: impl IntoIterator<Item = &'a ChunkRow>,
    ) -> Result<(), StoreError> {
        self.add_with(rows.into_iter().map(|r| (&r.chunk, &r.meta)))
    }

    fn add_with<'a>(
        &mut self,
        rows: impl IntoIterator<Item = (&'a Chunk, &'a ChunkMeta)>,
    ) -> Result<(), StoreError> {
        let f = &self.fields;
        for (c, m) in rows {
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
            if let Some(x) = &f.facets {
                if let Some(l) = &m.lang {
                    d.add_text(x.lang, l);
                }
                if let Some(t) = &m.tenant {
                    d.add_text(x.tenant, t);
                }
                d.add_text(x.format, c.format.as_str());
                d.add_text(x.path, &c.source_path);
                for k in &m.keywords {
                    d.add_text(x.keywords, k);
                }
                for a in &m.acl {
                    d.add_text(x.acl, a);
                }
                if let Some(t) = m.created {
                    d.add_i64(x.created, t);
                }
                if let Some(t) = c.mtime {
                    d.add_i64(x.modified, t);
                }
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
            facets: (|| {
                Some(Facets {
                    lang: schema.get_field("lang").ok()?,
                    tenant: schema.get_field("tenant").ok()?,
                    format: schema.get_field("format").ok()?,
                    path: schema.get_field("path").ok()?,
                    keywords: schema.get_field("keywords").ok()?,
                    acl: schema.get_field("acl").ok()?,
                    created: schema.get_field("created").ok()?,
                    modified: schema.get_field("modified").ok()?,
                })
            })(),
        };
        Ok(Self {
            path: dir.to_path_buf(),
            index,
            reader,
            fields,
        })
    }

    /// BM25 search over text, headings and title of this index alone; returns hits, best
    /// first. Query syntax errors are forgiven (lenient parsing), so any user text is a valid
    /// query.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<FulltextHit>, StoreError> {
        let part = FulltextPart {
            index: self,
            deletions: None,
            allowed: None,
            deleted_tokens: &BTreeMap::new(),
        };
        Ok(search_parts(&[part], query, limit)?
            .into_iter()
            .map(|(_, h)| h)
            .collect())
    }

    fn query(&self, query: &str) -> Box<dyn Query> {
        let f = &self.fields;
        let mut parser = QueryParser::for_index(&self.index, vec![f.text, f.headings, f.title]);
        parser.set_field_boost(f.headings, 0.5);
        parser.set_field_boost(f.title, 0.5);
        parser.parse_query_lenient(query).0
    }

    /// Tokens each searchable field of these chunks holds, as the index counts them (its own
    /// analyzers): what masking them takes out of the BM25 statistics.
    pub fn count_tokens<'a>(
        &self,
        chunks: impl IntoIterator<Item = &'a Chunk>,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        let f = &self.fields;
        let schema = self.index.schema();
        let mut analyzers = Vec::new();
        for field in [f.title, f.headings, f.text] {
            let a = self
                .index
                .tokenizer_for_field(field)
                .map_err(|e| ft_err(&self.path, e))?;
            analyzers.push((schema.get_field_name(field).to_string(), a, 0u64));
        }
        for c in chunks {
            let headings = c.heading_path.join(" \n ");
            for ((_, a, n), text) in
                analyzers
                    .iter_mut()
                    .zip([c.title.as_str(), headings.as_str(), c.text.as_str()])
            {
                let mut stream = a.token_stream(text);
                while stream.advance() {
                    *n += 1;
                }
            }
        }
        Ok(analyzers
            .into_iter()
            .map(|(name, _, n)| (name, n))
            .collect())
    }
}

/// One fragment's full-text index with the rows its snapshot masks.
pub struct FulltextPart<'a> {
    pub index: &'a FulltextIndex,
    pub deletions: Option<&'a Arc<DeletionVector>>,
    /// The rows a query's filter admits (all when `None`). Applied while collecting, before
    /// the top-k; BM25 statistics stay those of all live rows, as a filter does not change
    /// what a term is worth. Indexes written before rows were recorded cannot apply it: the
    /// caller filters their hits.
    pub allowed: Option<&'a Arc<crate::RowSet>>,
    /// Tokens of the masked rows per field (see [`FulltextIndex::count_tokens`]).
    pub deleted_tokens: &'a BTreeMap<String, u64>,
}

/// BM25 statistics of a snapshot's rows over all its fragments, masked rows left out: the
/// numbers one index holding exactly the live rows would have, so that scores are equal to
/// that index's.
struct GlobalStats<'a> {
    parts: &'a [FulltextPart<'a>],
    searchers: Vec<tantivy::Searcher>,
}

impl GlobalStats<'_> {
    /// Masked rows of part `i` whose field holds `term` (walks the term's postings).
    fn deleted_with(&self, i: usize, term: &Term) -> tantivy::Result<u64> {
        let Some(del) = self.parts[i].deletions else {
            return Ok(0);
        };
        let mut n = 0;
        for seg in self.searchers[i].segment_readers() {
            let rows = seg.fast_fields().u64("row")?;
            let inverted = seg.inverted_index(term.field())?;
            let Some(mut postings) = inverted.read_postings(term, IndexRecordOption::Basic)? else {
                continue;
            };
            let mut doc = postings.doc();
            while doc != TERMINATED {
                if rows.first(doc).is_some_and(|r| del.is_deleted(r as usize)) {
                    n += 1;
                }
                doc = postings.advance();
            }
        }
        Ok(n)
    }
}

impl Bm25StatisticsProvider for GlobalStats<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        let mut total = 0u64;
        for (p, s) in self.parts.iter().zip(&self.searchers) {
            let name = s.schema().get_field_name(field);
            let masked = p.deleted_tokens.get(name).copied().unwrap_or(0);
            total += s.total_num_tokens(field)?.saturating_sub(masked);
        }
        Ok(total)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self
            .parts
            .iter()
            .zip(&self.searchers)
            .map(|(p, s)| s.num_docs() - p.deletions.map_or(0, |d| d.count()))
            .sum())
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let mut total = 0u64;
        for (i, s) in self.searchers.iter().enumerate() {
            total += s
                .doc_freq(term)?
                .saturating_sub(self.deleted_with(i, term)?);
        }
        Ok(total)
    }
}

/// BM25 search over several fragments' indexes as if they were one: statistics are global
/// (masked rows left out), masked rows are never returned, and the lists are merged by score
/// (ties: earlier part, then tantivy's order). Returns `(part, hit)`, best first.
pub fn search_parts(
    parts: &[FulltextPart<'_>],
    query: &str,
    limit: usize,
) -> Result<Vec<(usize, FulltextHit)>, StoreError> {
    let Some(first) = parts.first() else {
        return Ok(Vec::new());
    };
    // Every fragment's index has the same schema, so one parsed query serves all.
    let q = first.index.query(query);
    let stats = GlobalStats {
        parts,
        searchers: parts.iter().map(|p| p.index.reader.searcher()).collect(),
    };
    let limit = limit.clamp(1, MAX_LIMIT);
    let mut all: Vec<(Score, usize, DocAddress)> = Vec::new();
    for (i, (p, searcher)) in parts.iter().zip(&stats.searchers).enumerate() {
        let top = TopDocs::with_limit(limit).order_by_score();
        let err = |e| ft_err(&p.index.path, e);
        let allowed = p.allowed.filter(|_| p.index.fields.row.is_some());
        let hits = if p.deletions.is_some() || allowed.is_some() {
            let del = p.deletions.map(Arc::clone);
            let allowed = allowed.map(Arc::clone);
            let keep = move |row: u64| {
                let row = row as usize;
                del.as_ref().is_none_or(|d| !d.is_deleted(row))
                    && allowed.as_ref().is_none_or(|a| a.contains(row))
            };
            let filtered = FilterCollector::new("row".to_string(), keep, top);
            searcher
                .search_with_statistics_provider(q.as_ref(), &filtered, &stats)
                .map_err(err)?
        } else {
            searcher
                .search_with_statistics_provider(q.as_ref(), &top, &stats)
                .map_err(err)?
        };
        all.extend(hits.into_iter().map(|(s, a)| (s, i, a)));
    }
    // Stable: within a part, tantivy's order is kept for equal scores.
    all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    all.truncate(limit);
    let mut out = Vec::with_capacity(all.len());
    for (score, i, addr) in all {
        let idx = parts[i].index;
        let f = &idx.fields;
        let d: TantivyDocument = stats.searchers[i]
            .doc(addr)
            .map_err(|e| ft_err(&idx.path, e))?;
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
            out.push((
                i,
                FulltextHit {
                    chunk_id: id,
                    row,
                    score,
                },
            ));
        }
    }
    Ok(out)
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
    fn enrichment_outputs_are_raw_term_fields() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(FULLTEXT_DIR);
        let mut w = FulltextWriter::create(&dir).unwrap();
        let rows: Vec<ChunkRow> = (0..4).map(crate::chunks::tests::sample_row).collect();
        w.add_rows(&rows).unwrap();
        w.finish(4).unwrap();
        let idx = FulltextIndex::open(&dir).unwrap();
        let x = idx.fields.facets.expect("facets");
        let count = |field: Field, term: &str| {
            let q = tantivy::query::TermQuery::new(
                Term::from_field_text(field, term),
                IndexRecordOption::Basic,
            );
            idx.reader
                .searcher()
                .search(&q, &tantivy::collector::Count)
                .unwrap()
        };
        let want = |f: &dyn Fn(&ChunkMeta) -> bool| rows.iter().filter(|r| f(&r.meta)).count();
        assert_eq!(
            count(x.lang, "de"),
            want(&|m| m.lang.as_deref() == Some("de"))
        );
        assert_eq!(
            count(x.tenant, "t1"),
            want(&|m| m.tenant.as_deref() == Some("t1"))
        );
        assert_eq!(
            count(x.keywords, "replication lag"),
            want(&|m| m.keywords.iter().any(|k| k == "replication lag"))
        );
        assert_eq!(count(x.format, "markdown"), 4);
        assert!(count(x.lang, "de") > 0);
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

    /// A chunk with varied text, title and headings (so every field has statistics).
    fn varied(i: u32) -> Chunk {
        let words = [
            "index", "rebuild", "snapshot", "rollback", "vector", "drill", "tenant",
        ];
        let mut c = sample_chunk(i);
        c.text = (0..(3 + i % 5))
            .map(|k| words[((i * 7 + k * 3) % 7) as usize])
            .collect::<Vec<_>>()
            .join(" ");
        c.title = format!("{} guide", words[(i % 7) as usize]);
        c.heading_path = vec![words[((i + 2) % 7) as usize].to_string()];
        c
    }

    fn index_of(dir: &Path, chunks: &[Chunk]) -> FulltextIndex {
        let mut w = FulltextWriter::create(dir).unwrap();
        w.add(chunks).unwrap();
        w.finish(chunks.len() as u64).unwrap();
        FulltextIndex::open(dir).unwrap()
    }

    #[test]
    fn fragments_with_masked_rows_score_as_one_index_of_the_live_rows() {
        let tmp = tempfile::tempdir().unwrap();
        let all: Vec<Chunk> = (0..40).map(varied).collect();
        // Fragment A holds rows 0..25 and masks every third; fragment B holds 25..40.
        let a = index_of(&tmp.path().join("a"), &all[..25]);
        let b = index_of(&tmp.path().join("b"), &all[25..]);
        let mut del = DeletionVector::new(25);
        for r in (0..25).step_by(3) {
            del.delete(r);
        }
        let masked: Vec<&Chunk> = (0..25)
            .filter(|r| del.is_deleted(*r))
            .map(|r| &all[r])
            .collect();
        let deleted_tokens = a.count_tokens(masked).unwrap();
        assert!(deleted_tokens["text"] > 0 && deleted_tokens["title"] > 0);
        let live: Vec<Chunk> = (0..40)
            .filter(|r| *r >= 25 || !del.is_deleted(*r))
            .map(|r| all[r].clone())
            .collect();
        let single = index_of(&tmp.path().join("single"), &live);
        let del = Arc::new(del);
        let none = BTreeMap::new();
        let parts = [
            FulltextPart {
                index: &a,
                deletions: Some(&del),
                allowed: None,
                deleted_tokens: &deleted_tokens,
            },
            FulltextPart {
                index: &b,
                deletions: None,
                allowed: None,
                deleted_tokens: &none,
            },
        ];
        for q in [
            "index",
            "rollback drill",
            "tenant guide",
            "vector snapshot rebuild",
        ] {
            let mut got: Vec<(String, f32)> = search_parts(&parts, q, 50)
                .unwrap()
                .into_iter()
                .map(|(_, h)| (h.chunk_id.to_string(), h.score))
                .collect();
            let mut want: Vec<(String, f32)> = single
                .search(q, 50)
                .unwrap()
                .into_iter()
                .map(|h| (h.chunk_id.to_string(), h.score))
                .collect();
            assert!(!want.is_empty(), "{q}");
            for v in [&mut got, &mut want] {
                v.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            }
            assert_eq!(got, want, "{q}: the same hits with bit-identical scores");
            assert!(got
                .iter()
                .all(|(id, _)| live.iter().any(|c| c.id.as_str() == id)));
        }
        // Without the corrections (tantivy's own per-index statistics) the scores differ.
        let plain = a.search("rollback drill", 50).unwrap();
        let fixed = search_parts(&parts[..1], "rollback drill", 50).unwrap();
        assert_ne!(
            plain.iter().map(|h| h.score).collect::<Vec<_>>(),
            fixed.iter().map(|(_, h)| h.score).collect::<Vec<_>>()
        );
    }
}
