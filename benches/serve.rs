//! `ragops serve` under load:
//! `cargo bench --bench serve -- [--seconds S] [--rollback-seconds R] [--store DIR]... [--no-large]
//! [--only-mode M] [--batch-wait-ms N] [--batch-max N]`.
//!
//! The load generator is a small HTTP/1.1 client (hyper, one keep-alive connection per
//! virtual user, each sending its next query when the last is answered), run on its own
//! tokio runtime beside the server process (`target/release/ragops serve`).
//!
//! 1. Stores: the fixtures built with the real model (`.cache/bench/serve/fixtures-store`,
//!    built once) and, unless `--no-large`, the 1M-chunk snapshot of `search_scale`
//!    (`.cache/bench/search-scale/rows-1000000-i8`, the default i8 graph, when it exists) or any `--store DIR`.
//! 2. For each store, mode (bm25, vector, hybrid) and concurrency (1, 8, 32): S seconds
//!    (default 10) of queries from the chunking-eval question set; QPS, p50 and p99 latency
//!    (client side, request sent to body read), non-2xx count.
//! 3. On the fixtures store, a blue/green run of R seconds (default 60) at concurrency 8,
//!    hybrid: two snapshots, 10 rollbacks/publishes between them and one gc meanwhile. Goal:
//!    zero non-2xx, and every answer names a snapshot that was current at some moment during
//!    its request (the ref's timeline, each move known to within the command that made it).
//!
//! Figures are in benches/README.md.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> PathBuf {
    repo().join("target/release/ragops")
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn args(name: &str) -> Vec<String> {
    let a: Vec<String> = std::env::args().collect();
    a.windows(2)
        .filter(|w| w[0] == name)
        .map(|w| w[1].clone())
        .collect()
}

/// Server flags passed through: `--batch-wait-ms N`, `--batch-max N`, `--query-precision P`.
fn serve_args() -> Vec<String> {
    let mut out = Vec::new();
    for flag in ["--batch-wait-ms", "--batch-max", "--query-precision"] {
        if let Some(v) = arg(flag) {
            out.extend([flag.to_string(), v]);
        }
    }
    out
}

fn has_flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

fn ragops(args: &[&str]) -> String {
    let out = Command::new(bin())
        .args(args)
        .output()
        .expect("ragops runs");
    assert!(
        out.status.success(),
        "ragops {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The server, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn start(store: &Path) -> Server {
    let mut child = Command::new(bin())
        .args(["serve", "--addr", "127.0.0.1:0", "--store"])
        .arg(store)
        .args(serve_args())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(a) = line.split("listening on http://").nth(1) {
                let _ = tx.send(a.trim().parse::<SocketAddr>().expect("addr"));
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("serve started");
    Server { child, addr }
}

/// One answered request.
struct Sample {
    start: Instant,
    end: Instant,
    status: u16,
    snapshot: String,
}

/// Runs `conc` virtual users for `secs`, each on its own keep-alive connection.
fn load(addr: SocketAddr, mode: &str, conc: usize, secs: f64, queries: &[String]) -> Vec<Sample> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let queries = Arc::new(queries.to_vec());
    let mode = mode.to_string();
    rt.block_on(async move {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        let mut tasks = Vec::new();
        for u in 0..conc {
            let queries = queries.clone();
            let mode = mode.clone();
            tasks.push(tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .expect("handshake");
                tokio::spawn(conn);
                let mut out = Vec::new();
                let mut i = u * 7;
                while Instant::now() < deadline {
                    let q = &queries[i % queries.len()];
                    i += 1;
                    let body = serde_json::json!({"query": q, "mode": mode, "k": 10}).to_string();
                    let req = hyper::Request::post("/v1/search")
                        .header("host", "bench")
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(body)))
                        .expect("request");
                    let start = Instant::now();
                    let res = send.send_request(req).await.expect("response");
                    let status = res.status().as_u16();
                    let bytes = res.into_body().collect().await.expect("body").to_bytes();
                    let end = Instant::now();
                    let snapshot = serde_json::from_slice::<serde_json::Value>(&bytes)
                        .ok()
                        .and_then(|v| v["snapshot"].as_str().map(str::to_string))
                        .unwrap_or_default();
                    out.push(Sample {
                        start,
                        end,
                        status,
                        snapshot,
                    });
                }
                out
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("user"));
        }
        all
    })
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(label: &str, mode: &str, conc: usize, secs: f64, s: &[Sample]) {
    let mut ms: Vec<f64> = s
        .iter()
        .map(|x| (x.end - x.start).as_secs_f64() * 1e3)
        .collect();
    ms.sort_by(f64::total_cmp);
    let bad = s.iter().filter(|x| !(200..300).contains(&x.status)).count();
    println!(
        "  {label:<10} {mode:<7} c={conc:<3} {:>7.1} QPS   p50 {:>7.2} ms   p99 {:>7.2} ms   {} requests, {bad} non-2xx",
        s.len() as f64 / secs,
        pct(&ms, 0.5),
        pct(&ms, 0.99),
        s.len()
    );
}

fn questions() -> Vec<String> {
    let text =
        std::fs::read_to_string(repo().join("pipelines/experiments/chunking-eval.questions.jsonl"))
            .expect("questions");
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["query"].as_str().map(str::to_string))
        .collect()
}

