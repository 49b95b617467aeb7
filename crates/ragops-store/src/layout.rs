//! Store directories, the writer lock, snapshot staging and publication, refs and tags.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ragops_core::{sha256_hex, Sha256Hasher};
use serde::{Deserialize, Serialize};

use crate::manifest::{FileRecord, Manifest, MANIFEST_FILE};
use crate::{io, StoreError};

const SNAPSHOTS: &str = "snapshots";
const STAGING: &str = "staging";
/// Snapshots being deleted by gc: renamed here first (atomic), then removed.
const TRASH: &str = "trash";
const REFS: &str = "refs";
const TAGS: &str = "tags";
const CURRENT: &str = "current";
const LOCK: &str = "LOCK";
const LOG: &str = "log.jsonl";

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// Held while writing to the store; the OS releases it when the process exits or is killed.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// One entry of `refs/log.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefMove {
    pub time: String,
    pub r#ref: String,
    pub from: Option<String>,
    /// `None` when the ref was removed (untag).
    pub to: Option<String>,
    pub action: String,
}

/// A snapshot as listed by `ragops snapshots list`.
#[derive(Debug, Clone)]
pub struct SnapshotSummary {
    pub manifest: Manifest,
    pub tags: Vec<String>,
    pub current: bool,
}

/// fsync a directory so a rename or a new entry in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

/// Writes `contents` to `path` atomically: temp file, fsync, rename, fsync directory.
fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    {
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(contents).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(dir)
}

fn valid_tag(name: &str) -> bool {
    !name.is_empty()
        && name != CURRENT
        && name.split('/').all(|p| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        })
}

