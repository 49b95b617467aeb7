//! Criterion benches of the hot paths: `cargo bench --bench hot_paths`.
//!
//! - chunking: ragops' token-sized chunker, its token spans (fast WordPiece) and the Hugging Face
//!   tokenizer alone, on `state_of_the_union.md` from the chunking-eval corpora;
//! - embedding kernels: the fused bias + erf-GELU and the fused self-attention on tensors of a
//!   256-token batch of all-MiniLM-L6-v2's shape, and its four linear layers at every precision
//!   on a batch of 2,048 tokens (throughput in floating-point operations: `Gelem/s` = GFLOP/s);
//! - the encoder: one forward pass of the tiny random BERT (always available) and, when it is in
//!   the hf-hub cache, a batch of 8 × 256-token texts through all-MiniLM-L6-v2.
//!
//! Throughput is reported in bytes (chunking) or elements; figures are in benches/README.md.

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ragops_chunk::Chunker;
use ragops_core::{ChunkStrategy, ChunkUnit, ChunkingConfig, Document, Format};
use ragops_embed::attention::fused_attention;
use ragops_embed::kernels::{bias_act_, BiasAct};
use ragops_embed::linear::{Epilogue, Linear};
use ragops_embed::Embedder;
use ragops_hub as hub;

fn corpus() -> Option<Document> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/chunking-eval/corpora/state_of_the_union.md");
    let text = std::fs::read_to_string(&p).ok()?;
    let content_hash = ragops_core::Sha256::of(text.as_bytes());
    Some(Document {
        id: ragops_core::DocId::file("state_of_the_union.md"),
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
    })
}

fn model() -> Option<Embedder> {
    let files = hub::resolve(
        "sentence-transformers/all-MiniLM-L6-v2",
        "main",
        &hub::cache_root(),
    )
    .ok()?;
    Embedder::load(&files, None, ragops_core::Precision::F32).ok()
}

fn chunking(c: &mut Criterion) {
    let (Some(doc), Some(embedder)) = (corpus(), model()) else {
        eprintln!("chunking benches skipped: needs ../shared and the default model");
        return;
    };
    let tokenizer = embedder.sizing_tokenizer();
    let config = ChunkingConfig {
        strategy: ChunkStrategy::Markdown,
        unit: ChunkUnit::Tokens,
        size: 254,
        overlap: 0,
        fit_model: true,
    };
    let chunker =
        Chunker::new(&config, "bench", Some(tokenizer.clone()), Some(256), None).expect("chunker");
    let mut g = c.benchmark_group("chunking");
    g.throughput(Throughput::Bytes(doc.text.len() as u64));
    g.sample_size(20);
    g.bench_function("chunker_254_tokens", |b| {
        b.iter(|| chunker.chunk(&doc).expect("chunks").len())
    });
    let spans = ragops_chunk::TokenSpans::new(&tokenizer);
    g.bench_function("token_spans", |b| b.iter(|| spans.spans(&doc.text).len()));
    g.bench_function("tokenizer_only", |b| {
        b.iter(|| {
            tokenizer
                .encode(doc.text.as_str(), false)
                .expect("encode")
                .len()
        })
    });
    g.finish();
}

fn kernels(c: &mut Criterion) {
    let dev = Device::Cpu;
    let (batch, seq, inter, heads) = (8usize, 256usize, 1536usize, 12usize);
    let mut g = c.benchmark_group("kernels");
    let x = Tensor::randn(0f32, 1.0, (batch, seq, inter), &dev).expect("x");
    let bias = Tensor::randn(0f32, 1.0, inter, &dev).expect("bias");
    g.throughput(Throughput::Elements((batch * seq * inter) as u64));
    g.bench_function("bias_gelu_8x256x1536", |b| {
        b.iter(|| bias_act_(&x, &bias, BiasAct::GeluErf).expect("gelu"))
    });
    // all-MiniLM-L6-v2's attention: 12 heads of 32, Q, K and V side by side; throughput in
    // attention scores (sequence × head × query × key).
    let qkv = Tensor::randn(0f32, 1.0, (batch, seq, 3 * 384), &dev).expect("qkv");
    let valid = vec![seq; batch];
    g.throughput(Throughput::Elements((batch * heads * seq * seq) as u64));
    g.bench_function("attention_8x12x256", |b| {
        b.iter(|| fused_attention(&qkv, &valid, heads, 0.176_776_7).expect("attention"))
    });
    g.finish();

    // The encoder's linear layers (qkv, attention output, feed-forward in and out) on the
    // 2,048-token batches the embedder forms (`DEFAULT_MAX_BATCH_TOKENS`), no epilogue.
    let mut g = c.benchmark_group("linear");
    let m = 2048usize;
    for (n, k) in [(1152usize, 384usize), (384, 384), (1536, 384), (384, 1536)] {
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 1e-3)
            .collect();
        let x: Vec<f32> = (0..m * k)
            .map(|i| ((i * 104_729 % 1000) as f32 - 500.0) * 1e-3)
            .collect();
        g.throughput(Throughput::Elements((2 * m * n * k) as u64));
        for precision in ragops_core::Precision::ALL {
            let layer = Linear::new(&w, n, k, precision);
            let id = format!("{}_{m}x{n}x{k}", precision.as_str());
            g.bench_function(id, |b| b.iter(|| layer.forward_with(&x, m, Epilogue::None)));
        }
    }
    g.finish();
}

fn encoder(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("tiny");
    ragops_test_support::tiny_model::write_tiny_model(&dir, 1).expect("tiny model");
    let files = hub::resolve(dir.to_str().expect("utf-8"), "main", &hub::cache_root())
        .expect("resolve tiny");
    let tiny = Embedder::load(&files, None, ragops_core::Precision::F32).expect("tiny");
    let text = "the quick brown fox jumps over the lazy dog ".repeat(12);
    let texts: Vec<&str> = vec![text.as_str(); 8];
    let mut g = c.benchmark_group("encoder");
    g.sample_size(10);
    g.throughput(Throughput::Elements(texts.len() as u64));
    g.bench_with_input(BenchmarkId::new("tiny_bert", 8), &texts, |b, t| {
        b.iter(|| tiny.embed(t, 8, |_| {}).expect("embed").vectors.len())
    });
    if let Some(m) = model() {
        let long = "Retrieval indexes must stay fresh and reproducible. ".repeat(40);
        let texts: Vec<&str> = vec![long.as_str(); 8];
        g.bench_with_input(BenchmarkId::new("minilm_256_tokens", 8), &texts, |b, t| {
            b.iter(|| m.embed(t, 8, |_| {}).expect("embed").vectors.len())
        });
    }
    g.finish();
}

criterion_group!(benches, chunking, kernels, encoder);
criterion_main!(benches);
