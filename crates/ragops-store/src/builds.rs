//! Sharded builds: `builds/<build id>/`, where shards stage their work until one commit
//! publishes it.
//!
//! ```text
//! builds/<b>/plan.json              {build_id, shards, parent, created_at}; written once
//! builds/<b>/shard-<i>.lock         flock of the process writing shard i
//! builds/<b>/.shard-<i>.tmp.<pid>/  shard i being written (removed by the next try of shard i)
//! builds/<b>/shard-<i>/             shard i, complete:
//!     fragment/                     its new rows (a fragment, not yet installed)
//!     catalog.json.lz4              its documents, source files and skips
//!     kept.json.lz4                 the parent's documents it keeps where they are
//!     cache.seg                     the embedding-cache entries it computed
//!     shard.json                    written last: what the commit checks and merges
//! ```
//!
//! Invariants: a shard never writes outside its own directories (`.shard-<i>.tmp.<pid>` and
//! `shard-<i>`), never takes the writer lock and never moves a ref; `shard-<i>/` appears by one
//! rename with `shard.json` inside, so a shard directory is complete or absent. The plan's
//! parent is fixed when the plan is first written (create-if-absent), so every shard of a
//! build reuses from the same parent.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ragops_core::{BuildId, DocId, SnapshotId};
use serde::{Deserialize, Serialize};

use crate::fragment::{checksum_files, file_matches, FragmentEntry, FragmentId, NEW_FRAGMENT};
use crate::fsutil::{create_dir_durable, sync_dir, write_atomic};
use crate::manifest::{Catalog, FileRecord, Manifest, CATALOG_FILE};
use crate::snapshot::SnapshotWriter;
use crate::{io, EmbeddingCache, Store, StoreError, StoreLock};

pub(crate) const BUILDS: &str = "builds";
const PLAN_FILE: &str = "plan.json";
const SHARD_FILE: &str = "shard.json";
const KEPT_FILE: &str = "kept.json.lz4";
pub(crate) const SHARD_CACHE_SEGMENT: &str = "cache";

/// A sharded build's plan: how many shards, and the parent every shard reuses from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildPlanRecord {
    pub build_id: BuildId,
    pub shards: u32,
    /// The snapshot `current` named when the plan was written.
    pub parent: Option<SnapshotId>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// What a finished shard staged: checked and merged by the commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardRecord {
    pub build_id: BuildId,
    pub shard: u32,
    pub shards: u32,
    pub parent: Option<SnapshotId>,
    /// The shard's part of the snapshot's manifest: configuration, model, reuse key, counts,
    /// timings and enrichment counts (its `id`, `files` and `fragments` are placeholders).
    pub manifest: Manifest,
    /// The new rows' fragment (files relative to `fragment/`); `None` when it has no rows.
    pub fragment: Option<FragmentEntry>,
    /// Whether the shard copied the rows it reuses instead of keeping them in the parent's
    /// fragments (every shard of a build decides the same way, from the parent).
    pub compacted: bool,
    /// Documents of the parent kept where they are (in `kept.json.lz4`).
    pub kept_documents: u64,
    /// The shard directory's other files (catalog, kept list, cache segment).
    pub files: BTreeMap<String, FileRecord>,
    /// The engine's report of the shard, for the commit's summary.
    #[serde(default)]
    pub report: serde_json::Value,
}

/// Proof that this process is the one writer of shard `shard` of build `build` (an advisory
/// `flock` on `builds/<b>/shard-<i>.lock`, released when the process exits or is killed).
#[derive(Debug)]
pub struct ShardLock {
    _file: File,
    build: BuildId,
    shard: u32,
}

impl ShardLock {
    pub fn build(&self) -> &BuildId {
        &self.build
    }

    pub fn shard(&self) -> u32 {
        self.shard
    }
}

fn shard_name(shard: u32) -> String {
    format!("shard-{shard}")
}

fn tmp_prefix(shard: u32) -> String {
    format!(".shard-{shard}.")
}

/// A JSON file read as `T`; `None` when there is none.
fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Manifest {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

pub(crate) fn write_lz4_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let bad = |e: String| StoreError::Manifest {
        path: path.to_path_buf(),
        message: e,
    };
    let file = File::create(path).map_err(io(path))?;
    let mut enc = lz4_flex::frame::FrameEncoder::new(std::io::BufWriter::new(file));
    serde_json::to_writer(&mut enc, value).map_err(|e| bad(e.to_string()))?;
    let buf = enc.finish().map_err(|e| bad(e.to_string()))?;
    let file = buf.into_inner().map_err(|e| io(path)(e.into_error()))?;
    file.sync_all().map_err(io(path))
}

