//! `ragops build`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use ragops_chunk::Chunker;
use ragops_core::{Chunk, ChunkUnit, LoadedPipeline, Skipped, TOOL_VERSION};
use ragops_embed::{hub, Embedder};
use ragops_store::{
    pause_point, ChunkTableWriter, Counts, FulltextWriter, Manifest, ModelRecord, SourceRecord,
    Store, CHUNKS_FILE, FORMAT_VERSION, FULLTEXT_DIR,
};
use rayon::prelude::*;
use serde::Serialize;

use crate::{PipelineError, Progress};

/// Rows per Parquet row group / tantivy batch.
const WRITE_BATCH: usize = 4096;

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub pipeline: PathBuf,
    /// Overrides the pipeline's `[store] dir`.
    pub store: Option<PathBuf>,
    /// Fail (and write nothing) when any source is skipped.
    pub strict: bool,
    /// Point `current` at the new snapshot when it is complete.
    pub publish: bool,
}

/// What a build did; printed by the CLI (`--json` prints this structure).
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub snapshot: String,
    pub published: bool,
    pub parent: Option<String>,
    pub store: PathBuf,
    pub model: ModelRecord,
    pub counts: Counts,
    pub skipped: Vec<Skipped>,
    /// Seconds per stage.
    pub timings: BTreeMap<String, f64>,
    pub embeddings_per_sec: f64,
}

pub fn build(opts: &BuildOptions, progress: &Progress) -> Result<BuildReport, PipelineError> {
    let started = Instant::now();
    let pipeline = LoadedPipeline::load(&opts.pipeline)?;
    let cfg = &pipeline.config;
    let store_dir = opts.store.clone().unwrap_or_else(|| pipeline.store_dir());
    let store = Store::create(&store_dir)?;
    let lock = store.lock("ragops build")?;
    let cleaned = store.clean_staging(&lock)?;
    if cleaned > 0 {
        progress.info(&format!(
            "removed {cleaned} unfinished snapshot(s) left by an interrupted build"
        ));
    }
    let parent = store.current()?;
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
    let model = ModelRecord {
        id: info.id.clone(),
        revision: info.revision.clone(),
        weights_sha256: embedder.weights_sha256()?,
        dim: info.dim,
        max_tokens: info.max_tokens,
        pooling: format!("{:?}", info.pooling).to_lowercase(),
        normalize: info.normalize,
    };
    timings.insert("model_load".into(), t.elapsed().as_secs_f64());
    progress.info(&format!(
        "model {} ({}), dim {}, max {} tokens",
        model.id,
        &model.revision[..model.revision.len().min(12)],
        model.dim,
        model.max_tokens
    ));

    // Load.
    let t = Instant::now();
    let (files_found, mut skipped) = ragops_load::discover(&cfg.sources, &pipeline.base_dir);
    let bar = progress.stage("load", files_found.len() as u64, "files");
    let loaded = ragops_load::load_all(&files_found, &cfg.sources);
    bar.finish(files_found.len() as u64);
    skipped.extend(loaded.skipped);
    let documents = loaded.documents;
    timings.insert("load".into(), t.elapsed().as_secs_f64());
    for s in &skipped {
        progress.info(&format!("skipped {}: {}", s.path, s.reason));
    }
    if opts.strict && !skipped.is_empty() {
        return Err(PipelineError::Strict(skipped));
    }
    if documents.is_empty() {
        return Err(PipelineError::NoDocuments {
            pipeline: opts.pipeline.clone(),
            skipped: skipped.len(),
        });
    }
    pause_point("after-load");

    // Chunk + enrich.
    let t = Instant::now();
    let tokenizer = (cfg.chunking.unit == ChunkUnit::Tokens).then(|| embedder.sizing_tokenizer());
    let chunker = Chunker::new(
        &cfg.chunking,
        &cfg.chunking_hash(),
        tokenizer,
        Some(info.max_tokens),
        ragops_enrich::reserved_tokens(&cfg.enrich),
    )?;
    let bar = progress.stage("chunk", documents.len() as u64, "documents");
    let per_doc: Vec<Vec<Chunk>> = documents
        .par_iter()
        .map(|d| chunker.chunk(d))
        .collect::<Result<_, _>>()?;
    bar.finish(documents.len() as u64);
    let mut chunks: Vec<Chunk> = per_doc.into_iter().flatten().collect();
    ragops_enrich::enrich(&mut chunks, &cfg.enrich);
    timings.insert("chunk".into(), t.elapsed().as_secs_f64());

    // Embed.
    let t = Instant::now();
    let bar = progress.stage("embed", chunks.len() as u64, "chunks");
    let texts: Vec<&str> = chunks.iter().map(|c| c.embed_text.as_str()).collect();
    let out = embedder.embed(&texts, cfg.embedding.batch_size, |done| {
        bar.set(done as u64)
    })?;
    let embed_secs = bar.finish(chunks.len() as u64);
    drop(texts);
    for (c, n) in chunks.iter_mut().zip(&out.token_counts) {
        c.token_count = *n;
    }
    timings.insert("embed".into(), t.elapsed().as_secs_f64());
    pause_point("after-embed");

    // Persist into staging.
    let t = Instant::now();
    let writer = store.begin_snapshot(&lock, &cfg.content_hash())?;
    let mut table = ChunkTableWriter::create(&writer.dir().join(CHUNKS_FILE), info.dim)?;
    for (batch, vecs) in chunks
        .chunks(WRITE_BATCH)
        .zip(out.vectors.chunks(WRITE_BATCH))
    {
        let flat: Vec<f32> = vecs.iter().flatten().copied().collect();
        table.write(batch, &flat)?;
    }
    table.finish()?;
    pause_point("after-parquet");
    if cfg.index.fulltext {
        let mut ft = FulltextWriter::create(&writer.dir().join(FULLTEXT_DIR))?;
        for batch in chunks.chunks(WRITE_BATCH) {
            ft.add(batch)?;
        }
        ft.finish()?;
    }
    let mut per_doc_chunks: HashMap<&str, u32> = HashMap::new();
    for c in &chunks {
        *per_doc_chunks.entry(c.doc_id.as_str()).or_default() += 1;
    }
    let sources: Vec<SourceRecord> = documents
        .iter()
        .map(|d| SourceRecord {
            id: d.id.clone(),
            path: d.source_path.clone(),
            format: d.format.as_str().to_string(),
            size: d.size,
            mtime: d.mtime,
            content_hash: d.content_hash.clone(),
            chunks: per_doc_chunks.get(d.id.as_str()).copied().unwrap_or(0),
        })
        .collect();
    let counts = Counts {
        documents: documents.len() as u64,
        chunks: chunks.len() as u64,
        tokens: out.token_counts.iter().map(|&n| n as u64).sum(),
        skipped: skipped.len() as u64,
        truncated: out.truncated as u64,
    };
    timings.insert("persist".into(), t.elapsed().as_secs_f64());
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
        skipped: skipped.clone(),
        counts: counts.clone(),
        timings: timings.clone(),
        files: BTreeMap::new(),
    };
    let id = writer.finish(manifest)?;
    pause_point("before-publish");
    if opts.publish {
        store.publish(&lock, &id, "build")?;
    }
    Ok(BuildReport {
        snapshot: id,
        published: opts.publish,
        parent,
        store: store_dir,
        model,
        counts,
        skipped,
        timings,
        embeddings_per_sec: chunks.len() as f64 / embed_secs.max(1e-9),
    })
}

fn display(p: &Path) -> String {
    ragops_load::normalize_path(p)
        .to_string_lossy()
        .into_owned()
}
