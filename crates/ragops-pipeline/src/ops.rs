//! Read-side and ref operations used by the CLI.

use std::path::{Path, PathBuf};

use ragops_core::LoadedPipeline;
use ragops_embed::{hub, Embedder};
use ragops_search::{Mode, SnapshotSearcher};
use ragops_store::{Expect, Manifest, Store};
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

/// Loads the model a snapshot was built with (same id and revision) and checks that it is the
/// same model: the SHA-256 of its weights' bytes, its dimension, pooling and normalisation must
/// equal the manifest's. Queries are then embedded in the same space as the chunks.
pub fn load_embedder(manifest: &Manifest) -> Result<Embedder, PipelineError> {
    let files = hub::resolve(
        &manifest.model.id,
        &manifest.model.revision,
        &hub::cache_root(),
    )?;
    let embedder = Embedder::load(&files, Some(manifest.model.max_tokens))?;
    let found = crate::build::model_record(&embedder)?;
    let want = &manifest.model;
    let differs = [
        (found.weights_sha256 != want.weights_sha256, "weights"),
        (found.dim != want.dim, "dimension"),
        (found.pooling != want.pooling, "pooling"),
        (found.normalize != want.normalize, "normalisation"),
    ]
    .into_iter()
    .filter(|(d, _)| *d)
    .map(|(_, what)| what)
    .collect::<Vec<_>>();
    if !differs.is_empty() {
        return Err(PipelineError::ModelMismatch {
            snapshot: manifest.id.clone(),
            model: want.id.clone(),
            differs: differs.join(", "),
            expected: want.weights_sha256.clone(),
            found: found.weights_sha256,
        });
    }
    Ok(embedder)
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
    let (id, searcher) = open_searcher(&store, snapshot)?;
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

/// Resolves and opens a snapshot for queries. A snapshot named through a ref (`current`, a
/// tag) that disappears while it is opened (a concurrent gc after the ref moved) is resolved
/// again, once.
pub(crate) fn open_searcher(
    store: &Store,
    name: &str,
) -> Result<(String, SnapshotSearcher), PipelineError> {
    let id = store.resolve(name)?;
    match SnapshotSearcher::open(store, &id) {
        Ok(s) => Ok((id, s)),
        Err(e) => {
            let again = store.resolve(name)?;
            if again == id {
                return Err(e.into());
            }
            let s = SnapshotSearcher::open(store, &again)?;
            Ok((again, s))
        }
    }
}

/// Points `current` at `target` (a snapshot id, prefix or tag), or, without a target, at the
/// parent of the current snapshot. Returns (previous, new). Takes only the refs lock, so it
/// is never blocked by a running build; the target is verified first.
pub fn rollback(
    store_dir: &Path,
    target: Option<&str>,
) -> Result<(Option<String>, String), PipelineError> {
    let store = Store::open(store_dir)?;
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
    // Check the target before making it live (streaming; outside the refs lock).
    verified(&store, &to)?;
    let refs = store.refs_lock("ragops snapshots rollback")?;
    let prev = store.publish(&refs, &to, "rollback", &Expect::Any)?;
    Ok((prev, to))
}

/// Verifies a snapshot; an error naming every problem when it is not intact.
pub(crate) fn verified(store: &Store, id: &str) -> Result<(), PipelineError> {
    let report = store.verify(id)?;
    if report.ok {
        Ok(())
    } else {
        Err(PipelineError::Damaged {
            id: id.to_string(),
            problems: report.problems(),
        })
    }
}

/// Tags a snapshot (refs lock only). Returns the resolved snapshot id.
pub fn tag(store_dir: &Path, snapshot: &str, name: &str) -> Result<String, PipelineError> {
    let store = Store::open(store_dir)?;
    let id = store.resolve(snapshot)?;
    let refs = store.refs_lock("ragops snapshots tag")?;
    store.set_tag(&refs, name, &id)?;
    Ok(id)
}
