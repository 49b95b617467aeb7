//! `chunks.parquet`: one row per chunk with its vector.
//!
//! | column       | type                          | notes                                   |
//! |--------------|-------------------------------|-----------------------------------------|
//! | chunk_id     | Utf8                          | deterministic id                         |
//! | doc_id       | Utf8                          | document id                              |
//! | ordinal      | UInt32                        | position in the document                 |
//! | text         | Utf8                          | stored chunk text                        |
//! | start_byte   | UInt64                        | offsets into the document text           |
//! | end_byte     | UInt64                        |                                          |
//! | start_char   | UInt64                        | same, in Unicode code points             |
//! | end_char     | UInt64                        |                                          |
//! | heading_path | List<Utf8>                    | outermost heading first                  |
//! | page         | UInt32, nullable              | first page, 1-based; paginated sources   |
//! | title        | Utf8                          | document title                           |
//! | source_path  | Utf8                          |                                          |
//! | format       | Utf8                          | markdown, text, html, pdf, jsonl         |
//! | mtime        | Int64, nullable               | source mtime, Unix seconds               |
//! | token_count  | UInt32                        | model tokens embedded                    |
//! | embedding    | FixedSizeList<Float32, dim>   | unit-length when the model normalises    |
//! | embed_key    | FixedSizeBinary(32), nullable | embedding-cache key (SHA-256 of the      |
//! |              |                               | embedded text); absent in older tables   |
//! | page_end     | UInt32, nullable              | last page; absent in older tables, whose |
//! |              |                               | chunks then end on their first page      |
//! | lang         | Utf8, nullable                | ISO 639-1 (`language` step); absent in   |
//! |              |                               | older tables                             |
//! | lang_confidence | Float32, nullable          | the detector's confidence, 0 to 1        |
//! | tenant       | Utf8, nullable                | `metadata` step; absent in older tables  |
//! | acl          | List<Utf8>                    | `metadata` step                          |
//! | created      | Int64, nullable               | declared date, Unix seconds              |
//! | metadata     | Utf8, nullable                | declared fields, a JSON object of strings|
//! | keywords     | List<Utf8>                    | key phrases, best first (`keywords` step)|
//! | dedup_signature | Binary, nullable           | exact hash (+ MinHash), `dedup` step     |
//! | dedup_doc_signature | Binary, nullable       | the document's, on its first kept chunk  |
//! | duplicate_of | Utf8, nullable                | original chunk or document (`mark`)      |

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, BinaryArray, FixedSizeBinaryArray, FixedSizeListArray, Float32Array,
    Int64Array, ListArray, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, RowSelection};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::basic::Compression;
use parquet::file::metadata::PageIndexPolicy;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use ragops_core::{Chunk, ChunkId, ChunkMeta, ChunkRow, DocId, EmbedKey, Format};

use crate::vectors::VectorFileWriter;
use crate::StoreError;

/// Rows per Parquet data page: a row fetched by number costs one page per column.
const ROWS_PER_PAGE: usize = 64;

pub(crate) const CHUNKS_FILE: &str = "chunks.parquet";

fn schema(dim: usize) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("chunk_id", DataType::Utf8, false),
        Field::new("doc_id", DataType::Utf8, false),
        Field::new("ordinal", DataType::UInt32, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("start_byte", DataType::UInt64, false),
        Field::new("end_byte", DataType::UInt64, false),
        Field::new("start_char", DataType::UInt64, false),
        Field::new("end_char", DataType::UInt64, false),
        Field::new(
            "heading_path",
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            false,
        ),
        // The chunk's first page (named before chunks had a range, kept for older readers).
        Field::new("page", DataType::UInt32, true),
        Field::new("title", DataType::Utf8, false),
        Field::new("source_path", DataType::Utf8, false),
        Field::new("format", DataType::Utf8, false),
        Field::new("mtime", DataType::Int64, true),
        Field::new("token_count", DataType::UInt32, false),
        Field::new(
            "embedding",
            DataType::FixedSizeList(
                Arc::new(Field::new_list_field(DataType::Float32, false)),
                dim as i32,
            ),
            false,
        ),
        Field::new("embed_key", DataType::FixedSizeBinary(32), true),
        Field::new("page_end", DataType::UInt32, true),
        Field::new("lang", DataType::Utf8, true),
        Field::new("lang_confidence", DataType::Float32, true),
        Field::new("tenant", DataType::Utf8, true),
        Field::new(
            "acl",
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            false,
        ),
        Field::new("created", DataType::Int64, true),
        Field::new("metadata", DataType::Utf8, true),
        Field::new(
            "keywords",
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            false,
        ),
        Field::new("dedup_signature", DataType::Binary, true),
        Field::new("dedup_doc_signature", DataType::Binary, true),
        Field::new("duplicate_of", DataType::Utf8, true),
    ]))
}