pub(crate) fn read_lz4_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, StoreError> {
    let file = File::open(path).map_err(io(path))?;
    let dec = lz4_flex::frame::FrameDecoder::new(std::io::BufReader::new(file));
    serde_json::from_reader(dec).map_err(|e| StoreError::Manifest {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

impl Store {
    fn build_dir(&self, id: &BuildId) -> PathBuf {
        self.root().join(BUILDS).join(id.as_str())
    }

    fn shard_dir(&self, id: &BuildId, shard: u32) -> PathBuf {
        self.build_dir(id).join(shard_name(shard))
    }

    /// The plan of build `id`, if one was written.
    pub fn build_plan(&self, id: &BuildId) -> Result<Option<BuildPlanRecord>, StoreError> {
        read_json(&self.build_dir(id).join(PLAN_FILE))
    }

    /// Writes the plan of build `id` with `shards` shards and `current` as the parent, unless
    /// it exists: then it is returned as it is (every shard and the coordinator may call this;
    /// the first one fixes the parent). A plan with another shard count is refused.
    pub fn plan_build(&self, id: &BuildId, shards: u32) -> Result<BuildPlanRecord, StoreError> {
        if let Some(p) = self.build_plan(id)? {
            return check_count(p, shards);
        }
        let dir = self.build_dir(id);
        create_dir_durable(&self.root().join(BUILDS))?;
        create_dir_durable(&dir)?;
        let plan = BuildPlanRecord {
            build_id: id.clone(),
            shards,
            parent: self.current()?,
            created_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        };
        let json = serde_json::to_vec_pretty(&plan).map_err(|e| StoreError::Manifest {
            path: dir.join(PLAN_FILE),
            message: e.to_string(),
        })?;
        // Create-if-absent: write a private file, then hard-link it into place, which fails
        // when another process linked its plan first.
        let tmp = dir.join(format!(".{PLAN_FILE}.tmp.{}", std::process::id()));
        write_atomic(&tmp, &json)?;
        let linked = std::fs::hard_link(&tmp, dir.join(PLAN_FILE));
        let _ = std::fs::remove_file(&tmp);
        sync_dir(&dir)?;
        match linked {
            Ok(()) => Ok(plan),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let p = self.build_plan(id)?.ok_or_else(|| io(&dir)(e))?;
                check_count(p, shards)
            }
            Err(e) => Err(io(&dir.join(PLAN_FILE))(e)),
        }
    }

    /// Takes the lock of shard `shard` of build `id` (without waiting: a second process
    /// running the same shard is refused with the holder's pid).
    pub fn shard_lock(&self, id: &BuildId, shard: u32) -> Result<ShardLock, StoreError> {
        let dir = self.build_dir(id);
        create_dir_durable(&dir)?;
        let file = crate::lock::try_lock(
            &dir.join(format!("{}.lock", shard_name(shard))),
            &format!("ragops build --shard {shard} --build-id {id}"),
        )?;
        Ok(ShardLock {
            _file: file,
            build: id.clone(),
            shard,
        })
    }

    /// Starts shard `lock.shard()`: removes what an earlier try of the same shard left
    /// half-written, and returns a writer whose staging directory is
    /// `builds/<b>/.shard-<i>.tmp.<pid>/`.
    pub fn begin_shard(&self, lock: &ShardLock, salt: &str) -> Result<SnapshotWriter, StoreError> {
        let dir = self.build_dir(&lock.build);
        let prefix = tmp_prefix(lock.shard);
        for e in std::fs::read_dir(&dir).map_err(io(&dir))?.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let p = e.path();
                std::fs::remove_dir_all(&p).map_err(io(&p))?;
            }
        }
        let staging = dir.join(format!("{prefix}tmp.{}", std::process::id()));
        SnapshotWriter::begin(self, staging, salt)
    }

    /// The record of shard `shard` of build `id`, when that shard finished.
    pub fn shard_record(
        &self,
        id: &BuildId,
        shard: u32,
    ) -> Result<Option<ShardRecord>, StoreError> {
        read_json(&self.shard_dir(id, shard).join(SHARD_FILE))
    }

    /// What is wrong with a finished shard's files (sizes and SHA-256 against its record);
    /// empty when it is intact. A fragment already installed by an interrupted commit counts
    /// as present when the installed copy is intact.
    pub fn verify_shard(&self, rec: &ShardRecord) -> Vec<String> {
        let dir = self.shard_dir(&rec.build_id, rec.shard);
        let mut problems = Vec::new();
        for (rel, f) in &rec.files {
            if !file_matches(&dir.join(rel), f).unwrap_or(false) {
                problems.push(format!(
                    "{}/{rel}: missing or checksum differs",
                    shard_name(rec.shard)
                ));
            }
        }
        if let Some(frag) = &rec.fragment {
            let staged = dir.join(NEW_FRAGMENT);
            let base = if staged.is_dir() {
                staged
            } else {
                self.fragment_dir(&frag.id)
            };
            for (rel, f) in &frag.files {
                if !file_matches(&base.join(rel), f).unwrap_or(false) {
                    problems.push(format!(
                        "{}/fragment/{rel}: missing or checksum differs",
                        shard_name(rec.shard)
                    ));
                }
            }
        }
        problems
    }

    /// The documents of the parent that shard `rec` keeps in the parent's fragments.
    pub fn shard_kept(&self, rec: &ShardRecord) -> Result<Vec<DocId>, StoreError> {
        read_lz4_json(&self.shard_dir(&rec.build_id, rec.shard).join(KEPT_FILE))
    }

    /// The catalog part of shard `rec`.
    pub fn shard_catalog(&self, rec: &ShardRecord) -> Result<Catalog, StoreError> {
        Catalog::read(&self.shard_dir(&rec.build_id, rec.shard).join(CATALOG_FILE))
    }

    /// Moves each shard's fragment into `fragments/` (an intact copy already there is kept);
    /// returns their manifest entries in shard order.
    pub fn install_shard_fragments(
        &self,
        _lock: &StoreLock,
        shards: &[ShardRecord],
    ) -> Result<Vec<FragmentEntry>, StoreError> {
        let mut out = Vec::new();
        for rec in shards {
            let Some(frag) = &rec.fragment else { continue };
            let staged = self.shard_dir(&rec.build_id, rec.shard).join(NEW_FRAGMENT);
            let entry = if staged.is_dir() {
                self.install_fragment(&staged, frag.rows, frag.files.clone())?
            } else {
                frag.clone() // installed by an interrupted commit; verify_shard checked it
            };
            out.push(entry);
        }
        Ok(out)
    }

    /// Links each shard's embedding-cache segment into the model's cache directory, named
    /// after the snapshot that commits them (a hard link, so the shard stays intact for a
    /// retried commit until the build is removed).
    pub fn adopt_shard_segments(
        &self,
        _lock: &StoreLock,
        cache: &EmbeddingCache,
        shards: &[ShardRecord],
        snapshot: &SnapshotId,
    ) -> Result<u64, StoreError> {
        let mut n = 0;
        for rec in shards {
            let seg = format!("{SHARD_CACHE_SEGMENT}.{}", crate::cache::SEGMENT_EXT);
            let from = self.shard_dir(&rec.build_id, rec.shard).join(&seg);
            if !from.is_file() {
                continue;
            }
            let to = cache.dir().join(format!(
                "{snapshot}-s{}.{}",
                rec.shard,
                crate::cache::SEGMENT_EXT
            ));
            match std::fs::hard_link(&from, &to) {
                Ok(()) => n += 1,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                // Another filesystem: a copy, renamed into place.
                Err(_) => {
                    let tmp = cache
                        .dir()
                        .join(format!(".tmp-{snapshot}-s{}.seg", rec.shard));
                    std::fs::copy(&from, &tmp).map_err(io(&tmp))?;
                    std::fs::rename(&tmp, &to).map_err(io(&to))?;
                    n += 1;
                }
            }
        }
        sync_dir(cache.dir())?;
        Ok(n)
    }

    /// Removes the finished directory of the shard `lock` holds (a mirror's copy, once it is
    /// uploaded).
    pub fn remove_shard(&self, lock: &ShardLock) -> Result<(), StoreError> {
        let dir = self.shard_dir(&lock.build, lock.shard);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => sync_dir(&self.build_dir(&lock.build)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&dir)(e)),
        }
    }

    /// Removes build `id`'s directory (after its commit, or to abandon it).
    pub fn remove_build(&self, _lock: &StoreLock, id: &BuildId) -> Result<(), StoreError> {
        let dir = self.build_dir(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => sync_dir(&self.root().join(BUILDS)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&dir)(e)),
        }
    }

    /// Ids of the builds with a directory under `builds/`.
    pub fn build_ids(&self) -> Vec<BuildId> {
        let mut ids: Vec<BuildId> = std::fs::read_dir(self.root().join(BUILDS))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| BuildId::parse(&e.file_name().to_string_lossy()).ok())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }
}

