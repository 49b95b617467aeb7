//! Snapshot maintenance: diff, untag and garbage collection.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use ragops_core::{config_diff, content_part, ConfigChange, RetentionConfig};
use ragops_store::{
    gc_cache, model_key, read_embed_keys, CacheGcReport, CacheKey, Store, CHUNKS_FILE,
};
use serde::Serialize;

use crate::PipelineError;

/// A document whose content differs between the two snapshots.
#[derive(Debug, Clone, Serialize)]
pub struct ChangedDocument {
    pub id: String,
    pub chunks_a: u32,
    pub chunks_b: u32,
}

/// `ragops snapshots diff A B`.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotDiff {
    pub a: String,
    pub b: String,
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

pub fn diff(store_dir: &Path, a: &str, b: &str) -> Result<SnapshotDiff, PipelineError> {
    let store = Store::open(store_dir)?;
    let (ia, ib) = (store.resolve(a)?, store.resolve(b)?);
    let (ma, mb) = (store.manifest(&ia)?, store.manifest(&ib)?);
    let before: HashMap<&str, (&str, u32)> = ma
        .sources
        .iter()
        .map(|s| (s.id.as_str(), (s.content_hash.as_str(), s.chunks)))
        .collect();
    let after: HashSet<&str> = mb.sources.iter().map(|s| s.id.as_str()).collect();
    let mut d = SnapshotDiff {
        a: ia,
        b: ib,
        documents_added: Vec::new(),
        documents_removed: ma
            .sources
            .iter()
            .filter(|s| !after.contains(s.id.as_str()))
            .map(|s| s.id.clone())
            .collect(),
        documents_changed: Vec::new(),
        documents_rechunked: Vec::new(),
        documents_unchanged: 0,
        chunks_a: ma.counts.chunks,
        chunks_b: mb.counts.chunks,
        config_changes: config_diff(&content_part(ma.config.clone()), &content_part(mb.config)),
        model_change: None,
    };
    for s in &mb.sources {
        match before.get(s.id.as_str()) {
            None => d.documents_added.push(s.id.clone()),
            Some((h, n)) if *h != s.content_hash || *n != s.chunks => {
                let c = ChangedDocument {
                    id: s.id.clone(),
                    chunks_a: *n,
                    chunks_b: s.chunks,
                };
                if *h != s.content_hash {
                    d.documents_changed.push(c);
                } else {
                    d.documents_rechunked.push(c);
                }
            }
            Some(_) => d.documents_unchanged += 1,
        }
    }
    let label = |m: &ragops_store::ModelRecord| {
        format!("{}@{}", m.id, &m.revision[..m.revision.len().min(12)])
    };
    if ma.model != mb.model {
        d.model_change = Some((label(&ma.model), label(&mb.model)));
    }
    Ok(d)
}

/// Removes a tag (refs lock only); returns the snapshot it named.
pub fn untag(store_dir: &Path, name: &str) -> Result<String, PipelineError> {
    let store = Store::open(store_dir)?;
    let refs = store.refs_lock("ragops snapshots untag")?;
    Ok(store.remove_tag(&refs, name)?)
}

/// A snapshot gc keeps, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Kept {
    pub id: String,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    pub dry_run: bool,
    pub kept: Vec<Kept>,
    pub deleted: Vec<String>,
    /// Bytes of deleted snapshots.
    pub snapshot_bytes: u64,
    pub cache: CacheGcReport,
    /// Why the cache was left alone, if it was.
    pub cache_note: Option<String>,
    /// Snapshot and cache bytes together.
    pub bytes_reclaimed: u64,
}

/// Deletes snapshots outside the retention policy (never `current` or a tagged one), damaged
/// snapshots no ref names, and the cache entries no kept snapshot uses. With `dry_run`, only
/// reports what it would do: it takes no lock and writes nothing.
pub fn gc(
    store_dir: &Path,
    retention: &RetentionConfig,
    dry_run: bool,
) -> Result<GcReport, PipelineError> {
    let store = Store::open(store_dir)?;
    let lock = if dry_run {
        None
    } else {
        let lock = store.lock("ragops snapshots gc")?;
        store.clean_staging(&lock)?;
        Some(lock)
    };
    let list = store.list()?; // oldest first
    let within = match &retention.keep_within {
        Some(w) => Some(
            humantime::parse_duration(w)
                .map_err(|e| PipelineError::Usage(format!("retention keep_within = {w:?}: {e}")))?,
        ),
        None => None,
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let n = list.len();
    let mut kept = Vec::new();
    let mut kept_models = Vec::new();
    let mut doomed = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let mut reasons = Vec::new();
        if s.current {
            reasons.push("current".to_string());
        }
        for t in &s.tags {
            reasons.push(format!("tag {t}"));
        }
        // A damaged snapshot is never kept for retention (nothing can read it), only for a ref.
        if let Ok(m) = &s.manifest {
            if n - i <= retention.keep_last {
                reasons.push(format!("among the {} newest", retention.keep_last));
            }
            if let Some(w) = within {
                if now - m.created_unix <= w.as_secs() as i64 {
                    reasons.push(format!("younger than {}", humantime::format_duration(w)));
                }
            }
        }
        if reasons.is_empty() {
            doomed.push(s.id.clone());
        } else {
            kept.push(Kept {
                id: s.id.clone(),
                reasons,
            });
            kept_models.push(s.manifest.as_ref().ok().map(|m| &m.model));
        }
    }
    let mut snapshot_bytes = 0;
    for id in &doomed {
        match &lock {
            Some(lock) => snapshot_bytes += store.delete_snapshot(lock, id)?,
            None => snapshot_bytes += ragops_store::dir_size(&store.snapshot_dir(id)),
        }
    }
    // Cache entries referenced by the kept snapshots, per model.
    let mut used: BTreeMap<String, HashSet<CacheKey>> = BTreeMap::new();
    let mut cache_note = None;
    for (k, m) in kept.iter().zip(&kept_models) {
        let Some(m) = m else {
            cache_note = Some(format!(
                "snapshot {} is damaged but kept (a ref names it); the embedding cache was left \
                 as it is",
                k.id
            ));
            break;
        };
        let key = model_key(&m.id, &m.revision, &m.weights_sha256, m.max_tokens);
        match read_embed_keys(&store.snapshot_dir(&k.id).join(CHUNKS_FILE))? {
            Some(keys) => used.entry(key).or_default().extend(keys),
            None => {
                cache_note = Some(format!(
                    "snapshot {} predates cache keys; the embedding cache was left as it is",
                    k.id
                ));
                break;
            }
        }
    }
    let cache = match (&cache_note, &lock) {
        (None, Some(lock)) => gc_cache(store.root(), Some(lock), &used)?,
        (None, None) => gc_cache(store.root(), None, &used)?,
        (Some(_), _) => CacheGcReport::default(),
    };
    Ok(GcReport {
        dry_run,
        bytes_reclaimed: snapshot_bytes + cache.bytes_reclaimed,
        kept,
        deleted: doomed,
        snapshot_bytes,
        cache,
        cache_note,
    })
}

/// `keep_last` override from the command line on top of the pipeline's policy.
pub fn retention_with(base: RetentionConfig, keep: Option<usize>) -> RetentionConfig {
    match keep {
        Some(k) => RetentionConfig {
            keep_last: k,
            keep_within: None,
        },
        None => base,
    }
}

/// Parses a duration such as "24h" or "7d" (for `--max-age`).
pub fn parse_duration(s: &str) -> Result<Duration, PipelineError> {
    humantime::parse_duration(s)
        .map_err(|e| PipelineError::Usage(format!("invalid duration {s:?}: {e}")))
}
