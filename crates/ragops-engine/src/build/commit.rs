//! The coordinator's side of a sharded build: the plan (`ragops shards plan`), the shards'
//! status, and the one commit that publishes them (`ragops commit`).
//!
//! The commit takes the writer lock, checks that every shard of the plan finished and is
//! intact and that the shards agree (parent, configuration, model), then writes one snapshot:
//! the parent's fragments masked down to the documents some shard kept, then each shard's
//! fragment in shard order. It publishes with a compare-and-swap on `current` from the plan's
//! parent, so a commit whose parent is no longer current fails (unless forced), and of two
//! coordinators committing the same build exactly one wins: the other finds the lock taken,
//! or the build gone once the winner removed it.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use ragops_core::{BuildId, DocId, SnapshotId};
use ragops_store::{
    failpoint, BuildPlanRecord, Catalog, Counts, EmbeddingCache, Expect, ShardRecord, Store,
    Timings,
};
use serde::{Deserialize, Serialize};

use super::report::IncrementalReport;
use super::shard::ShardReport;
use super::stream::{carried_fragments, mask_parent, Masked};
use crate::{EngineError, Event, Reporter};

/// Records the plan of build `build` (`shards` shards, `current` as the parent) in the store
/// at `store`, creating the store if needed; an existing plan is returned unchanged.
pub fn plan_build(
    store: &std::path::Path,
    build: &BuildId,
    shards: u32,
) -> Result<BuildPlanRecord, EngineError> {
    if crate::remote::is_remote(store) {
        return crate::remote::plan_build(&store.to_string_lossy(), build, shards);
    }
    let store = Store::create(store)?;
    Ok(store.plan_build(build, shards)?)
}

/// Which shards of a build have finished.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardStatus {
    pub build_id: BuildId,
    pub shards: u32,
    pub parent: Option<SnapshotId>,
    pub created_at: String,
    pub present: Vec<u32>,
    pub missing: Vec<u32>,
}

/// The status of build `build` in the store at `store`.
pub fn shard_status(store: &std::path::Path, build: &BuildId) -> Result<ShardStatus, EngineError> {
    if crate::remote::is_remote(store) {
        return crate::remote::shard_status(&store.to_string_lossy(), build);
    }
    let store = Store::open(store)?;
    let plan = store
        .build_plan(build)?
        .ok_or_else(|| EngineError::UnknownBuild(build.clone()))?;
    ShardStatus::of(plan, |i| Ok(store.shard_record(build, i)?.is_some()))
}

impl ShardStatus {
    /// The status of `plan`'s shards, `finished(i)` saying whether shard `i` finished.
    pub(crate) fn of(
        plan: BuildPlanRecord,
        finished: impl Fn(u32) -> Result<bool, EngineError>,
    ) -> Result<Self, EngineError> {
        let (mut present, mut missing) = (Vec::new(), Vec::new());
        for i in 0..plan.shards {
            if finished(i)? {
                present.push(i);
            } else {
                missing.push(i);
            }
        }
        Ok(ShardStatus {
            build_id: plan.build_id,
            shards: plan.shards,
            parent: plan.parent,
            created_at: plan.created_at,
            present,
            missing,
        })
    }
}

#[derive(Debug, Clone)]
pub struct CommitOptions {
    pub store: PathBuf,
    pub build: BuildId,
    /// Publish even if `current` moved since the plan.
    pub force: bool,
    /// How long to wait for another writer to release the store lock.
    pub wait: Duration,
}

/// What a commit did; rendered by the CLI (`--json` prints this structure).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommitReport {
    /// The snapshot published; the parent when nothing changed.
    pub snapshot: SnapshotId,
    pub published: bool,
    /// The shards found nothing changed since the parent (same documents, settings and
    /// model): nothing was written or published, and the build was removed.
    #[serde(default)]
    pub up_to_date: bool,
    pub build_id: BuildId,
    pub shards: u32,
    pub parent: Option<SnapshotId>,
    pub store: PathBuf,
    /// The snapshot's counts (every shard's, plus the parent's rows kept in place).
    pub counts: Counts,
    /// The shards' incremental counts, summed.
    pub incremental: IncrementalReport,
    /// Fragments the snapshot reads: the parent's it keeps, then one per shard with rows.
    pub fragments: usize,
    pub carried_fragments: usize,
    pub shard_fragments: usize,
    /// Whether the shards copied the rows they reuse (the parent's fragments are not read).
    pub compacted: bool,
    /// Embedding-cache segments moved from the shards into the store's cache.
    pub cache_segments: u64,
    /// Seconds the commit took.
    pub seconds: f64,
    /// Each shard's own report, in shard order.
    pub shard_reports: Vec<ShardReport>,
}

