//! The HTTP API (axum): routes, limits, JSON errors with stable codes, the follower task and
//! graceful shutdown.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ragops_core::filter::{Field, Filter, Op, Value};
use ragops_core::{Mode, SnapshotId};
use ragops_engine::ops::SearchResult;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::batcher::{Batcher, EmbedFailure};
use crate::live::{Live, Loaded};
use crate::metrics::Metrics;
use crate::{EventSink, ServeConfig, ServeError, ServeEvent};

/// `POST /v1/search` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub query: String,
    #[serde(default = "default_k")]
    pub k: usize,
    #[serde(default)]
    pub mode: Mode,
    /// A snapshot id, unique prefix or tag; the followed snapshot when absent.
    #[serde(default)]
    pub snapshot: Option<String>,
    #[serde(default)]
    pub exact: bool,
    /// A filter expression (`lang = "en" AND modified >= 2026-01-01`): only the chunks it
    /// admits are searched.
    #[serde(default)]
    pub filter: Option<String>,
    /// Only this tenant's chunks are searched (required when the server runs with
    /// `require_tenant`).
    #[serde(default)]
    pub tenant: Option<String>,
}

/// A search request whose filter and tenant are parsed and combined.
#[derive(Debug, Clone)]
pub(crate) struct CheckedSearch {
    pub request: SearchRequest,
    pub filter: Option<Filter>,
}

fn default_k() -> usize {
    10
}

/// `POST /v1/search` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResponse {
    /// The snapshot that answered.
    pub snapshot: SnapshotId,
    pub mode: Mode,
    pub k: usize,
    /// `hnsw` or `flat`, for vector and hybrid queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector_search: Option<String>,
    /// Server time spent, in milliseconds.
    pub took_ms: f64,
    pub results: Vec<SearchResult>,
}

/// Every error answer: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable, machine-readable.
    pub code: String,
    pub message: String,
}

/// An error answer.
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: bool,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: false,
        }
    }

    fn overloaded(message: impl Into<String>) -> Self {
        ApiError {
            retry_after: true,
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let mut r = (self.status, Json(body)).into_response();
        r.extensions_mut().insert(ErrorCode(self.code));
        if self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

/// The code of an error answer, for the metrics.
#[derive(Clone, Copy)]
struct ErrorCode(&'static str);

/// Shared by every request.
pub(crate) struct AppState {
    config: ServeConfig,
    live: Arc<Live>,
    batcher: Batcher,
    metrics: Arc<Metrics>,
    admission: Arc<Semaphore>,
    in_flight: AtomicUsize,
    ready: std::sync::atomic::AtomicBool,
    /// Wakes the follower (file-system events, and requests that saw the ref move).
    kick: tokio::sync::mpsc::Sender<()>,
    kicked: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<()>>>,
    /// The number of the last refresh attempt finished.
    refreshed: tokio::sync::watch::Sender<u64>,
}

impl AppState {
    /// Opens and warms the followed snapshot, starts the embedding thread.
    pub(crate) async fn start(
        config: ServeConfig,
        events: EventSink,
    ) -> Result<Arc<AppState>, ServeError> {
        let metrics = Arc::new(Metrics::new());
        let holder = "ragops serve".to_string();
        let cfg = config.clone();
        let (live, secs) = tokio::task::spawn_blocking(move || Live::start(&cfg, holder))
            .await
            .map_err(|e| ServeError::Worker(e.to_string()))??;
        let loaded = live.current.load();
        events(ServeEvent::Loaded {
            snapshot: loaded.id.clone(),
            secs,
            precision: config
                .query_precision
                .unwrap_or(loaded.searcher.manifest().model.precision),
        });
        let batcher = Batcher::start(
            config.limits.queue,
            config.batch_max,
            config.batch_wait,
            metrics.clone(),
        )
        .map_err(|source| ServeError::Io {
            addr: "embedding thread".into(),
            source,
        })?;
        let (kick, kicked) = tokio::sync::mpsc::channel(1);
        Ok(Arc::new(AppState {
            kick,
            kicked: std::sync::Mutex::new(Some(kicked)),
            refreshed: tokio::sync::watch::Sender::new(0),
            admission: Arc::new(Semaphore::new(config.limits.queue.max(1))),
            config,
            live: Arc::new(live),
            batcher,
            metrics,
            in_flight: AtomicUsize::new(0),
            ready: std::sync::atomic::AtomicBool::new(true),
        }))
    }
}

/// The route label of a path, for the metrics (ids collapsed).
fn route_label(path: &str) -> &'static str {
    match path {
        "/v1/search" => "/v1/search",
        "/v1/snapshots" => "/v1/snapshots",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        "/openapi.json" => "/openapi.json",
        p if p.starts_with("/v1/snapshots/") => "/v1/snapshots/{id}",
        _ => "other",
    }
}

/// Counts requests by route and status, errors by code, and in-flight requests.
async fn observe(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = route_label(req.uri().path());
    state.in_flight.fetch_add(1, Ordering::SeqCst);
    let r = next.run(req).await;
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    state.metrics.request(route, r.status().as_u16());
    if let Some(ErrorCode(code)) = r.extensions().get::<ErrorCode>() {
        state.metrics.error(code);
    }
    r
}

/// The bearer token, when one is configured, on every `/v1/` route.
async fn authorize(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Some(token) = &state.config.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this server needs `Authorization: Bearer <token>`",
            )
            .into_response();
        }
    }
    next.run(req).await
}

