//! Refs: `refs/current`, `refs/tags/<name>` and the log of every move.
//!
//! A ref file holds a snapshot id and a newline. Its contents are checked when read: anything
//! that is not a snapshot id is an error, so a damaged or hostile ref never leads outside the
//! store. Refs are replaced atomically (temp, fsync, rename, fsync of the directory) under the
//! refs lock.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ragops_core::{is_snapshot_id, SnapshotId};
use serde::{Deserialize, Serialize};

use crate::fsutil::{rel_path, sync_dir, walk_files, write_atomic};
use crate::manifest::MANIFEST_FILE;
use crate::{io, RefsLock, Store, StoreError};

pub(crate) const CURRENT: &str = "current";
const TAGS: &str = "tags";
const LOG: &str = "log.jsonl";

/// Whether a tag name is allowed: `/`-separated parts of letters, digits, `.`, `_` and `-`,
/// none hidden or a path step, and never shaped like a snapshot id (a tag must not shadow
/// one) or named `current`.
pub fn valid_tag(name: &str) -> bool {
    !name.is_empty()
        && name != CURRENT
        && !name.split('/').any(is_snapshot_id)
        && name.split('/').all(|p| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        })
}

/// The snapshot id a ref file's bytes name: `None` when empty, an error when they are
/// anything but a snapshot id (and white space around it).
pub fn parse_ref(bytes: &[u8], name: &str) -> Result<Option<SnapshotId>, StoreError> {
    let text = String::from_utf8_lossy(bytes);
    let id = text.trim();
    if id.is_empty() {
        return Ok(None);
    }
    match SnapshotId::parse(id) {
        Ok(id) => Ok(Some(id)),
        Err(_) => {
            let mut shown: String = id.chars().take(80).collect();
            if shown.len() < id.len() {
                shown.push('…');
            }
            Err(StoreError::BadRef {
                name: name.to_string(),
                contents: shown,
            })
        }
    }
}

/// One entry of `refs/log.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefMove {
    pub time: String,
    pub r#ref: String,
    pub from: Option<SnapshotId>,
    /// `None` when the ref was removed (untag).
    pub to: Option<SnapshotId>,
    pub action: String,
}

/// What `current` must name for a publish to go ahead (compare-and-swap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Publish whatever `current` names now.
    Any,
    /// Publish only if `current` still names this (`None`: nothing published yet).
    Current(Option<SnapshotId>),
}

/// The identity and times of a ref file (see [`Store::ref_stamp`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl RefStamp {
    #[cfg(unix)]
    fn of(path: &Path) -> Option<RefStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(RefStamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: m.mtime().saturating_mul(1_000_000_000) + m.mtime_nsec(),
            ctime_ns: m.ctime().saturating_mul(1_000_000_000) + m.ctime_nsec(),
        })
    }

    #[cfg(not(unix))]
    fn of(_path: &Path) -> Option<RefStamp> {
        None
    }
}

impl Store {
    fn tags_dir(&self) -> PathBuf {
        self.refs_dir().join(TAGS)
    }

    fn current_path(&self) -> PathBuf {
        self.refs_dir().join(CURRENT)
    }

