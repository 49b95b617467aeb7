//! `ragops build`.

use std::collections::BTreeMap;
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

    // Stream: waves of files are loaded and chunked (rayon) on one thread, embedded on another
    // and persisted on this one, connected by bounded queues, so memory depends on the wave
    // and batch sizes rather than on the corpus. Everything is written under staging/.
    let (files_found, discovery_skipped) = ragops_load::discover(&cfg.sources, &pipeline.base_dir);
    for s in &discovery_skipped {
        progress.info(&format!("skipped {}: {}", s.path, s.reason));
    }
    if opts.strict && !discovery_skipped.is_empty() {
        return Err(PipelineError::Strict(discovery_skipped));
    }
    let tokenizer = (cfg.chunking.unit == ChunkUnit::Tokens).then(|| embedder.sizing_tokenizer());
    let chunker = Chunker::new(
        &cfg.chunking,
        &cfg.chunking_hash(),
        tokenizer,
        Some(info.max_tokens),
        ragops_enrich::reserved_tokens(&cfg.enrich),
    )?;
    let writer = store.begin_snapshot(&lock, &cfg.content_hash())?;
    let stream = Stream {
        cfg,
        strict: opts.strict,
        chunker: &chunker,
        embedder: &embedder,
        progress,
    };
    let streamed = match stream.run(&files_found, writer.dir(), info.dim) {
        Ok(s) => s,
        Err(e) => {
            writer.abandon();
            return Err(e);
        }
    };
    let mut skipped = discovery_skipped;
    skipped.extend(streamed.skipped);
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    if streamed.sources.is_empty() {
        writer.abandon();
        return Err(PipelineError::NoDocuments {
            pipeline: opts.pipeline.clone(),
            skipped: skipped.len(),
        });
    }
    let sources = streamed.sources;
    let counts = Counts {
        documents: sources.len() as u64,
        chunks: streamed.chunks,
        tokens: streamed.tokens,
        skipped: skipped.len() as u64,
        truncated: streamed.truncated,
    };
    let embeddings_per_sec = counts.chunks as f64 / streamed.embed_secs.max(1e-9);
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
        embeddings_per_sec,
    })
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
    load_secs: f64,
    embed_secs: f64,
    persist_secs: f64,
}

struct Stream<'a> {
    cfg: &'a ragops_core::PipelineConfig,
    strict: bool,
    chunker: &'a Chunker,
    embedder: &'a Embedder,
    progress: &'a Progress,
}

impl Stream<'_> {
    /// Loads, chunks, enriches, embeds and writes every file; returns what the manifest needs.
    fn run(
        &self,
        files: &[ragops_load::SourceFile],
        dir: &Path,
        dim: usize,
    ) -> Result<Streamed, PipelineError> {
        let mut table = ChunkTableWriter::create(&dir.join(CHUNKS_FILE), dim)?;
        let mut fulltext = if self.cfg.index.fulltext {
            Some(FulltextWriter::create(&dir.join(FULLTEXT_DIR))?)
        } else {
            None
        };
        let bar = self.progress.stage("build", files.len() as u64, "files");
        let mut out = Streamed::default();
        std::thread::scope(|scope| -> Result<(), PipelineError> {
            let (wave_tx, wave_rx) = std::sync::mpsc::sync_channel::<Wave>(QUEUE_DEPTH);
            let (emb_tx, emb_rx) = std::sync::mpsc::sync_channel::<Embedded>(QUEUE_DEPTH);
            let producer = scope.spawn(move || self.produce(files, wave_tx));
            let embedder = scope.spawn(move || self.embed(wave_rx, emb_tx));
            let mut files_done = 0u64;
            let write = || -> Result<(), PipelineError> {
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
                    out.chunks += e.wave.chunks.len() as u64;
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
            out.embed_secs = embedded?;
            written
        })?;
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
        tx: std::sync::mpsc::SyncSender<Wave>,
    ) -> Result<f64, PipelineError> {
        let mut secs = 0.0;
        let mut seen = std::collections::HashSet::new();
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

    /// Embeds waves; returns the seconds spent.
    fn embed(
        &self,
        rx: std::sync::mpsc::Receiver<Wave>,
        tx: std::sync::mpsc::SyncSender<Embedded>,
    ) -> Result<f64, PipelineError> {
        let mut secs = 0.0;
        for (i, mut wave) in rx.into_iter().enumerate() {
            let t = Instant::now();
            let mut vectors = Vec::with_capacity(wave.chunks.len() * self.embedder.info().dim);
            let mut truncated = 0;
            for slice in wave.chunks.chunks_mut(EMBED_SLICE) {
                let texts: Vec<&str> = slice.iter().map(|c| c.embed_text.as_str()).collect();
                let out = self
                    .embedder
                    .embed(&texts, self.cfg.embedding.batch_size, |_| {})?;
                drop(texts);
                for (c, n) in slice.iter_mut().zip(&out.token_counts) {
                    c.token_count = *n;
                    c.embed_text = String::new();
                }
                truncated += out.truncated;
                vectors.extend(out.vectors.into_iter().flatten());
            }
            secs += t.elapsed().as_secs_f64();
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
        Ok(secs)
    }
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
