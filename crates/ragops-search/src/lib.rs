//! Retrieval over one snapshot: BM25 (tantivy), vector (cosine over the memory-mapped vectors:
//! candidates from each fragment's HNSW graph when it has one, else the exact scan) and hybrid
//! (reciprocal rank fusion of both lists). Opening a snapshot reads its manifest and, per
//! fragment, the chunk table's footer and page index and its deletion vector, and maps its
//! vectors and graph: no table is read into memory. A snapshot's rows are numbered across its
//! fragments in manifest order; masked rows are never returned. Hits carry their chunk,
//! fetched by row number for the top k only.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, OnceLock};

mod filter;

pub use ragops_core::filter::Filter;
pub use ragops_core::Mode;
use ragops_core::{Chunk, ChunkId, ChunkMeta, ChunkRow, SnapshotId};
use ragops_store::{
    search_parts, AnnIndex, ChunkRows, Fragment, FulltextIndex, FulltextPart, Manifest, RowSet,
    Snapshot, Store, StoreError, Vectors,
};

use crate::filter::FilterColumns;

/// Reciprocal rank fusion constant (Cormack et al., 2009).
pub const RRF_K: f32 = 60.0;

/// Most results one query returns; larger `k` values are cut to it.
pub const MAX_K: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("snapshot {0} has no full-text index (built with [index] fulltext = false)")]
    NoFulltext(SnapshotId),
    #[error("{0} search needs a query vector")]
    NoQueryVector(&'static str),
    #[error("query vector has dimension {got}, the snapshot's vectors have {want}")]
    Dimension { got: usize, want: usize },
}

/// A row of the chunk table with its score, as the fusion works on them.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub row: usize,
    /// Cosine similarity (vector), BM25 score (bm25) or fused RRF score (hybrid).
    pub score: f32,
    pub bm25_rank: Option<usize>,
    pub vector_rank: Option<usize>,
}

/// One result: a chunk with its score and the ranks it had in each list.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub chunk: Chunk,
    /// What enrichment added to the chunk (language...).
    pub meta: ChunkMeta,
    /// Cosine similarity (vector), BM25 score (bm25) or fused RRF score (hybrid).
    pub score: f32,
    pub bm25_rank: Option<usize>,
    pub vector_rank: Option<usize>,
}

/// One fragment opened for queries.
struct Part {
    fragment: Fragment,
    rows: ChunkRows,
    vectors: Vectors,
    /// The HNSW graph, opened by the first vector query (BM25 queries never map it).
    ann: OnceLock<Option<AnnIndex>>,
    ef_search: usize,
    fulltext: Option<FulltextIndex>,
    /// Snapshot row of this fragment's first row.
    offset: usize,
    /// Chunk id → row, for full-text indexes written before they recorded rows (built on
    /// first use from the chunk-id column only).
    by_id: OnceLock<HashMap<ChunkId, usize>>,
    /// The columns filters read, decoded on first use.
    columns: FilterColumns,
}

/// The rows of each part a query's filter admits (`None`: no filter).
type Admitted = Option<Vec<Arc<RowSet>>>;

impl Part {
    fn alive(&self, row: usize) -> bool {
        !self.fragment.is_deleted(row)
    }

    /// Live and admitted by the query's filter (`allowed`, when there is one).
    fn wanted(&self, row: usize, allowed: Option<&RowSet>) -> bool {
        self.alive(row) && allowed.is_none_or(|a| a.contains(row))
    }

    /// The fragment's graph, if it has one, opened on first use.
    fn ann(&self) -> Result<Option<&AnnIndex>, SearchError> {
        if let Some(a) = self.ann.get() {
            return Ok(a.as_ref());
        }
        let opened = self.fragment.ann(&self.vectors, self.ef_search)?;
        Ok(self.ann.get_or_init(|| opened).as_ref())
    }
}

/// A snapshot opened for queries.
pub struct Searcher {
    snapshot: Snapshot,
    parts: Vec<Part>,
    dim: usize,
    /// Ignore the graphs: every vector query scans all rows.
    exact: bool,
    /// The filter of [`Searcher::search`] (set with [`Searcher::set_filter`]).
    filter: Option<Filter>,
    /// The admitted rows of the last few filters, newest last: a server's tenants and an
    /// evaluation's one filter are decoded once, not per query.
    admitted_cache: std::sync::Mutex<Vec<(Filter, Vec<Arc<RowSet>>)>>,
}

