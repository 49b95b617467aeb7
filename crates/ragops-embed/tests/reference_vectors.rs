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