/// Test hook: when `RAGOPS_TEST_PAUSE_AT` names this point, print a marker on stderr and stop
/// here until killed. Lets tests SIGKILL a build at exact points of the publication protocol.
pub fn pause_point(name: &str) {
    if std::env::var("RAGOPS_TEST_PAUSE_AT").as_deref() == Ok(name) {
        eprintln!("RAGOPS_PAUSED_AT {name}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

impl Store {
    /// Opens a store, creating its directories if needed (for writers).
    pub fn create(root: &Path) -> Result<Store, StoreError> {
        for d in [SNAPSHOTS, STAGING, REFS] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).map_err(io(&p))?;
        }
        let tags = root.join(REFS).join(TAGS);
        std::fs::create_dir_all(&tags).map_err(io(&tags))?;
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    /// Opens an existing store (for readers); an error if there is none.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        if !root.join(SNAPSHOTS).is_dir() {
            return Err(StoreError::NoStore(root.to_path_buf()));
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn snapshot_dir(&self, id: &str) -> PathBuf {
        self.root.join(SNAPSHOTS).join(id)
    }

    /// Takes the writer lock, waiting up to `wait` for another writer to finish; then fails
    /// with an error naming the holder.
    pub fn lock_wait(
        &self,
        what: &str,
        wait: std::time::Duration,
    ) -> Result<StoreLock, StoreError> {
        let start = std::time::Instant::now();
        loop {
            match self.lock(what) {
                Err(StoreError::Locked { .. }) if start.elapsed() < wait => {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }

    /// Takes the writer lock without waiting; a clear error names the holder if it is taken.
    pub fn lock(&self, what: &str) -> Result<StoreLock, StoreError> {
        let path = self.root.join(LOCK);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = if holder.trim().is_empty() {
                    "unknown process".to_string()
                } else {
                    holder.trim().to_string()
                };
                return Err(StoreError::Locked { path, holder });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
        }
        let info = format!(
            "pid {} ({what}) since {}",
            std::process::id(),
            humantime::format_rfc3339_seconds(SystemTime::now())
        );
        file.set_len(0).map_err(io(&path))?;
        file.write_all(info.as_bytes()).map_err(io(&path))?;
        Ok(StoreLock { _file: file })
    }

    /// Removes snapshots left half-written in `staging/` by a crashed or killed build, and
    /// half-deleted ones in `trash/` left by a killed gc.
    pub fn clean_staging(&self, _lock: &StoreLock) -> Result<usize, StoreError> {
        let mut n = 0;
        for dir in [self.root.join(STAGING), self.root.join(TRASH)] {
            if !dir.is_dir() {
                continue;
            }
            n += clear_dir(&dir)?;
        }
        Ok(n)
    }
}

fn clear_dir(dir: &Path) -> Result<usize, StoreError> {
    let mut n = 0;
    for e in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
        let p = e.path();
        let r = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        r.map_err(io(&p))?;
        n += 1;
    }
    Ok(n)
}

/// Total size of the files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    walk_files(dir)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

impl Store {
    /// Starts a new snapshot in `staging/`.
    pub fn begin_snapshot(
        &self,
        _lock: &StoreLock,
        salt: &str,
    ) -> Result<SnapshotWriter, StoreError> {
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
        let id = format!("{stamp}-{}", &suffix[..8]);
        let staging = self.root.join(STAGING).join(&id);
        std::fs::create_dir_all(&staging).map_err(io(&staging))?;
        Ok(SnapshotWriter {
            store: self.clone(),
            id,
            staging,
        })
    }

    /// The snapshot `refs/current` names, if any.
    pub fn current(&self) -> Result<Option<String>, StoreError> {
        self.read_ref(&self.root.join(REFS).join(CURRENT))
    }

    fn read_ref(&self, path: &Path) -> Result<Option<String>, StoreError> {
        match std::fs::read_to_string(path) {
            Ok(s) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(path)(e)),
        }
    }

    /// Published tags: name -> snapshot id.
    pub fn tags(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let root = self.root.join(REFS).join(TAGS);
        let mut out = BTreeMap::new();
        if !root.is_dir() {
            return Ok(out);
        }
        for e in walk_files(&root) {
            if e.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            let Ok(rel) = e.strip_prefix(&root) else {
                continue;
            };
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            if let Some(id) = self.read_ref(&e)? {
                out.insert(name, id);
            }
        }
        Ok(out)
    }

    /// Ids of every complete snapshot directory, oldest first.
    pub fn snapshot_ids(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.root.join(SNAPSHOTS);
        let mut ids: Vec<String> = std::fs::read_dir(&dir)
            .map_err(io(&dir))?
            .flatten()
            .filter(|e| e.path().join(MANIFEST_FILE).is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Resolves `current`, a tag, a snapshot id or a unique id prefix.
    pub fn resolve(&self, name: &str) -> Result<String, StoreError> {
        if name == CURRENT {
            return self.current()?.ok_or(StoreError::NothingPublished);
        }
        if let Some(id) = self.tags()?.get(name) {
            return Ok(id.clone());
        }
        let ids = self.snapshot_ids()?;
        if ids.iter().any(|i| i == name) {
            return Ok(name.to_string());
        }
        let matches: Vec<&String> = ids.iter().filter(|i| i.starts_with(name)).collect();
        match matches.len() {
            0 => Err(StoreError::UnknownSnapshot(name.to_string())),
            1 => Ok(matches[0].clone()),
            _ => Err(StoreError::Ambiguous(name.to_string())),
        }
    }

    pub fn manifest(&self, id: &str) -> Result<Manifest, StoreError> {
        let path = self.snapshot_dir(id).join(MANIFEST_FILE);
        if !path.is_file() {
            return Err(StoreError::UnknownSnapshot(id.to_string()));
        }
        Manifest::read(&path)
    }

    /// Every snapshot with its tags, oldest first.
    pub fn list(&self) -> Result<Vec<SnapshotSummary>, StoreError> {
        let current = self.current()?;
        let tags = self.tags()?;
        let mut out = Vec::new();
        for id in self.snapshot_ids()? {
            let manifest = self.manifest(&id)?;
            out.push(SnapshotSummary {
                tags: tags
                    .iter()
                    .filter(|(_, v)| **v == id)
                    .map(|(k, _)| k.clone())
                    .collect(),
                current: current.as_deref() == Some(id.as_str()),
                manifest,
            });
        }
        Ok(out)
    }

    fn move_ref(
        &self,
        path: &Path,
        name: &str,
        to: &str,
        action: &str,
    ) -> Result<Option<String>, StoreError> {
        if !self.snapshot_dir(to).join(MANIFEST_FILE).is_file() {
            return Err(StoreError::UnknownSnapshot(to.to_string()));
        }
        let from = self.read_ref(path)?;
        write_atomic(path, format!("{to}\n").as_bytes())?;
        self.log_move(name, from.clone(), Some(to.to_string()), action);
        Ok(from)
    }

    fn log_move(&self, name: &str, from: Option<String>, to: Option<String>, action: &str) {
        let entry = RefMove {
            time: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            r#ref: name.to_string(),
            from,
            to,
            action: action.to_string(),
        };
        let log = self.root.join(REFS).join(LOG);
        if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(&log) {
            if let Ok(line) = serde_json::to_string(&entry) {
                let _ = writeln!(f, "{line}");
            }
        }
    }

    /// Removes `refs/tags/<name>`; returns the snapshot it named. The snapshot itself stays
    /// (gc may delete it later if nothing else keeps it).
    pub fn remove_tag(&self, _lock: &StoreLock, name: &str) -> Result<String, StoreError> {
        if !valid_tag(name) {
            return Err(StoreError::BadTag(name.to_string()));
        }
        let path = self.root.join(REFS).join(TAGS).join(name);
        let Some(id) = self.read_ref(&path)? else {
            return Err(StoreError::UnknownTag(name.to_string()));
        };
        std::fs::remove_file(&path).map_err(io(&path))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        self.log_move(&format!("tags/{name}"), Some(id.clone()), None, "untag");
        Ok(id)
    }

    /// Deletes a snapshot that no ref names: renamed into `trash/` (atomic, so readers never
    /// see half a snapshot), then removed. Refuses `current` and tagged snapshots.
    /// Returns the bytes freed.
    pub fn delete_snapshot(&self, _lock: &StoreLock, id: &str) -> Result<u64, StoreError> {
        if self.current()?.as_deref() == Some(id) || self.tags()?.values().any(|t| t == id) {
            return Err(StoreError::Referenced(id.to_string()));
        }
        let dir = self.snapshot_dir(id);
        let bytes = dir_size(&dir);
        let trash = self.root.join(TRASH);
        std::fs::create_dir_all(&trash).map_err(io(&trash))?;
        let target = trash.join(id);
        std::fs::rename(&dir, &target).map_err(io(&dir))?;
        sync_dir(&self.root.join(SNAPSHOTS))?;
        pause_point("gc-after-trash");
        std::fs::remove_dir_all(&target).map_err(io(&target))?;
        Ok(bytes)
    }

    /// Points `current` at a complete snapshot (the only way a build becomes live).
    /// Returns the previous target.
    pub fn publish(
        &self,
        _lock: &StoreLock,
        id: &str,
        action: &str,
    ) -> Result<Option<String>, StoreError> {
        self.move_ref(&self.root.join(REFS).join(CURRENT), CURRENT, id, action)
    }

    /// Points `refs/tags/<name>` at a snapshot.
    pub fn set_tag(
        &self,
        _lock: &StoreLock,
        name: &str,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        if !valid_tag(name) {
            return Err(StoreError::BadTag(name.to_string()));
        }
        let path = self.root.join(REFS).join(TAGS).join(name);
        self.move_ref(&path, &format!("tags/{name}"), id, "tag")
    }

    /// The ref history, oldest first.
    pub fn ref_log(&self) -> Result<Vec<RefMove>, StoreError> {
        let log = self.root.join(REFS).join(LOG);
        let text = match std::fs::read_to_string(&log) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&log)(e)),
        };
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }
}

fn file_matches(path: &Path, rec: &FileRecord) -> bool {
    matches!(std::fs::read(path), Ok(b) if b.len() as u64 == rec.bytes && sha256_hex(&b) == rec.sha256)
}

fn walk_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

/// A snapshot being written in `staging/<id>/`.
pub struct SnapshotWriter {
    store: Store,
    id: String,
    staging: PathBuf,
}

impl SnapshotWriter {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Directory to write data files into.
    pub fn dir(&self) -> &Path {
        &self.staging
    }

    /// Gives the snapshot up: removes its staging directory (best effort; the next build
    /// removes whatever is left).
    pub fn abandon(self) {
        let _ = std::fs::remove_dir_all(&self.staging);
    }

    /// Checksums and fsyncs every data file, writes the manifest last, then renames the staging
    /// directory into `snapshots/`. The snapshot is complete but not yet visible: call
    /// [`Store::publish`] (or tag it) to make it so.
    pub fn finish(self, mut manifest: Manifest) -> Result<String, StoreError> {
        manifest.id = self.id.clone();
        manifest.files.clear();
        let mut dirs = vec![self.staging.clone()];
        for path in walk_files(&self.staging) {
            if let Some(parent) = path.parent() {
                if !dirs.iter().any(|d| d == parent) {
                    dirs.push(parent.to_path_buf());
                }
            }
            let Ok(rel) = path.strip_prefix(&self.staging) else {
                continue;
            };
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            if rel == MANIFEST_FILE || rel.ends_with(".lock") {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io(&path))?;
            manifest.files.insert(
                rel,
                FileRecord {
                    bytes: bytes.len() as u64,
                    sha256: sha256_hex(&bytes),
                },
            );
        }
        pause_point("before-manifest");
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| StoreError::Manifest {
            path: self.staging.join(MANIFEST_FILE),
            message: e.to_string(),
        })?;
        write_atomic(&self.staging.join(MANIFEST_FILE), &json)?;
        for d in &dirs {
            sync_dir(d)?;
        }
        pause_point("before-rename");
        let target = self.store.snapshot_dir(&self.id);
        std::fs::rename(&self.staging, &target).map_err(io(&target))?;
        sync_dir(&self.store.root.join(SNAPSHOTS))?;
        Ok(self.id)
    }
}