/// Commits build `opts.build`: see the module documentation.
pub fn commit(opts: &CommitOptions, reporter: &dyn Reporter) -> Result<CommitReport, EngineError> {
    if crate::remote::is_remote(&opts.store) {
        return crate::remote::commit(&opts.store.to_string_lossy(), opts, reporter);
    }
    let started = Instant::now();
    let store = Store::open(&opts.store)?;
    if !opts.wait.is_zero() {
        reporter.event(Event::WaitingForLock);
    }
    let lock = store.lock_wait("ragops commit", opts.wait)?;
    let plan = store
        .build_plan(&opts.build)?
        .ok_or_else(|| EngineError::UnknownBuild(opts.build.clone()))?;
    let records = finished_shards(&store, &plan)?;
    let current = store.current()?;
    if !opts.force && current != plan.parent {
        return Err(EngineError::CommitCurrentMoved {
            build: plan.build_id.clone(),
            expected: plan.parent.clone(),
            found: current,
        });
    }
    if let Some(parent) = plan.parent.as_ref().filter(|_| !opts.force) {
        if unchanged(&store.manifest(parent)?, &records) {
            store.remove_build(&lock, &plan.build_id)?;
            return Ok(up_to_date(&plan, &records, opts, started));
        }
    }
    let merged = merge(&store, &plan, &records)?;
    let writer = store.begin_snapshot(&lock, plan.build_id.as_str())?;
    let installed = store.install_shard_fragments(&lock, &records)?;
    failpoint("commit-after-install");
    let shard_fragments = installed.len();
    let carried_fragments = merged.carried.len();
    let id = writer.finish_commit(merged.manifest, &merged.catalog, merged.carried, installed)?;
    let cache = EmbeddingCache::open(&store, &lock, &records[0].manifest.model)?;
    let cache_segments = store.adopt_shard_segments(&lock, &cache, &records, &id)?;
    failpoint("commit-before-publish");
    let expect = if opts.force {
        Expect::Any
    } else {
        Expect::Current(plan.parent.clone())
    };
    let refs = store.refs_lock("ragops commit")?;
    store.publish(&refs, &id, "commit", &expect)?;
    drop(refs);
    store.remove_build(&lock, &plan.build_id)?;
    Ok(CommitReport::published(
        plan,
        records[0].compacted,
        merged.summary,
        Published {
            snapshot: id,
            store: opts.store.clone(),
            carried_fragments,
            shard_fragments,
            cache_segments,
        },
        started,
    ))
}

fn shard_reports(records: &[ShardRecord]) -> Vec<ShardReport> {
    records
        .iter()
        .filter_map(|r| serde_json::from_value(r.report.clone()).ok())
        .collect()
}

/// Whether the shards changed nothing since `parent`: no document added, changed or deleted,
/// everything reused (same reuse key), the same content settings and the same skips.
pub(crate) fn unchanged(parent: &ragops_store::Manifest, records: &[ShardRecord]) -> bool {
    let reports = shard_reports(records);
    reports.len() == records.len()
        && reports.iter().all(|r| {
            let i = &r.incremental;
            i.no_reuse_reason.is_none()
                && i.documents_added + i.documents_changed + i.documents_deleted == 0
        })
        && records
            .iter()
            .all(|r| r.manifest.config_hash == parent.config_hash)
        && reports.iter().map(|r| r.counts.skipped).sum::<u64>() == parent.counts.skipped
}

/// The report of a commit that found nothing changed.
pub(crate) fn up_to_date(
    plan: &BuildPlanRecord,
    records: &[ShardRecord],
    opts: &CommitOptions,
    started: Instant,
) -> CommitReport {
    let reports = shard_reports(records);
    let mut counts = Counts::default();
    let mut inc = IncrementalReport::default();
    for r in &reports {
        add_counts(&mut counts, &r.counts);
        add_incremental(&mut inc, &r.incremental);
    }
    CommitReport {
        snapshot: plan
            .parent
            .clone()
            .unwrap_or_else(super::report::placeholder_id),
        published: false,
        up_to_date: true,
        build_id: plan.build_id.clone(),
        shards: plan.shards,
        parent: plan.parent.clone(),
        store: opts.store.clone(),
        counts,
        incremental: inc,
        fragments: 0,
        carried_fragments: 0,
        shard_fragments: 0,
        compacted: false,
        cache_segments: 0,
        seconds: started.elapsed().as_secs_f64(),
        shard_reports: reports,
    }
}

