//! Model provisioning in the Hugging Face hub cache layout (`models--org--name/{blobs,
//! snapshots/<rev>,refs}`): resolve a model reference to a directory, `pull` it with hf-hub,
//! `import` a local directory (air-gapped machines), list what the cache holds, and hash
//! weights by their bytes with a memo. The only crate that touches the network.

use std::io::Write;
use std::path::{Path, PathBuf};

use ragops_core::{ModelSource, Sha256, Sha256Hasher};

/// Why a model cannot be resolved, fetched or imported.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("model `{id}` (revision `{revision}`) is not in the model cache at {}", cache.display())]
    ModelNotFound {
        id: String,
        revision: String,
        cache: PathBuf,
        /// A directory named like the id exists here: it is not used in place of the hub id.
        local_dir: Option<PathBuf>,
    },
    #[error("model directory {0} does not exist")]
    LocalModelMissing(PathBuf),
    #[error("model directory {dir} is incomplete: missing {missing}")]
    ModelIncomplete { dir: PathBuf, missing: String },
    #[error("invalid model id `{0}`: expected `name` or `org/name`")]
    BadModelId(String),
    #[error("invalid model revision `{0}`: expected a 40-hex commit or a branch/tag name")]
    BadRevision(String),
    #[error("model cache ref {path} does not hold a commit hash (it holds {contents:?})")]
    BadCacheRef { path: PathBuf, contents: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("download of {what} from the Hugging Face hub failed: {message}")]
    Download { what: String, message: String },
}

fn io_err(path: &Path, source: std::io::Error) -> HubError {
    HubError::Io {
        path: path.to_path_buf(),
        source,
    }
}

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

fn validate_id(id: &str) -> Result<(), HubError> {
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
        Err(HubError::BadModelId(id.to_string()))
    }
}

/// `<cache>/models--org--name`.
pub fn repo_dir(cache: &Path, id: &str) -> PathBuf {
    cache.join(format!("models--{}", id.replace('/', "--")))
}

fn is_commit_hash(s: &str) -> bool {
    s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit())
}

fn check_complete(dir: &Path) -> Result<(), HubError> {
    let missing: Vec<&str> = REQUIRED_FILES
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(HubError::ModelIncomplete {
            dir: dir.to_path_buf(),
            missing: missing.join(", "),
        })
    }
}

/// Whether a revision is a 40-hex commit or a safe ref name (`main`, `v1.0`, `refs/pr/1`):
/// letters, digits, `.`, `_` and `-` in `/`-separated parts, none empty, hidden or a path step.
pub fn valid_revision(revision: &str) -> bool {
    !revision.is_empty()
        && revision.len() <= 255
        && revision.split('/').all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
}

/// Resolves a model reference. A local reference (an absolute path, or one starting with `./`,
/// `../` or `~`, or with more than one `/`: see [`ragops_core::is_local_model_ref`]) is a model
/// directory, recorded by its canonical path with revision `local`. Anything else is a hub id,
/// looked up in `cache` at `revision` (a ref name such as `main`, or a commit hash); a
/// directory of the same name in the working directory is never used in its place.
pub fn resolve(model_ref: &str, revision: &str, cache: &Path) -> Result<ModelSource, HubError> {
    if ragops_core::is_local_model_ref(model_ref) {
        let dir = Path::new(model_ref);
        if !dir.is_dir() {
            return Err(HubError::LocalModelMissing(dir.to_path_buf()));
        }
        check_complete(dir)?;
        let dir = dir.canonicalize().map_err(|e| io_err(dir, e))?;
        return Ok(ModelSource {
            id: dir.to_string_lossy().into_owned(),
            revision: "local".into(),
            dir,
        });
    }
    validate_id(model_ref)?;
    if !valid_revision(revision) {
        return Err(HubError::BadRevision(revision.to_string()));
    }
    let repo = repo_dir(cache, model_ref);
    let not_found = || HubError::ModelNotFound {
        id: model_ref.to_string(),
        revision: revision.to_string(),
        cache: cache.to_path_buf(),
        local_dir: Path::new(model_ref)
            .is_dir()
            .then(|| PathBuf::from(".").join(model_ref)),
    };
    let commit = if is_commit_hash(revision) && repo.join("snapshots").join(revision).is_dir() {
        revision.to_string()
    } else {
        let ref_file = repo.join("refs").join(revision);
        let r = std::fs::read_to_string(&ref_file).map_err(|_| not_found())?;
        let commit = r.trim();
        if !is_commit_hash(commit) {
            return Err(HubError::BadCacheRef {
                path: ref_file,
                contents: commit.chars().take(80).collect(),
            });
        }
        commit.to_string()
    };
    let dir = repo.join("snapshots").join(&commit);
    if !dir.is_dir() {
        return Err(not_found());
    }
    check_complete(&dir)?;
    Ok(ModelSource {
        id: model_ref.to_string(),
        revision: commit,
        dir,
    })
}

