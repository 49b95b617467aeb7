//! `ragops build`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use ragops_chunk::Chunker;
use ragops_core::{Chunk, ChunkUnit, LoadedPipeline, Skipped, TOOL_VERSION};
use ragops_embed::{hub, Embedder};
use ragops_store::{
    cache_key, model_key, pause_point, CachedEmbedding, ChunkBatches, ChunkTableWriter, Counts,
    EmbeddingCache, Expect, FulltextWriter, Manifest, ModelRecord, SegmentWriter, SourceFileRecord,
    SourceRecord, Store, CHUNKS_FILE, FORMAT_VERSION, FULLTEXT_DIR,
};
use rayon::prelude::*;
use serde::Serialize;

use crate::{PipelineError, Progress};

/// Rows per Parquet row group / tantivy batch. Small enough that a wave from one very large
/// document (thousands of chunks) is encoded a slice at a time.
const WRITE_BATCH: usize = 512;

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub pipeline: PathBuf,
    /// Overrides the pipeline's `[store] dir`.
    pub store: Option<PathBuf>,
    /// Fail (and write nothing) when any source is skipped.
    pub strict: bool,
    /// Point `current` at the new snapshot when it is complete.
    pub publish: bool,
    /// Reprocess every document: reuse nothing from the parent, read nothing from the
    /// embedding cache (new vectors are still added to it).
    pub full: bool,
    /// Build a new snapshot even when sources, config and model are unchanged, and publish it
    /// even if `current` moved while it was built.
    pub force: bool,
    /// How long to wait for another writer to release the store lock.
    pub wait: Duration,
}

/// How much of the parent snapshot an incremental build reused.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IncrementalReport {
    /// Why nothing was reused from the parent (no parent, config or model changed, `--full`).
    pub no_reuse_reason: Option<String>,
    /// Documents compared with the parent snapshot.
    pub documents_added: u64,
    pub documents_changed: u64,
    pub documents_deleted: u64,
    pub documents_unchanged: u64,
    /// Documents whose chunks and vectors were copied from the parent.
    pub documents_reused: u64,
    /// Documents loaded, chunked and embedded in this build.
    pub documents_processed: u64,
    pub chunks_reused: u64,
    pub chunks_new: u64,
    pub embeddings_cached: u64,
    pub embeddings_computed: u64,
    pub cache_entries_torn: u64,
    /// Entries this build added to the embedding cache.
    pub cache_entries_added: u64,
}

/// What a build did; printed by the CLI (`--json` prints this structure).
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub snapshot: String,
    pub published: bool,
    /// True when nothing changed since the parent: no snapshot was written.
    pub up_to_date: bool,
    pub parent: Option<String>,
    pub store: PathBuf,
    pub model: ModelRecord,
    pub counts: Counts,
    pub incremental: IncrementalReport,
    pub skipped: Vec<Skipped>,
    /// Seconds per stage.
    pub timings: BTreeMap<String, f64>,
    pub embeddings_per_sec: f64,
}

/// The model record a manifest stores, from a loaded embedder.
pub(crate) fn model_record(embedder: &Embedder) -> Result<ModelRecord, PipelineError> {
    let info = embedder.info();
    Ok(ModelRecord {
        id: info.id.clone(),
        revision: info.revision.clone(),
        weights_sha256: embedder.weights_sha256()?,
        dim: info.dim,
        max_tokens: info.max_tokens,
        pooling: format!("{:?}", info.pooling).to_lowercase(),
        normalize: info.normalize,
    })
}

/// Identity of a model for reuse and cache keys.
pub(crate) fn model_identity(m: &ModelRecord) -> String {
    format!("{}@{}#{}", m.id, m.revision, m.weights_sha256)
}

