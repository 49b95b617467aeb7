//! Stores on object storage (`--store s3://bucket/prefix`, `gs://`, `az://`).
//!
//! The store's layout is the same on object storage as on disk (the keys are the local paths
//! relative to the store's root). Every command works through a **mirror**: a local store
//! under the cache directory (`RAGOPS_CACHE_DIR`, else `$XDG_CACHE_HOME/ragops`, else
//! `~/.cache/ragops`), one per URL, into which snapshots are downloaded with ranged GETs
//! (checked against their manifest's SHA-256) and in which shards and commits are written
//! before their files are uploaded.
//!
//! * A shard downloads its build's plan (or writes it, create-if-absent, with the remote
//!   `current` as parent), the parent snapshot and the embedding cache, builds locally, then
//!   uploads its shard directory with `shard.json` last.
//! * A commit holds the store's lock object (a lease: `LOCK`, created with `If-None-Match`,
//!   taken over with `If-Match` once expired), checks every shard's files by size, merges
//!   the shards' catalogs with the parent as a local commit does, copies the shards'
//!   fragments into `fragments/` and their cache segments into the cache server-side, uploads
//!   the snapshot's own files (manifest last), and moves `refs/current` with `If-Match` on
//!   the entity tag it read (or `If-None-Match` when there was none): a ref moved by anyone
//!   else in between makes the commit fail, and nothing is published.
//! * Readers (search, eval, serve) pull `current` (or a named snapshot id) into the mirror
//!   and open it there; serve keeps polling the remote ref.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ragops_core::{BuildId, SnapshotId};
use ragops_remote::{Conditional, Remote, Versioned};
use ragops_store::mirror::{
    build_prefix, fragment_key, plan_key, shard_prefix, CACHE_PREFIX, CURRENT_KEY, LOCK_KEY,
};
use ragops_store::{BuildPlanRecord, FileRecord, ShardRecord, Store};

use crate::build::{
    self, check_agreement, merge, BuildOptions, CommitOptions, CommitReport, Published,
    ShardReport, ShardStatus,
};
use crate::{EngineError, Reporter};

/// How long a commit's lease on the lock object lasts (a dead coordinator blocks the store
/// for at most this long).
const LOCK_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a local mirror's lock is waited for (another process of this machine pulling).
const MIRROR_WAIT: Duration = Duration::from_secs(600);

/// Whether a `--store` value names an object store rather than a directory.
pub fn is_remote(store: &Path) -> bool {
    ragops_remote::is_url(&store.to_string_lossy())
}

/// The local directory mirrors and other caches live under.
pub fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("RAGOPS_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("ragops");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".cache").join("ragops"),
        None => std::env::temp_dir().join("ragops-cache"),
    }
}

fn remote_err(e: ragops_remote::RemoteError) -> EngineError {
    EngineError::Remote(Box::new(e))
}

/// A store on object storage and its local mirror.
pub struct Mirror {
    pub remote: Remote,
    pub local: Store,
    pub dir: PathBuf,
}

impl Mirror {
    /// Opens `url` and its mirror (created if needed).
    pub fn open(url: &str) -> Result<Self, EngineError> {
        let remote = Remote::open(url).map_err(remote_err)?;
        let key = ragops_core::sha256_hex(remote.url().as_bytes());
        let dir = cache_root().join("stores").join(&key[..16]);
        let local = Store::create(&dir)?;
        Ok(Self { remote, local, dir })
    }

