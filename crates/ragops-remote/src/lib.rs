//! Object-storage I/O for ragops stores (`s3://bucket/prefix`, `gs://`, `az://`), through the
//! `object_store` crate: whole-object reads and writes, conditional writes (`If-None-Match: *`
//! to create, `If-Match: <etag>` to replace) for refs, plans and the lock lease, ranged GETs
//! fetched side by side into local files, server-side copies, listings and deletions.
//!
//! This crate knows keys, not the store's layout: the engine decides which keys hold what. It
//! runs its own small tokio runtime and offers blocking calls, so the synchronous engine can
//! use it from any thread that is not itself a tokio worker.
//!
//! Credentials and endpoints come from the environment as the object_store crate reads them
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
//! `AWS_ALLOW_HTTP`; `GOOGLE_SERVICE_ACCOUNT`...; `AZURE_STORAGE_ACCOUNT_NAME`...).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{
    ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion, WriteMultipart,
};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// Bytes per ranged GET and per multipart part.
const PART: u64 = 8 << 20;
/// Ranged GETs (or parts) in flight per file.
const PARALLEL: usize = 8;
/// How often a waiting lock taker retries.
const LOCK_POLL: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("`{url}` is not an object-store URL ({message}); use s3://bucket/prefix, gs://bucket/prefix or az://container/prefix")]
    Url { url: String, message: String },
    #[error("{url}: {source}")]
    ObjectStore {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{url}: {message}")]
    Invalid { url: String, message: String },
    #[error("the store {url} is locked by another writer ({holder}, lease until {until})")]
    Locked {
        url: String,
        holder: String,
        until: String,
    },
    #[error("{url}: downloaded bytes do not match the recorded size and SHA-256")]
    Checksum { url: String },
    #[error("cannot start the object-store runtime: {0}")]
    Runtime(std::io::Error),
}

/// Whether `s` names an object store (`s3://`, `gs://`, `az://`, `abfs://`...), not a path.
pub fn is_url(s: &str) -> bool {
    [
        "s3://", "s3a://", "gs://", "az://", "abfs://", "abfss://", "azure://",
    ]
    .iter()
    .any(|p| s.starts_with(p))
}

/// An object-store location: a bucket (or container) and a prefix under it.
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: Key,
    url: String,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({})", self.url)
    }
}

/// An object's bytes and the entity tag a conditional write can name.
#[derive(Debug, Clone)]
pub struct Versioned {
    pub bytes: Bytes,
    pub e_tag: Option<String>,
    pub version: Option<String>,
}

/// The outcome of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conditional {
    Written,
    /// `If-None-Match` found the object, or `If-Match` found another version.
    Conflict,
}

impl Remote {
    /// Opens `url`, with options from the `AWS_*`, `GOOGLE_*` and `AZURE_*` environment
    /// variables.
    pub fn open(url: &str) -> Result<Self, RemoteError> {
        let parsed = url::Url::parse(url).map_err(|e| RemoteError::Url {
            url: url.to_string(),
            message: e.to_string(),
        })?;
        let opts = std::env::vars().filter(|(k, _)| {
            k.starts_with("AWS_") || k.starts_with("GOOGLE_") || k.starts_with("AZURE_")
        });
        let (store, prefix) =
            object_store::parse_url_opts(&parsed, opts).map_err(|e| RemoteError::Url {
                url: url.to_string(),
                message: e.to_string(),
            })?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(RemoteError::Runtime)?;
        Ok(Self {
            store: Arc::from(store),
            prefix,
            url: url.trim_end_matches('/').to_string(),
            rt,
        })
    }

