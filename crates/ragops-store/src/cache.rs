//! The content-addressed embedding cache, shared by every snapshot of a store.
//!
//! ```text
//! cache/embeddings/<model key>/model.json        which model the entries belong to
//! cache/embeddings/<model key>/<segment>.seg     entries, written once, never modified
//! ```
//!
//! The model key hashes (model id, revision, weights SHA-256, max tokens); an entry's key is
//! the SHA-256 of the exact text that was embedded. So an entry answers "the vector of this
//! text under this model", whichever snapshot or chunking config produced it.
//!
//! A segment holds the entries one build computed:
//! `"RGEMB001"`, dim (u32 LE), 4 reserved bytes, then fixed-size records
//! `key[32] | token_count u32 | truncated u8 | 3 zero bytes | dim × f32 LE | check[8]`,
//! where `check` is the first 8 bytes of SHA-256 over everything before it in the record.
//! A segment is written under a temporary name, fsynced and renamed, so a killed build leaves
//! at most a temporary file (removed by the next writer). Every record is verified when it is
//! read: a torn or corrupt entry is reported as a miss and recomputed, never served.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ragops_core::{EmbedKey, ModelIdentity};
use sha2::{Digest, Sha256};

use crate::failpoint::failpoint;
use crate::fsutil::sync_dir;
use crate::{io, Store, StoreError, StoreLock};

const MAGIC: &[u8; 8] = b"RGEMB001";
const HEADER: u64 = 16;
pub(crate) const CACHE_DIR: &str = "cache/embeddings";
pub(crate) const SEGMENT_EXT: &str = "seg";
const TMP_PREFIX: &str = ".tmp-";

/// Key of a cache entry: SHA-256 of the embedded text.
type CacheKey = EmbedKey;

/// The cache key of a text: SHA-256 of its bytes.
pub fn cache_key(text: &str) -> EmbedKey {
    Sha256::digest(text.as_bytes()).into()
}

/// One cached embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedEmbedding {
    pub token_count: u32,
    pub truncated: bool,
    pub vector: Vec<f32>,
}

fn record_len(dim: usize) -> u64 {
    32 + 4 + 4 + dim as u64 * 4 + 8
}

fn encode(key: &CacheKey, e: &CachedEmbedding, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(key);
    out.extend_from_slice(&e.token_count.to_le_bytes());
    out.extend_from_slice(&[e.truncated as u8, 0, 0, 0]);
    for v in &e.vector {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let check = Sha256::digest(&out[start..]);
    out.extend_from_slice(&check[..8]);
}

/// Decodes and verifies a record; `None` when it is torn or corrupt.
fn decode(rec: &[u8], dim: usize, want: &CacheKey) -> Option<CachedEmbedding> {
    let body = rec.len().checked_sub(8)?;
    if rec.len() as u64 != record_len(dim) || &rec[..32] != want {
        return None;
    }
    if Sha256::digest(&rec[..body])[..8] != rec[body..] {
        return None;
    }
    let token_count = u32::from_le_bytes(rec[32..36].try_into().ok()?);
    let truncated = rec[36] != 0;
    let vector = rec[40..body]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Some(CachedEmbedding {
        token_count,
        truncated,
        vector,
    })
}

struct Segment {
    path: PathBuf,
    file: File,
}

/// Statistics of cache use during one build.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Entries found torn or corrupt (and recomputed).
    pub torn: AtomicU64,
}

/// The entries of one model, opened for lookups and for adding a segment.
pub struct EmbeddingCache {
    dir: PathBuf,
    dim: usize,
    segments: Vec<Segment>,
    index: HashMap<CacheKey, (u32, u64)>,
    pub stats: CacheStats,
}

/// Largest vector dimension a segment header may declare. Anything above is a corrupt header,
/// never an allocation: embedding models stay far below it.
const MAX_DIM: usize = 1 << 16;