/// The enrichment columns of rows, in schema order (after `page_end`).
fn meta_columns(rows: &[ChunkRow]) -> Vec<ArrayRef> {
    let list = |get: &dyn Fn(&ChunkRow) -> &Vec<String>| {
        let mut b = ListBuilder::new(StringBuilder::new());
        for r in rows {
            for a in get(r) {
                b.values().append_value(a);
            }
            b.append(true);
        }
        b.finish()
    };
    vec![
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.meta.lang.as_deref()),
        )),
        Arc::new(Float32Array::from_iter(
            rows.iter().map(|r| r.meta.lang_confidence),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.meta.tenant.as_deref()),
        )),
        Arc::new(list(&|r| &r.meta.acl)),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.meta.created))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| {
            (!r.meta.metadata.is_empty())
                .then(|| serde_json::to_string(&r.meta.metadata).unwrap_or_default())
        }))),
        Arc::new(list(&|r| &r.meta.keywords)),
        Arc::new(BinaryArray::from_iter(
            rows.iter().map(|r| r.meta.signature.as_deref()),
        )),
        Arc::new(BinaryArray::from_iter(
            rows.iter().map(|r| r.meta.doc_signature.as_deref()),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.meta.duplicate_of.as_deref()),
        )),
    ]
}

fn pq_err(path: &Path, e: impl Into<crate::Source>) -> StoreError {
    StoreError::Parquet {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// Streams chunks and their vectors into `chunks.parquet`, one row group per batch.
pub struct ChunkTableWriter {
    path: PathBuf,
    dim: usize,
    schema: SchemaRef,
    writer: ArrowWriter<File>,
    rows: u64,
    /// A snapshot's table also writes its vectors to `vectors.f32`, row for row.
    vectors: Option<VectorFileWriter>,
}

impl ChunkTableWriter {
    /// A table at any path (for `ragops embed --output x.parquet`); a snapshot's table comes
    /// from `SnapshotWriter::chunk_table`.
    pub fn create(path: &Path, dim: usize) -> Result<Self, StoreError> {
        let file = File::create(path).map_err(crate::io(path))?;
        let schema = schema(dim);
        // Small pages and a page index (column and offset indexes), so a query reads the
        // pages of its top-k rows, not whole row groups.
        // Dictionaries only for the columns whose values repeat within a row group (a chunk's
        // document fields): a fetched row costs its pages plus each column's dictionary page,
        // and a dictionary of unique texts or ids is as large as the column.
        let mut props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_dictionary_enabled(false);
        for column in ["doc_id", "title", "source_path", "format"] {
            props = props.set_column_dictionary_enabled(ColumnPath::from(column), true);
        }
        let props = props
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_write_batch_size(ROWS_PER_PAGE)
            .set_data_page_row_count_limit(ROWS_PER_PAGE)
            .set_created_by(format!("ragops {}", ragops_core::TOOL_VERSION))
            .build();
        let writer =
            ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| pq_err(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            dim,
            schema,
            writer,
            rows: 0,
            vectors: None,
        })
    }

    /// A snapshot's table: `chunks.parquet` plus `vectors.f32` beside it.
    pub(crate) fn create_with_vectors(
        path: &Path,
        vectors: &Path,
        dim: usize,
    ) -> Result<Self, StoreError> {
        let mut w = Self::create(path, dim)?;
        w.vectors = Some(VectorFileWriter::create(vectors, dim)?);
        Ok(w)
    }

    /// Dimension of the vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Appends rows; `vectors` holds `rows.len() * dim` values, row-major.
    pub fn write(&mut self, rows: &[ChunkRow], vectors: &[f32]) -> Result<(), StoreError> {
        let chunks: Vec<&Chunk> = rows.iter().map(|r| &r.chunk).collect();
        if vectors.len() != chunks.len() * self.dim {
            return Err(pq_err(
                &self.path,
                format!(
                    "{} vector values for {} chunks of dimension {}",
                    vectors.len(),
                    chunks.len(),
                    self.dim
                ),
            ));
        }
        if chunks.is_empty() {
            return Ok(());
        }
        let mut headings = ListBuilder::new(StringBuilder::new());
        for c in &chunks {
            for h in &c.heading_path {
                headings.values().append_value(h);
            }
            headings.append(true);
        }
        let item = Arc::new(Field::new_list_field(DataType::Float32, false));
        let embedding = FixedSizeListArray::try_new(
            item,
            self.dim as i32,
            Arc::new(Float32Array::from(vectors.to_vec())),
            None,
        )
        .map_err(|e| pq_err(&self.path, e))?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                chunks.iter().map(|c| c.id.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                chunks.iter().map(|c| c.doc_id.as_str()),
            )),
            Arc::new(UInt32Array::from_iter_values(
                chunks.iter().map(|c| c.ordinal),
            )),
            Arc::new(StringArray::from_iter_values(
                chunks.iter().map(|c| &c.text),
            )),
            Arc::new(UInt64Array::from_iter_values(
                chunks.iter().map(|c| c.start_byte),
            )),
            Arc::new(UInt64Array::from_iter_values(
                chunks.iter().map(|c| c.end_byte),
            )),
            Arc::new(UInt64Array::from_iter_values(
                chunks.iter().map(|c| c.start_char),
            )),
            Arc::new(UInt64Array::from_iter_values(
                chunks.iter().map(|c| c.end_char),
            )),
            Arc::new(headings.finish()),
            Arc::new(UInt32Array::from_iter(chunks.iter().map(|c| c.page_start))),
            Arc::new(StringArray::from_iter_values(
                chunks.iter().map(|c| &c.title),
            )),
            Arc::new(StringArray::from_iter_values(
                chunks.iter().map(|c| &c.source_path),
            )),
            Arc::new(StringArray::from_iter_values(
                chunks.iter().map(|c| c.format.as_str()),
            )),
            Arc::new(Int64Array::from_iter(chunks.iter().map(|c| c.mtime))),
            Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|r| r.token_count),
            )),
            Arc::new(embedding),
            Arc::new(
                FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                    rows.iter()
                        .map(|r| r.embed_key.as_ref().map(|k| k.as_slice())),
                    32,
                )
                .map_err(|e| pq_err(&self.path, e))?,
            ),
            Arc::new(UInt32Array::from_iter(chunks.iter().map(|c| c.page_end))),
        ];
        let columns: Vec<ArrayRef> = columns.into_iter().chain(meta_columns(rows)).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| pq_err(&self.path, e))?;
        self.writer
            .write(&batch)
            .map_err(|e| pq_err(&self.path, e))?;
        self.writer.flush().map_err(|e| pq_err(&self.path, e))?;
        if let Some(v) = self.vectors.as_mut() {
            v.append(vectors)?;
        }
        self.rows += chunks.len() as u64;
        Ok(())
    }

    /// Finishes the file (footer) and fsyncs it. Returns the number of rows.
    pub fn finish(self) -> Result<u64, StoreError> {
        let file = self
            .writer
            .into_inner()
            .map_err(|e| pq_err(&self.path, e))?;
        file.sync_all().map_err(crate::io(&self.path))?;
        if let Some(v) = self.vectors {
            let rows = v.finish()?;
            if rows != self.rows {
                return Err(pq_err(
                    &self.path,
                    format!("{rows} vectors written for {} rows", self.rows),
                ));
            }
        }
        Ok(self.rows)
    }
}

