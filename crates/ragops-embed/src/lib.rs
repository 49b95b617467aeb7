//! Embed stage: BERT-family sentence encoders run with candle, and model provisioning through the
//! Hugging Face hub cache layout (`models--org--name/{blobs,snapshots/<rev>,refs}`).
//!
//! * [`hub`]: find a model in the cache, `pull` it with hf-hub, or `import` a local directory
//!   (air-gapped machines) into the same layout.
//! * [`bert`]: the encoder (embeddings, self-attention layers) on candle tensors.
//! * [`Embedder`]: tokenizer + encoder + pooling as the model's sentence-transformers config says
//!   (mean or CLS, L2 normalisation, `max_seq_length`), batches sorted by length and padded to the
//!   longest text of each batch.
//! * [`tiny`]: writes a tiny, randomly initialised BERT for fast tests of the real code path.

pub mod bert;
mod embedder;
pub mod hub;
pub mod tiny;

pub use embedder::{EmbedOutput, Embedder, ModelInfo, Pooling};
pub use hub::{cache_root, ModelFiles};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(
        "model `{id}` (revision `{revision}`) is not in the model cache at {cache}.\n\
         Fetch it with `ragops model pull {id}` (needs access to huggingface.co), or on an \
         air-gapped machine import a downloaded copy with `ragops model import DIR --as {id}` \
         (scripts/setup.sh does this for the default model)"
    )]
    ModelNotFound {
        id: String,
        revision: String,
        cache: PathBuf,
    },
    #[error("model directory {dir} is incomplete: missing {missing}")]
    ModelIncomplete { dir: PathBuf, missing: String },
    #[error("invalid model id `{0}`: expected `name` or `org/name`")]
    BadModelId(String),
    #[error("cannot read {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("invalid model config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("model: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("download from the Hugging Face hub failed: {0}")]
    Hub(String),
}

pub(crate) fn io_err(path: &std::path::Path, e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Threads the encoder's matrix products use (`RAYON_NUM_THREADS`, else physical cores).
pub fn threads() -> usize {
    candle_core::utils::get_num_threads()
}
