//! Snapshots: writing one (staging → data files → checksums → manifest → rename), reading
//! one ([`Snapshot`]), verifying and deleting one. This module and its helpers are the only
//! code that knows the names of a snapshot's files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ragops_core::config::HnswConfig;
use ragops_core::{IndexConfig, Sha256Hasher, SnapshotId};
use serde::{Deserialize, Serialize};

use crate::ann::ANN_FILE;
use crate::chunks::{ChunkTableWriter, CHUNKS_FILE};
use crate::failpoint::failpoint;
use crate::fragment::{
    checksum_files, file_matches, is_tantivy_lock, DeletionVector, Fragment, FragmentEntry,
    DELETIONS_DIR, NEW_FRAGMENT,
};
use crate::fsutil::{create_dir_durable, rel_path, sync_dir, walk_files, write_atomic};
use crate::fulltext::{FulltextWriter, FULLTEXT_DIR};
use crate::manifest::{Catalog, Manifest, CATALOG_FILE, MANIFEST_FILE, MANIFEST_SHA256_FILE};
use crate::store::{STAGING, TRASH};
use crate::vectors::{VectorFile, VECTORS_FILE};
use crate::{io, EmbeddingCache, SegmentWriter, Store, StoreError, StoreLock};

impl Store {
    /// Starts a new snapshot in `staging/`.
    pub fn begin_snapshot(
        &self,
        _lock: &StoreLock,
        salt: &str,
    ) -> Result<SnapshotWriter, StoreError> {
        let id = self.new_snapshot_id(salt)?;
        let staging = self.root().join(STAGING).join(id.as_str());
        create_dir_durable(&staging)?;
        Ok(SnapshotWriter {
            store: self.clone(),
            id,
            staging,
            shard: false,
        })
    }

    /// A new snapshot id: the time in milliseconds and 8 hex digits of a hash of the time,
    /// the process id and `salt`.
    fn new_snapshot_id(&self, salt: &str) -> Result<SnapshotId, StoreError> {
        let now = SystemTime::now();
        // Milliseconds, so that ids sort in creation order (gc's "newest" relies on it).
        let stamp = humantime::format_rfc3339_millis(now)
            .to_string()
            .replace(['-', ':', '.'], "");
        let nanos = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let suffix = Sha256Hasher::new()
            .part(nanos.to_le_bytes())
            .part(std::process::id().to_le_bytes())
            .part(salt)
            .hex();
        SnapshotId::parse(&format!("{stamp}-{}", &suffix[..8])).map_err(|e| StoreError::Io {
            path: self.root().join(STAGING),
            source: std::io::Error::other(e),
        })
    }
}

/// A snapshot being written in `staging/<id>/`: its new rows go into a new fragment
/// (`staging/<id>/fragment/`), which `finish` moves into `fragments/` under its content id.
pub struct SnapshotWriter {
    store: Store,
    id: SnapshotId,
    staging: PathBuf,
    /// A shard of a sharded build (`Store::begin_shard`): finished with `finish_shard`, its
    /// cache segment kept in its staging directory.
    shard: bool,
}

/// A fragment of the parent that a new snapshot references, with the rows it masks.
#[derive(Debug, Clone)]
pub struct CarriedFragment {
    /// The parent's entry; `deleted_tokens` must cover `deletions`.
    pub entry: FragmentEntry,
    pub deletions: Option<DeletionVector>,
}

impl SnapshotWriter {
    /// A shard's writer, staging in `staging` (see `Store::begin_shard`).
    pub(crate) fn begin(store: &Store, staging: PathBuf, salt: &str) -> Result<Self, StoreError> {
        let id = store.new_snapshot_id(salt)?;
        create_dir_durable(&staging)?;
        Ok(SnapshotWriter {
            store: store.clone(),
            id,
            staging,
            shard: true,
        })
    }

    pub fn id(&self) -> &SnapshotId {
        &self.id
    }

