//! `ragops snapshots gc`: delete what the retention policy does not keep.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use ragops_core::{EmbedKey, ModelIdentity, RetentionConfig, SnapshotId};
use ragops_store::{gc_cache, CacheGcReport, FragmentId, SnapshotSummary, Store, StoreLock};
use serde::{Deserialize, Serialize};

use crate::EngineError;

/// A snapshot gc keeps, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Kept {
    pub id: SnapshotId,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GcReport {
    pub dry_run: bool,
    pub kept: Vec<Kept>,
    pub deleted: Vec<SnapshotId>,
    /// Bytes of deleted snapshots' own directories.
    pub snapshot_bytes: u64,
    /// Fragments no remaining snapshot lists, deleted (or that would be, in a dry run).
    #[serde(default)]
    pub fragments_deleted: Vec<FragmentId>,
    #[serde(default)]
    pub fragment_bytes: u64,
    /// Why fragments were left alone, if they were.
    #[serde(default)]
    pub fragment_note: Option<String>,
    pub cache: CacheGcReport,
    /// Why the cache was left alone, if it was.
    pub cache_note: Option<String>,
    /// Snapshot and cache bytes together.
    pub bytes_reclaimed: u64,
}

/// Deletes snapshots outside the retention policy (never `current`, a tagged one or one a
/// live reader lease names), damaged snapshots no ref or lease names, and the cache entries no kept snapshot uses. With `dry_run`, only
/// reports what it would do: it takes no lock and writes nothing.
pub fn gc(
    store_dir: &Path,
    retention: &RetentionConfig,
    dry_run: bool,
) -> Result<GcReport, EngineError> {
    let store = Store::open(store_dir)?;
    let lock = if dry_run {
        None
    } else {
        let lock = store.lock("ragops snapshots gc")?;
        store.clean_staging(&lock)?;
        Some(lock)
    };
    let list = store.list()?; // oldest first
                              // Snapshots a running reader holds open (`ragops serve`) are kept; expired leases go.
    let leases = store.leases()?;
    if let Some(lock) = &lock {
        for l in leases.iter().filter(|l| !l.live) {
            store.remove_expired_lease(lock, l)?;
        }
    }
    let leased: Vec<(SnapshotId, String)> = leases
        .into_iter()
        .filter(|l| l.live)
        .map(|l| {
            let who = format!("leased by {} (pid {})", l.info.holder, l.info.pid);
            (l.info.snapshot, who)
        })
        .collect();
    let (kept, doomed) = select(&list, retention, &leased);
    let mut snapshot_bytes = 0;
    for id in &doomed {
        snapshot_bytes += match &lock {
            Some(lock) => store.delete_snapshot(lock, id)?,
            None => store.snapshot(id).map(|s| s.size_bytes()).unwrap_or(0),
        };
    }
    let (fragments_deleted, fragment_bytes, fragment_note) =
        collect_fragments(&store, lock.as_ref(), &list, &doomed)?;
    let (cache, cache_note) = collect_cache(&store, lock.as_ref(), &kept, &list)?;
    Ok(GcReport {
        dry_run,
        bytes_reclaimed: snapshot_bytes + fragment_bytes + cache.bytes_reclaimed,
        kept,
        deleted: doomed,
        snapshot_bytes,
        fragments_deleted,
        fragment_bytes,
        fragment_note,
        cache,
        cache_note,
    })
}

/// Deletes the fragments no remaining snapshot lists (counting references over every
/// snapshot left, kept for retention or not). Nothing is deleted when a remaining snapshot's
/// manifest cannot be read: its references are unknown. Builds hold the same writer lock, so
/// no build is between installing a fragment and publishing the snapshot that lists it.
fn collect_fragments(
    store: &Store,
    lock: Option<&StoreLock>,
    list: &[SnapshotSummary],
    doomed: &[SnapshotId],
) -> Result<(Vec<FragmentId>, u64, Option<String>), EngineError> {
    let mut referenced: HashSet<FragmentId> = HashSet::new();
    for s in list.iter().filter(|s| !doomed.contains(&s.id)) {
        match &s.manifest {
            Ok(m) => referenced.extend(m.fragments.iter().map(|f| f.id.clone())),
            Err(_) => {
                let note = format!(
                    "snapshot {} is damaged but kept (a ref names it); fragments were left as \
                     they are",
                    s.id
                );
                return Ok((Vec::new(), 0, Some(note)));
            }
        }
    }
    let mut deleted = Vec::new();
    let mut bytes = 0;
    for id in store.fragment_ids()? {
        if referenced.contains(&id) {
            continue;
        }
        bytes += match lock {
            Some(lock) => store.delete_fragment(lock, &id)?,
            None => store.fragment_bytes(&id),
        };
        deleted.push(id);
    }
    Ok((deleted, bytes, None))
}

/// Which snapshots the policy keeps (and why) and which it deletes. A damaged snapshot is
/// never kept for retention (nothing can read it), only for a ref.
fn select(
    list: &[SnapshotSummary],
    retention: &RetentionConfig,
    leased: &[(SnapshotId, String)],
) -> (Vec<Kept>, Vec<SnapshotId>) {
    let now = ragops_core::unix_now();
    let n = list.len();
    let mut kept = Vec::new();
    let mut doomed = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let mut reasons = Vec::new();
        if s.current {
            reasons.push("current".to_string());
        }
        for t in &s.tags {
            reasons.push(format!("tag {t}"));
        }
        for (_, who) in leased.iter().filter(|(id, _)| *id == s.id) {
            reasons.push(who.clone());
        }
        if let Ok(m) = &s.manifest {
            if n - i <= retention.keep_last {
                reasons.push(format!("among the {} newest", retention.keep_last));
            }
            if let Some(w) = retention.keep_within {
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
        }
    }
    (kept, doomed)
}

/// Drops the cache entries no kept snapshot uses, per model. The cache is left alone when a
/// kept snapshot's keys are unknown (it predates the key column, or it is damaged).
fn collect_cache(
    store: &Store,
    lock: Option<&StoreLock>,
    kept: &[Kept],
    list: &[SnapshotSummary],
) -> Result<(CacheGcReport, Option<String>), EngineError> {
    let models: BTreeMap<&SnapshotId, Option<&ModelIdentity>> = list
        .iter()
        .map(|s| (&s.id, s.manifest.as_ref().ok().map(|m| &m.model)))
        .collect();
    let mut used: BTreeMap<String, HashSet<EmbedKey>> = BTreeMap::new();
    for k in kept {
        let Some(Some(model)) = models.get(&k.id) else {
            let note = format!(
                "snapshot {} is damaged but kept (a ref names it); the embedding cache was left \
                 as it is",
                k.id
            );
            return Ok((CacheGcReport::default(), Some(note)));
        };
        let mut keys = Some(Vec::new());
        for f in store.snapshot(&k.id)?.fragments()? {
            match (f.embed_keys()?, keys.as_mut()) {
                (Some(k), Some(all)) => all.extend(k),
                _ => keys = None,
            }
        }
        match keys {
            Some(keys) => used.entry(model.cache_key()).or_default().extend(keys),
            None => {
                let note = format!(
                    "snapshot {} predates cache keys; the embedding cache was left as it is",
                    k.id
                );
                return Ok((CacheGcReport::default(), Some(note)));
            }
        }
    }
    Ok((gc_cache(store, lock, &used)?, None))
}