    /// Reads a ref file; its contents must be a snapshot id.
    fn read_ref(&self, path: &Path, name: &str) -> Result<Option<SnapshotId>, StoreError> {
        match std::fs::read(path) {
            Ok(b) => parse_ref(&b, name),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(path)(e)),
        }
    }

    /// The snapshot `refs/current` names, if any.
    pub fn current(&self) -> Result<Option<SnapshotId>, StoreError> {
        self.read_ref(&self.current_path(), CURRENT)
    }

    /// The snapshot a tag names (`None` when there is no such tag).
    pub fn tag(&self, name: &str) -> Result<Option<SnapshotId>, StoreError> {
        if !valid_tag(name) {
            return Ok(None);
        }
        self.read_ref(&self.tags_dir().join(name), name)
    }

    /// A stamp of the file behind ref `name` (`current` or a tag), read with one `stat`: refs
    /// are replaced by rename, so while two stamps are equal the ref has not moved and names
    /// the same snapshot. `None` when `name` is no ref file (a snapshot id, a missing tag),
    /// and on platforms without inode numbers.
    pub fn ref_stamp(&self, name: &str) -> Option<RefStamp> {
        let path = if name == CURRENT {
            self.current_path()
        } else if valid_tag(name) {
            self.tags_dir().join(name)
        } else {
            return None;
        };
        RefStamp::of(&path)
    }

    /// Published tags: name -> snapshot id. Tags whose contents are not a snapshot id are
    /// left out (naming one directly reports it).
    pub fn tags(&self) -> Result<BTreeMap<String, SnapshotId>, StoreError> {
        let root = self.tags_dir();
        let mut out = BTreeMap::new();
        for path in walk_files(&root) {
            let Some(name) = rel_path(&root, &path) else {
                continue;
            };
            if !valid_tag(&name) {
                continue;
            }
            if let Ok(Some(id)) = self.read_ref(&path, &name) {
                out.insert(name, id);
            }
        }
        Ok(out)
    }

    /// Replaces a ref atomically and logs the move. The target must be a complete snapshot.
    fn move_ref(
        &self,
        path: &Path,
        name: &str,
        to: &SnapshotId,
        action: &str,
        expect: &Expect,
    ) -> Result<Option<SnapshotId>, StoreError> {
        if !self.snapshot_dir(to).join(MANIFEST_FILE).is_file() {
            return Err(StoreError::UnknownSnapshot(to.to_string()));
        }
        let from = self.read_ref(path, name)?;
        if let Expect::Current(expected) = expect {
            if *expected != from {
                return Err(StoreError::CurrentMoved {
                    expected: expected.clone(),
                    found: from,
                    snapshot: to.clone(),
                });
            }
        }
        write_atomic(path, format!("{to}\n").as_bytes())?;
        self.log_move(name, from.clone(), Some(to.clone()), action)?;
        Ok(from)
    }

    /// Appends to `refs/log.jsonl` and fsyncs it.
    fn log_move(
        &self,
        name: &str,
        from: Option<SnapshotId>,
        to: Option<SnapshotId>,
        action: &str,
    ) -> Result<(), StoreError> {
        let entry = RefMove {
            time: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            r#ref: name.to_string(),
            from,
            to,
            action: action.to_string(),
        };
        let log = self.refs_dir().join(LOG);
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io(&log))?;
        let line = serde_json::to_string(&entry).unwrap_or_default();
        writeln!(f, "{line}").map_err(io(&log))?;
        f.sync_data().map_err(io(&log))
    }

    /// Points `current` at a complete snapshot (the only way a build becomes live), if
    /// `current` is what `expect` says. Returns the previous target.
    pub fn publish(
        &self,
        _refs: &RefsLock,
        id: &SnapshotId,
        action: &str,
        expect: &Expect,
    ) -> Result<Option<SnapshotId>, StoreError> {
        self.move_ref(&self.current_path(), CURRENT, id, action, expect)
    }

    /// Points `refs/tags/<name>` at a snapshot.
    pub fn set_tag(
        &self,
        _refs: &RefsLock,
        name: &str,
        id: &SnapshotId,
    ) -> Result<Option<SnapshotId>, StoreError> {
        if !valid_tag(name) {
            return Err(StoreError::BadTag(name.to_string()));
        }
        let path = self.tags_dir().join(name);
        self.move_ref(&path, &format!("tags/{name}"), id, "tag", &Expect::Any)
    }

    /// Removes `refs/tags/<name>`; returns the snapshot it named. The snapshot itself stays
    /// (gc may delete it later if nothing else keeps it).
    pub fn remove_tag(&self, _refs: &RefsLock, name: &str) -> Result<SnapshotId, StoreError> {
        if !valid_tag(name) {
            return Err(StoreError::BadTag(name.to_string()));
        }
        let path = self.tags_dir().join(name);
        let Some(id) = self.read_ref(&path, name)? else {
            return Err(StoreError::UnknownTag(name.to_string()));
        };
        std::fs::remove_file(&path).map_err(io(&path))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        self.log_move(&format!("tags/{name}"), Some(id.clone()), None, "untag")?;
        Ok(id)
    }

    /// Whether `current` or a tag names the snapshot.
    pub(crate) fn is_referenced(&self, id: &SnapshotId) -> Result<bool, StoreError> {
        Ok(self.current()?.as_ref() == Some(id) || self.tags()?.values().any(|t| t == id))
    }

    /// The ref history, oldest first (a torn last line is left out).
    pub fn ref_log(&self) -> Result<Vec<RefMove>, StoreError> {
        let log = self.refs_dir().join(LOG);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::tests::snapshot;

    #[test]
    fn tags_are_validated() {
        assert!(valid_tag("exp/grid/v1"));
        for bad in [
            "",
            "current",
            "../x",
            ".hidden",
            "a//b",
            "20261201T101010123Z-ab12cd34",
            "x/20261201T101010123Z-ab12cd34",
        ] {
            assert!(!valid_tag(bad), "{bad}");
        }
    }

    #[test]
    fn tags_refs_prefixes_and_log() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let lock = store.lock("test").unwrap();
        let refs = store.refs_lock("test").unwrap();
        let a = snapshot(&store, &lock, "a");
        let b = snapshot(&store, &lock, "b");
        store.publish(&refs, &a, "build", &Expect::Any).unwrap();
        assert_eq!(
            store
                .publish(&refs, &b, "build", &Expect::Current(Some(a.clone())))
                .unwrap(),
            Some(a.clone())
        );
        store.set_tag(&refs, "exp/grid/v1", &a).unwrap();
        assert!(matches!(
            store.set_tag(&refs, "../x", &a),
            Err(StoreError::BadTag(_))
        ));
        let absent = SnapshotId::parse("20200101T000000000Z-00000000").unwrap();
        assert!(matches!(
            store.set_tag(&refs, "t", &absent),
            Err(StoreError::UnknownSnapshot(_))
        ));
        assert_eq!(store.resolve("exp/grid/v1").unwrap(), a);
        assert_eq!(store.resolve(&b.as_str()[..27]).unwrap(), b);
        let list = store.list().unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.iter().any(|s| s.current && s.id == b));
        assert!(list
            .iter()
            .any(|s| s.tags == vec!["exp/grid/v1".to_string()]));
        let log = store.ref_log().unwrap();
        assert_eq!(log.len(), 3);
        assert_eq!(log[1].from.as_ref(), Some(&a));
    }

    #[test]
    fn publish_is_a_compare_and_swap() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let lock = store.lock("test").unwrap();
        let refs = store.refs_lock("test").unwrap();
        let a = snapshot(&store, &lock, "a");
        let b = snapshot(&store, &lock, "b");
        store.publish(&refs, &a, "build", &Expect::Any).unwrap();
        let err = store
            .publish(&refs, &b, "build", &Expect::Current(None))
            .unwrap_err();
        assert!(matches!(err, StoreError::CurrentMoved { .. }), "{err}");
        assert_eq!(store.current().unwrap(), Some(a));
    }

    #[test]
    fn a_tag_cannot_shadow_a_snapshot_id() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let lock = store.lock("test").unwrap();
        let refs = store.refs_lock("test").unwrap();
        let a = snapshot(&store, &lock, "a");
        let b = snapshot(&store, &lock, "b");
        assert!(matches!(
            store.set_tag(&refs, b.as_str(), &a),
            Err(StoreError::BadTag(_))
        ));
        // Even a tag file planted by hand does not win over the exact id.
        std::fs::write(
            tmp.path().join("refs/tags").join(b.as_str()),
            format!("{a}\n"),
        )
        .unwrap();
        assert_eq!(store.resolve(b.as_str()).unwrap(), b);
    }

    #[test]
    fn refs_must_hold_snapshot_ids() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let lock = store.lock("test").unwrap();
        let _a = snapshot(&store, &lock, "a");
        let evil = tmp.path().join("elsewhere/evil");
        std::fs::create_dir_all(&evil).unwrap();
        std::fs::write(evil.join(MANIFEST_FILE), "{}").unwrap();
        std::fs::write(
            tmp.path().join("refs/tags/x"),
            format!("{}\n", evil.display()),
        )
        .unwrap();
        assert!(matches!(store.resolve("x"), Err(StoreError::BadRef { .. })));
        std::fs::write(tmp.path().join("refs/current"), "../../x\n").unwrap();
        assert!(matches!(store.current(), Err(StoreError::BadRef { .. })));
        assert!(matches!(
            store.resolve("current"),
            Err(StoreError::BadRef { .. })
        ));
    }
}
