//! `ragops check`: is the live snapshot fresh against its sources, config and model?

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use ragops_core::{config_diff, content_part, ConfigChange, LoadedPipeline};
use ragops_embed::hub;
use ragops_store::Store;
use serde::Serialize;

use crate::build::hash_files;
use crate::PipelineError;

/// Exit status of `ragops check` when the snapshot is fresh.
pub const CHECK_FRESH: u8 = 0;
/// Exit status when it is stale (sources, config, model or age).
pub const CHECK_STALE: u8 = 1;
/// Exit status when the check itself could not run (no store, bad pipeline file, no model).
pub const CHECK_ERROR: u8 = 2;

#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub pipeline: PathBuf,
    pub store: Option<PathBuf>,
    /// Snapshot to check (default `current`).
    pub snapshot: String,
    /// Stale when the snapshot is older than this.
    pub max_age: Option<Duration>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceDrift {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub deleted: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelDrift {
    pub snapshot: String,
    pub configured: String,
    pub changed: bool,
}

/// The machine-readable report (`ragops check --json`). Field names are stable.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub fresh: bool,
    /// One line per reason the snapshot is stale.
    pub reasons: Vec<String>,
    pub snapshot: String,
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

fn model_label(id: &str, revision: &str, weights: &str) -> String {
    format!(
        "{id}@{} (weights {})",
        &revision[..revision.len().min(12)],
        &weights[..weights.len().min(12)]
    )
}

pub fn check(opts: &CheckOptions) -> Result<CheckReport, PipelineError> {
    let pipeline = LoadedPipeline::load(&opts.pipeline)?;
    let cfg = &pipeline.config;
    let store_dir = opts.store.clone().unwrap_or_else(|| pipeline.store_dir());
    let store = Store::open(&store_dir)?;
    let id = store.resolve(&opts.snapshot)?;
    let m = store.manifest(&id)?;
    let mut reasons = Vec::new();

    // Sources: the walk now against the files recorded at build time.
    let (files, _) = ragops_load::discover(&cfg.sources, &pipeline.base_dir);
    let hashes = hash_files(&files, cfg.sources.max_file_bytes);
    let mut sources = SourceDrift::default();
    if m.source_files.is_empty() && !m.sources.is_empty() {
        reasons.push(
            "the snapshot predates per-file source records; rebuild once to enable source checks"
                .into(),
        );
    } else {
        let before: HashMap<&str, &str> = m
            .source_files
            .iter()
            .map(|r| (r.id.as_str(), r.sha256.as_str()))
            .collect();
        let mut now = std::collections::HashSet::new();
        for (f, h) in files.iter().zip(&hashes) {
            now.insert(f.id.as_str());
            match before.get(f.id.as_str()) {
                None => sources.added.push(f.display_path.clone()),
                Some(old) if Some(*old) != h.as_deref() => {
                    sources.changed.push(f.display_path.clone())
                }
                Some(_) => {}
            }
        }
        sources.deleted = m
            .source_files
            .iter()
            .filter(|r| !now.contains(r.id.as_str()))
            .map(|r| r.path.clone())
            .collect();
        for (what, list) in [
            ("added", &sources.added),
            ("changed", &sources.changed),
            ("deleted", &sources.deleted),
        ] {
            if !list.is_empty() {
                reasons.push(format!("{} source file(s) {what}", list.len()));
            }
        }
    }

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
    let files = hub::resolve(
        &pipeline.model_ref(),
        &cfg.embedding.revision,
        &hub::cache_root(),
    )?;
    let weights = hub::file_sha256(&files.dir.join("model.safetensors"))?;
    let changed = files.id != m.model.id
        || files.revision != m.model.revision
        || weights != m.model.weights_sha256;
    let model = ModelDrift {
        snapshot: model_label(&m.model.id, &m.model.revision, &m.model.weights_sha256),
        configured: model_label(&files.id, &files.revision, &weights),
        changed,
    };
    if changed {
        reasons.push(format!(
            "model changed: {} -> {}",
            model.snapshot, model.configured
        ));
    }

    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let age_seconds = (now - m.created_unix).max(0) as u64;
    if let Some(max) = opts.max_age {
        if age_seconds > max.as_secs() {
            reasons.push(format!(
                "built {} ago, more than --max-age {}",
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
