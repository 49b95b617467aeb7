//! `vectors.hnsw`: an HNSW graph over a snapshot's vectors (usearch), keyed by row number.
//!
//! Written once, after the vector file, from the memory-mapped `vectors.f32` (rows added in
//! parallel on the rayon pool); read by memory-mapping it (usearch's `view`), so opening costs
//! a header read and a query touches only the pages of the nodes it visits. The graph keeps
//! its own copy of the vectors in the configured precision (i8 by default) to walk the graph;
//! callers re-score the candidates with the exact f32 vectors.
//!
//! An HNSW graph can leave a few rows unreachable: when later insertions prune every link
//! into a node, no walk from the entry point gets there, whatever the search width (near-
//! duplicate vectors make it likelier: 1 to 9 of 1,395 rows of the tiny test model; 809 to 827
//! of a million synthetic rows). After building, the graph's base level is walked from the nodes a
//! search can start it from, and the rows some start cannot reach are written to
//! `vectors.hnsw.unreached`, each as its row number (u64 little-endian) and a copy of its
//! vector (`dim` f32 little-endian), so that scoring them reads one small file instead of a
//! page of `vectors.f32` per row; searches add them to the graph's candidates, so every row
//! stays findable. A graph saved without the file (by an older ragops) has none listed.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use ragops_core::config::{HnswConfig, HnswQuantization};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::vectors::VectorFile;
use crate::StoreError;

pub(crate) const ANN_FILE: &str = "vectors.hnsw";
/// The rows the graph cannot reach, next to it.
pub(crate) const UNREACHED_FILE: &str = "vectors.hnsw.unreached";

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
        .map_err(crate::io(path))?;
    let mut bytes = Vec::new();
    for r in unreached(&index, vectors.rows()) {
        bytes.extend_from_slice(&(r as u64).to_le_bytes());
        bytes.extend(vectors.row(r).iter().flat_map(|x| x.to_le_bytes()));
    }
    crate::fsutil::write_atomic(&path.with_file_name(UNREACHED_FILE), &bytes)
}

/// The rows of a finished graph (keys `0..rows`) that no search can reach, however wide. A
/// search descends the upper levels greedily to some node on level 1 or above, then walks the
/// base level from it; so a row is findable when the base level leads to it from every node
/// above the base (from every node, in a graph of one level: the entry point is not exposed).
/// Each walk from a start `s` also settles every start that can reach `s` (its walk reaches at
/// least as much), so a graph whose upper nodes reach each other costs one walk each way.
fn unreached(index: &Index, rows: usize) -> Vec<usize> {
    let levels: Vec<usize> = (0..rows).map(|r| index.level_of_key(r as u64)).collect();
    // The base level's links, forward and reversed, as offsets into one list each.
    let mut forward = Links::default();
    let mut buf = vec![0u64; 2 * index.connectivity().max(1) + 1];
    for r in 0..rows {
        let mut cursor = index.neighbors(r as u64, 0);
        loop {
            let n = cursor.drain_into(&mut buf);
            if n == 0 {
                break;
            }
            forward.targets.extend(
                buf[..n]
                    .iter()
                    .filter(|&&k| (k as usize) < rows)
                    .map(|&k| k as usize),
            );
        }
        forward.ends.push(forward.targets.len());
    }
    let backward = forward.reversed(rows);
    let upper = levels.iter().any(|&l| l > 0);
    let mut reached_by_all = vec![true; rows];
    let mut settled = vec![false; rows];
    for start in (0..rows).filter(|&r| !upper || levels[r] > 0) {
        if settled[start] {
            continue;
        }
        for (all, seen) in reached_by_all.iter_mut().zip(forward.walk(start, rows)) {
            *all &= seen;
        }
        for (done, seen) in settled.iter_mut().zip(backward.walk(start, rows)) {
            *done |= seen;
        }
    }
    (0..rows).filter(|&r| !reached_by_all[r]).collect()
}

/// A directed graph over rows: the links of row `r` are `targets[ends[r - 1]..ends[r]]`.
#[derive(Default)]
struct Links {
    ends: Vec<usize>,
    targets: Vec<usize>,
}