/// Filters whose admitted rows a searcher keeps.
const ADMITTED_CACHE: usize = 16;

impl Searcher {
    pub fn open(store: &Store, id: &SnapshotId) -> Result<Self, SearchError> {
        let snapshot = store.snapshot(id)?;
        let ef = snapshot.ef_search();
        let mut parts = Vec::new();
        let mut offset = 0;
        for fragment in snapshot.fragments()? {
            let rows = fragment.rows()?;
            let vectors = fragment.vectors(&rows)?;
            let fulltext = fragment.fulltext()?;
            let n = rows.len();
            parts.push(Part {
                fragment,
                rows,
                vectors,
                ann: OnceLock::new(),
                ef_search: ef,
                fulltext,
                offset,
                by_id: OnceLock::new(),
                columns: FilterColumns::default(),
            });
            offset += n;
        }
        let dim = parts
            .iter()
            .map(|p| p.vectors.dim())
            .find(|&d| d > 0)
            .unwrap_or(snapshot.manifest().model.dim);
        Ok(Self {
            snapshot,
            parts,
            dim,
            exact: false,
            filter: None,
            admitted_cache: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Opens every fragment's graph and maps all pages of the vectors and graphs into the
    /// process, for a long-running reader (a server): its first queries then cost what later
    /// ones do instead of a page fault per row they touch. A pass over those files (about
    /// 0.75 s for a million rows); one-shot searches skip it and open in milliseconds.
    pub fn warm(&self) -> Result<(), SearchError> {
        for p in &self.parts {
            p.vectors.warm();
            if let Some(ann) = p.ann()? {
                ann.warm();
            }
        }
        Ok(())
    }

    /// The filter every [`Searcher::search`] applies (none by default).
    pub fn set_filter(&mut self, filter: Option<Filter>) {
        self.filter = filter;
    }

    /// The rows of each fragment `filter` admits, from the cache when it was seen lately.
    fn admitted(&self, filter: &Filter) -> Result<Vec<Arc<RowSet>>, SearchError> {
        if let Ok(cache) = self.admitted_cache.lock() {
            if let Some((_, a)) = cache.iter().find(|(f, _)| f == filter) {
                return Ok(a.clone());
            }
        }
        let a: Vec<Arc<RowSet>> = self
            .parts
            .iter()
            .map(|p| p.columns.admitted(&p.rows, filter).map(Arc::new))
            .collect::<Result<_, _>>()?;
        if let Ok(mut cache) = self.admitted_cache.lock() {
            if cache.len() >= ADMITTED_CACHE {
                cache.remove(0);
            }
            cache.push((filter.clone(), a.clone()));
        }
        Ok(a)
    }

    pub fn id(&self) -> &SnapshotId {
        self.snapshot.id()
    }

    pub fn manifest(&self) -> &Manifest {
        self.snapshot.manifest()
    }

    /// Fragments the snapshot reads.
    pub fn fragments(&self) -> usize {
        self.parts.len()
    }

    /// Forces the exact scan for vector queries (the graphs are otherwise used when present).
    pub fn set_exact(&mut self, exact: bool) {
        self.exact = exact;
    }

    /// How vector queries run: `"hnsw"` (graph candidates, re-scored exactly, in at least one
    /// fragment) or `"flat"` (the exact scan everywhere).
    pub fn vector_method(&self) -> &'static str {
        self.vector_method_with(self.exact)
    }

    /// How a vector query with the exact scan forced or not, under `filter`, runs: `"flat"`
    /// too when the filter admits so few rows of every fragment with a graph that they are
    /// scanned instead.
    pub fn vector_method_where(&self, exact: bool, filter: Option<&Filter>) -> &'static str {
        let method = self.vector_method_with(exact);
        let Some(f) = filter.filter(|_| method == "hnsw") else {
            return method;
        };
        match self.admitted(f) {
            Ok(sets) => {
                let walks = self
                    .parts
                    .iter()
                    .zip(&sets)
                    .any(|(p, a)| p.fragment.has_graph() && a.count() > FILTER_SCAN_ROWS);
                if walks {
                    "hnsw"
                } else {
                    "flat"
                }
            }
            Err(_) => method,
        }
    }

    /// How a vector query with the exact scan forced or not runs (see `vector_method`).
    pub fn vector_method_with(&self, exact: bool) -> &'static str {
        if !exact && self.parts.iter().any(|p| p.fragment.has_graph()) {
            "hnsw"
        } else {
            "flat"
        }
    }