    fn fetch(&self, key: &str, dest: &Path, rec: Option<&FileRecord>) -> Result<(), String> {
        let (size, sha) = match rec {
            Some(r) => (r.bytes, Some(r.sha256.as_str())),
            None => (
                self.remote
                    .head(key)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("{}/{key} does not exist", self.remote.url()))?,
                None,
            ),
        };
        self.remote
            .download(key, dest, size, sha)
            .map_err(|e| e.to_string())
    }

    /// The snapshot the remote `current` names, with the version a conditional write names.
    pub fn current(&self) -> Result<(Option<SnapshotId>, Option<Versioned>), EngineError> {
        let Some(v) = self.remote.get(CURRENT_KEY).map_err(remote_err)? else {
            return Ok((None, None));
        };
        let id = ragops_store::parse_ref(&v.bytes, "current")?;
        Ok((id, Some(v)))
    }

    /// Downloads snapshot `id` into the mirror (what is already there is kept).
    pub fn pull(&self, id: &SnapshotId) -> Result<(), EngineError> {
        if self.local.has_snapshot(id) {
            return Ok(());
        }
        let lock = self.local.lock_wait("ragops (mirror pull)", MIRROR_WAIT)?;
        self.local
            .mirror_snapshot(&lock, id, &|k, d, r| self.fetch(k, d, r))?;
        Ok(())
    }

    /// Downloads the embedding-cache segments the mirror lacks.
    pub fn pull_cache(&self) -> Result<usize, EngineError> {
        let mut n = 0;
        for (rel, size) in self.remote.list(CACHE_PREFIX).map_err(remote_err)? {
            let key = format!("{CACHE_PREFIX}/{rel}");
            let Some(path) = self.local.cache_path(&key) else {
                continue;
            };
            if std::fs::metadata(&path).is_ok_and(|m| m.len() == size) {
                continue;
            }
            self.remote
                .download(&key, &path, size, None)
                .map_err(remote_err)?;
            n += 1;
        }
        Ok(n)
    }

    /// Pulls the remote `current` and points the mirror's `current` at it.
    pub fn sync_current(&self) -> Result<Option<SnapshotId>, EngineError> {
        let (id, _) = self.current()?;
        if let Some(id) = &id {
            self.pull(id)?;
            if self.local.current()?.as_ref() != Some(id) {
                let refs = self.local.refs_lock("ragops (mirror)")?;
                self.local
                    .publish(&refs, id, "mirror", &ragops_store::Expect::Any)?;
            }
        }
        Ok(id)
    }
}

/// The local directory to read `snapshot` (`current` or a full snapshot id) of the store at
/// `url` from: its mirror, with that snapshot pulled (and `current` pointed at the remote's).
pub fn local_view(url: &str, snapshot: &str) -> Result<PathBuf, EngineError> {
    let m = Mirror::open(url)?;
    let current = m.sync_current()?;
    if snapshot != "current" {
        let id = SnapshotId::parse(snapshot).map_err(|_| EngineError::RemoteSnapshotName {
            name: snapshot.to_string(),
        })?;
        m.pull(&id)?;
    } else if current.is_none() {
        return Err(ragops_store::StoreError::NothingPublished.into());
    }
    Ok(m.dir)
}

/// Follows the remote `current` into the mirror every `every` until `stop` says so (serve's
/// companion: the server follows the mirror's ref). Errors are handed to `on_error`.
pub fn follow(
    url: &str,
    every: Duration,
    stop: &dyn Fn() -> bool,
    on_error: &dyn Fn(&EngineError),
) -> Result<(), EngineError> {
    let m = Mirror::open(url)?;
    while !stop() {
        if let Err(e) = m.sync_current() {
            on_error(&e);
        }
        std::thread::sleep(every);
    }
    Ok(())
}

fn get_json<T: for<'de> serde::Deserialize<'de>>(
    remote: &Remote,
    key: &str,
) -> Result<Option<T>, EngineError> {
    match remote.get(key).map_err(remote_err)? {
        None => Ok(None),
        Some(v) => {
            serde_json::from_slice(&v.bytes)
                .map(Some)
                .map_err(|e| EngineError::RemoteRecord {
                    key: format!("{}/{key}", remote.url()),
                    message: e.to_string(),
                })
        }
    }
}

/// The plan of build `b` on the remote store, written (create-if-absent, the remote
/// `current` as parent) when there is none.
fn remote_plan(m: &Mirror, b: &BuildId, shards: u32) -> Result<BuildPlanRecord, EngineError> {
    let key = plan_key(b);
    loop {
        if let Some(p) = get_json::<BuildPlanRecord>(&m.remote, &key)? {
            if p.shards != shards {
                return Err(ragops_store::StoreError::ShardCount {
                    build: p.build_id,
                    planned: p.shards,
                    asked: shards,
                }
                .into());
            }
            return Ok(p);
        }
        let (parent, _) = m.current()?;
        let plan = BuildPlanRecord {
            build_id: b.clone(),
            shards,
            parent,
            created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        };
        let json = serde_json::to_vec_pretty(&plan).unwrap_or_default();
        if m.remote
            .put_conditional(&key, json, None)
            .map_err(remote_err)?
            == Conditional::Written
        {
            return Ok(plan);
        }
        // Another shard wrote it first: read theirs.
    }
}