impl Links {
    fn of(&self, r: usize) -> &[usize] {
        let start = if r == 0 { 0 } else { self.ends[r - 1] };
        &self.targets[start..self.ends[r]]
    }

    fn reversed(&self, rows: usize) -> Links {
        let mut counts = vec![0usize; rows];
        for &t in &self.targets {
            counts[t] += 1;
        }
        let mut ends = Vec::with_capacity(rows);
        let mut total = 0;
        for c in &counts {
            total += c;
            ends.push(total);
        }
        // Fill each row's range from its end backwards.
        let mut next = ends.clone();
        let mut targets = vec![0; total];
        for r in 0..rows {
            for &t in self.of(r) {
                next[t] -= 1;
                targets[next[t]] = r;
            }
        }
        Links { ends, targets }
    }

    /// The rows reachable from `start` (itself included).
    fn walk(&self, start: usize, rows: usize) -> Vec<bool> {
        let mut seen = vec![false; rows];
        seen[start] = true;
        let mut stack = vec![start];
        while let Some(node) = stack.pop() {
            for &k in self.of(node) {
                if !seen[k] {
                    seen[k] = true;
                    stack.push(k);
                }
            }
        }
        seen
    }
}

/// The rows a graph cannot reach, with a copy of each one's vector.
#[derive(Debug, Default)]
struct Unreached {
    rows: Vec<usize>,
    /// `rows.len() × dim` values, row-major.
    vectors: Vec<f32>,
}

/// Reads the list of unreachable rows beside the graph at `path` (none when the file is
/// absent); refuses a damaged list.
fn read_unreached(path: &Path, dim: usize, rows: usize) -> Result<Unreached, StoreError> {
    let file = path.with_file_name(UNREACHED_FILE);
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Unreached::default()),
        Err(e) => return Err(crate::io(&file)(e)),
    };
    let entry = 8 + 4 * dim;
    if bytes.len() % entry != 0 {
        return Err(ann_error(
            &file,
            format!("truncated: not a whole number of entries of {entry} bytes"),
        ));
    }
    let mut out = Unreached::default();
    for e in bytes.chunks_exact(entry) {
        let (row, values) = e.split_at(8);
        let mut b = [0u8; 8];
        b.copy_from_slice(row);
        let r = u64::from_le_bytes(b);
        let r = usize::try_from(r)
            .ok()
            .filter(|&r| r < rows)
            .ok_or_else(|| ann_error(&file, format!("row {r} is past the {rows} rows")))?;
        out.rows.push(r);
        out.vectors.extend(
            values
                .chunks_exact(4)
                .map(|v| f32::from_le_bytes([v[0], v[1], v[2], v[3]])),
        );
    }
    Ok(out)
}

/// A snapshot's HNSW graph, memory-mapped. Safe to search from any number of threads: usearch
/// has one search context per hardware thread and fails a search that finds none free, so
/// searches past that many wait for one (they are CPU-bound: more at once would not help).
pub struct AnnIndex {
    index: Index,
    path: PathBuf,
    unreached: Unreached,
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
        let unreached = read_unreached(path, dim, rows)?;
        // What usearch reserves for a view: one context per hardware thread.
        let contexts = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self {
            index,
            path: path.to_path_buf(),
            unreached,
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

    /// The rows no graph walk reaches, each with its vector (see the module's
    /// documentation): callers score them beside the graph's candidates.
    pub fn unreached(&self) -> impl Iterator<Item = (usize, &[f32])> {
        let dim = self.index.dimensions().max(1);
        self.unreached
            .rows
            .iter()
            .copied()
            .zip(self.unreached.vectors.chunks_exact(dim))
    }

    /// Touches every node of the graph through usearch's own mapping (its links on the base
    /// level and its vector), so that the first searches do not fault pages in one by one.
    /// Costs a pass over the file (with the vectors' pass, 0.75 s at a million rows); one-shot
    /// queries never call it.
    pub fn warm(&self) {
        let dim = self.index.dimensions();
        let mut vector = vec![0f32; dim];
        for key in 0..self.index.size() as u64 {
            std::hint::black_box(self.index.neighbors(key, 0).total());
            let _ = self.index.get(key, &mut vector);
        }
        std::hint::black_box(&vector);
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

    /// `rows` vectors of `dim` values cycling through `distinct` random ones, and their graph.
    fn graph(dir: &Path, dim: usize, rows: usize, distinct: usize) -> (VectorFile, PathBuf) {
        let mut w = VectorFileWriter::create(&dir.join(VECTORS_FILE), dim).unwrap();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let base: Vec<Vec<f32>> = (0..distinct)
            .map(|_| {
                (0..dim)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                    })
                    .collect()
            })
            .collect();
        for r in 0..rows {
            w.append(&base[r % distinct]).unwrap();
        }
        w.finish().unwrap();
        let vectors = VectorFile::open(&dir.join(VECTORS_FILE)).unwrap();
        let path = dir.join(ANN_FILE);
        build(&vectors, &HnswConfig::default(), &path).unwrap();
        (vectors, path)
    }