/// A snapshot's chunk table in memory: rows plus a row-major vector matrix.
#[derive(Debug, Clone, Default)]
pub struct ChunkTable {
    pub rows: Vec<ChunkRow>,
    pub dim: usize,
    pub vectors: Vec<f32>,
}

impl ChunkTable {
    pub fn vector(&self, row: usize) -> &[f32] {
        &self.vectors[row * self.dim..(row + 1) * self.dim]
    }
}

fn column<'a, T: 'static>(
    batch: &'a RecordBatch,
    name: &str,
    path: &Path,
) -> Result<&'a T, StoreError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| {
            pq_err(
                path,
                format!("column `{name}` missing or of the wrong type"),
            )
        })
}

/// The enrichment columns of a batch: absent in tables written before their step existed.
struct MetaColumns<'a> {
    path: &'a Path,
    lang: Option<&'a StringArray>,
    lang_confidence: Option<&'a Float32Array>,
    tenant: Option<&'a StringArray>,
    acl: Option<&'a ListArray>,
    created: Option<&'a Int64Array>,
    metadata: Option<&'a StringArray>,
    keywords: Option<&'a ListArray>,
    signature: Option<&'a BinaryArray>,
    doc_signature: Option<&'a BinaryArray>,
    duplicate_of: Option<&'a StringArray>,
}

