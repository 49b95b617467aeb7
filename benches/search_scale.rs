//! The query path at scale: `cargo bench --bench search_scale -- [--rows N] [--queries Q]`.
//!
//! 1. Builds the fixtures with the real model (all-MiniLM-L6-v2, from the hf-hub cache) into a
//!    small store, to take a real manifest (model identity, config) from it.
//! 2. Writes a snapshot of N synthetic chunks (default 1,000,000) through the store's own
//!    writer, a bench-only path: texts of 20–60 words drawn from the fixtures' vocabulary, and
//!    unit vectors made without the model (Gaussian noise around 1,000 random centroids, so the
//!    scores have structure). It is kept in `.cache/bench/search-scale/rows-N/`, so reruns only
//!    measure.
//! 3. Measures, on that snapshot: the time to open it, in-process query latency (vector and
//!    BM25, p50/p99 over Q queries), and the whole `ragops search` process (wall time and peak
//!    RSS from `/usr/bin/time`) in each mode.
//!
//! Figures are in benches/README.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ragops_core::{Chunk, ChunkId, ChunkRow, DocId, Format, Mode};
use ragops_search::Searcher;
use ragops_store::{Counts, Expect, Manifest, Store};

/// xorshift64*: deterministic, fast, good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Approximately standard normal (sum of 4 uniforms, scaled).
    fn normal(&mut self) -> f32 {
        let s: f32 = (0..4)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32)
            .sum();
        (s - 2.0) * 1.732
    }
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> PathBuf {
    repo().join("target/release/ragops")
}