/// SHA-256 of each file's bytes, streamed (memory does not follow file size). `None` when
/// the file is unreadable or over `max_file_bytes`: the loader reports why, without reading it.
pub(crate) fn hash_files(
    files: &[ragops_load::SourceFile],
    max_file_bytes: u64,
) -> Vec<Option<String>> {
    files
        .par_iter()
        .map(|f| {
            if f.size > max_file_bytes {
                return None;
            }
            ragops_core::sha256_file(&f.path).ok().map(|d| d.sha256)
        })
        .collect()
}

/// Documents of the parent that an incremental build copies, keyed by document id, with the
/// (possibly moved or touched) file's current path and mtime.
struct ReusePlan {
    docs: HashMap<String, SourceRecord>,
    parent_table: PathBuf,
}

pub fn build(opts: &BuildOptions, progress: &Progress) -> Result<BuildReport, PipelineError> {
    let pipeline = LoadedPipeline::load(&opts.pipeline)?;
    build_pipeline(&pipeline, opts, progress)
}

/// Builds an already loaded (possibly generated) pipeline; `opts.pipeline` only names it.
pub fn build_pipeline(
    pipeline: &LoadedPipeline,
    opts: &BuildOptions,
    progress: &Progress,
) -> Result<BuildReport, PipelineError> {
    let started = Instant::now();
    let cfg = &pipeline.config;
    let store_dir = opts.store.clone().unwrap_or_else(|| pipeline.store_dir());
    let store = Store::create(&store_dir)?;
    if cfg.store.private {
        store.make_private()?;
    }
    if !opts.wait.is_zero() {
        progress.info("waiting for the store lock");
    }
    let lock = store.lock_wait("ragops build", opts.wait)?;
    let cleaned = store.clean_staging(&lock)?;
    if cleaned > 0 {
        progress.info(&format!(
            "removed {cleaned} unfinished snapshot(s) left by an interrupted build or gc"
        ));
    }
    let parent = store.current()?;
    let parent_manifest = match &parent {
        Some(id) => Some(store.manifest(id)?),
        None => None,
    };
    let mut timings = BTreeMap::new();

    // Model first: a missing model should fail before any work is done.
    let t = Instant::now();
    let files = hub::resolve(
        &pipeline.model_ref(),
        &cfg.embedding.revision,
        &hub::cache_root(),
    )?;
    let embedder = Embedder::load(&files, cfg.embedding.max_tokens)?
        .with_max_batch_tokens(cfg.embedding.max_batch_tokens);
    let info = embedder.info().clone();
    let model = model_record(&embedder)?;
    let identity = model_identity(&model);
    let reuse_key = cfg.reuse_key(&identity);
    timings.insert("model_load".into(), t.elapsed().as_secs_f64());
    progress.info(&format!(
        "model {} ({}), dim {}, max {} tokens",
        model.id,
        &model.revision[..model.revision.len().min(12)],
        model.dim,
        model.max_tokens
    ));

    let (files_found, discovery_skipped) = ragops_load::discover(&cfg.sources, &pipeline.base_dir);
    for s in &discovery_skipped {
        progress.info(&format!("skipped {}: {}", s.path, s.reason));
    }
    if opts.strict && !discovery_skipped.is_empty() {
        return Err(PipelineError::Strict(discovery_skipped));
    }
    let t = Instant::now();
    let hashes = hash_files(&files_found, cfg.sources.max_file_bytes);
    timings.insert("hash".into(), t.elapsed().as_secs_f64());

    // Compare the walk with the parent: what can be copied, and is there anything to do?
    let mut incremental = IncrementalReport::default();
    let mut carried_skips = Vec::new();
    let mut reuse: Option<ReusePlan> = None;
    match &parent_manifest {
        None => incremental.no_reuse_reason = Some("no parent snapshot".into()),
        Some(_) if opts.full => incremental.no_reuse_reason = Some("--full".into()),
        Some(pm) if pm.reuse_key != reuse_key => {
            incremental.no_reuse_reason = Some(
                if pm.model.weights_sha256 != model.weights_sha256 || pm.model.id != model.id {
                    "the embedding model changed".into()
                } else {
                    "the chunking, enrichment or JSONL settings changed".into()
                },
            )
        }
        Some(pm) => {
            let pid = pm.id.clone();
            let intact = store.verify_file(&pid, CHUNKS_FILE)?;
            if !intact {
                progress.info(&format!(
                    "parent snapshot {pid}: {CHUNKS_FILE} fails its checksum; rebuilding everything"
                ));
                incremental.no_reuse_reason = Some(format!("parent {CHUNKS_FILE} is damaged"));
            } else {
                let (plan, skips) = plan_reuse(pm, &files_found, &hashes);
                carried_skips = skips;
                reuse = Some(ReusePlan {
                    docs: plan,
                    parent_table: store.snapshot_dir(&pid).join(CHUNKS_FILE),
                });
            }
        }
    }
    // Unchanged files keep their bad records (JSONL lines): --strict still refuses them.
    if opts.strict && !carried_skips.is_empty() {
        return Err(PipelineError::Strict(carried_skips));
    }
    let reused_files: HashSet<&str> = reuse
        .iter()
        .flat_map(|plan| plan.docs.keys().map(|id| file_of(id)))
        .collect();
    let to_process: Vec<ragops_load::SourceFile> = files_found
        .iter()
        .filter(|f| !reused_files.contains(f.id.as_str()))
        .cloned()
        .collect();

    if let Some(pm) = &parent_manifest {
        let unchanged_walk = source_files_unchanged(pm, &files_found, &hashes);
        if unchanged_walk
            && !opts.force
            && !opts.full
            && pm.config_hash == cfg.content_hash()
            && pm.reuse_key == reuse_key
        {
            progress.info(&format!(
                "up to date: sources, config and model match snapshot {} (use --force to rebuild)",
                pm.id
            ));
            return Ok(BuildReport {
                snapshot: pm.id.clone(),
                published: false,
                up_to_date: true,
                parent: parent.clone(),
                store: store_dir,
                model,
                counts: pm.counts.clone(),
                incremental: IncrementalReport {
                    documents_unchanged: pm.sources.len() as u64,
                    ..Default::default()
                },
                skipped: pm.skipped.clone(),
                timings,
                embeddings_per_sec: 0.0,
            });
        }
    }
    if let Some(plan) = &reuse {
        progress.info(&format!(
            "incremental: reusing {} document(s) of {}, processing {} file(s) of {}",
            plan.docs.len(),
            parent.as_deref().unwrap_or("?"),
            to_process.len(),
            files_found.len()
        ));
    }

    // The embedding cache of this model, shared by every snapshot of the store.
    let cache = EmbeddingCache::open(
        store.root(),
        &lock,
        &model_key(
            &model.id,
            &model.revision,
            &model.weights_sha256,
            model.max_tokens,
        ),
        &serde_json::to_value(&model).unwrap_or_default(),
        info.dim,
    )?;

    // Stream: waves of files are loaded and chunked (rayon) on one thread, embedded on another
    // and persisted on this one, connected by bounded queues, so memory depends on the wave
    // and batch sizes rather than on the corpus. Everything is written under staging/.
    let tokenizer = (cfg.chunking.unit == ChunkUnit::Tokens).then(|| embedder.sizing_tokenizer());
    let chunker = Chunker::new(
        &cfg.chunking,
        &cfg.chunking_hash(),
        tokenizer,
        cfg.chunking.fit_model.then_some(info.max_tokens),
        cfg.enrich
            .contextual_header
            .then_some(ragops_enrich::header as ragops_chunk::HeaderFn),
    )?;
    let writer = store.begin_snapshot(&lock, &cfg.content_hash())?;
    let segment = cache.segment_writer(writer.id())?;
    let stream = Stream {
        cfg,
        strict: opts.strict,
        chunker: &chunker,
        embedder: &embedder,
        cache: (!opts.full).then_some(&cache),
        segment: std::sync::Mutex::new(segment),
        progress,
    };
    let streamed = match stream.run(&to_process, reuse.as_ref(), writer.dir(), info.dim) {
        Ok(s) => s,
        Err(e) => {
            writer.abandon();
            return Err(e);
        }
    };
    let segment = stream
        .segment
        .into_inner()
        .map_err(|_| PipelineError::Usage("embedding thread panicked".into()))?;
    let added = segment.commit()?;
    let mut skipped = discovery_skipped;
    skipped.extend(streamed.skipped);
    skipped.extend(carried_skips);
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    if streamed.sources.is_empty() {
        writer.abandon();
        return Err(PipelineError::NoDocuments {
            pipeline: opts.pipeline.clone(),
            skipped: skipped.len(),
        });
    }
    let sources = streamed.sources;
    let source_files = source_file_records(&files_found, &hashes, &sources);
    incremental.documents_reused = streamed.reused_documents;
    incremental.documents_processed = sources.len() as u64 - streamed.reused_documents;
    incremental.chunks_reused = streamed.reused_chunks;
    incremental.chunks_new = streamed.chunks - streamed.reused_chunks;
    incremental.embeddings_cached = streamed.cached;
    incremental.embeddings_computed = streamed.computed;
    incremental.cache_entries_torn = cache.stats.torn.load(Ordering::Relaxed);
    incremental.cache_entries_added = added;
    if let Some(pm) = &parent_manifest {
        let before: HashMap<&str, &str> = pm
            .sources
            .iter()
            .map(|s| (s.id.as_str(), s.content_hash.as_str()))
            .collect();
        let after: HashSet<&str> = sources.iter().map(|s| s.id.as_str()).collect();
        for s in &sources {
            match before.get(s.id.as_str()) {
                None => incremental.documents_added += 1,
                Some(h) if *h != s.content_hash => incremental.documents_changed += 1,
                Some(_) => incremental.documents_unchanged += 1,
            }
        }
        incremental.documents_deleted =
            before.keys().filter(|id| !after.contains(**id)).count() as u64;
    } else {
        incremental.documents_added = sources.len() as u64;
    }
    let counts = Counts {
        documents: sources.len() as u64,
        chunks: streamed.chunks,
        tokens: streamed.tokens,
        skipped: skipped.len() as u64,
        truncated: streamed.truncated,
        reused_documents: incremental.documents_reused,
        reused_chunks: incremental.chunks_reused,
        embeddings_cached: incremental.embeddings_cached,
        embeddings_computed: incremental.embeddings_computed,
        cache_entries_torn: incremental.cache_entries_torn,
    };
    let embeddings_per_sec = streamed.computed as f64 / streamed.embed_secs.max(1e-9);
    timings.insert("reuse".into(), streamed.reuse_secs);
    timings.insert("load_chunk".into(), streamed.load_secs);
    timings.insert("embed".into(), streamed.embed_secs);
    timings.insert("persist".into(), streamed.persist_secs);
    timings.insert("total".into(), started.elapsed().as_secs_f64());
    let now = SystemTime::now();
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        id: String::new(),
        parent: parent.clone(),
        created_at: humantime::format_rfc3339_seconds(now).to_string(),
        created_unix: now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
        tool_version: TOOL_VERSION.to_string(),
        pipeline: display(&opts.pipeline),
        config: cfg.normalized_json(),
        config_hash: cfg.content_hash(),
        chunking_hash: cfg.chunking_hash(),
        model: model.clone(),
        sources,
        source_files,
        reuse_key,
        skipped: skipped.clone(),
        counts: counts.clone(),
        timings: timings.clone(),
        files: BTreeMap::new(),
    };
    let id = writer.finish(manifest)?;
    pause_point("before-publish");
    if opts.publish {
        // Compare-and-swap: publish only if `current` still names the parent this build
        // started from (a rollback during the build wins), unless --force.
        let expect = if opts.force {
            Expect::Any
        } else {
            Expect::Current(parent.clone())
        };
        let refs = store.refs_lock("ragops build")?;
        store.publish(&refs, &id, "build", &expect)?;
    }
    Ok(BuildReport {
        snapshot: id,
        published: opts.publish,
        up_to_date: false,
        parent,
        store: store_dir,
        model,
        counts,
        incremental,
        skipped,
        timings,
        embeddings_per_sec,
    })
}