fn check_count(p: BuildPlanRecord, shards: u32) -> Result<BuildPlanRecord, StoreError> {
    if p.shards == shards {
        Ok(p)
    } else {
        Err(StoreError::ShardCount {
            build: p.build_id,
            planned: p.shards,
            asked: shards,
        })
    }
}

/// What a shard hands to [`SnapshotWriter::finish_shard`].
pub struct ShardParts<'a> {
    pub manifest: Manifest,
    pub catalog: &'a Catalog,
    pub kept: Vec<DocId>,
    pub new_rows: u64,
    pub compacted: bool,
    pub parent: Option<SnapshotId>,
    pub shards: u32,
    pub report: serde_json::Value,
}

impl SnapshotWriter {
    /// Completes a shard (a writer from [`Store::begin_shard`]): checksums its new fragment,
    /// writes its catalog, kept list and `shard.json` (last), and renames the staging
    /// directory to `builds/<b>/shard-<i>/`, replacing an earlier try of the same shard.
    pub fn finish_shard(
        self,
        lock: &ShardLock,
        parts: ShardParts<'_>,
    ) -> Result<ShardRecord, StoreError> {
        let staging = self.staging().to_path_buf();
        let frag_dir = staging.join(NEW_FRAGMENT);
        let fragment = if parts.new_rows > 0 {
            let (files, dirs) = checksum_files(&frag_dir, |_| false)?;
            for d in &dirs {
                sync_dir(d)?;
            }
            Some(FragmentEntry {
                id: FragmentId::of(&files),
                rows: parts.new_rows,
                deleted: 0,
                deletions: None,
                deleted_tokens: BTreeMap::new(),
                files,
            })
        } else {
            if frag_dir.exists() {
                std::fs::remove_dir_all(&frag_dir).map_err(io(&frag_dir))?;
            }
            None
        };
        parts.catalog.write(&staging.join(CATALOG_FILE))?;
        write_lz4_json(&staging.join(KEPT_FILE), &parts.kept)?;
        let (files, dirs) = checksum_files(&staging, |rel| {
            rel == SHARD_FILE || rel.starts_with(&format!("{NEW_FRAGMENT}/"))
        })?;
        let mut manifest = parts.manifest;
        manifest.id = self.id().clone();
        let rec = ShardRecord {
            build_id: lock.build.clone(),
            shard: lock.shard,
            shards: parts.shards,
            parent: parts.parent,
            manifest,
            fragment,
            compacted: parts.compacted,
            kept_documents: parts.kept.len() as u64,
            files,
            report: parts.report,
        };
        let json = serde_json::to_vec_pretty(&rec).map_err(|e| StoreError::Manifest {
            path: staging.join(SHARD_FILE),
            message: e.to_string(),
        })?;
        write_atomic(&staging.join(SHARD_FILE), &json)?;
        for d in &dirs {
            sync_dir(d)?;
        }
        crate::failpoint::failpoint("shard-before-rename");
        let store = self.store().clone();
        let target = store.shard_dir(&lock.build, lock.shard);
        let build_dir = store.build_dir(&lock.build);
        if target.exists() {
            let old = build_dir.join(format!(
                "{}old.{}",
                tmp_prefix(lock.shard),
                std::process::id()
            ));
            std::fs::rename(&target, &old).map_err(io(&target))?;
            std::fs::rename(&staging, &target).map_err(io(&target))?;
            sync_dir(&build_dir)?;
            std::fs::remove_dir_all(&old).map_err(io(&old))?;
        } else {
            std::fs::rename(&staging, &target).map_err(io(&target))?;
        }
        sync_dir(&build_dir)?;
        Ok(rec)
    }
}
