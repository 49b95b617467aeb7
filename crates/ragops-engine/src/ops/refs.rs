//! Moving refs: rollback, tag, untag. Each takes only the refs lock, so none waits for a build.

use std::path::Path;

use ragops_core::SnapshotId;
use ragops_store::{Expect, Store};

use crate::EngineError;

/// Points `current` at `target` (a snapshot id, prefix or tag), or, without a target, at the
/// parent of the current snapshot. Returns (previous, new). The target is verified first.
pub fn rollback(
    store_dir: &Path,
    target: Option<&str>,
) -> Result<(Option<SnapshotId>, SnapshotId), EngineError> {
    if crate::remote::is_remote(store_dir) {
        return crate::remote::rollback(&store_dir.to_string_lossy(), target);
    }
    let store = Store::open(store_dir)?;
    let to = match target {
        Some(t) => store.resolve(t)?,
        None => {
            let current = store.resolve("current")?;
            let parent = store.manifest(&current)?.parent;
            parent.ok_or(EngineError::NoParent { current })?
        }
    };
    // Check the target before making it live (streaming; outside the refs lock).
    verified(&store, &to)?;
    let refs = store.refs_lock("ragops snapshots rollback")?;
    let prev = store.publish(&refs, &to, "rollback", &Expect::Any)?;
    Ok((prev, to))
}

/// Verifies a snapshot; an error naming every problem when it is not intact.
pub(crate) fn verified(store: &Store, id: &SnapshotId) -> Result<(), EngineError> {
    let report = store.verify(id)?;
    if report.ok {
        Ok(())
    } else {
        Err(EngineError::Damaged {
            id: id.clone(),
            problems: report.problems(),
        })
    }
}

/// Tags a snapshot. Returns the resolved snapshot id.
pub fn tag(store_dir: &Path, snapshot: &str, name: &str) -> Result<SnapshotId, EngineError> {
    let store = Store::open(store_dir)?;
    let id = store.resolve(snapshot)?;
    let refs = store.refs_lock("ragops snapshots tag")?;
    store.set_tag(&refs, name, &id)?;
    Ok(id)
}

/// Removes a tag; returns the snapshot it named.
pub fn untag(store_dir: &Path, name: &str) -> Result<SnapshotId, EngineError> {
    let store = Store::open(store_dir)?;
    let refs = store.refs_lock("ragops snapshots untag")?;
    Ok(store.remove_tag(&refs, name)?)
}