    pub(crate) fn staging(&self) -> &Path {
        &self.staging
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The segment for the embeddings this writer's build computes: in the model's cache
    /// directory (committed there after fsync), or, for a shard, in its staging directory
    /// (the commit moves it into the cache).
    pub fn cache_segment(&self, cache: &EmbeddingCache) -> Result<SegmentWriter, StoreError> {
        if self.shard {
            cache.segment_writer_in(&self.staging, crate::builds::SHARD_CACHE_SEGMENT)
        } else {
            cache.segment_writer(self.id.as_str())
        }
    }

    fn fragment_dir(&self) -> PathBuf {
        self.staging.join(NEW_FRAGMENT)
    }

    /// Starts the new fragment's chunk table and its vector file (vectors of `dim` values).
    pub fn chunk_table(&self, dim: usize) -> Result<ChunkTableWriter, StoreError> {
        let dir = self.fragment_dir();
        create_dir_durable(&dir)?;
        ChunkTableWriter::create_with_vectors(&dir.join(CHUNKS_FILE), &dir.join(VECTORS_FILE), dim)
    }

    /// Builds the HNSW graph over the new fragment's finished vector file (call after the
    /// chunk table's `finish`).
    pub fn vector_index(&self, cfg: &HnswConfig) -> Result<(), StoreError> {
        let dir = self.fragment_dir();
        let vectors = VectorFile::open(&dir.join(VECTORS_FILE))?;
        crate::ann::build(&vectors, cfg, &dir.join(ANN_FILE))
    }

    /// Starts the new fragment's full-text index.
    pub fn fulltext(&self) -> Result<FulltextWriter, StoreError> {
        let dir = self.fragment_dir();
        create_dir_durable(&dir)?;
        FulltextWriter::create(&dir.join(FULLTEXT_DIR))
    }

    #[cfg(test)]
    pub(crate) fn dir(&self) -> &Path {
        &self.staging
    }

    /// Gives the snapshot up: removes its staging directory (best effort; the next build
    /// removes whatever is left).
    pub fn abandon(self) {
        let _ = std::fs::remove_dir_all(&self.staging);
    }

    /// Completes the snapshot: the new fragment (its `new_rows` rows; none when 0) is
    /// checksummed, fsynced and moved into `fragments/`; the deletion vectors of `carried`
    /// fragments and the catalog are written; the manifest lists the carried fragments, then
    /// the new one, and is written last with its checksum; the staging directory is renamed
    /// into `snapshots/`. The snapshot is complete but not yet visible: call
    /// [`Store::publish`] (or tag it).
    pub fn finish(
        self,
        manifest: Manifest,
        catalog: &Catalog,
        carried: Vec<CarriedFragment>,
        new_rows: u64,
    ) -> Result<SnapshotId, StoreError> {
        let staged = self.fragment_dir();
        let new = if new_rows > 0 {
            let (files, dirs) = checksum_files(&staged, |_| false)?;
            for d in &dirs {
                sync_dir(d)?;
            }
            Some(self.store.install_fragment(&staged, new_rows, files)?)
        } else {
            if staged.exists() {
                std::fs::remove_dir_all(&staged).map_err(io(&staged))?;
            }
            None
        };
        failpoint("after-fragment");
        self.seal(manifest, catalog, carried, new.into_iter().collect())
    }

    /// Completes the snapshot of a sharded build's commit: like [`SnapshotWriter::finish`],
    /// with `installed` (the shards' fragments, already in `fragments/`:
    /// `Store::install_shard_fragments`) listed after the carried ones.
    pub fn finish_commit(
        self,
        manifest: Manifest,
        catalog: &Catalog,
        carried: Vec<CarriedFragment>,
        installed: Vec<FragmentEntry>,
    ) -> Result<SnapshotId, StoreError> {
        self.seal(manifest, catalog, carried, installed)
    }

    /// Writes the deletion vectors, the catalog and the manifest (last, with its checksum)
    /// and renames the staging directory into `snapshots/`.
    fn seal(
        self,
        mut manifest: Manifest,
        catalog: &Catalog,
        carried: Vec<CarriedFragment>,
        new: Vec<FragmentEntry>,
    ) -> Result<SnapshotId, StoreError> {
        manifest.id = self.id.clone();
        manifest.format_version = crate::manifest::FORMAT_VERSION;
        manifest.fragments.clear();
        for c in carried {
            let mut entry = c.entry;
            entry.deletions = None;
            entry.deleted = 0;
            match c.deletions.filter(|d| d.count() > 0) {
                Some(d) => {
                    let rel = format!("{DELETIONS_DIR}/{}.del", entry.id);
                    let path = self.staging.join(&rel);
                    create_dir_durable(&self.staging.join(DELETIONS_DIR))?;
                    d.write(&path)?;
                    entry.deleted = d.count();
                    entry.deletions = Some(rel);
                }
                None => entry.deleted_tokens.clear(),
            }
            manifest.fragments.push(entry);
        }
        manifest.fragments.extend(new);
        catalog.write(&self.staging.join(CATALOG_FILE))?;
        let (files, dirs) = checksum_files(&self.staging, |rel| {
            rel == MANIFEST_FILE || rel == MANIFEST_SHA256_FILE
        })?;
        manifest.files = files;
        failpoint("before-manifest");
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| StoreError::Manifest {
            path: self.staging.join(MANIFEST_FILE),
            message: e.to_string(),
        })?;
        write_atomic(&self.staging.join(MANIFEST_FILE), &json)?;
        write_atomic(
            &self.staging.join(MANIFEST_SHA256_FILE),
            format!("{}\n", ragops_core::sha256_hex(&json)).as_bytes(),
        )?;
        for d in &dirs {
            sync_dir(d)?;
        }
        failpoint("before-rename");
        let target = self.store.snapshot_dir(&self.id);
        std::fs::rename(&self.staging, &target).map_err(io(&target))?;
        sync_dir(&self.store.snapshots_dir())?;
        Ok(self.id)
    }
}