impl<'a> MetaColumns<'a> {
    fn of(batch: &'a RecordBatch, path: &'a Path) -> Self {
        Self {
            path,
            lang: column(batch, "lang", path).ok(),
            lang_confidence: column(batch, "lang_confidence", path).ok(),
            tenant: column(batch, "tenant", path).ok(),
            acl: column(batch, "acl", path).ok(),
            created: column(batch, "created", path).ok(),
            metadata: column(batch, "metadata", path).ok(),
            keywords: column(batch, "keywords", path).ok(),
            signature: column(batch, "dedup_signature", path).ok(),
            doc_signature: column(batch, "dedup_doc_signature", path).ok(),
            duplicate_of: column(batch, "duplicate_of", path).ok(),
        }
    }

    fn text(c: Option<&StringArray>, i: usize) -> Option<String> {
        c.filter(|c| c.is_valid(i)).map(|c| c.value(i).to_string())
    }

    fn bytes(c: Option<&BinaryArray>, i: usize) -> Option<Vec<u8>> {
        c.filter(|c| c.is_valid(i)).map(|c| c.value(i).to_vec())
    }

    fn strings(
        &self,
        list: Option<&ListArray>,
        i: usize,
        what: &str,
    ) -> Result<Vec<String>, StoreError> {
        let Some(a) = list.filter(|a| a.is_valid(i)) else {
            return Ok(Vec::new());
        };
        let items = a.value(i);
        let items = items
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| pq_err(self.path, format!("{what} items are not Utf8")))?;
        Ok((0..items.len())
            .map(|j| items.value(j).to_string())
            .collect())
    }

    fn row(&self, i: usize) -> Result<ChunkMeta, StoreError> {
        Ok(ChunkMeta {
            lang: Self::text(self.lang, i),
            lang_confidence: self
                .lang_confidence
                .filter(|l| l.is_valid(i))
                .map(|l| l.value(i)),
            tenant: Self::text(self.tenant, i),
            acl: self.strings(self.acl, i, "acl")?,
            keywords: self.strings(self.keywords, i, "keywords")?,
            signature: Self::bytes(self.signature, i),
            doc_signature: Self::bytes(self.doc_signature, i),
            duplicate_of: Self::text(self.duplicate_of, i),
            created: self.created.filter(|c| c.is_valid(i)).map(|c| c.value(i)),
            metadata: self
                .metadata
                .filter(|m| m.is_valid(i))
                .and_then(|m| serde_json::from_str(m.value(i)).ok())
                .unwrap_or_default(),
        })
    }
}

/// Rows of one row group, their row-major vectors and the vector dimension.
pub type RowBatch = (Vec<ChunkRow>, Vec<f32>, usize);

/// Reads a `chunks.parquet` one row group at a time.
pub struct ChunkBatches {
    path: PathBuf,
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
}

impl ChunkBatches {
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let file = File::open(path).map_err(crate::io(path))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| pq_err(path, e))?
            .build()
            .map_err(|e| pq_err(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader,
        })
    }
}

impl Iterator for ChunkBatches {
    type Item = Result<RowBatch, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = self.reader.next()?;
        Some(
            batch
                .map_err(|e| pq_err(&self.path, e))
                .and_then(|b| decode_batch(&b, &self.path)),
        )
    }
}

fn decode_batch(batch: &RecordBatch, path: &Path) -> Result<RowBatch, StoreError> {
    let (vectors, dim) = decode_vectors(batch, path)?;
    Ok((decode_rows(batch, path)?, vectors, dim))
}

/// The embedding column of a batch: row-major values and the dimension.
fn decode_vectors(batch: &RecordBatch, path: &Path) -> Result<(Vec<f32>, usize), StoreError> {
    let emb = column::<FixedSizeListArray>(batch, "embedding", path)?;
    let dim = emb.value_length() as usize;
    let values = emb
        .values()
        .as_any()
        .downcast_ref::<Float32Array>()
        .ok_or_else(|| pq_err(path, "embedding values are not Float32"))?;
    let start = emb.offset() * dim;
    let vectors = values
        .values()
        .get(start..start + batch.num_rows() * dim)
        .ok_or_else(|| pq_err(path, "embedding column shorter than its rows"))?
        .to_vec();
    Ok((vectors, dim))
}