/// Reads a segment header: its dimension, or `None` when the header is bad.
fn read_header(file: &mut impl Read) -> Option<usize> {
    let mut h = [0u8; HEADER as usize];
    file.read_exact(&mut h).ok()?;
    if &h[..8] != MAGIC {
        return None;
    }
    let dim = u32::from_le_bytes(h[8..12].try_into().ok()?) as usize;
    (1..=MAX_DIM).contains(&dim).then_some(dim)
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.extension().is_some_and(|e| e == SEGMENT_EXT)
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with(TMP_PREFIX))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Reads the keys of a segment: `(key, offset)` per whole record. A segment with a bad
/// header or of another dimension yields nothing (its entries are recomputed).
fn segment_keys(path: &Path, dim: usize) -> Result<Vec<(CacheKey, u64)>, StoreError> {
    let file = File::open(path).map_err(io(path))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    if read_header(&mut r) != Some(dim) {
        return Ok(Vec::new());
    }
    let len = record_len(dim);
    let mut rec = vec![0u8; len as usize];
    let mut out = Vec::new();
    let mut offset = HEADER;
    while r.read_exact(&mut rec).is_ok() {
        let mut key = [0u8; 32];
        key.copy_from_slice(&rec[..32]);
        out.push((key, offset));
        offset += len;
    }
    Ok(out)
}

impl EmbeddingCache {
    /// Opens (creating) the cache of one model and indexes its segments. Removes temporary
    /// segments a killed build left behind, which is why it needs the writer lock.
    pub fn open(
        store: &Store,
        _lock: &StoreLock,
        model: &ModelIdentity,
    ) -> Result<Self, StoreError> {
        Self::open_inner(store, model, true)
    }

    /// Opens the cache of one model for reading alongside other writers (the shards of a
    /// sharded build): temporary segments are left alone, since another shard may be writing
    /// one; a shard's own segment goes to its staging directory.
    pub fn open_shared(store: &Store, model: &ModelIdentity) -> Result<Self, StoreError> {
        Self::open_inner(store, model, false)
    }

