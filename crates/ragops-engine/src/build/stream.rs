//! The streaming build: waves of files are loaded, chunked and enriched (rayon) on one thread,
//! embedded on another and persisted on this one, connected by bounded queues, so memory
//! depends on the wave and batch sizes rather than on the corpus. Everything is written under
//! the snapshot's staging directory.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;
use std::time::Instant;

use ragops_chunk::Chunker;
use ragops_core::{
    Chunk, ChunkMeta, ChunkUnit, DedupAction, DedupLevel, DocId, Document, EnrichStep, IndexConfig,
    PiiMode, Skipped,
};
use ragops_enrich::dedup::{self, DedupTally, Index as DedupIndex};
use ragops_enrich::pii::{Detector, PiiKind, PiiTally};
use ragops_load::SourceFile;
use ragops_store::{
    failpoint, CarriedFragment, ChunkTableWriter, DeletionVector, EmbeddingCache, Fragment,
    FulltextWriter, SnapshotWriter, SourceRecord,
};
use rayon::prelude::*;

use super::embed_stage::{EmbedStage, EmbedStats, Embedded};
use super::plan::{ReusePlan, Session, Work, Writer};
use super::BuildOptions;
use crate::{EngineError, Event, Progress, Reporter};

/// Rows per Parquet row group / tantivy batch. Small enough that a wave from one very large
/// document (thousands of chunks) is encoded a slice at a time.
const WRITE_BATCH: usize = 512;
/// Most files loaded and chunked per wave.
const WAVE_FILES: usize = 16;
/// Most source bytes per wave (a wave holds at least one file, however large).
const WAVE_BYTES: u64 = 8 << 20;
/// Waves in flight between two stages.
const QUEUE_DEPTH: usize = 2;

/// A wave of files, loaded, chunked and enriched.
pub(super) struct Wave {
    /// Source files this wave covers.
    pub files: usize,
    pub sources: Vec<SourceRecord>,
    /// Documents of changed files (JSONL records) whose content is unchanged: their rows stay
    /// in the parent's fragments. Not in `sources`.
    pub kept: Vec<SourceRecord>,
    /// Unchanged documents of changed files whose rows cannot stay where they are (the file
    /// moved, or the parent is format 1): their rows are copied, not embedded again.
    pub moved: Vec<SourceRecord>,
    pub chunks: Vec<Chunk>,
    /// What the enrichment steps added to each chunk.
    pub metas: Vec<ChunkMeta>,
    /// The text embedded for each chunk (contextual header and chunk text).
    pub texts: Vec<String>,
    pub skipped: Vec<Skipped>,
}

/// What the stream wrote, for the manifest.
#[derive(Default)]
pub(super) struct Streamed {
    pub sources: Vec<SourceRecord>,
    pub skipped: Vec<Skipped>,
    pub chunks: u64,
    pub tokens: u64,
    pub truncated: u64,
    pub reused_documents: u64,
    pub reused_chunks: u64,
    /// Documents kept by reference in the parent's fragments.
    pub by_ref: HashMap<DocId, SourceRecord>,
    /// Unchanged records of changed files whose rows are copied from the parent's fragments.
    pub moved: HashMap<DocId, SourceRecord>,
    /// The parent's fragments the snapshot references, with the rows it masks.
    pub carried: Vec<CarriedFragment>,
    /// Rows of the new fragment.
    pub new_rows: u64,
    /// Whether the parent's fragments were rewritten into the new one.
    pub compacted: bool,
    pub embed: EmbedStats,
    /// Cache entries this build added.
    pub cache_added: u64,
    pub cache_torn: u64,
    pub reuse_secs: f64,
    pub load_secs: f64,
    pub persist_secs: f64,
    pub vector_index_secs: f64,
    /// What the `pii` step found, redacted and dropped (when it ran).
    pub pii: Option<PiiTally>,
    /// What the `dedup` step found and dropped (when it ran).
    pub dedup: Option<DedupTally>,
}