/// The rows of a batch (every column but the embedding).
fn decode_rows(batch: &RecordBatch, path: &Path) -> Result<Vec<ChunkRow>, StoreError> {
    let ids = column::<StringArray>(batch, "chunk_id", path)?;
    let docs = column::<StringArray>(batch, "doc_id", path)?;
    let ordinal = column::<UInt32Array>(batch, "ordinal", path)?;
    let text = column::<StringArray>(batch, "text", path)?;
    let sb = column::<UInt64Array>(batch, "start_byte", path)?;
    let eb = column::<UInt64Array>(batch, "end_byte", path)?;
    let sc = column::<UInt64Array>(batch, "start_char", path)?;
    let ec = column::<UInt64Array>(batch, "end_char", path)?;
    let headings = column::<ListArray>(batch, "heading_path", path)?;
    let page = column::<UInt32Array>(batch, "page", path)?;
    let title = column::<StringArray>(batch, "title", path)?;
    let source = column::<StringArray>(batch, "source_path", path)?;
    let format = column::<StringArray>(batch, "format", path)?;
    let mtime = column::<Int64Array>(batch, "mtime", path)?;
    let tokens = column::<UInt32Array>(batch, "token_count", path)?;
    // Tables written before the embedding cache have no key column.
    let keys = column::<FixedSizeBinaryArray>(batch, "embed_key", path).ok();
    // Tables written before chunks had a page range: a chunk ends on its first page.
    let page_end = column::<UInt32Array>(batch, "page_end", path).ok();
    let meta = MetaColumns::of(batch, path);
    let mut rows = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let hp = headings.value(i);
        let hp = hp
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| pq_err(path, "heading_path items are not Utf8"))?;
        let id = ChunkId::parse(ids.value(i)).map_err(|e| pq_err(path, e))?;
        let chunk = Chunk {
            id,
            doc_id: DocId::from(docs.value(i)),
            ordinal: ordinal.value(i),
            text: text.value(i).to_string(),
            start_byte: sb.value(i),
            end_byte: eb.value(i),
            start_char: sc.value(i),
            end_char: ec.value(i),
            heading_path: (0..hp.len()).map(|j| hp.value(j).to_string()).collect(),
            page_start: page.is_valid(i).then(|| page.value(i)),
            page_end: match page_end {
                Some(end) => end.is_valid(i).then(|| end.value(i)),
                None => page.is_valid(i).then(|| page.value(i)),
            },
            title: title.value(i).to_string(),
            source_path: source.value(i).to_string(),
            format: Format::from_name(format.value(i)).unwrap_or(Format::Text),
            mtime: mtime.is_valid(i).then(|| mtime.value(i)),
        };
        rows.push(ChunkRow {
            chunk,
            embed_key: keys
                .filter(|k| k.is_valid(i))
                .and_then(|k| k.value(i).try_into().ok()),
            token_count: tokens.value(i),
            meta: meta.row(i)?,
        });
    }
    Ok(rows)
}

/// Reads a whole `chunks.parquet`.
pub(crate) fn read_chunks(path: &Path) -> Result<ChunkTable, StoreError> {
    let mut table = ChunkTable::default();
    for batch in ChunkBatches::open(path)? {
        let (rows, vectors, dim) = batch?;
        table.dim = dim;
        table.rows.extend(rows);
        table.vectors.extend_from_slice(&vectors);
    }
    Ok(table)
}

/// Reads rows of a chunk table by number, without the embedding column: the page index
/// (written by [`ChunkTableWriter`]) lets the reader decode only the pages that hold them.
pub struct ChunkRows {
    path: PathBuf,
    meta: ArrowReaderMetadata,
    rows: usize,
    /// The file, memory-mapped: a fetch reads its pages without a system call per page.
    data: bytes::Bytes,
    /// The first row of each row group (a fetch opens only the groups that hold its rows).
    group_starts: Vec<usize>,
}

