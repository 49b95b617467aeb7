//! The embed stage: each text is looked up in the embedding cache first; the misses are
//! embedded in slices (a text repeated within a slice once) and added to this build's cache
//! segment.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Mutex;
use std::time::Instant;

use ragops_core::{Chunk, ChunkMeta, ChunkRow, EmbedKey, Skipped};
use ragops_embed::Embedder;
use ragops_store::{
    cache_key, failpoint, CachedEmbedding, EmbeddingCache, SegmentWriter, SourceRecord,
};

use super::stream::Wave;
use crate::EngineError;

/// Chunks tokenised and embedded together (their encodings are held until embedded).
const EMBED_SLICE: usize = 512;

/// A wave with its vectors: rows ready for the chunk table.
pub(super) struct Embedded {
    pub files: usize,
    pub sources: Vec<SourceRecord>,
    /// Records kept by reference (see `Wave::kept`).
    pub kept: Vec<SourceRecord>,
    /// Records whose rows are copied (see `Wave::moved`).
    pub moved: Vec<SourceRecord>,
    pub rows: Vec<ChunkRow>,
    /// `rows.len() * dim` values, row-major.
    pub vectors: Vec<f32>,
    pub skipped: Vec<Skipped>,
    /// Embedded texts cut at the model's maximum length.
    pub truncated: u64,
}

/// One slice's cache keys and token counts (per text), and how many texts were cut.
struct Slice {
    keys: Vec<EmbedKey>,
    counts: Vec<u32>,
    truncated: u64,
}

/// The next `keys.len()` chunks as table rows with their keys and token counts. Takes
/// exactly that many chunks: a zip led by `chunks` would pull, and drop, one past the slice.
fn attach(
    chunks: &mut impl Iterator<Item = (Chunk, ChunkMeta)>,
    keys: Vec<EmbedKey>,
    counts: Vec<u32>,
) -> Vec<ChunkRow> {
    keys.into_iter()
        .zip(counts)
        .zip(chunks)
        .map(|((key, token_count), (chunk, meta))| ChunkRow {
            chunk,
            embed_key: Some(key),
            token_count,
            meta,
        })
        .collect()
}

/// What the embed stage counted.
#[derive(Debug, Default)]
pub(super) struct EmbedStats {
    pub secs: f64,
    pub cached: u64,
    pub computed: u64,
}

pub(super) struct EmbedStage<'a> {
    pub embedder: &'a Embedder,
    pub batch_size: usize,
    /// Where vectors are looked up first (`None` under `--full`).
    pub cache: Option<&'a EmbeddingCache>,
    /// Where computed vectors are added.
    pub segment: Mutex<SegmentWriter>,
}