/// Cuts the file list into waves of at most `WAVE_FILES` files and `WAVE_BYTES` bytes.
fn waves(files: &[SourceFile]) -> Vec<&[SourceFile]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, f) in files.iter().enumerate() {
        if i > start && (i - start >= WAVE_FILES || bytes + f.size > WAVE_BYTES) {
            out.push(&files[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += f.size;
    }
    if start < files.len() {
        out.push(&files[start..]);
    }
    out
}

/// The detector of the `pii` step, from `[enrich.pii]`.
pub(super) fn pii_detector(cfg: &ragops_core::PiiConfig) -> Result<Detector, EngineError> {
    let kinds = cfg
        .types
        .iter()
        .map(|t| t.parse::<PiiKind>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Detector::new(&kinds, &cfg.allow)?)
}

/// The data files being written.
struct Sinks {
    table: ChunkTableWriter,
    fulltext: Option<FulltextWriter>,
}

/// Runs the three stages over `work` into `writer`'s staging directory.
pub(super) fn run(
    session: &Session<'_>,
    work: &Work,
    writer: &SnapshotWriter,
    opts: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<Streamed, EngineError> {
    let cfg = &session.pipeline.config;
    let info = session.model.embedder.info();
    let cache = match &session.writer {
        Writer::Store(lock) => EmbeddingCache::open(&session.store, lock, &session.model.identity)?,
        // Other shards write beside this one: their temporary files are not this one's to clean.
        Writer::Shard { .. } => {
            EmbeddingCache::open_shared(&session.store, &session.model.identity)?
        }
    };
    let tokenizer =
        (cfg.chunking.unit == ChunkUnit::Tokens).then(|| session.model.embedder.sizing_tokenizer());
    let chunker = Chunker::new(
        &cfg.chunking,
        &cfg.chunking_hash(),
        tokenizer,
        cfg.chunking.fit_model.then_some(info.max_tokens),
        cfg.enrich
            .header_on()
            .then_some(ragops_enrich::header as ragops_chunk::HeaderFn),
    )?;
    let stage = EmbedStage {
        embedder: &session.model.embedder,
        batch_size: cfg.embedding.batch_size,
        cache: (!opts.full).then_some(&cache),
        segment: Mutex::new(writer.cache_segment(&cache)?),
    };
    let mut sinks = Sinks {
        table: writer.chunk_table(info.dim)?,
        fulltext: cfg.index.fulltext.then(|| writer.fulltext()).transpose()?,
    };
    let pii = cfg
        .enrich
        .pii_on()
        .then(|| pii_detector(&cfg.enrich.pii))
        .transpose()?;
    let producer = Producer {
        session,
        strict: opts.strict,
        chunker: &chunker,
        reporter,
        pii: pii.as_ref().map(|d| (d, cfg.enrich.pii.mode)),
        pii_tally: Mutex::new(PiiTally {
            mode: cfg.enrich.pii.mode,
            ..Default::default()
        }),
        dedup: if cfg.enrich.steps.contains(&EnrichStep::Dedup) {
            let mut state = DedupState::default();
            state.tally.action = cfg.enrich.dedup.action;
            if let Some(plan) = work.reuse.as_ref() {
                seed_dedup(plan, &mut state)?;
            }
            Some(Mutex::new(state))
        } else {
            None
        },
    };
    let mut out = three_stages(&producer, &stage, &mut sinks, work, reporter)?;
    if pii.is_some() {
        out.pii = producer.pii_tally.into_inner().ok();
    }
    out.dedup = producer
        .dedup
        .and_then(|d| d.into_inner().ok())
        .map(|d| d.tally);
    if let Some(plan) = work.reuse.as_ref().filter(|p| p.parent.has_fragments()) {
        let t = Instant::now();
        match session.shard() {
            None => carry(plan, &cfg.index, &mut sinks, &mut out)?,
            // A shard masks nothing (the commit masks what no shard kept); it copies the rows
            // it keeps when the build compacts.
            Some((_, build, _)) => {
                if super::shard::compacts(plan, &cfg.index, build.shards) {
                    failpoint("before-compaction");
                    let keep = out.by_ref.clone();
                    copy_rows(&plan.fragments, None, &keep, &mut sinks, &mut out)?;
                    out.compacted = true;
                }
            }
        }
        out.reuse_secs += t.elapsed().as_secs_f64();
    }
    let segment = stage
        .segment
        .into_inner()
        .map_err(|_| EngineError::WorkerPanicked("embedding"))?;
    out.cache_added = segment.commit()?;
    out.cache_torn = cache.stats.torn.load(std::sync::atomic::Ordering::Relaxed);
    let rows = sinks.table.finish()?;
    out.new_rows = rows;
    failpoint("after-parquet");
    if let Some(ft) = sinks.fulltext {
        ft.finish(rows)?;
    }
    if cfg.index.builds_hnsw(rows as usize) {
        let t = Instant::now();
        let bar = reporter.progress("hnsw", rows, "vectors");
        writer.vector_index(&cfg.index.hnsw)?;
        bar.finish(rows);
        out.vector_index_secs = t.elapsed().as_secs_f64();
    }
    out.sources.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The loader, embedder and writer stages, connected by bounded queues. The writer stops
/// early on an error, which closes the queues and stops the others.
fn three_stages(
    producer: &Producer<'_>,
    stage: &EmbedStage<'_>,
    sinks: &mut Sinks,
    work: &Work,
    reporter: &dyn Reporter,
) -> Result<Streamed, EngineError> {
    let files = &work.to_process;
    let reused_ids: HashSet<DocId> = work
        .reuse
        .as_ref()
        .map(|r| r.by_ref.keys().chain(r.copy.keys()).cloned().collect())
        .unwrap_or_default();
    let bar = reporter.progress("build", files.len() as u64, "files");
    let mut out = Streamed::default();
    std::thread::scope(|scope| -> Result<(), EngineError> {
        let (wave_tx, wave_rx) = sync_channel::<Wave>(QUEUE_DEPTH);
        let (emb_tx, emb_rx) = sync_channel::<Embedded>(QUEUE_DEPTH);
        let reused_ids = &reused_ids;
        let loader = scope.spawn(move || producer.produce(files, reused_ids, work, wave_tx));
        let embedder = scope.spawn(move || stage.run(wave_rx, emb_tx));
        let written = write(sinks, work.reuse.as_ref(), emb_rx, &mut out, bar.as_ref());
        let loaded = loader
            .join()
            .map_err(|_| EngineError::WorkerPanicked("loader"))?;
        let embedded = embedder
            .join()
            .map_err(|_| EngineError::WorkerPanicked("embedding"))?;
        out.load_secs = loaded?;
        out.embed = embedded?;
        written
    })?;
    out.chunks += out.reused_chunks;
    bar.finish(files.len() as u64);
    Ok(out)
}

/// The writer stage: the reused rows first (while the other stages load and embed the rest),
/// then every embedded wave.
fn write(
    sinks: &mut Sinks,
    reuse: Option<&ReusePlan>,
    rx: Receiver<Embedded>,
    out: &mut Streamed,
    bar: &dyn Progress,
) -> Result<(), EngineError> {
    if let Some(plan) = reuse {
        let t = Instant::now();
        copy_reused(plan, sinks, out)?;
        out.reuse_secs = t.elapsed().as_secs_f64();
        failpoint("after-reuse");
    }
    let mut files_done = 0u64;
    let dim = sinks.table.dim();
    for e in rx {
        let t = Instant::now();
        for (rows, vecs) in e
            .rows
            .chunks(WRITE_BATCH)
            .zip(e.vectors.chunks(WRITE_BATCH * dim))
        {
            sinks.table.write(rows, vecs)?;
            if let Some(ft) = sinks.fulltext.as_mut() {
                ft.add_rows(rows)?;
            }
        }
        out.persist_secs += t.elapsed().as_secs_f64();
        out.tokens += e.rows.iter().map(|r| u64::from(r.token_count)).sum::<u64>();
        out.truncated += e.truncated;
        files_done += e.files as u64;
        bar.set(files_done);
        out.chunks += e.rows.len() as u64;
        out.sources.extend(e.sources);
        out.skipped.extend(e.skipped);
        for k in e.kept {
            out.reused_documents += 1;
            out.reused_chunks += u64::from(k.chunks);
            out.sources.push(k.clone());
            out.by_ref.insert(k.id.clone(), k);
        }
        for k in e.moved {
            out.reused_documents += 1;
            out.sources.push(k.clone());
            out.moved.insert(k.id.clone(), k);
        }
    }
    if let Some(plan) = reuse.filter(|_| !out.moved.is_empty()) {
        let t = Instant::now();
        let moved = std::mem::take(&mut out.moved);
        out.reused_chunks += copy_rows(&plan.fragments, None, &moved, sinks, out)?;
        out.moved = moved;
        out.reuse_secs += t.elapsed().as_secs_f64();
    }
    Ok(())
}

/// Writes the rows of the documents `keep` names (with their current path and mtime) from
/// `fragments` into the sinks, masked rows left out; returns the rows written. `deletions`
/// replace each fragment's own mask when given.
fn copy_rows(
    fragments: &[Fragment],
    deletions: Option<&[DeletionVector]>,
    keep: &HashMap<DocId, SourceRecord>,
    sinks: &mut Sinks,
    out: &mut Streamed,
) -> Result<u64, EngineError> {
    let mut copied = 0u64;
    for (fi, f) in fragments.iter().enumerate() {
        let masked = |row: usize| match deletions {
            Some(d) => d[fi].is_deleted(row),
            None => f.is_deleted(row),
        };
        let mut row_no = 0usize;
        for batch in f.chunk_batches()? {
            let (rows, vectors, dim) = batch?;
            let mut kept = Vec::new();
            let mut kept_vecs = Vec::new();
            for (mut row, v) in rows.into_iter().zip(vectors.chunks(dim.max(1))) {
                let n = row_no;
                row_no += 1;
                if masked(n) {
                    continue;
                }
                if let Some(src) = keep.get(&row.chunk.doc_id) {
                    row.chunk.source_path = src.path.clone();
                    row.chunk.mtime = src.mtime;
                    out.tokens += u64::from(row.token_count);
                    kept_vecs.extend_from_slice(v);
                    kept.push(row);
                }
            }
            sinks.table.write(&kept, &kept_vecs)?;
            if let Some(ft) = sinks.fulltext.as_mut() {
                ft.add_rows(kept.iter())?;
            }
            copied += kept.len() as u64;
            if copied > 0 {
                failpoint("during-copy");
            }
        }
    }
    Ok(copied)
}

/// Copies the rows of reused documents that cannot be kept by reference (moved files, or
/// every reused document of a format-1 parent) into the new fragment. Documents kept by
/// reference are only counted.
fn copy_reused(plan: &ReusePlan, sinks: &mut Sinks, out: &mut Streamed) -> Result<(), EngineError> {
    if !plan.copy.is_empty() {
        out.reused_chunks += copy_rows(&plan.fragments, None, &plan.copy, sinks, out)?;
    }
    out.reused_documents += (plan.copy.len() + plan.by_ref.len()) as u64;
    out.reused_chunks += plan
        .by_ref
        .values()
        .map(|d| u64::from(d.chunks))
        .sum::<u64>();
    out.sources.extend(plan.copy.values().cloned());
    out.sources.extend(plan.by_ref.values().cloned());
    out.by_ref
        .extend(plan.by_ref.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(())
}

/// After the stream, for a parent with fragments: masks every row of the parent's fragments
/// whose document is not kept by reference, and either carries the fragments (with their
/// deletion vectors and the masked rows' token counts) or rewrites their live rows into the
/// new fragment: past the compaction limits, or when a fragment's indexes no longer match the
/// `[index]` settings (a graph asked for or dropped, or built with another M, ef_construction
/// or quantization; full text turned on or off).
fn carry(
    plan: &ReusePlan,
    index: &IndexConfig,
    sinks: &mut Sinks,
    out: &mut Streamed,
) -> Result<(), EngineError> {
    let Masked {
        masks,
        newly,
        rows,
        deleted,
        kept_tokens,
    } = mask_parent(&plan.fragments, |doc| out.by_ref.contains_key(doc))?;
    out.tokens += kept_tokens;
    let rows = rows + sinks.table.rows();
    let live: Vec<bool> = masks.iter().map(|m| m.count() < m.rows() as u64).collect();
    let fragments = live.iter().filter(|l| **l).count() + usize::from(sinks.table.rows() > 0);
    let graphs_differ = graph_settings_changed(plan, index);
    let stale = plan.fragments.iter().zip(&masks).any(|(f, m)| {
        f.has_graph() != index.builds_hnsw(m.rows())
            || (f.has_graph() && graphs_differ)
            || f.has_fulltext() != index.fulltext
    });
    if stale || index.compaction.due(fragments, rows, deleted) {
        failpoint("before-compaction");
        // Tokens were counted for the kept rows already; copy_rows counts them again.
        let before = out.tokens;
        copy_rows(
            &plan.fragments,
            Some(&masks),
            &out.by_ref.clone(),
            sinks,
            out,
        )?;
        out.tokens = before;
        out.compacted = true;
        return Ok(());
    }
    out.carried = carried_fragments(&plan.fragments, plan.parent.manifest(), masks, newly)?;
    Ok(())
}

/// The parent's fragments masked down to the rows of the documents `keep` accepts.
pub(super) struct Masked {
    /// Per fragment: its own mask plus the rows of documents not kept.
    pub masks: Vec<DeletionVector>,
    /// Per fragment: the rows masked here (not by the fragment's own mask).
    pub newly: Vec<Vec<usize>>,
    pub rows: u64,
    pub deleted: u64,
    /// Tokens of the rows left live.
    pub kept_tokens: u64,
}

/// Masks every row of `fragments` whose document `keep` refuses.
pub(super) fn mask_parent(
    fragments: &[Fragment],
    keep: impl Fn(&DocId) -> bool,
) -> Result<Masked, EngineError> {
    let mut m = Masked {
        masks: Vec::with_capacity(fragments.len()),
        newly: Vec::with_capacity(fragments.len()),
        rows: 0,
        deleted: 0,
        kept_tokens: 0,
    };
    for f in fragments {
        let docs = f.doc_tokens()?;
        let mut mask = f
            .deletions()
            .map(|d| (**d).clone())
            .unwrap_or_else(|| DeletionVector::new(docs.len()));
        let mut fresh = Vec::new();
        for (row, (doc, tokens)) in docs.iter().enumerate() {
            if mask.is_deleted(row) {
                continue;
            }
            if keep(doc) {
                m.kept_tokens += u64::from(*tokens);
            } else {
                mask.delete(row);
                fresh.push(row);
            }
        }
        m.rows += docs.len() as u64;
        m.deleted += mask.count();
        m.masks.push(mask);
        m.newly.push(fresh);
    }
    Ok(m)
}

/// The manifest entries of the fragments a new snapshot keeps reading, with their masks and
/// the masked rows' tokens per full-text field (so BM25 statistics leave them out); fragments
/// left with no live row are dropped.
pub(super) fn carried_fragments(
    fragments: &[Fragment],
    parent: &ragops_store::Manifest,
    masks: Vec<DeletionVector>,
    newly: Vec<Vec<usize>>,
) -> Result<Vec<CarriedFragment>, EngineError> {
    let mut carried = Vec::new();
    for ((f, mask), fresh) in fragments.iter().zip(masks).zip(newly) {
        let Some(entry) = f
            .id()
            .and_then(|id| parent.fragments.iter().find(|e| &e.id == id).cloned())
        else {
            continue;
        };
        if mask.count() >= mask.rows() as u64 {
            continue; // nothing left to read in it
        }
        let mut entry = entry;
        if !fresh.is_empty() {
            let masked = f.rows()?.fetch(&fresh)?;
            if let Some(ft) = f.fulltext()? {
                let counted = ft.count_tokens(masked.iter().map(|r| &r.chunk))?;
                let mut total: BTreeMap<String, u64> = entry.deleted_tokens.clone();
                for (field, n) in counted {
                    *total.entry(field).or_default() += n;
                }
                entry.deleted_tokens = total;
            }
        }
        carried.push(CarriedFragment {
            entry,
            deletions: Some(mask),
        });
    }
    Ok(carried)
}

/// Whether the graphs of the parent's fragments were built with other settings than
/// `[index.hnsw]` asks for (M, ef_construction, quantization; ef_search is read at query
/// time). A parent's fragments all have its settings: a build whose settings differ from its
/// parent's rewrites them (this check).
pub(super) fn graph_settings_changed(plan: &ReusePlan, index: &IndexConfig) -> bool {
    // Absent: the defaults with an f16 graph (see `IndexConfig::hnsw`).
    let p = match &plan.parent.manifest().config["index"]["hnsw"] {
        serde_json::Value::Null => ragops_core::config::HnswConfig::legacy_default(),
        v => match serde_json::from_value(v.clone()) {
            Ok(p) => p,
            Err(_) => return true, // unreadable: rebuild rather than mix graphs
        },
    };
    (p.m, p.ef_construction, p.quantization)
        != (
            index.hnsw.m,
            index.hnsw.ef_construction,
            index.hnsw.quantization,
        )
}

/// The loader stage.
struct Producer<'a> {
    session: &'a Session<'a>,
    strict: bool,
    chunker: &'a Chunker,
    reporter: &'a dyn Reporter,
    /// The `pii` step's detector and mode, when the step is on.
    pii: Option<(&'a Detector, PiiMode)>,
    pii_tally: Mutex<PiiTally>,
    /// The `dedup` step's signatures seen so far (the parent's reused rows first), when on.
    dedup: Option<Mutex<DedupState>>,
}

/// The signatures the `dedup` step compares new texts with, and its counts.
#[derive(Default)]
struct DedupState {
    docs: DedupIndex,
    chunks: DedupIndex,
    tally: DedupTally,
}

/// Seeds the dedup indexes with the signatures of the parent's rows this build keeps (the
/// documents of unchanged files), so that dedup stays corpus-wide without reprocessing them.
fn seed_dedup(plan: &ReusePlan, state: &mut DedupState) -> Result<(), EngineError> {
    let keep: HashSet<&str> = plan
        .by_ref
        .keys()
        .chain(plan.copy.keys())
        .map(DocId::as_str)
        .collect();
    for f in &plan.fragments {
        let rows = f.rows()?;
        let Some(sigs) = rows.binary_column("dedup_signature")? else {
            continue; // written before the step ran
        };
        let doc_sigs = rows
            .binary_column("dedup_doc_signature")?
            .unwrap_or_default();
        let (Some(docs), ids) = (rows.text_column("doc_id")?, rows.chunk_ids()?) else {
            continue;
        };
        for r in 0..rows.len() {
            let Some(doc) = docs.get(r).filter(|d| keep.contains(d)) else {
                continue;
            };
            if f.is_deleted(r) {
                continue;
            }
            if let Some(sig) = sigs[r].as_deref().and_then(dedup::decode) {
                state.chunks.insert(&sig, ids[r].as_str());
            }
            if let Some(sig) = doc_sigs
                .get(r)
                .and_then(|s| s.as_deref())
                .and_then(dedup::decode)
            {
                state.docs.insert(&sig, doc);
            }
        }
    }
    Ok(())
}

impl Producer<'_> {
    /// The document steps of enrichment, then chunking, then the chunk steps, per document.
    /// The `pii` step runs before chunking, so that offsets, stored and embedded text and the
    /// full-text index all hold the redacted text; chunks are dropped (pii, dedup) before the
    /// language and keyword steps spend time on them.
    fn enrich_and_chunk(
        &self,
        documents: &mut [Document],
    ) -> Result<Vec<Vec<(Chunk, ChunkMeta)>>, EngineError> {
        let enrich = &self.session.pipeline.config.enrich;
        // Declared metadata first: front matter leaves the text before anything reads it.
        let metas: Vec<Option<ragops_enrich::metadata::DocMetadata>> =
            if enrich.steps.contains(&EnrichStep::Metadata) {
                documents
                    .par_iter_mut()
                    .map(|d| {
                        let path = d.id.file_id().to_string();
                        Some(ragops_enrich::metadata::apply(&enrich.metadata, d, &path))
                    })
                    .collect()
            } else {
                vec![None; documents.len()]
            };
        let mut tally = PiiTally::default();
        let mut pii_ranges = vec![Vec::new(); documents.len()];
        if let Some((detector, mode)) = self.pii {
            let applied: Vec<ragops_enrich::pii::Applied> = documents
                .par_iter_mut()
                .map(|d| ragops_enrich::pii::apply(detector, mode, d))
                .collect();
            for (a, ranges) in applied.into_iter().zip(&mut pii_ranges) {
                tally.add(&a.tally);
                *ranges = a.ranges;
            }
        }
        let mut per_doc: Vec<Vec<(Chunk, ChunkMeta)>> = documents
            .par_iter()
            .zip(&metas)
            .map(|(d, declared)| {
                let base = match declared {
                    Some(m) => ChunkMeta {
                        tenant: m.tenant.clone(),
                        acl: m.acl.clone(),
                        created: m.created,
                        metadata: m.fields.clone(),
                        ..ChunkMeta::default()
                    },
                    None => ChunkMeta::default(),
                };
                let chunks = self.chunker.chunk(d)?;
                Ok(chunks.into_iter().map(|c| (c, base.clone())).collect())
            })
            .collect::<Result<_, EngineError>>()?;
        // Chunks are left out before the chunk steps run on them.
        if let Some((_, PiiMode::Drop)) = self.pii {
            for (chunks, ranges) in per_doc.iter_mut().zip(&pii_ranges) {
                let before = chunks.len();
                chunks.retain(|(c, _)| !ragops_enrich::pii::overlaps_pii(ranges, c));
                tally.chunks_dropped += (before - chunks.len()) as u64;
            }
        }
        if self.pii.is_some() {
            if let Ok(mut t) = self.pii_tally.lock() {
                t.add(&tally);
            }
        }
        if let Some(state) = &self.dedup {
            self.dedup(documents, &mut per_doc, state);
        }
        let language = enrich.steps.contains(&EnrichStep::Language);
        let keywords = enrich.steps.contains(&EnrichStep::Keywords);
        if language || keywords {
            per_doc
                .par_iter_mut()
                .zip(documents.par_iter())
                .for_each(|(chunks, d)| {
                    let doc_lang = language
                        .then(|| ragops_enrich::language::detect(&d.text))
                        .flatten();
                    for (c, meta) in chunks.iter_mut() {
                        if let Some(l) = language
                            .then(|| ragops_enrich::language::for_chunk(&c.text, doc_lang.as_ref()))
                            .flatten()
                        {
                            meta.lang = Some(l.code);
                            meta.lang_confidence = Some(l.confidence);
                        }
                        if keywords {
                            meta.keywords = ragops_enrich::keywords::extract(
                                &c.text,
                                meta.lang.as_deref(),
                                enrich.keywords.top_n,
                                enrich.keywords.max_ngram,
                            );
                        }
                    }
                });
        }
        Ok(per_doc)
    }

    /// The `dedup` step over one wave, in document order: a document or chunk whose
    /// signature matches one seen before (this build's or the parent's kept rows) is dropped
    /// or marked; the others' signatures are kept, in the index and in their rows.
    fn dedup(
        &self,
        documents: &[Document],
        per_doc: &mut [Vec<(Chunk, ChunkMeta)>],
        state: &Mutex<DedupState>,
    ) {
        let cfg = &self.session.pipeline.config.enrich.dedup;
        let (by_doc, by_chunk) = match cfg.level {
            DedupLevel::Document => (true, false),
            DedupLevel::Chunk => (false, true),
            DedupLevel::Both => (true, true),
        };
        let doc_sigs: Vec<Option<dedup::Signature>> = documents
            .par_iter()
            .map(|d| {
                by_doc
                    .then(|| dedup::signature(&d.text, cfg.near))
                    .flatten()
            })
            .collect();
        let chunk_sigs: Vec<Vec<Option<dedup::Signature>>> = per_doc
            .par_iter()
            .map(|cs| {
                cs.iter()
                    .map(|(c, _)| {
                        by_chunk
                            .then(|| dedup::signature(&c.text, cfg.near))
                            .flatten()
                    })
                    .collect()
            })
            .collect();
        let Ok(mut st) = state.lock() else { return };
        let drop = cfg.action == DedupAction::Drop;
        for ((d, chunks), (doc_sig, sigs)) in documents
            .iter()
            .zip(per_doc.iter_mut())
            .zip(doc_sigs.into_iter().zip(chunk_sigs))
        {
            if let Some(sig) = &doc_sig {
                if let Some(orig) = st
                    .docs
                    .find(sig, cfg.near, cfg.threshold)
                    .map(str::to_string)
                {
                    st.tally.documents += 1;
                    if drop {
                        st.tally.chunks_dropped += chunks.len() as u64;
                        chunks.clear();
                    } else {
                        chunks
                            .iter_mut()
                            .for_each(|(_, m)| m.duplicate_of = Some(orig.clone()));
                    }
                    continue;
                }
                st.docs.insert(sig, d.id.as_str());
            }
            let mut kept = Vec::with_capacity(chunks.len());
            for ((c, mut m), sig) in chunks.drain(..).zip(sigs) {
                if let Some(sig) = sig {
                    match st
                        .chunks
                        .find(&sig, cfg.near, cfg.threshold)
                        .map(str::to_string)
                    {
                        Some(orig) => {
                            st.tally.chunks += 1;
                            if drop {
                                st.tally.chunks_dropped += 1;
                                continue;
                            }
                            m.duplicate_of = Some(orig);
                        }
                        None => {
                            st.chunks.insert(&sig, c.id.as_str());
                            m.signature = Some(dedup::encode(&sig));
                        }
                    }
                }
                kept.push((c, m));
            }
            if let (Some(sig), Some((_, m))) = (&doc_sig, kept.first_mut()) {
                m.doc_signature = Some(dedup::encode(sig));
            }
            *chunks = kept;
        }
    }

    /// Loads, chunks and enriches waves of files; returns the seconds spent.
    fn produce(
        &self,
        files: &[SourceFile],
        reused: &HashSet<DocId>,
        work: &Work,
        tx: SyncSender<Wave>,
    ) -> Result<f64, EngineError> {
        let cfg = &self.session.pipeline.config;
        let mut secs = 0.0;
        let mut seen = reused.clone();
        let records = work.reuse.as_ref().map(|r| &r.records);
        let by_reference = work
            .reuse
            .as_ref()
            .is_some_and(|r| r.parent.has_fragments());
        for (i, group) in waves(files).into_iter().enumerate() {
            let t = Instant::now();
            let loaded = ragops_load::load_all(group, &cfg.sources);
            let (documents, duplicates) = ragops_load::keep_first(loaded.documents, &mut seen);
            let mut skipped = loaded.skipped;
            skipped.extend(duplicates);
            for s in &skipped {
                self.reporter.event(Event::Skipped(s));
            }
            if self.strict && !skipped.is_empty() {
                return Err(EngineError::Strict(skipped));
            }
            // Records of a changed file whose content is unchanged keep their rows: by
            // reference at an unchanged path in a parent with fragments, else copied.
            let (kept, documents): (Vec<_>, Vec<_>) = documents.into_iter().partition(|d| {
                records
                    .and_then(|r| r.get(&d.id))
                    .is_some_and(|p| p.content_hash == d.content_hash)
            });
            let (mut by_ref, mut moved) = (Vec::new(), Vec::new());
            for d in &kept {
                let Some(mut rec) = records.and_then(|r| r.get(&d.id)).cloned() else {
                    continue;
                };
                let stays = by_reference && rec.path == d.source_path;
                rec.path = d.source_path.clone();
                rec.mtime = d.mtime;
                rec.size = d.size;
                if stays {
                    by_ref.push(rec)
                } else {
                    moved.push(rec)
                }
            }
            let mut documents = documents;
            let per_doc = self.enrich_and_chunk(&mut documents)?;
            let sources = documents
                .iter()
                .zip(&per_doc)
                .map(|(d, c)| SourceRecord {
                    id: d.id.clone(),
                    path: d.source_path.clone(),
                    format: d.format,
                    size: d.size,
                    mtime: d.mtime,
                    content_hash: d.content_hash.clone(),
                    chunks: c.len() as u32,
                })
                .collect();
            let (chunks, metas): (Vec<Chunk>, Vec<ChunkMeta>) =
                per_doc.into_iter().flatten().unzip();
            let texts = chunks
                .iter()
                .map(|c| ragops_enrich::embed_text(c, &cfg.enrich))
                .collect();
            secs += t.elapsed().as_secs_f64();
            let wave = Wave {
                files: group.len(),
                sources,
                kept: by_ref,
                moved,
                chunks,
                metas,
                texts,
                skipped,
            };
            if tx.send(wave).is_err() {
                break; // the writer stopped on an error of its own
            }
            if i == 0 {
                failpoint("after-load");
            }
        }
        Ok(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64) -> SourceFile {
        SourceFile {
            path: "x.md".into(),
            id: "x.md".into(),
            display_path: "x.md".into(),
            format: ragops_core::Format::Markdown,
            size,
            mtime: None,
        }
    }

    #[test]
    fn waves_cap_files_and_bytes() {
        let files: Vec<_> = (0..150).map(|_| file(10)).collect();
        let sizes: Vec<usize> = waves(&files).iter().map(|w| w.len()).collect();
        let mut want = vec![WAVE_FILES; 150 / WAVE_FILES];
        want.push(150 % WAVE_FILES);
        assert_eq!(sizes, want);
        let big = vec![
            file(WAVE_BYTES),
            file(1),
            file(WAVE_BYTES / 2),
            file(WAVE_BYTES / 2),
        ];
        let sizes: Vec<usize> = waves(&big).iter().map(|w| w.len()).collect();
        assert_eq!(sizes, vec![1, 2, 1]);
        assert!(waves(&[]).is_empty());
    }
}
