//! `ragops snapshots diff A B`.

use std::collections::HashMap;
use std::path::Path;

use ragops_core::{config_diff, content_part, ConfigChange, SnapshotId, SourceDiff};
use ragops_store::Store;
use serde::{Deserialize, Serialize};

use crate::EngineError;

/// A document whose content or chunking differs between the two snapshots.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangedDocument {
    pub id: String,
    pub chunks_a: u32,
    pub chunks_b: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotDiff {
    pub a: SnapshotId,
    pub b: SnapshotId,
    pub documents_added: Vec<String>,
    pub documents_removed: Vec<String>,
    /// Content changed.
    pub documents_changed: Vec<ChangedDocument>,
    /// Same content, cut into a different number of chunks (chunking config changed).
    pub documents_rechunked: Vec<ChangedDocument>,
    pub documents_unchanged: usize,
    pub chunks_a: u64,
    pub chunks_b: u64,
    pub config_changes: Vec<ConfigChange>,
    /// `model id@revision` of each side when they differ.
    pub model_change: Option<(String, String)>,
}

/// Compares two snapshots' documents (by content hash and chunk count), configs and models.
pub fn diff(store_dir: &Path, a: &str, b: &str) -> Result<SnapshotDiff, EngineError> {
    let store = Store::open(store_dir)?;
    let (ia, ib) = (store.resolve(a)?, store.resolve(b)?);
    let (sa, sb) = (store.snapshot(&ia)?, store.snapshot(&ib)?);
    let (ca, cb) = (sa.catalog()?, sb.catalog()?);
    let (ma, mb) = (sa.manifest().clone(), sb.manifest().clone());
    let docs = SourceDiff::between(
        ca.sources.iter().map(|s| (s.id.as_str(), &s.content_hash)),
        cb.sources.iter().map(|s| (s.id.as_str(), &s.content_hash)),
    );
    let chunks_a: HashMap<&str, u32> = ca
        .sources
        .iter()
        .map(|s| (s.id.as_str(), s.chunks))
        .collect();
    let chunks_b: HashMap<&str, u32> = cb
        .sources
        .iter()
        .map(|s| (s.id.as_str(), s.chunks))
        .collect();
    let changed = |id: &String| ChangedDocument {
        id: id.clone(),
        chunks_a: chunks_a.get(id.as_str()).copied().unwrap_or(0),
        chunks_b: chunks_b.get(id.as_str()).copied().unwrap_or(0),
    };
    let (rechunked, unchanged): (Vec<ChangedDocument>, Vec<ChangedDocument>) = docs
        .unchanged
        .iter()
        .map(changed)
        .partition(|c| c.chunks_a != c.chunks_b);
    let model_change =
        (ma.model != mb.model).then(|| (ma.model.short_label(), mb.model.short_label()));
    Ok(SnapshotDiff {
        a: ia,
        b: ib,
        documents_added: docs.added.clone(),
        documents_removed: docs.deleted.clone(),
        documents_changed: docs.changed.iter().map(changed).collect(),
        documents_rechunked: rechunked,
        documents_unchanged: unchanged.len(),
        chunks_a: ma.counts.chunks,
        chunks_b: mb.counts.chunks,
        config_changes: config_diff(&content_part(ma.config), &content_part(mb.config)),
        model_change,
    })
}