    /// The URL this was opened with (no trailing `/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn key(&self, rel: &str) -> Key {
        let mut k = self.prefix.clone();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            k = k.clone().join(part);
        }
        k
    }

    fn err(&self, rel: &str) -> impl FnOnce(object_store::Error) -> RemoteError + '_ {
        let url = format!("{}/{rel}", self.url);
        move |source| RemoteError::ObjectStore { url, source }
    }

    /// The object at `rel`, with its entity tag; `None` when there is none.
    pub fn get(&self, rel: &str) -> Result<Option<Versioned>, RemoteError> {
        let key = self.key(rel);
        self.rt.block_on(async {
            match self.store.get_opts(&key, Default::default()).await {
                Ok(r) => {
                    let (e_tag, version) = (r.meta.e_tag.clone(), r.meta.version.clone());
                    let bytes = r.bytes().await.map_err(self.err(rel))?;
                    Ok(Some(Versioned {
                        bytes,
                        e_tag,
                        version,
                    }))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.err(rel)(e)),
            }
        })
    }

    /// Size of the object at `rel`; `None` when there is none.
    pub fn head(&self, rel: &str) -> Result<Option<u64>, RemoteError> {
        let key = self.key(rel);
        self.rt.block_on(async {
            match self.store.head(&key).await {
                Ok(m) => Ok(Some(m.size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.err(rel)(e)),
            }
        })
    }

    /// Writes `bytes` at `rel` (replacing any object there).
    pub fn put(&self, rel: &str, bytes: impl Into<Bytes>) -> Result<(), RemoteError> {
        let key = self.key(rel);
        let payload = PutPayload::from_bytes(bytes.into());
        self.rt
            .block_on(self.store.put(&key, payload))
            .map(|_| ())
            .map_err(self.err(rel))
    }

    /// Writes `bytes` at `rel` only if no object is there (`If-None-Match: *`), or, with
    /// `expect`, only if the object there still has that entity tag (`If-Match`).
    pub fn put_conditional(
        &self,
        rel: &str,
        bytes: impl Into<Bytes>,
        expect: Option<&Versioned>,
    ) -> Result<Conditional, RemoteError> {
        let key = self.key(rel);
        let mode = match expect {
            None => PutMode::Create,
            Some(v) => PutMode::Update(UpdateVersion {
                e_tag: v.e_tag.clone(),
                version: v.version.clone(),
            }),
        };
        let opts = PutOptions {
            mode,
            ..Default::default()
        };
        let payload = PutPayload::from_bytes(bytes.into());
        match self.rt.block_on(self.store.put_opts(&key, payload, opts)) {
            Ok(_) => Ok(Conditional::Written),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(Conditional::Conflict),
            Err(e) => Err(self.err(rel)(e)),
        }
    }

    /// Uploads the local file `path` to `rel` (multipart above 8 MiB).
    pub fn upload(&self, path: &Path, rel: &str) -> Result<(), RemoteError> {
        let io = |source| RemoteError::Io {
            path: path.to_path_buf(),
            source,
        };
        let size = std::fs::metadata(path).map_err(io)?.len();
        let key = self.key(rel);
        if size <= PART {
            let bytes = std::fs::read(path).map_err(io)?;
            return self.put(rel, bytes);
        }
        self.rt.block_on(async {
            let upload = self
                .store
                .put_multipart(&key)
                .await
                .map_err(self.err(rel))?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, PART as usize);
            let mut file = std::fs::File::open(path).map_err(io)?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = std::io::Read::read(&mut file, &mut buf).map_err(io)?;
                if n == 0 {
                    break;
                }
                w.wait_for_capacity(PARALLEL).await.map_err(self.err(rel))?;
                w.write(&buf[..n]);
            }
            w.finish().await.map(|_| ()).map_err(self.err(rel))
        })
    }

    /// Downloads `rel` (`size` bytes) into the local file `path` with ranged GETs of 8 MiB,
    /// several in flight, through a temporary file renamed into place after fsync. With
    /// `sha256`, the bytes must hash to it (lower-case hex) or nothing is kept.
    pub fn download(
        &self,
        rel: &str,
        path: &Path,
        size: u64,
        sha256: Option<&str>,
    ) -> Result<(), RemoteError> {
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| RemoteError::Io { path: p, source }
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.part.{}", std::process::id()));
        let key = self.key(rel);
        let ranges: Vec<std::ops::Range<u64>> = (0..size.div_ceil(PART))
            .map(|i| i * PART..((i + 1) * PART).min(size))
            .collect();
        let written = self.rt.block_on(async {
            let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
            let mut hasher = sha2::Sha256::new();
            let mut parts = futures::stream::iter(ranges)
                .map(|r| {
                    let (store, key) = (self.store.clone(), key.clone());
                    async move { store.get_range(&key, r).await }
                })
                .buffered(PARALLEL);
            let mut total = 0u64;
            while let Some(part) = parts.try_next().await.map_err(self.err(rel))? {
                file.write_all(&part).map_err(io(&tmp))?;
                sha2::Digest::update(&mut hasher, &part);
                total += part.len() as u64;
            }
            file.sync_all().map_err(io(&tmp))?;
            Ok::<_, RemoteError>((total, hex::encode(sha2::Digest::finalize(hasher))))
        });
        let (total, digest) = match written {
            Ok(w) => w,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if total != size || sha256.is_some_and(|want| want != digest) {
            let _ = std::fs::remove_file(&tmp);
            return Err(RemoteError::Checksum {
                url: format!("{}/{rel}", self.url),
            });
        }
        std::fs::rename(&tmp, path).map_err(io(path))
    }

    /// Copies `from` to `to` inside the store (server-side).
    pub fn copy(&self, from: &str, to: &str) -> Result<(), RemoteError> {
        let (a, b) = (self.key(from), self.key(to));
        self.rt
            .block_on(self.store.copy(&a, &b))
            .map_err(self.err(from))
    }

    /// Every object under `rel` (a folder): paths relative to `rel`, and sizes.
    pub fn list(&self, rel: &str) -> Result<Vec<(String, u64)>, RemoteError> {
        let key = self.key(rel);
        let base = key.as_ref().to_string();
        let metas: Vec<object_store::ObjectMeta> = self
            .rt
            .block_on(self.store.list(Some(&key)).try_collect())
            .map_err(self.err(rel))?;
        let mut out: Vec<(String, u64)> = metas
            .into_iter()
            .filter_map(|m| {
                let full = m.location.as_ref().to_string();
                let r = full
                    .strip_prefix(&base)?
                    .trim_start_matches('/')
                    .to_string();
                (!r.is_empty()).then_some((r, m.size))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Deletes the object at `rel` (nothing there is not an error).
    pub fn delete(&self, rel: &str) -> Result<(), RemoteError> {
        let key = self.key(rel);
        match self.rt.block_on(self.store.delete(&key)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(rel)(e)),
        }
    }

    /// Deletes every object under `rel`.
    pub fn delete_all(&self, rel: &str) -> Result<usize, RemoteError> {
        let objects = self.list(rel)?;
        for (r, _) in &objects {
            self.delete(&format!("{}/{r}", rel.trim_end_matches('/')))?;
        }
        Ok(objects.len())
    }

    /// Takes the lock object `rel`: created if absent (`If-None-Match`), or taken over
    /// (`If-Match` on its entity tag) once its lease has expired, so a writer that died never
    /// blocks the store for longer than `ttl`. Waits up to `wait` for a live holder.
    pub fn lock(
        &self,
        rel: &str,
        holder: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<RemoteLock<'_>, RemoteError> {
        let started = Instant::now();
        let token = format!(
            "{holder} pid {} on {} at {}",
            std::process::id(),
            hostname(),
            unix_now()
        );
        loop {
            let lease = Lease {
                holder: token.clone(),
                expires_unix: unix_now() + ttl.as_secs(),
            };
            let body = serde_json::to_vec(&lease).unwrap_or_default();
            let existing = self.get(rel)?;
            let outcome = match &existing {
                None => self.put_conditional(rel, body, None)?,
                Some(v) => {
                    let held: Option<Lease> = serde_json::from_slice(&v.bytes).ok();
                    match held {
                        Some(l) if l.expires_unix > unix_now() => {
                            if started.elapsed() >= wait {
                                return Err(RemoteError::Locked {
                                    url: format!("{}/{rel}", self.url),
                                    holder: l.holder,
                                    until: humantime::format_rfc3339_seconds(
                                        UNIX_EPOCH + Duration::from_secs(l.expires_unix),
                                    )
                                    .to_string(),
                                });
                            }
                            std::thread::sleep(LOCK_POLL);
                            continue;
                        }
                        // Expired or unreadable: take it over, unless someone else does first.
                        _ => self.put_conditional(rel, body, Some(v))?,
                    }
                }
            };
            if outcome == Conditional::Written {
                return Ok(RemoteLock {
                    remote: self,
                    rel: rel.to_string(),
                    token,
                });
            }
        }
    }
}

/// The contents of a lock object.
#[derive(Debug, Serialize, Deserialize)]
struct Lease {
    holder: String,
    expires_unix: u64,
}

/// A held lock object; released (deleted, if still ours) on drop.
#[derive(Debug)]
pub struct RemoteLock<'a> {
    remote: &'a Remote,
    rel: String,
    token: String,
}

impl RemoteLock<'_> {
    /// Deletes the lock object if this holder still holds it.
    pub fn release(self) {}
}

impl Drop for RemoteLock<'_> {
    fn drop(&mut self) {
        if let Ok(Some(v)) = self.remote.get(&self.rel) {
            let ours =
                serde_json::from_slice::<Lease>(&v.bytes).is_ok_and(|l| l.holder == self.token);
            if ours {
                let _ = self.remote.delete(&self.rel);
            }
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown host".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths() {
        assert!(is_url("s3://bucket/prefix"));
        assert!(is_url("gs://b/p"));
        assert!(is_url("az://c/p"));
        assert!(!is_url("/var/lib/ragops"));
        assert!(!is_url("store"));
        assert!(!is_url("file:///tmp/x"));
    }

    #[test]
    fn a_bad_url_is_a_clear_error() {
        let e = Remote::open("s3://").expect_err("no bucket");
        assert!(e.to_string().contains("not an object-store URL"), "{e}");
    }
}