fn router(state: Arc<AppState>) -> Router {
    let v1 = Router::new()
        .route("/v1/search", post(search))
        .route("/v1/snapshots", get(snapshots))
        .route("/v1/snapshots/{id}", get(snapshot))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authorize,
        ));
    Router::new()
        .merge(v1)
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(|| async { Json(openapi()) }))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        let cur = state.live.current.load();
        Json(serde_json::json!({"status": "ready", "snapshot": cur.id})).into_response()
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "shutting down",
        )
        .into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let cur = state.live.current.load_full();
    let age = ragops_core::unix_now() - cur.created_unix;
    let text = state.metrics.render(Some((cur.id.as_str(), age)));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Reads and checks the body of a search request.
async fn parse_search(state: &AppState, req: Request) -> Result<CheckedSearch, ApiError> {
    let limits = &state.config.limits;
    let bytes = axum::body::to_bytes(req.into_body(), limits.max_body_bytes)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body is over {} bytes", limits.max_body_bytes),
            )
        })?;
    let r: SearchRequest = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the body is not a search request: {e}"),
        )
    })?;
    let parsed = match r.filter.as_deref() {
        Some(text) => Some(Filter::parse(text).map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_filter", e.to_string())
        })?),
        None => None,
    };
    let tenant = match (&r.tenant, state.config.require_tenant) {
        (Some(t), _) if t.is_empty() => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "tenant_required",
                "`tenant` is empty",
            ))
        }
        (Some(t), _) => Some(Filter::Cmp {
            field: Field::Tenant,
            op: Op::Eq,
            value: Value::Text(t.clone()),
        }),
        (None, true) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "tenant_required",
                "this server serves several tenants: name one with `tenant`",
            ))
        }
        (None, false) => None,
    };
    // The tenant is a conjunct: a filter can narrow it, never widen it.
    let filter = match (tenant, parsed) {
        (Some(t), Some(f)) => Some(t.and(f)),
        (t, f) => t.or(f),
    };
    if r.query.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_query",
            "`query` is empty",
        ));
    }
    let chars = r.query.chars().count();
    if chars > limits.max_query_chars {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "query_too_long",
            format!(
                "`query` has {chars} characters; the limit is {}",
                limits.max_query_chars
            ),
        ));
    }
    if r.k == 0 || r.k > limits.max_k {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "k_out_of_range",
            format!("`k` must be between 1 and {}", limits.max_k),
        ));
    }
    Ok(CheckedSearch { request: r, filter })
}