    fn open_inner(store: &Store, model: &ModelIdentity, clean: bool) -> Result<Self, StoreError> {
        let dim = model.dim;
        let dir = store.root().join(CACHE_DIR).join(model.cache_key());
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let info = dir.join("model.json");
        if !info.is_file() {
            let json = serde_json::to_string(model).unwrap_or_default();
            std::fs::write(&info, json).map_err(io(&info))?;
        }
        for e in std::fs::read_dir(&dir).map_err(io(&dir))?.flatten() {
            if clean && e.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let mut segments = Vec::new();
        let mut index = HashMap::new();
        for path in segment_files(&dir) {
            let keys = segment_keys(&path, dim)?;
            let file = File::open(&path).map_err(io(&path))?;
            let seg = segments.len() as u32;
            for (k, off) in keys {
                index.entry(k).or_insert((seg, off));
            }
            segments.push(Segment { path, file });
        }
        Ok(Self {
            dir,
            dim,
            segments,
            index,
            stats: CacheStats::default(),
        })
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Looks an entry up and verifies it; a torn entry counts in `stats.torn` and is a miss.
    pub fn get(&self, key: &CacheKey) -> Option<CachedEmbedding> {
        let found = self.index.get(key).and_then(|&(seg, off)| {
            let s = &self.segments[seg as usize];
            let mut rec = vec![0u8; record_len(self.dim) as usize];
            let got = s
                .file
                .read_exact_at(&mut rec, off)
                .ok()
                .and_then(|_| decode(&rec, self.dim, key));
            if got.is_none() {
                self.stats.torn.fetch_add(1, Ordering::Relaxed);
            }
            got
        });
        let counter = if found.is_some() {
            &self.stats.hits
        } else {
            &self.stats.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Starts a segment for the entries this build computes.
    pub fn segment_writer(&self, name: &str) -> Result<SegmentWriter, StoreError> {
        SegmentWriter::create(&self.dir, name, self.dim)
    }

    /// Starts a segment in another directory (a shard's staging directory), from where it is
    /// later moved into this cache.
    pub(crate) fn segment_writer_in(
        &self,
        dir: &Path,
        name: &str,
    ) -> Result<SegmentWriter, StoreError> {
        SegmentWriter::create(dir, name, self.dim)
    }

    /// Path of a segment file (for tests that damage one).
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.segments.iter().map(|s| s.path.clone()).collect()
    }
}

/// Writes one segment: temporary file, then fsync and rename on [`SegmentWriter::commit`].
pub struct SegmentWriter {
    tmp: PathBuf,
    path: PathBuf,
    out: Option<BufWriter<File>>,
    dim: usize,
    buf: Vec<u8>,
    seen: HashSet<CacheKey>,
    entries: u64,
}

impl SegmentWriter {
    fn create(dir: &Path, name: &str, dim: usize) -> Result<Self, StoreError> {
        let tmp = dir.join(format!("{TMP_PREFIX}{name}.{SEGMENT_EXT}"));
        let path = dir.join(format!("{name}.{SEGMENT_EXT}"));
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&(dim as u32).to_le_bytes());
        header.extend_from_slice(&[0; 4]);
        out.write_all(&header).map_err(io(&tmp))?;
        Ok(Self {
            tmp,
            path,
            out: Some(out),
            dim,
            buf: Vec::new(),
            seen: HashSet::new(),
            entries: 0,
        })
    }

    /// Appends an entry (once per key).
    pub fn add(&mut self, key: &CacheKey, e: &CachedEmbedding) -> Result<(), StoreError> {
        if e.vector.len() != self.dim || !self.seen.insert(*key) {
            return Ok(());
        }
        self.buf.clear();
        encode(key, e, &mut self.buf);
        if let Some(out) = self.out.as_mut() {
            out.write_all(&self.buf).map_err(io(&self.tmp))?;
        }
        self.entries += 1;
        Ok(())
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Makes the segment durable and visible; an empty segment is simply removed.
    pub fn commit(mut self) -> Result<u64, StoreError> {
        let Some(out) = self.out.take() else {
            return Ok(0);
        };
        if self.entries == 0 {
            drop(out);
            let _ = std::fs::remove_file(&self.tmp);
            return Ok(0);
        }
        let file = out
            .into_inner()
            .map_err(|e| io(&self.tmp)(e.into_error()))?;
        file.sync_all().map_err(io(&self.tmp))?;
        failpoint("before-cache-commit");
        std::fs::rename(&self.tmp, &self.path).map_err(io(&self.path))?;
        if let Some(dir) = self.path.parent() {
            sync_dir(dir)?;
        }
        Ok(self.entries)
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// What garbage collection did (or would do) to the cache.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct CacheGcReport {
    pub segments_deleted: u64,
    pub segments_rewritten: u64,
    pub entries_kept: u64,
    pub entries_dropped: u64,
    pub bytes_reclaimed: u64,
}

/// Drops cache entries no kept snapshot uses. `used` maps a model key to the entry keys kept
/// snapshots reference; `None` means "keep everything" (a kept snapshot predates entry keys).
/// A segment whose entries are all unused is deleted; a partly used one is rewritten with the
/// used entries (new segment committed before the old one is removed, so a kill at any point
/// leaves every used entry readable).
///
/// `lock: None` is a dry run: it reports what would be dropped and writes nothing (deleting
/// or rewriting needs the writer lock).
pub fn gc_cache(
    store: &Store,
    lock: Option<&StoreLock>,
    used: &BTreeMap<String, HashSet<EmbedKey>>,
) -> Result<CacheGcReport, StoreError> {
    let dry_run = lock.is_none();
    let mut report = CacheGcReport::default();
    let root = store.root().join(CACHE_DIR);
    let Ok(rd) = std::fs::read_dir(&root) else {
        return Ok(report);
    };
    let mut model_dirs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    model_dirs.sort();
    let empty = HashSet::new();
    for dir in model_dirs.into_iter().filter(|d| d.is_dir()) {
        let key = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let keep = used.get(&key).unwrap_or(&empty);
        for path in segment_files(&dir) {
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let mut f = File::open(&path).map_err(io(&path))?;
            let Some(dim) = read_header(&mut f) else {
                report.segments_deleted += 1;
                report.bytes_reclaimed += size;
                if !dry_run {
                    std::fs::remove_file(&path).map_err(io(&path))?;
                }
                continue;
            };
            let keys = segment_keys(&path, dim)?;
            let kept: Vec<&(CacheKey, u64)> =
                keys.iter().filter(|(k, _)| keep.contains(k)).collect();
            report.entries_kept += kept.len() as u64;
            report.entries_dropped += (keys.len() - kept.len()) as u64;
            if kept.len() == keys.len() && size == HEADER + keys.len() as u64 * record_len(dim) {
                continue;
            }
            let new_size = if kept.is_empty() {
                0
            } else {
                HEADER + kept.len() as u64 * record_len(dim)
            };
            report.bytes_reclaimed += size.saturating_sub(new_size);
            if kept.is_empty() {
                report.segments_deleted += 1;
            } else {
                report.segments_rewritten += 1;
            }
            if dry_run {
                continue;
            }
            if !kept.is_empty() {
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mut w = SegmentWriter::create(&dir, &format!("{stem}-gc"), dim)?;
                let mut rec = vec![0u8; record_len(dim) as usize];
                for (k, off) in kept {
                    f.read_exact_at(&mut rec, *off).map_err(io(&path))?;
                    // Torn entries are dropped here rather than copied.
                    if let Some(e) = decode(&rec, dim, k) {
                        w.add(k, &e)?;
                    }
                }
                w.commit()?;
                failpoint("gc-after-rewrite");
            }
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
        if !dry_run && segment_files(&dir).is_empty() && !used.contains_key(&key) {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    fn model() -> ModelIdentity {
        ModelIdentity {
            id: "m".into(),
            revision: "r".into(),
            weights_sha256: ragops_core::Sha256::of(b"w"),
            dim: 3,
            max_tokens: 8,
            pooling: ragops_core::Pooling::Mean,
            normalize: true,
            precision: ragops_core::Precision::F32,
        }
    }

    fn entry(x: f32) -> CachedEmbedding {
        CachedEmbedding {
            token_count: 5,
            truncated: x > 1.0,
            vector: vec![x, -x, 0.5],
        }
    }

    #[test]
    fn entries_round_trip_and_torn_entries_are_misses() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let lock = store.lock("t").unwrap();
        let c = EmbeddingCache::open(&store, &lock, &model()).unwrap();
        assert!(c.is_empty());
        let mut w = c.segment_writer("s1").unwrap();
        w.add(&cache_key("a"), &entry(1.0)).unwrap();
        w.add(&cache_key("b"), &entry(2.0)).unwrap();
        w.add(&cache_key("a"), &entry(9.0)).unwrap();
        assert_eq!(w.commit().unwrap(), 2, "one entry per key");
        let c = EmbeddingCache::open(&store, &lock, &model()).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&cache_key("a")), Some(entry(1.0)));
        assert_eq!(c.get(&cache_key("b")), Some(entry(2.0)));
        assert_eq!(c.get(&cache_key("c")), None);
        // Flip one byte of b's vector: its check no longer matches.
        let seg = &c.segment_paths()[0];
        let mut bytes = std::fs::read(seg).unwrap();
        let off = (HEADER + record_len(3) + 44) as usize;
        bytes[off] ^= 0xff;
        std::fs::write(seg, &bytes).unwrap();
        let c = EmbeddingCache::open(&store, &lock, &model()).unwrap();
        assert_eq!(
            c.get(&cache_key("b")),
            None,
            "a corrupt entry is never served"
        );
        assert_eq!(c.stats.torn.load(Ordering::Relaxed), 1);
        assert_eq!(c.get(&cache_key("a")), Some(entry(1.0)));
        // A truncated segment keeps its whole records only.
        std::fs::write(seg, &bytes[..bytes.len() - 10]).unwrap();
        let c = EmbeddingCache::open(&store, &lock, &model()).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(&cache_key("a")), Some(entry(1.0)));
    }

    #[test]
    fn uncommitted_segments_are_invisible_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let lock = store.lock("t").unwrap();
        let c = EmbeddingCache::open(&store, &lock, &model()).unwrap();
        let mut w = c.segment_writer("s1").unwrap();
        w.add(&cache_key("a"), &entry(1.0)).unwrap();
        std::mem::forget(w); // as if killed: the temporary file stays
        let c = EmbeddingCache::open(&store, &lock, &model()).unwrap();
        assert!(c.is_empty());
        let left: Vec<_> = std::fs::read_dir(c.dir()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "only model.json remains: {left:?}");
    }

    #[test]
    fn a_corrupt_header_dimension_is_a_bad_segment_not_an_allocation() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let lock = store.lock("t").unwrap();
        let dir = tmp.path().join(CACHE_DIR).join("k");
        std::fs::create_dir_all(&dir).unwrap();
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&[0xff; 4]);
        header.extend_from_slice(&[0; 4]);
        header.extend_from_slice(&[7u8; 100]);
        std::fs::write(dir.join("x.seg"), &header).unwrap();
        assert_eq!(read_header(&mut &header[..]), None);
        let r = gc_cache(&store, Some(&lock), &BTreeMap::new()).unwrap();
        assert_eq!(r.segments_deleted, 1);
        assert!(!dir.join("x.seg").exists());
    }

