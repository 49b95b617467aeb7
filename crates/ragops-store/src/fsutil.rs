//! File-system helpers of the store: atomic replacement, directory fsync, walks and sizes.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{io, StoreError};

/// fsync a directory so a rename or a new entry in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

/// Creates `dir` and any missing parents, fsyncing the parent of every directory it creates
/// so that the new entries survive a power loss.
pub(crate) fn create_dir_durable(dir: &Path) -> Result<(), StoreError> {
    let mut missing = Vec::new();
    let mut d = dir;
    while !d.as_os_str().is_empty() && !d.exists() {
        missing.push(d.to_path_buf());
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
    for m in missing.iter().rev() {
        match std::fs::create_dir(m) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(m)(e)),
        }
        if let Some(parent) = m.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Name of the temporary file [`write_atomic`] writes before renaming it over `name`.
pub(crate) fn tmp_name(name: &str) -> String {
    format!(".{name}.tmp.{}", std::process::id())
}

/// Whether a file name is a temporary file left by [`write_atomic`] (of any process).
pub(crate) fn is_tmp_name(name: &str) -> bool {
    name.starts_with('.')
        && name
            .rsplit_once(".tmp.")
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Writes `contents` to `path` atomically: temp file, fsync, rename, fsync directory.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_dir_durable(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(tmp_name(&name));
    {
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(contents).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(dir)
}

/// Every file under `root` (links are not followed), sorted.
pub(crate) fn walk_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                match e.file_type() {
                    Ok(t) if t.is_dir() => stack.push(p),
                    Ok(_) => out.push(p),
                    Err(_) => {}
                }
            }
        }
    }
    out.sort();
    out
}

/// `/`-separated path of `path` relative to `root`.
pub(crate) fn rel_path(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    Some(
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
    )
}

/// Total size of the files under `dir`.
pub(crate) fn dir_size(dir: &Path) -> u64 {
    walk_files(dir)
        .iter()
        .filter_map(|p| std::fs::symlink_metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmp_names_are_recognised() {
        assert!(is_tmp_name(&tmp_name("current")));
        assert!(is_tmp_name(".manifest.json.tmp.12"));
        assert!(!is_tmp_name("current"));
        assert!(!is_tmp_name(".x.tmp."));
        assert!(!is_tmp_name("notes.tmp.1"));
    }

    #[test]
    fn durable_dirs_and_atomic_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("a/b/c.txt");
        write_atomic(&p, b"x").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
        write_atomic(&p, b"y").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"y");
        assert_eq!(walk_files(tmp.path()), vec![p.clone()]);
        assert_eq!(rel_path(tmp.path(), &p).as_deref(), Some("a/b/c.txt"));
        assert_eq!(dir_size(tmp.path()), 1);
    }
}
