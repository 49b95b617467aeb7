//! Usage: ann-compare VECTORS.f32 [--queries Q] [--k K] [--work DIR]
//!
//! Reads a ragops `vectors.f32` (memory-mapped), holds out its last Q rows as queries, indexes
//! the others with each candidate (M = 16, ef_construction = 128, cosine), and prints per
//! candidate: build time, index bytes on disk, time to open the saved index, resident memory
//! after opening and after the queries, recall@K against the exact scan at two ef_search
//! settings, and single-threaded query latency p50/p99. usearch candidates are re-scored with
//! the f32 vectors (as ragops does), so their recall is that of the candidate set.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anndists::dist::DistCosine;
use hnsw_rs::prelude::*;
use rayon::prelude::*;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

const M: usize = 16;
const EF_CONSTRUCTION: usize = 128;

fn arg(name: &str) -> Option<String> {
    let a: Vec<String> = std::env::args().collect();
    a.iter().position(|x| x == name).and_then(|i| a.get(i + 1).cloned())
}

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = s.split_whitespace().nth(1).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn drop_page_cache_of(path: &Path) {
    // Best effort: advise the kernel to forget the file, so "open" is measured cold-ish.
    if let Ok(f) = std::fs::File::open(path) {
        use std::os::unix::io::AsRawFd;
        unsafe extern "C" {
            fn posix_fadvise(fd: i32, offset: i64, len: i64, advice: i32) -> i32;
        }
        unsafe {
            posix_fadvise(f.as_raw_fd(), 0, 0, 4);
        }
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|r| r.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

struct Vectors {
    _map: memmap2::Mmap,
    ptr: *const f32,
    dim: usize,
    rows: usize,
}
unsafe impl Sync for Vectors {}

impl Vectors {
    fn open(path: &Path) -> Vectors {
        let f = std::fs::File::open(path).expect("vectors file");
        let map = unsafe { memmap2::Mmap::map(&f) }.expect("map");
        assert_eq!(&map[..8], b"RGOPSVEC", "not a ragops vector file");
        let dim = u32::from_le_bytes(map[12..16].try_into().unwrap()) as usize;
        let rows = u64::from_le_bytes(map[16..24].try_into().unwrap()) as usize;
        let ptr = map[64..].as_ptr().cast::<f32>();
        Vectors { _map: map, ptr, dim, rows }
    }
    fn row(&self, i: usize) -> &[f32] {
        unsafe { std::slice::from_raw_parts(self.ptr.add(i * self.dim), self.dim) }
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut d, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        d += x * y;
        na += x * x;
        nb += y * y;
    }
    d / (na.sqrt() * nb.sqrt()).max(1e-12)
}

fn top_k(v: &Vectors, n: usize, q: &[f32], k: usize, rows: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut s: Vec<(usize, f32)> = rows.filter(|&r| r < n).map(|r| (r, cosine(v.row(r), q))).collect();
    s.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    s.dedup_by_key(|x| x.0);
    s.truncate(k);
    s.into_iter().map(|x| x.0).collect()
}

fn recall(truth: &[Vec<usize>], got: &[Vec<usize>]) -> f64 {
    let hit: usize = truth.iter().zip(got).map(|(t, g)| g.iter().filter(|x| t.contains(x)).count()).sum();
    let all: usize = truth.iter().map(|t| t.len()).sum();
    hit as f64 / all.max(1) as f64
}

fn pct(mut ms: Vec<f64>, p: f64) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms[((ms.len() - 1) as f64 * p).round() as usize]
}

struct Row {
    name: String,
    build_s: f64,
    bytes: u64,
    open_ms: f64,
    rss_open: f64,
    rss_after: f64,
    recalls: Vec<(usize, f64, f64, f64)>, // ef, recall, p50 ms, p99 ms
}

fn main() {
    let path = PathBuf::from(std::env::args().nth(1).expect("usage: ann-compare VECTORS.f32"));
    let nq: usize = arg("--queries").and_then(|x| x.parse().ok()).unwrap_or(1000);
    let k: usize = arg("--k").and_then(|x| x.parse().ok()).unwrap_or(10);
    let work = PathBuf::from(arg("--work").unwrap_or_else(|| "target/ann-compare-work".into()));
    let only = arg("--only");
    std::fs::create_dir_all(&work).expect("work dir");
    let v = Vectors::open(&path);
    let n = v.rows - nq;
    println!("{} vectors of {} dims: {} indexed, {} held out as queries, k = {k}, M = {M}, ef_construction = {EF_CONSTRUCTION}, {} threads",
        v.rows, v.dim, n, nq, rayon::current_num_threads());
    let queries: Vec<&[f32]> = (n..v.rows).map(|r| v.row(r)).collect();
    let t = Instant::now();
    let truth: Vec<Vec<usize>> = queries.par_iter().map(|q| top_k(&v, n, q, k, 0..n)).collect();
    let exact_ms = t.elapsed().as_secs_f64() * 1000.0 / nq as f64 * rayon::current_num_threads() as f64;
    println!("exact scan: {exact_ms:.1} ms per query (one thread)\n");
    let efs = [64usize, 128];
    let mut rows = Vec::new();

    for (label, kind) in [("usearch f32", ScalarKind::F32), ("usearch f16", ScalarKind::F16), ("usearch i8", ScalarKind::I8)] {
        if only.as_deref().is_some_and(|o| !o.split(',').any(|x| label.contains(x))) {
            continue;
        }
        let file = work.join(format!("{}.usearch", label.replace(' ', "-")));
        let opts = IndexOptions {
            dimensions: v.dim,
            metric: MetricKind::Cos,
            quantization: kind,
            connectivity: M,
            expansion_add: EF_CONSTRUCTION,
            expansion_search: 64,
            multi: false,
        };
        let t = Instant::now();
        {
            let index = Index::new(&opts).expect("index");
            index.reserve_capacity_and_threads(n, rayon::current_num_threads()).expect("reserve");
            (0..n).into_par_iter().for_each(|r| index.add(r as u64, v.row(r)).expect("add"));
            index.save(file.to_str().unwrap()).expect("save");
        }
        let build_s = t.elapsed().as_secs_f64();
        drop_page_cache_of(&file);
        let rss0 = rss_mib();
        let t = Instant::now();
        let index = Index::restore_view(file.to_str().unwrap()).expect("view");
        let open_ms = t.elapsed().as_secs_f64() * 1000.0;
        let rss_open = rss_mib() - rss0;
        let mut recalls = Vec::new();
        for ef in efs {
            index.change_expansion_search(ef);
            let mut lat = Vec::new();
            let got: Vec<Vec<usize>> = queries
                .iter()
                .map(|q| {
                    let t = Instant::now();
                    let m = index.search(q, ef.max(k)).expect("search");
                    let r = top_k(&v, n, q, k, m.keys.iter().map(|&x| x as usize));
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    r
                })
                .collect();
            recalls.push((ef, recall(&truth, &got), pct(lat.clone(), 0.5), pct(lat, 0.99)));
        }
        let rss_after = rss_mib() - rss0;
        rows.push(Row { name: label.into(), build_s, bytes: std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0), open_ms, rss_open, rss_after, recalls });
        println!("{label}: done");
    }

    if only.as_deref().is_none_or(|o| o.split(',').any(|x| x == "hnsw_rs")) {
        let dir = work.join("hnsw_rs");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let t = Instant::now();
        {
            let max_layer = 16;
            let h: Hnsw<f32, DistCosine> = Hnsw::new(M, n, max_layer, EF_CONSTRUCTION, DistCosine {});
            let data: Vec<(&[f32], usize)> = (0..n).map(|r| (v.row(r), r)).collect();
            h.parallel_insert_slice(&data);
            h.file_dump(&dir, "g").expect("dump");
        }
        let build_s = t.elapsed().as_secs_f64();
        let rss0 = rss_mib();
        let t = Instant::now();
        let mut io = HnswIo::new(&dir, "g");
        io.set_options(ReloadOptions::default().set_mmap(true));
        let h: Hnsw<f32, DistCosine> = io.load_hnsw().expect("reload");
        let open_ms = t.elapsed().as_secs_f64() * 1000.0;
        let rss_open = rss_mib() - rss0;
        let mut recalls = Vec::new();
        for ef in efs {
            let mut lat = Vec::new();
            let got: Vec<Vec<usize>> = queries
                .iter()
                .map(|q| {
                    let t = Instant::now();
                    let found = h.search(q, ef.max(k), ef);
                    let r = top_k(&v, n, q, k, found.iter().map(|x| x.d_id));
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    r
                })
                .collect();
            recalls.push((ef, recall(&truth, &got), pct(lat.clone(), 0.5), pct(lat, 0.99)));
        }
        let rss_after = rss_mib() - rss0;
        rows.push(Row { name: "hnsw_rs 0.3 (f32, data mmapped)".into(), build_s, bytes: dir_bytes(&dir), open_ms, rss_open, rss_after, recalls });
        println!("hnsw_rs: done");
    }

    println!("\n| index | build s | per 100k s | bytes on disk | open ms | RSS after open MiB | RSS after queries MiB | recall@{k} ef64 | p50/p99 ms ef64 | recall@{k} ef128 | p50/p99 ms ef128 |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let per100k = r.build_s / (n as f64 / 100_000.0);
        let cells: Vec<String> = r.recalls.iter().map(|(_, rec, p50, p99)| format!("{rec:.4} | {p50:.2} / {p99:.2}")).collect();
        println!("| {} | {:.1} | {:.1} | {:.0} MiB | {:.1} | {:.0} | {:.0} | {} |", r.name, r.build_s, per100k, r.bytes as f64 / 1048576.0, r.open_ms, r.rss_open, r.rss_after, cells.join(" | "));
    }
    println!("| exact scan (for scale) | – | – | – | – | – | – | 1.0000 | {exact_ms:.1} (mean) | | |");
}
