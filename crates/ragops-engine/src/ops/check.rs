//! `ragops check`: is a snapshot fresh against its sources, config and model?

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use ragops_core::{
    config_diff, content_part, ConfigChange, LoadedPipeline, SnapshotId, SourceDiff,
};
use ragops_store::{Catalog, Store};
use serde::{Deserialize, Serialize};

use crate::build::hash_files;
use crate::model::load_model;
use crate::EngineError;

#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub pipeline: PathBuf,
    pub store: Option<PathBuf>,
    /// Snapshot to check (default `current`).
    pub snapshot: String,
    /// Stale when the snapshot is older than this.
    pub max_age: Option<Duration>,
}

/// Source files added, changed (other bytes) and deleted since the snapshot (display paths).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceDrift {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub deleted: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelDrift {
    pub snapshot: String,
    pub configured: String,
    pub changed: bool,
}

/// The machine-readable report (`ragops check --json`). Field names are stable.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckReport {
    pub fresh: bool,
    /// One line per reason the snapshot is stale.
    pub reasons: Vec<String>,
    pub snapshot: SnapshotId,
    pub store: PathBuf,
    pub pipeline: PathBuf,
    pub created_at: String,
    pub age_seconds: u64,
    pub max_age_seconds: Option<u64>,
    pub sources: SourceDrift,
    pub config_changes: Vec<ConfigChange>,
    /// The settings are the same but this ragops cuts chunks differently.
    pub chunker_changed: bool,
    pub model: ModelDrift,
}

/// Checks a snapshot against the pipeline's sources, content settings and model, and its age.
pub fn check(opts: &CheckOptions) -> Result<CheckReport, EngineError> {
    let pipeline = LoadedPipeline::load(&opts.pipeline)?;
    let cfg = &pipeline.config;
    let store_dir = opts.store.clone().unwrap_or_else(|| pipeline.store_dir());
    let store = Store::open(&store_dir)?;
    let id = store.resolve(&opts.snapshot)?;
    let snapshot = store.snapshot(&id)?;
    let m = snapshot.manifest().clone();
    let mut reasons = Vec::new();
    let sources = source_drift(&snapshot.catalog()?, &pipeline, &mut reasons);

    // Config: only the settings that shape the snapshot's content.
    let config_changes = config_diff(&content_part(m.config.clone()), &cfg.content_json());
    if !config_changes.is_empty() {
        let keys: Vec<&str> = config_changes.iter().map(|c| c.key.as_str()).collect();
        reasons.push(format!("config changed: {}", keys.join(", ")));
    }
    // Same settings, different chunk boundaries: this ragops cuts chunks differently.
    let chunker_changed = config_changes.is_empty() && m.chunking_hash != cfg.chunking_hash();
    if chunker_changed {
        reasons.push(format!(
            "chunking algorithm changed (this ragops cuts token-sized chunks with {} and \
             contextual headers with {}); the next build re-chunks every document",
            ragops_core::TOKEN_SPLITTER,
            ragops_core::CONTEXTUAL_HEADER
        ));
    }

    // Model: what the pipeline names now, resolved in the local cache.
    let now = load_model(
        &pipeline.model_ref(),
        &cfg.embedding.revision,
        cfg.embedding.max_tokens,
        cfg.embedding.precision,
    )?
    .identity;
    // A precision change is a config change too (`embedding.precision`), and a model change:
    // the vectors differ, and the next build embeds everything again.
    let changed = now.id != m.model.id
        || now.revision != m.model.revision
        || now.weights_sha256 != m.model.weights_sha256
        || now.precision != m.model.precision;
    let model = ModelDrift {
        snapshot: m.model.label(),
        configured: now.label(),
        changed,
    };
    if changed {
        reasons.push(format!(
            "model changed: {} -> {}",
            model.snapshot, model.configured
        ));
    }

    let age_seconds = (ragops_core::unix_now() - m.created_unix).max(0) as u64;
    if let Some(max) = opts.max_age {
        if age_seconds > max.as_secs() {
            reasons.push(format!(
                "built {} ago, more than the maximum age of {}",
                humantime::format_duration(Duration::from_secs(age_seconds)),
                humantime::format_duration(max)
            ));
        }
    }
    Ok(CheckReport {
        fresh: reasons.is_empty(),
        reasons,
        snapshot: id,
        store: store_dir,
        pipeline: opts.pipeline.clone(),
        created_at: m.created_at,
        age_seconds,
        max_age_seconds: opts.max_age.map(|d| d.as_secs()),
        sources,
        config_changes,
        chunker_changed,
        model,
    })
}

/// The walk now against the files recorded at build time.
fn source_drift(m: &Catalog, pipeline: &LoadedPipeline, reasons: &mut Vec<String>) -> SourceDrift {
    if m.source_files.is_empty() && !m.sources.is_empty() {
        reasons.push(
            "the snapshot predates per-file source records; rebuild once to enable source checks"
                .into(),
        );
        return SourceDrift::default();
    }
    let cfg = &pipeline.config;
    let (files, _) = ragops_load::discover(&cfg.sources, &pipeline.base_dir);
    let hashes = hash_files(&files, cfg.sources.max_file_bytes);
    let diff = SourceDiff::between(
        m.source_files
            .iter()
            .map(|r| (r.id.as_str(), r.sha256.clone())),
        files
            .iter()
            .zip(&hashes)
            .map(|(f, h)| (f.id.as_str(), h.clone())),
    );
    let now: HashMap<&str, &str> = files
        .iter()
        .map(|f| (f.id.as_str(), f.display_path.as_str()))
        .collect();
    let before: HashMap<&str, &str> = m
        .source_files
        .iter()
        .map(|r| (r.id.as_str(), r.path.as_str()))
        .collect();
    let paths = |ids: &[String], map: &HashMap<&str, &str>| -> Vec<String> {
        ids.iter()
            .map(|id| map.get(id.as_str()).copied().unwrap_or(id).to_string())
            .collect()
    };
    let drift = SourceDrift {
        added: paths(&diff.added, &now),
        changed: paths(&diff.changed, &now),
        deleted: paths(&diff.deleted, &before),
    };
    for (what, list) in [
        ("added", &drift.added),
        ("changed", &drift.changed),
        ("deleted", &drift.deleted),
    ] {
        if !list.is_empty() {
            reasons.push(format!("{} source file(s) {what}", list.len()));
        }
    }
    drift
}
