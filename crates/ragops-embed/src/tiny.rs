//! A tiny, randomly initialised BERT (hidden 32, 2 layers) with a self-contained WordPiece
//! tokenizer, written to a directory in the same layout as a real model. Tests use it to run the
//! real embedding code path in milliseconds; its vectors carry no meaning.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{Device, Tensor};
use serde_json::json;

use crate::{io_err, EmbedError};

pub const TINY_HIDDEN: usize = 32;
const LAYERS: usize = 2;
const HEADS: usize = 2;
const INTERMEDIATE: usize = 64;
const MAX_POSITIONS: usize = 128;

const WORDS: &[&str] = &[
    "the",
    "a",
    "an",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "for",
    "is",
    "are",
    "was",
    "be",
    "with",
    "index",
    "search",
    "query",
    "snapshot",
    "rebuild",
    "rollback",
    "shard",
    "latency",
    "backup",
    "restore",
    "model",
    "embedding",
    "chunk",
    "document",
    "token",
    "key",
    "api",
    "alert",
    "page",
];

/// Vocabulary: specials, single characters, `##` continuations and a few whole words.
fn vocab() -> BTreeMap<String, u32> {
    let mut tokens: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let chars: Vec<char> = ('!'..='~').filter(|c| !c.is_ascii_uppercase()).collect();
    tokens.extend(chars.iter().map(|c| c.to_string()));
    tokens.extend(chars.iter().map(|c| format!("##{c}")));
    tokens.extend(WORDS.iter().map(|w| w.to_string()));
    // Ids must be dense: drop repeats ("a" is a character and a word).
    let mut vocab = BTreeMap::new();
    for t in tokens {
        let next = vocab.len() as u32;
        vocab.entry(t).or_insert(next);
    }
    vocab
}

fn tokenizer_json(vocab: &BTreeMap<String, u32>) -> serde_json::Value {
    let special = |id: u32, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(0, "[PAD]"), special(1, "[UNK]"), special(2, "[CLS]"),
                         special(3, "[SEP]"), special(4, "[MASK]")],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}
            }
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    })
}

/// SplitMix64: deterministic weights without an RNG dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next_f32(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // Uniform in [-0.1, 0.1).
        ((z >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
    }
}

