//! A tiny, randomly initialised BERT (hidden 32, 2 layers) with a self-contained WordPiece
//! tokenizer, written to a directory in the same layout as a real model. Tests use it to run the
//! real embedding code path in milliseconds; its vectors carry no meaning.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

pub const TINY_HIDDEN: usize = 32;
const LAYERS: usize = 2;
const HEADS: usize = 2;
const INTERMEDIATE: usize = 64;
pub const MAX_POSITIONS: usize = 128;

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
pub fn vocab() -> BTreeMap<String, u32> {
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

/// Writes only the tiny model's `tokenizer.json` into `dir` (for tests of tokenization).
pub fn write_tiny_tokenizer(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("tokenizer.json"),
        tokenizer_json(&vocab()).to_string(),
    )
}

/// Writes `config.json`, `tokenizer.json`, `model.safetensors` and the sentence-transformers
/// files (mean pooling, normalisation, max length 128) into `dir`.
pub fn write_tiny_model(dir: &Path, seed: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("1_Pooling"))?;
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
        std::fs::write(dir.join(name), value.to_string())?;
    }
    let mut rng = SplitMix(seed);
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut add = |name: String, shape: &[usize], fill: Option<f32>| -> std::io::Result<()> {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = match fill {
            Some(v) => vec![v; n],
            None => (0..n).map(|_| rng.next_f32()).collect(),
        };
        let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((name, shape.to_vec(), bytes));
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
    let views = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(std::io::Error::other)?;
    let bytes = safetensors::serialize(views, None).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("model.safetensors"), bytes)
}