impl ChunkRows {
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let file = File::open(path).map_err(crate::io(path))?;
        // The offset index locates each page of each column; tables written before it existed
        // are read a row group at a time.
        let options = ArrowReaderOptions::new().with_offset_index_policy(PageIndexPolicy::Optional);
        let meta = ArrowReaderMetadata::load(&file, options).map_err(|e| pq_err(path, e))?;
        let rows = meta.metadata().file_metadata().num_rows().max(0) as usize;
        let group_starts = meta
            .metadata()
            .row_groups()
            .iter()
            .scan(0usize, |start, g| {
                let first = *start;
                *start += g.num_rows().max(0) as usize;
                Some(first)
            })
            .collect();
        // SAFETY: a chunk table is immutable once written (snapshot invariant 3), and ragops
        // never truncates one; gc unlinks, which leaves the mapping valid.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(crate::io(path))?;
        Ok(Self {
            path: path.to_path_buf(),
            meta,
            rows,
            data: bytes::Bytes::from_owner(map),
            group_starts,
        })
    }

    /// Rows in the table.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The rows numbered `wanted`, in that order (numbers past the end are an error).
    pub fn fetch(&self, wanted: &[usize]) -> Result<Vec<ChunkRow>, StoreError> {
        let mut sorted: Vec<usize> = wanted.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        if let Some(&last) = sorted.last() {
            if last >= self.rows {
                return Err(pq_err(
                    &self.path,
                    format!("row {last} asked of a table of {} rows", self.rows),
                ));
            }
        }
        if sorted.is_empty() {
            return Ok(Vec::new());
        }
        // Only the row groups holding wanted rows are read; the selection counts rows within
        // them, in order.
        let group_of = |r: usize| {
            self.group_starts
                .partition_point(|&s| s <= r)
                .saturating_sub(1)
        };
        let group_len = |g: usize| {
            self.group_starts
                .get(g + 1)
                .copied()
                .unwrap_or(self.rows)
                .saturating_sub(self.group_starts[g])
        };
        let mut groups: Vec<usize> = sorted.iter().map(|&r| group_of(r)).collect();
        groups.dedup();
        let mut ranges = Vec::with_capacity(sorted.len());
        let mut before = 0;
        let mut gi = 0;
        for &r in &sorted {
            while group_of(r) != groups[gi] {
                before += group_len(groups[gi]);
                gi += 1;
            }
            let at = before + r - self.group_starts[groups[gi]];
            ranges.push(at..at + 1);
        }
        let total: usize = groups.iter().map(|&g| group_len(g)).sum();
        let selection = RowSelection::from_consecutive_ranges(ranges.into_iter(), total);
        let schema = self.meta.parquet_schema();
        let columns: Vec<usize> = self
            .meta
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| f.name() != "embedding")
            .map(|(i, _)| i)
            .collect();
        let mask = ProjectionMask::roots(schema, columns);
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
            self.data.clone(),
            self.meta.clone(),
        )
        .with_projection(mask)
        .with_row_groups(groups)
        .with_row_selection(selection)
        .build()
        .map_err(|e| pq_err(&self.path, e))?;
        let mut got = Vec::with_capacity(sorted.len());
        for batch in reader {
            let batch = batch.map_err(|e| pq_err(&self.path, e))?;
            got.extend(decode_rows(&batch, &self.path)?);
        }
        if got.len() != sorted.len() {
            return Err(pq_err(
                &self.path,
                format!("{} rows read for {} asked", got.len(), sorted.len()),
            ));
        }
        let by_row: std::collections::HashMap<usize, ChunkRow> =
            sorted.into_iter().zip(got).collect();
        wanted
            .iter()
            .map(|r| {
                by_row
                    .get(r)
                    .cloned()
                    .ok_or_else(|| pq_err(&self.path, format!("row {r} missing")))
            })
            .collect()
    }

    /// The position of a column in the table's schema.
    pub(crate) fn column_index(&self, name: &str) -> Option<usize> {
        self.meta
            .schema()
            .fields()
            .iter()
            .position(|f| f.name() == name)
    }

    /// A column of a batch as its arrow type, or an error naming the table.
    pub(crate) fn typed<'a, T: 'static>(
        &self,
        batch: &'a RecordBatch,
        name: &str,
    ) -> Result<&'a T, StoreError> {
        column::<T>(batch, name, &self.path)
    }

    /// An error about this table.
    pub(crate) fn error(&self, message: String) -> StoreError {
        pq_err(&self.path, message)
    }

    /// Every batch of one column, in row order (only that column is read).
    pub(crate) fn column_batches(
        &self,
        name: &str,
    ) -> Result<impl Iterator<Item = Result<RecordBatch, StoreError>> + '_, StoreError> {
        let idx = self
            .column_index(name)
            .ok_or_else(|| pq_err(&self.path, format!("no {name} column")))?;
        let mask = ProjectionMask::roots(self.meta.parquet_schema(), [idx]);
        let file = File::open(&self.path).map_err(crate::io(&self.path))?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone())
            .with_projection(mask)
            .build()
            .map_err(|e| pq_err(&self.path, e))?;
        Ok(reader.map(|b| b.map_err(|e| pq_err(&self.path, e))))
    }

    /// The chunk id of every row, in order (only that column is read).
    pub fn chunk_ids(&self) -> Result<Vec<ChunkId>, StoreError> {
        let mut out = Vec::with_capacity(self.rows);
        for batch in self.column_batches("chunk_id")? {
            let batch = batch?;
            let ids = column::<StringArray>(&batch, "chunk_id", &self.path)?;
            for i in 0..ids.len() {
                out.push(ChunkId::parse(ids.value(i)).map_err(|e| pq_err(&self.path, e))?);
            }
        }
        Ok(out)
    }

    /// The document id and token count of every row, in order (only those columns are read).
    pub fn doc_tokens(&self) -> Result<Vec<(DocId, u32)>, StoreError> {
        let fields = self.meta.schema().fields();
        let idx: Vec<usize> = ["doc_id", "token_count"]
            .iter()
            .map(|name| {
                fields
                    .iter()
                    .position(|f| f.name() == name)
                    .ok_or_else(|| pq_err(&self.path, format!("no {name} column")))
            })
            .collect::<Result<_, _>>()?;
        let mask = ProjectionMask::roots(self.meta.parquet_schema(), idx);
        let file = File::open(&self.path).map_err(crate::io(&self.path))?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone())
            .with_projection(mask)
            .build()
            .map_err(|e| pq_err(&self.path, e))?;
        let mut out = Vec::with_capacity(self.rows);
        for batch in reader {
            let batch = batch.map_err(|e| pq_err(&self.path, e))?;
            let ids = column::<StringArray>(&batch, "doc_id", &self.path)?;
            let tokens = column::<UInt32Array>(&batch, "token_count", &self.path)?;
            out.extend((0..ids.len()).map(|i| (DocId::from(ids.value(i)), tokens.value(i))));
        }
        Ok(out)
    }

    /// Every vector, row-major, and the dimension (only the embedding column is read): for
    /// tables written before `vectors.f32` existed.
    pub fn read_vectors(&self) -> Result<(Vec<f32>, usize), StoreError> {
        let (mut all, mut dim) = (Vec::new(), 0);
        for batch in self.column_batches("embedding")? {
            let (v, d) = decode_vectors(&batch?, &self.path)?;
            dim = d;
            all.extend_from_slice(&v);
        }
        Ok((all, dim))
    }
}