impl Store {
    /// Recomputes the checksums of a snapshot's data files; returns the files that differ.
    pub fn verify(&self, id: &str) -> Result<Vec<String>, StoreError> {
        let m = self.manifest(id)?;
        let dir = self.snapshot_dir(id);
        Ok(m.files
            .iter()
            .filter(|(rel, rec)| !file_matches(&dir.join(rel), rec))
            .map(|(rel, _)| rel.clone())
            .collect())
    }

    /// Whether one data file of a snapshot is damaged (missing, or checksum differs).
    pub fn verify_file(&self, id: &str, rel: &str) -> Result<bool, StoreError> {
        let m = self.manifest(id)?;
        Ok(match m.files.get(rel) {
            Some(rec) => !file_matches(&self.snapshot_dir(id).join(rel), rec),
            None => true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Counts, ModelRecord, FORMAT_VERSION};

    pub(crate) fn manifest() -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            id: String::new(),
            parent: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            created_unix: 0,
            tool_version: "test".into(),
            pipeline: "p.toml".into(),
            config: serde_json::json!({}),
            config_hash: "c".into(),
            chunking_hash: "h".into(),
            model: ModelRecord {
                id: "m".into(),
                revision: "r".into(),
                weights_sha256: "w".into(),
                dim: 3,
                max_tokens: 8,
                pooling: "mean".into(),
                normalize: true,
            },
            sources: vec![],
            source_files: vec![],
            reuse_key: String::new(),
            skipped: vec![],
            counts: Counts::default(),
            timings: BTreeMap::new(),
            files: BTreeMap::new(),
        }
    }