    /// Whether `mode` needs the query embedded.
    pub fn needs_vector(mode: Mode) -> bool {
        mode != Mode::Bm25
    }

    /// The index of the part holding snapshot row `row`, and the row's number in it.
    fn locate(&self, row: usize) -> Option<(usize, usize)> {
        let i = self
            .parts
            .partition_point(|p| p.offset <= row)
            .checked_sub(1)?;
        let p = &self.parts[i];
        (row - p.offset < p.rows.len()).then_some((i, row - p.offset))
    }

    /// The `k` best chunks for a query in `mode` (`query_vector` for vector and hybrid), over
    /// the rows the searcher's filter admits.
    pub fn search(
        &self,
        query: &str,
        query_vector: Option<&[f32]>,
        mode: Mode,
        k: usize,
    ) -> Result<Vec<SearchHit>, SearchError> {
        self.search_where(
            query,
            query_vector,
            mode,
            k,
            self.exact,
            self.filter.as_ref(),
        )
    }

    /// [`Searcher::search`] with the exact scan forced or not for this query alone (a shared
    /// searcher serving concurrent requests).
    pub fn search_with(
        &self,
        query: &str,
        query_vector: Option<&[f32]>,
        mode: Mode,
        k: usize,
        exact: bool,
    ) -> Result<Vec<SearchHit>, SearchError> {
        self.search_where(query, query_vector, mode, k, exact, None)
    }

    /// [`Searcher::search_with`] over the rows `filter` admits: every list (BM25, the graph
    /// walk, the exact scan) skips the others before its top-k, so a filtered query returns k
    /// hits whenever k rows match.
    pub fn search_where(
        &self,
        query: &str,
        query_vector: Option<&[f32]>,
        mode: Mode,
        k: usize,
        exact: bool,
        filter: Option<&Filter>,
    ) -> Result<Vec<SearchHit>, SearchError> {
        let admitted: Admitted = filter.map(|f| self.admitted(f)).transpose()?;
        let ranked = self.rank(query, query_vector, mode, k, exact, &admitted)?;
        // One fetch per fragment, then back in rank order.
        let mut wanted: Vec<Vec<usize>> = vec![Vec::new(); self.parts.len()];
        for (i, local) in ranked.iter().filter_map(|r| self.locate(r.row)) {
            wanted[i].push(local);
        }
        let mut fetched: HashMap<usize, ChunkRow> = HashMap::new();
        for (p, local) in self.parts.iter().zip(&wanted) {
            if local.is_empty() {
                continue;
            }
            for (l, row) in local.iter().zip(p.rows.fetch(local)?) {
                fetched.insert(p.offset + l, row);
            }
        }
        Ok(ranked
            .into_iter()
            .filter_map(|r| {
                fetched.remove(&r.row).map(|row| SearchHit {
                    chunk: row.chunk,
                    meta: row.meta,
                    score: r.score,
                    bm25_rank: r.bm25_rank,
                    vector_rank: r.vector_rank,
                })
            })
            .collect())
    }

    fn rank(
        &self,
        query: &str,
        query_vector: Option<&[f32]>,
        mode: Mode,
        k: usize,
        exact: bool,
        admitted: &Admitted,
    ) -> Result<Vec<Ranked>, SearchError> {
        let k = k.clamp(1, MAX_K);
        let depth = k.saturating_mul(4).max(50);
        let mut hits = match mode {
            Mode::Bm25 => self
                .bm25(query, k, admitted)?
                .into_iter()
                .enumerate()
                .map(|(r, (row, score))| Ranked {
                    row,
                    score,
                    bm25_rank: Some(r + 1),
                    vector_rank: None,
                })
                .collect(),
            Mode::Vector => {
                let v = query_vector.ok_or(SearchError::NoQueryVector("vector"))?;
                self.vector(v, k, exact, admitted)?
                    .into_iter()
                    .enumerate()
                    .map(|(r, (row, score))| Ranked {
                        row,
                        score,
                        bm25_rank: None,
                        vector_rank: Some(r + 1),
                    })
                    .collect()
            }
            Mode::Hybrid => {
                let v = query_vector.ok_or(SearchError::NoQueryVector("hybrid"))?;
                let lexical = self.bm25(query, depth, admitted)?;
                let semantic = self.vector(v, depth, exact, admitted)?;
                rrf(&lexical, &semantic)
            }
        };
        hits.truncate(k);
        Ok(hits)
    }