/// What `verify` found wrong with a snapshot. Empty lists and no manifest problem: intact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub ok: bool,
    /// Files whose size or SHA-256 differs from the manifest.
    pub mismatched: Vec<String>,
    /// Files the manifest lists that are not there.
    pub missing: Vec<String>,
    /// Files in the snapshot that the manifest does not list.
    pub unlisted: Vec<String>,
    /// Why the manifest itself cannot be trusted (edited, id or parent wrong).
    pub manifest: Option<String>,
}

impl VerifyReport {
    /// One line per problem.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self.manifest.iter().cloned().collect();
        out.extend(
            self.mismatched
                .iter()
                .map(|f| format!("{f}: checksum differs")),
        );
        out.extend(self.missing.iter().map(|f| format!("{f}: missing")));
        out.extend(
            self.unlisted
                .iter()
                .map(|f| format!("{f}: not listed in the manifest")),
        );
        out
    }
}

/// Checks the files under `dir` against `files`: mismatched and missing ones, and files
/// not listed (except the names `known` accepts). Paths are reported with `prefix`.
fn check_files(
    dir: &Path,
    files: &BTreeMap<String, crate::manifest::FileRecord>,
    known: impl Fn(&str) -> bool,
    prefix: &str,
    report: &mut VerifyReport,
) {
    for (rel, rec) in files {
        match file_matches(&dir.join(rel), rec) {
            Ok(true) => {}
            Ok(false) => report.mismatched.push(format!("{prefix}{rel}")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.missing.push(format!("{prefix}{rel}"))
            }
            Err(_) => report.mismatched.push(format!("{prefix}{rel}")),
        }
    }
    for path in walk_files(dir) {
        let Some(rel) = rel_path(dir, &path) else {
            continue;
        };
        let empty_lock =
            is_tantivy_lock(&rel) && std::fs::metadata(&path).is_ok_and(|m| m.len() == 0);
        if !known(&rel) && !files.contains_key(&rel) && !empty_lock {
            report.unlisted.push(format!("{prefix}{rel}"));
        }
    }
}

impl Store {
    /// Re-checks a snapshot against its manifest, streaming every file: the manifest's own
    /// checksum, id and parent, each listed file's size and SHA-256 (the fragments' included),
    /// and files it does not list.
    pub fn verify(&self, id: &SnapshotId) -> Result<VerifyReport, StoreError> {
        let dir = self.snapshot_dir(id);
        let mut report = VerifyReport::default();
        let manifest = match self.manifest(id) {
            Ok(m) => m,
            Err(StoreError::UnknownSnapshot(x)) => return Err(StoreError::UnknownSnapshot(x)),
            Err(e) => {
                report.manifest = Some(e.to_string());
                // Check the files against what the manifest says anyway, if it parses.
                let path = dir.join(MANIFEST_FILE);
                match std::fs::read(&path)
                    .ok()
                    .and_then(|b| Manifest::parse(&b, &path).ok())
                {
                    Some(m) => m,
                    None => return Ok(report),
                }
            }
        };
        if report.manifest.is_none() && !dir.join(MANIFEST_SHA256_FILE).is_file() {
            // Opening tolerates it (snapshots written before the checksum existed), but then
            // nothing vouches for the manifest: an edit would go unnoticed.
            report.manifest = Some(format!(
                "{MANIFEST_SHA256_FILE} is missing, so edits to {MANIFEST_FILE} cannot be \
                 detected (snapshots written before ragops checksummed manifests lack it; \
                 rebuild to get one)"
            ));
        }
        check_files(
            &dir,
            &manifest.files,
            |rel| rel == MANIFEST_FILE || rel == MANIFEST_SHA256_FILE,
            "",
            &mut report,
        );
        for f in &manifest.fragments {
            let fdir = self.fragment_dir(&f.id);
            let prefix = format!("{}/{}/", crate::fragment::FRAGMENTS, f.id);
            if !fdir.is_dir() {
                report
                    .missing
                    .push(prefix.trim_end_matches('/').to_string());
                continue;
            }
            check_files(&fdir, &f.files, |_| false, &prefix, &mut report);
        }
        report.ok = report.manifest.is_none()
            && report.mismatched.is_empty()
            && report.missing.is_empty()
            && report.unlisted.is_empty();
        Ok(report)
    }

