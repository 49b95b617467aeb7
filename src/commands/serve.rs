//! `ragops serve`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use ragops_serve::{Limits, ServeConfig, ServeEvent};

use crate::cli::ServeArgs;

/// The bearer token: the file's first line, else `RAGOPS_SERVE_TOKEN`; none when neither.
fn token(a: &ServeArgs) -> Result<Option<String>> {
    let t = match &a.token_file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the token file {}", f.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        None => std::env::var("RAGOPS_SERVE_TOKEN").unwrap_or_default(),
    };
    Ok((!t.is_empty()).then_some(t))
}

fn render(e: ServeEvent) {
    match e {
        ServeEvent::Listening(addr) => eprintln!("[ragops] listening on http://{addr}"),
        ServeEvent::Loaded {
            snapshot,
            secs,
            precision,
        } => {
            eprintln!(
                "[ragops] serving {snapshot} (opened and warmed in {secs:.2} s; queries embedded \
                 at {precision})"
            );
        }
        ServeEvent::Swapped { from, to } => eprintln!("[ragops] swapped {from} -> {to}"),
        ServeEvent::SwapFailed { to, reason } => {
            eprintln!(
                "[ragops] warning: cannot serve {to}, staying on the current snapshot: {reason}"
            );
        }
        ServeEvent::Draining { in_flight } => {
            eprintln!("[ragops] shutting down: {in_flight} request(s) in flight");
        }
        ServeEvent::DrainTimedOut { in_flight } => {
            eprintln!("[ragops] warning: {in_flight} request(s) still running at the drain bound");
        }
        ServeEvent::Stopped => eprintln!("[ragops] stopped"),
    }
}

/// SIGTERM or SIGINT.
async fn signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

pub(super) fn run(a: ServeArgs) -> Result<ExitCode> {
    let config = ServeConfig {
        follow: a.snapshot.clone(),
        token: token(&a)?,
        limits: Limits {
            max_k: a.max_k,
            queue: a.queue as usize,
            timeout: a.timeout,
            ..Limits::default()
        },
        batch_max: a.batch_max.into(),
        batch_wait: std::time::Duration::from_millis(a.batch_wait_ms),
        drain: a.drain,
        query_precision: a.query_precision,
        require_tenant: a.require_tenant
            || ragops_engine::ops::resolve_serve_settings(a.store.pipeline.as_deref())?
                .require_tenant,
        ..ServeConfig::new(a.store.read_dir(&a.snapshot)?)
    };
    // On object storage the server follows the mirror, which this thread keeps in step with
    // the remote `current` (polled every 2 s).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(url) = a
        .store
        .store
        .as_ref()
        .filter(|s| ragops_engine::remote::is_remote(s))
    {
        let (url, stop) = (url.to_string_lossy().into_owned(), stop.clone());
        std::thread::spawn(move || {
            let _ = ragops_engine::remote::follow(
                &url,
                std::time::Duration::from_secs(2),
                &|| stop.load(std::sync::atomic::Ordering::Relaxed),
                &|e| eprintln!("[ragops] warning: following {url}: {e}"),
            );
        });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.http_threads.max(1))
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.addr)
            .await
            .with_context(|| format!("cannot listen on {}", a.addr))?;
        ragops_serve::serve(config, listener, signal(), Arc::new(render)).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(ExitCode::SUCCESS)
}