    /// BM25 over every fragment with global statistics: the scores one index of the live
    /// rows would give. Returns snapshot rows.
    fn bm25(
        &self,
        query: &str,
        limit: usize,
        admitted: &Admitted,
    ) -> Result<Vec<(usize, f32)>, SearchError> {
        let mut parts = Vec::with_capacity(self.parts.len());
        let mut owners = Vec::with_capacity(self.parts.len());
        for (i, p) in self.parts.iter().enumerate() {
            if let Some(index) = &p.fulltext {
                parts.push(FulltextPart {
                    index,
                    deletions: p.fragment.deletions(),
                    allowed: admitted.as_ref().map(|a| &a[i]),
                    deleted_tokens: p.fragment.deleted_tokens(),
                });
                owners.push((i, p));
            }
        }
        if parts.is_empty() && !self.parts.is_empty() {
            return Err(SearchError::NoFulltext(self.id().clone()));
        }
        let hits = search_parts(&parts, query, limit)?;
        let mut out = Vec::with_capacity(hits.len());
        for (i, h) in hits {
            let (pi, p) = owners[i];
            let allowed = admitted.as_ref().map(|a| a[pi].as_ref());
            let local = match h.row.filter(|&r| r < p.rows.len()) {
                Some(r) => Some(r),
                None => {
                    let by_id = match p.by_id.get() {
                        Some(m) => m,
                        None => {
                            let ids = p.rows.chunk_ids()?;
                            let map = ids.into_iter().enumerate().map(|(i, id)| (id, i)).collect();
                            p.by_id.get_or_init(|| map)
                        }
                    };
                    by_id.get(&h.chunk_id).copied()
                }
            };
            if let Some(r) = local.filter(|&r| p.wanted(r, allowed)) {
                out.push((p.offset + r, h.score));
            }
        }
        Ok(out)
    }

    /// The `limit` live rows nearest `q` over every fragment (snapshot rows, best first; ties:
    /// lower row first).
    fn vector(
        &self,
        q: &[f32],
        limit: usize,
        exact: bool,
        admitted: &Admitted,
    ) -> Result<Vec<(usize, f32)>, SearchError> {
        if q.len() != self.dim {
            return Err(SearchError::Dimension {
                got: q.len(),
                want: self.dim,
            });
        }
        let mut all = Vec::new();
        for (i, p) in self.parts.iter().enumerate() {
            if p.vectors.rows() == 0 {
                continue;
            }
            let allowed = admitted.as_ref().map(|a| a[i].as_ref());
            // A filter admitting few rows is answered by scanning them: a graph walk that
            // must skip nearly every node would find fewer than `limit`.
            let selective = allowed.is_some_and(|a| a.count() <= FILTER_SCAN_ROWS);
            let graph = if exact || selective { None } else { p.ann()? };
            let local = match graph {
                Some(ann) => {
                    // The graph's candidate list (at least ef_search long) and the rows the
                    // graph cannot reach, re-scored with the f32 vectors: the scores are
                    // exact, only the candidate set is approximate. A filter is applied
                    // inside the walk (usearch's filtered search), not to its results.
                    let want = limit.max(ann.ef_search());
                    let masked = p.fragment.deletions().is_some() || allowed.is_some();
                    let rows = if masked {
                        ann.candidates_where(q, want, |r| p.wanted(r, allowed))?
                    } else {
                        ann.candidates(q, want)?
                    };
                    let unreached = ann.unreached();
                    let extra = unreached.filter(|&(r, _)| !masked || p.wanted(r, allowed));
                    rescore(&p.vectors, q, rows, extra, limit)
                }
                _ => {
                    let keep = |r: usize| p.wanted(r, allowed);
                    let mask: Option<&(dyn Fn(usize) -> bool + Sync)> =
                        (p.fragment.deletions().is_some() || allowed.is_some())
                            .then_some(&keep as _);
                    exact_top_in_blocks(p.vectors.as_slice(), self.dim, q, limit, SCAN_BLOCK, mask)
                }
            };
            all.extend(local.into_iter().map(|(r, s)| (p.offset + r, s)));
        }
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(limit);
        Ok(all)
    }
}

