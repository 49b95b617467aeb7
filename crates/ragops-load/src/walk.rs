//! Source discovery: expand the configured paths into files with stable ids.

use std::path::{Path, PathBuf};

pub use ragops_core::normalize_path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use ragops_core::{Format, SkipReason, Skipped, SourcesConfig};

/// A file selected for loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Absolute or base-relative path used to read the file.
    pub path: PathBuf,
    /// Stable document id: path relative to its source root, `/`-separated.
    pub id: String,
    /// Path shown in reports (normalised, as configured).
    pub display_path: String,
    pub format: Format,
    pub size: u64,
    pub mtime: Option<i64>,
}

impl SourceFile {
    /// A source file for a single path, its id being the file name.
    pub fn for_path(path: PathBuf) -> Option<SourceFile> {
        let format = Format::from_extension(path.extension()?.to_str()?)?;
        let meta = std::fs::metadata(&path).ok();
        Some(SourceFile {
            id: path.file_name()?.to_string_lossy().into_owned(),
            display_path: path.to_string_lossy().into_owned(),
            format,
            size: meta.as_ref().map(|m| m.len()).unwrap_or(0),
            mtime: meta.as_ref().and_then(mtime_secs),
            path,
        })
    }
}

fn mtime_secs(meta: &std::fs::Metadata) -> Option<i64> {
    let t = meta.modified().ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_secs()).ok()
}

fn globset(patterns: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(|e| format!("bad glob `{p}`: {e}"))?);
    }
    b.build().map_err(|e| e.to_string())
}

/// Expands `sources.paths` (resolved against `base_dir`) into supported files, sorted by id.
/// Unreadable roots, bad globs and files of unsupported type are returned as skip records;
/// hidden files and directories (names starting with `.`) are ignored.
pub fn discover(sources: &SourcesConfig, base_dir: &Path) -> (Vec<SourceFile>, Vec<Skipped>) {
    let (include, exclude) = match (globset(&sources.include), globset(&sources.exclude)) {
        (Ok(i), Ok(e)) => (i, e),
        (Err(e), _) | (_, Err(e)) => {
            return (
                Vec::new(),
                vec![Skipped::new("[sources]", SkipReason::BadGlob { detail: e })],
            )
        }
    };
    let mut walk = Walk {
        include,
        exclude,
        follow_links: sources.follow_links,
        files: Vec::new(),
        skipped: Vec::new(),
    };
    for configured in &sources.paths {
        walk.root(&normalize_path(&base_dir.join(configured)));
    }
    let mut files = walk.files;
    files.sort_by(|a, b| a.id.cmp(&b.id).then(a.path.cmp(&b.path)));
    (files, walk.skipped)
}

/// The state of one source walk.
struct Walk {
    include: GlobSet,
    exclude: GlobSet,
    follow_links: bool,
    files: Vec<SourceFile>,
    skipped: Vec<Skipped>,
}

impl Walk {
    fn skip(&mut self, path: impl Into<String>, reason: SkipReason) {
        self.skipped.push(Skipped::new(path, reason));
    }

    /// One configured source path: a file, or a directory walked recursively.
    fn root(&mut self, root: &Path) {
        let meta = match std::fs::metadata(root) {
            Ok(m) => m,
            Err(e) => {
                let detail = e.to_string();
                return self.skip(
                    root.to_string_lossy(),
                    SkipReason::RootUnreadable { detail },
                );
            }
        };
        if meta.is_file() {
            match SourceFile::for_path(root.to_path_buf()) {
                Some(f) => self.files.push(f),
                None => self.skip(root.to_string_lossy(), SkipReason::Unsupported),
            }
            return;
        }
        // Links are followed (a loop becomes a skip record), but one that leads out of the
        // source root is skipped unless `follow_links` is set: a link to ~/.aws/credentials
        // must not put secrets into the index.
        let canon_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        let mut walker = walkdir::WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
        while let Some(entry) = walker.next() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e.path().unwrap_or(root).to_string_lossy().into_owned();
                    let detail = format!("cannot read: {e}");
                    self.skip(path, SkipReason::Unreadable { detail });
                    continue;
                }
            };
            if entry.path_is_symlink() && !self.follow_links {
                let inside = entry
                    .path()
                    .canonicalize()
                    .is_ok_and(|t| t.starts_with(&canon_root));
                if !inside {
                    if entry.file_type().is_dir() {
                        walker.skip_current_dir();
                    }
                    self.skip(entry.path().to_string_lossy(), SkipReason::OutsideRoot);
                    continue;
                }
            }
            if entry.file_type().is_file() {
                self.file(root, &entry);
            }
        }
    }

    /// A file found under `root`: selected by the globs, then by its extension.
    fn file(&mut self, root: &Path, entry: &walkdir::DirEntry) {
        let Ok(rel) = entry.path().strip_prefix(root) else {
            return;
        };
        if !self.include.is_match(rel) || self.exclude.is_match(rel) {
            return;
        }
        let id = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let display = entry.path().to_string_lossy().into_owned();
        let ext = entry.path().extension().and_then(|e| e.to_str());
        let Some(format) = ext.and_then(Format::from_extension) else {
            return self.skip(display, SkipReason::Unsupported);
        };
        let meta = entry.metadata().ok();
        self.files.push(SourceFile {
            path: entry.path().to_path_buf(),
            id,
            display_path: display,
            format,
            size: meta.as_ref().map(|m| m.len()).unwrap_or(0),
            mtime: meta.as_ref().and_then(mtime_secs),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovers_with_globs_and_reports_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("docs");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        for f in [
            "a.md",
            "sub/b.txt",
            "sub/c.docx",
            "skip.md",
            ".git/config.md",
        ] {
            std::fs::write(root.join(f), "x").unwrap();
        }
        let mut cfg = ragops_core::PipelineConfig::from_toml(
            "[sources]\npaths=[\"docs\"]\nexclude=[\"skip.md\"]\n",
            Path::new("t.toml"),
        )
        .unwrap()
        .sources;
        let (files, skipped) = discover(&cfg, dir.path());
        let ids: Vec<_> = files.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, vec!["a.md", "sub/b.txt"]);
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].path.ends_with("c.docx"));
        // A link out of the root is skipped; a link inside it is followed.
        let outside = dir.path().join("secret.txt");
        std::fs::write(&outside, "aws_secret_access_key=x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("notes.txt")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("up")).unwrap();
        std::os::unix::fs::symlink(root.join("a.md"), root.join("alias.md")).unwrap();
        let (files, skipped) = discover(&cfg, dir.path());
        let ids: Vec<_> = files.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, vec!["a.md", "alias.md", "sub/b.txt"]);
        let reasons: Vec<_> = skipped
            .iter()
            .filter(|s| s.reason == SkipReason::OutsideRoot)
            .map(|s| s.path.rsplit('/').next().unwrap_or_default())
            .collect();
        assert_eq!(reasons, vec!["notes.txt", "up"]);
        cfg.follow_links = true;
        let (files, _) = discover(&cfg, dir.path());
        assert!(files.iter().any(|f| f.id == "notes.txt"));
        cfg.follow_links = false;
        for l in ["notes.txt", "up", "alias.md"] {
            std::fs::remove_file(root.join(l)).unwrap();
        }
        cfg.paths.push("missing".into());
        let (_, skipped) = discover(&cfg, dir.path());
        assert!(skipped
            .iter()
            .any(|s| matches!(s.reason, SkipReason::RootUnreadable { .. })));
    }
}