    /// Deletes a snapshot that no ref names: renamed into `trash/` under the refs lock (so a
    /// concurrent rollback or tag either sees it whole or not at all), then removed.
    /// Refuses `current` and tagged snapshots. Returns the bytes freed (its fragments are
    /// collected separately, once no snapshot lists them).
    pub fn delete_snapshot(&self, _lock: &StoreLock, id: &SnapshotId) -> Result<u64, StoreError> {
        let dir = self.snapshot_dir(id);
        let trash = self.root().join(TRASH);
        let target = trash.join(id.as_str());
        {
            let _refs = self.refs_lock("ragops snapshots gc")?;
            if self.is_referenced(id)? {
                return Err(StoreError::Referenced(id.clone()));
            }
            create_dir_durable(&trash)?;
            std::fs::rename(&dir, &target).map_err(io(&dir))?;
            sync_dir(&self.snapshots_dir())?;
        }
        failpoint("gc-after-trash");
        let bytes = crate::fsutil::dir_size(&target);
        std::fs::remove_dir_all(&target).map_err(io(&target))?;
        Ok(bytes)
    }
}

/// A published snapshot opened for reading: its manifest and its fragments.
pub struct Snapshot {
    id: SnapshotId,
    dir: PathBuf,
    manifest: Manifest,
    store: Store,
}

impl Store {
    /// Opens a snapshot for reading (its manifest is checked, see [`Store::manifest`]).
    pub fn snapshot(&self, id: &SnapshotId) -> Result<Snapshot, StoreError> {
        let manifest = self.manifest(id)?;
        Ok(Snapshot {
            id: id.clone(),
            dir: self.snapshot_dir(id),
            manifest,
            store: self.clone(),
        })
    }
}