/// Cosine of each candidate row with `q`, and of each `extra` row with `q` from the vector
/// given with it, best first (ties: lower row first, a row once), cut to `limit`; the same
/// scores as [`exact_top`] gives those rows. Rows out of range are dropped.
fn rescore<'a>(
    vectors: &Vectors,
    q: &[f32],
    rows: Vec<usize>,
    extra: impl Iterator<Item = (usize, &'a [f32])>,
    limit: usize,
) -> Vec<(usize, f32)> {
    let qn = norm(q);
    let n = vectors.rows();
    let mut scored: Vec<(usize, f32)> = rows
        .into_iter()
        .filter(|&r| r < n)
        .map(|r| (r, cosine(vectors.row(r), q, qn)))
        .chain(extra.map(|(r, v)| (r, cosine(v, q, qn))))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.dedup_by_key(|x| x.0);
    scored.truncate(limit);
    scored
}

fn norm(q: &[f32]) -> f32 {
    q.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12)
}

/// Cosine similarity of `v` with `q`, whose norm is `qn`.
fn cosine(v: &[f32], q: &[f32], qn: f32) -> f32 {
    let (dot, vn) = dot_and_norm(v, q);
    dot / (qn * vn.sqrt().max(1e-12))
}

/// A scored row ordered so that the heap's top is the worst kept: lowest score, then highest
/// row (ties keep the lower row, as a full sort by score then row would).
#[derive(PartialEq)]
struct Worst(f32, usize);

impl Eq for Worst {}

impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

/// Dot product of `v` with `q` and the squared norm of `v`, with eight independent sums so the
/// compiler vectorises the loop (AVX2/AVX-512 on x86-64) without reassociating floats.
fn dot_and_norm(v: &[f32], q: &[f32]) -> (f32, f32) {
    let (mut dot, mut norm) = ([0.0f32; 8], [0.0f32; 8]);
    let (vc, qc) = (v.chunks_exact(8), q.chunks_exact(8));
    let (vr, qr) = (vc.remainder(), qc.remainder());
    for (a, b) in vc.zip(qc) {
        for i in 0..8 {
            dot[i] += a[i] * b[i];
            norm[i] += a[i] * a[i];
        }
    }
    let (mut d, mut n): (f32, f32) = (dot.iter().sum(), norm.iter().sum());
    for (a, b) in vr.iter().zip(qr) {
        d += a * b;
        n += a * a;
    }
    (d, n)
}

/// A filter admitting at most this many rows of a fragment is answered by the exact scan of
/// those rows instead of the graph.
const FILTER_SCAN_ROWS: usize = 20_000;

/// Rows per block of the exact scan (each block keeps its own top list; blocks run on the rayon
/// pool).
const SCAN_BLOCK: usize = 32 * 1024;

/// The `limit` rows of `vectors` (row-major, `dim` values each) most cosine-similar to `q`,
/// best first (ties: lower row first). Memory is bounded by `limit` per block.
pub fn exact_top(vectors: &[f32], dim: usize, q: &[f32], limit: usize) -> Vec<(usize, f32)> {
    exact_top_in_blocks(vectors, dim, q, limit, SCAN_BLOCK, None)
}