/// The file a document id comes from (`file#record` for JSONL records).
fn file_of(doc_id: &str) -> &str {
    doc_id.split_once('#').map(|(f, _)| f).unwrap_or(doc_id)
}

/// Documents of unchanged files (same id, same bytes, loaded last time), plus the skip records
/// of those files (bad JSONL lines) so that they stay in the report.
fn plan_reuse(
    parent: &Manifest,
    files: &[ragops_load::SourceFile],
    hashes: &[Option<String>],
) -> (HashMap<String, SourceRecord>, Vec<Skipped>) {
    let before: HashMap<&str, &SourceFileRecord> = parent
        .source_files
        .iter()
        .map(|r| (r.id.as_str(), r))
        .collect();
    let mut same: HashMap<&str, &ragops_load::SourceFile> = HashMap::new();
    for (f, h) in files.iter().zip(hashes) {
        if let (Some(h), Some(r)) = (h, before.get(f.id.as_str())) {
            if *h == r.sha256 && r.documents > 0 {
                same.insert(f.id.as_str(), f);
            }
        }
    }
    let mut docs = HashMap::new();
    let mut paths: HashSet<String> = HashSet::new();
    for s in &parent.sources {
        if let Some(f) = same.get(file_of(&s.id)) {
            let mut s = s.clone();
            paths.insert(s.path.clone());
            s.path = f.display_path.clone();
            s.mtime = f.mtime;
            docs.insert(s.id.clone(), s);
        }
    }
    let skips = parent
        .skipped
        .iter()
        .filter(|s| {
            // JSONL line records are `path:line`.
            let file = match s.path.rsplit_once(':') {
                Some((f, line)) if line.chars().all(|c| c.is_ascii_digit()) => f,
                _ => s.path.as_str(),
            };
            paths.contains(file)
        })
        .cloned()
        .collect();
    (docs, skips)
}

