//! Query embedding with dynamic micro-batching, as text-embeddings-inference does it: one
//! thread owns the model's compute; a request queues its text and awaits its vector. The
//! thread takes every query waiting (up to `max`), waits up to `wait` for more when it has
//! fewer, embeds them as one batch and answers each. Under load, batches form while the
//! previous one computes; alone, a query waits at most `wait`.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ragops_embed::Embedder;
use tokio::sync::oneshot;

use crate::metrics::Metrics;

struct Job {
    text: String,
    embedder: Arc<Embedder>,
    reply: oneshot::Sender<Result<Vec<f32>, String>>,
}

/// The queue in front of the embedding thread.
pub(crate) struct Batcher {
    tx: SyncSender<Job>,
}

/// Why a query was not embedded.
#[derive(Debug)]
pub(crate) enum EmbedFailure {
    /// The queue is full.
    Overloaded,
    /// The model failed, or the thread is gone.
    Failed(String),
}

impl Batcher {
    /// Starts the embedding thread; `capacity` queries may wait.
    pub(crate) fn start(
        capacity: usize,
        max: usize,
        wait: Duration,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Batcher> {
        let (tx, rx) = sync_channel(capacity.max(1));
        std::thread::Builder::new()
            .name("ragops-embed".into())
            .spawn(move || run(&rx, max.max(1), wait, &metrics))?;
        Ok(Batcher { tx })
    }

    /// The query's vector, computed with `embedder` in a batch with whatever else is queued.
    pub(crate) async fn embed(
        &self,
        text: String,
        embedder: Arc<Embedder>,
    ) -> Result<Vec<f32>, EmbedFailure> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Job {
            text,
            embedder,
            reply,
        }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(EmbedFailure::Overloaded),
            Err(TrySendError::Disconnected(_)) => {
                return Err(EmbedFailure::Failed("the embedding thread stopped".into()))
            }
        }
        match rx.await {
            Ok(r) => r.map_err(EmbedFailure::Failed),
            Err(_) => Err(EmbedFailure::Failed("the embedding thread stopped".into())),
        }
    }
}

fn run(rx: &Receiver<Job>, max: usize, wait: Duration, metrics: &Metrics) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < max {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let deadline = Instant::now() + wait;
        while jobs.len() < max {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match rx.recv_timeout(left) {
                Ok(j) => jobs.push(j),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        // Requests whose caller gave up (timeout, disconnect) are not embedded.
        jobs.retain(|j| !j.reply.is_closed());
        // One batch per model (a swap between two models' snapshots can mix them).
        while !jobs.is_empty() {
            let model = jobs[0].embedder.clone();
            let (same, rest): (Vec<Job>, Vec<Job>) = jobs
                .into_iter()
                .partition(|j| Arc::ptr_eq(&j.embedder, &model));
            jobs = rest;
            metrics.batch.observe(same.len() as f64);
            let texts: Vec<&str> = same.iter().map(|j| j.text.as_str()).collect();
            match model.embed(&texts, texts.len(), |_| {}) {
                Ok(out) => {
                    for (j, v) in same.into_iter().zip(out.vectors) {
                        let _ = j.reply.send(Ok(v));
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    for j in same {
                        let _ = j.reply.send(Err(msg.clone()));
                    }
                }
            }
        }
    }
}