/// A real manifest: the fixtures built with the default pipeline and the real model.
fn real_manifest(work: &Path) -> Manifest {
    let store = work.join("fixtures-store");
    if !store.join("refs/current").is_file() {
        let out = Command::new(bin())
            .args(["build", "-q", "--store"])
            .arg(&store)
            .current_dir(repo())
            .output()
            .expect("ragops build runs (cargo build --release first)");
        assert!(
            out.status.success(),
            "fixtures build failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let s = Store::open(&store).expect("fixtures store");
    let id = s.resolve("current").expect("current");
    s.manifest(&id).expect("manifest")
}

fn vocabulary() -> Vec<String> {
    let mut words = std::collections::BTreeSet::new();
    for dir in ["fixtures/corpus/handbook", "fixtures/corpus/notes"] {
        for e in std::fs::read_dir(repo().join(dir))
            .expect("fixtures")
            .flatten()
        {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            for w in text.split(|c: char| !c.is_alphanumeric()) {
                if w.len() > 2 {
                    words.insert(w.to_lowercase());
                }
            }
        }
    }
    words.into_iter().collect()
}

/// Writes the synthetic snapshot and publishes it as `current` of `store_dir`.
fn write_snapshot(store_dir: &Path, rows: usize, template: &Manifest) {
    let dim = template.model.dim;
    let store = Store::create(store_dir).expect("store");
    let lock = store.lock("bench").expect("lock");
    let w = store.begin_snapshot(&lock, "bench").expect("snapshot");
    let mut table = w.chunk_table(dim).expect("table");
    let mut ft = w.fulltext().expect("fulltext");
    let vocab = vocabulary();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let centroids: Vec<Vec<f32>> = (0..1000)
        .map(|_| (0..dim).map(|_| rng.normal()).collect())
        .collect();
    let t = Instant::now();
    const BATCH: usize = 4096;
    let mut done = 0;
    while done < rows {
        let n = BATCH.min(rows - done);
        let mut batch = Vec::with_capacity(n);
        let mut vectors = Vec::with_capacity(n * dim);
        for i in done..done + n {
            let words = 20 + rng.below(41);
            let text: Vec<&str> = (0..words)
                .map(|_| vocab[rng.below(vocab.len())].as_str())
                .collect();
            let text = text.join(" ");
            let doc = format!("synthetic/doc-{:07}.md", i / 8);
            let c = &centroids[rng.below(centroids.len())];
            let mut v: Vec<f32> = c.iter().map(|x| x + 0.6 * rng.normal()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|x| *x /= norm);
            vectors.extend_from_slice(&v);
            let id = ChunkId::parse(&format!("{:032x}", (i as u128) * 0x9e37_79b9 + 1))
                .expect("chunk id");
            let chars = text.chars().count() as u64;
            batch.push(ChunkRow {
                chunk: Chunk {
                    id,
                    doc_id: DocId::from(doc.as_str()),
                    ordinal: (i % 8) as u32,
                    start_byte: 0,
                    end_byte: text.len() as u64,
                    start_char: 0,
                    end_char: chars,
                    text,
                    heading_path: vec!["Synthetic".into()],
                    page_start: None,
                    page_end: None,
                    title: format!("Document {}", i / 8),
                    source_path: doc.clone(),
                    format: Format::Markdown,
                    mtime: None,
                },
                embed_key: None,
                token_count: words as u32,
            });
        }
        table.write(&batch, &vectors).expect("write rows");
        ft.add(batch.iter().map(|r| &r.chunk)).expect("index rows");
        done += n;
        if done % (BATCH * 32) < BATCH {
            eprintln!("  wrote {done} rows ({:.0} s)", t.elapsed().as_secs_f64());
        }
    }
    let n = table.finish().expect("finish table");
    ft.finish(n).expect("finish fulltext");
    let mut m = template.clone();
    m.parent = None;
    m.sources = Vec::new();
    m.source_files = Vec::new();
    m.skipped = Vec::new();
    m.counts = Counts {
        documents: rows.div_ceil(8) as u64,
        chunks: n,
        ..m.counts.clone()
    };
    m.files = BTreeMap::new();
    let id = w.finish(m).expect("finish snapshot");
    let refs = store.refs_lock("bench").expect("refs lock");
    store
        .publish(&refs, &id, "bench", &Expect::Any)
        .expect("publish");
    eprintln!(
        "  snapshot of {n} rows written in {:.0} s",
        t.elapsed().as_secs_f64()
    );
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let rows = arg("--rows", 1_000_000);
    let queries = arg("--queries", 50);
    let work = repo().join(".cache/bench/search-scale");
    std::fs::create_dir_all(&work).expect("work dir");
    let template = real_manifest(&work);
    let store_dir = work.join(format!("rows-{rows}"));
    if !store_dir.join("refs/current").is_file() {
        let _ = std::fs::remove_dir_all(&store_dir);
        eprintln!(
            "writing a snapshot of {rows} synthetic chunks in {}",
            store_dir.display()
        );
        write_snapshot(&store_dir, rows, &template);
    }
    let store = Store::open(&store_dir).expect("store");
    let id = store.resolve("current").expect("current");

    let t = Instant::now();
    let searcher = Searcher::open(&store, &id).expect("open");
    let open_ms = t.elapsed().as_secs_f64() * 1e3;

    let mut rng = Rng(42);
    let dim = template.model.dim;
    let vocab = vocabulary();
    let mut vector_ms = Vec::new();
    let mut bm25_ms = Vec::new();
    for _ in 0..queries {
        let q: Vec<f32> = (0..dim).map(|_| rng.normal()).collect();
        let t = Instant::now();
        let hits = searcher
            .search("", Some(&q), Mode::Vector, 10)
            .expect("vector search");
        vector_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(hits.len(), 10);
        let words: Vec<&str> = (0..3)
            .map(|_| vocab[rng.below(vocab.len())].as_str())
            .collect();
        let t = Instant::now();
        searcher
            .search(&words.join(" "), None, Mode::Bm25, 10)
            .expect("bm25 search");
        bm25_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    vector_ms.sort_by(f64::total_cmp);
    bm25_ms.sort_by(f64::total_cmp);
    println!("search_scale: {rows} chunks of {dim} dimensions (snapshot {id})");
    println!("  open (in process)                 {open_ms:8.1} ms");
    for (name, v) in [
        ("vector, exact, k=10", &vector_ms),
        ("bm25, k=10", &bm25_ms),
    ] {
        println!(
            "  {name:<20} in process  p50 {:8.2} ms   p99 {:8.2} ms   ({queries} queries)",
            percentile(v, 0.5),
            percentile(v, 0.99)
        );
    }
    drop(searcher);
    for mode in ["vector", "bm25", "hybrid"] {
        let out = Command::new("/usr/bin/time")
            .args(["-f", "%e %M"])
            .arg(bin())
            .args([
                "search",
                "rotate the api keys before the audit",
                "-k",
                "10",
                "--json",
            ])
            .args(["--mode", mode, "--store"])
            .arg(&store_dir)
            .output()
            .expect("/usr/bin/time ragops search");
        assert!(
            out.status.success(),
            "ragops search failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or_default();
        let mut f = last.split_whitespace();
        let secs: f64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
        let kib: f64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
        println!(
            "  ragops search --mode {mode:<7} whole process {secs:6.2} s   peak RSS {:7.0} MiB",
            kib / 1024.0
        );
    }
}