/// Downloads a model's files from the hub into the cache (hf-hub), then resolves it.
pub fn pull(id: &str, revision: &str, cache: &Path) -> Result<ModelSource, HubError> {
    use hf_hub::api::sync::ApiBuilder;
    validate_id(id)?;
    let api = ApiBuilder::from_env()
        .with_cache_dir(cache.to_path_buf())
        .with_progress(true)
        .build()
        .map_err(|e| HubError::Download {
            what: id.to_string(),
            message: e.to_string(),
        })?;
    let repo = api.repo(hf_hub::Repo::with_revision(
        id.to_string(),
        hf_hub::RepoType::Model,
        revision.to_string(),
    ));
    for f in REQUIRED_FILES {
        repo.get(f).map_err(|e| HubError::Download {
            what: format!("{id}/{f}"),
            message: e.to_string(),
        })?;
    }
    for f in OPTIONAL_FILES {
        // Not every model has the sentence-transformers files.
        let _ = repo.get(f);
    }
    resolve(id, revision, cache)
}

fn sha256_file(path: &Path) -> Result<Sha256, HubError> {
    ragops_core::sha256_file(path)
        .map(|d| d.sha256)
        .map_err(|e| io_err(path, e))
}

/// The weights file of a model directory.
pub fn weights_path(model: &ModelSource) -> PathBuf {
    model.dir.join("model.safetensors")
}

/// Where verified file hashes are remembered: `<cache>/.ragops/verified-sha256.json`.
fn memo_path() -> PathBuf {
    cache_root().join(".ragops").join("verified-sha256.json")
}

/// Most entries the memo keeps (a few per model; it is cleared when it grows past this).
const MEMO_ENTRIES: usize = 256;

/// What identifies a file's bytes without reading them: size, modification time and inode.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Fingerprint {
    size: u64,
    mtime_ns: i128,
    inode: u64,
    sha256: String,
}

fn fingerprint(meta: &std::fs::Metadata) -> (u64, i128, u64) {
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(-1);
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0;
    (meta.len(), mtime_ns, inode)
}

