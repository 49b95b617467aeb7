//! Runs the real all-MiniLM-L6-v2 (from the hf-hub cache, provisioned by scripts/setup.sh) and
//! checks every vector of ../shared/reference/all-MiniLM-L6-v2.jsonl (sentence-transformers
//! output: max_seq_length 256, mean pooling, normalised) at cosine > 0.9999, and token counts.

use std::path::PathBuf;

use ragops_embed::{Embedder, Pooling};
use ragops_hub::cache_root;

const MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

fn reference_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/all-MiniLM-L6-v2.jsonl")
}

struct Reference {
    text: String,
    n_tokens: u32,
    embedding: Vec<f32>,
}

fn load_reference() -> Vec<Reference> {
    let path = reference_file();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reference file {} is required: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("reference line is JSON");
            Reference {
                text: v["text"].as_str().expect("text").to_string(),
                n_tokens: v["n_tokens"].as_u64().expect("n_tokens") as u32,
                embedding: v["embedding"]
                    .as_array()
                    .expect("embedding")
                    .iter()
                    .map(|x| x.as_f64().expect("float") as f32)
                    .collect(),
            }
        })
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

fn real_model() -> Embedder {
    let files = ragops_hub::resolve(MODEL, "main", &cache_root()).unwrap_or_else(|e| {
        panic!("the real model is required for this test (run scripts/setup.sh): {e}")
    });
    Embedder::load(&files, None, ragops_core::Precision::F32).expect("model loads")
}

#[test]
fn real_model_matches_sentence_transformers_reference() {
    let refs = load_reference();
    assert!(refs.len() >= 20, "reference set too small: {}", refs.len());
    let model = real_model();
    let info = model.info();
    assert_eq!(info.dim, 384);
    assert_eq!(
        info.max_tokens, 256,
        "max length comes from sentence_bert_config.json, not tokenizer.json's 128"
    );
    assert_eq!(info.pooling, Pooling::Mean);
    assert!(info.normalize);

    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    // Batches of 8 mix lengths, so padding and masking are exercised.
    let out = model.embed(&texts, 8, |_| {}).expect("embedding succeeds");
    let mut worst = (1.0f32, String::new());
    for (r, (v, n)) in refs.iter().zip(out.vectors.iter().zip(&out.token_counts)) {
        assert_eq!(v.len(), r.embedding.len());
        let c = cosine(v, &r.embedding);
        if c < worst.0 {
            worst = (c, r.text.chars().take(40).collect());
        }
        assert!(
            c > 0.9999,
            "cosine {c} for {:?}",
            r.text.chars().take(60).collect::<String>()
        );
        assert_eq!(
            *n,
            r.n_tokens,
            "token count for {:?}",
            r.text.chars().take(60).collect::<String>()
        );
    }
    eprintln!(
        "{} reference vectors match; lowest cosine {:.6} ({:?})",
        refs.len(),
        worst.0,
        worst.1
    );
    assert!(
        out.truncated >= 1,
        "the long reference text is truncated at 256 tokens"
    );
}

/// Texts like the ones ragops embeds: paragraphs and ~1,000-character windows of the
/// chunking-eval corpora.
fn corpus_chunks() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/chunking-eval/corpora");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{} is required: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("corpus is UTF-8");
        out.extend(
            text.split("\n\n")
                .map(str::trim)
                .filter(|p| p.len() > 200)
                .take(30)
                .map(String::from),
        );
        let chars: Vec<char> = text.chars().collect();
        out.extend(
            chars
                .chunks(1000)
                .take(4)
                .map(|c| c.iter().collect::<String>()),
        );
    }
    out
}

/// (mean, min) cosine between two lists of vectors.
fn agreement(a: &[Vec<f32>], b: &[Vec<f32>]) -> (f32, f32) {
    let cos: Vec<f32> = a.iter().zip(b).map(|(x, y)| cosine(x, y)).collect();
    let mean = cos.iter().sum::<f32>() / cos.len() as f32;
    (mean, cos.iter().copied().fold(1.0, f32::min))
}

fn model_at(precision: ragops_core::Precision, isa: ragops_embed::linear::Isa) -> Embedder {
    let files = ragops_hub::resolve(MODEL, "main", &cache_root()).expect("model");
    Embedder::load_on(&files, None, precision, isa).expect("model loads")
}

/// Each low precision against sentence-transformers' f32 vectors and against ragops' f32 on
/// corpus chunks: the quality goals of the precision setting (mean cosine ≥ 0.995, minimum ≥
/// 0.98), on the CPU's best kernels.
#[test]
fn low_precisions_keep_the_vectors() {
    use ragops_core::Precision;
    let refs = load_reference();
    let ref_texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let want: Vec<Vec<f32>> = refs.iter().map(|r| r.embedding.clone()).collect();
    let chunks = corpus_chunks();
    assert!(chunks.len() >= 80, "{} corpus chunks", chunks.len());
    let chunk_texts: Vec<&str> = chunks.iter().map(String::as_str).collect();
    let f32_chunks = real_model()
        .embed(&chunk_texts, 32, |_| {})
        .unwrap()
        .vectors;
    for (precision, mean_goal, min_goal) in [
        (Precision::Bf16, 0.999, 0.995),
        (Precision::Int8, 0.995, 0.98),
    ] {
        let model = model_at(precision, ragops_embed::linear::Isa::detect());
        assert_eq!(model.info().precision, precision);
        let got = model.embed(&ref_texts, 8, |_| {}).unwrap().vectors;
        let (mean, min) = agreement(&got, &want);
        eprintln!("{precision} vs sentence-transformers: mean {mean:.5}, min {min:.5}");
        assert!(
            mean >= mean_goal && min >= min_goal,
            "{precision}: {mean} / {min}"
        );
        let got = model.embed(&chunk_texts, 32, |_| {}).unwrap().vectors;
        let (mean, min) = agreement(&got, &f32_chunks);
        eprintln!(
            "{precision} vs f32 on {} corpus chunks: mean {mean:.5}, min {min:.5}",
            chunks.len()
        );
        assert!(
            mean >= mean_goal && min >= min_goal,
            "{precision}: {mean} / {min}"
        );
    }
}

/// The fallback kernels (AVX2 without VNNI or BF16, and scalar) give the vectors of the best
/// kernels: int8 sums are exact integers everywhere, so only the f32 parts (attention,
/// normalisation) differ in rounding.
#[test]
fn fallback_kernels_agree_with_the_best_ones() {
    use ragops_core::Precision;
    use ragops_embed::linear::Isa;
    let refs = load_reference();
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let levels = Isa::supported();
    for precision in Precision::ALL {
        let best = model_at(precision, *levels.last().expect("a level"));
        let want = best.embed(&texts, 8, |_| {}).unwrap().vectors;
        for &isa in &levels[..levels.len() - 1] {
            let model = model_at(precision, isa);
            let kernel = model.kernel().expect("layers");
            assert_eq!(kernel.precision(), precision);
            let got = model.embed(&texts, 8, |_| {}).unwrap().vectors;
            let (mean, min) = agreement(&got, &want);
            eprintln!(
                "{} vs {:?}: mean {mean:.6}, min {min:.6}",
                kernel.name(),
                best.kernel()
            );
            assert!(min > 0.9995, "{}: min cosine {min}", kernel.name());
        }
    }
}
