//! A local store as the mirror of a store on object storage: which keys (paths relative to
//! the store's root, `/`-separated, the same on both sides) make up a snapshot, a shard and a
//! ref, and how downloaded files are installed so the mirror keeps every invariant of a local
//! store (a snapshot appears by one rename with its manifest inside; fragments are installed
//! before the manifest that lists them). The transfer itself is the caller's (`fetch`).

use std::path::{Path, PathBuf};

use ragops_core::{BuildId, SnapshotId};

use crate::builds::{BuildPlanRecord, ShardRecord, BUILDS};
use crate::fragment::{file_matches, FragmentEntry, FRAGMENTS};
use crate::fsutil::{create_dir_durable, rel_path, sync_dir, walk_files, write_atomic};
use crate::manifest::{FileRecord, Manifest, MANIFEST_FILE, MANIFEST_SHA256_FILE};
use crate::store::{SNAPSHOTS, STAGING};
use crate::{io, Store, StoreError, StoreLock};

/// The key of `refs/current`.
pub const CURRENT_KEY: &str = "refs/current";
/// The key of the writer lock object of a store on object storage.
pub const LOCK_KEY: &str = "LOCK";

/// Downloads the object `key` into the local file `dest`; with a record, the bytes must
/// match its size and SHA-256.
pub type Fetch<'a> = dyn Fn(&str, &Path, Option<&FileRecord>) -> Result<(), String> + 'a;

/// Key of a snapshot's file `rel`.
pub fn snapshot_key(id: &SnapshotId, rel: &str) -> String {
    format!("{SNAPSHOTS}/{id}/{rel}")
}

/// Key of a fragment's file `rel`.
pub fn fragment_key(f: &FragmentEntry, rel: &str) -> String {
    format!("{FRAGMENTS}/{}/{rel}", f.id)
}

/// Key of a build's plan.
pub fn plan_key(b: &BuildId) -> String {
    format!("{BUILDS}/{b}/plan.json")
}

/// Key prefix of shard `i` of build `b` (its files are below it).
pub fn shard_prefix(b: &BuildId, i: u32) -> String {
    format!("{BUILDS}/{b}/shard-{i}")
}

/// Key prefix of build `b`.
pub fn build_prefix(b: &BuildId) -> String {
    format!("{BUILDS}/{b}")
}

/// Key prefix of the embedding cache.
pub const CACHE_PREFIX: &str = "cache/embeddings";

fn fetch_err(key: &str) -> impl FnOnce(String) -> StoreError + '_ {
    move |message| StoreError::Io {
        path: PathBuf::from(key),
        source: std::io::Error::other(message),
    }
}

impl Store {
    /// Whether snapshot `id` is complete in this store.
    pub fn has_snapshot(&self, id: &SnapshotId) -> bool {
        self.snapshot_dir(id).join(MANIFEST_FILE).is_file()
    }

