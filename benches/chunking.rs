//! Token-sized chunking throughput: `cargo bench --bench chunking`.
//!
//! Chunks the shared chunking-eval corpora (../shared/data/chunking-eval/corpora) into chunks of
//! at most 254 model tokens (256 with [CLS]/[SEP]) on one thread, with text-splitter's own
//! tokenizer sizer (re-tokenises every candidate) and with ragops' chunker (fast WordPiece spans
//! once per document, then the token splitter). Prints MB/s, checks that ragops' token spans equal
//! the real tokenizer's offsets on every document and that no chunk exceeds the limit when
//! tokenised alone. Needs the default model (scripts/setup.sh).

use std::time::Instant;

use ragops_chunk::Chunker;
use ragops_core::{ChunkStrategy, ChunkUnit, ChunkingConfig, Document, Format};
use text_splitter::{ChunkConfig, MarkdownSplitter};

const LIMIT: usize = 254;

fn main() -> anyhow::Result<()> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()?;
    let files = ragops_hub::resolve(
        "sentence-transformers/all-MiniLM-L6-v2",
        "main",
        &ragops_hub::cache_root(),
    )?;
    let mut tokenizer = tokenizers::Tokenizer::from_file(files.dir.join("tokenizer.json"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tokenizer
        .with_truncation(None)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tokenizer.with_padding(None);
    let docs = corpus()?;
    let bytes: usize = docs.iter().map(|d| d.text.len()).sum();
    println!(
        "corpus: {} documents, {:.2} MB; chunks of at most {LIMIT} tokens; 1 thread",
        docs.len(),
        bytes as f64 / 1e6
    );
    baselines(&tokenizer, &docs, bytes)?;
    ragops_chunker(&tokenizer, &docs, bytes)
}

/// The Markdown documents of the chunking-eval corpora, by name.
fn corpus() -> anyhow::Result<Vec<Document>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/chunking-eval/corpora");
    let mut docs = Vec::new();
    for e in std::fs::read_dir(&dir)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "md") {
            let text = std::fs::read_to_string(&p)?;
            let content_hash = ragops_core::Sha256::of(text.as_bytes());
            docs.push(Document {
                id: ragops_core::DocId::file(
                    &p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                ),
                source_path: p.display().to_string(),
                format: Format::Markdown,
                title: String::new(),
                sections: ragops_load::markdown_sections(&text),
                text,
                pages: vec![],
                content_hash,
                size: 0,
                mtime: None,
                metadata: Default::default(),
            });
        }
    }
    docs.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(docs)
}

/// The tokenizer alone, ragops' token spans (checked against it) and text-splitter.
fn baselines(
    tokenizer: &tokenizers::Tokenizer,
    docs: &[Document],
    bytes: usize,
) -> anyhow::Result<()> {
    // Tokenising alone (offsets included): the floor for any exact token-sized chunker.
    let t = Instant::now();
    for d in docs {
        let _ = tokenizer
            .encode(d.text.as_str(), false)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    println!(
        "tokenizer alone (with offsets):   {:>8.2} MB/s",
        bytes as f64 / 1e6 / t.elapsed().as_secs_f64()
    );
    // ragops' token spans (fast WordPiece), checked against the real tokenizer's offsets.
    let spans = ragops_chunk::TokenSpans::new(tokenizer);
    anyhow::ensure!(
        spans.is_fast(),
        "the default model's tokenizer should take the fast path"
    );
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        for d in docs {
            std::hint::black_box(spans.spans(&d.text));
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "ragops token spans (fast WordPiece): {:>5.2} MB/s  (best of 3)",
        bytes as f64 / 1e6 / best
    );
    for d in docs {
        let real: Vec<(usize, usize)> = tokenizer
            .encode(d.text.as_str(), false)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .get_offsets()
            .to_vec();
        anyhow::ensure!(spans.spans(&d.text) == real, "spans differ on {}", d.id);
    }
    println!("check: token spans equal the tokenizer's offsets on every document");
    let chars_cfg = ChunkingConfig {
        strategy: ChunkStrategy::Markdown,
        unit: ChunkUnit::Chars,
        size: 1000,
        overlap: 0,
        fit_model: true,
    };
    let by_chars = Chunker::new(&chars_cfg, "bench", None, None, None)?;
    let t = Instant::now();
    for d in docs {
        by_chars.chunk(d)?;
    }
    println!(
        "text-splitter, 1000 characters:   {:>8.2} MB/s",
        bytes as f64 / 1e6 / t.elapsed().as_secs_f64()
    );

    // text-splitter with the tokenizer as sizer, on the first document only (it is slow).
    let first = &docs[0];
    let cfg = ChunkConfig::new(LIMIT).with_sizer(tokenizer);
    let t = Instant::now();
    let n = MarkdownSplitter::new(cfg).chunks(&first.text).count();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "text-splitter + tokenizer sizer: {:>8.2} MB/s  ({n} chunks from {}, {:.2} MB)",
        first.text.len() as f64 / 1e6 / secs,
        first.id,
        first.text.len() as f64 / 1e6
    );
    Ok(())
}

/// ragops' token-sized chunker: throughput, and no chunk over the limit.
fn ragops_chunker(
    tokenizer: &tokenizers::Tokenizer,
    docs: &[Document],
    bytes: usize,
) -> anyhow::Result<()> {
    let config = ChunkingConfig {
        strategy: ChunkStrategy::Markdown,
        unit: ChunkUnit::Tokens,
        size: LIMIT,
        overlap: 0,
        fit_model: true,
    };
    let chunker = Chunker::new(
        &config,
        "bench",
        Some(tokenizer.clone()),
        Some(LIMIT + 2),
        None,
    )?;
    let mut best = f64::MAX;
    let mut chunks = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        chunks = docs
            .iter()
            .map(|d| chunker.chunk(d))
            .collect::<Result<Vec<_>, _>>()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    let all: Vec<_> = chunks.into_iter().flatten().collect();
    println!(
        "ragops chunker (token splitter):  {:>8.2} MB/s  ({} chunks, best of 3)",
        bytes as f64 / 1e6 / best,
        all.len()
    );
    let over = all
        .iter()
        .filter(|c| {
            tokenizer
                .encode(c.text.as_str(), false)
                .map(|e| e.get_ids().len())
                .unwrap_or(0)
                > LIMIT
        })
        .count();
    let mean: f64 = all
        .iter()
        .map(|c| {
            tokenizer
                .encode(c.text.as_str(), false)
                .map(|e| e.get_ids().len())
                .unwrap_or(0) as f64
        })
        .sum::<f64>()
        / all.len().max(1) as f64;
    println!("check: {over} chunks over {LIMIT} tokens; mean {mean:.1} tokens per chunk");
    anyhow::ensure!(over == 0, "chunks over the limit");
    Ok(())
}
