//! A store directory: its marker, its layout, and reading snapshots out of it.

use std::path::{Path, PathBuf};

use ragops_core::{is_snapshot_id, SnapshotId};
use serde::{Deserialize, Serialize};

use crate::fsutil::{create_dir_durable, is_tmp_name, write_atomic};
use crate::manifest::{Manifest, MANIFEST_FILE, MANIFEST_SHA256_FILE};
use crate::{io, StoreError, StoreLock};

pub(crate) const SNAPSHOTS: &str = "snapshots";
pub(crate) const STAGING: &str = "staging";
/// Snapshots being deleted by gc: renamed here first (atomic), then removed.
pub(crate) const TRASH: &str = "trash";
pub(crate) const REFS: &str = "refs";
/// The marker that makes a directory a store.
pub const MARKER_FILE: &str = "store.json";
/// Version of the store layout written into the marker; a newer one is refused.
pub const STORE_VERSION: u32 = 1;
const MARKER_FORMAT: &str = "ragops-store";

/// Top-level names a store holds. A directory holding only these (and `snapshots/` among them)
/// is a store written before the marker existed, and is adopted.
const STORE_ENTRIES: &[&str] = &[
    SNAPSHOTS,
    STAGING,
    TRASH,
    REFS,
    "cache",
    "experiments",
    "reports",
    "fragments",
    crate::builds::BUILDS,
    crate::lease::LEASES,
    crate::lock::LOCK,
    MARKER_FILE,
];

/// Contents of `store.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoreMarker {
    format: String,
    version: u32,
}

/// What a directory is, seen as a store.
#[derive(Debug)]
enum DirState {
    /// Does not exist, or is empty.
    Vacant,
    Marked,
    /// A store written before markers existed.
    Legacy,
    /// Something else; the names are a sample of what it holds.
    Foreign(Vec<String>),
}

fn inspect(root: &Path) -> Result<DirState, StoreError> {
    let entries = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DirState::Vacant),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Ok(DirState::Foreign(vec![root.display().to_string()]))
        }
        Err(e) => return Err(io(root)(e)),
    };
    // A marker being written by another process creating the same store (shards starting
    // side by side on a new directory) does not make the directory foreign.
    let marker_tmp = format!(".{MARKER_FILE}.");
    let names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !(n.starts_with(&marker_tmp) && is_tmp_name(n)))
        .collect();
    if names.is_empty() {
        return Ok(DirState::Vacant);
    }
    let marker = root.join(MARKER_FILE);
    if marker.is_file() {
        let text = std::fs::read_to_string(&marker).map_err(io(&marker))?;
        let m: StoreMarker = serde_json::from_str(&text).map_err(|e| StoreError::BadMarker {
            path: marker.clone(),
            message: e.to_string(),
        })?;
        if m.format != MARKER_FORMAT {
            return Err(StoreError::BadMarker {
                path: marker,
                message: format!("format is {:?}, not {MARKER_FORMAT:?}", m.format),
            });
        }
        if m.version > STORE_VERSION {
            return Err(StoreError::NewerStore {
                path: root.to_path_buf(),
                found: m.version,
                supported: STORE_VERSION,
            });
        }
        return Ok(DirState::Marked);
    }
    let foreign: Vec<String> = names
        .iter()
        .filter(|n| !STORE_ENTRIES.contains(&n.as_str()))
        .cloned()
        .collect();
    if foreign.is_empty() && root.join(SNAPSHOTS).is_dir() {
        return Ok(DirState::Legacy);
    }
    let mut sample = if foreign.is_empty() { names } else { foreign };
    sample.sort();
    sample.truncate(5);
    Ok(DirState::Foreign(sample))
}

