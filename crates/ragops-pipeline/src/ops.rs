//! Read-side and ref operations used by the CLI.

use std::path::{Path, PathBuf};

use ragops_core::LoadedPipeline;
use ragops_embed::{hub, Embedder};
use ragops_search::{Mode, SnapshotSearcher};
use ragops_store::{Manifest, Store};
use serde::Serialize;

use crate::PipelineError;

/// Pipeline used when `-p` is not given (relative to the working directory).
pub const DEFAULT_PIPELINE: &str = "pipelines/default.toml";

/// The store directory: `--store`, else the pipeline's `[store] dir` (the `-p` file, or
/// `pipelines/default.toml` when it exists), else `.ragops`.
pub fn resolve_store(
    pipeline: Option<&Path>,
    store: Option<&Path>,
) -> Result<PathBuf, PipelineError> {
    if let Some(s) = store {
        return Ok(s.to_path_buf());
    }
    if let Some(p) = pipeline {
        return Ok(LoadedPipeline::load(p)?.store_dir());
    }
    let default = Path::new(DEFAULT_PIPELINE);
    if default.is_file() {
        return Ok(LoadedPipeline::load(default)?.store_dir());
    }
    Ok(PathBuf::from(".ragops"))
}

/// Loads the model a snapshot was built with (same id and revision), so that queries are
/// embedded in the same space as the chunks.
pub fn load_embedder(manifest: &Manifest) -> Result<Embedder, PipelineError> {
    let files = hub::resolve(
        &manifest.model.id,
        &manifest.model.revision,
        &hub::cache_root(),
    )?;
    Ok(Embedder::load(&files, Some(manifest.model.max_tokens))?)
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub rank: usize,
    pub score: f32,
    pub chunk_id: String,
    pub doc_id: String,
    pub title: String,
    pub source_path: String,
    pub heading_path: Vec<String>,
    pub page: Option<u32>,
    pub start_char: u64,
    pub end_char: u64,
    pub bm25_rank: Option<usize>,
    pub vector_rank: Option<usize>,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    pub snapshot: String,
    pub mode: Mode,
    pub query: String,
    pub results: Vec<SearchResult>,
}

pub fn search(
    store_dir: &Path,
    snapshot: &str,
    query: &str,
    mode: Mode,
    k: usize,
) -> Result<SearchResults, PipelineError> {
    let store = Store::open(store_dir)?;
    let id = store.resolve(snapshot)?;
    let searcher = SnapshotSearcher::open(&store, &id)?;
    let qvec = if SnapshotSearcher::needs_vector(mode) {
        Some(load_embedder(&searcher.manifest)?.embed_query(query)?)
    } else {
        None
    };
    let hits = searcher.search(query, qvec.as_deref(), mode, k)?;
    let results = hits
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            let c = &searcher.table.chunks[h.row];
            SearchResult {
                rank: i + 1,
                score: h.score,
                chunk_id: c.id.clone(),
                doc_id: c.doc_id.clone(),
                title: c.title.clone(),
                source_path: c.source_path.clone(),
                heading_path: c.heading_path.clone(),
                page: c.page,
                start_char: c.start_char,
                end_char: c.end_char,
                bm25_rank: h.bm25_rank,
                vector_rank: h.vector_rank,
                text: c.text.clone(),
            }
        })
        .collect();
    Ok(SearchResults {
        snapshot: id,
        mode,
        query: query.to_string(),
        results,
    })
}

/// Points `current` at `target` (a snapshot id, prefix or tag), or, without a target, at the
/// parent of the current snapshot. Returns (previous, new).
pub fn rollback(
    store_dir: &Path,
    target: Option<&str>,
) -> Result<(Option<String>, String), PipelineError> {
    let store = Store::open(store_dir)?;
    let lock = store.lock("ragops snapshots rollback")?;
    let to = match target {
        Some(t) => store.resolve(t)?,
        None => {
            let current = store.resolve("current")?;
            let parent = store.manifest(&current)?.parent;
            parent.ok_or_else(|| {
                PipelineError::Usage(format!(
                    "current snapshot {current} has no parent to roll back to; name one (see `ragops snapshots list`)"
                ))
            })?
        }
    };
    // Check the target opens before making it live.
    store.manifest(&to)?;
    let bad = store.verify(&to)?;
    if !bad.is_empty() {
        return Err(PipelineError::Usage(format!(
            "snapshot {to} fails its checksums ({}); not rolling back to it",
            bad.join(", ")
        )));
    }
    let prev = store.publish(&lock, &to, "rollback")?;
    Ok((prev, to))
}

/// Tags a snapshot. Returns the resolved snapshot id.
pub fn tag(store_dir: &Path, snapshot: &str, name: &str) -> Result<String, PipelineError> {
    let store = Store::open(store_dir)?;
    let lock = store.lock("ragops snapshots tag")?;
    let id = store.resolve(snapshot)?;
    store.set_tag(&lock, name, &id)?;
    Ok(id)
}