/// Whether the walk found exactly the files of the parent, with the same bytes.
fn source_files_unchanged(
    parent: &Manifest,
    files: &[ragops_load::SourceFile],
    hashes: &[Option<String>],
) -> bool {
    let before: HashMap<&str, &SourceFileRecord> = parent
        .source_files
        .iter()
        .map(|r| (r.id.as_str(), r))
        .collect();
    before.len() == files.len()
        && !files.is_empty()
        && files.iter().zip(hashes).all(|(f, h)| {
            before
                .get(f.id.as_str())
                .is_some_and(|r| Some(&r.sha256) == h.as_ref() && r.path == f.display_path)
        })
}

fn source_file_records(
    files: &[ragops_load::SourceFile],
    hashes: &[Option<String>],
    sources: &[SourceRecord],
) -> Vec<SourceFileRecord> {
    let mut docs: HashMap<&str, u32> = HashMap::new();
    for s in sources {
        *docs.entry(file_of(&s.id)).or_default() += 1;
    }
    files
        .iter()
        .zip(hashes)
        .map(|(f, h)| SourceFileRecord {
            id: f.id.clone(),
            path: f.display_path.clone(),
            size: f.size,
            mtime: f.mtime,
            sha256: h.clone().unwrap_or_default(),
            documents: docs.get(f.id.as_str()).copied().unwrap_or(0),
        })
        .collect()
}