impl EmbedStage<'_> {
    /// Embeds waves until the loader's queue closes; returns the time spent and the cache
    /// hits and misses.
    pub(super) fn run(
        &self,
        rx: Receiver<Wave>,
        tx: SyncSender<Embedded>,
    ) -> Result<EmbedStats, EngineError> {
        let mut stats = EmbedStats::default();
        for (i, wave) in rx.into_iter().enumerate() {
            let t = Instant::now();
            let embedded = self.wave(wave, &mut stats)?;
            stats.secs += t.elapsed().as_secs_f64();
            if tx.send(embedded).is_err() {
                break; // the writer stopped on an error of its own
            }
            if i == 0 {
                failpoint("after-embed");
            }
        }
        Ok(stats)
    }

    fn wave(&self, wave: Wave, stats: &mut EmbedStats) -> Result<Embedded, EngineError> {
        let dim = self.embedder.info().dim;
        let mut vectors = vec![0f32; wave.chunks.len() * dim];
        let mut rows = Vec::with_capacity(wave.chunks.len());
        let mut truncated = 0;
        let mut texts = wave.texts.into_iter();
        let mut chunks = wave.chunks.into_iter().zip(wave.metas);
        let mut base = 0;
        loop {
            let slice_texts: Vec<String> = texts.by_ref().take(EMBED_SLICE).collect();
            if slice_texts.is_empty() {
                break;
            }
            let out = &mut vectors[base * dim..(base + slice_texts.len()) * dim];
            let done = self.slice(&slice_texts, out, stats)?;
            truncated += done.truncated;
            rows.extend(attach(&mut chunks, done.keys, done.counts));
            base += slice_texts.len();
        }
        Ok(Embedded {
            files: wave.files,
            sources: wave.sources,
            kept: wave.kept,
            moved: wave.moved,
            rows,
            vectors,
            skipped: wave.skipped,
            truncated,
        })
    }

    /// Vectors of one slice of texts into `out`: cache hits copied, misses embedded and added
    /// to the segment.
    fn slice(
        &self,
        texts: &[String],
        out: &mut [f32],
        stats: &mut EmbedStats,
    ) -> Result<Slice, EngineError> {
        let dim = self.embedder.info().dim;
        let keys: Vec<EmbedKey> = texts.iter().map(|t| cache_key(t)).collect();
        let mut counts = vec![0u32; texts.len()];
        let mut truncated = 0u64;
        let mut missing = Vec::new();
        for (j, key) in keys.iter().enumerate() {
            match self.cache.and_then(|cache| cache.get(key)) {
                Some(hit) => {
                    counts[j] = hit.token_count;
                    truncated += u64::from(hit.truncated);
                    out[j * dim..(j + 1) * dim].copy_from_slice(&hit.vector);
                    stats.cached += 1;
                }
                None => missing.push(j),
            }
        }
        if missing.is_empty() {
            return Ok(Slice {
                keys,
                counts,
                truncated,
            });
        }
        // A text repeated within the slice (boilerplate, a repeated record or line) is embedded
        // once: `unique` holds each distinct text's first position, `slot` each miss's entry
        // in it.
        let mut first: HashMap<&EmbedKey, usize> = HashMap::new();
        let mut unique: Vec<usize> = Vec::new();
        let slot: Vec<usize> = missing
            .iter()
            .map(|&j| {
                let next = unique.len();
                *first.entry(&keys[j]).or_insert_with(|| {
                    unique.push(j);
                    next
                })
            })
            .collect();
        let refs: Vec<&str> = unique.iter().map(|&j| texts[j].as_str()).collect();
        let computed = self.embedder.embed(&refs, self.batch_size, |_| {})?;
        let mut segment = self
            .segment
            .lock()
            .map_err(|_| EngineError::WorkerPanicked("embedding"))?;
        for (u, &j) in unique.iter().enumerate() {
            let entry = CachedEmbedding {
                token_count: computed.token_counts[u],
                truncated: computed.was_truncated[u],
                vector: computed.vectors[u].clone(),
            };
            segment.add(&keys[j], &entry)?;
        }
        for (&j, &u) in missing.iter().zip(&slot) {
            counts[j] = computed.token_counts[u];
            truncated += u64::from(computed.was_truncated[u]);
            out[j * dim..(j + 1) * dim].copy_from_slice(&computed.vectors[u]);
        }
        stats.computed += unique.len() as u64;
        stats.cached += (missing.len() - unique.len()) as u64;
        Ok(Slice {
            keys,
            counts,
            truncated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_takes_exactly_the_slice_of_chunks() {
        let chunk = |ordinal: u32| Chunk {
            id: ragops_core::ChunkId::parse(&format!("{ordinal:032x}")).expect("id"),
            doc_id: ragops_core::DocId::file("a.md"),
            ordinal,
            text: format!("chunk {ordinal}"),
            start_byte: 0,
            end_byte: 0,
            start_char: 0,
            end_char: 0,
            heading_path: Vec::new(),
            page_start: None,
            page_end: None,
            title: String::new(),
            source_path: "a.md".into(),
            format: ragops_core::Format::Markdown,
            mtime: None,
        };
        let mut chunks = (0..5).map(|o| (chunk(o), ChunkMeta::default()));
        let key = |b: u8| -> EmbedKey { [b; 32] };
        let first = attach(&mut chunks, vec![key(1), key(2)], vec![10, 20]);
        let second = attach(&mut chunks, vec![key(3), key(4), key(5)], vec![30, 40, 50]);
        let ordinals: Vec<u32> = first
            .iter()
            .chain(&second)
            .map(|r| r.chunk.ordinal)
            .collect();
        assert_eq!(
            ordinals,
            vec![0, 1, 2, 3, 4],
            "no chunk lost between slices"
        );
        assert_eq!(second[0].token_count, 30);
        assert_eq!(second[0].embed_key, Some(key(3)));
        assert!(chunks.next().is_none());
    }
}
