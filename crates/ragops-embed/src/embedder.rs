//! Tokenizer + encoder + pooling: texts in, sentence vectors out.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use ragops_core::{ModelSource, Pooling, Precision};

use crate::bert::{cls_pool, l2_normalize, mean_pool, BertConfig, BertModel};
use crate::linear::Isa;
use crate::{io_err, EmbedError};

/// What a snapshot records about the model that produced its vectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub id: String,
    pub revision: String,
    pub dim: usize,
    /// Maximum sequence length in tokens, special tokens included.
    pub max_tokens: usize,
    pub pooling: Pooling,
    pub normalize: bool,
    /// Precision of the encoder's linear layers.
    #[serde(default, skip_serializing_if = "Precision::is_default")]
    pub precision: Precision,
}

/// Vectors for a list of texts, in input order.
#[derive(Debug, Clone, Default)]
pub struct EmbedOutput {
    pub vectors: Vec<Vec<f32>>,
    /// Tokens per text after truncation, special tokens included.
    pub token_counts: Vec<u32>,
    /// How many texts were longer than the model's maximum and were truncated.
    pub truncated: usize,
    /// Per text: whether it was truncated.
    pub was_truncated: Vec<bool>,
}

pub struct Embedder {
    model: BertModel,
    /// Tokenizer with truncation at `max_tokens` and no padding (batches are padded here).
    tokenizer: Tokenizer,
    info: ModelInfo,
    weights: PathBuf,
    pad_id: u32,
    device: Device,
    max_batch_tokens: usize,
}

/// Default cap on padded tokens per batch. Long texts go in small batches, short ones in large
/// batches; the attention tensors of a batch stay small enough to be reused by the allocator.
pub const DEFAULT_MAX_BATCH_TOKENS: usize = 2048;

