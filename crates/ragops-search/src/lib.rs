//! Retrieval over one snapshot: BM25 (tantivy), vector (exact cosine over the chunk table) and
//! hybrid (reciprocal rank fusion of both lists). Hits carry their chunk.

use std::collections::HashMap;

pub use ragops_core::Mode;
use ragops_core::{Chunk, ChunkId, SnapshotId};
use ragops_store::{ChunkTable, FulltextIndex, Manifest, Snapshot, Store, StoreError};

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
    /// Cosine similarity (vector), BM25 score (bm25) or fused RRF score (hybrid).
    pub score: f32,
    pub bm25_rank: Option<usize>,
    pub vector_rank: Option<usize>,
}

/// A snapshot opened for queries.
pub struct Searcher {
    snapshot: Snapshot,
    table: ChunkTable,
    fulltext: Option<FulltextIndex>,
    by_id: HashMap<ChunkId, usize>,
}

impl Searcher {
    pub fn open(store: &Store, id: &SnapshotId) -> Result<Self, SearchError> {
        let snapshot = store.snapshot(id)?;
        let table = snapshot.read_chunks()?;
        let fulltext = snapshot.fulltext()?;
        let by_id = table
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.chunk.id.clone(), i))
            .collect();
        Ok(Self {
            snapshot,
            table,
            fulltext,
            by_id,
        })
    }

    pub fn id(&self) -> &SnapshotId {
        self.snapshot.id()
    }

    pub fn manifest(&self) -> &Manifest {
        self.snapshot.manifest()
    }

    /// Whether `mode` needs the query embedded.
    pub fn needs_vector(mode: Mode) -> bool {
        mode != Mode::Bm25
    }

    /// The `k` best chunks for a query in `mode` (`query_vector` for vector and hybrid).
    pub fn search(
        &self,
        query: &str,
        query_vector: Option<&[f32]>,
        mode: Mode,
        k: usize,
    ) -> Result<Vec<SearchHit>, SearchError> {
        let ranked = self.rank(query, query_vector, mode, k)?;
        Ok(ranked
            .into_iter()
            .map(|r| SearchHit {
                chunk: self.table.rows[r.row].chunk.clone(),
                score: r.score,
                bm25_rank: r.bm25_rank,
                vector_rank: r.vector_rank,
            })
            .collect())
    }

    fn rank(
        &self,
        query: &str,
        query_vector: Option<&[f32]>,
        mode: Mode,
        k: usize,
    ) -> Result<Vec<Ranked>, SearchError> {
        let k = k.clamp(1, MAX_K);
        let depth = k.saturating_mul(4).max(50);
        let mut hits = match mode {
            Mode::Bm25 => self
                .bm25(query, k)?
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
                self.vector(v, k)?
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
                let lexical = self.bm25(query, depth)?;
                let semantic = self.vector(v, depth)?;
                rrf(&lexical, &semantic)
            }
        };
        hits.truncate(k);
        Ok(hits)
    }

    fn bm25(&self, query: &str, limit: usize) -> Result<Vec<(usize, f32)>, SearchError> {
        let ft = self
            .fulltext
            .as_ref()
            .ok_or_else(|| SearchError::NoFulltext(self.id().clone()))?;
        Ok(ft
            .search(query, limit)?
            .into_iter()
            .filter_map(|(id, s)| self.by_id.get(&id).map(|&row| (row, s)))
            .collect())
    }

    fn vector(&self, q: &[f32], limit: usize) -> Result<Vec<(usize, f32)>, SearchError> {
        if q.len() != self.table.dim {
            return Err(SearchError::Dimension {
                got: q.len(),
                want: self.table.dim,
            });
        }
        let qn = q.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        let mut scored: Vec<(usize, f32)> = (0..self.table.rows.len())
            .map(|row| {
                let v = self.table.vector(row);
                let dot: f32 = v.iter().zip(q).map(|(a, b)| a * b).sum();
                let vn = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                (row, dot / (qn * vn))
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(limit);
        Ok(scored)
    }
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
    fn modes_parse() {
        assert_eq!("bm25".parse::<Mode>(), Ok(Mode::Bm25));
        assert!("dense".parse::<Mode>().is_err());
    }
}