/// [`exact_top`] in blocks of `block_rows`, over the rows `alive` accepts (all without it).
fn exact_top_in_blocks(
    vectors: &[f32],
    dim: usize,
    q: &[f32],
    limit: usize,
    block_rows: usize,
    alive: Option<&(dyn Fn(usize) -> bool + Sync)>,
) -> Vec<(usize, f32)> {
    use rayon::prelude::*;
    if limit == 0 || dim == 0 {
        return Vec::new();
    }
    let qn = norm(q);
    let scan = |first: usize, block: &[f32]| {
        let mut heap: BinaryHeap<Worst> = BinaryHeap::with_capacity(limit + 1);
        for (i, v) in block.chunks_exact(dim).enumerate() {
            let row = first + i;
            if alive.is_some_and(|a| !a(row)) {
                continue;
            }
            let score = cosine(v, q, qn);
            if heap.len() < limit {
                heap.push(Worst(score, row));
            } else if heap.peek().is_some_and(|top| Worst(score, row) < *top) {
                heap.pop();
                heap.push(Worst(score, row));
            }
        }
        heap.into_vec()
    };
    let mut all: Vec<Worst> = vectors
        .par_chunks(block_rows.max(1) * dim)
        .enumerate()
        .flat_map_iter(|(b, block)| scan(b * block_rows.max(1), block))
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    all.truncate(limit);
    all.into_iter().map(|Worst(s, r)| (r, s)).collect()
}

/// Reciprocal rank fusion: `score = Σ 1 / (RRF_K + rank)` over the lists a row appears in.
/// Ties are broken by row order, so results are deterministic.
pub fn rrf(lexical: &[(usize, f32)], semantic: &[(usize, f32)]) -> Vec<Ranked> {
    let mut by_row: HashMap<usize, Ranked> = HashMap::new();
    let mut fuse = |list: &[(usize, f32)], set_rank: fn(&mut Ranked, usize)| {
        for (r, &(row, _)) in list.iter().enumerate() {
            let h = by_row.entry(row).or_insert(Ranked {
                row,
                score: 0.0,
                bm25_rank: None,
                vector_rank: None,
            });
            h.score += 1.0 / (RRF_K + (r + 1) as f32);
            set_rank(h, r + 1);
        }
    };
    fuse(lexical, |h, r| h.bm25_rank = Some(r));
    fuse(semantic, |h, r| h.vector_rank = Some(r));
    let mut hits: Vec<Ranked> = by_row.into_values().collect();
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_rewards_agreement() {
        // Row 7 is 2nd in both lists; row 1 is 1st in one list only.
        let lexical = vec![(1, 9.0), (7, 8.0), (3, 1.0)];
        let semantic = vec![(5, 0.9), (7, 0.8)];
        let hits = rrf(&lexical, &semantic);
        assert_eq!(hits[0].row, 7);
        assert_eq!(hits[0].bm25_rank, Some(2));
        assert_eq!(hits[0].vector_rank, Some(2));
        assert!((hits[0].score - 2.0 / 62.0).abs() < 1e-6);
        // Rows 1 and 5 tie (rank 1 in one list): lower row first.
        assert_eq!((hits[1].row, hits[2].row), (1, 5));
        assert_eq!(hits.len(), 4);
    }

    #[test]
    fn exact_top_equals_a_full_sort() {
        let dim = 3;
        let mut vectors = Vec::new();
        for i in 0..200u32 {
            let x = (i as f32 * 0.37).sin();
            let y = (i as f32 * 0.11).cos();
            vectors.extend_from_slice(&[x, y, (i % 7) as f32 * 0.1]);
        }
        // Duplicates tie: the lower row must win, as in the full sort.
        vectors.extend_from_within(..3);
        let q = [0.3, -0.8, 0.2];
        let mut full: Vec<(usize, f32)> = vectors
            .chunks_exact(dim)
            .enumerate()
            .map(|(r, v)| (r, exact_top(v, dim, &q, 1)[0].1))
            .collect();
        full.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for limit in [1, 5, 17, 201, 500] {
            for block in [7, 64, SCAN_BLOCK] {
                let top = exact_top_in_blocks(&vectors, dim, &q, limit, block, None);
                let want = full[..limit.min(full.len())].to_vec();
                assert_eq!(top, want, "limit {limit}, blocks of {block}");
            }
        }
        // Dimensions that are not a multiple of the eight lanes.
        let (d, n) = dot_and_norm(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], &[1.0; 9]);
        assert_eq!((d, n), (45.0, 285.0));
    }

    #[test]
    fn modes_parse() {
        assert_eq!("bm25".parse::<Mode>(), Ok(Mode::Bm25));
        assert!("dense".parse::<Mode>().is_err());
    }
}
