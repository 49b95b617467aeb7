//! The two locks of a store.
//!
//! * `LOCK`, the **writer lock**: one data writer at a time (build, gc, experiment). Held for
//!   the whole build, so it can be held for hours.
//! * `refs/LOCK`, the **refs lock**: held for the few milliseconds it takes to read and move a
//!   ref (publish, rollback, tag, untag) or to move a snapshot into `trash/`. Rollbacks and tags
//!   take only this one, so they are never blocked by a running build.
//!
//! Both are advisory `flock`s: the OS releases them when the process exits or is killed, so a
//! SIGKILL never leaves a stale lock. Holding one is a capability: functions that need it take
//! `&StoreLock` or `&RefsLock`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::{io, Store, StoreError};

pub(crate) const LOCK: &str = "LOCK";
pub(crate) const REFS_LOCK: &str = "LOCK";

/// How long a refs-lock taker waits: refs-lock holders finish in milliseconds.
const REFS_LOCK_WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// The writer lock (`LOCK`).
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// The refs lock (`refs/LOCK`).
#[derive(Debug)]
pub struct RefsLock {
    _file: File,
}

/// Takes the `flock` on `path` without waiting, and writes who holds it into the file.
pub(crate) fn try_lock(path: &Path, what: &str) -> Result<File, StoreError> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(io(path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(path).unwrap_or_default();
            let holder = match holder.trim() {
                "" => "unknown process".to_string(),
                h => h.to_string(),
            };
            return Err(StoreError::Locked {
                path: path.to_path_buf(),
                holder,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(path)(e)),
    }
    let info = format!(
        "pid {} ({what}) since {}",
        std::process::id(),
        humantime::format_rfc3339_seconds(SystemTime::now())
    );
    file.set_len(0).map_err(io(path))?;
    file.write_all(info.as_bytes()).map_err(io(path))?;
    Ok(file)
}

/// Retries [`try_lock`] until it succeeds or `wait` has passed.
fn lock_waiting(path: &Path, what: &str, wait: Duration) -> Result<File, StoreError> {
    let start = Instant::now();
    loop {
        match try_lock(path, what) {
            Err(StoreError::Locked { .. }) if start.elapsed() < wait => std::thread::sleep(POLL),
            other => return other,
        }
    }
}

impl Store {
    fn lock_path(&self) -> PathBuf {
        self.root().join(LOCK)
    }

    fn refs_lock_path(&self) -> PathBuf {
        self.refs_dir().join(REFS_LOCK)
    }

    /// Takes the writer lock without waiting; a clear error names the holder if it is taken.
    pub fn lock(&self, what: &str) -> Result<StoreLock, StoreError> {
        Ok(StoreLock {
            _file: try_lock(&self.lock_path(), what)?,
        })
    }

    /// Takes the writer lock, waiting up to `wait` for another writer to finish; then fails
    /// with an error naming the holder.
    pub fn lock_wait(&self, what: &str, wait: Duration) -> Result<StoreLock, StoreError> {
        Ok(StoreLock {
            _file: lock_waiting(&self.lock_path(), what, wait)?,
        })
    }

    /// Takes the refs lock, waiting briefly for another holder (holders are short).
    pub fn refs_lock(&self, what: &str) -> Result<RefsLock, StoreError> {
        let dir = self.refs_dir();
        crate::fsutil::create_dir_durable(&dir)?;
        Ok(RefsLock {
            _file: lock_waiting(&self.refs_lock_path(), what, REFS_LOCK_WAIT)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_writer_is_refused_with_holder() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let _held = store.lock("build").unwrap();
        let err = store.lock("build").unwrap_err().to_string();
        assert!(err.contains("locked") && err.contains("pid"), "{err}");
    }

    #[test]
    fn refs_lock_is_independent_of_the_writer_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let _writer = store.lock("build").unwrap();
        let refs = store.refs_lock("rollback").unwrap();
        drop(refs);
        let _again = store.refs_lock("tag").unwrap();
    }
}
