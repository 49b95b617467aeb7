//! `ragops serve`: the API and its errors, a rollback under concurrent requests (no failure,
//! the answers switch), gc respecting the server's leases, and SIGTERM draining an in-flight
//! request. Tiny random BERT for speed (the real code path); servers bind 127.0.0.1 on an
//! ephemeral port, and every request loop is bounded in count and time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStderr, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ragops_engine::ops::GcReport;
use ragops_serve::SearchResponse;

use crate::common::*;

/// One HTTP/1.1 exchange on a new connection (`Connection: close`): status and body.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    c.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        c,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    c.read_to_string(&mut raw)?;
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {raw:?}")))?;
    let body = raw.split_once("\r\n\r\n").map(|x| x.1).unwrap_or_default();
    Ok((status, body.to_string()))
}

pub fn search(addr: SocketAddr, body: &str) -> (u16, String) {
    http(addr, "POST", "/v1/search", body).expect("request")
}

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `ragops serve` on an ephemeral port and waits (30 s at most) for its address.
    pub fn start(store: &Path, env: &[(&str, &Path)], args: &[&str]) -> Server {
        let mut cmd = ragops(&["serve", "--store", s(store), "--addr", "127.0.0.1:0"]);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || follow_log(stderr, &sink, &tx));
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("serve did not start: {}", log.lock().expect("log")));
        Server { child, addr, log }
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// Waits (bounded) until the log contains `text`.
    fn wait_log(&self, text: &str) {
        let t = Instant::now();
        while !self.log().contains(text) {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "no {text:?} in {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn follow_log(stderr: ChildStderr, log: &Mutex<String>, tx: &std::sync::mpsc::Sender<SocketAddr>) {
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if let Some(a) = line.split("listening on http://").nth(1) {
            if let Ok(addr) = a.trim().parse() {
                let _ = tx.send(addr);
            }
        }
        let mut l = log.lock().expect("log");
        l.push_str(&line);
        l.push('\n');
    }
}

/// `snapshots gc --keep 0`: everything no ref or lease keeps.
fn gc_all(store: &Path) -> GcReport {
    json(&[
        "snapshots",
        "gc",
        "--keep",
        "0",
        "--store",
        s(store),
        "--json",
    ])
}