/// Every shard's record, checked: all present, intact, and agreeing with the plan and each
/// other.
fn finished_shards(store: &Store, plan: &BuildPlanRecord) -> Result<Vec<ShardRecord>, EngineError> {
    let mut records = Vec::new();
    let mut missing = Vec::new();
    for i in 0..plan.shards {
        match store.shard_record(&plan.build_id, i)? {
            Some(r) => records.push(r),
            None => missing.push(i),
        }
    }
    if !missing.is_empty() {
        return Err(EngineError::ShardsMissing {
            build: plan.build_id.clone(),
            shards: plan.shards,
            missing,
        });
    }
    for r in &records {
        let problems = store.verify_shard(r);
        if !problems.is_empty() {
            return Err(EngineError::ShardDamaged {
                build: plan.build_id.clone(),
                shard: r.shard,
                problems,
            });
        }
    }
    check_agreement(plan, &records)?;
    Ok(records)
}

/// Refuses shards that disagree with the plan or with shard 0 (parent, shard count,
/// settings, model, compaction).
pub(crate) fn check_agreement(
    plan: &BuildPlanRecord,
    records: &[ShardRecord],
) -> Result<(), EngineError> {
    let first = &records[0];
    for r in records {
        let differs = if r.parent != plan.parent || r.shards != plan.shards {
            Some("was built for another plan")
        } else if r.manifest.reuse_key != first.manifest.reuse_key
            || r.manifest.config_hash != first.manifest.config_hash
        {
            Some("was built with other settings or another model than shard 0")
        } else if r.compacted != first.compacted {
            Some("decided compaction differently from shard 0")
        } else {
            None
        };
        if let Some(why) = differs {
            return Err(EngineError::ShardsDisagree {
                build: plan.build_id.clone(),
                shard: r.shard,
                why,
            });
        }
    }
    Ok(())
}

/// The snapshot the shards make together.
pub(crate) struct Merged {
    pub(crate) manifest: ragops_store::Manifest,
    pub(crate) catalog: Catalog,
    pub(crate) carried: Vec<ragops_store::CarriedFragment>,
    pub(crate) summary: Summary,
}

/// The shards' counts, incremental counts and reports, summed for the commit's report.
pub(crate) struct Summary {
    counts: Counts,
    incremental: IncrementalReport,
    reports: Vec<ShardReport>,
}

/// Where a published commit went.
pub(crate) struct Published {
    pub(crate) snapshot: SnapshotId,
    pub(crate) store: PathBuf,
    pub(crate) carried_fragments: usize,
    pub(crate) shard_fragments: usize,
    pub(crate) cache_segments: u64,
}

impl CommitReport {
    /// The report of a commit that published `p.snapshot`.
    pub(crate) fn published(
        plan: BuildPlanRecord,
        compacted: bool,
        summary: Summary,
        p: Published,
        started: Instant,
    ) -> Self {
        CommitReport {
            snapshot: p.snapshot,
            published: true,
            up_to_date: false,
            build_id: plan.build_id,
            shards: plan.shards,
            parent: plan.parent,
            store: p.store,
            counts: summary.counts,
            incremental: summary.incremental,
            fragments: p.carried_fragments + p.shard_fragments,
            carried_fragments: p.carried_fragments,
            shard_fragments: p.shard_fragments,
            compacted,
            cache_segments: p.cache_segments,
            seconds: started.elapsed().as_secs_f64(),
            shard_reports: summary.reports,
        }
    }
}