fn display(p: &Path) -> String {
    ragops_load::normalize_path(p)
        .to_string_lossy()
        .into_owned()
}

/// Most files loaded and chunked per wave.
const WAVE_FILES: usize = 16;
/// Most source bytes per wave (a wave holds at least one file, however large).
const WAVE_BYTES: u64 = 8 << 20;
/// Chunks tokenised and embedded together (their encodings are held until embedded).
const EMBED_SLICE: usize = 512;

/// Cuts the file list into waves of at most `WAVE_FILES` files and `WAVE_BYTES` bytes.
fn waves(files: &[ragops_load::SourceFile]) -> Vec<&[ragops_load::SourceFile]> {
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
/// Waves in flight between two stages.
const QUEUE_DEPTH: usize = 2;

struct Wave {
    /// Source files this wave covers.
    files: usize,
    sources: Vec<SourceRecord>,
    chunks: Vec<Chunk>,
    skipped: Vec<Skipped>,
}

struct Embedded {
    wave: Wave,
    vectors: Vec<f32>,
    truncated: usize,
}

#[derive(Default)]
struct Streamed {
    sources: Vec<SourceRecord>,
    skipped: Vec<Skipped>,
    chunks: u64,
    tokens: u64,
    truncated: u64,
    reused_documents: u64,
    reused_chunks: u64,
    cached: u64,
    computed: u64,
    reuse_secs: f64,
    load_secs: f64,
    embed_secs: f64,
    persist_secs: f64,
}

/// What the embedding thread counted.
#[derive(Default)]
struct EmbedStats {
    secs: f64,
    cached: u64,
    computed: u64,
}

struct Stream<'a> {
    cfg: &'a ragops_core::PipelineConfig,
    strict: bool,
    chunker: &'a Chunker,
    embedder: &'a Embedder,
    /// Where vectors are looked up first (`None` under `--full`).
    cache: Option<&'a EmbeddingCache>,
    /// Where computed vectors are added.
    segment: Mutex<SegmentWriter>,
    progress: &'a Progress,
}

