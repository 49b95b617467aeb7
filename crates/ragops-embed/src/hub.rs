//! The Hugging Face hub cache layout: resolve, pull (hf-hub) and import (offline) models.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ragops_core::Sha256Hasher;
use sha2::{Digest, Sha256};

use crate::{io_err, EmbedError};

/// Files a model directory must have.
pub const REQUIRED_FILES: &[&str] = &["config.json", "tokenizer.json", "model.safetensors"];
/// sentence-transformers files used when present (pooling, normalisation, max length).
pub const OPTIONAL_FILES: &[&str] = &[
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "config_sentence_transformers.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
];

/// A model resolved to a directory with its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// Hub id (`org/name`) or the directory path for local models.
    pub id: String,
    /// Resolved commit hash in the cache, or `local` for a plain directory.
    pub revision: String,
    pub dir: PathBuf,
}

/// The hub cache root: `HF_HUB_CACHE`, `HUGGINGFACE_HUB_CACHE`, `$HF_HOME/hub`, then
/// `~/.cache/huggingface/hub` (the same order as huggingface_hub).
pub fn cache_root() -> PathBuf {
    for var in ["HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            return PathBuf::from(v);
        }
    }
    if let Some(home) = std::env::var_os("HF_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join("hub");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("huggingface").join("hub")
}

fn validate_id(id: &str) -> Result<(), EmbedError> {
    let parts: Vec<&str> = id.split('/').collect();
    let ok = (1..=2).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        });
    if ok {
        Ok(())
    } else {
        Err(EmbedError::BadModelId(id.to_string()))
    }
}

/// `<cache>/models--org--name`.
pub fn repo_dir(cache: &Path, id: &str) -> PathBuf {
    cache.join(format!("models--{}", id.replace('/', "--")))
}

fn is_commit_hash(s: &str) -> bool {
    s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit())
}

fn check_complete(dir: &Path) -> Result<(), EmbedError> {
    let missing: Vec<&str> = REQUIRED_FILES
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(EmbedError::ModelIncomplete {
            dir: dir.to_path_buf(),
            missing: missing.join(", "),
        })
    }
}

/// Resolves a model reference: an existing directory is used as is; otherwise `model_ref` is a
/// hub id looked up in `cache` at `revision` (a ref name such as `main`, or a commit hash).
pub fn resolve(model_ref: &str, revision: &str, cache: &Path) -> Result<ModelFiles, EmbedError> {
    let as_path = Path::new(model_ref);
    if as_path.is_dir() {
        check_complete(as_path)?;
        return Ok(ModelFiles {
            id: model_ref.to_string(),
            revision: "local".into(),
            dir: as_path.to_path_buf(),
        });
    }
    validate_id(model_ref)?;
    let repo = repo_dir(cache, model_ref);
    let not_found = || EmbedError::ModelNotFound {
        id: model_ref.to_string(),
        revision: revision.to_string(),
        cache: cache.to_path_buf(),
    };
    let commit = if is_commit_hash(revision) && repo.join("snapshots").join(revision).is_dir() {
        revision.to_string()
    } else {
        let r =
            std::fs::read_to_string(repo.join("refs").join(revision)).map_err(|_| not_found())?;
        r.trim().to_string()
    };
    let dir = repo.join("snapshots").join(&commit);
    if !dir.is_dir() {
        return Err(not_found());
    }
    check_complete(&dir)?;
    Ok(ModelFiles {
        id: model_ref.to_string(),
        revision: commit,
        dir,
    })
}

/// Downloads a model's files from the hub into the cache (hf-hub), then resolves it.
pub fn pull(id: &str, revision: &str, cache: &Path) -> Result<ModelFiles, EmbedError> {
    use hf_hub::api::sync::ApiBuilder;
    validate_id(id)?;
    let api = ApiBuilder::from_env()
        .with_cache_dir(cache.to_path_buf())
        .with_progress(true)
        .build()
        .map_err(|e| EmbedError::Hub(e.to_string()))?;
    let repo = api.repo(hf_hub::Repo::with_revision(
        id.to_string(),
        hf_hub::RepoType::Model,
        revision.to_string(),
    ));
    for f in REQUIRED_FILES {
        repo.get(f)
            .map_err(|e| EmbedError::Hub(format!("{id}/{f}: {e}")))?;
    }
    for f in OPTIONAL_FILES {
        // Not every model has the sentence-transformers files.
        let _ = repo.get(f);
    }
    resolve(id, revision, cache)
}