/// A store directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens a store for writing: creates and marks it when the directory is missing or empty,
    /// adopts a store written before markers existed, and refuses any other non-empty
    /// directory (so a misconfigured path never gets ragops' clean-ups).
    pub fn create(root: &Path) -> Result<Store, StoreError> {
        if root.to_string_lossy().contains("://") {
            return Err(StoreError::UrlNotHere(root.to_string_lossy().into_owned()));
        }
        match inspect(root)? {
            DirState::Foreign(found) => {
                return Err(StoreError::NotAStore {
                    path: root.to_path_buf(),
                    found,
                })
            }
            DirState::Vacant | DirState::Legacy => {
                create_dir_durable(root)?;
                let marker = StoreMarker {
                    format: MARKER_FORMAT.into(),
                    version: STORE_VERSION,
                };
                let json = serde_json::to_vec_pretty(&marker).unwrap_or_default();
                write_atomic(&root.join(MARKER_FILE), &json)?;
            }
            DirState::Marked => {}
        }
        for d in [SNAPSHOTS, STAGING, REFS, "refs/tags"] {
            create_dir_durable(&root.join(d))?;
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    /// Opens an existing store for reading (writes nothing); an error if there is none.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        if root.to_string_lossy().contains("://") {
            return Err(StoreError::UrlNotHere(root.to_string_lossy().into_owned()));
        }
        match inspect(root)? {
            DirState::Vacant => Err(StoreError::NoStore(root.to_path_buf())),
            DirState::Foreign(found) => Err(StoreError::NotAStore {
                path: root.to_path_buf(),
                found,
            }),
            DirState::Marked | DirState::Legacy => Ok(Store {
                root: root.to_path_buf(),
            }),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Makes the store readable by its owner only (mode 0700 on its directory, which closes
    /// everything under it to other users).
    pub fn make_private(&self) -> Result<(), StoreError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700))
                .map_err(io(&self.root))?;
        }
        Ok(())
    }

    pub(crate) fn refs_dir(&self) -> PathBuf {
        self.root.join(REFS)
    }

    pub(crate) fn snapshots_dir(&self) -> PathBuf {
        self.root.join(SNAPSHOTS)
    }

    /// Directory of a published (complete) snapshot. Only snapshot ids name one, so an id
    /// read from a ref or a manifest never leads outside the store.
    pub(crate) fn snapshot_dir(&self, id: &SnapshotId) -> PathBuf {
        self.snapshots_dir().join(id.as_str())
    }

    /// Removes what interrupted writers left behind: half-written snapshots in `staging/`,
    /// half-deleted snapshots and fragments in `trash/` and temporary ref files. Only entries named as ragops
    /// names them are touched.
    pub fn clean_staging(&self, _lock: &StoreLock) -> Result<usize, StoreError> {
        let mut n = 0;
        for dir in [self.root.join(STAGING), self.root.join(TRASH)] {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !is_snapshot_id(&name) && crate::fragment::FragmentId::parse(&name).is_err() {
                    continue;
                }
                let p = e.path();
                let r = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                r.map_err(io(&p))?;
                n += 1;
            }
        }
        for d in [self.refs_dir(), self.refs_dir().join("tags")] {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                if is_tmp_name(&e.file_name().to_string_lossy()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(n)
    }

    /// Ids of every complete snapshot directory, oldest first.
    pub fn snapshot_ids(&self) -> Result<Vec<SnapshotId>, StoreError> {
        let dir = self.snapshots_dir();
        let mut ids: Vec<SnapshotId> = std::fs::read_dir(&dir)
            .map_err(io(&dir))?
            .flatten()
            .filter_map(|e| SnapshotId::parse(&e.file_name().to_string_lossy()).ok())
            .filter(|id| dir.join(id.as_str()).join(MANIFEST_FILE).is_file())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Reads a snapshot's manifest and checks it: the checksum written beside it (when the
    /// snapshot has one), its id against its directory, and its parent's form.
    pub fn manifest(&self, id: &SnapshotId) -> Result<Manifest, StoreError> {
        let dir = self.snapshot_dir(id);
        let path = dir.join(MANIFEST_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::UnknownSnapshot(id.to_string()))
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let sidecar = dir.join(MANIFEST_SHA256_FILE);
        match std::fs::read_to_string(&sidecar) {
            Ok(want) => {
                let got = ragops_core::sha256_hex(&bytes);
                if want.trim() != got {
                    return Err(StoreError::ManifestTampered {
                        id: id.clone(),
                        path,
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&sidecar)(e)),
        }
        let m = Manifest::parse(&bytes, &path)?;
        m.check_identity(id)?;
        Ok(m)
    }
}

/// A snapshot as listed by `ragops snapshots list`: its manifest, or why it cannot be read.
#[derive(Debug, Clone)]
pub struct SnapshotSummary {
    pub id: SnapshotId,
    pub manifest: Result<Manifest, String>,
    pub tags: Vec<String>,
    pub current: bool,
}

impl Store {
    /// Every snapshot with its tags, oldest first. A snapshot whose manifest cannot be read is
    /// listed with the reason (gc can remove it); one that disappears while listing (a
    /// concurrent gc) is left out.
    pub fn list(&self) -> Result<Vec<SnapshotSummary>, StoreError> {
        let current = self.current().ok().flatten();
        let tags = self.tags()?;
        let mut out = Vec::new();
        for id in self.snapshot_ids()? {
            let manifest = match self.manifest(&id) {
                Ok(m) => Ok(m),
                Err(StoreError::UnknownSnapshot(_)) => continue,
                Err(e) => Err(e.to_string()),
            };
            out.push(SnapshotSummary {
                tags: tags
                    .iter()
                    .filter(|(_, v)| **v == id)
                    .map(|(k, _)| k.clone())
                    .collect(),
                current: current.as_ref() == Some(&id),
                manifest,
                id,
            });
        }
        Ok(out)
    }

    /// Resolves `current`, a snapshot id, a tag or a unique id prefix (in that order).
    pub fn resolve(&self, name: &str) -> Result<SnapshotId, StoreError> {
        if name == crate::refs::CURRENT {
            return self.current()?.ok_or(StoreError::NothingPublished);
        }
        let ids = self.snapshot_ids()?;
        if let Some(id) = ids.iter().find(|i| i.as_str() == name) {
            return Ok(id.clone());
        }
        if let Some(id) = self.tag(name)? {
            return Ok(id);
        }
        let matches: Vec<&SnapshotId> = ids
            .iter()
            .filter(|i| i.as_str().starts_with(name))
            .collect();
        match matches.len() {
            0 => Err(StoreError::UnknownSnapshot(name.to_string())),
            1 => Ok(matches[0].clone()),
            _ => Err(StoreError::Ambiguous(name.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_foreign_directory_is_refused_and_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let proj = tmp.path().join("proj");
        std::fs::create_dir_all(proj.join("staging")).unwrap();
        std::fs::write(proj.join("staging/keep.txt"), "keep").unwrap();
        let err = Store::create(&proj).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
        assert!(matches!(
            Store::open(&proj),
            Err(StoreError::NotAStore { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(proj.join("staging/keep.txt")).unwrap(),
            "keep"
        );
        assert!(!proj.join(MARKER_FILE).exists());
    }

    #[test]
    fn new_and_legacy_stores_are_marked() {
        let tmp = tempfile::tempdir().unwrap();
        let fresh = tmp.path().join("fresh");
        Store::create(&fresh).unwrap();
        assert!(fresh.join(MARKER_FILE).is_file());
        let legacy = tmp.path().join("legacy");
        for d in ["snapshots", "staging", "refs/tags"] {
            std::fs::create_dir_all(legacy.join(d)).unwrap();
        }
        std::fs::write(legacy.join("LOCK"), "").unwrap();
        Store::open(&legacy).unwrap();
        assert!(!legacy.join(MARKER_FILE).exists(), "readers write nothing");
        Store::create(&legacy).unwrap();
        assert!(legacy.join(MARKER_FILE).is_file());
        assert!(matches!(
            Store::open(&tmp.path().join("absent")),
            Err(StoreError::NoStore(_))
        ));
    }

    #[test]
    fn a_newer_store_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        Store::create(tmp.path()).unwrap();
        std::fs::write(
            tmp.path().join(MARKER_FILE),
            format!(
                "{{\"format\":\"ragops-store\",\"version\":{}}}",
                STORE_VERSION + 1
            ),
        )
        .unwrap();
        assert!(matches!(
            Store::open(tmp.path()),
            Err(StoreError::NewerStore { .. })
        ));
    }

    #[test]
    fn clean_staging_removes_only_what_ragops_names() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let lock = store.lock("t").unwrap();
        let w = store.begin_snapshot(&lock, "x").unwrap();
        std::fs::write(w.dir().join("half.parquet"), "x").unwrap();
        drop(w);
        std::fs::write(tmp.path().join("staging/notes.txt"), "mine").unwrap();
        assert_eq!(store.clean_staging(&lock).unwrap(), 1);
        assert!(store.snapshot_ids().unwrap().is_empty());
        assert!(tmp.path().join("staging/notes.txt").is_file());
    }
}
