//! The fast token spans against the real all-MiniLM-L6-v2 tokenizer (from the hf-hub cache,
//! provisioned by scripts/setup.sh): identical offsets on the fixture corpus, the shared
//! chunking-eval corpora and generated text mixing ASCII, accents, CJK, curly punctuation,
//! control characters and special-token look-alikes. Then token-sized chunks of those texts,
//! tokenised alone, never exceed the limit.

use std::path::{Path, PathBuf};

use ragops_chunk::{Chunker, TokenSpans};
use ragops_core::{ChunkStrategy, ChunkUnit, ChunkingConfig, Document, Format};
use tokenizers::Tokenizer;

fn tokenizer() -> Tokenizer {
    let files = ragops_hub::resolve(
        "sentence-transformers/all-MiniLM-L6-v2",
        "main",
        &ragops_hub::cache_root(),
    )
    .expect("the default model is in the hf-hub cache (run scripts/setup.sh)");
    let mut t = Tokenizer::from_file(files.dir.join("tokenizer.json")).expect("tokenizer.json");
    t.with_truncation(None).expect("no truncation");
    t.with_padding(None);
    t
}

fn texts_under(dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            texts_under(&p, out);
        } else if let Ok(text) = std::fs::read_to_string(&p) {
            out.push((p.display().to_string(), text));
        }
    }
}

/// Deterministic pseudo-random text from a pool of awkward pieces.
fn generated(seed: u64, pieces: usize) -> String {
    const POOL: &[&str] = &[
        "index",
        "Rebuild",
        "HTTPServer",
        "x86_64",
        "naïve",
        "Café",
        "ÀÉÎ",
        "straße",
        "İstanbul",
        "ﬁle",
        "戦場",
        "のヴァ",
        "中文",
        "한국어",
        "’",
        "“",
        "”",
        "—",
        "…",
        "‰",
        "⁄",
        "[SEP]",
        "[CLS]x",
        "[unk]",
        "##ing",
        "#",
        "(",
        ")",
        ".",
        ",",
        "e.g.",
        "3.14",
        "1–2",
        "\u{b}",
        "\u{0}",
        "\u{7f}",
        "\u{a0}",
        "\u{200b}",
        "\u{301}",
        "é",
        "😀",
        "\u{2028}",
        "—dash",
        "unbelievably",
        "antidisestablishmentarianism",
        "a",
        "I",
        "42",
    ];
    const SEPS: &[&str] = &[" ", " ", " ", "", "\n", "\n\n", "\t", "\r\n", "  "];
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let mut s = String::new();
    for _ in 0..pieces {
        s.push_str(POOL[next(POOL.len())]);
        s.push_str(SEPS[next(SEPS.len())]);
    }
    s
}

fn corpus() -> Vec<(String, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut texts = Vec::new();
    texts_under(&root.join("fixtures/corpus"), &mut texts);
    texts_under(
        &root.join("../shared/data/chunking-eval/corpora"),
        &mut texts,
    );
    for seed in 0..200 {
        texts.push((format!("generated #{seed}"), generated(seed, 300)));
    }
    texts
}

#[test]
fn fast_spans_equal_the_real_tokenizer() {
    let t = tokenizer();
    let spans = TokenSpans::new(&t);
    assert!(
        spans.is_fast(),
        "all-MiniLM-L6-v2 takes the fast WordPiece path"
    );
    let texts = corpus();
    assert!(texts.len() > 220, "fixtures and generated texts");
    let mut tokens = 0;
    for (name, text) in &texts {
        let real = t.encode(text.as_str(), false).expect("encode");
        assert_eq!(spans.spans(text), real.get_offsets(), "{name}");
        tokens += real.len();
    }
    assert!(tokens > 100_000, "{tokens} tokens compared");
}

#[test]
fn token_chunks_fit_when_tokenised_alone() {
    let t = tokenizer();
    for (size, overlap) in [(254, 0), (64, 16), (16, 8)] {
        let cfg = ChunkingConfig {
            strategy: ChunkStrategy::Markdown,
            unit: ChunkUnit::Tokens,
            size,
            overlap,
            fit_model: true,
        };
        let chunker = Chunker::new(&cfg, "h", Some(t.clone()), Some(256), None).expect("chunker");
        for (name, text) in corpus().iter().take(60) {
            let doc = Document {
                id: ragops_core::DocId::file(name),
                source_path: name.clone(),
                format: Format::Markdown,
                title: String::new(),
                sections: ragops_load::markdown_sections(text),
                text: text.clone(),
                pages: vec![],
                content_hash: ragops_core::Sha256::of(text.as_bytes()),
                size: text.len() as u64,
                mtime: None,
                metadata: Default::default(),
            };
            for c in chunker.chunk(&doc).expect("chunks") {
                let n = t.encode(c.text.as_str(), false).expect("encode").len();
                assert!(n <= size, "{name}: {n} > {size} tokens: {:?}", c.text);
                assert_eq!(&text[c.start_byte as usize..c.end_byte as usize], c.text);
            }
        }
    }
}