    fn snapshot(store: &Store, lock: &StoreLock, data: &str) -> String {
        let w = store.begin_snapshot(lock, data).unwrap();
        std::fs::write(w.dir().join("data.bin"), data).unwrap();
        w.finish(manifest()).unwrap()
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
        let id = w.finish(manifest()).unwrap();
        assert_eq!(store.snapshot_ids().unwrap(), vec![id.clone()]);
        assert_eq!(store.current().unwrap(), None, "complete but not published");
        assert!(matches!(
            store.resolve("current"),
            Err(StoreError::NothingPublished)
        ));
        store.publish(&lock, &id, "build").unwrap();
        assert_eq!(store.resolve("current").unwrap(), id);
        let m = store.manifest(&id).unwrap();
        assert_eq!(m.id, id);
        assert_eq!(m.files["data.bin"].sha256, sha256_hex(b"abc"));
        assert!(store.verify(&id).unwrap().is_empty());
        std::fs::write(store.snapshot_dir(&id).join("data.bin"), "tampered").unwrap();
        assert_eq!(store.verify(&id).unwrap(), vec!["data.bin".to_string()]);
    }

    #[test]
    fn tags_refs_prefixes_and_log() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let lock = store.lock("test").unwrap();
        let a = snapshot(&store, &lock, "a");
        let b = snapshot(&store, &lock, "b");
        store.publish(&lock, &a, "build").unwrap();
        assert_eq!(store.publish(&lock, &b, "build").unwrap(), Some(a.clone()));
        store.set_tag(&lock, "exp/grid/v1", &a).unwrap();
        assert!(matches!(
            store.set_tag(&lock, "../x", &a),
            Err(StoreError::BadTag(_))
        ));
        assert!(matches!(
            store.set_tag(&lock, "t", "nope"),
            Err(StoreError::UnknownSnapshot(_))
        ));
        assert_eq!(store.resolve("exp/grid/v1").unwrap(), a);
        assert_eq!(store.resolve(&b[..b.len() - 2]).unwrap(), b);
        let list = store.list().unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.iter().any(|s| s.current && s.manifest.id == b));
        assert!(list
            .iter()
            .any(|s| s.tags == vec!["exp/grid/v1".to_string()]));
        let log = store.ref_log().unwrap();
        assert_eq!(log.len(), 3);
        assert_eq!(log[1].from.as_deref(), Some(a.as_str()));
    }

    #[test]
    fn second_writer_is_refused_with_holder() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let _held = store.lock("build").unwrap();
        let err = store.lock("build").unwrap_err().to_string();
        assert!(err.contains("locked") && err.contains("pid"), "{err}");
    }

    #[test]
    fn newer_format_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let lock = store.lock("t").unwrap();
        let id = snapshot(&store, &lock, "a");
        let path = store.snapshot_dir(&id).join(MANIFEST_FILE);
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        v["format_version"] = serde_json::json!(FORMAT_VERSION + 1);
        std::fs::write(&path, v.to_string()).unwrap();
        let err = store.manifest(&id).unwrap_err();
        assert!(matches!(err, StoreError::NewerFormat { .. }), "{err}");
    }

    #[test]
    fn clean_staging_removes_leftovers() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let lock = store.lock("t").unwrap();
        let w = store.begin_snapshot(&lock, "x").unwrap();
        std::fs::write(w.dir().join("half.parquet"), "x").unwrap();
        drop(w);
        assert_eq!(store.clean_staging(&lock).unwrap(), 1);
        assert!(store.snapshot_ids().unwrap().is_empty());
    }
}