/// `ragops shards plan` on a remote store.
pub(crate) fn plan_build(
    url: &str,
    b: &BuildId,
    shards: u32,
) -> Result<BuildPlanRecord, EngineError> {
    let m = Mirror::open(url)?;
    remote_plan(&m, b, shards)
}

/// `ragops shards status` on a remote store.
pub(crate) fn shard_status(url: &str, b: &BuildId) -> Result<ShardStatus, EngineError> {
    let m = Mirror::open(url)?;
    let plan: BuildPlanRecord =
        get_json(&m.remote, &plan_key(b))?.ok_or_else(|| EngineError::UnknownBuild(b.clone()))?;
    ShardStatus::of(plan, |i| {
        let key = format!("{}/shard.json", shard_prefix(b, i));
        Ok(m.remote.head(&key).map_err(remote_err)?.is_some())
    })
}

/// One shard on a remote store: plan, parent and cache pulled into the mirror, the shard
/// built there, its directory uploaded (`shard.json` last, after the previous try's is
/// deleted, so a half-uploaded shard is never taken for a finished one).
pub(crate) fn build_shard(
    url: &str,
    opts: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<ShardReport, EngineError> {
    let Some(s) = &opts.shard else {
        return Err(EngineError::ShardOptionsOnBuild);
    };
    let m = Mirror::open(url)?;
    let plan = remote_plan(&m, &s.build, s.count)?;
    m.local.record_plan(&plan)?;
    if let Some(p) = &plan.parent {
        m.pull(p)?;
    }
    m.pull_cache()?;
    let mut local = opts.clone();
    local.store = Some(m.dir.clone());
    let mut report = build::build_shard(&local, reporter)?;
    let prefix = shard_prefix(&s.build, s.index);
    let files = m.local.shard_files(&s.build, s.index);
    m.remote
        .delete(&format!("{prefix}/shard.json"))
        .map_err(remote_err)?;
    for (rel, _) in m.remote.list(&prefix).map_err(remote_err)? {
        let key = format!("{prefix}/{rel}");
        if !files.iter().any(|(k, _)| *k == key) {
            m.remote.delete(&key).map_err(remote_err)?;
        }
    }
    for (key, path) in &files {
        m.remote.upload(path, key).map_err(remote_err)?;
    }
    // Uploaded: the mirror's copy of the shard is not needed any more.
    let lock = m.local.shard_lock(&s.build, s.index)?;
    m.local.remove_shard(&lock)?;
    report.store = PathBuf::from(url);
    Ok(report)
}

/// Every shard's record on the remote store, its files checked by size (the fragment's
/// where the shard staged it, or where an interrupted commit copied it).
fn remote_shards(m: &Mirror, plan: &BuildPlanRecord) -> Result<Vec<ShardRecord>, EngineError> {
    let b = &plan.build_id;
    let (mut records, mut missing) = (Vec::new(), Vec::new());
    for i in 0..plan.shards {
        match get_json::<ShardRecord>(&m.remote, &format!("{}/shard.json", shard_prefix(b, i)))? {
            Some(r) => records.push(r),
            None => missing.push(i),
        }
    }
    if !missing.is_empty() {
        return Err(EngineError::ShardsMissing {
            build: b.clone(),
            shards: plan.shards,
            missing,
        });
    }
    let size = |key: &str| m.remote.head(key).map_err(remote_err);
    for r in &records {
        let prefix = shard_prefix(b, r.shard);
        let mut problems = Vec::new();
        for (rel, f) in &r.files {
            if size(&format!("{prefix}/{rel}"))? != Some(f.bytes) {
                problems.push(format!(
                    "shard-{}/{rel}: missing or of another size",
                    r.shard
                ));
            }
        }
        if let Some(frag) = &r.fragment {
            for (rel, f) in &frag.files {
                let staged = size(&format!("{prefix}/fragment/{rel}"))?;
                if staged != Some(f.bytes) && size(&fragment_key(frag, rel))? != Some(f.bytes) {
                    problems.push(format!(
                        "shard-{}/fragment/{rel}: missing or of another size",
                        r.shard
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(EngineError::ShardDamaged {
                build: b.clone(),
                shard: r.shard,
                problems,
            });
        }
    }
    check_agreement(plan, &records)?;
    Ok(records)
}

/// `ragops commit` on a remote store: see the module documentation.
pub(crate) fn commit(
    url: &str,
    opts: &CommitOptions,
    _reporter: &dyn Reporter,
) -> Result<CommitReport, EngineError> {
    let started = std::time::Instant::now();
    let m = Mirror::open(url)?;
    let _lease = m
        .remote
        .lock(LOCK_KEY, "ragops commit", LOCK_TTL, opts.wait)
        .map_err(remote_err)?;
    let b = &opts.build;
    let plan: BuildPlanRecord =
        get_json(&m.remote, &plan_key(b))?.ok_or_else(|| EngineError::UnknownBuild(b.clone()))?;
    let records = remote_shards(&m, &plan)?;
    let (current, version) = m.current()?;
    if !opts.force && current != plan.parent {
        return Err(EngineError::CommitCurrentMoved {
            build: b.clone(),
            expected: plan.parent.clone(),
            found: current,
        });
    }
    if let Some(parent) = plan.parent.as_ref().filter(|_| !opts.force) {
        let key = ragops_store::mirror::snapshot_key(parent, "manifest.json");
        let pm: ragops_store::Manifest = get_json(&m.remote, &key)?
            .ok_or_else(|| ragops_store::StoreError::UnknownSnapshot(parent.to_string()))?;
        if build::unchanged(&pm, &records) {
            m.remote.delete_all(&build_prefix(b)).map_err(remote_err)?;
            return Ok(build::up_to_date(&plan, &records, opts, started));
        }
    }
    let lock = m.local.lock_wait("ragops commit (mirror)", MIRROR_WAIT)?;
    m.local.remove_build(&lock, b)?;
    m.local.record_plan(&plan)?;
    for r in &records {
        m.local
            .mirror_shard_record(r, &|k, d, f| m.fetch(k, d, f))?;
    }
    if let Some(p) = plan.parent.as_ref().filter(|_| !records[0].compacted) {
        m.local
            .mirror_snapshot(&lock, p, &|k, d, f| m.fetch(k, d, f))?;
    }
    let merged = merge(&m.local, &plan, &records)?;
    let writer = m.local.begin_snapshot(&lock, b.as_str())?;
    let entries: Vec<_> = records.iter().filter_map(|r| r.fragment.clone()).collect();
    let shard_fragments = entries.len();
    let carried_fragments = merged.carried.len();
    let id = writer.finish_commit(merged.manifest, &merged.catalog, merged.carried, entries)?;
    // Fragments and cache segments: server-side copies out of the build's staging.
    let mut cache_segments = 0;
    for r in &records {
        let prefix = shard_prefix(b, r.shard);
        if let Some(frag) = &r.fragment {
            for (rel, f) in &frag.files {
                let dest = fragment_key(frag, rel);
                if m.remote.head(&dest).map_err(remote_err)? != Some(f.bytes) {
                    m.remote
                        .copy(&format!("{prefix}/fragment/{rel}"), &dest)
                        .map_err(remote_err)?;
                }
            }
        }
        if let Some((from, to)) = Store::shard_segment_keys(r, &id) {
            m.remote.copy(&from, &to).map_err(remote_err)?;
            cache_segments += 1;
        }
    }
    for (key, path) in m.local.snapshot_files(&id) {
        m.remote.upload(&path, &key).map_err(remote_err)?;
    }
    ragops_store::failpoint("commit-before-publish");
    publish(&m, b, &plan, &id, version, opts.force)?;
    m.remote.delete_all(&build_prefix(b)).map_err(remote_err)?;
    // The mirror's copy lacks the shards' fragments: it is pulled whole when read.
    m.local.delete_snapshot(&lock, &id)?;
    m.local.remove_build(&lock, b)?;
    Ok(CommitReport::published(
        plan,
        records[0].compacted,
        merged.summary,
        Published {
            snapshot: id,
            store: PathBuf::from(url),
            carried_fragments,
            shard_fragments,
            cache_segments,
        },
        started,
    ))
}

/// Moves the remote `current` to `id`: `If-Match` on the version read before the commit
/// (`If-None-Match` when there was no `current`). With `force`, retried on the version found.
fn publish(
    m: &Mirror,
    b: &BuildId,
    plan: &BuildPlanRecord,
    id: &SnapshotId,
    mut version: Option<Versioned>,
    force: bool,
) -> Result<(), EngineError> {
    let body = format!("{id}\n");
    loop {
        match m
            .remote
            .put_conditional(CURRENT_KEY, body.clone(), version.as_ref())
            .map_err(remote_err)?
        {
            Conditional::Written => return Ok(()),
            Conditional::Conflict => {
                let (found, v) = m.current()?;
                if !force {
                    return Err(EngineError::CommitCurrentMoved {
                        build: b.clone(),
                        expected: plan.parent.clone(),
                        found,
                    });
                }
                version = v;
            }
        }
    }
}

/// `ragops build` (without `--shard`) on a remote store: a sharded build of one shard and its
/// commit, under a build id of its own. Nothing changed since `current` (same documents,
/// settings and model) and no `--force`: the commit drops the shard and writes nothing.
pub(crate) fn build(
    url: &str,
    opts: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<build::BuildReport, EngineError> {
    if !opts.publish {
        return Err(EngineError::RemoteUnsupported("build --no-publish"));
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let id = BuildId::parse(&format!("build-{stamp}-{}", std::process::id()))
        .map_err(|_| EngineError::ShardOptionsOnBuild)?;
    let mut shard_opts = opts.clone();
    shard_opts.shard = Some(build::ShardOptions {
        build: id.clone(),
        index: 0,
        count: 1,
        plan: None,
    });
    let shard = build_shard(url, &shard_opts, reporter)?;
    let c = commit(
        url,
        &CommitOptions {
            store: PathBuf::from(url),
            build: id,
            force: opts.force,
            wait: opts.wait,
        },
        reporter,
    )?;
    if c.up_to_date {
        reporter.event(crate::Event::UpToDate {
            snapshot: &c.snapshot,
        });
    }
    let mut timings = shard.timings;
    timings.total += c.seconds;
    Ok(build::BuildReport {
        snapshot: c.snapshot,
        published: c.published,
        up_to_date: c.up_to_date,
        parent: c.parent,
        store: PathBuf::from(url),
        model: shard.model,
        counts: c.counts,
        incremental: c.incremental,
        skipped: shard.skipped,
        timings,
        embeddings_per_sec: shard.embeddings_per_sec,
        pii: shard.pii,
        dedup: shard.dedup,
    })
}

/// `ragops snapshots rollback` on a remote store: `current` back to its parent (or to
/// `target`, a full snapshot id), after the target is pulled and verified; the ref moves with
/// `If-Match` on the version read, so a ref moved meanwhile fails the rollback.
pub(crate) fn rollback(
    url: &str,
    target: Option<&str>,
) -> Result<(Option<SnapshotId>, SnapshotId), EngineError> {
    let m = Mirror::open(url)?;
    let (current, version) = m.current()?;
    let to = match target {
        Some(t) if t != "current" => {
            SnapshotId::parse(t).map_err(|_| EngineError::RemoteSnapshotName { name: t.into() })?
        }
        _ => {
            let cur = current
                .clone()
                .ok_or(ragops_store::StoreError::NothingPublished)?;
            m.pull(&cur)?;
            m.local
                .manifest(&cur)?
                .parent
                .ok_or(EngineError::NoParent { current: cur })?
        }
    };
    m.pull(&to)?;
    crate::ops::verified(&m.local, &to)?;
    match m
        .remote
        .put_conditional(CURRENT_KEY, format!("{to}\n"), version.as_ref())
        .map_err(remote_err)?
    {
        Conditional::Written => Ok((current, to)),
        Conditional::Conflict => Err(ragops_store::StoreError::CurrentMoved {
            expected: current,
            found: m.current()?.0,
            snapshot: to,
        }
        .into()),
    }
}