/// The embedding-cache keys of a chunk table (only that column is read). `None` when the
/// table predates the key column or a row has no key.
pub(crate) fn read_embed_keys(path: &Path) -> Result<Option<Vec<EmbedKey>>, StoreError> {
    let file = File::open(path).map_err(crate::io(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| pq_err(path, e))?;
    let Some(idx) = builder
        .schema()
        .fields()
        .iter()
        .position(|f| f.name() == "embed_key")
    else {
        return Ok(None);
    };
    let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), [idx]);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| pq_err(path, e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| pq_err(path, e))?;
        let keys = column::<FixedSizeBinaryArray>(&batch, "embed_key", path)?;
        for i in 0..keys.len() {
            if !keys.is_valid(i) {
                return Ok(None);
            }
            match keys.value(i).try_into() {
                Ok(k) => out.push(k),
                Err(_) => return Ok(None),
            }
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample_chunk(i: u32) -> Chunk {
        Chunk {
            id: ChunkId::parse(&format!("{i:032x}")).unwrap(),
            doc_id: "doc.md".into(),
            ordinal: i,
            text: format!("chunk {i} — café"),
            start_byte: i as u64 * 10,
            end_byte: i as u64 * 10 + 9,
            start_char: i as u64 * 9,
            end_char: i as u64 * 9 + 8,
            heading_path: if i.is_multiple_of(2) {
                vec!["A".into(), "B".into()]
            } else {
                vec![]
            },
            page_start: (i % 2 == 1).then_some(i),
            page_end: (i % 2 == 1).then_some(i + 1),
            title: "Doc".into(),
            source_path: "x/doc.md".into(),
            format: Format::Markdown,
            mtime: Some(1_700_000_000),
        }
    }

    pub(crate) fn sample_row(i: u32) -> ChunkRow {
        ChunkRow {
            chunk: sample_chunk(i),
            embed_key: (!i.is_multiple_of(3)).then_some([i as u8; 32]),
            token_count: 7,
            meta: ChunkMeta {
                lang: (!i.is_multiple_of(4)).then(|| "de".to_string()),
                lang_confidence: (!i.is_multiple_of(4)).then_some(0.5 + i as f32 / 1000.0),
                tenant: (i % 3 == 1).then(|| format!("t{}", i % 2)),
                acl: if i.is_multiple_of(5) {
                    vec!["hr".into(), "ops".into()]
                } else {
                    Vec::new()
                },
                created: i.is_multiple_of(2).then_some(1_700_000_000 + i64::from(i)),
                signature: (i % 4 == 1).then(|| vec![i as u8; 12]),
                doc_signature: (i % 8 == 1).then(|| vec![7; 8]),
                duplicate_of: (i % 6 == 5).then(|| format!("{:032x}", i - 1)),
                keywords: if i.is_multiple_of(3) {
                    vec!["replication lag".into(), "standby".into()]
                } else {
                    Vec::new()
                },
                metadata: if i.is_multiple_of(7) {
                    [("author".to_string(), format!("a{i}"))].into()
                } else {
                    Default::default()
                },
            },
        }
    }

    #[test]
    fn rows_are_fetched_by_number_beside_a_mapped_vector_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(CHUNKS_FILE);
        let vpath = tmp.path().join(crate::vectors::VECTORS_FILE);
        let dim = 2;
        let mut w = ChunkTableWriter::create_with_vectors(&path, &vpath, dim).unwrap();
        // Three row groups of uneven sizes, several pages each.
        let mut next = 0u32;
        for n in [150u32, 7, 300] {
            let rows: Vec<ChunkRow> = (next..next + n).map(sample_row).collect();
            let vecs: Vec<f32> = (next..next + n)
                .flat_map(|i| [i as f32, -(i as f32)])
                .collect();
            w.write(&rows, &vecs).unwrap();
            next += n;
        }
        assert_eq!(w.finish().unwrap(), 457);
        let table = ChunkRows::open(&path).unwrap();
        assert_eq!(table.len(), 457);
        let got = table.fetch(&[456, 3, 3, 151, 0]).unwrap();
        let ids: Vec<u32> = got.iter().map(|r| r.chunk.ordinal).collect();
        assert_eq!(ids, vec![456, 3, 3, 151, 0]);
        assert_eq!(got[0], sample_row(456));
        // Groups skipped between the ones read, and one group alone.
        for want in [vec![200, 0, 449], vec![156, 150], vec![157]] {
            let got: Vec<u32> = table
                .fetch(&want)
                .unwrap()
                .iter()
                .map(|r| r.chunk.ordinal)
                .collect();
            assert_eq!(got, want.iter().map(|&r| r as u32).collect::<Vec<_>>());
        }
        assert!(table.fetch(&[457]).is_err());
        assert!(table.fetch(&[]).unwrap().is_empty());
        let all: Vec<ChunkId> = (0..457).map(|i| sample_chunk(i).id).collect();
        assert_eq!(table.chunk_ids().unwrap(), all);
        let mapped = crate::vectors::VectorFile::open(&vpath).unwrap();
        let (loaded, d) = table.read_vectors().unwrap();
        assert_eq!(d, dim);
        assert_eq!(mapped.as_slice(), loaded.as_slice());
        assert_eq!(mapped.row(200), &[200.0, -200.0]);
    }

    #[test]
    fn round_trips_rows_and_vectors_across_batches() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(CHUNKS_FILE);
        let dim = 3;
        let mut w = ChunkTableWriter::create(&path, dim).unwrap();
        let a: Vec<ChunkRow> = (0..3).map(sample_row).collect();
        let b: Vec<ChunkRow> = (3..5).map(sample_row).collect();
        let va: Vec<f32> = (0..9).map(|x| x as f32).collect();
        let vb: Vec<f32> = (9..15).map(|x| x as f32).collect();
        w.write(&a, &va).unwrap();
        w.write(&b, &vb).unwrap();
        assert!(
            w.write(&b, &va).is_err(),
            "vector count mismatch is an error"
        );
        assert_eq!(w.finish().unwrap(), 5);
        let t = read_chunks(&path).unwrap();
        assert_eq!(t.dim, 3);
        assert_eq!(t.rows.len(), 5);
        let expected: Vec<ChunkRow> = a.into_iter().chain(b).collect();
        assert_eq!(t.rows, expected);
        assert_eq!(t.vector(4), &[12.0, 13.0, 14.0]);
        assert_eq!(
            read_embed_keys(&path).unwrap(),
            None,
            "row 0 has no key, so the set is unknown"
        );
    }

    #[test]
    fn embed_keys_are_read_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(CHUNKS_FILE);
        let mut w = ChunkTableWriter::create(&path, 2).unwrap();
        let a: Vec<ChunkRow> = [1, 2].into_iter().map(sample_row).collect();
        w.write(&a, &[0.0; 4]).unwrap();
        w.finish().unwrap();
        assert_eq!(
            read_embed_keys(&path).unwrap(),
            Some(vec![[1u8; 32], [2u8; 32]])
        );
    }
}