/// Writes `config.json`, `tokenizer.json`, `model.safetensors` and the sentence-transformers
/// files (mean pooling, normalisation, max length 128) into `dir`.
pub fn write_tiny_model(dir: &Path, seed: u64) -> Result<(), EmbedError> {
    std::fs::create_dir_all(dir.join("1_Pooling")).map_err(|e| io_err(dir, e))?;
    let vocab = vocab();
    let vocab_size = vocab.len();
    let config = json!({
        "architectures": ["BertModel"], "model_type": "bert",
        "vocab_size": vocab_size, "hidden_size": TINY_HIDDEN, "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS, "intermediate_size": INTERMEDIATE, "hidden_act": "gelu",
        "max_position_embeddings": MAX_POSITIONS, "type_vocab_size": 2,
        "layer_norm_eps": 1e-12, "pad_token_id": 0
    });
    let files: Vec<(&str, serde_json::Value)> = vec![
        ("config.json", config),
        ("tokenizer.json", tokenizer_json(&vocab)),
        (
            "sentence_bert_config.json",
            json!({"max_seq_length": MAX_POSITIONS, "do_lower_case": false}),
        ),
        (
            "modules.json",
            json!([
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
            ]),
        ),
        (
            "1_Pooling/config.json",
            json!({"word_embedding_dimension": TINY_HIDDEN,
            "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true}),
        ),
    ];
    for (name, value) in files {
        let path = dir.join(name);
        std::fs::write(&path, value.to_string()).map_err(|e| io_err(&path, e))?;
    }
    let mut rng = SplitMix(seed);
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    let mut add = |name: String, shape: &[usize], fill: Option<f32>| -> Result<(), EmbedError> {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = match fill {
            Some(v) => vec![v; n],
            None => (0..n).map(|_| rng.next_f32()).collect(),
        };
        tensors.insert(name, Tensor::from_vec(data, shape, &Device::Cpu)?);
        Ok(())
    };
    let h = TINY_HIDDEN;
    add(
        "embeddings.word_embeddings.weight".into(),
        &[vocab_size, h],
        None,
    )?;
    add(
        "embeddings.position_embeddings.weight".into(),
        &[MAX_POSITIONS, h],
        None,
    )?;
    add(
        "embeddings.token_type_embeddings.weight".into(),
        &[2, h],
        None,
    )?;
    add("embeddings.LayerNorm.weight".into(), &[h], Some(1.0))?;
    add("embeddings.LayerNorm.bias".into(), &[h], Some(0.0))?;
    for i in 0..LAYERS {
        let p = format!("encoder.layer.{i}");
        for (name, out, inp) in [
            ("attention.self.query", h, h),
            ("attention.self.key", h, h),
            ("attention.self.value", h, h),
            ("attention.output.dense", h, h),
            ("intermediate.dense", INTERMEDIATE, h),
            ("output.dense", h, INTERMEDIATE),
        ] {
            add(format!("{p}.{name}.weight"), &[out, inp], None)?;
            add(format!("{p}.{name}.bias"), &[out], None)?;
        }
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
            add(format!("{p}.{norm}.weight"), &[h], Some(1.0))?;
            add(format!("{p}.{norm}.bias"), &[h], Some(0.0))?;
        }
    }
    let path = dir.join("model.safetensors");
    candle_core::safetensors::save(&tensors, &path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{hub, Embedder};

    #[test]
    fn tiny_model_embeds_deterministically() {
        let tmp = tempfile::tempdir().unwrap();
        write_tiny_model(tmp.path(), 1).unwrap();
        let files = hub::resolve(tmp.path().to_str().unwrap(), "main", tmp.path()).unwrap();
        let e = Embedder::load(&files, None).unwrap();
        assert_eq!(e.info().dim, TINY_HIDDEN);
        assert_eq!(e.info().max_tokens, MAX_POSITIONS);
        let texts = [
            "rollback the index",
            "a much longer text about shard latency and backups",
            "x",
        ];
        let out = e.embed(&texts, 2, |_| {}).unwrap();
        assert_eq!(out.vectors.len(), 3);
        for v in &out.vectors {
            let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
        }
        // [CLS] x [SEP]
        assert_eq!(out.token_counts[2], 3);
        let ids: std::collections::BTreeSet<u32> = vocab().into_values().collect();
        assert_eq!(ids.len(), vocab().len());
        assert_eq!(
            ids.iter().next_back().copied(),
            Some(vocab().len() as u32 - 1)
        );
        let ids: std::collections::BTreeSet<u32> = vocab().into_values().collect();
        assert_eq!(ids.len(), vocab().len());
        assert_eq!(
            ids.iter().next_back().copied(),
            Some(vocab().len() as u32 - 1)
        );
        // Batching and padding do not change a text's vector.
        let alone = e.embed_query(texts[2]).unwrap();
        let cos: f32 = alone.iter().zip(&out.vectors[2]).map(|(a, b)| a * b).sum();
        assert!(cos > 0.9999, "cos {cos}");
        assert_ne!(out.vectors[0], out.vectors[1]);
    }

    #[test]
    fn a_config_with_fewer_than_two_positions_is_an_error_not_a_panic() {
        let tmp = tempfile::tempdir().unwrap();
        write_tiny_model(tmp.path(), 3).unwrap();
        let path = tmp.path().join("config.json");
        let mut c: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        c["max_position_embeddings"] = serde_json::json!(1);
        std::fs::write(&path, c.to_string()).unwrap();
        let files = hub::resolve(tmp.path().to_str().unwrap(), "main", tmp.path()).unwrap();
        let err = Embedder::load(&files, None).err().expect("refused");
        assert!(matches!(err, crate::EmbedError::Config { .. }), "{err}");
    }

    #[test]
    fn long_texts_are_truncated_and_counted() {
        let tmp = tempfile::tempdir().unwrap();
        write_tiny_model(tmp.path(), 2).unwrap();
        let files = hub::resolve(tmp.path().to_str().unwrap(), "main", tmp.path()).unwrap();
        let e = Embedder::load(&files, Some(16)).unwrap();
        let long = "index ".repeat(100);
        let out = e.embed(&[long.as_str(), "short"], 8, |_| {}).unwrap();
        assert_eq!(out.token_counts[0], 16);
        assert_eq!(out.truncated, 1);
    }
}
