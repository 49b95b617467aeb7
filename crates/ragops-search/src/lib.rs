//! Retrieval over one snapshot: BM25 (tantivy), vector (exact cosine over the chunk table) and
//! hybrid (reciprocal rank fusion of both lists).

use std::collections::HashMap;

use ragops_store::{
    read_chunks, ChunkTable, FulltextIndex, Manifest, Store, StoreError, CHUNKS_FILE, FULLTEXT_DIR,
};
use serde::{Deserialize, Serialize};

/// Reciprocal rank fusion constant (Cormack et al., 2009).
pub const RRF_K: f32 = 60.0;

/// Most results one query returns; larger `k` values are cut to it.
pub const MAX_K: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Hybrid,
    Vector,
    Bm25,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hybrid" => Ok(Mode::Hybrid),
            "vector" => Ok(Mode::Vector),
            "bm25" => Ok(Mode::Bm25),
            other => Err(format!("unknown mode `{other}` (hybrid, vector or bm25)")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("snapshot {0} has no full-text index (built with [index] fulltext = false); use --mode vector")]
    NoFulltext(String),
    #[error("{0} search needs a query vector")]
    NoQueryVector(&'static str),
    #[error("query vector has dimension {got}, the snapshot's vectors have {want}")]
    Dimension { got: usize, want: usize },
}

/// One result: a row of the chunk table with its score and the ranks it had in each list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub row: usize,
    /// Cosine similarity (vector), BM25 score (bm25) or fused RRF score (hybrid).
    pub score: f32,
    pub bm25_rank: Option<usize>,
    pub vector_rank: Option<usize>,
}

/// A snapshot opened for queries.
pub struct SnapshotSearcher {
    pub id: String,
    pub manifest: Manifest,
    pub table: ChunkTable,
    fulltext: Option<FulltextIndex>,
    by_id: HashMap<String, usize>,
}

impl SnapshotSearcher {
    pub fn open(store: &Store, id: &str) -> Result<Self, SearchError> {
        let manifest = store.manifest(id)?;
        let dir = store.snapshot_dir(id);
        let table = read_chunks(&dir.join(CHUNKS_FILE))?;
        let ft_dir = dir.join(FULLTEXT_DIR);
        let fulltext = if ft_dir.is_dir() {
            Some(FulltextIndex::open(&ft_dir)?)
        } else {
            None
        };
        let by_id = table
            .chunks
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        Ok(Self {
            id: id.to_string(),
            manifest,
            table,
            fulltext,
            by_id,
        })
    }

    /// Whether `mode` needs the query embedded.
    pub fn needs_vector(mode: Mode) -> bool {
        mode != Mode::Bm25
    }

    pub fn search(
        &self,
        query: &str,
        query_vector: Option<&[f32]>,
        mode: Mode,
        k: usize,
    ) -> Result<Vec<Hit>, SearchError> {
        let k = k.clamp(1, MAX_K);
        let depth = k.saturating_mul(4).max(50);
        let mut hits = match mode {
            Mode::Bm25 => self
                .bm25(query, k)?
                .into_iter()
                .enumerate()
                .map(|(r, (row, score))| Hit {
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
                    .map(|(r, (row, score))| Hit {
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
            .ok_or_else(|| SearchError::NoFulltext(self.id.clone()))?;
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
        let mut scored: Vec<(usize, f32)> = (0..self.table.chunks.len())
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
pub fn rrf(lexical: &[(usize, f32)], semantic: &[(usize, f32)]) -> Vec<Hit> {
    let mut by_row: HashMap<usize, Hit> = HashMap::new();
    let mut fuse = |list: &[(usize, f32)], set_rank: fn(&mut Hit, usize)| {
        for (r, &(row, _)) in list.iter().enumerate() {
            let h = by_row.entry(row).or_insert(Hit {
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
    let mut hits: Vec<Hit> = by_row.into_values().collect();
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