impl Snapshot {
    pub fn id(&self) -> &SnapshotId {
        &self.id
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Whether the snapshot references fragments (format 2) rather than holding its rows in
    /// its own directory (format 1).
    pub fn has_fragments(&self) -> bool {
        self.manifest.format_version >= 2
    }

    /// The fragments, in row order, with their deletion vectors read. A format-1 snapshot is
    /// one fragment: its own directory, nothing masked.
    pub fn fragments(&self) -> Result<Vec<Fragment>, StoreError> {
        if !self.has_fragments() {
            return Ok(vec![Fragment::new(
                None,
                self.dir.clone(),
                self.manifest.files.clone(),
                None,
                BTreeMap::new(),
            )]);
        }
        self.manifest
            .fragments
            .iter()
            .map(|e| {
                let deletions = match &e.deletions {
                    Some(rel) => {
                        // Only `deletions/<fragment id>.del`, so a manifest never names a
                        // path outside the snapshot.
                        if *rel != format!("{DELETIONS_DIR}/{}.del", e.id) {
                            return Err(StoreError::Manifest {
                                path: self.dir.join(MANIFEST_FILE),
                                message: format!("unexpected deletion vector path {rel:?}"),
                            });
                        }
                        Some(DeletionVector::read(&self.dir.join(rel), e.rows)?)
                    }
                    None => None,
                };
                Ok(Fragment::new(
                    Some(e.id.clone()),
                    self.store.fragment_dir(&e.id),
                    e.files.clone(),
                    deletions,
                    e.deleted_tokens.clone(),
                ))
            })
            .collect()
    }

    /// Documents, source files and skips (read from `catalog.json.lz4`, or from the manifest
    /// of a format-1 snapshot).
    pub fn catalog(&self) -> Result<Catalog, StoreError> {
        if self.has_fragments() {
            Catalog::read(&self.dir.join(CATALOG_FILE))
        } else {
            let path = self.dir.join(MANIFEST_FILE);
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            Catalog::from_v1_manifest(&bytes, &path)
        }
    }

    /// The `ef_search` the snapshot was built with (its `[index.hnsw]` setting).
    pub fn ef_search(&self) -> usize {
        let index: IndexConfig = self
            .manifest
            .config
            .get("index")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        index.hnsw.ef_search
    }

    /// Bytes of the snapshot's own directory (its fragments, which other snapshots may
    /// share, not included).
    pub fn size_bytes(&self) -> u64 {
        crate::fsutil::dir_size(&self.dir)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::manifest::{Counts, Timings, FORMAT_VERSION};
    use crate::refs::Expect;

    /// A manifest for `finish`, which sets its id.
    pub(crate) fn manifest() -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            id: SnapshotId::parse("20000101T000000000Z-00000000").unwrap(),
            parent: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            created_unix: 0,
            tool_version: "test".into(),
            pipeline: "p.toml".into(),
            config: serde_json::json!({}),
            config_hash: "c".into(),
            chunking_hash: "h".into(),
            model: ragops_core::ModelIdentity {
                id: "m".into(),
                revision: "r".into(),
                weights_sha256: ragops_core::Sha256::of(b"w"),
                dim: 3,
                max_tokens: 8,
                pooling: ragops_core::Pooling::Mean,
                normalize: true,
                precision: ragops_core::Precision::F32,
            },
            reuse_key: String::new(),
            counts: Counts::default(),
            timings: Timings::default(),
            files: BTreeMap::new(),
            fragments: vec![],
            enrichment: None,
        }
    }

    pub(crate) fn snapshot(store: &Store, lock: &StoreLock, data: &str) -> SnapshotId {
        let w = store.begin_snapshot(lock, data).unwrap();
        std::fs::write(w.dir().join("data.bin"), data).unwrap();
        w.finish(manifest(), &Catalog::default(), vec![], 0)
            .unwrap()
    }

