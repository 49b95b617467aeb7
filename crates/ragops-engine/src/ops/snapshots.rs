//! `ragops snapshots list | show`: what a store holds, read through the store API.

use std::path::Path;

use ragops_core::{RetentionConfig, Skipped, SnapshotId};
use ragops_store::{Manifest, SnapshotSummary, Store, VerifyReport};

use super::store::pipeline_or_default;
use crate::EngineError;

/// Every snapshot of the store, oldest first, damaged ones included.
pub fn list(store_dir: &Path) -> Result<Vec<SnapshotSummary>, EngineError> {
    Ok(Store::open(store_dir)?.list()?)
}

/// One snapshot: its manifest and, when asked, the verify report.
#[derive(Debug, Clone)]
pub struct ShownSnapshot {
    pub id: SnapshotId,
    /// `None` only when verification was asked for and the manifest cannot be read: the
    /// report says why.
    pub manifest: Option<Manifest>,
    /// What the build skipped (from the snapshot's catalog; empty when it cannot be read).
    pub skipped: Vec<Skipped>,
    pub verify: Option<VerifyReport>,
}

impl ShownSnapshot {
    /// Verification was asked for and found a problem.
    pub fn failed(&self) -> bool {
        self.verify.as_ref().is_some_and(|r| !r.ok)
    }
}

/// Resolves `name` (id, `current`, a tag) and reads its manifest; with `verify`, also re-hashes
/// every file. An unreadable manifest is an error unless `verify` explains it.
pub fn show(store_dir: &Path, name: &str, verify: bool) -> Result<ShownSnapshot, EngineError> {
    let store = Store::open(store_dir)?;
    let id = store.resolve(name)?;
    let report = if verify {
        Some(store.verify(&id)?)
    } else {
        None
    };
    let manifest = match (store.manifest(&id), &report) {
        (Ok(m), _) => Some(m),
        (Err(_), Some(_)) => None,
        (Err(e), None) => return Err(e.into()),
    };
    let skipped = match &manifest {
        Some(_) => store
            .snapshot(&id)
            .and_then(|s| s.catalog())
            .map(|c| c.skipped)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(ShownSnapshot {
        id,
        manifest,
        skipped,
        verify: report,
    })
}

/// The retention policy of `pipeline` (or `pipelines/default.toml` when it exists in the
/// working directory, else the defaults), with `keep` (keep the newest N, nothing by age) on
/// top when given.
pub fn retention(
    pipeline: Option<&Path>,
    keep: Option<usize>,
) -> Result<RetentionConfig, EngineError> {
    let base = match pipeline_or_default(pipeline)? {
        Some(p) => p.config.store.retention,
        None => RetentionConfig::default(),
    };
    Ok(match keep {
        Some(k) => RetentionConfig {
            keep_last: k,
            keep_within: None,
        },
        None => base,
    })
}
