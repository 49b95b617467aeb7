//! `ragops search`.

use std::path::Path;

use ragops_core::{Mode, SnapshotId};
use ragops_search::{Filter, SearchHit, Searcher};
use ragops_store::Store;
use serde::{Deserialize, Serialize};

use crate::model::load_for_snapshot;
use crate::EngineError;

/// One result as reported: rank, score, the chunk's place and text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    pub rank: usize,
    pub score: f32,
    pub chunk_id: String,
    pub doc_id: String,
    pub title: String,
    pub source_path: String,
    pub heading_path: Vec<String>,
    /// First and last page of the chunk, for paginated sources (PDF).
    pub page_start: Option<u32>,
    pub page_end: Option<u32>,
    pub start_char: u64,
    pub end_char: u64,
    pub bm25_rank: Option<usize>,
    pub vector_rank: Option<usize>,
    /// ISO 639-1 language of the chunk (the `language` enrichment step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Key phrases of the chunk (the `keywords` step).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// The document's tenant (the `metadata` step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub text: String,
}

impl SearchResult {
    /// Hits in rank order, as reported (ranks from 1).
    pub fn ranked(hits: Vec<SearchHit>) -> Vec<SearchResult> {
        hits.into_iter()
            .enumerate()
            .map(|(i, h)| {
                let c = h.chunk;
                SearchResult {
                    rank: i + 1,
                    score: h.score,
                    chunk_id: c.id.to_string(),
                    doc_id: c.doc_id.to_string(),
                    title: c.title,
                    source_path: c.source_path,
                    heading_path: c.heading_path,
                    page_start: c.page_start,
                    page_end: c.page_end,
                    start_char: c.start_char,
                    end_char: c.end_char,
                    bm25_rank: h.bm25_rank,
                    vector_rank: h.vector_rank,
                    lang: h.meta.lang,
                    keywords: h.meta.keywords,
                    tenant: h.meta.tenant,
                    text: c.text,
                }
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    pub snapshot: SnapshotId,
    pub mode: Mode,
    pub query: String,
    /// How the vector list was found (vector and hybrid modes): `hnsw` (graph candidates,
    /// re-scored exactly) or `flat` (exact scan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector_search: Option<String>,
    /// The filter the rows were limited to, as parsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    pub results: Vec<SearchResult>,
}

/// Resolves and opens a snapshot for queries. A snapshot named through a ref (`current`, a
/// tag) that disappears while it is opened (a concurrent gc after the ref moved) is resolved
/// again, once.
pub(crate) fn open_searcher(store: &Store, name: &str) -> Result<Searcher, EngineError> {
    let id = store.resolve(name)?;
    match Searcher::open(store, &id) {
        Ok(s) => Ok(s),
        Err(e) => {
            let again = store.resolve(name)?;
            if again == id {
                return Err(e.into());
            }
            Ok(Searcher::open(store, &again)?)
        }
    }
}

/// The `k` best chunks of a snapshot for a query; `exact` forces the exact vector scan;
/// `filter` limits the rows searched.
pub fn search(
    store_dir: &Path,
    snapshot: &str,
    query: &str,
    mode: Mode,
    k: usize,
    exact: bool,
    filter: Option<&Filter>,
) -> Result<SearchResults, EngineError> {
    let store = Store::open(store_dir)?;
    // The query is embedded before the snapshot is opened: the model's load (its weights read
    // and copied) and the snapshot's mapped pages then never add up in the peak memory.
    let qvec = if Searcher::needs_vector(mode) {
        let manifest = store.manifest(&store.resolve(snapshot)?)?;
        Some((
            manifest.model.clone(),
            load_for_snapshot(&manifest)?.embed_query(query)?,
        ))
    } else {
        None
    };
    let mut searcher = open_searcher(&store, snapshot)?;
    searcher.set_exact(exact);
    searcher.set_filter(filter.cloned());
    let qvec = match qvec {
        // The ref moved to a snapshot of another model between the two reads: embed again.
        Some((model, _)) if model != searcher.manifest().model => {
            Some(load_for_snapshot(searcher.manifest())?.embed_query(query)?)
        }
        other => other.map(|(_, v)| v),
    };
    let hits = searcher.search(query, qvec.as_deref(), mode, k)?;
    let results = SearchResult::ranked(hits);
    Ok(SearchResults {
        snapshot: searcher.id().clone(),
        mode,
        query: query.to_string(),
        vector_search: Searcher::needs_vector(mode)
            .then(|| searcher.vector_method_where(exact, filter).to_string()),
        filter: filter.map(ToString::to_string),
        results,
    })
}
