//! `vectors.hnsw`: an HNSW graph over a snapshot's vectors (usearch), keyed by row number.
//!
//! Written once, after the vector file, from the memory-mapped `vectors.f32` (rows added in
//! parallel on the rayon pool); read by memory-mapping it (usearch's `view`), so opening costs
//! a header read and a query touches only the pages of the nodes it visits. The graph keeps
//! its own copy of the vectors in the configured precision (i8 by default) to walk the graph;
//! callers re-score the candidates with the exact f32 vectors.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use ragops_core::config::{HnswConfig, HnswQuantization};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::vectors::VectorFile;
use crate::StoreError;

pub(crate) const ANN_FILE: &str = "vectors.hnsw";

fn ann_error(path: &Path, message: impl std::fmt::Display) -> StoreError {
    StoreError::Ann {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn path_str(path: &Path) -> Result<&str, StoreError> {
    path.to_str()
        .ok_or_else(|| ann_error(path, "the path is not valid UTF-8"))
}

fn scalar(q: HnswQuantization) -> ScalarKind {
    match q {
        HnswQuantization::F32 => ScalarKind::F32,
        HnswQuantization::F16 => ScalarKind::F16,
        HnswQuantization::I8 => ScalarKind::I8,
    }
}

fn options(dim: usize, cfg: &HnswConfig) -> IndexOptions {
    IndexOptions {
        dimensions: dim,
        metric: MetricKind::Cos,
        quantization: scalar(cfg.quantization),
        connectivity: cfg.m,
        expansion_add: cfg.ef_construction,
        expansion_search: cfg.ef_search,
        multi: false,
    }
}

/// Builds the graph over every row of `vectors` and saves it to `path`.
pub(crate) fn build(vectors: &VectorFile, cfg: &HnswConfig, path: &Path) -> Result<(), StoreError> {
    use rayon::prelude::*;
    let dest = path_str(path)?;
    let index = Index::new(&options(vectors.dim(), cfg)).map_err(|e| ann_error(path, e))?;
    let threads = rayon::current_num_threads().max(1);
    index
        .reserve_capacity_and_threads(vectors.rows(), threads)
        .map_err(|e| ann_error(path, e))?;
    (0..vectors.rows())
        .into_par_iter()
        .try_for_each(|row| index.add(row as u64, vectors.row(row)))
        .map_err(|e| ann_error(path, e))?;
    index.save(dest).map_err(|e| ann_error(path, e))?;
    // usearch writes through its own file handle: make the bytes durable before the manifest.
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(crate::io(path))
}

/// A snapshot's HNSW graph, memory-mapped. Safe to search from any number of threads: usearch
/// has one search context per hardware thread and fails a search that finds none free, so
/// searches past that many wait for one (they are CPU-bound: more at once would not help).
pub struct AnnIndex {
    index: Index,
    path: PathBuf,
    free_contexts: Mutex<usize>,
    released: Condvar,
}

/// A search context held for one search.
struct Context<'a>(&'a AnnIndex);

impl Drop for Context<'_> {
    fn drop(&mut self) {
        if let Ok(mut free) = self.0.free_contexts.lock() {
            *free += 1;
        }
        self.0.released.notify_one();
    }
}

impl AnnIndex {
    /// Maps `path`; refuses a graph of another dimension or row count than the vectors'.
    pub(crate) fn open(
        path: &Path,
        dim: usize,
        rows: usize,
        ef_search: usize,
    ) -> Result<Self, StoreError> {
        let p = path_str(path)?;
        let index = Index::restore_view(p).map_err(|e| ann_error(path, e))?;
        if index.dimensions() != dim || index.size() != rows {
            return Err(ann_error(
                path,
                format!(
                    "a graph of {} vectors of {} values for {rows} rows of {dim}",
                    index.size(),
                    index.dimensions()
                ),
            ));
        }
        index.change_expansion_search(ef_search.max(1));
        // What usearch reserves for a view: one context per hardware thread.
        let contexts = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self {
            index,
            path: path.to_path_buf(),
            free_contexts: Mutex::new(contexts),
            released: Condvar::new(),
        })
    }

    fn context(&self) -> Context<'_> {
        let mut free = self
            .free_contexts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *free == 0 {
            free = self
                .released
                .wait(free)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *free -= 1;
        Context(self)
    }

    /// Up to `count` rows near `query`, nearest first (approximate: the graph's own distances).
    pub fn candidates(&self, query: &[f32], count: usize) -> Result<Vec<usize>, StoreError> {
        let _context = self.context();
        let found = self
            .index
            .search(query, count)
            .map_err(|e| ann_error(&self.path, e))?;
        Ok(found.keys.iter().map(|&k| k as usize).collect())
    }

    /// Like [`AnnIndex::candidates`], but only rows `keep` accepts (masked rows are skipped
    /// while the graph is walked, so the list is still `count` long when enough rows remain).
    pub fn candidates_where(
        &self,
        query: &[f32],
        count: usize,
        keep: impl Fn(usize) -> bool,
    ) -> Result<Vec<usize>, StoreError> {
        let _context = self.context();
        let found = self
            .index
            .filtered_search(query, count, |k| keep(k as usize))
            .map_err(|e| ann_error(&self.path, e))?;
        Ok(found.keys.iter().map(|&k| k as usize).collect())
    }

    /// The candidate list length used while searching.
    pub fn ef_search(&self) -> usize {
        self.index.expansion_search()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::{VectorFileWriter, VECTORS_FILE};

    #[test]
    fn finds_each_row_as_its_own_nearest_neighbour_and_checks_its_shape() {
        let dir = tempfile::tempdir().unwrap();
        let dim = 16;
        let rows = 2_000;
        let mut w = VectorFileWriter::create(&dir.path().join(VECTORS_FILE), dim).unwrap();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..rows {
            let v: Vec<f32> = (0..dim)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                })
                .collect();
            w.append(&v).unwrap();
        }
        w.finish().unwrap();
        let vectors = VectorFile::open(&dir.path().join(VECTORS_FILE)).unwrap();
        let path = dir.path().join(ANN_FILE);
        build(&vectors, &HnswConfig::default(), &path).unwrap();

        let ann = AnnIndex::open(&path, dim, rows, 64).unwrap();
        assert_eq!(ann.ef_search(), 64);
        let hits = (0..rows)
            .step_by(7)
            .filter(|&r| ann.candidates(vectors.row(r), 1).unwrap() == vec![r])
            .count();
        let asked = rows.div_ceil(7);
        assert!(hits * 100 >= asked * 95, "{hits} of {asked}");

        // More concurrent searches than usearch has contexts: they wait, none fails.
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..16)
                .map(|t| {
                    let (ann, vectors) = (&ann, &vectors);
                    scope.spawn(move || {
                        (0..50)
                            .all(|i| ann.candidates(vectors.row((t * 50 + i) % rows), 10).is_ok())
                    })
                })
                .collect();
            for w in workers {
                assert!(w.join().unwrap(), "a concurrent search failed");
            }
        });

        let err = AnnIndex::open(&path, dim, rows + 1, 64).err().unwrap();
        assert!(err.to_string().contains("for 2001 rows"), "{err}");
        std::fs::write(&path, b"not a graph").unwrap();
        assert!(AnnIndex::open(&path, dim, rows, 64).is_err());
    }
}