pub fn answer(body: &str) -> SearchResponse {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Two snapshots of a small corpus: `a` without the word "zeppelin", `b` (current) with it.
fn two_snapshots(dir: &Path) -> (std::path::PathBuf, String, String) {
    let model = tiny_model(dir);
    let docs = dir.join("docs");
    std::fs::create_dir_all(&docs).expect("mkdir");
    for (f, t) in [
        (
            "rollback.md",
            "# Rollback\n\nMove the alias back to the previous snapshot.",
        ),
        ("keys.md", "# Keys\n\nRotate an API key every ninety days."),
        (
            "drill.md",
            "# Drill\n\nThe disaster recovery drill runs each quarter.",
        ),
    ] {
        std::fs::write(docs.join(f), t).expect("write");
    }
    let p = pipeline(
        dir,
        "p.toml",
        std::slice::from_ref(&docs),
        s(&model),
        64,
        "",
    );
    let a = build(&p, &[]).snapshot.to_string();
    std::fs::write(
        docs.join("airship.md"),
        "# Airships\n\nA zeppelin is a rigid airship.",
    )
    .expect("write");
    let b = build(&p, &[]).snapshot.to_string();
    (dir.join("store"), a, b)
}

/// The routes, and the errors as JSON with stable codes, on a server serving `b`.
fn check_api(addr: SocketAddr, a: &str, b: &str) {
    // The API.
    let (code, body) = http(addr, "GET", "/healthz", "").expect("healthz");
    assert_eq!(code, 200, "{body}");
    let (code, body) = http(addr, "GET", "/readyz", "").expect("readyz");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(b), "{body}");
    let q = r#"{"query": "zeppelin airship", "mode": "bm25", "k": 3}"#;
    let (code, body) = search(addr, q);
    assert_eq!(code, 200, "{body}");
    let r = answer(&body);
    assert_eq!(r.snapshot.as_str(), b);
    assert_eq!(r.results[0].doc_id, "airship.md", "{body}");
    assert!(r.results[0].bm25_rank == Some(1) && !r.results[0].text.is_empty());
    for mode in ["vector", "hybrid"] {
        let (code, body) = search(
            addr,
            &format!(r#"{{"query": "rotate a key", "mode": "{mode}", "k": 2, "exact": true}}"#),
        );
        assert_eq!(code, 200, "{body}");
        let r = answer(&body);
        assert_eq!(r.results.len(), 2, "{body}");
        assert_eq!(r.vector_search.as_deref(), Some("flat"));
    }
    // Errors are JSON with stable codes.
    for (req, status, code) in [
        (
            r#"{"query": "x", "k": 0}"#.to_string(),
            400,
            "k_out_of_range",
        ),
        (r#"{"query": "  "}"#.to_string(), 400, "empty_query"),
        (
            r#"{"query": "x", "filter": {"lang": "en"}}"#.to_string(),
            400,
            "invalid_request",
        ),
        (
            r#"{"query": "x", "filter": "lang = en"}"#.to_string(),
            400,
            "invalid_filter",
        ),
        (
            r#"{"query": "x", "tenant": ""}"#.to_string(),
            400,
            "tenant_required",
        ),
        (
            r#"{"query": "x", "mode": "fuzzy"}"#.to_string(),
            400,
            "invalid_request",
        ),
        ("not json".to_string(), 400, "invalid_request"),
        (
            format!(r#"{{"query": "{}"}}"#, "x".repeat(5000)),
            400,
            "query_too_long",
        ),
        (
            format!(r#"{{"query": "{}"}}"#, "x".repeat(70_000)),
            413,
            "body_too_large",
        ),
        (
            r#"{"query": "x", "snapshot": "no-such-tag"}"#.to_string(),
            404,
            "snapshot_not_found",
        ),
    ] {
        let (got, body) = search(addr, &req);
        assert_eq!(got, status, "{body}");
        let e: ragops_serve::ErrorBody = serde_json::from_str(&body).expect("error body");
        assert_eq!(e.error.code, code, "{body}");
    }
    let (code, body) = http(addr, "GET", "/no/such/route", "").expect("404");
    assert_eq!(code, 404);
    assert!(body.contains("not_found"), "{body}");
    let (code, body) = http(addr, "GET", "/openapi.json", "").expect("openapi");
    assert_eq!(code, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).expect("openapi json");
    for route in [
        "/v1/search",
        "/v1/snapshots",
        "/v1/snapshots/{id}",
        "/metrics",
        "/readyz",
    ] {
        assert!(doc["paths"][route].is_object(), "{route} in openapi.json");
    }
    let (code, body) = http(addr, "GET", &format!("/v1/snapshots/{a}"), "").expect("show");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(a));
}

/// Rolls back to `a` while four threads search: every answer is a 200 from `a` or `b`, and
/// the answers switch within a second. Returns the snapshots that answered.
fn rollback_under_load(server: &Server, store: &Path, a: &str, b: &str) -> Vec<String> {
    let addr = server.addr;
    let q = r#"{"query": "zeppelin airship", "mode": "bm25", "k": 3}"#;
    // A rollback under concurrent requests: none fails, and the answers switch to `a`.
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let t = Instant::now();
                while !stop.load(Ordering::Relaxed)
                    && seen.len() < 2000
                    && t.elapsed() < Duration::from_secs(30)
                {
                    let (code, body) = search(addr, r#"{"query": "zeppelin", "mode": "hybrid"}"#);
                    assert_eq!(code, 200, "{body}");
                    seen.push(answer(&body).snapshot.to_string());
                }
                seen
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    ok(&["snapshots", "rollback", a, "--store", s(store)]);
    let rolled = Instant::now();
    let switched = loop {
        let (code, body) = search(addr, q);
        assert_eq!(code, 200, "{body}");
        if answer(&body).snapshot.as_str() == a {
            break rolled.elapsed();
        }
        assert!(rolled.elapsed() < Duration::from_secs(10), "never switched");
        std::thread::sleep(Duration::from_millis(10));
    };
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let mut answers = Vec::new();
    for w in workers {
        answers.extend(w.join().expect("worker"));
    }
    assert!(answers.len() > 10, "{}", answers.len());
    assert!(answers.iter().all(|s| *s == a || *s == b));
    assert!(
        answers.iter().any(|s| s == b) && answers.iter().any(|s| s == a),
        "the answers switch"
    );
    assert!(
        switched < Duration::from_secs(1),
        "the rollback was visible after {switched:?}"
    );
    server.wait_log(&format!("swapped {b} -> {a}"));

    answers
}

#[test]
fn serves_follows_rollbacks_under_load_and_respects_gc() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (store, a, b) = two_snapshots(tmp.path());
    let server = Server::start(&store, &[], &[]);
    let addr = server.addr;
    check_api(addr, &a, &b);
    let answers = rollback_under_load(&server, &store, &a, &b);

    // A request naming `b` opens it beside `a`; its lease keeps it through gc.
    let (code, body) = search(
        addr,
        &format!(r#"{{"query": "zeppelin", "mode": "bm25", "snapshot": "{b}"}}"#),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(answer(&body).snapshot.as_str(), b);
    let g = gc_all(&store);
    assert!(g.deleted.is_empty(), "{g:?}");
    let kept_b = g.kept.iter().find(|k| k.id.as_str() == b).expect("b kept");
    assert!(
        kept_b
            .reasons
            .iter()
            .any(|r| r.contains("leased by ragops serve")),
        "{kept_b:?}"
    );

    let (code, metrics) = http(addr, "GET", "/metrics", "").expect("metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("ragops_snapshot_swaps_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains(&format!("ragops_snapshot_info{{snapshot=\"{a}\"}} 1")));
    assert!(metrics.contains("ragops_errors_total{code=\"k_out_of_range\"} 1"));
    assert!(metrics.contains("ragops_embed_batch_size_count"));
    let served: u64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("ragops_http_requests_total{route=\"/v1/search\",status=\"200\"}")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(served as usize > answers.len(), "{served}");

    // The server gone, its leases go with it: gc deletes `b` now.
    drop(server);
    let g = gc_all(&store);
    assert_eq!(
        g.deleted.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        vec![b]
    );
}

#[cfg(feature = "failpoints")]
#[test]
fn sigterm_drains_the_in_flight_request_then_exits_0() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (store, _a, b) = two_snapshots(tmp.path());
    let resume = tmp.path().join("resume");
    let mut server = Server::start(
        &store,
        &[
            ("RAGOPS_FAILPOINT", Path::new("serve-search")),
            ("RAGOPS_FAILPOINT_RESUME", &resume),
        ],
        &[],
    );
    let addr = server.addr;
    let inflight =
        std::thread::spawn(move || search(addr, r#"{"query": "zeppelin", "mode": "bm25"}"#));
    server.wait_log("RAGOPS_FAILPOINT serve-search");
    // SIGTERM while the request is held inside the search.
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
    server.wait_log("shutting down: 1 request(s) in flight");
    // No new connection is accepted while draining.
    assert!(
        http(addr, "GET", "/healthz", "").is_err(),
        "a new request was served after SIGTERM"
    );
    std::fs::write(&resume, "").expect("resume");
    let (code, body) = inflight.join().expect("in-flight request");
    assert_eq!(code, 200, "{body}");
    assert_eq!(answer(&body).snapshot.as_str(), b);
    let t = Instant::now();
    let status = loop {
        if let Some(st) = server.child.try_wait().expect("wait") {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(15), "{}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "{}", server.log());
    assert!(server.log().contains("stopped"));
}

/// A client that sends its body too slowly gets a 504 `timeout` and gives its place back.
#[test]
fn a_body_sent_too_slowly_times_out() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (store, _a, _b) = two_snapshots(tmp.path());
    let server = Server::start(&store, &[], &["--timeout", "300ms", "--queue", "1"]);
    let mut c = TcpStream::connect(server.addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let t = Instant::now();
    write!(
        c,
        "POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"query\""
    )
    .expect("write");
    let mut raw = String::new();
    c.read_to_string(&mut raw).expect("read");
    assert!(raw.starts_with("HTTP/1.1 504"), "{raw}");
    assert!(raw.contains("\"timeout\""), "{raw}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // The one place in the queue is free again.
    let (code, body) = search(server.addr, r#"{"query": "zeppelin", "mode": "bm25"}"#);
    assert_eq!(code, 200, "{body}");
}

/// With `--require-tenant`, a request names its tenant and sees only that tenant's chunks,
/// whatever filter it adds; filters are applied by the server as by `search`.
#[test]
fn a_server_requiring_tenants_isolates_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (p, store) = crate::filters::tenant_corpus(tmp.path());
    // the pipeline's `[serve] require_tenant` turns it on as the flag does
    let mut text = std::fs::read_to_string(&p).expect("pipeline");
    text.push_str("\n[serve]\nrequire_tenant = true\n");
    std::fs::write(&p, text).expect("pipeline");
    let by_config = Server::start(&store, &[], &["-p", s(&p)]);
    let (code, body) = search(by_config.addr, r#"{"query": "standby database"}"#);
    assert_eq!(code, 400, "{body}");
    drop(by_config);
    let server = Server::start(&store, &[], &["--require-tenant"]);
    let (code, body) = search(server.addr, r#"{"query": "standby database"}"#);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("tenant_required"), "{body}");
    for mode in ["bm25", "vector", "hybrid"] {
        for filter in [
            None,
            Some(r#"tenant = \"globex\" OR lang = \"en\""#),
            Some(r#"NOT tenant = \"acme\""#),
        ] {
            let f = filter.map_or(String::new(), |f| format!(r#", "filter": "{f}""#));
            let (code, body) = search(
                server.addr,
                &format!(
                    r#"{{"query": "promote the standby database", "mode": "{mode}", "tenant": "acme"{f}}}"#
                ),
            );
            assert_eq!(code, 200, "{body}");
            let r = answer(&body);
            assert!(
                r.results.iter().all(|h| h.doc_id.starts_with("acme/")),
                "{mode} {filter:?}: {body}"
            );
            if filter.is_none() {
                assert!(!r.results.is_empty(), "{mode}: {body}");
            }
        }
    }
    let (code, body) = search(
        server.addr,
        r#"{"query": "refunds", "tenant": "globex", "filter": "meta.author = \"jane\""}"#,
    );
    assert_eq!(code, 200, "{body}");
    let r = answer(&body);
    assert!(
        r.results.iter().all(|h| h.doc_id == "globex/faq.jsonl#q1"),
        "{body}"
    );
    assert!(!r.results.is_empty(), "{body}");
}

/// `--query-precision int8` embeds queries with the int8 kernels against the snapshot's f32
/// vectors: the log says so, and the answers are those of the snapshot's own precision up to
/// the arithmetic's rounding.
#[test]
fn queries_can_be_embedded_at_another_precision() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (store, _, b) = two_snapshots(tmp.path());
    let own = Server::start(&store, &[], &[]);
    own.wait_log(&format!("serving {b}"));
    assert!(
        own.log().contains("queries embedded at f32"),
        "{}",
        own.log()
    );
    let int8 = Server::start(&store, &[], &["--query-precision", "int8"]);
    int8.wait_log("queries embedded at int8");
    for q in [
        "rotate an api key",
        "rigid airship",
        "recovery drill each quarter",
    ] {
        let body = format!(r#"{{"query": "{q}", "mode": "vector", "k": 4}}"#);
        let (code, x) = search(own.addr, &body);
        assert_eq!(code, 200, "{x}");
        let (code, y) = search(int8.addr, &body);
        assert_eq!(code, 200, "{y}");
        let (x, y) = (answer(&x), answer(&y));
        assert_eq!(x.results.len(), y.results.len());
        assert_eq!(x.results[0].chunk_id, y.results[0].chunk_id, "{q}");
        for (a, b) in x.results.iter().zip(&y.results) {
            if a.chunk_id == b.chunk_id {
                assert!(
                    (a.score - b.score).abs() < 0.02,
                    "{q}: {} vs {}",
                    a.score,
                    b.score
                );
            }
        }
        assert!(
            x.results
                .iter()
                .zip(&y.results)
                .any(|(a, b)| a.score != b.score),
            "{q}: int8 gave the f32 scores bit for bit"
        );
    }
    drop(int8);
    let out = run(&["serve", "--store", s(&store), "--query-precision", "int4"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("int4") && err.contains("int8"), "{err}");
}

/// The ref loop wakes on a move or a poll (every 250 ms), not per request nor on its own
/// reads of the ref: a watcher that took those file-system events for moves once kept an idle
/// server refreshing in a loop (most of a core).
#[test]
fn requests_and_idle_time_do_not_spin_the_ref_loop() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (store, _, b) = two_snapshots(tmp.path());
    let started = Instant::now();
    let server = Server::start(&store, &[], &[]);
    server.wait_log(&format!("serving {b}"));
    for _ in 0..30 {
        let (code, body) = search(server.addr, r#"{"query": "rigid airship", "mode": "bm25"}"#);
        assert_eq!(code, 200, "{body}");
    }
    std::thread::sleep(Duration::from_secs(1));
    let (code, metrics) = http(server.addr, "GET", "/metrics", "").expect("metrics");
    assert_eq!(code, 200);
    let reads: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ragops_ref_reads_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no ref reads in {metrics}"));
    let polls = started.elapsed().as_secs_f64() / 0.25;
    assert!(
        reads >= 1.0 && reads <= polls + 8.0,
        "{reads} reads in {polls:.0} polls"
    );
}