    #[test]
    fn gc_keeps_used_entries_and_reports_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::create(tmp.path()).unwrap();
        let lock = store.lock("t").unwrap();
        let c = EmbeddingCache::open(&store, &lock, &model()).unwrap();
        let mut w = c.segment_writer("s1").unwrap();
        for t in ["a", "b", "c"] {
            w.add(&cache_key(t), &entry(1.0)).unwrap();
        }
        w.commit().unwrap();
        let mut w = c.segment_writer("s2").unwrap();
        w.add(&cache_key("d"), &entry(1.0)).unwrap();
        w.commit().unwrap();
        let used: BTreeMap<String, HashSet<EmbedKey>> =
            [(model().cache_key(), [cache_key("b")].into_iter().collect())].into();
        let dry = gc_cache(&store, None, &used).unwrap();
        assert_eq!(dry.entries_dropped, 3);
        assert_eq!(dry.bytes_reclaimed, 3 * record_len(3) + HEADER);
        let c = EmbeddingCache::open(&store, &lock, &model()).unwrap();
        assert_eq!(c.len(), 4, "a dry run deletes nothing");
        let real = gc_cache(&store, Some(&lock), &used).unwrap();
        assert_eq!(real.bytes_reclaimed, dry.bytes_reclaimed);
        assert_eq!((real.segments_deleted, real.segments_rewritten), (1, 1));
        let c = EmbeddingCache::open(&store, &lock, &model()).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(&cache_key("b")), Some(entry(1.0)));
        let on_disk: u64 = c
            .segment_paths()
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        assert_eq!(on_disk, HEADER + record_len(3));
        // A model no kept snapshot uses loses its whole directory.
        let none = BTreeMap::new();
        gc_cache(&store, Some(&lock), &none).unwrap();
        assert!(!tmp
            .path()
            .join(CACHE_DIR)
            .join(model().cache_key())
            .exists());
    }
}