    /// Copies snapshot `id` into this store with `fetch`: its manifest (checked against its
    /// checksum and id), its own files, and every fragment it lists that is not here intact
    /// (sizes compared; the downloads are checked against the manifest's SHA-256). The
    /// fragments are installed first, then the snapshot directory appears by one rename.
    /// Returns false when the snapshot was already here.
    pub fn mirror_snapshot(
        &self,
        _lock: &StoreLock,
        id: &SnapshotId,
        fetch: &Fetch<'_>,
    ) -> Result<bool, StoreError> {
        if self.has_snapshot(id) {
            return Ok(false);
        }
        let staging = self.root().join(STAGING).join(id.as_str());
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
        }
        create_dir_durable(&staging)?;
        for rel in [MANIFEST_SHA256_FILE, MANIFEST_FILE] {
            let key = snapshot_key(id, rel);
            fetch(&key, &staging.join(rel), None).map_err(fetch_err(&key))?;
        }
        let bytes = std::fs::read(staging.join(MANIFEST_FILE)).map_err(io(&staging))?;
        let want =
            std::fs::read_to_string(staging.join(MANIFEST_SHA256_FILE)).map_err(io(&staging))?;
        if want.trim() != ragops_core::sha256_hex(&bytes) {
            return Err(StoreError::ManifestTampered {
                id: id.clone(),
                path: staging.join(MANIFEST_FILE),
            });
        }
        let manifest = Manifest::parse(&bytes, &staging.join(MANIFEST_FILE))?;
        manifest.check_identity(id)?;
        for (rel, rec) in &manifest.files {
            let key = snapshot_key(id, rel);
            fetch(&key, &staging.join(rel), Some(rec)).map_err(fetch_err(&key))?;
        }
        for f in &manifest.fragments {
            let dir = self.fragment_dir(&f.id);
            let present = f.files.iter().all(|(rel, rec)| {
                std::fs::metadata(dir.join(rel)).is_ok_and(|m| m.len() == rec.bytes)
            });
            if present {
                continue;
            }
            let part = staging.join(format!("fragment-{}", f.id));
            for (rel, rec) in &f.files {
                let key = fragment_key(f, rel);
                fetch(&key, &part.join(rel), Some(rec)).map_err(fetch_err(&key))?;
            }
            self.install_fragment(&part, f.rows, f.files.clone())?;
        }
        sync_dir(&staging)?;
        let target = self.snapshot_dir(id);
        std::fs::rename(&staging, &target).map_err(io(&target))?;
        sync_dir(&self.snapshots_dir())?;
        Ok(true)
    }

    /// Records a build's plan as another store holds it (create-if-absent, like
    /// [`Store::plan_build`]).
    pub fn record_plan(&self, plan: &BuildPlanRecord) -> Result<(), StoreError> {
        if self.build_plan(&plan.build_id)?.is_some() {
            return Ok(());
        }
        let path = self.root().join(plan_key(&plan.build_id));
        let json = serde_json::to_vec_pretty(plan).map_err(|e| StoreError::Manifest {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_atomic(&path, &json)
    }

    /// The files of finished shard `i` of build `b`: `(key, local path)`, `shard.json` last
    /// (an uploader writes it last, so a shard is complete once it is there).
    pub fn shard_files(&self, b: &BuildId, i: u32) -> Vec<(String, PathBuf)> {
        let prefix = shard_prefix(b, i);
        let dir = self.root().join(&prefix);
        let mut files: Vec<(String, PathBuf)> = walk_files(&dir)
            .into_iter()
            .filter_map(|p| rel_path(&dir, &p).map(|r| (format!("{prefix}/{r}"), p)))
            .collect();
        files.sort_by_key(|(k, _)| k.ends_with("/shard.json"));
        files
    }

    /// Writes a shard's record (read from another store) and fetches the files the commit
    /// reads locally (catalog and kept list), checked against the record.
    pub fn mirror_shard_record(
        &self,
        rec: &ShardRecord,
        fetch: &Fetch<'_>,
    ) -> Result<(), StoreError> {
        let prefix = shard_prefix(&rec.build_id, rec.shard);
        let dir = self.root().join(&prefix);
        create_dir_durable(&dir)?;
        for (rel, f) in &rec.files {
            let key = format!("{prefix}/{rel}");
            let local = dir.join(rel);
            if rel.ends_with(".seg") || file_matches(&local, f).unwrap_or(false) {
                continue; // the cache segment stays remote: the commit copies it there
            }
            fetch(&key, &local, Some(f)).map_err(fetch_err(&key))?;
        }
        let json = serde_json::to_vec_pretty(rec).map_err(|e| StoreError::Manifest {
            path: dir.join("shard.json"),
            message: e.to_string(),
        })?;
        write_atomic(&dir.join("shard.json"), &json)
    }

    /// The files of snapshot `id`'s own directory to upload: `(key, local path)`, the
    /// manifest's checksum then the manifest last (a reader treats a snapshot as complete
    /// once its manifest is there).
    pub fn snapshot_files(&self, id: &SnapshotId) -> Vec<(String, PathBuf)> {
        let dir = self.snapshot_dir(id);
        let mut files: Vec<(String, PathBuf)> = walk_files(&dir)
            .into_iter()
            .filter_map(|p| rel_path(&dir, &p).map(|r| (snapshot_key(id, &r), p)))
            .collect();
        files.sort_by_key(|(k, _)| {
            if k.ends_with(&format!("/{MANIFEST_FILE}")) {
                2
            } else if k.ends_with(&format!("/{MANIFEST_SHA256_FILE}")) {
                1
            } else {
                0
            }
        });
        files
    }

    /// The local files of fragment `f`: `(key, local path)`.
    pub fn fragment_files(&self, f: &FragmentEntry) -> Vec<(String, PathBuf)> {
        let dir = self.fragment_dir(&f.id);
        f.files
            .keys()
            .map(|rel| (fragment_key(f, rel), dir.join(rel)))
            .collect()
    }

    /// Key of the cache segment shard `rec` staged, and of the segment it becomes in the
    /// cache once snapshot `id` commits it.
    pub fn shard_segment_keys(rec: &ShardRecord, id: &SnapshotId) -> Option<(String, String)> {
        let seg = format!(
            "{}.{}",
            crate::builds::SHARD_CACHE_SEGMENT,
            crate::cache::SEGMENT_EXT
        );
        rec.files.contains_key(&seg).then(|| {
            (
                format!("{}/{seg}", shard_prefix(&rec.build_id, rec.shard)),
                format!(
                    "{CACHE_PREFIX}/{}/{id}-s{}.{}",
                    rec.manifest.model.cache_key(),
                    rec.shard,
                    crate::cache::SEGMENT_EXT
                ),
            )
        })
    }

    /// The local path for a cache key (`cache/embeddings/...`), when it names a segment.
    pub fn cache_path(&self, key: &str) -> Option<PathBuf> {
        let rel = key.strip_prefix(&format!("{CACHE_PREFIX}/"))?;
        let ok = rel.split('/').count() == 2
            && rel.ends_with(&format!(".{}", crate::cache::SEGMENT_EXT))
            && !rel.split('/').any(|p| p.is_empty() || p.starts_with('.'));
        ok.then(|| self.root().join(CACHE_PREFIX).join(rel))
    }

    /// The local cache segments: `(key, local path)`.
    pub fn cache_files(&self) -> Vec<(String, PathBuf)> {
        let dir = self.root().join(CACHE_PREFIX);
        walk_files(&dir)
            .into_iter()
            .filter_map(|p| rel_path(&dir, &p).map(|r| (format!("{CACHE_PREFIX}/{r}"), p)))
            .filter(|(k, _)| self.cache_path(k).is_some())
            .collect()
    }
}