/// SHA-256 of a file's bytes. The bytes are always hashed (a blob's name is never trusted),
/// but the result is remembered by canonical path, size, modification time and inode, so a
/// query does not rehash a 90 MB weights file that has not changed since it was verified.
/// The memo is best effort: when it cannot be read or written the file is simply hashed.
pub fn file_sha256(path: &Path) -> Result<Sha256, HubError> {
    let canon = path.canonicalize().map_err(|e| io_err(path, e))?;
    let meta = std::fs::metadata(&canon).map_err(|e| io_err(&canon, e))?;
    let (size, mtime_ns, inode) = fingerprint(&meta);
    let key = canon.to_string_lossy().into_owned();
    let memo_file = memo_path();
    let mut memo: std::collections::BTreeMap<String, Fingerprint> = std::fs::read(&memo_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if let Some(f) = memo.get(&key) {
        if f.size == size && f.mtime_ns == mtime_ns && f.inode == inode {
            if let Ok(sha) = Sha256::parse(&f.sha256) {
                return Ok(sha);
            }
        }
    }
    let sha256 = sha256_file(&canon)?;
    if memo.len() >= MEMO_ENTRIES {
        memo.clear();
    }
    memo.insert(
        key,
        Fingerprint {
            size,
            mtime_ns,
            inode,
            sha256: sha256.to_string(),
        },
    );
    save_memo(&memo_file, &memo);
    Ok(sha256)
}

/// Writes the memo atomically (temp file, rename); failures are ignored.
fn save_memo(path: &Path, memo: &std::collections::BTreeMap<String, Fingerprint>) {
    let Some(dir) = path.parent() else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = dir.join(format!(".verified.{}.tmp", std::process::id()));
    let Ok(json) = serde_json::to_vec(memo) else {
        return;
    };
    if std::fs::write(&tmp, json).is_ok() && std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Copies a model directory into the cache as `id`: blobs named by SHA-256, a snapshot whose
/// revision is derived from the file hashes, and `refs/main` pointing at it. Idempotent; each
/// file is written to a temporary name and renamed, so an interrupted import leaves no torn file.
pub fn import(src: &Path, id: &str, cache: &Path) -> Result<ModelSource, HubError> {
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
        rev = rev.part(f).part(h.as_str());
        hashes.push(h);
    }
    let revision = rev.hex()[..40].to_string();
    let repo = repo_dir(cache, id);
    let blobs = repo.join("blobs");
    let snapshot = repo.join("snapshots").join(&revision);
    std::fs::create_dir_all(&blobs).map_err(|e| io_err(&blobs, e))?;
    for (f, h) in files.iter().zip(&hashes) {
        let blob = blobs.join(h.as_str());
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
            .join(h.as_str());
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
fn link_or_copy(target: &Path, _blob: &Path, link: &Path) -> Result<(), HubError> {
    std::os::unix::fs::symlink(target, link).map_err(|e| io_err(link, e))
}

#[cfg(not(unix))]
fn link_or_copy(_target: &Path, blob: &Path, link: &Path) -> Result<(), HubError> {
    std::fs::copy(blob, link)
        .map(|_| ())
        .map_err(|e| io_err(link, e))
}

/// A model found in the cache.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CachedModel {
    pub id: String,
    /// (ref name, commit) pairs.
    pub refs: Vec<(String, String)>,
    /// Snapshot revisions present, with whether they hold every required file.
    pub snapshots: Vec<(String, bool)>,
}

/// Lists the models in the cache.
pub fn list(cache: &Path) -> Result<Vec<CachedModel>, HubError> {
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
        assert_eq!(
            sha.as_str(),
            ragops_core::sha256_hex(b"content of config.json")
        );
        let listed = list(&cache).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, "org/tiny");
        assert_eq!(listed[0].snapshots, vec![(m.revision.clone(), true)]);
    }

    #[test]
    fn a_missing_model_is_a_typed_error() {
        let tmp = tempfile::tempdir().unwrap();
        let err = resolve("org/absent", "main", tmp.path()).unwrap_err();
        assert!(
            matches!(&err, HubError::ModelNotFound { id, local_dir: None, .. } if id == "org/absent"),
            "{err}"
        );
        assert!(matches!(
            resolve("org/..", "main", tmp.path()),
            Err(HubError::BadModelId(_))
        ));
        // A path is a local directory, never looked up in the cache.
        assert!(matches!(
            resolve("../no-such-model-dir", "main", tmp.path()),
            Err(HubError::LocalModelMissing(_))
        ));
    }

    #[test]
    fn revision_and_ref_contents_are_validated() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        for f in REQUIRED_FILES {
            std::fs::write(src.join(f), f).unwrap();
        }
        let cache = tmp.path().join("cache");
        import(&src, "org/m", &cache).unwrap();
        for bad in ["../../evil", "/abs", "a/../b", ".hidden", ""] {
            assert!(
                matches!(resolve("org/m", bad, &cache), Err(HubError::BadRevision(_))),
                "{bad}"
            );
        }
        // A ref whose contents are a path, not a commit, is refused.
        let elsewhere = tmp.path().join("elsewhere/m");
        std::fs::create_dir_all(&elsewhere).unwrap();
        for f in REQUIRED_FILES {
            std::fs::write(elsewhere.join(f), "evil").unwrap();
        }
        std::fs::write(
            repo_dir(&cache, "org/m").join("refs/main"),
            elsewhere.to_str().unwrap(),
        )
        .unwrap();
        assert!(matches!(
            resolve("org/m", "main", &cache),
            Err(HubError::BadCacheRef { .. })
        ));
    }

    #[test]
    fn blob_names_are_not_trusted() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        for f in REQUIRED_FILES {
            std::fs::write(src.join(f), f).unwrap();
        }
        let cache = tmp.path().join("cache");
        let m = import(&src, "org/m", &cache).unwrap();
        let weights = m.dir.join("model.safetensors");
        let before = file_sha256(&weights).unwrap();
        assert_eq!(
            before.as_str(),
            ragops_core::sha256_hex(b"model.safetensors")
        );
        // Replace the blob's bytes under the same (hash) name.
        let blob = weights.canonicalize().unwrap();
        std::fs::write(&blob, "other weights").unwrap();
        assert_eq!(
            file_sha256(&weights).unwrap().as_str(),
            ragops_core::sha256_hex(b"other weights")
        );
    }

    #[test]
    fn a_local_directory_never_shadows_a_hub_id() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(
            resolve("org/absent", "main", tmp.path()),
            Err(HubError::ModelNotFound { .. })
        ));
        let local = tmp.path().join("models/m");
        std::fs::create_dir_all(&local).unwrap();
        for f in REQUIRED_FILES {
            std::fs::write(local.join(f), f).unwrap();
        }
        let m = resolve(local.to_str().unwrap(), "main", tmp.path()).unwrap();
        assert_eq!(m.revision, "local");
        assert!(Path::new(&m.id).is_absolute());
    }

    #[test]
    fn incomplete_directory_is_reported() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("config.json"), "{}").unwrap();
        let err = resolve(tmp.path().to_str().unwrap(), "main", tmp.path()).unwrap_err();
        assert!(err.to_string().contains("tokenizer.json"), "{err}");
    }
}