fn sha256_file(path: &Path) -> Result<String, EmbedError> {
    let mut f = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| io_err(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// SHA-256 of a cached file: the blob name when the file is a link into `blobs/` named by its
/// SHA-256 (as hf-hub stores LFS files and as `import` stores every file), else computed.
pub fn file_sha256(path: &Path) -> Result<String, EmbedError> {
    if let Ok(target) = std::fs::read_link(path) {
        if let Some(name) = target.file_name().and_then(|n| n.to_str()) {
            if name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit()) {
                return Ok(name.to_string());
            }
        }
    }
    sha256_file(path)
}

/// Copies a model directory into the cache as `id`: blobs named by SHA-256, a snapshot whose
/// revision is derived from the file hashes, and `refs/main` pointing at it. Idempotent; each
/// file is written to a temporary name and renamed, so an interrupted import leaves no torn file.
pub fn import(src: &Path, id: &str, cache: &Path) -> Result<ModelFiles, EmbedError> {
    validate_id(id)?;
    check_complete(src)?;
    let files: Vec<&str> = REQUIRED_FILES
        .iter()
        .chain(OPTIONAL_FILES)
        .copied()
        .filter(|f| src.join(f).is_file())
        .collect();
    let mut hashes = Vec::new();
    let mut rev = Sha256Hasher::new();
    for f in &files {
        let h = sha256_file(&src.join(f))?;
        rev = rev.part(f).part(&h);
        hashes.push(h);
    }
    let revision = rev.hex()[..40].to_string();
    let repo = repo_dir(cache, id);
    let blobs = repo.join("blobs");
    let snapshot = repo.join("snapshots").join(&revision);
    std::fs::create_dir_all(&blobs).map_err(|e| io_err(&blobs, e))?;
    for (f, h) in files.iter().zip(&hashes) {
        let blob = blobs.join(h);
        if !blob.is_file() || sha256_file(&blob)? != *h {
            let tmp = blobs.join(format!("{h}.incomplete.{}", std::process::id()));
            std::fs::copy(src.join(f), &tmp).map_err(|e| io_err(&tmp, e))?;
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(|e| io_err(&tmp, e))?;
            std::fs::rename(&tmp, &blob).map_err(|e| io_err(&blob, e))?;
        }
        let link = snapshot.join(f);
        let parent = link.parent().unwrap_or(&snapshot).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|e| io_err(&parent, e))?;
        let _ = std::fs::remove_file(&link);
        let depth = f.matches('/').count() + 2;
        let target: PathBuf = std::iter::repeat_n("..", depth)
            .collect::<PathBuf>()
            .join("blobs")
            .join(h);
        link_or_copy(&target, &blob, &link)?;
    }
    let refs = repo.join("refs");
    std::fs::create_dir_all(&refs).map_err(|e| io_err(&refs, e))?;
    let tmp = refs.join(format!(".main.{}", std::process::id()));
    std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(revision.as_bytes()).and_then(|_| f.sync_all()))
        .map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, refs.join("main")).map_err(|e| io_err(&refs, e))?;
    resolve(id, "main", cache)
}

#[cfg(unix)]
fn link_or_copy(target: &Path, _blob: &Path, link: &Path) -> Result<(), EmbedError> {
    std::os::unix::fs::symlink(target, link).map_err(|e| io_err(link, e))
}

#[cfg(not(unix))]
fn link_or_copy(_target: &Path, blob: &Path, link: &Path) -> Result<(), EmbedError> {
    std::fs::copy(blob, link)
        .map(|_| ())
        .map_err(|e| io_err(link, e))
}

/// A model found in the cache.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CachedModel {
    pub id: String,
    /// (ref name, commit) pairs.
    pub refs: Vec<(String, String)>,
    /// Snapshot revisions present, with whether they hold every required file.
    pub snapshots: Vec<(String, bool)>,
}

/// Lists the models in the cache.
pub fn list(cache: &Path) -> Result<Vec<CachedModel>, EmbedError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(cache) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(cache, e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("models--") else {
            continue;
        };
        let id = rest.replacen("--", "/", 1);
        let dir = entry.path();
        let mut refs = Vec::new();
        if let Ok(rs) = std::fs::read_dir(dir.join("refs")) {
            for r in rs.flatten() {
                if let Ok(c) = std::fs::read_to_string(r.path()) {
                    refs.push((
                        r.file_name().to_string_lossy().into_owned(),
                        c.trim().to_string(),
                    ));
                }
            }
        }
        let mut snapshots = Vec::new();
        if let Ok(ss) = std::fs::read_dir(dir.join("snapshots")) {
            for s in ss.flatten() {
                snapshots.push((
                    s.file_name().to_string_lossy().into_owned(),
                    check_complete(&s.path()).is_ok(),
                ));
            }
        }
        refs.sort();
        snapshots.sort();
        out.push(CachedModel {
            id,
            refs,
            snapshots,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_then_resolve_and_list() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join("1_Pooling")).unwrap();
        for f in REQUIRED_FILES {
            std::fs::write(src.join(f), format!("content of {f}")).unwrap();
        }
        std::fs::write(src.join("1_Pooling/config.json"), "{}").unwrap();
        let cache = tmp.path().join("cache");
        let m = import(&src, "org/tiny", &cache).unwrap();
        assert_eq!(m.id, "org/tiny");
        assert_eq!(m.revision.len(), 40);
        assert_eq!(
            std::fs::read_to_string(m.dir.join("config.json")).unwrap(),
            "content of config.json"
        );
        assert_eq!(
            std::fs::read_to_string(m.dir.join("1_Pooling/config.json")).unwrap(),
            "{}"
        );
        // Same content imports to the same revision.
        assert_eq!(import(&src, "org/tiny", &cache).unwrap(), m);
        assert_eq!(resolve("org/tiny", "main", &cache).unwrap(), m);
        assert_eq!(resolve("org/tiny", &m.revision, &cache).unwrap(), m);
        let sha = file_sha256(&m.dir.join("config.json")).unwrap();
        assert_eq!(sha, ragops_core::sha256_hex(b"content of config.json"));
        let listed = list(&cache).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, "org/tiny");
        assert_eq!(listed[0].snapshots, vec![(m.revision.clone(), true)]);
    }

    #[test]
    fn missing_model_error_names_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let err = resolve("org/absent", "main", tmp.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("ragops model pull org/absent"), "{err}");
        assert!(err.contains("ragops model import"), "{err}");
        assert!(matches!(
            resolve("../etc", "main", tmp.path()),
            Err(EmbedError::BadModelId(_))
        ));
    }

    #[test]
    fn incomplete_directory_is_reported() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("config.json"), "{}").unwrap();
        let err = resolve(tmp.path().to_str().unwrap(), "main", tmp.path()).unwrap_err();
        assert!(err.to_string().contains("tokenizer.json"), "{err}");
    }
}