/// Merges the shards' catalogs, counts and reports, and masks the parent's fragments down
/// to the documents the shards kept (unless they compacted).
pub(crate) fn merge(
    store: &Store,
    plan: &BuildPlanRecord,
    records: &[ShardRecord],
) -> Result<Merged, EngineError> {
    let mut catalog = Catalog::default();
    let mut kept: HashSet<DocId> = HashSet::new();
    let mut counts = Counts::default();
    let mut timings = Timings::default();
    let mut enrichment = serde_json::Value::Null;
    let mut reports = Vec::new();
    let mut inc = IncrementalReport::default();
    for r in records {
        let c = store.shard_catalog(r)?;
        catalog.sources.extend(c.sources);
        catalog.source_files.extend(c.source_files);
        catalog.skipped.extend(c.skipped);
        kept.extend(store.shard_kept(r)?);
        add_counts(&mut counts, &r.manifest.counts);
        max_timings(&mut timings, &r.manifest.timings);
        if let Some(e) = &r.manifest.enrichment {
            add_json(&mut enrichment, e);
        }
        if let Ok(rep) = serde_json::from_value::<ShardReport>(r.report.clone()) {
            add_incremental(&mut inc, &rep.incremental);
            reports.push(rep);
        }
    }
    catalog.sources.sort_by(|a, b| a.id.cmp(&b.id));
    catalog.source_files.sort_by(|a, b| a.path.cmp(&b.path));
    catalog.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    let mut carried = Vec::new();
    if let Some(parent_id) = plan.parent.as_ref().filter(|_| !records[0].compacted) {
        let parent = store.snapshot(parent_id)?;
        if parent.has_fragments() {
            let fragments = parent.fragments()?;
            let Masked {
                masks,
                newly,
                kept_tokens,
                ..
            } = mask_parent(&fragments, |doc| kept.contains(doc))?;
            counts.tokens += kept_tokens;
            carried = carried_fragments(&fragments, parent.manifest(), masks, newly)?;
        }
    }
    counts.documents = catalog.sources.len() as u64;
    counts.skipped = catalog.skipped.len() as u64;
    counts.chunks = catalog.sources.iter().map(|s| u64::from(s.chunks)).sum();
    let mut manifest = records[0].manifest.clone();
    let now = SystemTime::now();
    manifest.parent = plan.parent.clone();
    manifest.created_at = humantime::format_rfc3339_seconds(now).to_string();
    manifest.created_unix = ragops_core::unix_now();
    manifest.counts = counts.clone();
    manifest.timings = timings;
    manifest.enrichment = (!enrichment.is_null()).then_some(enrichment);
    manifest.files = BTreeMap::new();
    manifest.fragments = Vec::new();
    Ok(Merged {
        manifest,
        catalog,
        carried,
        summary: Summary {
            counts,
            incremental: inc,
            reports,
        },
    })
}

fn add_counts(to: &mut Counts, c: &Counts) {
    to.documents += c.documents;
    to.chunks += c.chunks;
    to.tokens += c.tokens;
    to.skipped += c.skipped;
    to.truncated += c.truncated;
    to.reused_documents += c.reused_documents;
    to.reused_chunks += c.reused_chunks;
    to.embeddings_cached += c.embeddings_cached;
    to.embeddings_computed += c.embeddings_computed;
    to.cache_entries_torn += c.cache_entries_torn;
}

/// Stage timings of a sharded build: the slowest shard's (the shards run side by side).
fn max_timings(to: &mut Timings, t: &Timings) {
    let pairs = [
        (&mut to.model_load, t.model_load),
        (&mut to.hash, t.hash),
        (&mut to.reuse, t.reuse),
        (&mut to.load_chunk, t.load_chunk),
        (&mut to.embed, t.embed),
        (&mut to.persist, t.persist),
        (&mut to.vector_index, t.vector_index),
        (&mut to.total, t.total),
    ];
    for (a, b) in pairs {
        *a = a.max(b);
    }
}

fn add_incremental(to: &mut IncrementalReport, i: &IncrementalReport) {
    to.no_reuse_reason = to.no_reuse_reason.or(i.no_reuse_reason);
    to.documents_added += i.documents_added;
    to.documents_changed += i.documents_changed;
    to.documents_deleted += i.documents_deleted;
    to.documents_unchanged += i.documents_unchanged;
    to.documents_reused += i.documents_reused;
    to.documents_processed += i.documents_processed;
    to.chunks_reused += i.chunks_reused;
    to.chunks_new += i.chunks_new;
    to.embeddings_cached += i.embeddings_cached;
    to.embeddings_computed += i.embeddings_computed;
    to.cache_entries_torn += i.cache_entries_torn;
    to.cache_entries_added += i.cache_entries_added;
    to.compacted |= i.compacted;
}

/// Adds the numbers of `b` into `a`, key by key (the shards' enrichment counts); other
/// values keep the first seen.
fn add_json(a: &mut serde_json::Value, b: &serde_json::Value) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in y {
                add_json(x.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (a @ Value::Null, b) => *a = b.clone(),
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(p), Some(q)) = (x.as_u64(), y.as_u64()) {
                *x = (p + q).into();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrichment_counts_add_up_key_by_key() {
        let mut a = serde_json::json!({"pii": {"mode": "redact", "found": {"EMAIL": 2}}});
        add_json(
            &mut a,
            &serde_json::json!({"pii": {"mode": "redact", "found": {"EMAIL": 3, "IBAN": 1}}, "dedup": null}),
        );
        assert_eq!(
            a,
            serde_json::json!({"pii": {"mode": "redact", "found": {"EMAIL": 5, "IBAN": 1}}, "dedup": null})
        );
    }
}
