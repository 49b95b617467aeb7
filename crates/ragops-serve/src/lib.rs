//! `ragops serve`: the long-running query server behind a RAG application.
//!
//! - **Blue/green.** The server follows a ref (`current` by default): a watcher on the store's
//!   `refs/` directory (inotify through `notify`, with a polling fallback) notices a publish or
//!   a rollback, opens and warms the new snapshot beside the old one, then swaps it in
//!   atomically (`arc-swap`). A request holds the snapshot it started on until it ends; the old
//!   snapshot is dropped with its last request.
//! - **Leases.** Every snapshot the server has open is named by a reader lease in the store
//!   (`ragops_store::ReaderLease`), renewed while it is open, so gc never deletes it.
//! - **The reactor never computes.** Query embedding runs on its own thread with dynamic
//!   micro-batching across concurrent requests (`batcher`); searches run on tokio's blocking
//!   pool. Admission is bounded: past `queue` requests in flight, the answer is 503 with
//!   `Retry-After`.
//!
//! The library neither prints nor names CLI flags: the binary passes a [`ServeConfig`] and
//! receives [`ServeEvent`]s to report.

mod api;
mod batcher;
mod live;
mod metrics;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ragops_core::SnapshotId;

pub use api::{ErrorBody, ErrorDetail, SearchRequest, SearchResponse};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The store directory.
    pub store: PathBuf,
    /// The ref followed (`current`, a tag) or a snapshot id (pinned).
    pub follow: String,
    /// A bearer token every `/v1/` request must carry, if set.
    pub token: Option<String>,
    pub limits: Limits,
    /// Most queries embedded together.
    pub batch_max: usize,
    /// How long the embedding thread waits for more queries after the first, when fewer than
    /// `batch_max` are queued.
    pub batch_wait: Duration,
    /// How often the followed ref is read again (besides file-system events).
    pub poll: Duration,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub drain: Duration,
    /// A reader lease's time to live (renewed at a third of it).
    pub lease_ttl: Duration,
    /// Every search must name a tenant, and sees only that tenant's chunks.
    pub require_tenant: bool,
    /// The precision queries are embedded at, when not each snapshot's own.
    pub query_precision: Option<ragops_core::Precision>,
}

/// Request limits.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_k: usize,
    pub max_query_chars: usize,
    pub max_body_bytes: usize,
    /// Most search requests admitted at once; more are answered 503.
    pub queue: usize,
    /// Most time a request may take.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_k: 1000,
            max_query_chars: 4096,
            max_body_bytes: 64 * 1024,
            queue: 256,
            timeout: Duration::from_secs(10),
        }
    }
}

impl ServeConfig {
    /// Defaults for a store.
    pub fn new(store: PathBuf) -> Self {
        ServeConfig {
            store,
            follow: "current".to_string(),
            token: None,
            limits: Limits::default(),
            batch_max: 32,
            batch_wait: Duration::from_millis(1),
            poll: Duration::from_millis(250),
            drain: Duration::from_secs(10),
            lease_ttl: Duration::from_secs(30),
            require_tenant: false,
            query_precision: None,
        }
    }
}

/// What the server reports while it runs.
#[derive(Debug, Clone)]
pub enum ServeEvent {
    Listening(SocketAddr),
    /// A snapshot opened and warmed, in seconds; its queries are embedded at `precision`.
    Loaded {
        snapshot: SnapshotId,
        secs: f64,
        precision: ragops_core::Precision,
    },
    Swapped {
        from: SnapshotId,
        to: SnapshotId,
    },
    /// The followed ref names a snapshot that could not be opened; the old one stays.
    SwapFailed {
        to: String,
        reason: String,
    },
    /// A shutdown signal: in-flight requests are finishing.
    Draining {
        in_flight: usize,
    },
    /// Requests still running when the drain bound passed.
    DrainTimedOut {
        in_flight: usize,
    },
    Stopped,
}

/// Why the server could not start or stopped on an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] ragops_store::StoreError),
    #[error(transparent)]
    Engine(#[from] ragops_engine::EngineError),
    #[error(transparent)]
    Search(#[from] ragops_search::SearchError),
    #[error("cannot serve on {addr}: {source}")]
    Io {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the server's worker stopped unexpectedly: {0}")]
    Worker(String),
}

/// Receives the server's events (the binary renders them).
pub type EventSink = Arc<dyn Fn(ServeEvent) + Send + Sync>;

/// Opens the followed snapshot, then serves on `listener` until `shutdown` completes; then
/// stops accepting and lets in-flight requests finish within `config.drain`.
pub async fn serve(
    config: ServeConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    events: EventSink,
) -> Result<(), ServeError> {
    let addr = listener.local_addr().map_err(|source| ServeError::Io {
        addr: "listener".into(),
        source,
    })?;
    let state = api::AppState::start(config, events.clone()).await?;
    events(ServeEvent::Listening(addr));
    api::run(state, listener, shutdown, events).await
}