/// Splits indices (sorted by decreasing length) into batches of at most `max_items` texts and at
/// most `max_tokens` padded tokens (a single longer text still gets a batch of its own).
pub fn plan_batches(
    lengths_desc: &[usize],
    max_items: usize,
    max_tokens: usize,
) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < lengths_desc.len() {
        let width = lengths_desc[start].max(1);
        let fit = (max_tokens / width).clamp(1, max_items.max(1));
        let end = (start + fit).min(lengths_desc.len());
        out.push(start..end);
        start = end;
    }
    out
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, EmbedError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    serde_json::from_str(&text).map_err(|e| EmbedError::Config {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn read_json_opt(path: &Path) -> Result<Option<serde_json::Value>, EmbedError> {
    if path.is_file() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

/// Pooling, normalisation and max length from the sentence-transformers files, with the
/// sentence-transformers defaults (mean pooling) when a file is missing.
fn sentence_transformers_settings(
    dir: &Path,
    config: &BertConfig,
) -> Result<(Pooling, bool, usize), EmbedError> {
    let pooling = match read_json_opt(&dir.join("1_Pooling/config.json"))? {
        Some(p) if p.get("pooling_mode_cls_token").and_then(|v| v.as_bool()) == Some(true) => {
            Pooling::Cls
        }
        _ => Pooling::Mean,
    };
    let normalize = match read_json_opt(&dir.join("modules.json"))? {
        Some(serde_json::Value::Array(mods)) => mods.iter().any(|m| {
            m.get("type")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t.ends_with("Normalize"))
        }),
        // Without modules.json there is no sentence-transformers pipeline to follow; unit
        // vectors make cosine and dot product agree, which is what retrieval wants.
        _ => true,
    };
    let max = read_json_opt(&dir.join("sentence_bert_config.json"))?
        .and_then(|v| v.get("max_seq_length").and_then(|m| m.as_u64()))
        .map(|m| m as usize)
        .unwrap_or(config.max_position_embeddings);
    Ok((pooling, normalize, max.min(config.max_position_embeddings)))
}

impl Embedder {
    /// Loads a resolved model. `max_tokens` overrides the model's maximum sequence length
    /// (clamped to its position embeddings); `precision` is that of the linear layers, whose
    /// weights are converted (bf16) or quantized (int8) here, once.
    pub fn load(
        files: &ModelSource,
        max_tokens: Option<usize>,
        precision: Precision,
    ) -> Result<Self, EmbedError> {
        Self::load_on(files, max_tokens, precision, Isa::detect())
    }

    /// As [`Embedder::load`], with the linear layers' kernels at instruction-set level `isa`
    /// (capped at what the CPU runs): for comparing a fallback with the best path.
    pub fn load_on(
        files: &ModelSource,
        max_tokens: Option<usize>,
        precision: Precision,
        isa: Isa,
    ) -> Result<Self, EmbedError> {
        let dir = &files.dir;
        let config_path = dir.join("config.json");
        let config: BertConfig = read_json(&config_path)?;
        if config.max_position_embeddings < 2
            || config.hidden_size == 0
            || config.intermediate_size == 0
        {
            return Err(EmbedError::Config {
                path: config_path,
                message: format!(
                    "max_position_embeddings ({}) must be at least 2, hidden_size ({}) and \
                     intermediate_size ({}) at least 1",
                    config.max_position_embeddings, config.hidden_size, config.intermediate_size
                ),
            });
        }
        let (pooling, normalize, st_max) = sentence_transformers_settings(dir, &config)?;
        let max_tokens = max_tokens
            .unwrap_or(st_max)
            .clamp(2, config.max_position_embeddings);
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| EmbedError::Tokenizer {
            path: tok_path.clone(),
            message: e.to_string(),
        })?;
        // tokenizer.json may carry its own truncation/padding (all-MiniLM-L6-v2 pads and
        // truncates at 128): replace both with the sentence-transformers settings.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| EmbedError::Tokenizer {
                path: tok_path.clone(),
                message: e.to_string(),
            })?;
        tokenizer.with_padding(None);
        let pad_id = tokenizer
            .token_to_id("[PAD]")
            .or(config.pad_token_id)
            .unwrap_or(0);
        let weights = dir.join("model.safetensors");
        let device = crate::bert::cpu();
        // SAFETY: the file is memory-mapped read-only; the hub cache never rewrites a blob in place
        // (new content gets a new blob name).
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device)? };
        let model = BertModel::load(vb, &config, precision, isa)?;
        Ok(Self {
            info: ModelInfo {
                id: files.id.clone(),
                revision: files.revision.clone(),
                dim: config.hidden_size,
                max_tokens,
                pooling,
                normalize,
                precision,
            },
            model,
            tokenizer,
            weights,
            pad_id,
            device,
            max_batch_tokens: DEFAULT_MAX_BATCH_TOKENS,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The kernel of the encoder's linear layers (precision and instruction set).
    pub fn kernel(&self) -> Option<crate::linear::Kernel> {
        self.model.kernel()
    }

    /// (hidden size, intermediate size, layers) of the encoder.
    pub fn shape(&self) -> (usize, usize, usize) {
        let c = &self.model.config;
        (c.hidden_size, c.intermediate_size, c.num_hidden_layers)
    }

    /// The weights file the encoder was loaded from.
    pub fn weights_path(&self) -> &Path {
        &self.weights
    }

    /// Sets the cap on padded tokens per batch (see [`plan_batches`]).
    pub fn with_max_batch_tokens(mut self, tokens: usize) -> Self {
        self.max_batch_tokens = tokens.max(1);
        self
    }

    /// A copy of the tokenizer without truncation or padding, for token-sized chunking.
    pub fn sizing_tokenizer(&self) -> Tokenizer {
        let mut t = self.tokenizer.clone();
        let _ = t.with_truncation(None);
        t.with_padding(None);
        t
    }

    /// Embeds `texts` in batches of at most `batch_size` texts and `max_batch_tokens` padded
    /// tokens, longest texts first so that each batch pads to similar lengths. `progress` is
    /// called with the number of texts done.
    pub fn embed(
        &self,
        texts: &[&str],
        batch_size: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<EmbedOutput, EmbedError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Encode(e.to_string()))?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].get_ids().len()));
        let dim = self.info.dim;
        let mut vectors = vec![Vec::new(); texts.len()];
        let token_counts: Vec<u32> = encodings.iter().map(|e| e.get_ids().len() as u32).collect();
        let was_truncated: Vec<bool> = encodings
            .iter()
            .map(|e| !e.get_overflowing().is_empty())
            .collect();
        let truncated = was_truncated.iter().filter(|t| **t).count();
        let mut done = 0;
        let lengths: Vec<usize> = order
            .iter()
            .map(|&i| encodings[i].get_ids().len())
            .collect();
        for range in plan_batches(&lengths, batch_size, self.max_batch_tokens) {
            let batch = &order[range];
            let max_len = batch
                .iter()
                .map(|&i| encodings[i].get_ids().len())
                .max()
                .unwrap_or(0)
                .max(1);
            let mut ids = vec![self.pad_id; batch.len() * max_len];
            let mut mask = vec![0u32; batch.len() * max_len];
            for (row, &i) in batch.iter().enumerate() {
                let tokens = encodings[i].get_ids();
                ids[row * max_len..row * max_len + tokens.len()].copy_from_slice(tokens);
                mask[row * max_len..row * max_len + tokens.len()].fill(1);
            }
            let ids = Tensor::from_vec(ids, (batch.len(), max_len), &self.device)?;
            let mask = Tensor::from_vec(mask, (batch.len(), max_len), &self.device)?;
            let hidden = self.model.forward(&ids, &mask)?;
            let pooled = match self.info.pooling {
                Pooling::Mean => mean_pool(&hidden, &mask)?,
                Pooling::Cls => cls_pool(&hidden)?,
            };
            let pooled = if self.info.normalize {
                l2_normalize(&pooled)?
            } else {
                pooled
            };
            let rows: Vec<Vec<f32>> = pooled.to_vec2()?;
            for (&i, v) in batch.iter().zip(rows) {
                debug_assert_eq!(v.len(), dim);
                vectors[i] = v;
            }
            done += batch.len();
            progress(done);
        }
        Ok(EmbedOutput {
            vectors,
            token_counts,
            truncated,
            was_truncated,
        })
    }

    /// Embeds one query.
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut out = self.embed(&[text], 1, |_| {})?;
        Ok(out.vectors.pop().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model directory as a local model source.
    fn local(dir: &Path) -> ModelSource {
        ModelSource {
            id: dir.display().to_string(),
            revision: "local".into(),
            dir: dir.to_path_buf(),
        }
    }

    #[test]
    fn tiny_model_embeds_deterministically() {
        let tmp = tempfile::tempdir().unwrap();
        ragops_test_support::tiny_model::write_tiny_model(tmp.path(), 1).unwrap();
        let files = local(tmp.path());
        let e = Embedder::load(&files, None, Precision::F32).unwrap();
        assert_eq!(e.info().dim, ragops_test_support::tiny_model::TINY_HIDDEN);
        assert_eq!(
            e.info().max_tokens,
            ragops_test_support::tiny_model::MAX_POSITIONS
        );
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
        let ids: std::collections::BTreeSet<u32> = ragops_test_support::tiny_model::vocab()
            .into_values()
            .collect();
        assert_eq!(ids.len(), ragops_test_support::tiny_model::vocab().len());
        assert_eq!(
            ids.iter().next_back().copied(),
            Some(ragops_test_support::tiny_model::vocab().len() as u32 - 1)
        );
        // Batching and padding do not change a text's vector.
        let alone = e.embed_query(texts[2]).unwrap();
        let cos: f32 = alone.iter().zip(&out.vectors[2]).map(|(a, b)| a * b).sum();
        assert!(cos > 0.9999, "cos {cos}");
        assert_ne!(out.vectors[0], out.vectors[1]);
    }

    /// A tiny model whose `config.json` has `field` set to `value`.
    fn tiny_model_with(field: &str, value: serde_json::Value) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        ragops_test_support::tiny_model::write_tiny_model(tmp.path(), 3).unwrap();
        let path = tmp.path().join("config.json");
        let mut c: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        c[field] = value;
        std::fs::write(&path, c.to_string()).unwrap();
        tmp
    }

    #[test]
    fn a_config_with_no_intermediate_size_is_an_error_not_a_panic() {
        let tmp = tiny_model_with("intermediate_size", serde_json::json!(0));
        for precision in Precision::ALL {
            let err = Embedder::load(&local(tmp.path()), None, precision)
                .err()
                .expect("refused");
            assert!(
                matches!(&err, EmbedError::Config { message, .. } if message.contains("intermediate_size")),
                "{err}"
            );
        }
    }

    #[test]
    fn a_config_with_fewer_than_two_positions_is_an_error_not_a_panic() {
        let tmp = tiny_model_with("max_position_embeddings", serde_json::json!(1));
        let files = local(tmp.path());
        let err = Embedder::load(&files, None, Precision::F32)
            .err()
            .expect("refused");
        assert!(matches!(err, EmbedError::Config { .. }), "{err}");
    }

    #[test]
    fn long_texts_are_truncated_and_counted() {
        let tmp = tempfile::tempdir().unwrap();
        ragops_test_support::tiny_model::write_tiny_model(tmp.path(), 2).unwrap();
        let files = local(tmp.path());
        let e = Embedder::load(&files, Some(16), Precision::F32).unwrap();
        let long = "index ".repeat(100);
        let out = e.embed(&[long.as_str(), "short"], 8, |_| {}).unwrap();
        assert_eq!(out.token_counts[0], 16);
        assert_eq!(out.truncated, 1);
    }

    #[test]
    fn batches_respect_item_and_token_caps() {
        // Lengths sorted longest first.
        let lens = [256, 256, 250, 100, 90, 20, 20, 20, 20, 3];
        let plan = plan_batches(&lens, 4, 512);
        assert_eq!(plan, vec![0..2, 2..4, 4..8, 8..10]);
        // Every text in exactly one batch, none over the token cap but a lone long text.
        let plan = plan_batches(&[1000, 10], 8, 512);
        assert_eq!(plan, vec![0..1, 1..2]);
        assert!(plan_batches(&[], 8, 512).is_empty());
    }
}