fn fixtures_store(work: &Path) -> PathBuf {
    let store = work.join("fixtures-store");
    if !store.join("refs/current").is_file() {
        eprintln!(
            "building the fixtures with the real model into {}",
            store.display()
        );
        let status = Command::new(bin())
            .current_dir(repo())
            .args(["build", "-q", "--store"])
            .arg(&store)
            .status()
            .expect("build");
        assert!(status.success());
    }
    store
}

fn matrix(label: &str, store: &Path, secs: f64, queries: &[String]) {
    let server = start(store);
    println!("{label}: {}", store.display());
    let only = arg("--only-mode");
    for mode in ["bm25", "vector", "hybrid"] {
        if only.as_deref().is_some_and(|m| m != mode) {
            continue;
        }
        for conc in [1, 8, 32] {
            let s = load(server.addr, mode, conc, secs, queries);
            report(label, mode, conc, secs, &s);
        }
    }
}

/// The ref's timeline: (when the move began, when it was done, the snapshot it names).
type Timeline = Vec<(Instant, Instant, String)>;

fn current(store: &Path) -> String {
    std::fs::read_to_string(store.join("refs/current"))
        .expect("current")
        .trim()
        .to_string()
}

/// Whether `snapshot` was current at some moment of [start, end]: it became current (its
/// move began) before `end`, and was not replaced (the next move done) before `start`.
fn was_current(t: &Timeline, snapshot: &str, start: Instant, end: Instant) -> bool {
    t.iter().enumerate().any(|(i, (began, _, id))| {
        id == snapshot && *began <= end && t.get(i + 1).is_none_or(|(_, done, _)| *done >= start)
    })
}

fn blue_green(work: &Path, secs: f64, queries: &[String]) {
    // A copy of the fixtures store with a second snapshot to move between.
    let store = work.join("bluegreen-store");
    let _ = std::fs::remove_dir_all(&store);
    let ok = Command::new("cp")
        .arg("-a")
        .arg(work.join("fixtures-store"))
        .arg(&store)
        .status()
        .expect("cp");
    assert!(ok.success());
    let first = current(&store);
    let st = store.to_str().expect("utf-8");
    let out = Command::new(bin())
        .current_dir(repo())
        .args(["build", "-q", "--force", "--store", st])
        .output()
        .expect("build");
    assert!(out.status.success());
    let second = current(&store);
    assert_ne!(first, second);
    // Tagged, so that the gc in the middle of the run leaves both to move between.
    ragops(&["snapshots", "tag", &first, "bench-a", "--store", st]);
    ragops(&["snapshots", "tag", &second, "bench-b", "--store", st]);
    let server = start(&store);
    let t0 = Instant::now();
    let timeline: Arc<Mutex<Timeline>> = Arc::new(Mutex::new(vec![(t0, t0, second.clone())]));
    let tl = timeline.clone();
    let (a, b) = (first.clone(), second.clone());
    let store2 = store.clone();
    let mover = std::thread::spawn(move || {
        let step = secs / 11.0;
        for i in 0..10 {
            std::thread::sleep(Duration::from_secs_f64(step));
            let to = if i % 2 == 0 { &a } else { &b };
            let began = Instant::now();
            ragops(&["snapshots", "rollback", to, "--store", st_of(&store2)]);
            tl.lock()
                .expect("timeline")
                .push((began, Instant::now(), to.clone()));
            if i == 4 {
                // One gc in the middle: it keeps current and what the server holds.
                ragops(&["snapshots", "gc", "--keep", "0", "--store", st_of(&store2)]);
            }
        }
    });
    let samples = load(server.addr, "hybrid", 8, secs, queries);
    mover.join().expect("mover");
    let t = timeline.lock().expect("timeline").clone();
    let bad = samples
        .iter()
        .filter(|x| !(200..300).contains(&x.status))
        .count();
    let stale = samples
        .iter()
        .filter(|x| !was_current(&t, &x.snapshot, x.start, x.end))
        .count();
    let switches = samples
        .windows(2)
        .filter(|w| w[0].snapshot != w[1].snapshot)
        .count();
    report("bluegreen", "hybrid", 8, secs, &samples);
    println!(
        "  blue/green: {} ref moves (rollbacks between two snapshots) and 1 gc in {secs:.0} s; \
         {bad} non-2xx; {stale} answers from a snapshot that was not current during their \
         request; answers switched snapshot {switches} times (per user, in order)",
        t.len() - 1
    );
    drop(server);
}

fn st_of(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn main() {
    assert!(bin().is_file(), "build first: cargo build --release");
    let secs: f64 = arg("--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let rb: f64 = arg("--rollback-seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(60.0);
    let work = repo().join(".cache/bench/serve");
    std::fs::create_dir_all(&work).expect("work dir");
    let queries = questions();
    let fixtures = fixtures_store(&work);
    matrix("fixtures", &fixtures, secs, &queries);
    let mut stores: Vec<PathBuf> = args("--store").into_iter().map(PathBuf::from).collect();
    let large = repo().join(".cache/bench/search-scale/rows-1000000-i8");
    if stores.is_empty() && !has_flag("--no-large") {
        if large.join("refs/current").is_file() {
            stores.push(large);
        } else {
            println!(
                "(no 1M-chunk store: run `cargo bench --bench search_scale` first to measure it)"
            );
        }
    }
    for s in &stores {
        matrix("large", s, secs, &queries);
    }
    if rb > 0.0 {
        blue_green(&work, rb, &queries);
    }
}