    #[test]
    fn staged_snapshot_is_invisible_until_published() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let lock = store.lock("test").unwrap();
        let w = store.begin_snapshot(&lock, "x").unwrap();
        std::fs::write(w.dir().join("data.bin"), "abc").unwrap();
        assert!(
            store.snapshot_ids().unwrap().is_empty(),
            "staging is not a snapshot"
        );
        let id = w
            .finish(manifest(), &Catalog::default(), vec![], 0)
            .unwrap();
        assert_eq!(store.snapshot_ids().unwrap(), vec![id.clone()]);
        assert_eq!(store.current().unwrap(), None, "complete but not published");
        assert!(matches!(
            store.resolve("current"),
            Err(StoreError::NothingPublished)
        ));
        let refs = store.refs_lock("t").unwrap();
        store.publish(&refs, &id, "build", &Expect::Any).unwrap();
        assert_eq!(store.resolve("current").unwrap(), id);
        let m = store.manifest(&id).unwrap();
        assert_eq!(m.id, id);
        assert_eq!(
            m.files["data.bin"].sha256.as_str(),
            ragops_core::sha256_hex(b"abc")
        );
        assert!(store.verify(&id).unwrap().ok);
        std::fs::write(store.snapshot_dir(&id).join("data.bin"), "tampered").unwrap();
        let r = store.verify(&id).unwrap();
        assert!(!r.ok);
        assert_eq!(r.mismatched, vec!["data.bin".to_string()]);
    }

    #[test]
    fn manifest_tamper_is_detected() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let lock = store.lock("test").unwrap();
        let a = snapshot(&store, &lock, "a");
        let b = snapshot(&store, &lock, "b");
        // Drop data.bin from the manifest (as if to hide a swapped file) and swap it in.
        let path = store.snapshot_dir(&a).join(MANIFEST_FILE);
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        v["files"] = serde_json::json!({});
        std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        std::fs::copy(
            store.snapshot_dir(&b).join("data.bin"),
            store.snapshot_dir(&a).join("data.bin"),
        )
        .unwrap();
        assert!(matches!(
            store.manifest(&a),
            Err(StoreError::ManifestTampered { .. })
        ));
        let r = store.verify(&a).unwrap();
        assert!(!r.ok);
        assert!(r.manifest.is_some());
        assert!(
            r.unlisted.contains(&"data.bin".to_string()),
            "{:?}",
            r.unlisted
        );
        // An extra file and a missing one are reported too.
        std::fs::write(store.snapshot_dir(&b).join("extra.bin"), "x").unwrap();
        let r = store.verify(&b).unwrap();
        assert_eq!(r.unlisted, vec!["extra.bin".to_string()]);
        std::fs::remove_file(store.snapshot_dir(&b).join("data.bin")).unwrap();
        assert_eq!(
            store.verify(&b).unwrap().missing,
            vec!["data.bin".to_string()]
        );
        // Removing the checksum with the edit: the snapshot still opens, verify refuses it.
        let c = snapshot(&store, &lock, "c");
        let dir = store.snapshot_dir(&c);
        assert!(store.verify(&c).unwrap().ok);
        std::fs::remove_file(dir.join(MANIFEST_SHA256_FILE)).unwrap();
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(MANIFEST_FILE)).unwrap()).unwrap();
        v["counts"]["chunks"] = serde_json::json!(999);
        std::fs::write(dir.join(MANIFEST_FILE), serde_json::to_vec(&v).unwrap()).unwrap();
        assert!(store.manifest(&c).is_ok());
        let r = store.verify(&c).unwrap();
        assert!(!r.ok);
        assert!(r.manifest.unwrap().contains("manifest.sha256 is missing"));
    }

    #[test]
    fn manifest_id_must_match_its_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let lock = store.lock("test").unwrap();
        let a = snapshot(&store, &lock, "a");
        let b = snapshot(&store, &lock, "b");
        // A manifest copied with its checksum from another snapshot.
        for f in [MANIFEST_FILE, MANIFEST_SHA256_FILE] {
            std::fs::copy(
                store.snapshot_dir(&b).join(f),
                store.snapshot_dir(&a).join(f),
            )
            .unwrap();
        }
        let err = store.manifest(&a).unwrap_err();
        assert!(matches!(err, StoreError::IdMismatch { .. }), "{err}");

        // A parent that is not a snapshot id (a path, say) is refused even with a matching
        // checksum.
        let dir = store.snapshot_dir(&b);
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(MANIFEST_FILE)).unwrap()).unwrap();
        for parent in ["../../../etc", "20260101T000000000Z-0000000g"] {
            v["parent"] = serde_json::json!(parent);
            let json = serde_json::to_vec(&v).unwrap();
            std::fs::write(dir.join(MANIFEST_FILE), &json).unwrap();
            std::fs::write(
                dir.join(MANIFEST_SHA256_FILE),
                format!("{}\n", ragops_core::sha256_hex(&json)),
            )
            .unwrap();
            let err = store.manifest(&b).unwrap_err();
            assert!(
                matches!(err, StoreError::Manifest { .. }),
                "{parent}: {err}"
            );
        }
    }

    #[test]
    fn damaged_manifests_are_listed_not_fatal() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let lock = store.lock("test").unwrap();
        let a = snapshot(&store, &lock, "a");
        let bogus_id = SnapshotId::parse("20260101T000000000Z-00000000").unwrap();
        let bogus = store.snapshot_dir(&bogus_id);
        std::fs::create_dir_all(&bogus).unwrap();
        std::fs::write(bogus.join(MANIFEST_FILE), "{").unwrap();
        let list = store.list().unwrap();
        assert_eq!(list.len(), 2);
        assert!(list[0].manifest.is_err());
        assert!(list[1].manifest.is_ok());
        assert_eq!(list[1].id, a);
        store.delete_snapshot(&lock, &bogus_id).unwrap();
        assert_eq!(store.list().unwrap().len(), 1);
    }

    #[test]
    fn referenced_snapshots_are_not_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let lock = store.lock("test").unwrap();
        let a = snapshot(&store, &lock, "a");
        let refs = store.refs_lock("t").unwrap();
        store.publish(&refs, &a, "build", &Expect::Any).unwrap();
        drop(refs);
        assert!(matches!(
            store.delete_snapshot(&lock, &a),
            Err(StoreError::Referenced(_))
        ));
    }
}