async fn search(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let started = Instant::now();
    let Ok(_permit) = state.admission.clone().try_acquire_owned() else {
        return ApiError::overloaded(format!(
            "{} requests are in flight; retry shortly",
            state.config.limits.queue
        ))
        .into_response();
    };
    // The timeout covers reading the body too: a client that sends it slowly does not hold its
    // place in the queue for longer than any other request.
    let work = async {
        let r = parse_search(&state, req).await?;
        let mode = r.request.mode;
        run_search(state.clone(), r, started)
            .await
            .map(|resp| (mode, resp))
    };
    match tokio::time::timeout(state.config.limits.timeout, work).await {
        Ok(Ok((mode, resp))) => {
            state.metrics.latency(mode, started.elapsed().as_secs_f64());
            Json(resp).into_response()
        }
        Ok(Err(e)) => e.into_response(),
        Err(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!(
                "the request took longer than {:?}",
                state.config.limits.timeout
            ),
        )
        .into_response(),
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

async fn run_search(
    state: Arc<AppState>,
    checked: CheckedSearch,
    started: Instant,
) -> Result<SearchResponse, ApiError> {
    let CheckedSearch { request: r, filter } = checked;
    // The snapshot this request answers from, held until it ends.
    let loaded: Arc<Loaded> = match r.snapshot.clone() {
        None => followed(&state).await,
        Some(name) => {
            let live = state.live.clone();
            tokio::task::spawn_blocking(move || live.get(&name))
                .await
                .map_err(internal)?
                .map_err(|e| match e {
                    ServeError::Store(s) => {
                        ApiError::new(StatusCode::NOT_FOUND, "snapshot_not_found", s.to_string())
                    }
                    other => internal(other),
                })?
        }
    };
    let qvec = if ragops_search::Searcher::needs_vector(r.mode) {
        let v = state
            .batcher
            .embed(r.query.clone(), loaded.embedder.clone())
            .await
            .map_err(|e| match e {
                EmbedFailure::Overloaded => {
                    ApiError::overloaded("the query-embedding queue is full; retry shortly")
                }
                EmbedFailure::Failed(m) => internal(m),
            })?;
        Some(v)
    } else {
        None
    };
    let (mode, k, exact) = (r.mode, r.k, r.exact);
    let query = r.query;
    tokio::task::spawn_blocking(move || {
        ragops_store::failpoint("serve-search");
        let hits = loaded
            .searcher
            .search_where(&query, qvec.as_deref(), mode, k, exact, filter.as_ref())
            .map_err(internal)?;
        Ok(SearchResponse {
            snapshot: loaded.id.clone(),
            mode,
            k,
            vector_search: ragops_search::Searcher::needs_vector(mode).then(|| {
                loaded
                    .searcher
                    .vector_method_where(exact, filter.as_ref())
                    .to_string()
            }),
            took_ms: started.elapsed().as_secs_f64() * 1e3,
            results: SearchResult::ranked(hits),
        })
    })
    .await
    .map_err(internal)?
}

/// The followed snapshot for a request. When the ref names another snapshot than the one
/// loaded (it moved a moment ago), the request waits for a refresh attempt that began after
/// it looked (bounded by the request timeout), so that it answers from a snapshot the ref
/// named during the request; if that snapshot cannot be opened, from the one loaded.
async fn followed(state: &AppState) -> Arc<Loaded> {
    let cur = state.live.current.load_full();
    // One small file read (the ref), from the page cache.
    match state.live.ref_target() {
        Some(want) if want != cur.id => {
            let mut rx = state.refreshed.subscribe();
            let after = state.live.attempts();
            let _ = state.kick.try_send(());
            while *rx.borrow_and_update() <= after {
                if rx.changed().await.is_err() {
                    break;
                }
            }
            state.live.current.load_full()
        }
        _ => cur,
    }
}

/// One snapshot as listed.
fn summary(s: &ragops_store::SnapshotSummary) -> serde_json::Value {
    match &s.manifest {
        Ok(m) => serde_json::json!({
            "id": s.id,
            "current": s.current,
            "tags": s.tags,
            "created_unix": m.created_unix,
            "format_version": m.format_version,
            "counts": m.counts,
            "model": m.model.id,
            "fragments": m.fragments.len(),
        }),
        Err(e) => serde_json::json!({
            "id": s.id, "current": s.current, "tags": s.tags, "error": e,
        }),
    }
}

async fn snapshots(State(state): State<Arc<AppState>>) -> Response {
    let live = state.live.clone();
    let listed = tokio::task::spawn_blocking(move || live.store.list()).await;
    match listed {
        Ok(Ok(list)) => {
            let serving = state.live.current.load().id.clone();
            Json(serde_json::json!({
                "serving": serving,
                "snapshots": list.iter().map(summary).collect::<Vec<_>>(),
            }))
            .into_response()
        }
        Ok(Err(e)) => internal(e).into_response(),
        Err(e) => internal(e).into_response(),
    }
}

async fn snapshot(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    let live = state.live.clone();
    let found = tokio::task::spawn_blocking(move || {
        let id = live.store.resolve(&name)?;
        let manifest = live.store.manifest(&id)?;
        let tags: Vec<String> = live
            .store
            .list()?
            .into_iter()
            .find(|s| s.id == id)
            .map(|s| s.tags)
            .unwrap_or_default();
        Ok::<_, ragops_store::StoreError>((manifest, tags))
    })
    .await;
    match found {
        Ok(Ok((manifest, tags))) => {
            Json(serde_json::json!({"manifest": manifest, "tags": tags})).into_response()
        }
        Ok(Err(e)) => ApiError::new(StatusCode::NOT_FOUND, "snapshot_not_found", e.to_string())
            .into_response(),
        Err(e) => internal(e).into_response(),
    }
}

/// Follows the ref: a file-system watcher on `refs/` wakes the loop, which also reads the ref
/// every `poll` (the fallback where events are not delivered); leases are renewed on the way.
async fn follow(state: Arc<AppState>, events: EventSink) {
    let Some(mut rx) = state.kicked.lock().ok().and_then(|mut k| k.take()) else {
        return;
    };
    let tx = state.kick.clone();
    let refs = state.config.store.join("refs");
    // Kept for the loop's life: dropping it stops the events.
    let _watcher = {
        use notify::Watcher;
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            // Reading the ref (each refresh does) is an access event, not a move: waking on
            // it made every refresh wake the next, a busy loop.
            if res
                .as_ref()
                .is_ok_and(|e| matches!(e.kind, notify::EventKind::Access(_)))
            {
                return;
            }
            let _ = tx.try_send(());
        })
        .and_then(|mut w| {
            w.watch(&refs, notify::RecursiveMode::Recursive)?;
            Ok(w)
        })
        .ok()
    };
    let renew_every = state.config.lease_ttl / 3;
    let mut renewed = Instant::now();
    loop {
        tokio::select! {
            _ = rx.recv() => {}
            () = tokio::time::sleep(state.config.poll) => {}
        }
        state.metrics.ref_reads.fetch_add(1, Ordering::Relaxed);
        let live = state.live.clone();
        let renew = renewed.elapsed() >= renew_every;
        if renew {
            renewed = Instant::now();
        }
        let done = tokio::task::spawn_blocking(move || {
            if renew {
                live.renew_leases();
            }
            live.refresh()
        })
        .await;
        let Ok((attempt, event)) = done else {
            continue;
        };
        state.refreshed.send_replace(attempt);
        if let Some(e) = event {
            match &e {
                ServeEvent::Swapped { .. } => {
                    state.metrics.swaps.fetch_add(1, Ordering::Relaxed);
                }
                ServeEvent::SwapFailed { .. } => {
                    state.metrics.swap_errors.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
            events(e);
        }
    }
}

/// Serves until `shutdown`, then drains within `config.drain`.
pub(crate) async fn run(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    events: EventSink,
) -> Result<(), ServeError> {
    let follower = tokio::spawn(follow(state.clone(), events.clone()));
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let st = state.clone();
    let ev = events.clone();
    let graceful = async move {
        shutdown.await;
        st.ready.store(false, Ordering::SeqCst);
        ev(ServeEvent::Draining {
            in_flight: st.in_flight.load(Ordering::SeqCst),
        });
        let _ = signalled_tx.send(());
    };
    let app = router(state.clone());
    let server = axum::serve(listener, app).with_graceful_shutdown(graceful);
    let server = async move { server.await };
    let drain = state.config.drain;
    let bound = async move {
        if signalled_rx.await.is_ok() {
            tokio::time::sleep(drain).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let result = tokio::select! {
        r = server => r.map_err(|source| ServeError::Io { addr: "server".into(), source }),
        () = bound => {
            events(ServeEvent::DrainTimedOut {
                in_flight: state.in_flight.load(Ordering::SeqCst),
            });
            Ok(())
        }
    };
    follower.abort();
    events(ServeEvent::Stopped);
    result
}

/// The OpenAPI 3.0 description of the API.
pub(crate) fn openapi() -> serde_json::Value {
    let error = serde_json::json!({"$ref": "#/components/schemas/Error"});
    let err = |d: &str| serde_json::json!({"description": d, "content": {"application/json": {"schema": error}}});
    serde_json::json!({
        "openapi": "3.0.3",
        "info": {
            "title": "ragops serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Queries a ragops snapshot store. The server follows a ref (`current` by default) and swaps snapshots blue/green when it moves. With a token configured, /v1/ routes need `Authorization: Bearer <token>`."
        },
        "paths": {
            "/v1/search": {"post": {
                "summary": "The k best chunks for a query",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SearchRequest"}}}},
                "responses": {
                    "200": {"description": "Hits, best first", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SearchResponse"}}}},
                    "400": err("invalid_request, empty_query, query_too_long, k_out_of_range, invalid_filter or tenant_required"),
                    "401": err("unauthorized"),
                    "404": err("snapshot_not_found"),
                    "413": err("body_too_large"),
                    "500": err("internal"),
                    "503": err("overloaded (with Retry-After)"),
                    "504": err("timeout")
                }
            }},
            "/v1/snapshots": {"get": {"summary": "Every snapshot of the store, and the one served", "responses": {"200": {"description": "The list"}, "401": err("unauthorized")}}},
            "/v1/snapshots/{id}": {"get": {
                "summary": "A snapshot's manifest and tags",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "id, unique prefix, tag or current"}],
                "responses": {"200": {"description": "The manifest"}, "401": err("unauthorized"), "404": err("snapshot_not_found")}
            }},
            "/healthz": {"get": {"summary": "The process is up", "responses": {"200": {"description": "ok"}}}},
            "/readyz": {"get": {"summary": "A snapshot is loaded and warmed", "responses": {"200": {"description": "ready"}, "503": err("not_ready")}}},
            "/metrics": {"get": {"summary": "Prometheus text format: requests by route and status, errors by code, search latency by mode, embedding batch sizes, the served snapshot and its age, swaps", "responses": {"200": {"description": "text/plain; version=0.0.4"}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.0"}}}}
        },
        "components": {"schemas": {
            "SearchRequest": {"type": "object", "required": ["query"], "additionalProperties": false, "properties": {
                "query": {"type": "string"},
                "k": {"type": "integer", "minimum": 1, "default": 10},
                "mode": {"type": "string", "enum": ["hybrid", "vector", "bm25"], "default": "hybrid"},
                "snapshot": {"type": "string", "description": "id, unique prefix or tag; the followed snapshot when absent"},
                "exact": {"type": "boolean", "default": false, "description": "scan every vector instead of the HNSW graph"},
                "filter": {"type": "string", "description": "filter expression, e.g. lang = \"en\" AND tenant = \"acme\" AND modified >= 2026-01-01 (fields lang, tenant, format, path, doc, title, modified, created, keywords, acl, meta.NAME; =, !=, <, <=, >, >=, IN, NOT, AND, OR)"},
                "tenant": {"type": "string", "description": "search only this tenant's chunks; required when the server runs with require_tenant"}
            }},
            "SearchResponse": {"type": "object", "properties": {
                "snapshot": {"type": "string", "description": "the snapshot that answered"},
                "mode": {"type": "string"}, "k": {"type": "integer"},
                "vector_search": {"type": "string", "enum": ["hnsw", "flat"]},
                "took_ms": {"type": "number"},
                "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}}
            }},
            "Hit": {"type": "object", "properties": {
                "rank": {"type": "integer"}, "score": {"type": "number"},
                "chunk_id": {"type": "string"}, "doc_id": {"type": "string"},
                "title": {"type": "string"}, "source_path": {"type": "string"},
                "heading_path": {"type": "array", "items": {"type": "string"}},
                "page_start": {"type": "integer", "nullable": true}, "page_end": {"type": "integer", "nullable": true},
                "start_char": {"type": "integer"}, "end_char": {"type": "integer"},
                "bm25_rank": {"type": "integer", "nullable": true}, "vector_rank": {"type": "integer", "nullable": true},
                "lang": {"type": "string", "description": "ISO 639-1 language (enrichment step `language`); absent when unknown"},
                "keywords": {"type": "array", "items": {"type": "string"}, "description": "key phrases (enrichment step `keywords`)"},
                "tenant": {"type": "string", "description": "the document's tenant (enrichment step `metadata`)"},
                "text": {"type": "string"}
            }},
            "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                "code": {"type": "string"}, "message": {"type": "string"}
            }}}}
        }}
    })
}
