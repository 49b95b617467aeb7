//! Reader leases: a long-running reader (`ragops serve`) names the snapshots it has open, so
//! that gc keeps them even when no ref names them any more (after a rollback or a publish).
//!
//! A lease is a file `leases/<holder>.json` holding the snapshot id, the holder's host and
//! process id and a time to live. Its modification time is the last renewal: the holder
//! rewrites it well within the time to live. A lease is live while it was renewed less than
//! its time to live ago and, on the same host, its process still exists, so a reader that
//! dies without releasing its leases stops protecting its snapshots after the time to live at
//! most (at once when gc runs on the same host). Releasing deletes the file.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ragops_core::SnapshotId;
use serde::{Deserialize, Serialize};

use crate::fsutil::{create_dir_durable, write_atomic};
use crate::{io, Store, StoreError};

/// The directory of lease files, under the store root.
pub(crate) const LEASES: &str = "leases";

/// What a lease file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    pub snapshot: SnapshotId,
    pub host: String,
    pub pid: u32,
    /// Seconds a renewal protects the snapshot.
    pub ttl_secs: u64,
    /// Who holds it, for listings (`ragops serve 127.0.0.1:8080`).
    pub holder: String,
}

/// A lease found in the store, live or not.
#[derive(Debug, Clone)]
pub struct FoundLease {
    pub info: LeaseInfo,
    pub file: PathBuf,
    /// Seconds since the last renewal.
    pub age_secs: u64,
    pub live: bool,
}

/// A lease this process holds; released (its file deleted) when dropped.
#[derive(Debug)]
pub struct ReaderLease {
    file: PathBuf,
    info: LeaseInfo,
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Whether a process of this host exists (always true where that cannot be told).
fn process_exists(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

impl ReaderLease {
    pub fn snapshot(&self) -> &SnapshotId {
        &self.info.snapshot
    }

    /// Marks the lease as renewed now (its file's modification time).
    pub fn renew(&self) -> Result<(), StoreError> {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.file)
            .map_err(io(&self.file))?;
        f.set_modified(SystemTime::now()).map_err(io(&self.file))
    }
}

impl Drop for ReaderLease {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

impl Store {
    /// Takes a lease on `snapshot` for this process, renewed by [`ReaderLease::renew`] within
    /// `ttl` and released when dropped. The lease does not check that the snapshot exists:
    /// take it, then open the snapshot.
    pub fn lease(
        &self,
        snapshot: &SnapshotId,
        holder: &str,
        ttl: Duration,
    ) -> Result<ReaderLease, StoreError> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let dir = self.root().join(LEASES);
        create_dir_durable(&dir)?;
        let info = LeaseInfo {
            snapshot: snapshot.clone(),
            host: host_name(),
            pid: std::process::id(),
            ttl_secs: ttl.as_secs().max(1),
            holder: holder.to_string(),
        };
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let file = dir.join(format!("{}-{}-{n}.json", info.pid, snapshot.as_str()));
        let json = serde_json::to_vec_pretty(&info).unwrap_or_default();
        write_atomic(&file, &json)?;
        Ok(ReaderLease { file, info })
    }

    /// Every lease file in the store, with whether it is live. Unreadable files are left out.
    pub fn leases(&self) -> Result<Vec<FoundLease>, StoreError> {
        let dir = self.root().join(LEASES);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir)(e)),
        };
        let host = host_name();
        let now = SystemTime::now();
        let mut out = Vec::new();
        for e in entries.flatten() {
            let file = e.path();
            if file.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let (Ok(bytes), Ok(meta)) = (std::fs::read(&file), e.metadata()) else {
                continue;
            };
            let Ok(info) = serde_json::from_slice::<LeaseInfo>(&bytes) else {
                continue;
            };
            let age_secs = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .map_or(0, |d| d.as_secs());
            let live = age_secs < info.ttl_secs && (info.host != host || process_exists(info.pid));
            out.push(FoundLease {
                info,
                file,
                age_secs,
                live,
            });
        }
        out.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(out)
    }

    /// Deletes an expired lease's file (gc, under the writer lock).
    pub fn remove_expired_lease(
        &self,
        _lock: &crate::StoreLock,
        lease: &FoundLease,
    ) -> Result<(), StoreError> {
        if lease.live {
            return Ok(());
        }
        match std::fs::remove_file(&lease.file) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&lease.file)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_listed_live_renewed_expired_and_released() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let id = SnapshotId::parse("20260101T000000000Z-00000001").unwrap();
        assert!(store.leases().unwrap().is_empty());
        let lease = store.lease(&id, "test", Duration::from_secs(30)).unwrap();
        let found = store.leases().unwrap();
        assert_eq!(found.len(), 1);
        assert!(found[0].live);
        assert_eq!(found[0].info.snapshot, id);
        assert_eq!(found[0].info.pid, std::process::id());

        // Not renewed for longer than its time to live: expired.
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&found[0].file)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(!store.leases().unwrap()[0].live);
        lease.renew().unwrap();
        assert!(store.leases().unwrap()[0].live);

        // A dead process's lease on this host is expired at once.
        let mut info = found[0].info.clone();
        info.pid = u32::MAX - 1;
        std::fs::write(
            tmp.path().join(LEASES).join("dead.json"),
            serde_json::to_vec(&info).unwrap(),
        )
        .unwrap();
        let all = store.leases().unwrap();
        assert_eq!(all.iter().filter(|l| l.live).count(), 1);

        drop(lease);
        let left = store.leases().unwrap();
        assert_eq!(left.len(), 1);
        assert!(!left[0].live);
    }
}