impl Stream<'_> {
    /// Copies the reused documents' rows from the parent table, then loads, chunks, enriches,
    /// embeds and writes every other file; returns what the manifest needs.
    fn run(
        &self,
        files: &[ragops_load::SourceFile],
        reuse: Option<&ReusePlan>,
        dir: &Path,
        dim: usize,
    ) -> Result<Streamed, PipelineError> {
        let mut table = ChunkTableWriter::create(&dir.join(CHUNKS_FILE), dim)?;
        let mut fulltext = if self.cfg.index.fulltext {
            Some(FulltextWriter::create(&dir.join(FULLTEXT_DIR))?)
        } else {
            None
        };
        let mut out = Streamed::default();
        let reused_ids: HashSet<String> = reuse
            .map(|r| r.docs.keys().cloned().collect())
            .unwrap_or_default();
        let bar = self.progress.stage("build", files.len() as u64, "files");
        std::thread::scope(|scope| -> Result<(), PipelineError> {
            let (wave_tx, wave_rx) = std::sync::mpsc::sync_channel::<Wave>(QUEUE_DEPTH);
            let (emb_tx, emb_rx) = std::sync::mpsc::sync_channel::<Embedded>(QUEUE_DEPTH);
            let reused_ids = &reused_ids;
            let producer = scope.spawn(move || self.produce(files, reused_ids, wave_tx));
            let embedder = scope.spawn(move || self.embed(wave_rx, emb_tx));
            let mut files_done = 0u64;
            let write = || -> Result<(), PipelineError> {
                // Reused rows first, while the other threads load and embed the rest.
                if let Some(plan) = reuse {
                    let t = Instant::now();
                    let copied = copy_reused(plan, &mut table, fulltext.as_mut())?;
                    out.reused_chunks = copied.chunks;
                    out.tokens += copied.tokens;
                    out.reused_documents = copied.sources.len() as u64;
                    out.sources.extend(copied.sources);
                    out.reuse_secs = t.elapsed().as_secs_f64();
                    pause_point("after-reuse");
                }
                for e in emb_rx {
                    let t = Instant::now();
                    for (batch, vecs) in e
                        .wave
                        .chunks
                        .chunks(WRITE_BATCH)
                        .zip(e.vectors.chunks(WRITE_BATCH * dim))
                    {
                        table.write(batch, vecs)?;
                        if let Some(ft) = fulltext.as_mut() {
                            ft.add(batch)?;
                        }
                    }
                    out.persist_secs += t.elapsed().as_secs_f64();
                    out.tokens += e
                        .wave
                        .chunks
                        .iter()
                        .map(|c| c.token_count as u64)
                        .sum::<u64>();
                    out.truncated += e.truncated as u64;
                    files_done += e.wave.files as u64;
                    bar.set(files_done);
                    out.sources.extend(e.wave.sources);
                    out.skipped.extend(e.wave.skipped);
                    out.chunks += e.wave.chunks.len() as u64;
                }
                Ok(())
            };
            // The writer stops early on an error, which closes the queues and stops the others.
            let written = write();
            let produced = producer
                .join()
                .map_err(|_| PipelineError::Usage("loader thread panicked".into()))?;
            let embedded = embedder
                .join()
                .map_err(|_| PipelineError::Usage("embedding thread panicked".into()))?;
            out.load_secs = produced?;
            let stats = embedded?;
            out.embed_secs = stats.secs;
            out.cached = stats.cached;
            out.computed = stats.computed;
            written
        })?;
        out.chunks += out.reused_chunks;
        bar.finish(files.len() as u64);
        table.finish()?;
        pause_point("after-parquet");
        if let Some(ft) = fulltext {
            ft.finish()?;
        }
        out.sources.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Loads and chunks waves of files; returns the seconds spent.
    fn produce(
        &self,
        files: &[ragops_load::SourceFile],
        reused: &HashSet<String>,
        tx: std::sync::mpsc::SyncSender<Wave>,
    ) -> Result<f64, PipelineError> {
        let mut secs = 0.0;
        let mut seen = reused.clone();
        for (i, group) in waves(files).into_iter().enumerate() {
            let t = Instant::now();
            let loaded = ragops_load::load_all(group, &self.cfg.sources);
            let mut skipped = loaded.skipped;
            let mut documents = Vec::with_capacity(loaded.documents.len());
            for d in loaded.documents {
                if seen.insert(d.id.clone()) {
                    documents.push(d);
                } else {
                    skipped.push(Skipped::new(
                        &d.source_path,
                        format!("duplicate document id `{}`", d.id),
                    ));
                }
            }
            for s in &skipped {
                self.progress
                    .info(&format!("skipped {}: {}", s.path, s.reason));
            }
            if self.strict && !skipped.is_empty() {
                return Err(PipelineError::Strict(skipped));
            }
            let per_doc: Vec<Vec<Chunk>> = documents
                .par_iter()
                .map(|d| self.chunker.chunk(d))
                .collect::<Result<_, _>>()?;
            let sources = documents
                .iter()
                .zip(&per_doc)
                .map(|(d, c)| SourceRecord {
                    id: d.id.clone(),
                    path: d.source_path.clone(),
                    format: d.format.as_str().to_string(),
                    size: d.size,
                    mtime: d.mtime,
                    content_hash: d.content_hash.clone(),
                    chunks: c.len() as u32,
                })
                .collect();
            let mut chunks: Vec<Chunk> = per_doc.into_iter().flatten().collect();
            ragops_enrich::enrich(&mut chunks, &self.cfg.enrich);
            secs += t.elapsed().as_secs_f64();
            let wave = Wave {
                files: group.len(),
                sources,
                chunks,
                skipped,
            };
            if tx.send(wave).is_err() {
                break; // the consumer stopped on an error of its own
            }
            if i == 0 {
                pause_point("after-load");
            }
        }
        Ok(secs)
    }

    /// Embeds waves, looking each text up in the embedding cache first and adding what it
    /// computes; returns the time spent and the cache hits and misses.
    fn embed(
        &self,
        rx: std::sync::mpsc::Receiver<Wave>,
        tx: std::sync::mpsc::SyncSender<Embedded>,
    ) -> Result<EmbedStats, PipelineError> {
        let mut stats = EmbedStats::default();
        let dim = self.embedder.info().dim;
        for (i, mut wave) in rx.into_iter().enumerate() {
            let t = Instant::now();
            let mut vectors = vec![0f32; wave.chunks.len() * dim];
            let mut truncated = 0;
            for (s, slice) in wave.chunks.chunks_mut(EMBED_SLICE).enumerate() {
                let base = s * EMBED_SLICE;
                let mut missing = Vec::new();
                for (j, c) in slice.iter_mut().enumerate() {
                    let key = cache_key(&c.embed_text);
                    c.embed_key = Some(key);
                    match self.cache.and_then(|cache| cache.get(&key)) {
                        Some(hit) => {
                            c.token_count = hit.token_count;
                            truncated += hit.truncated as usize;
                            vectors[(base + j) * dim..(base + j + 1) * dim]
                                .copy_from_slice(&hit.vector);
                            c.embed_text = String::new();
                            stats.cached += 1;
                        }
                        None => missing.push(j),
                    }
                }
                if missing.is_empty() {
                    continue;
                }
                let texts: Vec<&str> = missing
                    .iter()
                    .map(|&j| slice[j].embed_text.as_str())
                    .collect();
                let out = self
                    .embedder
                    .embed(&texts, self.cfg.embedding.batch_size, |_| {})?;
                drop(texts);
                let mut segment = self
                    .segment
                    .lock()
                    .map_err(|_| PipelineError::Usage("cache writer poisoned".into()))?;
                for (k, &j) in missing.iter().enumerate() {
                    let c = &mut slice[j];
                    c.token_count = out.token_counts[k];
                    c.embed_text = String::new();
                    let entry = CachedEmbedding {
                        token_count: out.token_counts[k],
                        truncated: out.was_truncated[k],
                        vector: out.vectors[k].clone(),
                    };
                    if let Some(key) = &c.embed_key {
                        segment.add(key, &entry)?;
                    }
                    vectors[(base + j) * dim..(base + j + 1) * dim]
                        .copy_from_slice(&out.vectors[k]);
                }
                truncated += out.truncated;
                stats.computed += missing.len() as u64;
            }
            stats.secs += t.elapsed().as_secs_f64();
            if tx
                .send(Embedded {
                    wave,
                    vectors,
                    truncated,
                })
                .is_err()
            {
                break;
            }
            if i == 0 {
                pause_point("after-embed");
            }
        }
        Ok(stats)
    }
}