    /// Ten copies of each vector leave a few rows no walk reaches (1 to 8 of 2,000 in every
    /// build seen); they are listed, and a search as wide as the graph finds every other row.
    #[test]
    fn rows_the_graph_cannot_reach_are_listed() {
        let (dim, rows) = (16, 2_000);
        let mut listed_any = false;
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let (vectors, path) = graph(dir.path(), dim, rows, rows / 10);
            let ann = AnnIndex::open(&path, dim, rows, 64).unwrap();
            // Each listed row comes with its own vector.
            assert!(ann.unreached().all(|(r, v)| v == vectors.row(r)));
            let unreached: Vec<usize> = ann.unreached().map(|(r, _)| r).collect();
            assert!(
                unreached.len() * 100 <= rows,
                "{} rows listed",
                unreached.len()
            );
            for q in [0, 333, 1_999] {
                let mut found = vec![false; rows];
                for r in ann.candidates(vectors.row(q), rows).unwrap() {
                    found[r] = true;
                }
                let missed: Vec<usize> = (0..rows).filter(|&r| !found[r]).collect();
                assert!(
                    missed.iter().all(|r| unreached.contains(r)),
                    "{missed:?} not found, {unreached:?} listed"
                );
            }
            listed_any |= !unreached.is_empty();
            if listed_any {
                break;
            }
        }
        assert!(
            listed_any,
            "no build left a row unreachable: the test shows nothing"
        );
    }

    #[test]
    fn finds_each_row_as_its_own_nearest_neighbour_and_checks_its_shape() {
        let dir = tempfile::tempdir().unwrap();
        let dim = 16;
        let rows = 2_000;
        let (vectors, path) = graph(dir.path(), dim, rows, rows);

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

        // The list of unreachable rows: absent (an older graph) is none; damaged is an error.
        let list = path.with_file_name(UNREACHED_FILE);
        assert!(list.is_file());
        std::fs::write(&list, [1u8, 2, 3]).unwrap();
        let err = AnnIndex::open(&path, dim, rows, 64).err().unwrap();
        assert!(err.to_string().contains("vectors.hnsw.unreached"), "{err}");
        let mut entry = (rows as u64).to_le_bytes().to_vec();
        entry.extend(vectors.row(0).iter().flat_map(|x| x.to_le_bytes()));
        std::fs::write(&list, &entry).unwrap();
        let err = AnnIndex::open(&path, dim, rows, 64).err().unwrap();
        assert!(err.to_string().contains("past the 2000 rows"), "{err}");
        std::fs::remove_file(&list).unwrap();
        let none = AnnIndex::open(&path, dim, rows, 64).unwrap();
        assert_eq!(none.unreached().count(), 0);

        let err = AnnIndex::open(&path, dim, rows + 1, 64).err().unwrap();
        assert!(err.to_string().contains("for 2001 rows"), "{err}");
        std::fs::write(&path, b"not a graph").unwrap();
        assert!(AnnIndex::open(&path, dim, rows, 64).is_err());
    }
}