/// Rows copied from the parent snapshot.
struct Copied {
    sources: Vec<SourceRecord>,
    chunks: u64,
    tokens: u64,
}

/// Streams the parent's chunk table and writes the rows of reused documents, with their
/// current path and mtime. Reused documents' source records are rebuilt from their rows.
fn copy_reused(
    plan: &ReusePlan,
    table: &mut ChunkTableWriter,
    mut fulltext: Option<&mut FulltextWriter>,
) -> Result<Copied, PipelineError> {
    let mut copied = Copied {
        sources: plan.docs.values().cloned().collect(),
        chunks: 0,
        tokens: 0,
    };
    for batch in ChunkBatches::open(&plan.parent_table)? {
        let (chunks, vectors, dim) = batch?;
        let mut keep = Vec::new();
        let mut keep_vecs = Vec::new();
        for (c, v) in chunks.into_iter().zip(vectors.chunks(dim.max(1))) {
            if let Some(src) = plan.docs.get(&c.doc_id) {
                let mut c = c;
                c.source_path = src.path.clone();
                c.mtime = src.mtime;
                copied.tokens += c.token_count as u64;
                keep_vecs.extend_from_slice(v);
                keep.push(c);
            }
        }
        table.write(&keep, &keep_vecs)?;
        if let Some(ft) = fulltext.as_deref_mut() {
            ft.add(&keep)?;
        }
        copied.chunks += keep.len() as u64;
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64) -> ragops_load::SourceFile {
        ragops_load::SourceFile {
            path: PathBuf::from("x.md"),
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
